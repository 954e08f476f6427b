"""Deterministic world generator for the four demo source systems (shop, ERP, helpdesk, accounting).

The world is built column-wise with numpy (one table of arrays per resource); records are rendered
to the exact API shapes of the contract (../shared/SOURCE_APIS.md) only when iterated, batch by
batch. ``advance_day`` simulates one more day of activity on top of the generated history; its
changes are kept as full records beside the columnar base.

This module holds the persons, the clock and the read interface; each system's tables, record
shapes and daily events live in its own module (`shop`, `erp`, `helpdesk`, `accounting`), the
shared constants and helpers in `core`. All times inside are int64 seconds since the Unix epoch
(UTC); accounting times are milliseconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator

import numpy as np
import pandas as pd

from . import names as N
from .accounting import AccountingWorld
from .core import (  # noqa: F401 - ACCOUNTING_WINDOW, _cluster: imported from here by others
    ACCOUNTING_WINDOW, ADDR2, CITY_AREA, CITY_NAME, CITY_P, CITY_ZIP, CUSTOMER_KEYS, DAY, DOMAINS, DOMAIN_P,
    Day, DirtRates, FIRST_ALL, FIRST_ASCII, GATEWAYS, GATEWAY_P, HISTORY_DAYS, HNO, LAST_ALL, LAST_ASCII,
    LAST_P, MOBILE_PRE, N_FEMALE, RESOURCE_KEYS, STREETS, TRUTH_COLUMNS, _arr, _cluster, _no_gc, _person_ids,
    _rng, _segments, _uuid,
)
from .dirt import (N_PHONE_STYLES, email_ascii, email_case_variant, email_other_mailbox,
                   email_whitespace_variant, phone_format, street_variant, transliterate, typo)
from .erp import ErpWorld
from .helpdesk import HelpdeskWorld
from .shop import ShopWorld
from .timefmt import erp_ts, hd_ts, shop_ts


def _email_addresses(rng, fi: np.ndarray, li: np.ndarray, birth: np.ndarray) -> list[str]:
    """A private e-mail address per person, from first and last name (pattern, number, provider drawn)."""
    n = len(fi)
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
    return emails


class GeneratedWorld(ShopWorld, ErpWorld, HelpdeskWorld, AccountingWorld):
    """A generated world: read interface shared with ``replay.ReplayWorld`` plus ``advance_day``."""

    # The resources it holds: its helpdesk account runs Zendesk's legacy CSAT, so no CSAT survey responses.
    resource_keys = RESOURCE_KEYS

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
        # Ids deleted outright (the shop's customers and orders): no longer served nor iterated.
        self._deleted: dict[str, set] = {k: set() for k in RESOURCE_KEYS}
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
        emails = _email_addresses(rng, fi, li, birth)
        company_name = np.full(n, None, dtype=object)
        ci = np.flatnonzero(company)
        words = rng.integers(0, len(N.COMPANY_WORDS), n)
        forms = rng.integers(0, len(N.COMPANY_FORMS), n)
        for i in ci.tolist():
            w = N.COMPANY_WORDS[words[i]]
            company_name[i] = f"{LAST_ALL[li[i]]} {w} {N.COMPANY_FORMS[forms[i]]}"
            emails[i] = f"info@{LAST_ASCII[li[i]]}-{email_ascii(w)}.de"
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


    # ------------------------------------------------------------------ rendering
    def _render(self, key: str, a: int, b: int) -> list[dict]:
        return getattr(self, "_r_" + key.split("/")[1].replace(".", "_"))(a, b)


    # ------------------------------------------------------------------ public read interface
    def _base_count(self, key: str) -> int:
        return len(self.T[key]["id"]) if "id" in self.T[key] else len(self.T[key]["hi"])

    def count(self, key: str) -> int:
        if key not in RESOURCE_KEYS:
            raise KeyError(key)
        return self._base_count(key) + len(self._extra[key]) - len(self._deleted[key])

    def deleted_ids(self) -> dict[str, set]:
        """Per resource key the ids deleted outright so far (a server removes them from what it serves)."""
        return {key: set(ids) for key, ids in self._deleted.items() if ids}

    def delete_record(self, key: str, record_id) -> None:
        """Delete a record outright, as the shop deletes customers and orders. Shopify deletes only
        customers who have placed no orders (docs/source_protocol.md A1): others raise ValueError."""
        if key == "shop/customers" and record_id in self._shop_customer_ids_with_orders():
            raise ValueError(f"shop customer {record_id} has orders; Shopify deletes only customers without orders")
        self._deleted[key].add(record_id)

    def iter_record_batches(self, key: str, batch_size: int = 50_000) -> Iterator[list[dict]]:
        if key not in RESOURCE_KEYS:
            raise KeyError(key)
        n = self._base_count(key)
        over = self._over[key]
        deleted = self._deleted[key]
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            with _no_gc():
                recs = self._render(key, a, b)
            if over:
                for row, rec in over.items():
                    if a <= row < b:
                        recs[row - a] = rec
            yield [rec for rec in recs if rec.get("id") not in deleted] if deleted else recs
        extra = [rec for rec in self._extra[key].values() if rec.get("id") not in deleted]
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
        df = pd.concat(parts, ignore_index=True).astype({c: str for c in TRUTH_COLUMNS})
        gone = {(CUSTOMER_KEYS[key], str(i)) for key, ids in self._deleted.items() if key in CUSTOMER_KEYS for i in ids}
        if gone:  # a record deleted outright is no record of its person any more
            keep = [pair not in gone for pair in zip(df["source_system"], df["source_record_id"])]
            df = df[keep].reset_index(drop=True)
        return df


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
        day = Day(self, _rng(self.seed, "day", self.day_index), t_lo=self.now_s)
        self.now_s += DAY
        self.now = self.now + dt.timedelta(days=1)
        # The steps draw from one random stream in this order: reordering them changes the world.
        self._day_history_payments(day)
        new_p = self._day_new_persons(day)
        self._day_repeat_orders(day)
        self._day_customer_updates(day)
        self._day_returns(day)
        self._day_orders_done(day)
        self._day_voucher_events(day)
        self._day_new_tickets(day)
        self._day_ticket_progress(day)
        self._day_nps_response(day)
        self._day_rating_change(day)  # its own random stream
        self._day_new_caller(day, new_p)
        self._day_soft_deletes(day)
        self._day_contact_edits(day)
        self._day_abandoned_checkouts(day)
        self._day_price_change(day)
        self._day_shop_order_deletion(day)  # last: the steps before draw as they did before it existed
        return day.records()

    def _day_new_persons(self, day: Day) -> np.ndarray:
        """New persons: registration (or guest checkout) and a first order; returns their indices."""
        rng = day.rng
        r = self.dirt
        k_new = day.k_of(0.001, 2)
        Q = self._make_persons(rng, k_new, len(self.P["fi"]), day.t_lo, day.now - 60)
        Q["email"] = _arr(e.replace("@", f".{self.day_index}{i}@", 1) for i, e in enumerate(Q["email"]))
        Q["root"] = np.arange(len(self.P["fi"]), len(self.P["fi"]) + k_new)
        new_p = self._append_persons(Q)
        for p in new_p.tolist():
            t = day.when()
            guest = bool(rng.random() < r.guest_duplicates)
            cust = self._day_new_customer(day, p, guest, t)
            if not guest:
                day.xcust[p] = cust
            if rng.random() < 0.7:
                self._day_new_order(day, p, cust, t + 300)
        return new_p

    def _day_soft_deletes(self, day: Day) -> None:
        """Deletions, one of each kind: soft ones as each system marks them, the shop's outright."""
        rng = day.rng
        r = self.dirt
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
                t = day.when()
                if key == "shop/customers":  # Shopify deletes a customer outright (`disabled` is no account)
                    self._day_shop_customer_deletion(row)
                    continue
                rec = dict(self._current(key, row))
                rec[field] = value
                if stamp:
                    rec[stamp] = {"shop": shop_ts, "erp": erp_ts, "helpdesk": hd_ts}[key.split("/")[0]](np.array([t]))[0]
                else:
                    rec["version"] += 1
                day.put(key, row, rec)



def generate_world(persons: int, seed: int, today: dt.date | None = None, dirt: DirtRates | None = None) -> GeneratedWorld:
    """Build a deterministic world of ``persons`` people with two years of history ending at `today` 04:00 UTC
    (default: the last day whose 04:00 UTC has passed)."""
    return GeneratedWorld(persons, seed, today, dirt)
