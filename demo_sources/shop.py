"""Shopify-like shop: customers, orders (with line items and refunds) and abandoned checkouts.

The shop part of the demo sources: `ShopWorld` builds its tables from the persons (and
the other systems' tables), renders its rows in the API's record shapes and simulates its daily
events; `ShopApi` answers its HTTP endpoints from the records the server stores.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

import numpy as np
import orjson

from .api import BERLIN, ApiError, Response, _b64, _int_param, _scan, _unb64
from .core import (CITY_NAME, CITY_P, CITY_ZIP, CONSENT, DAY, Day, FREE_SHIPPING_FROM, GATEWAYS,
                   GATEWAY_METHOD, GATEWAY_P, HOUR, PAYMENT_METHODS, SHIPPING_CENTS, SHOP_STATES, STREETS,
                   _cluster, _money, _net, _person_ids, _sort_table)
from .dirt import email_other_mailbox
from .shop_graphql import NODES
from .store import to_epoch_us
from .timefmt import day_str_nullable, erp_ts, shop_ts


class ShopWorld:
    """The shop tables and records of a `world.GeneratedWorld` (a mixin of it)."""

    def _build_shop(self, rng, has_shop: np.ndarray, n_shop: np.ndarray) -> None:
        L, O, no = self._build_shop_orders(rng, n_shop)
        self._build_shop_returns_and_payments(rng, O, no, L)
        cust_row_of_person = self._build_shop_customers(rng, has_shop, n_shop, O, no, L)
        self._build_shop_checkouts(rng, has_shop, cust_row_of_person)

    def _build_shop_orders(self, rng, n_shop):
        """Shop orders (one row per order, sorted by time) and their goods lines."""
        P, r, now, n = self.P, self.dirt, self.now_s, self.persons
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
        return L, O, no

    def _build_shop_returns_and_payments(self, rng, O, no, L):
        """Returns (refunds) and payments of the shop orders, and their change markers."""
        P, r, now = self.P, self.dirt, self.now_s
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

    def _build_shop_customers(self, rng, has_shop, n_shop, O, no, L):
        """Shop customers: registered accounts and one guest customer per guest checkout."""
        P, r, now, n = self.P, self.dirt, self.now_s, self.persons
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
        return cust_row_of_person

    def _build_shop_checkouts(self, rng, has_shop, cust_row_of_person):
        """Abandoned checkouts."""
        P, now, n = self.P, self.now_s, self.persons
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

    # ------------------------------------------------------------------ one more simulated day
    def _day_history_payments(self, day: Day) -> None:
        """Orders of the history whose payment arrives on this day turn paid: a change the shop reports
        with a new updated_at, never silently."""
        O0 = self.T["shop/orders"]
        for row in np.flatnonzero((O0["pay_t"] > day.t_lo) & (O0["pay_t"] <= day.now)).tolist():
            if row in self._over["shop/orders"]:
                continue
            O0["upd"][row] = max(int(O0["upd"][row]), int(O0["pay_t"][row]))
            day.put("shop/orders", row, self._render("shop/orders", row, row + 1)[0])

    def _shop_customer_ids_with_orders(self) -> set:
        O, C = self.T["shop/orders"], self.T["shop/customers"]
        ids = set(C["id"][O["crow"][O["crow"] >= 0]].tolist())
        ids.update(rec["customer"]["id"] for rec in self._extra["shop/orders"].values() if rec.get("customer"))
        return ids

    def _day_shop_customer_deletion(self, row: int) -> None:
        """Delete the first customer from `row` on who has placed no orders (Shopify deletes no other)."""
        ids = self.T["shop/customers"]["id"]
        taken = self._shop_customer_ids_with_orders() | self._deleted["shop/customers"]
        free = np.flatnonzero(~np.isin(ids, np.fromiter(taken, np.int64, len(taken))))
        if len(free):
            at = int(np.searchsorted(free, row))
            self.delete_record("shop/customers", int(ids[free[at % len(free)]]))

    def _day_shop_order_deletion(self, day: Day) -> None:
        """Delete one test or cancelled order: the orders a shop may delete rather than cancel
        (https://help.shopify.com/manual/orders/cancel-delete-order#delete-an-order)."""
        if self.dirt.soft_deletes <= 0:
            return
        O = self.T["shop/orders"]
        deleted = self._deleted["shop/orders"]
        rows = [r for r in np.flatnonzero(O["test"] | (O["cancel_t"] >= 0)).tolist() if int(O["id"][r]) not in deleted]
        if rows:
            self.delete_record("shop/orders", int(O["id"][int(day.rng.choice(rows))]))

    def _day_new_customer(self, day: Day, p: int, guest: bool, t: int) -> dict:
        """A new shop customer of person `p` (a registration, or a guest checkout when `guest`)."""
        rng = day.rng
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
        day.put("shop/customers", None, rec)
        self._extra_truth.append(("shop", str(cid), _person_ids(np.array([p]))[0]))
        return rec

    def _day_new_order(self, day: Day, p: int, cust: dict, t: int) -> None:
        """A new shop order of person `p` as `cust`, its ERP mirror and (mostly) its invoice."""
        rng = day.rng
        O = self.T["shop/orders"]
        k = 1 + int(rng.binomial(3, 0.22))
        prods = rng.choice(self._n_sellable, k, p=self._prod_p).tolist()
        qtys = (1 + (rng.random(k) < 0.18)).tolist()
        gw = int(self.P["gw"][p]) if rng.random() < 0.7 else int(rng.choice(len(GATEWAYS), p=GATEWAY_P))
        goods = sum(day.prices[a] * q for a, q in zip(prods, qtys))
        ship = SHIPPING_CENTS if goods < FREE_SHIPPING_FROM else 0
        nets = [int(np.floor(day.prices[a] * q / (1 + day.vats[a]) + 0.5)) for a, q in zip(prods, qtys)]
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
            items.append({"id": lid, "sku": day.codes[a], "title": day.names[a], "quantity": q,
                          "price": f"{day.prices[a] / 100:.2f}", "product_id": day.pids[a]})
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
        day.put("shop/orders", None, rec)
        et, ename = self._day_mirror_order(day, p, t, num, prods, qtys, nets, ship, ship_net, total, untaxed)
        if rng.random() < 0.8:
            remark = f"Bestellung #{num}" if rng.random() < 0.6 else f"Auftrag {ename}"
            self._day_new_invoice(day, et + 600, total, remark, p, paid_t + 600 if paid_t else None,
                                  PAYMENT_METHODS.index(GATEWAY_METHOD[gw]))

    def _day_repeat_orders(self, day: Day) -> None:
        """Orders of existing customers (some as guest checkout: a new duplicate customer)."""
        rng = day.rng
        r = self.dirt
        C = self.T["shop/customers"]
        reg = np.flatnonzero(self._cust_row_of_person >= 0)
        for p in rng.choice(reg, min(len(reg), day.k_of(0.004, 3)), replace=False).tolist() if len(reg) else []:
            t = day.when()
            if rng.random() < r.guest_duplicates:
                cust = self._day_new_customer(day, p, True, t)
            else:
                row = int(self._cust_row_of_person[p])
                cust = self._current("shop/customers", row)
                if C["state"][row] == 1 and row not in self._over["shop/customers"]:
                    continue
                if cust["id"] in self._deleted["shop/customers"]:
                    continue
                cust = dict(cust, updated_at=shop_ts(np.array([t]))[0])
                day.put("shop/customers", row, cust)
            self._day_new_order(day, p, cust, t + 60)

    def _day_customer_updates(self, day: Day) -> None:
        """Customer updates: moves, e-mail changes, consent changes."""
        rng = day.rng
        C = self.T["shop/customers"]
        nc = len(C["id"])
        for row in rng.choice(nc, min(nc, day.k_of(0.003, 3)), replace=False).tolist():
            t = day.when()
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
            if rec["id"] in self._deleted["shop/customers"]:
                continue  # deleted: nothing left to update
            day.put("shop/customers", row, rec)

    def _day_returns(self, day: Day) -> None:
        """Refunds / returns of recent orders: shop refund, ERP returned quantities and credit note, accounting
        credit note."""
        rng = day.rng
        O = self.T["shop/orders"]
        L, EL = self.T["shop/orders#lines"], self.T["erp/sale.order.line"]
        recent = np.flatnonzero((O["t"] > day.t_lo - 30 * DAY) & (O["cancel_t"] < 0) & (O["refund_t"] < 0) & ~O["test"])
        recent = np.array([x for x in recent.tolist() if x not in self._over["shop/orders"]], dtype=np.int64)
        for orow in (rng.choice(recent, min(len(recent), day.k_of(0.0005, 2)), replace=False).tolist() if len(recent) else []):
            t = day.when()
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
            day.put("shop/orders", orow, rec)
            erow = int(O["erow"][orow])
            if erow >= 0:
                lrow = int(np.searchsorted(EL["order"], erow)) + (j - la)
                lrec = dict(self._current("erp/sale.order.line", lrow))
                lrec["x_qty_returned"] = float(q)
                lrec["qty_delivered"] = lrec["product_uom_qty"]
                lrec["write_date"] = erp_ts(np.array([t + 600]))[0]
                day.put("erp/sale.order.line", lrow, lrec)
                self._day_credit_note(day, erow, lrow, q, t + 600)
                self._day_new_invoice(day, t + 3600, amount, f"Gutschrift zu Bestellung #{int(O['number'][orow])}",
                            int(O["p"][orow]), None, 0, credit=True)

    def _day_abandoned_checkouts(self, day: Day) -> None:
        """Abandoned checkouts."""
        rng = day.rng
        shop_p = np.flatnonzero(self._cust_row_of_person >= 0)
        for p in (rng.choice(shop_p, min(len(shop_p), day.k_of(0.001, 2)), replace=False).tolist() if len(shop_p) else []):
            t = day.when()
            a = int(rng.choice(self._n_sellable, p=self._prod_p))
            cust = self._current("shop/customers", int(self._cust_row_of_person[p]))
            if cust["id"] in self._deleted["shop/customers"]:
                continue
            tot = day.prices[a] + (SHIPPING_CENTS if day.prices[a] < FREE_SHIPPING_FROM else 0)
            cid = self._next_id("shop/checkouts", int(rng.integers(1, 11)))
            ts = shop_ts(np.array([t, t + 600]))
            day.put("shop/checkouts", None, {
                "id": cid, "token": f"{int(rng.integers(0, 2**63 - 1)):016x}{int(rng.integers(0, 2**63 - 1)):016x}",
                "email": cust["email"], "customer": {"id": cust["id"]}, "created_at": ts[0], "updated_at": ts[1],
                "completed_at": None, "total_price": f"{tot / 100:.2f}",
                "line_items": [{"id": 900_000_000 + cid % 100_000_000, "sku": day.codes[a], "title": day.names[a], "quantity": 1,
                                "price": f"{day.prices[a] / 100:.2f}", "product_id": day.pids[a]}]})


# --------------------------------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------------------------------
SHOP_MAX_LIMIT = 250
SHOP_DEFAULT_LIMIT = 50
_SHOP_PATH = re.compile(r"admin/api/(\d{4}-\d{2})/(customers|orders|checkouts)\.json")
GRAPHQL_PATH = re.compile(r"admin/api/(\d{4}-\d{2}|unstable)/graphql\.json")
# root connection -> stored resource
GRAPHQL_ROOTS = {"customers": "customers", "orders": "orders", "abandonedCheckouts": "checkouts"}
GRAPHQL_MAX_FIRST = 250
# The calculated query cost, approximated per node of each connection (Shopify adds up the selected
# objects and connections; the demo's weights are of the connector's selections).
GRAPHQL_NODE_COST = {"customers": 4, "orders": 12, "abandonedCheckouts": 4}
GRAPHQL_MAX_AVAILABLE = 2000.0
GRAPHQL_RESTORE_RATE = 100.0  # points a second, a Standard plan
_ROOT_RE = re.compile(r"\b(" + "|".join(GRAPHQL_ROOTS) + r")\s*\(([^)]*)\)")
_ARG_RE = re.compile(r'(\w+)\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*"|-?\d+|\w+)')
_FILTER_RE = re.compile(r"^\s*updated_at\s*:\s*(>=|<=|>|<)\s*'?\"?([^'\"]+?)'?\"?\s*$")
_SHOP_STATUSES = ("open", "closed", "cancelled", "any")
_ID_ONLY = re.compile(r"nodes\s*\{\s*id\s*\}")
_BULK_RESULT_PATH = re.compile(r"bulk-results/(\d+)\.jsonl")


class ShopApi:
    """The shop's Admin REST API: customers, orders and checkouts, paged by `page_info` cursors.

    A mixin of `server.SourceApp`, which routes `/shop/...` requests here.
    """

    @staticmethod
    def _shop_param_error(name: str, message: str) -> ApiError:
        return ApiError(400, message, shop_errors={name: [message]})

    def shop(self, method: str, rest: str, params: dict, base: str, body: bytes = b"") -> Response:
        if GRAPHQL_PATH.fullmatch(rest):
            if method != "POST":
                raise ApiError(405, "Method Not Allowed")
            return self.shop_graphql(body, GRAPHQL_PATH.fullmatch(rest).group(1), base)
        if _BULK_RESULT_PATH.fullmatch(rest):
            if method != "GET":
                raise ApiError(405, "Method Not Allowed")
            return self.shop_bulk_result(rest, params)
        match = _SHOP_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "Not Found")
        if method != "GET":
            raise ApiError(405, "Method Not Allowed")
        version, resource = match.groups()
        view = self.stores["shop/" + resource].view()
        limit = _int_param(params, "limit", SHOP_DEFAULT_LIMIT, 1, SHOP_MAX_LIMIT, self._shop_param_error)
        if "page_info" in params:
            others = sorted(set(params) - {"page_info", "limit"})
            if others:
                raise self._shop_param_error(
                    "page_info", f"page_info can only be combined with limit, not with {', '.join(others)}"
                )
            cursor = _unb64(params["page_info"])
            if (not isinstance(cursor, dict) or cursor.get("r") != resource or not isinstance(cursor.get("m"), int)
                    or not isinstance(cursor.get("i"), int)):
                raise self._shop_param_error("page_info", "Invalid value.")
            low, high, status = cursor.get("min"), cursor.get("max"), cursor.get("st", "any")
            if not all(v is None or type(v) is int for v in (low, high)) or status not in _SHOP_STATUSES:
                raise self._shop_param_error("page_info", "Invalid value.")
            start = view.position_after(cursor["m"], cursor["i"])
        else:
            low = self._shop_time(params, "updated_at_min")
            high = self._shop_time(params, "updated_at_max")
            status = params.get("status", "open" if resource == "orders" else "any") or "any"
            if resource != "orders":
                status = "any"
            elif status not in _SHOP_STATUSES:
                raise self._shop_param_error("status", "is invalid")
            start = view.marker_left(low) if low is not None else 0
        end = view.marker_right(high) if high is not None else len(view)
        if status == "any" or "open" not in view.cols:
            positions = np.arange(start, max(start, min(end, start + limit + 1)))
        else:
            column = view.cols["open"]
            want_open = status == "open"
            positions = _scan(
                (lambda a, b: column[a:b]) if want_open else (lambda a, b: ~column[a:b]), start, end, limit + 1
            )
        more = len(positions) > limit
        positions = positions[:limit]
        records = view.encoded(positions)
        body = b"".join((b'{"', resource.encode(), b'":[', b",".join(records), b"]}"))
        headers = []
        if more:
            last = positions[-1]
            page_info = _b64({"r": resource, "m": int(view.marker[last]), "i": int(view.ids[last]),
                              "min": low, "max": high, "st": status})
            headers.append(("Link", f'<{base}/admin/api/{version}/{resource}.json?limit={limit}'
                                    f'&page_info={page_info}>; rel="next"'))
        return Response(200, body, "application/json; charset=utf-8", headers)

    def _shop_time(self, params: dict, name: str) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            moment = datetime.fromisoformat(raw.replace(" ", "+") if raw.count(" ") == 1 and "T" in raw else raw)
        except ValueError:
            raise self._shop_param_error(name, f"{raw!r} is not a valid ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BERLIN)
        return to_epoch_us(moment)


class ShopGraphqlApi:
    """The shop's GraphQL Admin API (`POST /admin/api/<version>/graphql.json`): the `customers`,
    `orders` and `abandonedCheckouts` connections with `first`/`after`, `sortKey: UPDATED_AT` and an
    `updated_at` search filter, `pageInfo { hasNextPage endCursor }`, and the calculated-cost leaky
    bucket reported in `extensions.cost` (THROTTLED when a query costs more than is available).

    The demo reads the root connection and its arguments, not the selection set: it answers with the
    whole node as `shop_graphql` converts it (the connector's selection). A mixin of `SourceApp`.
    """

    _shop_cost_lock = threading.Lock()

    def _shop_bucket(self) -> dict:
        bucket = getattr(self, "_shop_cost", None)
        if bucket is None:
            throttle = self.profile.throttle.get("shop")
            enabled = throttle is not None and throttle.enabled
            # flaky/hostile: the real bucket, refilled at a test-friendly rate (100 x the REST calls/s)
            rate = 100.0 * throttle.rate if enabled else GRAPHQL_RESTORE_RATE
            bucket = {"enabled": enabled, "rate": rate, "available": GRAPHQL_MAX_AVAILABLE, "stamp": time.monotonic()}
            self._shop_cost = bucket
        return bucket

    def _shop_cost_take(self, requested: float) -> tuple[bool, dict]:
        """Take `requested` points from the bucket (if enabled); (allowed, throttleStatus)."""
        with self._shop_cost_lock:
            b = self._shop_bucket()
            now = time.monotonic()
            b["available"] = min(GRAPHQL_MAX_AVAILABLE, b["available"] + (now - b["stamp"]) * b["rate"])
            b["stamp"] = now
            allowed = not b["enabled"] or requested <= b["available"]
            if allowed and b["enabled"]:
                b["available"] -= requested
            return allowed, {"maximumAvailable": GRAPHQL_MAX_AVAILABLE, "currentlyAvailable": int(b["available"]),
                             "restoreRate": b["rate"]}

    def _shop_cost_refund(self, points: float) -> None:
        with self._shop_cost_lock:
            b = self._shop_bucket()
            if b["enabled"]:
                b["available"] = min(GRAPHQL_MAX_AVAILABLE, b["available"] + points)

    def shop_throttled(self, requested: float | None = None) -> Response:
        """The THROTTLED answer: HTTP 200, an error with code THROTTLED, no data, the bucket's state."""
        with self._shop_cost_lock:
            b = self._shop_bucket()
            status = {"maximumAvailable": GRAPHQL_MAX_AVAILABLE, "currentlyAvailable": int(b["available"]),
                      "restoreRate": b["rate"]}
        requested = requested if requested is not None else GRAPHQL_MAX_AVAILABLE / 2
        return _graphql_response({"errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]},
            _cost(requested, None, status))

    def shop_graphql(self, body: bytes, version: str = "2026-10", base: str = "") -> Response:
        try:
            payload = orjson.loads(body or b"null")
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ApiError(400, "Bad Request", shop_errors={"query": "Required parameter missing or invalid"})
        variables = payload.get("variables") or {}
        variables = variables if isinstance(variables, dict) else {}
        try:
            bulk = self.shop_bulk_answer(payload["query"], variables, version, base)
            if bulk is not None:
                return bulk
            root, args = _graphql_root(payload["query"], variables)
            if args.get("sortKey") == "ID":
                return self._graphql_id_page(root, args, payload["query"])
            first, low, high, cursor = self._graphql_args(root, args)
        except _GraphqlError as exc:
            return _graphql_response({"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}, None)
        weight = GRAPHQL_NODE_COST[root]
        requested = 2 + first * weight
        allowed, status = self._shop_cost_take(requested)
        if not allowed:
            return self.shop_throttled(requested)
        resource = GRAPHQL_ROOTS[root]
        view = self.stores["shop/" + resource].view()
        start = view.position_after(cursor["m"], cursor["i"]) if cursor else (
            view.marker_left(low) if low is not None else 0)
        end = view.marker_right(high) if high is not None else len(view)
        positions = np.arange(start, max(start, min(end, start + first + 1)))
        more = len(positions) > first
        positions = positions[:first]
        convert = NODES[root]
        nodes = [convert(orjson.loads(bytes(raw))) for raw in view.encoded(positions)]
        end_cursor = None
        if len(positions):
            last = positions[-1]
            end_cursor = _b64({"r": resource, "m": int(view.marker[last]), "i": int(view.ids[last]),
                               "min": low, "max": high})
        actual = 2 + len(nodes) * weight
        self._shop_cost_refund(requested - actual)
        status = dict(status, currentlyAvailable=int(status["currentlyAvailable"] + requested - actual)) \
            if self._shop_bucket()["enabled"] else status
        data = {root: {"nodes": nodes, "pageInfo": {"hasNextPage": bool(more), "endCursor": end_cursor}}}
        return _graphql_response({"data": data}, _cost(requested, actual, status))

    def _graphql_args(self, root: str, args: dict):
        first = args.get("first")
        if first is None:
            raise _GraphqlError("you must provide one of first or last", "argumentLiteralsIncompatible")
        if isinstance(first, bool) or not isinstance(first, int) or first < 1 or first > GRAPHQL_MAX_FIRST:
            raise _GraphqlError(f"The maximum number of nodes that can be requested is {GRAPHQL_MAX_FIRST} "
                                f"(first: {first!r})", "argumentLiteralsIncompatible")
        sort_key = args.get("sortKey", "UPDATED_AT")
        if sort_key != "UPDATED_AT":
            raise _GraphqlError(f"the demo shop sorts {root} by UPDATED_AT only, not {sort_key}", "argumentNotAccepted")
        cursor = None
        if args.get("after") is not None:
            cursor = _unb64(str(args["after"]))
            if (not isinstance(cursor, dict) or cursor.get("r") != GRAPHQL_ROOTS[root]
                    or not isinstance(cursor.get("m"), int) or not isinstance(cursor.get("i"), int)):
                raise _GraphqlError("Invalid cursor for current pagination sort.", "invalidCursor")
            return first, cursor.get("min"), cursor.get("max"), cursor
        low, high = _search_bounds(root, args.get("query"))
        return first, low, high, None

    def _graphql_id_page(self, root: str, args: dict, query: str) -> Response:
        """A page of a connection in id order (`sortKey: ID`), as a full listing of the ids reads it."""
        first = args.get("first")
        if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= GRAPHQL_MAX_FIRST:
            raise _GraphqlError(f"first must be between 1 and {GRAPHQL_MAX_FIRST}", "argumentLiteralsIncompatible")
        if args.get("query"):
            raise _GraphqlError("the demo shop sorts by ID only without a search filter", "argumentNotAccepted")
        resource = GRAPHQL_ROOTS[root]
        view = self.stores["shop/" + resource].view().by_id()
        start = 0
        if args.get("after") is not None:
            cursor = _unb64(str(args["after"]))
            if not isinstance(cursor, dict) or cursor.get("r") != resource or cursor.get("s") != "ID" \
                    or not isinstance(cursor.get("i"), int):
                raise _GraphqlError("Invalid cursor for current pagination sort.", "invalidCursor")
            start = int(np.searchsorted(view.ids, cursor["i"], side="right"))
        positions = np.arange(start, min(len(view), start + first + 1))
        more = len(positions) > first
        positions = positions[:first]
        # an id-only selection costs a point a node; any other selection what the root's nodes cost
        weight = 1 if _ID_ONLY.search(query) else GRAPHQL_NODE_COST[root]
        requested = 2 + first * weight
        allowed, status = self._shop_cost_take(requested)
        if not allowed:
            return self.shop_throttled(requested)
        convert = NODES[root]
        nodes = [convert(orjson.loads(bytes(raw))) for raw in view.encoded(positions)]
        if weight == 1:
            nodes = [{"id": node["id"]} for node in nodes]
        end_cursor = _b64({"r": resource, "s": "ID", "i": int(view.ids[positions[-1]])}) if len(positions) else None
        actual = 2 + len(nodes) * weight
        self._shop_cost_refund(requested - actual)
        data = {root: {"nodes": nodes, "pageInfo": {"hasNextPage": bool(more), "endCursor": end_cursor}}}
        return _graphql_response({"data": data}, _cost(requested, actual, status))


def _search_bounds(root: str, search) -> tuple[int | None, int | None]:
    """(low, high) epoch microseconds of an `updated_at` search filter (None: open)."""
    low = high = None
    for term in (search or "").split(" AND ") if search else []:
        m = _FILTER_RE.match(term)
        if not m:
            raise _GraphqlError(f"the demo shop filters by updated_at only, not {term!r}", "argumentNotAccepted")
        op, raw = m.groups()
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise _GraphqlError(f"{raw!r} is not a valid ISO 8601 time", "argumentNotAccepted") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BERLIN)
        us = to_epoch_us(moment)
        if op in (">=", ">"):
            low = us + (1 if op == ">" else 0)
        else:
            high = us - (1 if op == "<" else 0)
    return low, high


class _GraphqlError(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


def _cost(requested: float, actual: float | None, status: dict) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}}


def _graphql_response(payload: dict, extensions: dict | None) -> Response:
    if extensions is not None:
        payload["extensions"] = extensions
    return Response(200, orjson.dumps(payload), "application/json; charset=utf-8")


def _graphql_value(token: str, variables: dict):
    if token.startswith("$"):
        return variables.get(token[1:])
    if token.startswith('"'):
        return orjson.loads(token)
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    return {"true": True, "false": False, "null": None}.get(token, token)


def _graphql_root(query: str, variables: dict) -> tuple[str, dict]:
    """The root connection of a query document and its arguments (variables resolved)."""
    m = _ROOT_RE.search(query)
    if not m:
        word = re.search(r"{\s*(\w+)", query)
        name = word.group(1) if word else "?"
        raise _GraphqlError(f"Field '{name}' doesn't exist on type 'QueryRoot'", "undefinedField")
    args = {name: _graphql_value(token, variables) for name, token in _ARG_RE.findall(m.group(2))}
    return m.group(1), args
