"""Shared core of the generated world: dirt rates, resource keys, static data and numpy helpers.

The system modules (`shop`, `erp`, `helpdesk`, `accounting`) and `world` build on these. All times
are int64 seconds since the Unix epoch (UTC); accounting times are milliseconds.
"""

from __future__ import annotations

import gc
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np

from . import names as N
from .dirt import email_ascii

RESOURCE_KEYS = ("shop/customers", "shop/orders", "shop/checkouts", "erp/res.partner", "erp/sale.order",
                 "erp/sale.order.line", "erp/product.product", "erp/account.move", "erp/account.move.line",
                 "helpdesk/users", "helpdesk/tickets",
                 "nps/responses", "helpdesk/satisfaction_ratings", "accounting/contacts",
                 "accounting/vouchers", "accounting/payments")
TRUTH_COLUMNS = ["source_system", "source_record_id", "person_id"]
CUSTOMER_KEYS = {"shop/customers": "shop", "erp/res.partner": "erp", "helpdesk/users": "helpdesk",
                 "accounting/contacts": "accounting"}

DAY = 86_400
HOUR = 3_600
HISTORY_DAYS = 730


@dataclass(frozen=True)
class DirtRates:
    """Rate of every kind of dirt of the contract's "Dirt" section (0 turns a kind off)."""

    guest_duplicates: float = 0.10        # share of shop orders placed as guest checkout (new guest customer each)
    email_case: float = 0.05              # Anna.Mueller@Web.de, ANNA.MUELLER@WEB.DE
    email_whitespace: float = 0.03        # leading / trailing blanks
    email_other_mailbox: float = 0.04     # other provider or numbered mailbox of the same person
    name_typos: float = 0.03
    umlaut_transliteration: float = 0.10  # Müller -> Mueller, ß -> ss (names and streets)
    initials_only: float = 0.03           # "A." instead of "Anna" (helpdesk "A. Müller")
    street_variants: float = 0.25         # Straße / Str. / Strasse
    phone_formats: float = 0.30           # +49…, 0049…, 0…, spaces, slashes, dashes
    moved_addresses: float = 0.06         # person moved; some systems still hold the old address
    changed_last_names: float = 0.03      # name change (marriage); some systems hold the old name
    households: float = 0.08              # share of persons living with the previous person (address, landline, maybe email)
    missing_fields: float = 0.05          # email / phone / birthday / address missing
    companies: float = 0.04               # share of customers that are companies
    soft_deletes: float = 0.02            # disabled / active false / deleted / archived
    updated_again: float = 0.30           # records changed again after creation (updated_at > created_at)
    same_timestamp_clusters: float = 0.02  # bulk imports: many records share one change marker (page straddling)

    def scaled(self, factor: float) -> "DirtRates":
        return DirtRates(**{f.name: min(1.0, max(0.0, getattr(self, f.name) * factor)) for f in fields(self)})

    @classmethod
    def clean(cls) -> "DirtRates":
        return cls().scaled(0.0)


# ----------------------------------------------------------------------------------------- static data

def _arr(x) -> np.ndarray:
    x = list(x)
    a = np.empty(len(x), dtype=object)
    a[:] = list(x)
    return a


FIRST_ALL = _arr(N.FIRST_FEMALE + N.FIRST_MALE)
N_FEMALE = len(N.FIRST_FEMALE)
FIRST_ASCII = _arr(email_ascii(x) for x in FIRST_ALL)
LAST_ALL = _arr(N.LAST)
LAST_ASCII = _arr(email_ascii(x) for x in LAST_ALL)
_lw = 1.0 / (np.arange(len(LAST_ALL)) + 4.0)
LAST_P = _lw / _lw.sum()


def _streets() -> list[str]:
    out = []
    for i, b in enumerate(N.STREET_COMPOUND):
        out.append(b + "straße")
        out.append(b + N.STREET_OTHER_SUFFIX[i % len(N.STREET_OTHER_SUFFIX)])
    for a in N.STREET_ADJ:
        out.append(a + " Straße")
    return out


STREETS = _arr(_streets())
HNO = _arr([f"{h}{s}" for h in range(1, 151) for s in ("", "", "", "", "a", "b")])
ADDR2 = _arr([None, "2. OG", "Hinterhaus", "App. 12", "c/o Praxis", "Aufgang B"])
CITY_NAME = _arr(c[0] for c in N.CITIES)
CITY_ZIP = _arr(c[1] for c in N.CITIES)
CITY_AREA = _arr(c[2] for c in N.CITIES)
_cw = 1.0 / (np.arange(len(N.CITIES)) + 3.0) ** 0.5
CITY_P = _cw / _cw.sum()
MOBILE_PRE = _arr(N.MOBILE_PREFIXES)
DOMAINS = _arr(d for d, _ in N.EMAIL_DOMAINS)
_dw = np.array([w for _, w in N.EMAIL_DOMAINS], dtype=float)
DOMAIN_P = _dw / _dw.sum()
GATEWAYS = ("paypal", "invoice", "credit_card", "klarna_pay_later", "sepa_debit", "prepayment")
GATEWAY_P = np.array([30, 22, 15, 13, 12, 8], dtype=float) / 100
GATEWAY_METHOD = ("paypal", "bank_transfer", "card", "bank_transfer", "sepa_debit", "bank_transfer")
PAYMENT_METHODS = ("bank_transfer", "sepa_debit", "paypal", "card", "cash")
VOUCHER_STATUS = ("open", "overdue", "paid", "paidoff", "voided")
CHANNELS = ("voice", "email", "chat", "web")
TEAMS = ([1, "Webshop"], [2, "Telefonverkauf"], [3, "Filiale"])
ERP_STATES = ("draft", "sale", "done", "cancel")
TICKET_STATUS = ("new", "open", "pending", "solved", "closed", "deleted")
RATINGS = ("unoffered", "offered", "good", "bad")
SHOP_STATES = ("enabled", "disabled", "invited")
CONSENT = ("not_subscribed", "subscribed", "unsubscribed")
SUBJECTS = _arr(N.TICKET_SUBJECTS)
ORDER_SUBJECTS = np.array([s in ("Lieferung fehlt", "Artikel beschädigt", "Rücksendung", "Rechnung falsch",
                                 "Frage zur Bestellung", "Umtausch Größe", "Zahlung nicht verbucht",
                                 "Lieferzeit", "Reklamation", "Mahnung erhalten") for s in N.TICKET_SUBJECTS])
SUBJECT_TAG = _arr(N.TICKET_TAGS[s] for s in N.TICKET_SUBJECTS)
SHIPPING_CENTS = 495
FREE_SHIPPING_FROM = 5000


def _catalogue():
    rows = []
    cats = []
    for ci, (cat, vat, items) in enumerate(N.CATALOGUE):
        cats.append(cat)
        for ti, (title, price) in enumerate(items):
            for vi, var in enumerate(N.PRODUCT_VARIANTS[: 3 + (ti * 7 + ci * 3) % 8]):
                p = price + (10.0 if var == " Premium" else 0.0)
                rows.append((ci, vat, title + var, int(round(p * 100))))
    return cats, rows


PRODUCT_CATEGORIES, _CAT_ROWS = _catalogue()


def _rng(seed: int, *tags) -> np.random.Generator:
    return np.random.default_rng([abs(int(seed))] + [zlib.crc32(str(t).encode()) for t in tags])


def _money(cents) -> list:
    return [f"{c / 100:.2f}" for c in np.asarray(cents).tolist()]


def _num(cents) -> list:
    return [round(c / 100, 2) for c in np.asarray(cents).tolist()]


def _net(gross_cents: np.ndarray, vat: np.ndarray) -> np.ndarray:
    return np.floor(gross_cents / (1.0 + vat) + 0.5).astype(np.int64)


def _uuid(hi: np.ndarray, lo: np.ndarray) -> list:
    out = []
    for a, b in zip(hi.tolist(), lo.tolist()):
        h = f"{a:016x}{b:016x}"
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}")
    return out


# The accounting list API serves at most this many results per query (pages beyond give 400).
ACCOUNTING_WINDOW = 10_000


def _cluster(rng, created: np.ndarray, updated: np.ndarray, min_size: int, rate: float,
             now_s: int, max_size: int | None = None) -> np.ndarray:
    """Give a bulk of records one shared change marker (a bulk import / mass update)."""
    n = len(created)
    none = np.zeros(n, bool)
    if rate <= 0 or n < 4:
        return updated, none
    size = int(min(n * 0.6, max(min_size, rate * n)))
    if max_size is not None:
        size = min(size, max_size)
    us = np.sort(updated)
    t_bulk = int(us[min(n - 1, int(size * 1.25))])
    t_bulk = min(max(t_bulk, int(us[n // 2])), now_s - 3 * DAY)
    elig = np.flatnonzero((updated <= t_bulk) & (created <= t_bulk))
    if len(elig) == 0:
        return updated, none
    pick = rng.choice(elig, min(size, len(elig)), replace=False)
    updated = updated.copy()
    updated[pick] = t_bulk
    none[pick] = True
    return updated, none


def _sort_table(tbl: dict, key: np.ndarray) -> np.ndarray:
    order = np.argsort(key, kind="stable")
    for k in list(tbl):
        tbl[k] = tbl[k][order]
    return order


def _inverse(order: np.ndarray) -> np.ndarray:
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    return inv


def _segments(counts: np.ndarray):
    """Owner index and start offsets for a ragged array with these counts per owner."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return owner, starts


@contextmanager
def _no_gc():
    """Pause the cyclic garbage collector: rendering makes only acyclic dicts, and a collection would
    traverse the millions of object references held by the world's columns again and again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _person_ids(p: np.ndarray) -> np.ndarray:
    return np.char.add("P", np.char.zfill(p.astype(str), 7)).astype(object)


class Day:
    """One simulated day of a world: its random stream, its hours and the records it changes.

    Every step of `GeneratedWorld.advance_day` draws from `rng` and records its new records and new
    versions with `put`; `records()` is what the day returns.
    """

    def __init__(self, world, rng: np.random.Generator, t_lo: int):
        self.world = world
        self.rng = rng
        self.t_lo = t_lo  # the day runs from t_lo to now
        self.now = t_lo + DAY
        self.n = world.persons
        self.changes: dict[str, dict] = {k: {} for k in RESOURCE_KEYS}
        Pr = world.T["erp/product.product"]
        self.codes, self.names, self.pids, self.vats, self.prices = (
            Pr["code"].tolist(), Pr["name"].tolist(), Pr["id"].tolist(), Pr["vat"].tolist(), Pr["price"].tolist())
        # Made after generation: person -> [id, name] of ERP partners, (uuid, name) of accounting
        # contacts, the registered shop customer of new persons.
        self.xpartner: dict = world.__dict__.setdefault("_xpartner", {})
        self.xcontact: dict = world.__dict__.setdefault("_xcontact", {})
        self.xcust: dict = world.__dict__.setdefault("_xcust", {})

    def when(self) -> int:
        """A random moment of the day."""
        return int(self.t_lo + self.rng.integers(120, DAY - 2 * HOUR))

    def k_of(self, frac: float, minimum: int) -> int:
        """How many of something happen today: `frac` of the world's persons, at least `minimum`."""
        return max(minimum, int(self.n * frac))

    def put(self, key: str, row: int | None, rec: dict) -> None:
        """Record a new record (`row` None) or a new version of the generated row `row` of `key`."""
        world = self.world
        if row is None:
            world._extra[key][rec["id"]] = rec
        else:
            world._over[key][row] = rec
        self.changes[key][(row, rec["id"])] = rec

    def records(self) -> dict[str, list[dict]]:
        """Per resource key the day's new records and new versions, in the order they were made."""
        return {k: list(v.values()) for k, v in self.changes.items()}
