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
from .core import (  # noqa: F401 - names other modules import from here
    ACCOUNTING_WINDOW, ADDR2, CITY_AREA, CITY_NAME, CITY_P, CITY_ZIP, CUSTOMER_KEYS, DAY, DOMAIN_P, DOMAINS,
    FIRST_ALL, FIRST_ASCII, GATEWAY_P, GATEWAYS, HISTORY_DAYS, HNO, LAST_ALL, LAST_ASCII, LAST_P, MOBILE_PRE,
    N_FEMALE, RESOURCE_KEYS, STREETS, TRUTH_COLUMNS, DirtRates, _arr, _cluster, _no_gc, _person_ids, _rng,
    _segments, _uuid, HOUR, PAYMENT_METHODS, FREE_SHIPPING_FROM, SHIPPING_CENTS, TEAMS, GATEWAY_METHOD, SUBJECTS,
    CHANNELS, SUBJECT_TAG, RATINGS,
)
from .dirt import (N_PHONE_STYLES, email_ascii, email_case_variant, email_other_mailbox,
                   email_whitespace_variant, phone_format, street_variant, transliterate, typo)
from .erp import ErpWorld
from .helpdesk import HelpdeskWorld
from .shop import ShopWorld
from .timefmt import acc_ts, berlin_offset, day_str_nullable, erp_ts, hd_ts, shop_ts


# ----------------------------------------------------------------------------------------- the world

class GeneratedWorld(ShopWorld, ErpWorld, HelpdeskWorld, AccountingWorld):
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


def generate_world(persons: int, seed: int, today: dt.date | None = None, dirt: DirtRates | None = None) -> GeneratedWorld:
    """Build a deterministic world of ``persons`` people with two years of history ending at `today` 04:00 UTC
    (default: the last day whose 04:00 UTC has passed)."""
    return GeneratedWorld(persons, seed, today, dirt)
