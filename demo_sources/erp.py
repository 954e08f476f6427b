"""Odoo-like ERP: products, partners (res.partner), sale orders and their lines, customer credit notes.

Returns are refunded with customer credit notes (`account.move`, `move_type` out_refund) whose product
lines (`account.move.line`) name the order in `invoice_origin` and the refunded order lines in
`sale_line_ids`, as when a credit note is made from the sale order after a return. The sale order lines
also keep the demo install's custom field `x_qty_returned` (what a customised install might hold).

The erp part of the demo sources: `ErpWorld` builds its tables from the persons (and
the other systems' tables), renders its rows in the API's record shapes and simulates its daily
events; `ErpApi` answers its HTTP endpoints from the records the server stores.
"""

from __future__ import annotations

import hmac
import math
import re
import xmlrpc.client

import numpy as np
import orjson

from .api import ApiError, Response, _scan
from .core import (DAY, Day, ERP_STATES, FREE_SHIPPING_FROM, GATEWAY_METHOD, HISTORY_DAYS, HOUR,
                   PAYMENT_METHODS, PRODUCT_CATEGORIES, SHIPPING_CENTS, TEAMS, _CAT_ROWS, _arr, _cluster,
                   _net, _num, _person_ids, _rng, _sort_table)
from .store import parse_marker
from .timefmt import day_str_nullable, erp_ts


def _person_name(idn: dict, i: int) -> str:
    return idn["company"][i] if idn["is_company"][i] else f"{idn['first'][i]} {idn['last'][i]}"


class ErpWorld:
    """The erp tables and records of a `world.GeneratedWorld` (a mixin of it)."""

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

    def _build_erp(self, rng, n_phone: np.ndarray, leads: np.ndarray) -> None:
        L, O, mirror, nq, partner_row, q_p, q_t = self._build_erp_partners(rng, n_phone, leads)
        E, erow_of_q, erow_of_shop, ne, q_cancel, q_team = self._build_erp_orders(
            rng, mirror, nq, O, q_p, q_t, partner_row)
        EL, q_ret_t = self._build_erp_lines(
            rng, nq, q_team, q_cancel, q_t, mirror, O, L, erow_of_shop, erow_of_q, E, ne)
        self._build_erp_payments(rng, ne, E, O, q_ret_t, EL)
        self._build_erp_credit_notes(_rng(self.seed, "erp", "credit_notes"))

    def _build_erp_partners(self, rng, n_phone, leads):
        """Phone / store orders of ERP-only buyers, and the partners: everybody who ordered (the ERP creates a
        partner for each buyer) plus leads."""
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
        return L, O, mirror, nq, partner_row, q_p, q_t

    def _build_erp_orders(self, rng, mirror, nq, O, q_p, q_t, partner_row):
        """ERP orders: webshop mirrors and phone / store orders."""
        r, now = self.dirt, self.now_s
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
        return E, erow_of_q, erow_of_shop, ne, q_cancel, q_team

    def _build_erp_lines(self, rng, nq, q_team, q_cancel, q_t, mirror, O, L, erow_of_shop, erow_of_q, E, ne):
        """ERP order lines: shop lines of mirrored orders, phone/store lines, shipping lines; order totals."""
        now = self.now_s
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
        return EL, q_ret_t

    def _build_erp_payments(self, rng, ne, E, O, q_ret_t, EL):
        """Return time, payment and method per ERP order; change markers of orders and lines."""
        P, r, now = self.P, self.dirt, self.now_s
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

    def _build_erp_credit_notes(self, rng) -> None:
        """One posted credit note per returned order, its product lines the returned quantities; a few
        returns also have an earlier credit note that was cancelled (a mistake, not a second refund)."""
        E, EL, now = self.T["erp/sale.order"], self.T["erp/sale.order.line"], self.now_s
        vat = self.T["erp/product.product"]["vat"]
        rl = np.flatnonzero(EL["ret"] > 0)
        orders, first = np.unique(EL["order"][rl], return_index=True)
        posted_t = np.minimum(np.maximum(E["ret_t"][orders], E["t"][orders]) + 600, now - 61)
        dup = rng.random(len(orders)) < 0.03
        cancel_t = posted_t[dup] - rng.integers(600, 6 * HOUR, int(dup.sum()))
        M = dict(order=np.concatenate([orders, orders[dup]]), t=np.concatenate([posted_t, cancel_t]),
                 cancel=np.concatenate([np.zeros(len(orders), bool), np.ones(int(dup.sum()), bool)]))
        M["write"] = np.where(M["cancel"], M["t"] + 1800, M["t"])
        _sort_table(M, M["t"])
        nm = len(M["t"])
        M["id"] = np.arange(1, nm + 1)
        year = M["t"].astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
        M["year"] = year
        M["seq"] = np.arange(nm) - np.searchsorted(year, year) + 1  # RINV/<year>/<n>: numbered per year
        # lines: the returned lines of each credit note's order
        row_of_order = {int(o): i for i, o in enumerate(orders.tolist())}
        counts = np.diff(np.append(first, len(rl)))
        mrow = np.repeat(np.arange(nm), counts[[row_of_order[int(o)] for o in M["order"].tolist()]])
        lrow = np.concatenate([rl[first[row_of_order[int(o)]]:first[row_of_order[int(o)]] + counts[row_of_order[int(o)]]]
                               for o in M["order"].tolist()]) if nm else np.zeros(0, np.int64)
        gross = EL["price"][lrow] * EL["ret"][lrow]
        ML = dict(move=mrow, sol=lrow, qty=EL["ret"][lrow], gross=gross, net=_net(gross, vat[EL["prod"][lrow]]))
        ML["id"] = np.arange(1, len(lrow) + 1)
        M["total"] = np.bincount(mrow, gross, minlength=nm).astype(np.int64)
        M["untaxed"] = np.bincount(mrow, ML["net"], minlength=nm).astype(np.int64)
        self.T["erp/account.move"], self.T["erp/account.move.line"] = M, ML

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

    def _move_name(self, row: int) -> str:
        M = self.T["erp/account.move"]
        return f"RINV/{int(M['year'][row])}/{int(M['seq'][row]):05d}"

    def _r_account_move(self, a: int, b: int) -> list[dict]:
        M, E = self.T["erp/account.move"], self.T["erp/sale.order"]
        s = slice(a, b)
        created, written = erp_ts(M["t"][s]), erp_ts(M["write"][s])
        total, untaxed = M["total"][s], M["untaxed"][s]
        tot_l, unt_l, tax_l = _num(total), _num(untaxed), _num(total - untaxed)
        out = []
        for i, (mid, row, erow, cancel) in enumerate(zip(M["id"][s].tolist(), range(a, b), M["order"][s].tolist(),
                                                          M["cancel"][s].tolist())):
            partner = int(E["partner"][erow])
            out.append({"id": mid, "name": self._move_name(row), "move_type": "out_refund",
                        "state": "cancel" if cancel else "posted",
                        "partner_id": [partner + 1000, self._partner_name(partner)],
                        "invoice_origin": self._order_name(erow), "reversed_entry_id": False, "ref": False,
                        "invoice_date": created[i][:10], "date": created[i][:10], "currency_id": [1, "EUR"],
                        "amount_untaxed": unt_l[i], "amount_tax": tax_l[i], "amount_total": tot_l[i],
                        "payment_state": "not_paid" if cancel else "paid", "create_date": created[i],
                        "write_date": written[i]})
        return out

    def _r_account_move_line(self, a: int, b: int) -> list[dict]:
        ML, M, EL, Pr = (self.T["erp/account.move.line"], self.T["erp/account.move"], self.T["erp/sale.order.line"],
                         self.T["erp/product.product"])
        s = slice(a, b)
        moves = ML["move"][s]
        created, written = erp_ts(M["t"][moves]), erp_ts(M["write"][moves])
        unit, gross, net = _num(EL["price"][ML["sol"][s]]), _num(ML["gross"][s]), _num(ML["net"][s])
        codes, names, pids = Pr["code"].tolist(), Pr["name"].tolist(), Pr["id"].tolist()
        out = []
        for i, (lid, m, sol, qty) in enumerate(zip(ML["id"][s].tolist(), moves.tolist(), ML["sol"][s].tolist(),
                                                   ML["qty"][s].tolist())):
            prod = int(EL["prod"][sol])
            name = self._move_name(m)
            label = f"[{codes[prod]}] {names[prod]}"
            out.append({"id": lid, "move_id": [int(M["id"][m]), name], "move_name": name, "move_type": "out_refund",
                        "parent_state": "cancel" if M["cancel"][m] else "posted", "display_type": "product",
                        "product_id": [pids[prod], label], "name": label, "quantity": float(qty),
                        "price_unit": unit[i], "discount": 0.0, "price_subtotal": net[i], "price_total": gross[i],
                        "currency_id": [1, "EUR"], "sale_line_ids": [int(EL["id"][sol])], "create_date": created[i],
                        "write_date": written[i]})
        return out

    def _day_credit_note(self, day: Day, erow: int, lrow: int, qty: int, t: int) -> None:
        """A posted credit note refunding `qty` units of ERP order line `lrow` (of order `erow`) at `t`."""
        EL, Pr = self.T["erp/sale.order.line"], self.T["erp/product.product"]
        order, line = self._current("erp/sale.order", erow), self._current("erp/sale.order.line", lrow)
        prod = int(EL["prod"][lrow])
        gross = qty * int(EL["price"][lrow])
        net = int(_net(np.array([gross]), np.array([Pr["vat"][prod]]))[0])
        mid = self._next_id("erp/account.move")
        year = int(np.array([t]).astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)[0]) + 1970
        seqs = self.__dict__.setdefault("_rinv_seq", {})
        if year not in seqs:
            M = self.T["erp/account.move"]
            seqs[year] = int(M["seq"][M["year"] == year].max(initial=0))
        seqs[year] += 1
        name = f"RINV/{year}/{seqs[year]:05d}"
        ts = erp_ts(np.array([t]))[0]
        day.put("erp/account.move", None, {
            "id": mid, "name": name, "move_type": "out_refund", "state": "posted",
            "partner_id": list(order["partner_id"]), "invoice_origin": order["name"], "reversed_entry_id": False,
            "ref": False, "invoice_date": ts[:10], "date": ts[:10], "currency_id": [1, "EUR"],
            "amount_untaxed": round(net / 100, 2), "amount_tax": round((gross - net) / 100, 2),
            "amount_total": round(gross / 100, 2), "payment_state": "paid", "create_date": ts, "write_date": ts})
        day.put("erp/account.move.line", None, {
            "id": self._next_id("erp/account.move.line"), "move_id": [mid, name], "move_name": name,
            "move_type": "out_refund", "parent_state": "posted", "display_type": "product",
            "product_id": list(line["product_id"]), "name": line["product_id"][1], "quantity": float(qty),
            "price_unit": line["price_unit"], "discount": 0.0, "price_subtotal": round(net / 100, 2),
            "price_total": round(gross / 100, 2), "currency_id": [1, "EUR"], "sale_line_ids": [line["id"]],
            "create_date": ts, "write_date": ts})

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

    # ------------------------------------------------------------------ one more simulated day
    def _day_partner_of(self, day: Day, p: int, t: int) -> list:
        """`[id, name]` of person `p`'s ERP partner; a new partner if `p` has none yet."""
        rng = day.rng
        row = int(self._partner_row_of_person[p])
        if row >= 0:
            return [row + 1000, self._partner_name(row)]
        if p in day.xpartner:
            return day.xpartner[p]
        idn = self._identity(np.array([p]), rng, "erp")
        pid = self._next_id("erp/res.partner")
        name = _person_name(idn, 0)
        ref = f"K-{100000 + pid - 1000}"
        rec = {"id": pid, "name": name, "is_company": bool(idn["is_company"][0]), "ref": ref,
               "email": idn["email"][0] or False, "phone": idn["land"][0] or False,
               "mobile": idn["mobile"][0] or False, "street": idn["address1"][0], "street2": idn["addr2"][0] or False,
               "zip": idn["zip"][0], "city": idn["city"][0], "country_id": [57, "Deutschland"], "vat": False,
               "x_birthdate": False, "active": True, "create_date": erp_ts(np.array([t]))[0],
               "write_date": erp_ts(np.array([t]))[0]}
        day.put("erp/res.partner", None, rec)
        self._extra_truth.append(("erp", str(pid), _person_ids(np.array([p]))[0]))
        day.xpartner[p] = [pid, name]
        return day.xpartner[p]

    def _day_mirror_order(self, day: Day, p: int, t: int, num: int, prods: list, qtys: list, nets: list, ship: int,
                          ship_net: int, total: int, untaxed: int) -> tuple[int, str]:
        """The ERP mirror of new shop order number `num` placed at `t`: its time and name."""
        rng = day.rng
        et = t + int(rng.integers(60, 900))
        eid = self._next_id("erp/sale.order")
        ename = f"S{eid:05d}"
        ref = (f"#{num}", f"{num}", f"Shop {num}")[int(rng.integers(0, 3))]
        day.put("erp/sale.order", None, {
            "id": eid, "name": ename, "partner_id": list(self._day_partner_of(day, p, t)), "client_order_ref": ref,
            "team_id": list(TEAMS[0]), "date_order": erp_ts(np.array([et]))[0], "state": "sale",
            "amount_untaxed": round(untaxed / 100, 2), "amount_tax": round((total - untaxed) / 100, 2),
            "amount_total": round(total / 100, 2), "write_date": erp_ts(np.array([et]))[0]})
        lines = [(a, q, day.prices[a], nt) for a, q, nt in zip(prods, qtys, nets)]
        if ship:
            lines.append((len(day.pids) - 1, 1, ship, ship_net))
        for a, q, pr, nt in lines:
            day.put("erp/sale.order.line", None, {
                "id": self._next_id("erp/sale.order.line"), "order_id": [eid, ename],
                "product_id": [day.pids[a], f"[{day.codes[a]}] {day.names[a]}"], "product_uom_qty": float(q),
                "qty_delivered": 0.0, "x_qty_returned": 0.0, "price_unit": round(pr / 100, 2),
                "price_subtotal": round(nt / 100, 2), "write_date": erp_ts(np.array([et]))[0]})
        return et, ename

    def _day_orders_done(self, day: Day) -> None:
        """ERP orders move from "sale" to "done"."""
        E = self.T["erp/sale.order"]
        EL = self.T["erp/sale.order.line"]
        cand = np.flatnonzero((E["state"] == 1) & (E["t"] < day.now - 10 * DAY))
        cand = np.array([x for x in cand.tolist() if x not in self._over["erp/sale.order"]], dtype=np.int64)
        for erow in cand[: day.k_of(0.003, 3)].tolist():
            t = day.when()
            rec = dict(self._current("erp/sale.order", erow), state="done", write_date=erp_ts(np.array([t]))[0])
            day.put("erp/sale.order", erow, rec)
            a, b = np.searchsorted(EL["order"], [erow, erow + 1])
            for lrow in range(int(a), int(b)):
                lrec = dict(self._current("erp/sale.order.line", lrow))
                lrec["qty_delivered"] = lrec["product_uom_qty"]
                lrec["write_date"] = erp_ts(np.array([t]))[0]
                day.put("erp/sale.order.line", lrow, lrec)

    def _day_price_change(self, day: Day) -> None:
        """A product price change."""
        rng = day.rng
        prow = int(rng.integers(0, self._n_sellable))
        rec = dict(self._current("erp/product.product", prow))
        rec["list_price"] = round(rec["list_price"] + 1.0, 2)
        rec["write_date"] = erp_ts(np.array([day.when()]))[0]
        day.put("erp/product.product", prow, rec)


# --------------------------------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------------------------------
_ERP_PATH = re.compile(r"json/2/([A-Za-z0-9_.]+)/([A-Za-z_]+)")


_ERP_DOMAIN_FIELDS = ("write_date", "id", "active")
# The demo's one database (`X-Odoo-Database` / the XML-RPC `db` argument) and the API user's id.
DEMO_ERP_DATABASE = "c360-demo"
DEMO_ERP_UID = 2
_ERP_FIELD_TYPES = {"id": "integer", "active": "boolean", "is_company": "boolean", "create_date": "datetime",
                    "write_date": "datetime", "date_order": "datetime", "x_birthdate": "date", "invoice_date": "date",
                    "date": "date", "sale_line_ids": "many2many"}


def _erp_check_db(db) -> None:
    if db != DEMO_ERP_DATABASE:
        raise xmlrpc.client.Fault(1, f'Traceback (most recent call last):\npsycopg2.OperationalError: '
                                     f'connection to server failed: FATAL:  database "{db}" does not exist')


def _json_response(value) -> Response:
    return Response(200, orjson.dumps(value), "application/json; charset=utf-8")


def _xml_response(value) -> Response:
    """An XML-RPC method response as Odoo's `/xmlrpc/2` sends it (HTTP 200 even for a fault)."""
    return Response(200, xmlrpc.client.dumps(value, methodresponse=True, allow_none=False).encode(),
                    "text/xml; charset=utf-8")
_ERP_OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "not in")


class _Bounds:
    """What a domain implies about write_date and id (for a cheap start/end of the scan)."""

    __slots__ = ("wd_lo", "wd_hi", "id_lo", "id_hi", "key_lo")

    def __init__(self, wd_lo=None, wd_hi=None, id_lo=None, id_hi=None, key_lo=None):
        self.wd_lo, self.wd_hi, self.id_lo, self.id_hi, self.key_lo = wd_lo, wd_hi, id_lo, id_hi, key_lo



def _max(a, b):
    return b if a is None else a if b is None else max(a, b)



def _min(a, b):
    return b if a is None else a if b is None else min(a, b)



def _min_all(a, b):
    return None if a is None or b is None else min(a, b)



def _max_all(a, b):
    return None if a is None or b is None else max(a, b)



class ErpDomain:
    """An Odoo prefix-notation domain over write_date, id, active and the model's selection fields kept as
    filter columns (`vocab`: value -> code, store.VOCAB_COLUMNS), evaluated with numpy masks."""

    def __init__(self, domain, model: str, known_fields: set[str], vocab: dict[str, dict[str, int]] | None = None):
        if domain is None:
            domain = []
        if not isinstance(domain, list):
            raise ApiError(422, "The domain must be a list", code="odoo.exceptions.ValidationError")
        self.model = model
        self.known_fields = known_fields
        self.vocab = vocab or {}
        self.mentions_active = False
        self._items = domain
        nodes = []
        i = 0
        while i < len(domain):
            node, i = self._parse(i)
            nodes.append(node)
        tree = None
        for node in nodes:
            tree = node if tree is None else ("&", tree, node)
        self.tree = tree

    def _error(self, message: str) -> ApiError:
        return ApiError(422, message, code="odoo.exceptions.ValidationError")

    def _parse(self, i: int):
        items = self._items
        if i >= len(items):
            raise self._error("Invalid domain: an operator is missing its operands")
        token = items[i]
        if token in ("&", "|"):
            left, i = self._parse(i + 1)
            right, i = self._parse(i)
            return (token, left, right), i
        if token == "!":
            child, i = self._parse(i + 1)
            return ("!", child), i
        if isinstance(token, (list, tuple)) and len(token) == 3:
            return self._leaf(*token), i + 1
        raise self._error(f"Invalid domain term {token!r}")

    def _leaf(self, field, op, value):
        if not isinstance(field, str) or not isinstance(op, str):
            raise self._error(f"Invalid domain term {[field, op, value]!r}")
        op = op.lower()
        if field not in _ERP_DOMAIN_FIELDS and field not in self.vocab:
            if self.known_fields and field not in self.known_fields:
                raise self._error(f"Invalid field {field!r} on model {self.model!r}")
            raise self._error(
                f"Invalid field {field!r} in domain: the demo ERP filters {self.model!r} only on "
                f"{', '.join(_ERP_DOMAIN_FIELDS + tuple(self.vocab))}"
            )
        if field in self.vocab and op not in ("=", "!=", "in", "not in"):
            raise self._error(f"Invalid operator {op!r} for selection field {field!r}")
        if op not in _ERP_OPS:
            raise self._error(f"Invalid operator {op!r} in domain term {[field, op, value]!r}")
        if field == "active":
            self.mentions_active = True
        if op in ("in", "not in"):
            if not isinstance(value, (list, tuple)):
                raise self._error(f"Operator {op!r} needs a list in domain term {[field, op, value]!r}")
            converted = [self._value(field, v) for v in value]
        else:
            converted = self._value(field, value)
        return ("leaf", field, op, converted)

    def _value(self, field: str, value):
        if field in self.vocab:
            if not isinstance(value, str):
                raise self._error(f"Invalid value {value!r} for selection field {field!r}")
            return self.vocab[field].get(value, -2)  # a value no record has matches nothing
        if value is False or value is None:
            return None  # Odoo's "not set"; no record has an unset id or write_date
        if field == "write_date":
            if isinstance(value, str):
                marker = parse_marker(value if len(value) > 10 else value + " 00:00:00")
                if marker is not None:
                    return marker
            raise self._error(f"Invalid datetime {value!r} for field 'write_date' (expected 'YYYY-MM-DD HH:MM:SS')")
        if field == "id":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise self._error(f"Invalid value {value!r} for field 'id' (expected an integer)")
        if isinstance(value, bool):
            return value
        raise self._error(f"Invalid value {value!r} for field 'active' (expected a boolean)")

    # --- evaluation ----------------------------------------------------------------------------
    def mask(self, view, lo: int, hi: int) -> np.ndarray:
        if self.tree is None:
            return np.ones(hi - lo, np.bool_)
        return self._eval(self.tree, view, lo, hi)

    def _eval(self, node, view, lo, hi) -> np.ndarray:
        kind = node[0]
        if kind == "&":
            return self._eval(node[1], view, lo, hi) & self._eval(node[2], view, lo, hi)
        if kind == "|":
            return self._eval(node[1], view, lo, hi) | self._eval(node[2], view, lo, hi)
        if kind == "!":
            return ~self._eval(node[1], view, lo, hi)
        _, field, op, value = node
        if field == "write_date":
            column = view.marker[lo:hi]
        elif field == "id":
            column = view.ids[lo:hi]
        elif field in self.vocab:
            column = view.cols[field][lo:hi]
        else:
            column = view.cols["active"][lo:hi] if "active" in view.cols else np.ones(hi - lo, np.bool_)
        if op in ("in", "not in"):
            present = [v for v in value if v is not None]
            hits = np.isin(column, np.asarray(present, dtype=column.dtype)) if present else np.zeros(hi - lo, np.bool_)
            return hits if op == "in" else ~hits
        if value is None:
            # "= False" matches unset values (none here); "!= False" matches every set value.
            if field == "active":
                value = False
            elif op == "=":
                return np.zeros(hi - lo, np.bool_)
            elif op == "!=":
                return np.ones(hi - lo, np.bool_)
            else:
                return np.zeros(hi - lo, np.bool_)
        if op == "=":
            return column == value
        if op == "!=":
            return column != value
        if op == ">":
            return column > value
        if op == ">=":
            return column >= value
        if op == "<":
            return column < value
        return column <= value

    # --- bounds -------------------------------------------------------------------------------
    def bounds(self) -> _Bounds:
        return self._bounds(self.tree) if self.tree is not None else _Bounds()

    def _bounds(self, node) -> _Bounds:
        kind = node[0]
        if kind == "leaf":
            _, field, op, value = node
            b = _Bounds()
            if field in ("write_date", "id"):
                lo = hi = None
                if op in ("in",):
                    present = [v for v in value if v is not None]
                    if present:
                        lo, hi = min(present), max(present)
                    else:
                        lo, hi = 1, 0  # nothing matches
                elif value is not None:
                    lo = value if op in ("=", ">=") else value + 1 if op == ">" else None
                    hi = value if op in ("=", "<=") else value - 1 if op == "<" else None
                if field == "write_date":
                    b.wd_lo, b.wd_hi = lo, hi
                    if lo is not None:
                        b.key_lo = (lo, None)
                else:
                    b.id_lo, b.id_hi = lo, hi
            return b
        if kind == "!":
            return _Bounds()
        left, right = self._bounds(node[1]), self._bounds(node[2])
        if kind == "&":
            b = _Bounds(
                _max(left.wd_lo, right.wd_lo), _min(left.wd_hi, right.wd_hi),
                _max(left.id_lo, right.id_lo), _min(left.id_hi, right.id_hi),
            )
            keys = [k for k in (left.key_lo, right.key_lo) if k is not None]
            if b.wd_lo is not None:
                if b.wd_hi == b.wd_lo and b.id_lo is not None:
                    keys.append((b.wd_lo, b.id_lo))
                else:
                    keys.append((b.wd_lo, None))
            b.key_lo = max(keys, key=lambda k: (k[0], -math.inf if k[1] is None else k[1])) if keys else None
            return b
        b = _Bounds(
            _min_all(left.wd_lo, right.wd_lo), _max_all(left.wd_hi, right.wd_hi),
            _min_all(left.id_lo, right.id_lo), _max_all(left.id_hi, right.id_hi),
        )
        if left.key_lo is not None and right.key_lo is not None:
            b.key_lo = min(
                (left.key_lo, right.key_lo), key=lambda k: (k[0], -math.inf if k[1] is None else k[1])
            )
        return b


class ErpApi:
    """The ERP's JSON-2 API: `search_read` and `search_count` with a domain over write_date, id and active.

    A mixin of `server.SourceApp`, which routes `/erp/...` requests here.
    """

    @staticmethod
    def _erp_error(message: str) -> ApiError:
        return ApiError(422, message, code="odoo.exceptions.ValidationError")

    def erp(self, method: str, rest: str, body: bytes, headers=None) -> Response:
        if rest.startswith("xmlrpc/"):
            return self._erp_xmlrpc(method, rest, body)
        database = (headers.get("X-Odoo-Database", "") if headers is not None else "").strip()
        if database and database != DEMO_ERP_DATABASE:
            raise ApiError(404, f"Not Found: database {database!r} not found", code="werkzeug.exceptions.NotFound")
        call, model, store = self._erp_target(method, rest)
        return self._erp_call(store, model, call, self._erp_json_args(body, model, call))

    def _erp_call(self, store, model: str, call: str, args: dict) -> Response:
        """One model method with its named arguments (JSON-2 body or XML-RPC `execute_kw`)."""
        if call == "fields_get":
            return _json_response({name: {"type": _ERP_FIELD_TYPES.get(name, "char"), "string": name}
                                   for name in sorted(store.fields | {"id"})})
        active_test, by_time, domain, fields, limit, offset = self._erp_query(args, model, call, store)
        return self._erp_answer(store, domain, by_time, active_test, call, limit, offset, fields)

    # --- XML-RPC (Odoo 16-18 external API) ---------------------------------------------------------
    def _erp_xmlrpc(self, method: str, rest: str, body: bytes) -> Response:
        """`/xmlrpc/2/common` (`version`, `authenticate`) and `/xmlrpc/2/object` (`execute_kw`), answered
        as Odoo does: HTTP 200, `text/xml`, errors as faults with integer codes."""
        if method != "POST" or rest not in ("xmlrpc/2/common", "xmlrpc/2/object"):
            raise ApiError(404, "Not Found: the requested URL was not found on the server.")
        try:
            params, name = xmlrpc.client.loads(body)
            value = self._erp_xmlrpc_dispatch(rest.rsplit("/", 1)[1], name, params)
        except xmlrpc.client.Fault as fault:
            return _xml_response(fault)
        except ApiError as exc:
            code = 3 if exc.status == 401 else 2 if exc.status == 422 else 1
            return _xml_response(xmlrpc.client.Fault(code, exc.message))
        except Exception as exc:  # an unreadable request: Odoo answers a fault with the traceback
            return _xml_response(xmlrpc.client.Fault(1, f"Traceback (most recent call last):\n{type(exc).__name__}: {exc}"))
        return _xml_response((value,))

    def _erp_xmlrpc_dispatch(self, service: str, name, params: tuple):
        key = self.credentials.erp_api_key
        if service == "common":
            if name == "version":
                return {"server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""],
                        "server_serie": "17.0", "protocol_version": 1}
            if name == "authenticate" and len(params) == 4:
                db, login, password, _ = params
                _erp_check_db(db)
                ok = isinstance(password, str) and hmac.compare_digest(password.encode(), key.encode())
                return DEMO_ERP_UID if ok and login else False
            raise xmlrpc.client.Fault(1, f"Traceback (most recent call last):\nNameError: method {name!r} not found")
        if name != "execute_kw" or not 5 <= len(params) <= 7:
            raise xmlrpc.client.Fault(1, f"Traceback (most recent call last):\nNameError: method {name!r} not found")
        db, uid, password, model, call = params[:5]
        args = params[5] if len(params) > 5 else []
        kwargs = params[6] if len(params) > 6 else {}
        _erp_check_db(db)
        if uid != DEMO_ERP_UID or not isinstance(password, str) or not hmac.compare_digest(password.encode(), key.encode()):
            raise xmlrpc.client.Fault(3, "Access Denied")
        call_model = f"json/2/{model}/{call}"
        call, model, store = self._erp_target("POST", call_model)
        positional = ("domain",) if call != "fields_get" else ("allfields", "attributes")
        if len(args) > len(positional):
            raise self._erp_error(f"{model}.{call}() takes {len(positional)} positional arguments")
        return orjson.loads(self._erp_call(store, model, call, {**dict(zip(positional, args)), **kwargs}).body)

    def _erp_target(self, method, rest):
        """The model store and method a request path names (404, 405 and unknown models refused)."""
        match = _ERP_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "Not Found: the requested URL was not found on the server.")
        model, call = match.groups()
        if method != "POST":
            raise ApiError(405, "Method Not Allowed: the JSON-2 API takes POST requests")
        store = self.stores.get("erp/" + model)
        if store is None:
            raise self._erp_error(f"Object {model} doesn't exist")
        if call not in ("search_read", "search_count", "fields_get"):
            raise ApiError(404, f"Not Found: method {call!r} is not available on {model}")
        return call, model, store

    @staticmethod
    def _erp_json_args(body: bytes, model: str, call: str) -> dict:
        """The named arguments of a JSON-2 call (its JSON object body)."""
        try:
            args = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            raise ApiError(400, "Bad Request: the body is not valid JSON", code="werkzeug.exceptions.BadRequest") from None
        if not isinstance(args, dict):
            raise ApiError(400, "Bad Request: the body must be a JSON object", code="werkzeug.exceptions.BadRequest")
        if call == "fields_get":
            unknown = sorted(set(args) - {"allfields", "attributes", "context"})
            if unknown:
                raise ErpApi._erp_error(f"{model}.{call}() got an unexpected keyword argument {unknown[0]!r}")
        return args

    def _erp_query(self, args, model, call, store):
        """The checked keyword arguments of a call: domain, context, offset, limit, order, fields."""
        unknown = sorted(set(args) - {"domain", "fields", "offset", "limit", "order", "context"})
        if unknown:
            raise self._erp_error(f"{model}.{call}() got an unexpected keyword argument {unknown[0]!r}")
        domain = ErpDomain(args.get("domain"), model, store.fields, store.vocab)
        context = args.get("context") or {}
        if not isinstance(context, dict):
            raise self._erp_error("context must be an object")
        active_test = context.get("active_test", True) is not False and not domain.mentions_active
        offset = args.get("offset") or 0
        limit = args.get("limit")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise self._erp_error(f"Invalid offset {offset!r}")
        if limit is False or limit == 0:
            limit = None
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise self._erp_error(f"Invalid limit {limit!r}")
        order = " ".join(str(args.get("order") or "id asc").replace(",", ", ").lower().split())
        if order in ("id", "id asc"):
            by_time = False
        elif order in ("write_date asc, id asc", "write_date, id", "write_date asc, id", "write_date, id asc"):
            by_time = True
        else:
            raise self._erp_error(f"Invalid order {args.get('order')!r}: use 'write_date asc, id asc' or 'id asc'")
        fields = args.get("fields")
        if fields is not None and fields is not False:
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                raise self._erp_error("fields must be a list of field names")
            for name in fields:
                if store.fields and name not in store.fields:
                    raise self._erp_error(f"Invalid field {name!r} on model {model!r}")
        return active_test, by_time, domain, fields, limit, offset

    def _erp_answer(self, store, domain, by_time, active_test, call, limit, offset, fields):
        """The records (or count) a checked query selects, read from the store by position."""
        view = store.view()
        bounds = domain.bounds()
        if by_time:
            start, end = 0, len(view)
            if bounds.key_lo is not None:
                m, i = bounds.key_lo
                start = view.marker_left(m) if i is None else view.position_after(m, i, inclusive=True)
            if bounds.wd_hi is not None:
                end = view.marker_right(bounds.wd_hi)
        else:
            view = view.by_id()
            start, end = 0, len(view)
            if bounds.id_lo is not None:
                start = int(np.searchsorted(view.ids, bounds.id_lo, side="left"))
            if bounds.id_hi is not None:
                end = int(np.searchsorted(view.ids, bounds.id_hi, side="right"))
        active = view.cols.get("active") if active_test else None

        if active is not None and domain.tree is None:
            mask_fn = lambda a, b: active[a:b]  # noqa: E731
        elif active is not None:
            mask_fn = lambda a, b: domain.mask(view, a, b) & active[a:b]  # noqa: E731
        elif domain.tree is not None:
            mask_fn = lambda a, b: domain.mask(view, a, b)  # noqa: E731
        else:
            mask_fn = None

        if call == "search_count":
            count = (end - start if start < end else 0) if mask_fn is None else len(_scan(mask_fn, start, end, None))
            return Response(200, str(count).encode())
        need = None if limit is None else offset + limit
        if mask_fn is None:
            stop = end if need is None else min(end, start + need)
            positions = np.arange(start + offset, max(start + offset, stop))
        else:
            positions = _scan(mask_fn, start, end, need)[offset:]
        records = view.encoded(positions)
        if fields and not set(store.fields) - {"id"} <= set(fields):
            records = [orjson.dumps(self._project(orjson.loads(raw), fields)) for raw in records]
        return Response(200, b"".join((b"[", b",".join(records), b"]")), "application/json; charset=utf-8")

    @staticmethod
    def _project(record, fields: list[str]):
        if not isinstance(record, dict):
            return record
        # `id` always comes back; a field a (hand-made, malformed) record lacks stays absent
        projected = {"id": record.get("id", False)}
        for name in fields:
            if name in record:
                projected[name] = record[name]
        return projected
