"""Deterministic world generator for the four demo source systems (shop, ERP, helpdesk, accounting).

The world is built column-wise with numpy (one table of arrays per resource); records are rendered
to the exact API shapes of the contract (../shared/SOURCE_APIS.md) only when iterated, batch by
batch. ``advance_day`` simulates one more day of activity on top of the generated history; its
changes are kept as full records beside the columnar base.

All times inside are int64 seconds since the Unix epoch (UTC); accounting times are milliseconds.
"""

from __future__ import annotations

import datetime as dt
import gc
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np
import pandas as pd

from . import names as N
from .dirt import (N_PHONE_STYLES, email_ascii, email_case_variant, email_other_mailbox,
                   email_whitespace_variant, phone_format, street_variant, transliterate, typo)
from .timefmt import acc_ts, berlin_offset, day_str_nullable, erp_ts, hd_ts, shop_ts

RESOURCE_KEYS = ("shop/customers", "shop/orders", "shop/checkouts", "erp/res.partner", "erp/sale.order",
                 "erp/sale.order.line", "erp/product.product", "helpdesk/users", "helpdesk/tickets",
                 "helpdesk/survey_responses", "accounting/contacts", "accounting/vouchers", "accounting/payments")
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


# ----------------------------------------------------------------------------------------- the world

class GeneratedWorld:
    """A generated world: read interface shared with ``replay.ReplayWorld`` plus ``advance_day``."""

    def __init__(self, persons: int, seed: int, today: dt.date | None = None, dirt: DirtRates | None = None):
        if persons < 1:
            raise ValueError("persons must be >= 1")
        # By default the last day whose 04:00 UTC has passed: the world's clock is then never ahead of
        # the real one, whose change markers the pipeline would rightly report as future-dated.
        today = today or (dt.datetime.now(dt.UTC) - dt.timedelta(hours=4)).date()
        self.seed = int(seed)
        self.persons = int(persons)
        self.dirt = dirt or DirtRates()
        self.now = dt.datetime(today.year, today.month, today.day, 4, 0, tzinfo=dt.UTC)
        self.now_s = int(self.now.timestamp())
        self.start_s = self.now_s - HISTORY_DAYS * DAY
        self.day_index = 0
        self.T: dict[str, dict[str, np.ndarray]] = {}
        self._over: dict[str, dict[int, dict]] = {k: {} for k in RESOURCE_KEYS}
        self._extra: dict[str, dict] = {k: {} for k in RESOURCE_KEYS}
        self._extra_truth: list[tuple[str, str, str]] = []
        self._ids: dict[str, int] = {}
        with _no_gc():
            self._build()

    # ------------------------------------------------------------------ persons and identities
    def _make_persons(self, rng, n: int, first_index: int, t_lo: int, t_hi: int) -> dict:
        r = self.dirt
        today_days = self.now_s // DAY
        fem = rng.random(n) < 0.5
        fi = np.where(fem, rng.integers(0, N_FEMALE, n), N_FEMALE + rng.integers(0, len(FIRST_ALL) - N_FEMALE, n))
        li = rng.choice(len(LAST_ALL), n, p=LAST_P)
        company = rng.random(n) < r.companies
        birth = today_days - rng.integers(18 * 365, 85 * 365, n)
        city = rng.choice(len(CITY_NAME), n, p=CITY_P)
        street = rng.integers(0, len(STREETS), n)
        hno = rng.integers(0, len(HNO), n)
        addr2 = np.where(rng.random(n) < 0.05, rng.integers(1, len(ADDR2), n), 0)
        has_land = rng.random(n) < 0.5
        land = rng.integers(100_000, 9_999_999, n)
        has_mob = rng.random(n) < 0.82
        mob_pre = rng.integers(0, len(MOBILE_PRE), n)
        mob = rng.integers(1_000_000, 99_999_999, n)
        member = rng.random(n) < r.households
        member[0] = False
        idx = np.arange(n)
        root = np.maximum.accumulate(np.where(member, 0, idx))
        same_last = member & (rng.random(n) < 0.7)
        share_mail = member & (rng.random(n) < 0.3)
        company &= ~member
        company[root[member]] = False
        for a in (city, street, hno, addr2, land):
            a[member] = a[root[member]]
        has_land[member] = True
        has_land[root[member]] = True
        li[same_last] = li[root[same_last]]
        clash = member & (fi == fi[root])
        fi[clash] = np.where(fi[clash] + 1 < len(FIRST_ALL), fi[clash] + 1, 0)
        moved = rng.random(n) < r.moved_addresses
        old_city = np.where(moved, rng.choice(len(CITY_NAME), n, p=CITY_P), -1)
        old_street = np.where(moved, rng.integers(0, len(STREETS), n), -1)
        old_hno = np.where(moved, rng.integers(0, len(HNO), n), -1)
        renamed = (rng.random(n) < r.changed_last_names) & ~company
        old_li = np.where(renamed, rng.choice(len(LAST_ALL), n, p=LAST_P), -1)
        old_li[renamed & (old_li == li)] = (li[renamed & (old_li == li)] + 1) % len(LAST_ALL)
        # e-mail addresses
        pat = rng.integers(0, 7, n)
        dom = rng.choice(len(DOMAINS), n, p=DOMAIN_P)
        num = rng.integers(1, 99, n)
        fa, la = FIRST_ASCII[fi].tolist(), LAST_ASCII[li].tolist()
        yy = ((birth + 719468) // 365 % 100).tolist()
        dl = DOMAINS[dom].tolist()
        emails = []
        for i, (p, f, l, y, k, d) in enumerate(zip(pat.tolist(), fa, la, yy, num.tolist(), dl)):
            if p == 0:
                e = f"{f}.{l}"
            elif p == 1:
                e = f"{f}{l}"
            elif p == 2:
                e = f"{f[0]}.{l}"
            elif p == 3:
                e = f"{f}_{l}{k}"
            elif p == 4:
                e = f"{l}.{f}"
            elif p == 5:
                e = f"{f}.{l}{y:02d}"
            else:
                e = f"{f}{k}"
            emails.append(f"{e}@{d}")
        company_name = np.full(n, None, dtype=object)
        ci = np.flatnonzero(company)
        words = rng.integers(0, len(N.COMPANY_WORDS), n)
        forms = rng.integers(0, len(N.COMPANY_FORMS), n)
        for i in ci.tolist():
            w = N.COMPANY_WORDS[words[i]]
            company_name[i] = f"{LAST_ALL[li[i]]} {w} {N.COMPANY_FORMS[forms[i]]}"
            emails[i] = f"info@{la[i]}-{email_ascii(w)}.de"
        em = _arr(emails)
        em[share_mail] = em[root[share_mail]]
        dup = pd.Series(em).duplicated().to_numpy() & ~share_mail
        for i in np.flatnonzero(dup).tolist():
            loc, _, d = em[i].partition("@")
            em[i] = f"{loc}.{first_index + i}@{d}"
        t0 = t_lo + ((rng.random(n) ** 0.8) * (t_hi - t_lo)).astype(np.int64)
        return dict(fi=fi, li=li, fem=fem, company=company, company_name=company_name, birth=birth, city=city,
                    street=street, hno=hno, addr2=addr2, has_land=has_land, land=land, has_mob=has_mob,
                    mob_pre=mob_pre, mob=mob, root=root + first_index, member=member, old_city=old_city,
                    old_street=old_street, old_hno=old_hno, old_li=old_li, email=em, t0=t0,
                    late=rng.random(n) < 0.12, gw=rng.choice(len(GATEWAYS), n, p=GATEWAY_P))

    def _identity(self, pidx: np.ndarray, rng, system: str, stale: float = 0.5) -> dict:
        """One system's view of persons pidx, with that system's conventions and independent dirt."""
        P, r = self.P, self.dirt
        n = len(pidx)
        m = rng.random((n, 16))
        u = rng.integers(0, 2**31 - 1, (n, 6))
        li = P["li"][pidx].copy()
        old_li = P["old_li"][pidx]
        use = (old_li >= 0) & (m[:, 0] < stale)
        li[use] = old_li[use]
        city, street, hno = P["city"][pidx].copy(), P["street"][pidx].copy(), P["hno"][pidx].copy()
        mv = (P["old_city"][pidx] >= 0) & (m[:, 1] < stale)
        city[mv], street[mv], hno[mv] = P["old_city"][pidx][mv], P["old_street"][pidx][mv], P["old_hno"][pidx][mv]
        first = FIRST_ALL[P["fi"][pidx]].tolist()
        last = LAST_ALL[li].tolist()
        streets = STREETS[street].tolist()
        for i in np.flatnonzero(m[:, 2] < r.initials_only * (4 if system == "helpdesk" else 1)).tolist():
            first[i] = first[i][0] + "."
        for i in np.flatnonzero(m[:, 3] < r.name_typos).tolist():
            if u[i, 0] % 3 == 0 and len(first[i]) > 3:
                first[i] = typo(first[i], int(u[i, 1]))
            else:
                last[i] = typo(last[i], int(u[i, 1]))
        for i in np.flatnonzero(m[:, 4] < r.umlaut_transliteration).tolist():
            first[i], last[i], streets[i] = transliterate(first[i]), transliterate(last[i]), transliterate(streets[i])
        for i in np.flatnonzero(m[:, 5] < r.street_variants).tolist():
            streets[i] = street_variant(streets[i], int(u[i, 2]))
        hn = HNO[hno].tolist()
        address1 = [f"{s} {h}" for s, h in zip(streets, hn)]
        email = P["email"][pidx].tolist()
        for i in np.flatnonzero(m[:, 6] < r.email_other_mailbox).tolist():
            email[i] = email_other_mailbox(email[i], int(u[i, 3]))
        for i in np.flatnonzero(m[:, 7] < r.email_case).tolist():
            email[i] = email_case_variant(email[i], int(u[i, 3]))
        for i in np.flatnonzero(m[:, 8] < r.email_whitespace).tolist():
            email[i] = email_whitespace_variant(email[i], int(u[i, 4]))
        default_style = {"shop": 1, "erp": 0, "helpdesk": 2, "accounting": 0}[system]
        style = np.full(n, default_style)
        if system == "shop":
            style[m[:, 9] < 0.4] = 0
        dirty = m[:, 10] < r.phone_formats
        style[dirty] = u[dirty, 5] % N_PHONE_STYLES
        mobile_style = style.copy()
        if system == "erp":
            mobile_style[~dirty] = 4
        mob = [phone_format(a, str(s), st) if h else None for a, s, st, h in
               zip(MOBILE_PRE[P["mob_pre"][pidx]].tolist(), P["mob"][pidx].tolist(), mobile_style.tolist(),
                   P["has_mob"][pidx].tolist())]
        land = [phone_format(a, str(s)[: 11 - len(a)], st) if h else None
                for a, s, st, h in zip(CITY_AREA[P["city"][pidx]].tolist(), P["land"][pidx].tolist(),
                                       style.tolist(), P["has_land"][pidx].tolist())]
        miss = m[:, 11:15] < r.missing_fields
        for i in np.flatnonzero(miss[:, 0]).tolist():
            email[i] = None
        for i in np.flatnonzero(miss[:, 1]).tolist():
            mob[i] = None
            land[i] = None
        return dict(first=first, last=last, email=email, mobile=mob, land=land, address1=address1,
                    zip=CITY_ZIP[city].tolist(), city=CITY_NAME[city].tolist(),
                    addr2=ADDR2[P["addr2"][pidx]].tolist(), company=P["company_name"][pidx].tolist(),
                    is_company=P["company"][pidx].copy(), birth=P["birth"][pidx].copy(),
                    no_birth=miss[:, 2], no_addr=miss[:, 3], fem=P["fem"][pidx].copy())

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        n, seed, r = self.persons, self.seed, self.dirt
        now, start = self.now_s, self.start_s
        self.P = self._make_persons(_rng(seed, "persons"), n, 0, start, now - 2 * DAY)
        P = self.P
        self._build_products(_rng(seed, "products"))
        rng = _rng(seed, "accounts")
        has_shop = rng.random(n) < 0.85
        buyer = has_shop & (rng.random(n) < 0.72)
        n_shop = np.where(buyer, 1 + np.minimum(rng.negative_binomial(1, 0.45, n), 30), 0)
        erp_only = ~has_shop & (rng.random(n) < 0.4)
        n_phone = np.where(erp_only, 1 + np.minimum(rng.negative_binomial(1, 0.5, n), 20), 0)
        n_phone += np.where(buyer & (rng.random(n) < 0.08), 1 + (rng.random(n) < 0.3), 0)
        self._build_shop(_rng(seed, "shop"), has_shop, n_shop)
        self._build_erp(_rng(seed, "erp"), n_phone, rng.random(n) < 0.04)
        self._build_accounting(_rng(seed, "accounting"))
        hd = (buyer & (rng.random(n) < 0.38)) | (~buyer & (rng.random(n) < 0.15))
        self._build_helpdesk(_rng(seed, "helpdesk"), hd)

    def _build_products(self, rng) -> None:
        nprod = len(_CAT_ROWS)
        cat = np.array([c for c, _, _, _ in _CAT_ROWS] + [-1])
        vat = np.array([v for _, v, _, _ in _CAT_ROWS] + [0.19])
        name = _arr([t for _, _, t, _ in _CAT_ROWS] + ["Versandkosten"])
        price = np.array([p for _, _, _, p in _CAT_ROWS] + [SHIPPING_CENTS], dtype=np.int64)
        cost = np.floor(price / (1 + vat) * rng.uniform(0.3, 0.7, nprod + 1)).astype(np.int64)
        cost[-1] = 390
        code = _arr([f"SKU-{1000 + i}" for i in range(nprod)] + ["VERSAND"])
        wd = self.start_s - rng.integers(30 * DAY, 400 * DAY, nprod + 1)
        upd = rng.random(nprod + 1) < 0.3
        wd[upd] = self.start_s + rng.integers(0, HISTORY_DAYS * DAY - 2 * DAY, upd.sum())
        self.T["erp/product.product"] = dict(id=np.arange(1, nprod + 2), code=code, name=name, cat=cat, vat=vat,
                                             price=price, cost=cost, write=wd)
        w = rng.pareto(1.2, nprod) + 0.2
        self._prod_p = w / w.sum()
        self._n_sellable = nprod

    def _make_lines(self, rng, n_orders: int, discount: np.ndarray) -> dict:
        """Goods lines of orders: per line the order index, product, quantity, prices in cents."""
        k = 1 + rng.binomial(3, 0.22, n_orders)
        owner, starts = _segments(k)
        nl = len(owner)
        prod = rng.choice(self._n_sellable, nl, p=self._prod_p)
        qty = 1 + (rng.random(nl) < 0.18) + (rng.random(nl) < 0.05)
        pr = self.T["erp/product.product"]
        price = pr["price"][prod]
        dprice = np.where(discount[owner], np.floor(price * 0.9 + 0.5).astype(np.int64), price)
        return dict(order=owner, starts=starts, prod=prod, qty=qty, price=price, dprice=dprice,
                    vat=pr["vat"][prod])

    def _build_shop(self, rng, has_shop: np.ndarray, n_shop: np.ndarray) -> None:
        P, r, now = self.P, self.dirt, self.now_s
        n = self.persons
        # orders (one row per order, sorted by time)
        o_p = np.repeat(np.arange(n), n_shop)
        first = np.zeros(len(o_p), bool)
        first[np.cumsum(n_shop)[n_shop > 0] - n_shop[n_shop > 0]] = True
        t0 = P["t0"][o_p]
        ot = np.where(first, t0, t0 + (rng.random(len(o_p)) * (now - 60 - t0)).astype(np.int64))
        O = dict(p=o_p, t=ot)
        _sort_table(O, ot)
        no = len(O["t"])
        O["guest"] = rng.random(no) < r.guest_duplicates
        O["test"] = rng.random(no) < 0.004
        canc = (rng.random(no) < 0.03) & ~O["test"]
        ct = O["t"] + rng.integers(HOUR, 2 * DAY, no)
        O["cancel_t"] = np.where(canc & (ct < now), ct, -1)
        O["gw"] = np.where(rng.random(no) < 0.7, P["gw"][O["p"]], rng.choice(len(GATEWAYS), no, p=GATEWAY_P))
        O["disc"] = rng.random(no) < 0.12
        L = self._make_lines(rng, no, O["disc"])
        gross = L["dprice"] * L["qty"]
        goods = np.bincount(L["order"], gross, minlength=no).astype(np.int64)
        O["discounts"] = np.bincount(L["order"], (L["price"] - L["dprice"]) * L["qty"], minlength=no).astype(np.int64)
        O["ship"] = np.where(goods < FREE_SHIPPING_FROM, SHIPPING_CENTS, 0)
        O["total"] = goods + O["ship"]
        L["net"] = _net(gross, L["vat"])
        untaxed = np.bincount(L["order"], L["net"], minlength=no).astype(np.int64) + _net(O["ship"], np.full(no, 0.19))
        O["tax"] = O["total"] - untaxed
        O["untaxed"] = untaxed
        # returns
        counted = (O["cancel_t"] < 0) & ~O["test"]
        ret = counted & (O["t"] < now - 4 * DAY) & (rng.random(no) < 0.13)
        L["ret"] = np.where(ret[L["order"]], rng.binomial(L["qty"], 0.7), 0)
        none_back = ret & (np.bincount(L["order"], L["ret"], minlength=no) == 0)
        L["ret"][L["starts"][:-1][none_back]] = 1
        rt = O["t"] + rng.integers(4 * DAY, 30 * DAY, no)
        rt = np.where(rt >= now, now - rng.integers(HOUR, DAY, no), rt)
        O["refund_t"] = np.where(ret, rt, -1)
        O["refund"] = np.bincount(L["order"], L["ret"] * L["dprice"], minlength=no).astype(np.int64)
        O["all_back"] = ret & (np.bincount(L["order"], L["ret"], minlength=no) == np.bincount(L["order"], L["qty"], minlength=no))
        # payment
        gw = O["gw"]
        late = P["late"][O["p"]]
        delay = np.select([gw == 0, gw == 2, gw == 3, gw == 4, gw == 5],
                          [rng.integers(60, 2 * HOUR, no), rng.integers(60, HOUR, no),
                           rng.integers(HOUR, 2 * DAY, no), rng.integers(DAY, 4 * DAY, no),
                           rng.integers(DAY, 5 * DAY, no)],
                          np.where(late, rng.integers(15 * DAY, 60 * DAY, no), rng.integers(3 * DAY, 14 * DAY, no)))
        never = (gw == 1) & (rng.random(no) < np.where(late, 0.15, 0.03))
        pay = O["t"] + delay
        O["pay_t"] = np.where(never | (O["cancel_t"] >= 0), -1, pay)
        O["pay_t"][O["test"]] = O["t"][O["test"]] + 30
        upd = np.maximum.reduce([O["t"] + rng.integers(5, 120, no), np.where(O["pay_t"] <= now, O["pay_t"], 0),
                                 O["refund_t"], O["cancel_t"]])
        again = rng.random(no) < r.updated_again * 0.3
        upd = np.where(again, upd + (rng.random(no) * (now - upd)).astype(np.int64), upd)
        O["upd"] = np.minimum(upd, now - 61)
        O["upd"] = np.maximum(O["upd"], O["t"])
        # customers: registered accounts and one guest customer per guest checkout
        nonguest = np.bincount(O["p"][~O["guest"]], minlength=n)
        reg = has_shop & ((n_shop == 0) | (nonguest > 0))
        reg_p = np.flatnonzero(reg)
        g_rows = np.flatnonzero(O["guest"])
        C = dict(p=np.concatenate([reg_p, O["p"][g_rows]]),
                 guest=np.concatenate([np.zeros(len(reg_p), bool), np.ones(len(g_rows), bool)]),
                 created=np.concatenate([P["t0"][reg_p] - rng.integers(60, 3 * DAY, len(reg_p)), O["t"][g_rows] - 20]),
                 src=np.concatenate([np.full(len(reg_p), -1), g_rows]))
        corder = _sort_table(C, C["created"])
        nc = len(C["p"])
        C["id"] = 7_000_000_000 + 1000 + np.arange(nc) * 7 + rng.integers(0, 7, nc)
        cust_row_of_person = np.full(n, -1)
        cust_row_of_person[C["p"][~C["guest"]]] = np.flatnonzero(~C["guest"])
        O["crow"] = cust_row_of_person[O["p"]]
        O["crow"][C["src"][C["guest"]]] = np.flatnonzero(C["guest"])
        self._cust_row_of_person = cust_row_of_person
        again = rng.random(nc) < r.updated_again
        cupd = C["created"] + np.where(again, (rng.random(nc) * (now - 61 - C["created"])).astype(np.int64),
                                       rng.integers(0, 3, nc))
        cupd, _ = _cluster(rng, C["created"], cupd, 650, r.same_timestamp_clusters, now)
        C["upd"] = np.maximum(cupd, C["created"])
        state = np.zeros(nc, np.int8)
        state[(~C["guest"]) & (rng.random(nc) < 0.03)] = 2
        state[rng.random(nc) < r.soft_deletes] = 1
        C["state"] = state
        cons = np.where(C["guest"], np.where(rng.random(nc) < 0.1, 1, 0),
                        rng.choice(3, nc, p=[0.5, 0.36, 0.14]))
        C["consent"] = cons
        C["optin"] = np.where(cons == 1, np.where(rng.random(nc) < 0.8, 1, 2), 0)
        cat = C["created"] + (rng.random(nc) * (C["upd"] - C["created"])).astype(np.int64)
        C["consent_t"] = np.where(cons == 0, -1, cat)
        C["verified"] = ~C["guest"] & (rng.random(nc) < 0.93)
        C["vip"] = np.bincount(O["p"], minlength=n)[C["p"]] >= 6
        C["idn"] = self._identity(C["p"], rng, "shop")
        C["birth_missing"] = C["idn"]["no_birth"] | (rng.random(nc) < 0.45) | C["guest"]
        self.T["shop/customers"] = C
        O["id"] = 5_500_000 + np.arange(no) * 3 + rng.integers(0, 3, no)
        O["number"] = 1001 + np.arange(no)
        O["no_customer"] = rng.random(no) < 0.004
        self.T["shop/orders"] = O
        L["id"] = 10_000_000 + np.arange(len(L["order"]))
        self.T["shop/orders#lines"] = L
        O["refund_id"] = 800_000 + np.cumsum(O["refund_t"] >= 0)
        # abandoned checkouts
        nk = rng.poisson(0.35, n) * has_shop
        k_p = np.repeat(np.arange(n), nk)
        kt = P["t0"][k_p] + (rng.random(len(k_p)) * (now - 120 - P["t0"][k_p])).astype(np.int64)
        K = dict(p=k_p, t=kt)
        _sort_table(K, kt)
        nkk = len(k_p)
        KL = self._make_lines(rng, nkk, np.zeros(nkk, bool))
        K["total"] = np.bincount(KL["order"], KL["dprice"] * KL["qty"], minlength=nkk).astype(np.int64)
        K["total"] += np.where(K["total"] < FREE_SHIPPING_FROM, SHIPPING_CENTS, 0)
        K["upd"] = K["t"] + rng.integers(60, 4 * HOUR, nkk)
        K["upd"] = np.minimum(K["upd"], now - 61)
        crow = cust_row_of_person[K["p"]]
        K["crow"] = np.where(rng.random(nkk) < 0.7, crow, -1)
        K["email"] = self._identity(K["p"], rng, "shop")["email"]
        K["id"] = 30_000_000_000 + np.arange(nkk) * 11 + rng.integers(0, 11, nkk)
        K["tok_hi"] = rng.integers(0, 2**63 - 1, nkk)
        K["tok_lo"] = rng.integers(0, 2**63 - 1, nkk)
        KL["id"] = 20_000_000 + np.arange(len(KL["order"]))
        self.T["shop/checkouts"] = K
        self.T["shop/checkouts#lines"] = KL

    def _build_erp(self, rng, n_phone: np.ndarray, leads: np.ndarray) -> None:
        P, r, now, n = self.P, self.dirt, self.now_s, self.persons
        O, L = self.T["shop/orders"], self.T["shop/orders#lines"]
        mirror = np.flatnonzero(~O["test"])
        q_p = np.repeat(np.arange(n), n_phone)
        q_t = P["t0"][q_p] + (rng.random(len(q_p)) * (now - 120 - P["t0"][q_p])).astype(np.int64)
        nq = len(q_p)
        # partners: everybody who ordered (the ERP creates a partner for each buyer) plus leads
        big = np.iinfo(np.int64).max
        first_t = np.full(n, big)
        np.minimum.at(first_t, O["p"][mirror], O["t"][mirror])
        np.minimum.at(first_t, q_p, q_t)
        erp_p = np.flatnonzero((first_t < big) | leads)
        created = np.where(first_t[erp_p] < big, first_t[erp_p], P["t0"][erp_p]) - rng.integers(HOUR, 3 * DAY, len(erp_p))
        R = dict(p=erp_p, created=created)
        _sort_table(R, created)
        nr = len(erp_p)
        R["id"] = 1000 + np.arange(nr)
        R["has_ref"] = rng.random(nr) >= 0.03 + r.missing_fields * 0.5
        again = rng.random(nr) < r.updated_again
        w = R["created"] + np.where(again, (rng.random(nr) * (now - 61 - R["created"])).astype(np.int64),
                                    rng.integers(0, 5, nr))
        R["write"] = np.maximum(_cluster(rng, R["created"], w, 600, r.same_timestamp_clusters, now)[0], R["created"])
        R["active"] = rng.random(nr) >= r.soft_deletes
        R["idn"] = self._identity(R["p"], rng, "erp")
        R["birth_missing"] = R["idn"]["no_birth"] | (rng.random(nr) < 0.5)
        R["vat_no"] = rng.integers(100_000_000, 999_999_999, nr)
        R["has_vat"] = R["idn"]["is_company"] & (rng.random(nr) < 0.7)
        partner_row = np.full(n, -1)
        partner_row[R["p"]] = np.arange(nr)
        self._partner_row_of_person = partner_row
        self.T["erp/res.partner"] = R
        # orders: webshop mirrors and phone / store orders
        nm = len(mirror)
        q_team = np.where(rng.random(nq) < 0.6, 1, 2)
        q_cancel = rng.random(nq) < 0.02
        E = dict(p=np.concatenate([O["p"][mirror], q_p]),
                 t=np.concatenate([np.minimum(O["t"][mirror] + rng.integers(60, 900, nm), now - 61), q_t]),
                 team=np.concatenate([np.zeros(nm, np.int8), q_team.astype(np.int8)]),
                 shop_row=np.concatenate([mirror, np.full(nq, -1)]),
                 q_row=np.concatenate([np.full(nm, -1), np.arange(nq)]),
                 cancel=np.concatenate([O["cancel_t"][mirror] >= 0, q_cancel]))
        eorder = _sort_table(E, E["t"])
        ne = len(E["t"])
        erow_of_shop = np.full(len(O["t"]), -1)
        erow_of_shop[E["shop_row"][E["shop_row"] >= 0]] = np.flatnonzero(E["shop_row"] >= 0)
        erow_of_q = np.full(nq, -1)
        erow_of_q[E["q_row"][E["q_row"] >= 0]] = np.flatnonzero(E["q_row"] >= 0)
        O["erow"] = erow_of_shop
        E["id"] = np.arange(1, ne + 1)
        E["partner"] = partner_row[E["p"]]
        age = now - E["t"]
        is_q = E["shop_row"] < 0
        state = np.where(age > 10 * DAY, 2, 1)
        state[is_q & (age < DAY) & (rng.random(ne) < 0.5)] = 0
        state[E["cancel"]] = 3
        E["state"] = state.astype(np.int8)
        E["ref_fmt"] = np.where(rng.random(ne) < 0.03 + r.missing_fields * 0.3, 3, rng.integers(0, 3, ne))
        # lines: shop lines of mirrored orders, phone/store lines, shipping lines
        QL = self._make_lines(rng, nq, np.zeros(nq, bool))
        q_goods = np.bincount(QL["order"], QL["dprice"] * QL["qty"], minlength=nq).astype(np.int64)
        q_ship = np.where((q_team == 1) & (q_goods < FREE_SHIPPING_FROM), SHIPPING_CENTS, 0)
        q_ret = ~q_cancel & (q_t < now - 5 * DAY) & (rng.random(nq) < 0.06)
        QL["ret"] = np.where(q_ret[QL["order"]], rng.binomial(QL["qty"], 0.8), 0)
        q_ret_t = np.where(q_ret & (np.bincount(QL["order"], QL["ret"], minlength=nq) > 0),
                           np.minimum(q_t + rng.integers(3 * DAY, 20 * DAY, nq), now - 3600), -1)
        QL["net"] = _net(QL["dprice"] * QL["qty"], QL["vat"])
        lm = np.isin(L["order"], mirror) if len(mirror) != len(O["t"]) else np.ones(len(L["order"]), bool)
        ship_src = np.concatenate([erow_of_shop[mirror][O["ship"][mirror] > 0],
                                   erow_of_q[np.flatnonzero(q_ship > 0)]])
        ns = len(ship_src)
        ship_prod = len(self.T["erp/product.product"]["id"]) - 1
        EL = dict(order=np.concatenate([erow_of_shop[L["order"][lm]], erow_of_q[QL["order"]], ship_src]),
                  kind=np.concatenate([np.zeros(lm.sum(), np.int8), np.zeros(len(QL["order"]), np.int8),
                                       np.ones(ns, np.int8)]),
                  prod=np.concatenate([L["prod"][lm], QL["prod"], np.full(ns, ship_prod)]),
                  qty=np.concatenate([L["qty"][lm], QL["qty"], np.ones(ns, np.int64)]),
                  price=np.concatenate([L["dprice"][lm], QL["dprice"], np.full(ns, SHIPPING_CENTS)]),
                  net=np.concatenate([L["net"][lm], QL["net"], np.full(ns, _net(np.array([SHIPPING_CENTS]), np.array([0.19]))[0])]),
                  ret=np.concatenate([L["ret"][lm], QL["ret"], np.zeros(ns, np.int64)]))
        _sort_table(EL, EL["order"].astype(np.int64) * 2 + EL["kind"])
        nel = len(EL["order"])
        EL["id"] = np.arange(1, nel + 1)
        E["total"] = np.bincount(EL["order"], EL["price"] * EL["qty"], minlength=ne).astype(np.int64)
        E["untaxed"] = np.bincount(EL["order"], EL["net"], minlength=ne).astype(np.int64)
        # return time, payment and method per ERP order
        ret_t = np.full(ne, -1)
        sm = E["shop_row"] >= 0
        ret_t[sm] = O["refund_t"][E["shop_row"][sm]]
        ret_t[~sm] = q_ret_t[E["q_row"][~sm]]
        E["ret_t"] = ret_t
        E["refund"] = np.bincount(EL["order"], EL["ret"] * EL["price"], minlength=ne).astype(np.int64)
        pay = np.full(ne, -1)
        pay[sm] = O["pay_t"][E["shop_row"][sm]]
        method = np.zeros(ne, np.int8)  # index into PAYMENT_METHODS
        method[sm] = np.array([PAYMENT_METHODS.index(m) for m in GATEWAY_METHOD])[O["gw"][E["shop_row"][sm]]]
        qi = np.flatnonzero(~sm)
        late = P["late"][E["p"][qi]]
        store = E["team"][qi] == 2
        qpay = np.where(store, E["t"][qi] + 5, E["t"][qi] + np.where(late, rng.integers(15 * DAY, 60 * DAY, len(qi)),
                                                                      rng.integers(2 * DAY, 14 * DAY, len(qi))))
        qpay[(~store) & (rng.random(len(qi)) < np.where(late, 0.15, 0.03))] = -1
        qpay[E["cancel"][qi]] = -1
        pay[qi] = qpay
        method[qi] = np.where(store, np.where(rng.random(len(qi)) < 0.6, 4, 3),
                              np.where(rng.random(len(qi)) < 0.8, 0, 1))
        E["pay_t"] = pay
        E["method"] = method
        deliv_t = E["t"] + np.where(E["team"] == 2, 0, 2 * DAY)
        delivered = (E["state"] == 2) | ((E["state"] == 1) & (deliv_t < now))
        EL["delivered"] = delivered[EL["order"]]
        lw = np.maximum(E["t"][EL["order"]] + np.where(EL["delivered"], deliv_t[EL["order"]] - E["t"][EL["order"]], 30),
                        np.where(EL["ret"] > 0, E["ret_t"][EL["order"]] + 600, 0))
        EL["write"] = np.minimum(lw, now - 61)
        done_t = np.minimum(E["t"] + 10 * DAY, now - 61)
        wr = np.where(E["state"] == 2, done_t, E["t"] + 30)
        again = rng.random(ne) < r.updated_again * 0.2
        wr = np.where(again, wr + (rng.random(ne) * (now - 61 - wr)).astype(np.int64), wr)
        E["write"] = np.maximum(np.minimum(wr, now - 61), E["t"])
        self.T["erp/sale.order"] = E
        self.T["erp/sale.order.line"] = EL

    def _build_accounting(self, rng) -> None:
        P, r, now, n = self.P, self.dirt, self.now_s, self.persons
        R, E = self.T["erp/res.partner"], self.T["erp/sale.order"]
        erp = self._partner_row_of_person >= 0
        acc = (erp & (rng.random(n) < 0.6)) | (~erp & (rng.random(n) < 0.03))
        a_p = np.flatnonzero(acc)
        prow = self._partner_row_of_person[a_p]
        created = np.where(prow >= 0, R["created"][np.maximum(prow, 0)], P["t0"][a_p]) + rng.integers(HOUR, 5 * DAY, len(a_p))
        created = np.minimum(created, now - 3600)
        A = dict(p=a_p, created=created)
        _sort_table(A, created)
        na = len(a_p)
        A["hi"], A["lo"] = rng.integers(0, 2**63 - 1, na), rng.integers(0, 2**63 - 1, na)
        A["number"] = 10_000 + np.arange(na)
        A["version"] = 1 + np.where(rng.random(na) < r.updated_again, 1 + rng.poisson(1.0, na), 0)
        prow = self._partner_row_of_person[A["p"]]
        A["note"] = np.where((prow >= 0) & (rng.random(na) < 0.5), prow, -1)
        A["note"][A["note"] >= 0] = np.where(R["has_ref"][A["note"][A["note"] >= 0]], A["note"][A["note"] >= 0], -1)
        A["archived"] = rng.random(na) < r.soft_deletes
        A["idn"] = self._identity(A["p"], rng, "accounting")
        contact_row = np.full(n, -1)
        contact_row[A["p"]] = np.arange(na)
        self._contact_row_of_person = contact_row
        self.T["accounting/contacts"] = A
        # invoices for most confirmed ERP orders, credit notes for returns
        ne = len(E["t"])
        inv = (E["state"] != 0) & (rng.random(ne) < 0.8)
        ii = np.flatnonzero(inv)
        cn = np.flatnonzero(inv & (E["ret_t"] >= 0) & (E["refund"] > 0))
        it = np.minimum(E["t"][ii] + rng.integers(HOUR, DAY, len(ii)), now - 120)
        ct = np.minimum(E["ret_t"][cn] + rng.integers(HOUR, DAY, len(cn)), now - 120)
        V = dict(eo=np.concatenate([ii, cn]), type=np.concatenate([np.zeros(len(ii), np.int8), np.ones(len(cn), np.int8)]),
                 t=np.concatenate([it, ct]))
        _sort_table(V, V["t"])
        nv = len(V["t"])
        eo = V["eo"]
        V["p"] = E["p"][eo]
        crow = contact_row[V["p"]]
        V["contact"] = np.where((crow >= 0) & (rng.random(nv) < 0.65), crow, -1)
        is_inv = V["type"] == 0
        V["total"] = np.where(is_inv, E["total"][eo], E["refund"][eo])
        local_day = (V["t"] + berlin_offset(V["t"])) // DAY
        vdate = local_day * DAY - berlin_offset(local_day * DAY - 3600)
        V["vdate"] = vdate
        V["due"] = vdate + np.where(is_inv, 14 * DAY, 0)
        pay = np.where(is_inv, E["pay_t"][eo], -1)
        pay = np.where(pay >= 0, np.maximum(pay, V["t"] + 60), -1)
        paid = is_inv & (pay >= 0) & (pay <= now - 120)
        voided = is_inv & E["cancel"][eo]
        paid &= ~voided
        overdue = is_inv & ~paid & ~voided & (V["due"] + DAY < now)
        status = np.where(is_inv, 0, 3)  # VOUCHER_STATUS index
        status[paid] = 2
        status[overdue] = 1
        status[voided] = 4
        V["status"] = status.astype(np.int8)
        od = now - V["due"]
        dun = np.where(overdue, (od >= 7 * DAY).astype(int) + (od >= 21 * DAY) + (od >= 35 * DAY), 0)
        V["dunning"] = dun.astype(np.int8)
        run = V["due"] + np.select([dun == 3, dun == 2, dun == 1], [35 * DAY, 21 * DAY, 7 * DAY], DAY) + 2 * HOUR
        ev = np.maximum.reduce([V["t"] + 5, np.where(paid, pay + 300, 0), np.where(overdue, run, 0),
                                np.where(voided, E["write"][eo], 0)])
        ev = np.minimum(ev, now - 120)
        again = rng.random(nv) < r.updated_again * 0.2
        ev = np.where(again, ev + (rng.random(nv) * (now - 120 - ev)).astype(np.int64), ev)
        # A mass update the voucher list cannot page through (more results on one day than its
        # window, whatever the status and type filters) could be read by no client of the API: the
        # bulk stays within the window, however large the world.
        ev, bulk = _cluster(rng, V["t"], ev, 300, r.same_timestamp_clusters, now,
                            max_size=ACCOUNTING_WINDOW // 2)
        V["upd_ms"] = np.maximum(ev, V["t"]) * 1000 + np.where(bulk, 0, rng.integers(0, 1000, nv))
        V["created_ms"] = V["t"] * 1000 + rng.integers(0, 1000, nv)
        V["upd_ms"] = np.maximum(V["upd_ms"], V["created_ms"])
        V["open"] = np.where((status == 0) | (status == 1), V["total"], 0)
        V["hi"], V["lo"] = rng.integers(0, 2**63 - 1, nv), rng.integers(0, 2**63 - 1, nv)
        V["seq"] = np.arange(1, nv + 1)
        V["remark_fmt"] = rng.integers(0, 6, nv)
        self.T["accounting/vouchers"] = V
        pi = np.flatnonzero(paid)
        PM = dict(v=pi, paid=pay[pi])
        _sort_table(PM, PM["paid"])
        npm = len(PM["v"])
        PM["paid_ms"] = PM["paid"] * 1000 + rng.integers(0, 1000, npm)
        PM["upd_ms"] = PM["paid_ms"] + rng.integers(60_000, 1_800_000, npm)
        PM["upd_ms"] = np.minimum(PM["upd_ms"], (now - 120) * 1000)
        PM["upd_ms"] = np.maximum(PM["upd_ms"], PM["paid_ms"])
        PM["amount"] = V["total"][PM["v"]]
        PM["method"] = E["method"][V["eo"][PM["v"]]]
        PM["hi"], PM["lo"] = rng.integers(0, 2**63 - 1, npm), rng.integers(0, 2**63 - 1, npm)
        self.T["accounting/payments"] = PM

    def _build_helpdesk(self, rng, hd: np.ndarray) -> None:
        P, r, now, n = self.P, self.dirt, self.now_s, self.persons
        O = self.T["shop/orders"]
        h_p = np.flatnonzero(hd)
        nu0 = len(h_p)
        created = P["t0"][h_p] + (rng.random(nu0) ** 2 * (now - 3 * DAY - P["t0"][h_p])).astype(np.int64)
        U = dict(p=h_p, created=np.maximum(created, self.start_s))
        _sort_table(U, U["created"])
        nu = nu0
        U["id"] = 3_800_000 + np.arange(nu) * 13 + rng.integers(0, 13, nu)
        crow = self._cust_row_of_person[U["p"]]
        U["ext"] = np.where((crow >= 0) & (rng.random(nu) < 0.45), crow, -1)
        U["form"] = np.where(rng.random(nu) < 0.25, 1, 0).astype(np.int8)
        U["active"] = rng.random(nu) >= r.soft_deletes
        U["idn"] = self._identity(U["p"], rng, "helpdesk")
        # tickets
        k = 1 + rng.poisson(0.7, nu)
        t_u, _ = _segments(k)
        tt = U["created"][t_u] + (rng.random(len(t_u)) * (now - 120 - U["created"][t_u])).astype(np.int64)
        tt[np.r_[0, np.cumsum(k)[:-1]]] = U["created"] + rng.integers(10, 600, nu)  # first ticket creates the user
        Tk = dict(u=t_u, t=np.minimum(tt, now - 120))
        _sort_table(Tk, Tk["t"])
        nt = len(Tk["t"])
        Tk["id"] = np.arange(1, nt + 1)
        Tk["subject"] = rng.integers(0, len(SUBJECTS), nt)
        Tk["channel"] = rng.choice(4, nt, p=[0.35, 0.35, 0.15, 0.15]).astype(np.int8)
        # the order an order-related ticket is about: the requester's last shop order before the ticket
        tp = U["p"][Tk["u"]]
        okey = O["p"].astype(np.int64) * (1 << 36) + (O["t"] - self.start_s + DAY)
        oord = np.argsort(okey, kind="stable")
        okey_s = okey[oord]
        tkey = tp.astype(np.int64) * (1 << 36) + (Tk["t"] - self.start_s + DAY)
        pos = np.searchsorted(okey_s, tkey, side="right") - 1
        ok = pos >= 0
        ok[ok] = (okey_s[pos[ok]] >> 36) == tp[ok]
        about = np.where(ok & ORDER_SUBJECTS[Tk["subject"]] & (rng.random(nt) < 0.75), oord[np.maximum(pos, 0)], -1)
        Tk["order"] = about
        Tk["cf_fmt"] = rng.integers(0, 6, nt)
        age = now - Tk["t"]
        u01 = rng.random(nt)
        status = np.where(age > 10 * DAY, np.select([u01 < 0.75, u01 < 0.95, u01 < 0.98], [4, 3, 2], 1),
                          np.where(age > 2 * DAY, np.select([u01 < 0.5, u01 < 0.7, u01 < 0.95], [3, 2, 1], 0),
                                   np.select([u01 < 0.4, u01 < 0.8, u01 < 0.9], [0, 1, 2], 3)))
        solved_t = Tk["t"] + rng.integers(HOUR, 5 * DAY, nt)
        solved_t = np.minimum(solved_t, now - 90)
        solved = (status == 3) | (status == 4)
        Tk["solved_t"] = np.where(solved, solved_t, -1)
        closed_t = np.minimum(solved_t + 4 * DAY, now - 90)
        deleted = rng.random(nt) < r.soft_deletes
        status[deleted] = 5
        Tk["status"] = status.astype(np.int8)
        v = rng.random(nt)
        rating = np.where(solved, np.select([v < 0.15, v < 0.45, v < 0.85], [0, 1, 2], 3), 0)
        Tk["rating"] = rating.astype(np.int8)
        upd = np.maximum.reduce([Tk["t"] + rng.integers(30, 3 * HOUR, nt), np.where(solved, solved_t, 0),
                                 np.where(status == 4, closed_t, 0)])
        upd = np.where(deleted, upd + (rng.random(nt) * (now - 90 - upd)).astype(np.int64), upd)
        again = rng.random(nt) < r.updated_again * 0.2
        upd = np.where(again, upd + (rng.random(nt) * (now - 90 - upd)).astype(np.int64), upd)
        Tk["upd"] = np.maximum(np.minimum(upd, now - 90), Tk["t"])
        # user change marker, bulk import cluster
        again = rng.random(nu) < r.updated_again
        uupd = U["created"] + np.where(again, (rng.random(nu) * (now - 90 - U["created"])).astype(np.int64),
                                       rng.integers(0, 3, nu))
        uupd, _ = _cluster(rng, U["created"], uupd, 1250, r.same_timestamp_clusters, now)
        U["upd"] = np.maximum(uupd, U["created"])
        # surveys: CSAT after solved tickets, NPS independently
        cs = np.flatnonzero(solved & ~deleted & (rng.random(nt) < 0.35))
        nps_u = np.flatnonzero(rng.random(nu) < 0.2)
        cs_t = np.minimum(Tk["solved_t"][cs] + rng.integers(HOUR, 2 * DAY, len(cs)), now - 90)
        nps_t = U["created"][nps_u] + (rng.random(len(nps_u)) * (now - 90 - U["created"][nps_u])).astype(np.int64)
        rt = Tk["rating"][cs]
        cs_score = np.where(rt == 2, 4 + (rng.random(len(cs)) < 0.6), np.where(rt == 3, 1 + (rng.random(len(cs)) < 0.4),
                                                                             rng.choice(5, len(cs), p=[0.08, 0.1, 0.17, 0.35, 0.3]) + 1))
        nps_score = rng.choice(11, len(nps_u), p=[0.03, 0.02, 0.03, 0.03, 0.04, 0.07, 0.08, 0.14, 0.2, 0.18, 0.18])
        S = dict(type=np.concatenate([np.zeros(len(cs), np.int8), np.ones(len(nps_u), np.int8)]),
                 ticket=np.concatenate([cs, np.full(len(nps_u), -1)]),
                 u=np.concatenate([Tk["u"][cs], nps_u]),
                 score=np.concatenate([cs_score, nps_score]).astype(np.int64),
                 t=np.concatenate([cs_t, nps_t]))
        _sort_table(S, S["t"])
        ns = len(S["t"])
        S["id"] = np.arange(1, ns + 1)
        S["comment"] = np.where(rng.random(ns) < 0.25, rng.integers(0, 4, ns), -1)
        S["upd"] = S["t"] + np.where(rng.random(ns) < 0.05, rng.integers(60, DAY, ns), 0)
        S["upd"] = np.minimum(S["upd"], now - 90)
        S["upd"] = np.maximum(S["upd"], S["t"])
        # a few records changed within the last 60 seconds: the API holds them back
        for tbl, col, cnt in ((Tk, "upd", 3), (U, "upd", 2), (S, "upd", 1)):
            m = len(tbl[col])
            if m:
                pick = rng.choice(m, min(cnt, m), replace=False)
                tbl[col][pick] = now - rng.integers(5, 55, len(pick))
        self.T["helpdesk/users"] = U
        self.T["helpdesk/tickets"] = Tk
        self.T["helpdesk/survey_responses"] = S

    # ------------------------------------------------------------------ rendering
    def _render(self, key: str, a: int, b: int) -> list[dict]:
        return getattr(self, "_r_" + key.split("/")[1].replace(".", "_"))(a, b)

    def _r_customers(self, a: int, b: int) -> list[dict]:
        C = self.T["shop/customers"]
        s = slice(a, b)
        idn = {k: v[s] for k, v in C["idn"].items()}
        created, updated, cons_t = shop_ts(C["created"][s]), shop_ts(C["upd"][s]), shop_ts(C["consent_t"][s])
        bday = day_str_nullable(idn["birth"], C["birth_missing"][s])
        p = C["p"][s]
        prow = self._partner_row_of_person[p]
        R = self.T["erp/res.partner"]
        tag_erp = (prow >= 0) & R["has_ref"][np.maximum(prow, 0)] & ~C["guest"][s] & ((C["id"][s] % 5) < 3)
        out = []
        for i, (cid, guest, st, ver, cons, opt, vip, te, pr) in enumerate(zip(
                C["id"][s].tolist(), C["guest"][s].tolist(), C["state"][s].tolist(), C["verified"][s].tolist(),
                C["consent"][s].tolist(), C["optin"][s].tolist(), C["vip"][s].tolist(), tag_erp.tolist(),
                prow.tolist())):
            tags = []
            if te:
                tags.append(f"erp:K-{100000 + pr}")
            if cons == 1:
                tags.append("newsletter")
            if vip:
                tags.append("vip")
            addr = None if idn["no_addr"][i] else {
                "address1": idn["address1"][i], "address2": idn["addr2"][i], "zip": idn["zip"][i],
                "city": idn["city"][i], "country_code": "DE", "company": idn["company"][i]}
            out.append({
                "id": cid, "email": idn["email"][i], "first_name": idn["first"][i], "last_name": idn["last"][i],
                "phone": idn["mobile"][i] or idn["land"][i], "state": SHOP_STATES[st], "guest": guest,
                "verified_email": ver, "tags": ", ".join(tags), "birthday": bday[i],
                "email_marketing_consent": {"state": CONSENT[cons],
                                            "opt_in_level": (None, "confirmed_opt_in", "single_opt_in")[opt],
                                            "consent_updated_at": cons_t[i]},
                "created_at": created[i], "updated_at": updated[i], "default_address": addr})
        return out

    def _shop_address(self, crow: int) -> dict | None:
        C = self.T["shop/customers"]
        idn = C["idn"]
        if crow < 0 or idn["no_addr"][crow]:
            return None
        return {"first_name": idn["first"][crow], "last_name": idn["last"][crow], "company": idn["company"][crow],
                "address1": idn["address1"][crow], "address2": idn["addr2"][crow], "zip": idn["zip"][crow],
                "city": idn["city"][crow], "country_code": "DE", "phone": idn["mobile"][crow] or idn["land"][crow]}

    def _r_orders(self, a: int, b: int) -> list[dict]:
        O, L, C, Pr = self.T["shop/orders"], self.T["shop/orders#lines"], self.T["shop/customers"], self.T["erp/product.product"]
        s = slice(a, b)
        created, updated = shop_ts(O["t"][s]), shop_ts(O["upd"][s])
        cancelled, refunded = shop_ts(O["cancel_t"][s]), shop_ts(O["refund_t"][s])
        tot, sub = _money(O["total"][s]), _money(O["total"][s] - O["ship"][s])
        tax, disc, ship = _money(O["tax"][s]), _money(O["discounts"][s]), _money(O["ship"][s])
        la, lb = int(L["starts"][a]), int(L["starts"][b])
        lid, lprod, lqty, lret = (L["id"][la:lb].tolist(), L["prod"][la:lb].tolist(), L["qty"][la:lb].tolist(),
                                  L["ret"][la:lb].tolist())
        lprice, ldp = _money(L["price"][la:lb]), L["dprice"][la:lb].tolist()
        codes, names, pids = Pr["code"].tolist(), Pr["name"].tolist(), Pr["id"].tolist()
        starts = (L["starts"][a:b + 1] - la).tolist()
        email = C["idn"]["email"]
        now = self.now_s
        out = []
        for i, (oid, num, crow, test, gw, pay_t, cancel_t, rt, allb, rid, noc) in enumerate(zip(
                O["id"][s].tolist(), O["number"][s].tolist(), O["crow"][s].tolist(), O["test"][s].tolist(),
                O["gw"][s].tolist(), O["pay_t"][s].tolist(), O["cancel_t"][s].tolist(), O["refund_t"][s].tolist(),
                O["all_back"][s].tolist(), O["refund_id"][s].tolist(), O["no_customer"][s].tolist())):
            items, rli, ramount = [], [], 0
            for j in range(starts[i], starts[i + 1]):
                items.append({"id": lid[j], "sku": codes[lprod[j]], "title": names[lprod[j]], "quantity": lqty[j],
                              "price": lprice[j], "product_id": pids[lprod[j]]})
                if lret[j]:
                    rli.append({"line_item_id": lid[j], "quantity": lret[j], "subtotal": f"{lret[j] * ldp[j] / 100:.2f}"})
                    ramount += lret[j] * ldp[j]
            refunds = []
            if rt >= 0:
                refunds.append({"id": rid, "created_at": refunded[i], "refund_line_items": rli,
                                "transactions": [{"amount": f"{ramount / 100:.2f}", "kind": "refund", "status": "success"}]})
            if cancel_t >= 0:
                fs = "voided"
            elif rt >= 0:
                fs = "refunded" if allb else "partially_refunded"
            elif 0 <= pay_t <= now:
                fs = "paid"
            elif gw == 2:
                fs = "authorized"
            else:
                fs = "pending"
            addr = self._shop_address(crow)
            out.append({
                "id": oid, "name": f"#{num}", "order_number": num, "email": email[crow] if not test else "test@example.com",
                "customer": None if noc else {"id": int(C["id"][crow])},
                "created_at": created[i], "updated_at": updated[i], "cancelled_at": cancelled[i], "test": test,
                "financial_status": fs, "currency": "EUR", "total_price": tot[i], "subtotal_price": sub[i],
                "total_tax": tax[i], "total_discounts": disc[i], "shipping_price": ship[i],
                "payment_gateway_names": [GATEWAYS[gw]], "line_items": items, "refunds": refunds,
                "billing_address": addr, "shipping_address": dict(addr) if addr else None})
        return out

    def _r_checkouts(self, a: int, b: int) -> list[dict]:
        K, KL, C, Pr = self.T["shop/checkouts"], self.T["shop/checkouts#lines"], self.T["shop/customers"], self.T["erp/product.product"]
        s = slice(a, b)
        created, updated, tot = shop_ts(K["t"][s]), shop_ts(K["upd"][s]), _money(K["total"][s])
        la, lb = int(KL["starts"][a]), int(KL["starts"][b])
        lid, lprod, lqty, lprice = KL["id"][la:lb].tolist(), KL["prod"][la:lb].tolist(), KL["qty"][la:lb].tolist(), _money(KL["price"][la:lb])
        codes, names, pids = Pr["code"].tolist(), Pr["name"].tolist(), Pr["id"].tolist()
        starts = (KL["starts"][a:b + 1] - la).tolist()
        out = []
        for i, (kid, crow, em, hi, lo) in enumerate(zip(K["id"][s].tolist(), K["crow"][s].tolist(), K["email"][s],
                                                        K["tok_hi"][s].tolist(), K["tok_lo"][s].tolist())):
            out.append({"id": kid, "token": f"{hi:016x}{lo:016x}", "email": em,
                        "customer": {"id": int(C["id"][crow])} if crow >= 0 else None,
                        "created_at": created[i], "updated_at": updated[i], "completed_at": None, "total_price": tot[i],
                        "line_items": [{"id": lid[j], "sku": codes[lprod[j]], "title": names[lprod[j]],
                                        "quantity": lqty[j], "price": lprice[j], "product_id": pids[lprod[j]]}
                                       for j in range(starts[i], starts[i + 1])]})
        return out

    def _partner_name(self, row: int) -> str:
        idn = self.T["erp/res.partner"]["idn"]
        return idn["company"][row] if idn["is_company"][row] else f"{idn['first'][row]} {idn['last'][row]}"

    def _r_res_partner(self, a: int, b: int) -> list[dict]:
        R = self.T["erp/res.partner"]
        s = slice(a, b)
        idn = {k: v[s] for k, v in R["idn"].items()}
        created, written = erp_ts(R["created"][s]), erp_ts(R["write"][s])
        bday = day_str_nullable(idn["birth"], R["birth_missing"][s])
        out = []
        for i, (pid, row, has_ref, active, vat_no, has_vat) in enumerate(zip(
                R["id"][s].tolist(), range(a, b), R["has_ref"][s].tolist(), R["active"][s].tolist(),
                R["vat_no"][s].tolist(), R["has_vat"][s].tolist())):
            comp = bool(idn["is_company"][i])
            na = idn["no_addr"][i]
            out.append({
                "id": pid, "name": idn["company"][i] if comp else f"{idn['first'][i]} {idn['last'][i]}",
                "is_company": comp, "ref": f"K-{100000 + row}" if has_ref else False,
                "email": idn["email"][i] or False, "phone": idn["land"][i] or False, "mobile": idn["mobile"][i] or False,
                "street": False if na else idn["address1"][i], "street2": idn["addr2"][i] or False,
                "zip": False if na else idn["zip"][i], "city": False if na else idn["city"][i],
                "country_id": [57, "Deutschland"], "vat": f"DE{vat_no}" if has_vat else False,
                "x_birthdate": bday[i] or False, "active": active, "create_date": created[i], "write_date": written[i]})
        return out

    def _order_name(self, erow: int) -> str:
        return f"S{erow + 1:05d}"

    def _r_sale_order(self, a: int, b: int) -> list[dict]:
        E, O = self.T["erp/sale.order"], self.T["shop/orders"]
        s = slice(a, b)
        dates, written = erp_ts(E["t"][s]), erp_ts(E["write"][s])
        total, untaxed = E["total"][s], E["untaxed"][s]
        tot_l, unt_l, tax_l = _num(total), _num(untaxed), _num(total - untaxed)
        numbers = O["number"]
        out = []
        for i, (oid, row, partner, team, srow, fmt, st) in enumerate(zip(
                E["id"][s].tolist(), range(a, b), E["partner"][s].tolist(), E["team"][s].tolist(),
                E["shop_row"][s].tolist(), E["ref_fmt"][s].tolist(), E["state"][s].tolist())):
            if srow >= 0 and fmt < 3:
                nb = int(numbers[srow])
                ref = (f"#{nb}", f"{nb}", f"Shop {nb}")[fmt]
            else:
                ref = False
            out.append({"id": oid, "name": self._order_name(row), "partner_id": [partner + 1000, self._partner_name(partner)],
                        "client_order_ref": ref, "team_id": list(TEAMS[team]), "date_order": dates[i],
                        "state": ERP_STATES[st], "amount_untaxed": unt_l[i], "amount_tax": tax_l[i],
                        "amount_total": tot_l[i], "write_date": written[i]})
        return out

    def _r_sale_order_line(self, a: int, b: int) -> list[dict]:
        EL, Pr = self.T["erp/sale.order.line"], self.T["erp/product.product"]
        s = slice(a, b)
        written = erp_ts(EL["write"][s])
        price, net = _num(EL["price"][s]), _num(EL["net"][s])
        codes, names, pids = Pr["code"].tolist(), Pr["name"].tolist(), Pr["id"].tolist()
        out = []
        for i, (lid, o, prod, qty, ret, dl) in enumerate(zip(
                EL["id"][s].tolist(), EL["order"][s].tolist(), EL["prod"][s].tolist(), EL["qty"][s].tolist(),
                EL["ret"][s].tolist(), EL["delivered"][s].tolist())):
            out.append({"id": lid, "order_id": [o + 1, self._order_name(o)],
                        "product_id": [pids[prod], f"[{codes[prod]}] {names[prod]}"],
                        "product_uom_qty": float(qty), "qty_delivered": float(qty) if dl else 0.0,
                        "x_qty_returned": float(ret), "price_unit": price[i], "price_subtotal": net[i],
                        "write_date": written[i]})
        return out

    def _r_product_product(self, a: int, b: int) -> list[dict]:
        Pr = self.T["erp/product.product"]
        s = slice(a, b)
        written = erp_ts(Pr["write"][s])
        lp, sp = _num(Pr["price"][s]), _num(Pr["cost"][s])
        cats = PRODUCT_CATEGORIES
        return [{"id": pid, "default_code": code, "name": name,
                 "categ_id": [cat + 2, cats[cat]] if cat >= 0 else [1, "Versand"],
                 "list_price": lp[i], "standard_price": sp[i], "write_date": written[i]}
                for i, (pid, code, name, cat) in enumerate(zip(Pr["id"][s].tolist(), Pr["code"][s].tolist(),
                                                                Pr["name"][s].tolist(), Pr["cat"][s].tolist()))]

    def _r_users(self, a: int, b: int) -> list[dict]:
        U, C = self.T["helpdesk/users"], self.T["shop/customers"]
        s = slice(a, b)
        idn = {k: v[s] for k, v in U["idn"].items()}
        created, updated = hd_ts(U["created"][s]), hd_ts(U["upd"][s])
        cids = C["id"]
        out = []
        for i, (uid, ext, form, active) in enumerate(zip(U["id"][s].tolist(), U["ext"][s].tolist(),
                                                         U["form"][s].tolist(), U["active"][s].tolist())):
            f, l = idn["first"][i], idn["last"][i]
            if idn["is_company"][i] and i % 2:
                name = idn["company"][i]
            elif form == 1 and not f.endswith("."):
                name = f"{l}, {f}"
            else:
                name = f"{f} {l}"
            out.append({"id": uid, "name": name, "email": idn["email"][i], "phone": idn["mobile"][i] or idn["land"][i],
                        "external_id": str(int(cids[ext])) if ext >= 0 else None, "role": "end-user",
                        "active": active, "created_at": created[i], "updated_at": updated[i]})
        return out

    def _r_tickets(self, a: int, b: int) -> list[dict]:
        Tk, U, O = self.T["helpdesk/tickets"], self.T["helpdesk/users"], self.T["shop/orders"]
        s = slice(a, b)
        created, updated, solved = hd_ts(Tk["t"][s]), hd_ts(Tk["upd"][s]), hd_ts(Tk["solved_t"][s])
        uids = U["id"]
        out = []
        for i, (tid, u, subj, ch, st, rating, orow, fmt) in enumerate(zip(
                Tk["id"][s].tolist(), Tk["u"][s].tolist(), Tk["subject"][s].tolist(), Tk["channel"][s].tolist(),
                Tk["status"][s].tolist(), Tk["rating"][s].tolist(), Tk["order"][s].tolist(), Tk["cf_fmt"][s].tolist())):
            subject = SUBJECTS[subj]
            value = None
            if orow >= 0:
                nb = int(O["number"][orow])
                value = (f"Bestellung {nb}, {subject}", f"Best.-Nr. #{nb}", f"{subject} - Auftrag #{nb}",
                         f"order {nb}", f"Bestellnr {nb}", f"Kd. fragt nach Bestellung #{nb}")[fmt]
            tags = [SUBJECT_TAG[subj]]
            if CHANNELS[ch] == "voice":
                tags.append("anruf")
            out.append({"id": tid, "requester_id": int(uids[u]), "subject": subject, "via": {"channel": CHANNELS[ch]},
                        "status": TICKET_STATUS[st], "created_at": created[i], "updated_at": updated[i],
                        "solved_at": solved[i], "custom_fields": [{"id": 360001, "value": value}],
                        "satisfaction_rating": {"score": RATINGS[rating]}, "tags": tags})
        return out

    def _r_survey_responses(self, a: int, b: int) -> list[dict]:
        S, U, Tk = self.T["helpdesk/survey_responses"], self.T["helpdesk/users"], self.T["helpdesk/tickets"]
        s = slice(a, b)
        created, updated = hd_ts(S["t"][s]), hd_ts(S["upd"][s])
        uids, tids = U["id"], Tk["id"]
        out = []
        for i, (sid, typ, tk, u, score, com) in enumerate(zip(S["id"][s].tolist(), S["type"][s].tolist(), S["ticket"][s].tolist(),
                                                             S["u"][s].tolist(), S["score"][s].tolist(), S["comment"][s].tolist())):
            good = score >= (4 if typ == 0 else 9)
            comment = None if com < 0 else (N.SURVEY_COMMENTS_GOOD if good else N.SURVEY_COMMENTS_BAD)[com]
            out.append({"id": sid, "type": ("csat", "nps")[typ], "score": score,
                        "ticket_id": int(tids[tk]) if tk >= 0 else None, "user_id": int(uids[u]), "comment": comment,
                        "created_at": created[i], "updated_at": updated[i]})
        return out

    def _contact_id(self, row: int) -> str:
        A = self.T["accounting/contacts"]
        return _uuid(A["hi"][row:row + 1], A["lo"][row:row + 1])[0]

    def _contact_name(self, row: int) -> str:
        idn = self.T["accounting/contacts"]["idn"]
        return idn["company"][row] if idn["is_company"][row] else f"{idn['first'][row]} {idn['last'][row]}"

    def _r_contacts(self, a: int, b: int) -> list[dict]:
        A = self.T["accounting/contacts"]
        s = slice(a, b)
        idn = {k: v[s] for k, v in A["idn"].items()}
        ids = _uuid(A["hi"][s], A["lo"][s])
        out = []
        for i, (number, version, note, arch) in enumerate(zip(A["number"][s].tolist(), A["version"][s].tolist(),
                                                               A["note"][s].tolist(), A["archived"][s].tolist())):
            rec = {"id": ids[i], "version": int(version), "roles": {"customer": {"number": number}}}
            if idn["is_company"][i]:
                rec["company"] = {"name": idn["company"][i], "vatRegistrationId": f"DE{100000000 + number * 37 % 899999999}"}
            else:
                rec["person"] = {"salutation": "Frau" if idn["fem"][i] else "Herr", "firstName": idn["first"][i],
                                 "lastName": idn["last"][i]}
            rec["addresses"] = {} if idn["no_addr"][i] else {"billing": [
                {"street": idn["address1"][i], "zip": idn["zip"][i], "city": idn["city"][i], "countryCode": "DE"}]}
            rec["emailAddresses"] = {"private": [idn["email"][i]]} if idn["email"][i] else {}
            phones = {}
            if idn["mobile"][i]:
                phones["mobile"] = [idn["mobile"][i]]
            if idn["land"][i]:
                phones["private"] = [idn["land"][i]]
            rec["phoneNumbers"] = phones
            rec["note"] = f"ERP K-{100000 + note}" if note >= 0 else None
            rec["archived"] = arch
            out.append(rec)
        return out

    def _r_vouchers(self, a: int, b: int) -> list[dict]:
        V, E, O, A = self.T["accounting/vouchers"], self.T["erp/sale.order"], self.T["shop/orders"], self.T["accounting/contacts"]
        s = slice(a, b)
        ids = _uuid(V["hi"][s], V["lo"][s])
        vdate, due = acc_ts(V["vdate"][s] * 1000), acc_ts(V["due"][s] * 1000)
        created, updated = acc_ts(V["created_ms"][s]), acc_ts(V["upd_ms"][s])
        tot, opn = _num(V["total"][s]), _num(V["open"][s])
        years = ((V["t"][s] // DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970).tolist()
        out = []
        for i, (typ, eo, crow, st, dun, seq, fmt) in enumerate(zip(
                V["type"][s].tolist(), V["eo"][s].tolist(), V["contact"][s].tolist(), V["status"][s].tolist(),
                V["dunning"][s].tolist(), V["seq"][s].tolist(), V["remark_fmt"][s].tolist())):
            srow = int(E["shop_row"][eo])
            so = self._order_name(eo)
            if srow >= 0 and fmt < 4:
                nb = int(O["number"][srow])
                remark = (f"Bestellung #{nb}", f"Bestellung {nb}", f"Shop-Bestellung #{nb}", f"Webshop {nb}")[fmt]
            else:
                remark = (f"Auftrag {so}", f"Rechnung zu Auftrag {so}")[fmt % 2]
            if typ == 1:
                remark = ("Gutschrift zu " if fmt % 2 else "Retoure ") + remark
            out.append({"id": ids[i], "voucherType": ("salesinvoice", "salescreditnote")[typ],
                        "voucherStatus": VOUCHER_STATUS[st],
                        "voucherNumber": f"{('RE', 'GS')[typ]}-{years[i]}-{seq:06d}",
                        "voucherDate": vdate[i], "dueDate": due[i], "createdDate": created[i], "updatedDate": updated[i],
                        "contactId": self._contact_id(crow) if crow >= 0 else None,
                        "contactName": self._contact_name(crow) if crow >= 0 else "Sammelkunde",
                        "totalAmount": tot[i], "openAmount": opn[i], "currency": "EUR", "remark": remark,
                        "dunningLevel": dun})
        return out

    def _r_payments(self, a: int, b: int) -> list[dict]:
        PM, V = self.T["accounting/payments"], self.T["accounting/vouchers"]
        s = slice(a, b)
        ids = _uuid(PM["hi"][s], PM["lo"][s])
        vrows = PM["v"][s]
        vids = _uuid(V["hi"][vrows], V["lo"][vrows])
        paid, upd, amt = acc_ts(PM["paid_ms"][s]), acc_ts(PM["upd_ms"][s]), _num(PM["amount"][s])
        return [{"id": ids[i], "voucherId": vids[i], "paidDate": paid[i], "amount": amt[i],
                 "paymentMethod": PAYMENT_METHODS[m], "updatedDate": upd[i]}
                for i, m in enumerate(PM["method"][s].tolist())]

    # ------------------------------------------------------------------ public read interface
    def _base_count(self, key: str) -> int:
        return len(self.T[key]["id"]) if "id" in self.T[key] else len(self.T[key]["hi"])

    def count(self, key: str) -> int:
        if key not in RESOURCE_KEYS:
            raise KeyError(key)
        return self._base_count(key) + len(self._extra[key])

    def iter_record_batches(self, key: str, batch_size: int = 50_000) -> Iterator[list[dict]]:
        if key not in RESOURCE_KEYS:
            raise KeyError(key)
        n = self._base_count(key)
        over = self._over[key]
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            with _no_gc():
                recs = self._render(key, a, b)
            if over:
                for row, rec in over.items():
                    if a <= row < b:
                        recs[row - a] = rec
            yield recs
        extra = list(self._extra[key].values())
        for a in range(0, len(extra), batch_size):
            yield extra[a:a + batch_size]

    def iter_records(self, key: str) -> Iterator[dict]:
        for batch in self.iter_record_batches(key, 5_000):
            yield from batch

    def truth(self) -> pd.DataFrame:
        parts = []
        for key, system in CUSTOMER_KEYS.items():
            t = self.T[key]
            if key == "accounting/contacts":
                rid = _uuid(t["hi"], t["lo"])
            else:
                rid = t["id"].astype(str)
            parts.append(pd.DataFrame({"source_system": system, "source_record_id": rid,
                                       "person_id": _person_ids(t["p"])}))
        if self._extra_truth:
            parts.append(pd.DataFrame(self._extra_truth, columns=TRUTH_COLUMNS))
        df = pd.concat(parts, ignore_index=True)
        return df.astype({c: str for c in TRUTH_COLUMNS})


    # ------------------------------------------------------------------ one more simulated day
    def _current(self, key: str, row: int) -> dict:
        rec = self._over[key].get(row)
        return rec if rec is not None else self._render(key, row, row + 1)[0]

    def _next_id(self, key: str, step: int = 1) -> int:
        if key not in self._ids:
            t = self.T[key]
            self._ids[key] = int(t["id"].max()) if len(t["id"]) else {"shop/customers": 7_000_000_000,
                                                                       "shop/orders": 5_500_000}.get(key, 0)
        self._ids[key] += step
        return self._ids[key]

    def _uuid1(self, rng) -> str:
        return _uuid(rng.integers(0, 2**63 - 1, 1), rng.integers(0, 2**63 - 1, 1))[0]

    def _append_persons(self, Q: dict) -> np.ndarray:
        n0 = len(self.P["fi"])
        for k in self.P:
            self.P[k] = np.concatenate([self.P[k], Q[k]])
        new = np.arange(n0, len(self.P["fi"]))
        for attr in ("_cust_row_of_person", "_partner_row_of_person", "_contact_row_of_person"):
            setattr(self, attr, np.concatenate([getattr(self, attr), np.full(len(new), -1)]))
        return new

    def advance_day(self) -> dict[str, list[dict]]:
        """Simulate one more day: returns per resource key the new records and new versions of changed records."""
        with _no_gc():
            return self._advance_day()

    def _advance_day(self) -> dict[str, list[dict]]:
        self.day_index += 1
        rng = _rng(self.seed, "day", self.day_index)
        r = self.dirt
        t_lo = self.now_s
        self.now_s += DAY
        self.now = self.now + dt.timedelta(days=1)
        now = self.now_s
        n = self.persons
        ch: dict[str, dict] = {k: {} for k in RESOURCE_KEYS}

        def when() -> int:
            return int(t_lo + rng.integers(120, DAY - 2 * HOUR))

        def k_of(frac: float, minimum: int) -> int:
            return max(minimum, int(n * frac))

        def put(key: str, row: int | None, rec: dict) -> None:
            if row is None:
                self._extra[key][rec["id"]] = rec
            else:
                self._over[key][row] = rec
            ch[key][(row, rec["id"])] = rec

        # Orders of the history whose payment arrives on this day turn paid: a change the shop reports
        # with a new updated_at, never silently.
        O0 = self.T["shop/orders"]
        for row in np.flatnonzero((O0["pay_t"] > t_lo) & (O0["pay_t"] <= now)).tolist():
            if row in self._over["shop/orders"]:
                continue
            O0["upd"][row] = max(int(O0["upd"][row]), int(O0["pay_t"][row]))
            put("shop/orders", row, self._render("shop/orders", row, row + 1)[0])

        Pr = self.T["erp/product.product"]
        codes, names, pids, vats, prices = (Pr["code"].tolist(), Pr["name"].tolist(), Pr["id"].tolist(),
                                            Pr["vat"].tolist(), Pr["price"].tolist())
        C, O, E = self.T["shop/customers"], self.T["shop/orders"], self.T["erp/sale.order"]
        xpartner = self.__dict__.setdefault("_xpartner", {})   # person -> [id, name] of partners made after generation
        xcontact = self.__dict__.setdefault("_xcontact", {})   # person -> (uuid, name)
        xcust = self.__dict__.setdefault("_xcust", {})         # person -> registered shop customer id (new persons)

        def person_name(idn, i):
            return idn["company"][i] if idn["is_company"][i] else f"{idn['first'][i]} {idn['last'][i]}"

        def new_customer(p: int, guest: bool, t: int) -> dict:
            idn = self._identity(np.array([p]), rng, "shop")
            cid = self._next_id("shop/customers", int(rng.integers(1, 7)))
            rec = {"id": cid, "email": idn["email"][0], "first_name": idn["first"][0], "last_name": idn["last"][0],
                   "phone": idn["mobile"][0] or idn["land"][0], "state": "enabled", "guest": guest,
                   "verified_email": not guest, "tags": "", "birthday": None,
                   "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": None, "consent_updated_at": None},
                   "created_at": shop_ts(np.array([t]))[0], "updated_at": shop_ts(np.array([t]))[0],
                   "default_address": None if idn["no_addr"][0] else {
                       "address1": idn["address1"][0], "address2": idn["addr2"][0], "zip": idn["zip"][0],
                       "city": idn["city"][0], "country_code": "DE", "company": idn["company"][0]}}
            if not guest and not idn["no_birth"][0] and rng.random() < 0.5:
                rec["birthday"] = day_str_nullable(np.array([idn["birth"][0]]), np.array([False]))[0]
            put("shop/customers", None, rec)
            self._extra_truth.append(("shop", str(cid), _person_ids(np.array([p]))[0]))
            return rec

        def partner_of(p: int, t: int) -> list:
            row = int(self._partner_row_of_person[p])
            if row >= 0:
                return [row + 1000, self._partner_name(row)]
            if p in xpartner:
                return xpartner[p]
            idn = self._identity(np.array([p]), rng, "erp")
            pid = self._next_id("erp/res.partner")
            name = person_name(idn, 0)
            ref = f"K-{100000 + pid - 1000}"
            rec = {"id": pid, "name": name, "is_company": bool(idn["is_company"][0]), "ref": ref,
                   "email": idn["email"][0] or False, "phone": idn["land"][0] or False,
                   "mobile": idn["mobile"][0] or False, "street": idn["address1"][0], "street2": idn["addr2"][0] or False,
                   "zip": idn["zip"][0], "city": idn["city"][0], "country_id": [57, "Deutschland"], "vat": False,
                   "x_birthdate": False, "active": True, "create_date": erp_ts(np.array([t]))[0],
                   "write_date": erp_ts(np.array([t]))[0]}
            put("erp/res.partner", None, rec)
            self._extra_truth.append(("erp", str(pid), _person_ids(np.array([p]))[0]))
            xpartner[p] = [pid, name]
            return xpartner[p]

        def contact_of(p: int):
            row = int(self._contact_row_of_person[p])
            if row >= 0:
                return self._contact_id(row), self._contact_name(row)
            return xcontact.get(p)

        def new_invoice(t: int, total: int, remark: str, p: int, paid_t: int | None, method: int, credit: bool = False):
            c = contact_of(p) if rng.random() < 0.65 else None
            seq = self._next_id("accounting/vouchers#seq") if "accounting/vouchers#seq" in self._ids else None
            if seq is None:
                self._ids["accounting/vouchers#seq"] = int(len(self.T["accounting/vouchers"]["seq"])) + 1
                seq = self._ids["accounting/vouchers#seq"]
            local_day = (t + int(berlin_offset(np.array([t]))[0])) // DAY
            vd = local_day * DAY - int(berlin_offset(np.array([local_day * DAY - 3600]))[0])
            status = "paidoff" if credit else ("paid" if paid_t is not None else "open")
            upd = (paid_t + 300) if paid_t is not None else t + 5
            year = dt.datetime.fromtimestamp(t, dt.UTC).year
            rec = {"id": self._uuid1(rng), "voucherType": "salescreditnote" if credit else "salesinvoice",
                   "voucherStatus": status, "voucherNumber": f"{'GS' if credit else 'RE'}-{year}-{seq:06d}",
                   "voucherDate": acc_ts(np.array([vd * 1000]))[0],
                   "dueDate": acc_ts(np.array([(vd + (0 if credit else 14 * DAY)) * 1000]))[0],
                   "createdDate": acc_ts(np.array([t * 1000 + 1]))[0], "updatedDate": acc_ts(np.array([upd * 1000 + 7]))[0],
                   "contactId": c[0] if c else None, "contactName": c[1] if c else "Sammelkunde",
                   "totalAmount": round(total / 100, 2), "openAmount": round(total / 100, 2) if status == "open" else 0.0,
                   "currency": "EUR", "remark": remark, "dunningLevel": 0}
            put("accounting/vouchers", None, rec)
            if paid_t is not None and not credit:
                put("accounting/payments", None, {
                    "id": self._uuid1(rng), "voucherId": rec["id"], "paidDate": acc_ts(np.array([paid_t * 1000]))[0],
                    "amount": round(total / 100, 2), "paymentMethod": PAYMENT_METHODS[method],
                    "updatedDate": acc_ts(np.array([(paid_t + 60) * 1000]))[0]})
            return rec

        def new_order(p: int, cust: dict, t: int) -> None:
            k = 1 + int(rng.binomial(3, 0.22))
            prods = rng.choice(self._n_sellable, k, p=self._prod_p).tolist()
            qtys = (1 + (rng.random(k) < 0.18)).tolist()
            gw = int(self.P["gw"][p]) if rng.random() < 0.7 else int(rng.choice(len(GATEWAYS), p=GATEWAY_P))
            goods = sum(prices[a] * q for a, q in zip(prods, qtys))
            ship = SHIPPING_CENTS if goods < FREE_SHIPPING_FROM else 0
            nets = [int(np.floor(prices[a] * q / (1 + vats[a]) + 0.5)) for a, q in zip(prods, qtys)]
            ship_net = int(np.floor(ship / 1.19 + 0.5))
            total, untaxed = goods + ship, sum(nets) + ship_net
            oid = self._next_id("shop/orders", int(rng.integers(1, 3)))
            num = self._next_id("shop/orders#number") if "shop/orders#number" in self._ids else None
            if num is None:
                self._ids["shop/orders#number"] = int(O["number"].max(initial=1000)) + 1
                num = self._ids["shop/orders#number"]
            fast = gw in (0, 2)
            paid_t = t + 120 if fast else None
            items = []
            for a, q in zip(prods, qtys):
                lid = self._next_id("shop/orders#lines") if "shop/orders#lines" in self._ids else None
                if lid is None:
                    self._ids["shop/orders#lines"] = int(self.T["shop/orders#lines"]["id"].max(initial=10_000_000)) + 1
                    lid = self._ids["shop/orders#lines"]
                items.append({"id": lid, "sku": codes[a], "title": names[a], "quantity": q,
                              "price": f"{prices[a] / 100:.2f}", "product_id": pids[a]})
            addr = None
            if cust.get("default_address"):
                addr = dict(cust["default_address"], first_name=cust["first_name"], last_name=cust["last_name"],
                            phone=cust["phone"])
            ts = shop_ts(np.array([t, paid_t or t]))
            rec = {"id": oid, "name": f"#{num}", "order_number": num, "email": cust["email"],
                   "customer": {"id": cust["id"]}, "created_at": ts[0], "updated_at": ts[1], "cancelled_at": None,
                   "test": False, "financial_status": "paid" if fast else "pending", "currency": "EUR",
                   "total_price": f"{total / 100:.2f}", "subtotal_price": f"{goods / 100:.2f}",
                   "total_tax": f"{(total - untaxed) / 100:.2f}", "total_discounts": "0.00",
                   "shipping_price": f"{ship / 100:.2f}", "payment_gateway_names": [GATEWAYS[gw]],
                   "line_items": items, "refunds": [], "billing_address": addr,
                   "shipping_address": dict(addr) if addr else None}
            put("shop/orders", None, rec)
            # ERP mirror
            et = t + int(rng.integers(60, 900))
            eid = self._next_id("erp/sale.order")
            ename = f"S{eid:05d}"
            ref = (f"#{num}", f"{num}", f"Shop {num}")[int(rng.integers(0, 3))]
            put("erp/sale.order", None, {
                "id": eid, "name": ename, "partner_id": list(partner_of(p, t)), "client_order_ref": ref,
                "team_id": list(TEAMS[0]), "date_order": erp_ts(np.array([et]))[0], "state": "sale",
                "amount_untaxed": round(untaxed / 100, 2), "amount_tax": round((total - untaxed) / 100, 2),
                "amount_total": round(total / 100, 2), "write_date": erp_ts(np.array([et]))[0]})
            lines = [(a, q, prices[a], nt) for a, q, nt in zip(prods, qtys, nets)]
            if ship:
                lines.append((len(pids) - 1, 1, ship, ship_net))
            for a, q, pr, nt in lines:
                put("erp/sale.order.line", None, {
                    "id": self._next_id("erp/sale.order.line"), "order_id": [eid, ename],
                    "product_id": [pids[a], f"[{codes[a]}] {names[a]}"], "product_uom_qty": float(q),
                    "qty_delivered": 0.0, "x_qty_returned": 0.0, "price_unit": round(pr / 100, 2),
                    "price_subtotal": round(nt / 100, 2), "write_date": erp_ts(np.array([et]))[0]})
            if rng.random() < 0.8:
                new_invoice(et + 600, total, f"Bestellung #{num}" if rng.random() < 0.6 else f"Auftrag {ename}", p,
                            paid_t + 600 if paid_t else None, PAYMENT_METHODS.index(GATEWAY_METHOD[gw]))

        # 1. new persons: registration (or guest checkout) and a first order
        k_new = k_of(0.001, 2)
        Q = self._make_persons(rng, k_new, len(self.P["fi"]), t_lo, now - 60)
        Q["email"] = _arr(e.replace("@", f".{self.day_index}{i}@", 1) for i, e in enumerate(Q["email"]))
        Q["root"] = np.arange(len(self.P["fi"]), len(self.P["fi"]) + k_new)
        new_p = self._append_persons(Q)
        for p in new_p.tolist():
            t = when()
            guest = bool(rng.random() < r.guest_duplicates)
            cust = new_customer(p, guest, t)
            if not guest:
                xcust[p] = cust
            if rng.random() < 0.7:
                new_order(p, cust, t + 300)
        # 2. orders of existing customers (some as guest checkout: a new duplicate customer)
        reg = np.flatnonzero(self._cust_row_of_person >= 0)
        for p in rng.choice(reg, min(len(reg), k_of(0.004, 3)), replace=False).tolist() if len(reg) else []:
            t = when()
            if rng.random() < r.guest_duplicates:
                cust = new_customer(p, True, t)
            else:
                row = int(self._cust_row_of_person[p])
                cust = self._current("shop/customers", row)
                if C["state"][row] == 1 and row not in self._over["shop/customers"]:
                    continue
                cust = dict(cust, updated_at=shop_ts(np.array([t]))[0])
                put("shop/customers", row, cust)
            new_order(p, cust, t + 60)
        # 3. customer updates: moves, e-mail changes, consent changes
        nc = len(C["id"])
        for row in rng.choice(nc, min(nc, k_of(0.003, 3)), replace=False).tolist():
            t = when()
            rec = dict(self._current("shop/customers", row))
            what = int(rng.integers(0, 3))
            if what == 0:
                city = int(rng.choice(len(CITY_NAME), p=CITY_P))
                rec["default_address"] = {"address1": f"{STREETS[int(rng.integers(0, len(STREETS)))]} {int(rng.integers(1, 120))}",
                                          "address2": None, "zip": CITY_ZIP[city], "city": CITY_NAME[city],
                                          "country_code": "DE", "company": None}
            elif what == 1 and rec["email"]:
                rec["email"] = email_other_mailbox(rec["email"].strip().lower(), int(rng.integers(0, 1000)))
            else:
                subscribed = rec["email_marketing_consent"]["state"] == "subscribed"
                rec["email_marketing_consent"] = {
                    "state": "unsubscribed" if subscribed else "subscribed",
                    "opt_in_level": None if subscribed else "confirmed_opt_in",
                    "consent_updated_at": shop_ts(np.array([t]))[0]}
            rec["updated_at"] = shop_ts(np.array([t]))[0]
            put("shop/customers", row, rec)
        # 4. refunds / returns of recent orders: shop refund, ERP returned quantities, credit note
        L, EL = self.T["shop/orders#lines"], self.T["erp/sale.order.line"]
        recent = np.flatnonzero((O["t"] > t_lo - 30 * DAY) & (O["cancel_t"] < 0) & (O["refund_t"] < 0) & ~O["test"])
        recent = np.array([x for x in recent.tolist() if x not in self._over["shop/orders"]], dtype=np.int64)
        for orow in (rng.choice(recent, min(len(recent), k_of(0.0005, 2)), replace=False).tolist() if len(recent) else []):
            t = when()
            rec = dict(self._current("shop/orders", orow))
            la, lb = int(L["starts"][orow]), int(L["starts"][orow + 1])
            j = la + int(rng.integers(0, lb - la))
            q = int(L["qty"][j])
            amount = q * int(L["dprice"][j])
            rid = self._next_id("shop/orders#refund") if "shop/orders#refund" in self._ids else None
            if rid is None:
                self._ids["shop/orders#refund"] = int(O["refund_id"].max(initial=800_000)) + 1
                rid = self._ids["shop/orders#refund"]
            rec["refunds"] = list(rec["refunds"]) + [{
                "id": rid, "created_at": shop_ts(np.array([t]))[0],
                "refund_line_items": [{"line_item_id": int(L["id"][j]), "quantity": q, "subtotal": f"{amount / 100:.2f}"}],
                "transactions": [{"amount": f"{amount / 100:.2f}", "kind": "refund", "status": "success"}]}]
            rec["financial_status"] = "refunded" if lb - la == 1 else "partially_refunded"
            rec["updated_at"] = shop_ts(np.array([t]))[0]
            put("shop/orders", orow, rec)
            erow = int(O["erow"][orow])
            if erow >= 0:
                lrow = int(np.searchsorted(EL["order"], erow)) + (j - la)
                lrec = dict(self._current("erp/sale.order.line", lrow))
                lrec["x_qty_returned"] = float(q)
                lrec["qty_delivered"] = lrec["product_uom_qty"]
                lrec["write_date"] = erp_ts(np.array([t + 600]))[0]
                put("erp/sale.order.line", lrow, lrec)
                new_invoice(t + 3600, amount, f"Gutschrift zu Bestellung #{int(O['number'][orow])}",
                            int(O["p"][orow]), None, 0, credit=True)
        # 5. ERP orders move from "sale" to "done"
        cand = np.flatnonzero((E["state"] == 1) & (E["t"] < now - 10 * DAY))
        cand = np.array([x for x in cand.tolist() if x not in self._over["erp/sale.order"]], dtype=np.int64)
        for erow in cand[: k_of(0.003, 3)].tolist():
            t = when()
            rec = dict(self._current("erp/sale.order", erow), state="done", write_date=erp_ts(np.array([t]))[0])
            put("erp/sale.order", erow, rec)
            a, b = np.searchsorted(EL["order"], [erow, erow + 1])
            for lrow in range(int(a), int(b)):
                lrec = dict(self._current("erp/sale.order.line", lrow))
                lrec["qty_delivered"] = lrec["product_uom_qty"]
                lrec["write_date"] = erp_ts(np.array([t]))[0]
                put("erp/sale.order.line", lrow, lrec)
        # 6. vouchers: payments arrive, open ones fall overdue, dunning goes up
        V = self.T["accounting/vouchers"]
        openv = np.flatnonzero((V["status"] <= 1) & (V["type"] == 0))
        openv = np.array([x for x in openv.tolist() if x not in self._over["accounting/vouchers"]], dtype=np.int64)
        for vrow in (rng.choice(openv, min(len(openv), k_of(0.002, 3)), replace=False).tolist() if len(openv) else []):
            t = when()
            rec = dict(self._current("accounting/vouchers", vrow))
            if rng.random() < 0.6 or rec["dunningLevel"] >= 3:
                rec.update(voucherStatus="paid", openAmount=0.0)
                put("accounting/payments", None, {
                    "id": self._uuid1(rng), "voucherId": rec["id"], "paidDate": acc_ts(np.array([t * 1000]))[0],
                    "amount": rec["totalAmount"], "paymentMethod": "bank_transfer",
                    "updatedDate": acc_ts(np.array([(t + 60) * 1000]))[0]})
            else:
                rec.update(voucherStatus="overdue", dunningLevel=min(3, rec["dunningLevel"] + 1))
            rec["updatedDate"] = acc_ts(np.array([t * 1000 + 3]))[0]
            put("accounting/vouchers", vrow, rec)
        # 7. helpdesk: new tickets, progress on open ones, survey responses
        U, Tk = self.T["helpdesk/users"], self.T["helpdesk/tickets"]
        nu = len(U["id"])
        next_ticket = lambda: self._next_id("helpdesk/tickets")  # noqa: E731
        for urow in (rng.choice(nu, min(nu, k_of(0.002, 3)), replace=False).tolist() if nu else []):
            t = when()
            subj = int(rng.integers(0, len(SUBJECTS)))
            ts = hd_ts(np.array([t]))[0]
            put("helpdesk/tickets", None, {
                "id": next_ticket(), "requester_id": int(U["id"][urow]), "subject": SUBJECTS[subj],
                "via": {"channel": CHANNELS[int(rng.choice(4, p=[0.35, 0.35, 0.15, 0.15]))]}, "status": "new",
                "created_at": ts, "updated_at": ts, "solved_at": None, "custom_fields": [{"id": 360001, "value": None}],
                "satisfaction_rating": {"score": "unoffered"}, "tags": [SUBJECT_TAG[subj]]})
        opent = np.flatnonzero(Tk["status"] <= 3)
        opent = np.array([x for x in opent.tolist() if x not in self._over["helpdesk/tickets"]], dtype=np.int64)
        for trow in (rng.choice(opent, min(len(opent), k_of(0.002, 3)), replace=False).tolist() if len(opent) else []):
            t = when()
            rec = dict(self._current("helpdesk/tickets", trow))
            ts = hd_ts(np.array([t]))[0]
            if rec["status"] == "solved":
                rec["status"] = "closed"
            else:
                rec.update(status="solved", solved_at=ts)
                score = RATINGS[int(rng.choice(4, p=[0.2, 0.3, 0.35, 0.15]))]
                rec["satisfaction_rating"] = {"score": score}
                if rng.random() < 0.5:
                    sid = self._next_id("helpdesk/survey_responses")
                    put("helpdesk/survey_responses", None, {
                        "id": sid, "type": "csat", "score": int(rng.integers(1, 6)), "ticket_id": rec["id"],
                        "user_id": rec["requester_id"], "comment": None, "created_at": hd_ts(np.array([t + 60]))[0],
                        "updated_at": hd_ts(np.array([t + 60]))[0]})
            rec["updated_at"] = ts
            put("helpdesk/tickets", trow, rec)
        if nu:
            urow = int(rng.integers(0, nu))
            t = when()
            put("helpdesk/survey_responses", None, {
                "id": self._next_id("helpdesk/survey_responses"), "type": "nps", "score": int(rng.integers(0, 11)),
                "ticket_id": None, "user_id": int(U["id"][urow]), "comment": None,
                "created_at": hd_ts(np.array([t]))[0], "updated_at": hd_ts(np.array([t]))[0]})
        # a new helpdesk user (a caller not seen before) for one new person
        for p in new_p[:1].tolist():
            t = when()
            idn = self._identity(np.array([p]), rng, "helpdesk")
            uid = self._next_id("helpdesk/users", int(rng.integers(1, 13)))
            ts = hd_ts(np.array([t]))[0]
            put("helpdesk/users", None, {"id": uid, "name": f"{idn['first'][0]} {idn['last'][0]}", "email": idn["email"][0],
                                         "phone": idn["mobile"][0] or idn["land"][0], "external_id": None,
                                         "role": "end-user", "active": True, "created_at": ts, "updated_at": ts})
            self._extra_truth.append(("helpdesk", str(uid), _person_ids(np.array([p]))[0]))
            put("helpdesk/tickets", None, {
                "id": next_ticket(), "requester_id": uid, "subject": "Frage zur Bestellung", "via": {"channel": "voice"},
                "status": "open", "created_at": ts, "updated_at": ts, "solved_at": None,
                "custom_fields": [{"id": 360001, "value": None}], "satisfaction_rating": {"score": "unoffered"},
                "tags": ["bestellung", "anruf"]})
        # 8. soft deletes, one of each kind
        if r.soft_deletes > 0:
            for key, field, value, stamp in (("shop/customers", "state", "disabled", "updated_at"),
                                             ("erp/res.partner", "active", False, "write_date"),
                                             ("helpdesk/tickets", "status", "deleted", "updated_at"),
                                             ("helpdesk/users", "active", False, "updated_at"),
                                             ("accounting/contacts", "archived", True, None)):
                nb = self._base_count(key)
                if not nb:
                    continue
                row = int(rng.integers(0, nb))
                t = when()
                rec = dict(self._current(key, row))
                rec[field] = value
                if stamp:
                    rec[stamp] = {"shop": shop_ts, "erp": erp_ts, "helpdesk": hd_ts}[key.split("/")[0]](np.array([t]))[0]
                else:
                    rec["version"] += 1
                put(key, row, rec)
        # 9. accounting contact edits (version + 1)
        A = self.T["accounting/contacts"]
        na = len(A["hi"])
        for row in (rng.choice(na, min(na, k_of(0.0005, 2)), replace=False).tolist() if na else []):
            rec = dict(self._current("accounting/contacts", row))
            rec["version"] += 1
            if rec.get("emailAddresses", {}).get("private"):
                rec["emailAddresses"] = {"private": [email_other_mailbox(rec["emailAddresses"]["private"][0].strip().lower(),
                                                                         int(rng.integers(0, 1000)))]}
            else:
                rec["phoneNumbers"] = dict(rec["phoneNumbers"], mobile=[phone_format(
                    MOBILE_PRE[int(rng.integers(0, len(MOBILE_PRE)))], str(int(rng.integers(1_000_000, 99_999_999))), 0)])
            put("accounting/contacts", row, rec)
        # 10. abandoned checkouts
        shop_p = np.flatnonzero(self._cust_row_of_person >= 0)
        for p in (rng.choice(shop_p, min(len(shop_p), k_of(0.001, 2)), replace=False).tolist() if len(shop_p) else []):
            t = when()
            a = int(rng.choice(self._n_sellable, p=self._prod_p))
            cust = self._current("shop/customers", int(self._cust_row_of_person[p]))
            tot = prices[a] + (SHIPPING_CENTS if prices[a] < FREE_SHIPPING_FROM else 0)
            cid = self._next_id("shop/checkouts", int(rng.integers(1, 11)))
            ts = shop_ts(np.array([t, t + 600]))
            put("shop/checkouts", None, {
                "id": cid, "token": f"{int(rng.integers(0, 2**63 - 1)):016x}{int(rng.integers(0, 2**63 - 1)):016x}",
                "email": cust["email"], "customer": {"id": cust["id"]}, "created_at": ts[0], "updated_at": ts[1],
                "completed_at": None, "total_price": f"{tot / 100:.2f}",
                "line_items": [{"id": 900_000_000 + cid % 100_000_000, "sku": codes[a], "title": names[a], "quantity": 1,
                                "price": f"{prices[a] / 100:.2f}", "product_id": pids[a]}]})
        # 11. a product price change
        prow = int(rng.integers(0, self._n_sellable))
        rec = dict(self._current("erp/product.product", prow))
        rec["list_price"] = round(rec["list_price"] + 1.0, 2)
        rec["write_date"] = erp_ts(np.array([when()]))[0]
        put("erp/product.product", prow, rec)
        return {k: list(v.values()) for k, v in ch.items()}


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


def generate_world(persons: int, seed: int, today: dt.date | None = None, dirt: DirtRates | None = None) -> GeneratedWorld:
    """Build a deterministic world of ``persons`` people with two years of history ending at `today` 04:00 UTC
    (default: the last day whose 04:00 UTC has passed)."""
    return GeneratedWorld(persons, seed, today, dirt)
