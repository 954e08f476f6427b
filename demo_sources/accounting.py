"""Lexware-Office-like accounting: contacts, vouchers (invoices, credit notes) and payments.

The accounting part of the demo sources: `AccountingWorld` builds its tables from the persons (and
the other systems' tables), renders its rows in the API's record shapes and simulates its daily
events; `AccountingApi` answers its HTTP endpoints from the records the server stores.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from datetime import date, datetime, timedelta

import numpy as np
import orjson

from .api import BERLIN, ApiError, Response, _int_param
from .core import (ACCOUNTING_WINDOW, DAY, HISTORY_DAYS, Day, HOUR, MOBILE_PRE, PAYMENT_METHODS, VOUCHER_STATUS, _cluster,
                   _num, _sort_table, _uuid)
from .dirt import email_other_mailbox, phone_format
from .store import ResourceStore, to_epoch_us
from .timefmt import acc_ts, berlin_offset


# Lexware Office has no payment method, only the kind of each payment item: a matched bank or
# payment-provider transaction, a cash-box entry, or a payment booked by hand.
PAYMENT_ITEM_TYPE = {"bank_transfer": "partPaymentFinancialTransaction", "sepa_debit": "partPaymentFinancialTransaction",
                     "paypal": "manualPayment", "card": "manualPayment", "cash": "partPaymentCashBox"}
CREDIT_TYPES = ("salescreditnote", "creditnote")
# The shop booked its invoices in Lexware's bookkeeping (`salesinvoice` / `salescreditnote`) and moved
# to Lexware's invoicing module (`invoice` / `creditnote`, the types of the vouchers the module
# writes) for the last INVOICING_MODULE_DAYS of the generated history: a real account holds both.
INVOICING_MODULE_DAYS = 180
VOUCHER_TYPES = (("salesinvoice", "salescreditnote"), ("invoice", "creditnote"))


def berlin_midnight_ms(t: np.ndarray) -> np.ndarray:
    """Epoch ms of the Europe/Berlin midnight starting the local day of UTC epoch seconds `t`."""
    t = np.asarray(t, dtype=np.int64)
    local_day = (t + berlin_offset(t)) // DAY
    return (local_day * DAY - berlin_offset(local_day * DAY - 3600)) * 1000


def payment_record(voucher_id: str, marker: str, voucher_type: str, paid_date: str, posting_date: str,
                   amount: float, item_type: str) -> dict:
    """The payments resource's record of a voucher paid in one payment: the `GET /v1/payments/{voucherId}`
    body plus `id` (the voucher id) and `updatedDate` (the change marker), as the connector lands it."""
    return {"id": voucher_id, "updatedDate": marker, "openAmount": 0.0, "currency": "EUR",
            "paymentStatus": "balanced", "voucherType": voucher_type, "voucherStatus": "paid",
            "paidDate": paid_date, "paymentItems": [
                {"paymentItemType": item_type, "postingDate": posting_date, "amount": amount, "currency": "EUR"}]}


def payment_response(voucher: dict, payment: dict | None) -> dict:
    """`GET /v1/payments/{voucherId}` of a voucher row, with the payment items of its payment record."""
    status = voucher.get("voucherStatus")
    settled = status in ("paid", "paidoff", "voided")
    open_amount = voucher.get("openAmount")
    body = {"openAmount": 0.0 if settled or open_amount is None else open_amount,
            "currency": voucher.get("currency", "EUR"),
            "paymentStatus": "balanced" if settled else (
                "openExpense" if voucher.get("voucherType") in CREDIT_TYPES else "openRevenue"),
            "voucherType": voucher.get("voucherType"), "voucherStatus": status}
    if status in ("paid", "paidoff"):
        body["paidDate"] = (payment or {}).get("paidDate") or voucher.get("updatedDate")
    body["paymentItems"] = list((payment or {}).get("paymentItems") or [])
    return body


def payments_from_legacy(rows: list[dict]) -> list[dict]:
    """Payment records of the earlier replay layout (one row per payment with `voucherId`, `paidDate`,
    `amount`, `paymentMethod`, `updatedDate`) as one payments record per voucher."""
    out: dict[str, dict] = {}
    for row in rows:
        if not isinstance(row, dict) or "paymentItems" in row or "voucherId" not in row:
            out[str(id(row))] = row
            continue
        rec = out.setdefault(row["voucherId"], {
            "id": row["voucherId"], "updatedDate": row.get("updatedDate"), "openAmount": 0.0, "currency": "EUR",
            "paymentStatus": "balanced", "voucherType": "salesinvoice", "voucherStatus": "paid",
            "paidDate": row.get("paidDate"), "paymentItems": []})
        paid = str(row.get("paidDate") or "")
        rec["paymentItems"].append({
            "paymentItemType": PAYMENT_ITEM_TYPE.get(row.get("paymentMethod"), "manualPayment"),
            "postingDate": paid[:10] + "T00:00:00.000" + paid[23:] if len(paid) >= 29 else paid,
            "amount": row.get("amount"), "currency": "EUR"})
        if str(row.get("updatedDate") or "") > str(rec["updatedDate"] or ""):
            rec["updatedDate"] = row.get("updatedDate")
        if paid > str(rec["paidDate"] or ""):
            rec["paidDate"] = row.get("paidDate")
    return list(out.values())


class AccountingWorld:
    """The accounting tables and records of a `world.GeneratedWorld` (a mixin of it)."""

    def _build_accounting(self, rng) -> None:
        E, contact_row = self._build_accounting_contacts(rng)
        V, ev, nv, paid, pay, status = self._build_accounting_vouchers(rng, E, contact_row)
        self._build_accounting_payments(rng, V, ev, nv, status, paid, pay, E)

    def _build_accounting_contacts(self, rng):
        """Accounting contacts: most ERP customers and a few others."""
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
        return E, contact_row

    def _build_accounting_vouchers(self, rng, E, contact_row):
        """Invoices for most confirmed ERP orders, credit notes for returns; status and dunning."""
        r, now = self.dirt, self.now_s
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
        return V, ev, nv, paid, pay, status

    def _build_accounting_payments(self, rng, V, ev, nv, status, paid, pay, E):
        """Voucher change markers (bulk updates within the list window) and the payments of paid invoices."""
        r, now = self.dirt, self.now_s
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
            rec["emailAddresses"], rec["phoneNumbers"] = _contact_channels(
                bool(idn["is_company"][i]), idn["company"][i], idn["email"][i], idn["mobile"][i], idn["land"][i])
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
        types = self._voucher_types(V["type"][s], V["vdate"][s])
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
            out.append({"id": ids[i], "voucherType": types[i],
                        "voucherStatus": VOUCHER_STATUS[st],
                        "voucherNumber": f"{('RE', 'GS')[typ]}-{years[i]}-{seq:06d}",
                        "voucherDate": vdate[i], "dueDate": due[i], "createdDate": created[i], "updatedDate": updated[i],
                        "contactId": self._contact_id(crow) if crow >= 0 else None,
                        "contactName": self._contact_name(crow) if crow >= 0 else "Sammelkunde",
                        "totalAmount": tot[i], "openAmount": opn[i], "currency": "EUR", "archived": False,
                        "remark": remark, "dunningLevel": dun})
        return out

    def _voucher_types(self, credit: np.ndarray, voucher_date_s: np.ndarray) -> list[str]:
        """The `voucherType` of vouchers (credit: 0 invoice, 1 credit note) by their voucher date: the
        invoicing module's types from INVOICING_MODULE_DAYS before the end of the generated history."""
        module_from = self.start_s + (HISTORY_DAYS - INVOICING_MODULE_DAYS) * DAY
        return [VOUCHER_TYPES[module][kind] for module, kind in
                zip((np.asarray(voucher_date_s) >= module_from).tolist(), np.asarray(credit).tolist())]

    def _r_payments(self, a: int, b: int) -> list[dict]:
        PM, V = self.T["accounting/payments"], self.T["accounting/vouchers"]
        s = slice(a, b)
        vrows = PM["v"][s]
        vids = _uuid(V["hi"][vrows], V["lo"][vrows])
        paid, upd, amt = acc_ts(PM["paid_ms"][s]), acc_ts(PM["upd_ms"][s]), _num(PM["amount"][s])
        posted = acc_ts(berlin_midnight_ms(PM["paid"][s]))
        types = self._voucher_types(V["type"][vrows], V["vdate"][vrows])
        return [payment_record(vids[i], upd[i], types[i], paid[i], posted[i], amt[i],
                               PAYMENT_ITEM_TYPE[PAYMENT_METHODS[m]])
                for i, m in enumerate(PM["method"][s].tolist())]

    # ------------------------------------------------------------------ one more simulated day
    def _day_contact_of(self, day: Day, p: int):
        """(id, name) of person `p`'s accounting contact, None if there is none."""
        row = int(self._contact_row_of_person[p])
        if row >= 0:
            return self._contact_id(row), self._contact_name(row)
        return day.xcontact.get(p)

    def _day_new_invoice(self, day: Day, t: int, total: int, remark: str, p: int, paid_t: int | None, method: int,
                         credit: bool = False):
        """A new invoice (or credit note) voucher, and its payment when paid."""
        rng = day.rng
        c = self._day_contact_of(day, p) if rng.random() < 0.65 else None
        seq = self._next_id("accounting/vouchers#seq") if "accounting/vouchers#seq" in self._ids else None
        if seq is None:
            self._ids["accounting/vouchers#seq"] = int(len(self.T["accounting/vouchers"]["seq"])) + 1
            seq = self._ids["accounting/vouchers#seq"]
        local_day = (t + int(berlin_offset(np.array([t]))[0])) // DAY
        vd = local_day * DAY - int(berlin_offset(np.array([local_day * DAY - 3600]))[0])
        status = "paidoff" if credit else ("paid" if paid_t is not None else "open")
        upd = (paid_t + 300) if paid_t is not None else t + 5
        year = dt.datetime.fromtimestamp(t, dt.UTC).year
        rec = {"id": self._uuid1(rng), "voucherType": self._voucher_types(np.array([int(credit)]), np.array([vd]))[0],
               "voucherStatus": status, "voucherNumber": f"{'GS' if credit else 'RE'}-{year}-{seq:06d}",
               "voucherDate": acc_ts(np.array([vd * 1000]))[0],
               "dueDate": acc_ts(np.array([(vd + (0 if credit else 14 * DAY)) * 1000]))[0],
               "createdDate": acc_ts(np.array([t * 1000 + 1]))[0], "updatedDate": acc_ts(np.array([upd * 1000 + 7]))[0],
               "contactId": c[0] if c else None, "contactName": c[1] if c else "Sammelkunde",
               "totalAmount": round(total / 100, 2), "openAmount": round(total / 100, 2) if status == "open" else 0.0,
               "currency": "EUR", "archived": False, "remark": remark, "dunningLevel": 0}
        day.put("accounting/vouchers", None, rec)
        if paid_t is not None and not credit:
            self._uuid1(rng)  # the draw of the earlier payment id, so that the world stays the same
            day.put("accounting/payments", None, payment_record(
                rec["id"], rec["updatedDate"], rec["voucherType"], acc_ts(np.array([paid_t * 1000]))[0],
                acc_ts(berlin_midnight_ms(np.array([paid_t])))[0], round(total / 100, 2),
                PAYMENT_ITEM_TYPE[PAYMENT_METHODS[method]]))
        return rec

    def _day_voucher_events(self, day: Day) -> None:
        """Vouchers: payments arrive, open ones fall overdue, dunning goes up."""
        rng = day.rng
        V = self.T["accounting/vouchers"]
        openv = np.flatnonzero((V["status"] <= 1) & (V["type"] == 0))
        openv = np.array([x for x in openv.tolist() if x not in self._over["accounting/vouchers"]], dtype=np.int64)
        for vrow in (rng.choice(openv, min(len(openv), day.k_of(0.002, 3)), replace=False).tolist() if len(openv) else []):
            t = day.when()
            rec = dict(self._current("accounting/vouchers", vrow))
            if rng.random() < 0.6 or rec["dunningLevel"] >= 3:
                rec.update(voucherStatus="paid", openAmount=0.0)
                self._uuid1(rng)  # the draw of the earlier payment id, so that the world stays the same
                rec["updatedDate"] = acc_ts(np.array([t * 1000 + 3]))[0]
                day.put("accounting/payments", None, payment_record(
                    rec["id"], rec["updatedDate"], rec["voucherType"], acc_ts(np.array([t * 1000]))[0],
                    acc_ts(berlin_midnight_ms(np.array([t])))[0], rec["totalAmount"],
                    PAYMENT_ITEM_TYPE["bank_transfer"]))
            else:
                rec.update(voucherStatus="overdue", dunningLevel=min(3, rec["dunningLevel"] + 1))
            rec["updatedDate"] = acc_ts(np.array([t * 1000 + 3]))[0]
            day.put("accounting/vouchers", vrow, rec)

    def _day_contact_edits(self, day: Day) -> None:
        """Accounting contact edits (version + 1)."""
        rng = day.rng
        A = self.T["accounting/contacts"]
        na = len(A["hi"])
        for row in (rng.choice(na, min(na, day.k_of(0.0005, 2)), replace=False).tolist() if na else []):
            rec = dict(self._current("accounting/contacts", row))
            rec["version"] += 1
            mailbox = "business" if rec.get("company") else "private"
            if rec.get("emailAddresses", {}).get(mailbox):
                rec["emailAddresses"] = dict(rec["emailAddresses"], **{mailbox: [email_other_mailbox(
                    rec["emailAddresses"][mailbox][0].strip().lower(), int(rng.integers(0, 1000)))]})
            else:
                rec["phoneNumbers"] = dict(rec["phoneNumbers"], mobile=[phone_format(
                    MOBILE_PRE[int(rng.integers(0, len(MOBILE_PRE)))], str(int(rng.integers(1_000_000, 99_999_999))), 0)])
            day.put("accounting/contacts", row, rec)


_GERMAN_LETTERS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _contact_channels(is_company: bool, company: str, email: str, mobile: str, landline: str) -> tuple[dict, dict]:
    """A contact's `emailAddresses` and `phoneNumbers` as Lexware Office groups them (lists per kind).

    A person has a private address and phones. A company, as companies are kept in accounting, has
    several: the buyer's own address as `business` and the accounts-payable mailbox as `office`, the
    buyer's line as `business` beside the mobile, and a `fax` (the line's number ending in 99). The
    buyer's own address and phone stay the first of each kind the staging reads, so that a company
    contact links to its buyer's shop account; the office mailbox is the company's, shared by nobody.
    """
    if not is_company:
        emails = {"private": [email]} if email else {}
        phones = {kind: [number] for kind, number in (("mobile", mobile), ("private", landline)) if number}
        return emails, phones
    emails = {"business": [email]} if email else {}
    folded = company.lower().translate(_GERMAN_LETTERS)
    domain = re.sub(r"[^a-z0-9]+", "-", folded).strip("-") or "firma"
    emails["office"] = [f"rechnungen@{domain}.de"]
    phones = {kind: [number] for kind, number in (("mobile", mobile), ("business", landline)) if number}
    if landline:
        phones["fax"] = [landline[:-2] + "99"]
    return emails, phones


# --------------------------------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------------------------------
ACCOUNTING_MAX_SIZE = 250
ACCOUNTING_DEFAULT_SIZE = 25
_ACCOUNTING_PATH = re.compile(r"v1/(contacts|voucherlist)")
_PAYMENTS_PATH = re.compile(r"v1/payments/([^/]+)")
_ACCOUNTING_RESOURCE = {"contacts": "contacts", "voucherlist": "vouchers"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def record_by_id(store: ResourceStore, record_id: str) -> dict | None:
    """The current version of the record `record_id` of a store with string ids, None if absent."""
    view = store.view().by_id()
    key = record_id.encode()
    pos = int(np.searchsorted(view.ids, key))
    if pos >= len(view) or view.ids[pos] != key:
        return None
    rec = orjson.loads(bytes(view.encoded(np.array([pos]))[0]))
    return rec if isinstance(rec, dict) else None


SALES_VOUCHER_TYPES = ("salesinvoice", "salescreditnote", "invoice", "creditnote", "downpaymentinvoice")


def _readable_voucher(rec) -> bool:
    """A voucher row a client can ask the payment state of: a UUID id and a readable `updatedDate`."""
    if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not _UUID.fullmatch(rec["id"]):
        return False
    if rec.get("voucherType") not in SALES_VOUCHER_TYPES:
        return False
    marker = rec.get("updatedDate")
    try:
        return isinstance(marker, str) and len(marker) >= 19 and datetime.fromisoformat(marker).tzinfo is not None
    except ValueError:
        return False


class AccountingApi:
    """The accounting API: contacts, the voucher list and payments, paged by page and size.

    A mixin of `server.SourceApp`, which routes `/accounting/...` requests here.
    """

    @staticmethod
    def _accounting_param_error(name: str, message: str) -> ApiError:
        return ApiError(400, f"{name} {message}", details=[{"violation": message, "field": name}])

    def _accounting_day(self, params: dict, name: str, next_day: bool = False) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise self._accounting_param_error(name, "must be a date yyyy-MM-dd") from None
        if len(raw) != 10:
            raise self._accounting_param_error(name, "must be a date yyyy-MM-dd")
        if next_day:
            day += timedelta(days=1)
        return to_epoch_us(datetime(day.year, day.month, day.day, tzinfo=BERLIN))

    def _codes(self, store: ResourceStore, column: str, raw: str | None, name: str):
        if raw is None or raw.strip() == "" or "any" in [v.strip() for v in raw.split(",")]:
            return None
        vocab = store.vocab.get(column, {})
        return tuple(sorted({vocab.get(v.strip(), -2) for v in raw.split(",") if v.strip()}))

    def _filtered(self, view, lo: int, hi: int, filters: tuple) -> np.ndarray:
        key = (view.key, view.generation, lo, hi, filters)
        with self._filter_cache_lock:
            hit = self._filter_cache.get(key)
            if hit is not None:
                self._filter_cache.move_to_end(key)
                return hit
        mask = np.ones(max(0, hi - lo), np.bool_)
        for column, codes in filters:
            if codes is not None:
                mask &= np.isin(view.cols[column][lo:hi], np.asarray(codes, np.int16))
        positions = np.flatnonzero(mask) + lo
        with self._filter_cache_lock:
            self._filter_cache[key] = positions
            while len(self._filter_cache) > 16:
                self._filter_cache.popitem(last=False)
        return positions

    def accounting_payments(self, voucher_id: str) -> Response:
        """`GET /v1/payments/{voucherId}`: the payment state of one voucher (there is no payments list)."""
        if not _UUID.fullmatch(voucher_id):
            raise self._accounting_param_error("voucherId", "must be a UUID")
        voucher = record_by_id(self.stores["accounting/vouchers"], voucher_id)
        if voucher is None:
            raise ApiError(404, f"No voucher with id {voucher_id}")
        body = payment_response(voucher, record_by_id(self.stores["accounting/payments"], voucher_id))
        return Response(200, orjson.dumps(body), "application/json; charset=utf-8")

    def accounting_served_payments(self) -> list[dict]:
        """What a complete sync of the payments resource lands now: per sales voucher its payment state
        plus `id` and `updatedDate` (the voucher's), as the connector adds them."""
        view = self.stores["accounting/vouchers"].view()
        out = []
        for line in view.encoded(slice(0, len(view))):
            voucher = orjson.loads(bytes(line))
            if _readable_voucher(voucher):
                body = payment_response(voucher, record_by_id(self.stores["accounting/payments"], voucher["id"]))
                out.append({**body, "id": voucher["id"], "updatedDate": voucher["updatedDate"]})
        return out

    def accounting(self, method: str, rest: str, params: dict) -> Response:
        match = _ACCOUNTING_PATH.fullmatch(rest)
        payments = _PAYMENTS_PATH.fullmatch(rest)
        if not match and not payments:
            raise ApiError(404, "Not Found")
        if method != "GET":
            raise ApiError(405, "Method Not Allowed")
        if payments:
            return self.accounting_payments(payments.group(1))
        endpoint = match.group(1)
        resource = _ACCOUNTING_RESOURCE[endpoint]
        store = self.stores["accounting/" + resource]
        page = _int_param(params, "page", 0, 0, None, self._accounting_param_error)
        size = _int_param(params, "size", ACCOUNTING_DEFAULT_SIZE, 1, ACCOUNTING_MAX_SIZE, self._accounting_param_error)
        view = store.view()
        if endpoint == "contacts":
            lo, hi, positions = 0, len(view), None
        else:
            if (page + 1) * size > ACCOUNTING_WINDOW:
                raise ApiError(400, f"The requested page reaches past result {ACCOUNTING_WINDOW}: narrow the "
                                    f"updatedDate window ((page + 1) * size must be at most {ACCOUNTING_WINDOW})",
                               details=[{"violation": "result window too large", "field": "page"}])
            start_day = self._accounting_day(params, "updatedDateFrom")
            end_day = self._accounting_day(params, "updatedDateTo", next_day=True)
            lo = view.marker_left(start_day) if start_day is not None else 0
            hi = view.marker_left(end_day) if end_day is not None else len(view)
            hi = max(lo, hi)
            positions = None
            if endpoint == "voucherlist":
                raw_type = params.get("voucherType")
                if not raw_type:
                    raise self._accounting_param_error("voucherType", "is required")
                filters = (
                    ("voucherType", self._codes(store, "voucherType", raw_type, "voucherType")),
                    ("voucherStatus", self._codes(store, "voucherStatus", params.get("voucherStatus"), "voucherStatus")),
                )
                if any(codes is not None for _, codes in filters):
                    positions = self._filtered(view, lo, hi, filters)
        total = (hi - lo) if positions is None else len(positions)
        first = page * size
        if positions is None:
            page_positions = slice(lo + min(first, total), lo + min(first + size, total))
        else:
            page_positions = positions[first:first + size]
        records = view.encoded(page_positions)
        total_pages = math.ceil(total / size)
        meta = orjson.dumps({
            "first": page == 0, "last": page >= total_pages - 1, "totalPages": total_pages,
            "totalElements": total, "numberOfElements": len(records), "size": size, "number": page,
        })
        body = b"".join((b'{"content":[', b",".join(records), b"],", meta[1:]))
        return Response(200, body, "application/json; charset=utf-8")
