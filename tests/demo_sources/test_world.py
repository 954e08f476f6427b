"""Behaviour of the demo world generator against the API contract (../shared/SOURCE_APIS.md)."""

from __future__ import annotations

import collections
import datetime as dt
import re
from pathlib import Path

import orjson
import pytest

from demo_sources import names as N
from demo_sources.replay import load_replay, write_replay
from demo_sources.world import RESOURCE_KEYS, DirtRates, generate_world

TODAY = dt.date(2026, 5, 10)
SHOP_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$")
ERP_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
HD_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ACC_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00$")
MONEY = re.compile(r"^-?\d+\.\d\d$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def world():
    return generate_world(1500, 7, TODAY)


@pytest.fixture(scope="module")
def recs(world):
    return {k: list(world.iter_records(k)) for k in RESOURCE_KEYS}


@pytest.fixture(scope="module")
def clean_recs():
    w = generate_world(1500, 7, TODAY, DirtRates.clean())
    return {k: list(w.iter_records(k)) for k in RESOURCE_KEYS}, w.truth()


def cents(x) -> int:
    return round(float(x) * 100)


# ----------------------------------------------------------------------------- shapes
S, I, B, F, L, D, NONE = str, int, bool, float, list, dict, type(None)
NUM = (int, float)
SCHEMA = {
    "shop/customers": {"id": I, "email": (S, NONE), "first_name": (S, NONE), "last_name": (S, NONE), "phone": (S, NONE),
                       "state": S, "guest": B, "verified_email": B, "tags": S, "birthday": (S, NONE),
                       "email_marketing_consent": D, "created_at": S, "updated_at": S, "default_address": (D, NONE)},
    "shop/orders": {"id": I, "name": S, "order_number": I, "email": (S, NONE), "customer": (D, NONE), "created_at": S,
                    "updated_at": S, "cancelled_at": (S, NONE), "test": B, "financial_status": S, "currency": S,
                    "total_price": S, "subtotal_price": S, "total_tax": S, "total_discounts": S, "shipping_price": S,
                    "payment_gateway_names": L, "line_items": L, "refunds": L, "billing_address": (D, NONE),
                    "shipping_address": (D, NONE)},
    "shop/checkouts": {"id": I, "token": S, "email": (S, NONE), "customer": (D, NONE), "created_at": S, "updated_at": S,
                       "completed_at": NONE, "total_price": S, "line_items": L},
    "erp/res.partner": {"id": I, "name": S, "is_company": B, "ref": (S, B), "email": (S, B), "phone": (S, B),
                        "mobile": (S, B), "street": (S, B), "street2": (S, B), "zip": (S, B), "city": (S, B),
                        "country_id": L, "vat": (S, B), "x_birthdate": (S, B), "active": B, "create_date": S,
                        "write_date": S},
    "erp/sale.order": {"id": I, "name": S, "partner_id": L, "client_order_ref": (S, B), "team_id": L, "date_order": S,
                       "state": S, "amount_untaxed": NUM, "amount_tax": NUM, "amount_total": NUM, "write_date": S},
    "erp/sale.order.line": {"id": I, "order_id": L, "product_id": L, "product_uom_qty": F, "qty_delivered": F,
                            "x_qty_returned": F, "price_unit": NUM, "price_subtotal": NUM, "write_date": S},
    "erp/product.product": {"id": I, "default_code": S, "name": S, "categ_id": L, "list_price": NUM,
                            "standard_price": NUM, "write_date": S},
    "erp/account.move": {"id": I, "name": S, "move_type": S, "state": S, "partner_id": L, "invoice_origin": S,
                         "reversed_entry_id": B, "ref": B, "invoice_date": S, "date": S, "currency_id": L,
                         "amount_untaxed": NUM, "amount_tax": NUM, "amount_total": NUM, "payment_state": S,
                         "create_date": S, "write_date": S},
    "erp/account.move.line": {"id": I, "move_id": L, "move_name": S, "move_type": S, "parent_state": S,
                              "display_type": S, "product_id": L, "name": S, "quantity": F, "price_unit": NUM,
                              "discount": F, "price_subtotal": NUM, "price_total": NUM, "currency_id": L,
                              "sale_line_ids": L, "create_date": S, "write_date": S},
    "helpdesk/users": {"id": I, "name": S, "email": (S, NONE), "phone": (S, NONE), "external_id": (S, NONE), "role": S,
                       "active": B, "created_at": S, "updated_at": S},
    "helpdesk/tickets": {"id": I, "requester_id": I, "subject": S, "via": D, "status": S, "created_at": S,
                         "updated_at": S, "solved_at": (S, NONE), "custom_fields": L, "satisfaction_rating": D, "tags": L},
    # NPS answers: rows of the survey tool's export (demo_sources.nps_export), `id` the response id
    "nps/responses": {"id": I, "responded_at": S, "email": S, "customer_reference": (S, NONE), "score": I,
                      "comment": (S, NONE), "survey": S},
    "helpdesk/satisfaction_ratings": {"id": I, "url": S, "assignee_id": (I, NONE), "group_id": (I, NONE),
                                      "requester_id": I, "ticket_id": I, "score": S, "comment": (S, NONE),
                                      "reason": (S, NONE), "created_at": S, "updated_at": S},
    "accounting/contacts": {"id": S, "version": I, "roles": D, "addresses": D, "emailAddresses": D, "phoneNumbers": D,
                            "note": (S, NONE), "archived": B},
    "accounting/vouchers": {"id": S, "voucherType": S, "voucherStatus": S, "voucherNumber": S, "voucherDate": S,
                            "dueDate": S, "createdDate": S, "updatedDate": S, "contactId": (S, NONE), "contactName": S,
                            "totalAmount": NUM, "openAmount": NUM, "currency": S, "archived": B, "remark": S,
                            "dunningLevel": I},
    "accounting/payments": {"id": S, "updatedDate": S, "openAmount": NUM, "currency": S, "paymentStatus": S,
                            "voucherType": S, "voucherStatus": S, "paidDate": S, "paymentItems": list},
}
ENUMS = {
    ("shop/customers", "state"): {"enabled", "disabled", "invited"},
    ("shop/orders", "financial_status"): {"pending", "authorized", "paid", "partially_refunded", "refunded", "voided"},
    ("erp/sale.order", "state"): {"draft", "sale", "done", "cancel"},
    ("erp/account.move", "move_type"): {"out_refund"},
    ("erp/account.move", "state"): {"posted", "cancel"},
    ("erp/account.move.line", "display_type"): {"product"},
    ("helpdesk/tickets", "status"): {"new", "open", "pending", "solved", "closed", "deleted"},
    ("helpdesk/satisfaction_ratings", "score"): {"offered", "good", "bad"},
    # bookkeeping types, then the invoicing module's for the last months
    ("accounting/vouchers", "voucherType"): {"salesinvoice", "salescreditnote", "invoice", "creditnote"},
    ("accounting/vouchers", "voucherStatus"): {"open", "overdue", "paid", "paidoff", "voided"},
    ("accounting/payments", "paymentStatus"): {"balanced", "openRevenue", "openExpense"},
}
TS_FIELDS = {
    "shop/customers": (SHOP_TS, ["created_at", "updated_at"]), "shop/orders": (SHOP_TS, ["created_at", "updated_at"]),
    "shop/checkouts": (SHOP_TS, ["created_at", "updated_at"]), "erp/res.partner": (ERP_TS, ["create_date", "write_date"]),
    "erp/sale.order": (ERP_TS, ["date_order", "write_date"]), "erp/sale.order.line": (ERP_TS, ["write_date"]),
    "erp/product.product": (ERP_TS, ["write_date"]), "erp/account.move": (ERP_TS, ["create_date", "write_date"]),
    "erp/account.move.line": (ERP_TS, ["create_date", "write_date"]), "helpdesk/users": (HD_TS, ["created_at", "updated_at"]),
    "helpdesk/tickets": (HD_TS, ["created_at", "updated_at"]),
    "nps/responses": (HD_TS, ["responded_at"]),
    "helpdesk/satisfaction_ratings": (HD_TS, ["created_at", "updated_at"]),
    "accounting/vouchers": (ACC_TS, ["voucherDate", "dueDate", "createdDate", "updatedDate"]),
    "accounting/payments": (ACC_TS, ["paidDate", "updatedDate"]),
}


def check_shape(key: str, rec: dict) -> None:
    for field, typ in SCHEMA[key].items():
        assert field in rec, (key, field, rec)
        v = rec[field]
        assert isinstance(v, typ) and not (typ in (I, NUM) and isinstance(v, bool)), (key, field, v)
    for (k, field), allowed in ENUMS.items():
        if k == key:
            assert rec[field] in allowed, (key, field, rec[field])
    if key in TS_FIELDS:
        rx, tsf = TS_FIELDS[key]
        for f in tsf:
            assert rx.match(rec[f]), (key, f, rec[f])


def test_every_resource_matches_the_contract_shapes(recs):
    for key in RESOURCE_KEYS:
        assert recs[key], key
        for rec in recs[key]:
            check_shape(key, rec)
        orjson.dumps(recs[key])  # JSON-serialisable
    for o in recs["shop/orders"]:
        for f in ("total_price", "subtotal_price", "total_tax", "total_discounts", "shipping_price"):
            assert MONEY.match(o[f])
        for li in o["line_items"]:
            assert set(li) >= {"id", "sku", "title", "quantity", "price", "product_id"} and MONEY.match(li["price"])
    for p in recs["erp/res.partner"]:
        assert p["country_id"] == [57, "Deutschland"]
        assert None not in p.values()
    for o in recs["erp/sale.order"]:
        assert isinstance(o["partner_id"][0], int) and isinstance(o["partner_id"][1], str)
        assert o["team_id"] in ([1, "Webshop"], [2, "Telefonverkauf"], [3, "Filiale"])
    for c in recs["accounting/contacts"]:
        assert UUID.match(c["id"]) and ("person" in c) != ("company" in c)
    for v in recs["accounting/vouchers"]:
        assert UUID.match(v["id"]) and v["dunningLevel"] in (0, 1, 2, 3)
    for s in recs["nps/responses"]:
        assert 0 <= s["score"] <= 10 and s["email"].strip()
    for r in recs["helpdesk/satisfaction_ratings"]:
        assert r["created_at"] <= r["updated_at"] and r["url"].endswith(f"/satisfaction_ratings/{r['id']}.json")
    for key in ("shop/orders", "accounting/vouchers"):
        for r in recs[key]:
            assert "+01:00" in orjson.dumps(r).decode() or "+02:00" in orjson.dumps(r).decode()


def test_berlin_offsets_are_right_for_the_date(recs):
    from zoneinfo import ZoneInfo
    for c in recs["shop/customers"][:300]:
        t = dt.datetime.fromisoformat(c["created_at"])
        assert t.utcoffset() == t.astimezone(ZoneInfo("Europe/Berlin")).utcoffset()


def test_ids_unique_and_world_spans_two_years(world, recs):
    for key in RESOURCE_KEYS:
        ids = [r["id"] for r in recs[key]]
        assert len(ids) == len(set(ids)) == world.count(key), key
    created = sorted(dt.datetime.fromisoformat(o["created_at"]) for o in recs["shop/orders"])
    assert world.now - created[0] > dt.timedelta(days=600)
    assert world.now - created[-1] < dt.timedelta(days=3)
    assert world.now == dt.datetime(2026, 5, 10, 4, tzinfo=dt.UTC)


def test_determinism():
    a = generate_world(400, 11, TODAY)
    b = generate_world(400, 11, TODAY)
    c = generate_world(400, 12, TODAY)
    for key in RESOURCE_KEYS:
        assert orjson.dumps(list(a.iter_records(key))) == orjson.dumps(list(b.iter_records(key)))
    assert a.truth().equals(b.truth())
    assert orjson.dumps(list(a.iter_records("shop/customers"))) != orjson.dumps(list(c.iter_records("shop/customers")))
    da, db = a.advance_day(), b.advance_day()
    assert orjson.dumps(da) == orjson.dumps(db)


def test_batches_equal_records(world):
    for key in ("shop/orders", "accounting/vouchers"):
        flat = [r for batch in world.iter_record_batches(key, 97) for r in batch]
        assert flat == list(world.iter_records(key))


# ----------------------------------------------------------------------------- links
def test_cross_links_resolve(recs):
    shop_numbers = {o["order_number"] for o in recs["shop/orders"]}
    shop_ids = {c["id"] for c in recs["shop/customers"]}
    erp_names = {o["name"] for o in recs["erp/sale.order"]}
    erp_ids = {o["id"] for o in recs["erp/sale.order"]}
    products = {p["id"] for p in recs["erp/product.product"]}
    partners = {p["id"] for p in recs["erp/res.partner"]}
    refs = {p["ref"] for p in recs["erp/res.partner"] if p["ref"]}
    webshop = [o for o in recs["erp/sale.order"] if o["team_id"][1] == "Webshop"]
    assert len(webshop) > 0.7 * len(recs["erp/sale.order"])
    with_ref = 0
    for o in webshop:
        if o["client_order_ref"]:
            with_ref += 1
            assert int(re.search(r"(\d+)$", o["client_order_ref"]).group(1)) in shop_numbers
    assert with_ref > 0.9 * len(webshop)
    assert {f[:2] for f in (o["client_order_ref"] for o in webshop if o["client_order_ref"])} >= {"#1", "Sh"}
    # every non-test shop order is mirrored once
    mirrored = collections.Counter(int(re.search(r"(\d+)$", o["client_order_ref"]).group(1))
                                   for o in webshop if o["client_order_ref"])
    assert max(mirrored.values()) == 1
    assert all(o["partner_id"][0] in partners for o in recs["erp/sale.order"])
    for o in recs["shop/orders"]:
        assert o["customer"] is None or o["customer"]["id"] in shop_ids
        assert all(li["product_id"] in products for li in o["line_items"])
    for k in recs["shop/checkouts"]:
        assert k["customer"] is None or k["customer"]["id"] in shop_ids
        assert all(li["product_id"] in products for li in k["line_items"])
    for ln in recs["erp/sale.order.line"]:
        assert ln["order_id"][0] in erp_ids and ln["order_id"][1] in erp_names and ln["product_id"][0] in products
    tags = [t for c in recs["shop/customers"] for t in c["tags"].split(", ") if t.startswith("erp:")]
    assert tags and all(t[4:] in refs for t in tags)
    ext = [u["external_id"] for u in recs["helpdesk/users"] if u["external_id"]]
    assert ext and all(int(e) in shop_ids for e in ext)
    notes = [c["note"] for c in recs["accounting/contacts"] if c["note"]]
    assert notes and all(n.startswith("ERP ") and n[4:] in refs for n in notes)
    users = {u["id"] for u in recs["helpdesk/users"]}
    tickets = {t["id"] for t in recs["helpdesk/tickets"]}
    assert all(t["requester_id"] in users for t in recs["helpdesk/tickets"])
    references = [s["customer_reference"] for s in recs["nps/responses"] if s["customer_reference"]]
    assert references and all(int(r) in shop_ids for r in references)
    assert all(r["requester_id"] in users and r["ticket_id"] in tickets for r in recs["helpdesk/satisfaction_ratings"])
    cf = [t["custom_fields"][0]["value"] for t in recs["helpdesk/tickets"] if t["custom_fields"][0]["value"]]
    assert cf and all(int(re.search(r"#?(\d{4,})", v).group(1)) in shop_numbers for v in cf)
    contacts = {c["id"] for c in recs["accounting/contacts"]}
    vouchers = {v["id"]: v for v in recs["accounting/vouchers"]}
    for v in vouchers.values():
        assert v["contactId"] is None or v["contactId"] in contacts
        assert (v["contactId"] is None) == (v["contactName"] == "Sammelkunde")
        m = re.search(r"\b(S\d{5,})\b", v["remark"])
        if m:
            assert m.group(1) in erp_names
        else:
            assert int(re.search(r"(\d+)$", v["remark"]).group(1)) in shop_numbers
    assert sum(v["contactId"] is None for v in vouchers.values()) > 0.2 * len(vouchers)
    for p in recs["accounting/payments"]:  # one payment state per paid voucher, id = the voucher id
        assert p["id"] in vouchers and p["voucherType"] == vouchers[p["id"]]["voucherType"]
        assert cents(sum(i["amount"] for i in p["paymentItems"])) == cents(vouchers[p["id"]]["totalAmount"])


# ----------------------------------------------------------------------------- money
def test_monetary_consistency(recs):
    products = {p["id"]: p for p in recs["erp/product.product"]}
    assert all(p["standard_price"] < p["list_price"] for p in products.values())
    erp_by_ref = {}
    for o in recs["erp/sale.order"]:
        assert cents(o["amount_total"]) == cents(o["amount_untaxed"]) + cents(o["amount_tax"])
        if o["client_order_ref"]:
            erp_by_ref[int(re.search(r"(\d+)$", o["client_order_ref"]).group(1))] = o
    lines = collections.defaultdict(list)
    for ln in recs["erp/sale.order.line"]:
        lines[ln["order_id"][0]].append(ln)
        gross = cents(ln["price_unit"]) * ln["product_uom_qty"]
        net = cents(ln["price_subtotal"])
        assert min(abs(net - gross / 1.19), abs(net - gross / 1.07)) <= 0.5 + 1e-9
        assert 0 <= ln["x_qty_returned"] <= ln["qty_delivered"] <= ln["product_uom_qty"] or ln["x_qty_returned"] == 0
    for o in recs["erp/sale.order"]:
        ls = lines[o["id"]]
        assert cents(o["amount_untaxed"]) == sum(cents(x["price_subtotal"]) for x in ls)
        assert cents(o["amount_total"]) == sum(round(cents(x["price_unit"]) * x["product_uom_qty"]) for x in ls)
    n_refunds = 0
    for o in recs["shop/orders"]:
        items = sum(cents(li["price"]) * li["quantity"] for li in o["line_items"])
        assert cents(o["subtotal_price"]) == items - cents(o["total_discounts"])
        assert cents(o["total_price"]) == cents(o["subtotal_price"]) + cents(o["shipping_price"])
        assert 0 < cents(o["total_tax"]) < cents(o["total_price"]) * 0.2
        for rf in o["refunds"]:
            n_refunds += 1
            assert cents(rf["transactions"][0]["amount"]) == sum(cents(x["subtotal"]) for x in rf["refund_line_items"])
        if o["order_number"] in erp_by_ref:
            e = erp_by_ref[o["order_number"]]
            assert cents(e["amount_total"]) == cents(o["total_price"])
            assert cents(e["amount_tax"]) == cents(o["total_tax"])
            returned = collections.Counter()
            for rf in o["refunds"]:
                for x in rf["refund_line_items"]:
                    sku = next(li["sku"] for li in o["line_items"] if li["id"] == x["line_item_id"])
                    returned[sku] += x["quantity"]
            erp_ret = collections.Counter()
            for ln in lines[e["id"]]:
                erp_ret[ln["product_id"][1].split("]")[0][1:]] += ln["x_qty_returned"]
            assert +returned == +erp_ret
        if o["cancelled_at"]:
            assert o["financial_status"] == "voided"
    assert n_refunds > 0
    statuses = collections.Counter()
    for v in recs["accounting/vouchers"]:
        statuses[v["voucherStatus"]] += 1
        if v["voucherStatus"] in ("open", "overdue"):
            assert v["openAmount"] == v["totalAmount"]
        else:
            assert v["openAmount"] == 0
        assert v["dunningLevel"] == 0 or v["voucherStatus"] == "overdue"
        if v["voucherType"] in ("salescreditnote", "creditnote"):
            assert v["voucherStatus"] == "paidoff"
    assert {"open", "overdue", "paid", "paidoff"} <= set(statuses)
    assert any(v["dunningLevel"] >= 2 for v in recs["accounting/vouchers"])
    # payment delays depend on the method: invoices slow, PayPal / card fast
    vdate = {v["id"]: dt.datetime.fromisoformat(v["createdDate"]) for v in recs["accounting/vouchers"]}
    delays = collections.defaultdict(list)
    for p in recs["accounting/payments"]:
        for item in p["paymentItems"]:
            delays[item["paymentItemType"]].append((dt.datetime.fromisoformat(p["paidDate"]) - vdate[p["id"]]).days)
    med = {k: sorted(v)[len(v) // 2] for k, v in delays.items()}
    # bank transfers and direct debits are matched transactions (slow), PayPal / card booked by hand (fast)
    assert med["partPaymentFinancialTransaction"] > med["manualPayment"] and med["manualPayment"] <= 1


# ----------------------------------------------------------------------------- truth
def customer_keys(recs):
    return {("shop", str(r["id"])) for r in recs["shop/customers"]} | \
           {("erp", str(r["id"])) for r in recs["erp/res.partner"]} | \
           {("helpdesk", str(r["id"])) for r in recs["helpdesk/users"]} | \
           {("accounting", str(r["id"])) for r in recs["accounting/contacts"]}


def test_truth_covers_exactly_every_customer_record(world, recs):
    t = world.truth()
    assert list(t.columns) == ["source_system", "source_record_id", "person_id"]
    keys = list(zip(t.source_system, t.source_record_id))
    assert len(keys) == len(set(keys))
    assert set(keys) == customer_keys(recs)
    n = len(t)
    assert 2.0 * 1500 < n < 2.8 * 1500
    per_system = t.groupby("source_system").person_id.nunique() / 1500
    assert 0.75 < per_system["shop"] <= 0.9 and 0.5 < per_system["erp"] < 0.75
    assert 0.2 < per_system["helpdesk"] < 0.4 and 0.3 < per_system["accounting"] < 0.5


def _person_of(truth):
    return {(s, i): p for s, i, p in zip(truth.source_system, truth.source_record_id, truth.person_id)}


def test_households_are_different_persons(world, recs):
    person = _person_of(world.truth())
    groups = collections.defaultdict(set)
    for p in recs["erp/res.partner"]:
        if p["phone"] and p["street"]:
            digits = re.sub(r"\D", "", p["phone"])[-7:]
            groups[(digits, p["zip"], re.sub(r"(?i)str(\.|asse|aße)", "straße", p["street"]))].add(person[("erp", str(p["id"]))])
    shared = [g for g in groups.values() if len(g) > 1]
    assert len(shared) >= 5
    emails = collections.defaultdict(set)
    for c in recs["shop/customers"]:
        if c["email"]:
            emails[c["email"].strip().lower()].add(person[("shop", str(c["id"]))])
    assert any(len(g) > 1 for g in emails.values())


# ----------------------------------------------------------------------------- dirt
VALID_LAST = set(N.LAST)
TRANSLIT_ONLY = {n.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")
                 for n in N.LAST} - VALID_LAST
VALID_FIRST = set(N.FIRST_FEMALE) | set(N.FIRST_MALE)


def dirt_signals(recs, truth) -> dict[str, int]:
    person = _person_of(truth)
    sc = recs["shop/customers"]
    emails = [c["email"] for c in sc if c["email"]]
    out = {
        "guest_duplicates": sum(c["guest"] for c in sc),
        "email_case": sum(e.strip() != e.strip().lower() for e in emails),
        "email_whitespace": sum(e != e.strip() for e in emails),
        "umlaut_transliteration": sum(c["last_name"] in TRANSLIT_ONLY for c in sc),
        "initials_only": sum(bool(re.fullmatch(r"[A-ZÄÖÜ]\.", c["first_name"] or "")) for c in sc)
        + sum(bool(re.match(r"^[A-ZÄÖÜ]\. ", u["name"])) for u in recs["helpdesk/users"]),
        "street_variants": sum(bool(re.search(r"(?i)str\.|strasse", p["street"] or ""))
                               for p in recs["erp/res.partner"]),
        "phone_formats": sum(bool(re.match(r"^(0049|\(0|0\d+[/-])|^\+49 \(", c["phone"] or "")) for c in sc),
        "missing_fields": sum(c["email"] is None or c["default_address"] is None for c in sc),
        "companies": sum(p["is_company"] for p in recs["erp/res.partner"]),
        "soft_deletes": min(sum(c["state"] == "disabled" for c in sc),
                            sum(not p["active"] for p in recs["erp/res.partner"]),
                            sum(t["status"] == "deleted" for t in recs["helpdesk/tickets"]),
                            sum(not u["active"] for u in recs["helpdesk/users"]),
                            sum(c["archived"] for c in recs["accounting/contacts"])),
        "updated_again": sum(dt.datetime.fromisoformat(c["updated_at"]) - dt.datetime.fromisoformat(c["created_at"])
                             > dt.timedelta(minutes=1) for c in sc),
        "same_timestamp_clusters": max(collections.Counter(c["updated_at"] for c in sc).values()),
    }
    typo = other_mail = moved = renamed = 0
    by_person = collections.defaultdict(list)
    for c in sc:
        by_person[person[("shop", str(c["id"]))]].append(c)
        if c["last_name"] not in VALID_LAST | TRANSLIT_ONLY or (
                len(c["first_name"] or "") > 2 and c["first_name"].replace("ae", "ä").replace("ue", "ü").replace("oe", "ö")
                not in VALID_FIRST and c["first_name"] not in VALID_FIRST):
            typo += 1
    for cs in by_person.values():
        mails = {c["email"].strip().lower() for c in cs if c["email"]}
        other_mail += len(mails) > 1
        zips = {c["default_address"]["zip"] for c in cs if c["default_address"]}
        moved += len(zips) > 1
        lasts = {c["last_name"] for c in cs if c["last_name"] in VALID_LAST}
        renamed += len(lasts) > 1
    # persons across systems: another mailbox / another address / another name in ERP than in the shop
    shop_view = {person[("shop", str(c["id"]))]: c for c in sc if not c["guest"]}
    for p in recs["erp/res.partner"]:
        c = shop_view.get(person[("erp", str(p["id"]))])
        if not c or p["is_company"]:
            continue
        if p["email"] and c["email"] and p["email"].strip().lower() != c["email"].strip().lower():
            other_mail += 1
        if p["zip"] and c["default_address"] and p["zip"] != c["default_address"]["zip"]:
            moved += 1
        last = p["name"].split(" ")[-1]
        if last in VALID_LAST and c["last_name"] in VALID_LAST and last != c["last_name"]:
            renamed += 1
    out.update(name_typos=typo, email_other_mailbox=other_mail, moved_addresses=moved, changed_last_names=renamed)
    pairs = collections.defaultdict(set)
    for p in recs["erp/res.partner"]:
        if p["phone"] and p["street"]:
            pairs[(re.sub(r"\D", "", p["phone"])[-6:], p["zip"], p["street"].lower()[:6])].add(person[("erp", str(p["id"]))])
    out["households"] = sum(len(g) > 1 for g in pairs.values())
    return out


def test_every_dirt_kind_present_at_default_and_absent_at_zero(world, recs, clean_recs):
    dirty = dirt_signals(recs, world.truth())
    clean = dirt_signals(*clean_recs)
    kinds = {f for f in DirtRates.__dataclass_fields__}
    assert kinds <= set(dirty), kinds - set(dirty)
    for kind in kinds:
        if kind == "same_timestamp_clusters":
            assert dirty[kind] > 250 and clean[kind] < 5, (kind, dirty[kind], clean[kind])
        else:
            assert dirty[kind] > 0, kind
            assert clean[kind] == 0, (kind, clean[kind])


def test_dirt_scaled():
    d = DirtRates().scaled(100)
    assert all(getattr(d, f) == 1.0 for f in DirtRates.__dataclass_fields__)
    assert DirtRates().scaled(0.5).name_typos == pytest.approx(DirtRates().name_typos / 2)


def test_bulk_import_clusters_straddle_pages():
    w = generate_world(2500, 3, TODAY)
    users = collections.Counter(u["updated_at"] for u in w.iter_records("helpdesk/users"))
    partners = collections.Counter(p["write_date"] for p in w.iter_records("erp/res.partner"))
    vouchers = collections.Counter(v["updatedDate"] for v in w.iter_records("accounting/vouchers"))
    customers = collections.Counter(c["updated_at"] for c in w.iter_records("shop/customers"))
    assert max(customers.values()) > 600
    assert max(partners.values()) > 500
    assert max(vouchers.values()) > 250
    assert max(users.values()) > 0.5 * w.count("helpdesk/users")


def test_some_helpdesk_records_are_within_the_last_minute(world, recs):
    for key in ("helpdesk/tickets", "helpdesk/users"):
        recent = [r for r in recs[key] if world.now - dt.datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00"))
                  < dt.timedelta(seconds=60)]
        assert recent, key
    for key in RESOURCE_KEYS:
        rx_field = TS_FIELDS.get(key)
        if not rx_field:
            continue
        for r in recs[key]:
            f = rx_field[1][-1]
            v = r[f]
            t = dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC) if key.startswith("erp") else \
                dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            assert t < world.now, (key, v)


# ----------------------------------------------------------------------------- advance_day
def parse_marker(key: str, rec: dict) -> dt.datetime | None:
    system = key.split("/")[0]
    if key == "accounting/contacts":
        return None
    v = rec[{"shop": "updated_at", "erp": "write_date", "helpdesk": "updated_at", "accounting": "updatedDate",
             "nps": "responded_at"}[system]]
    if system == "erp":
        return dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))


def test_advance_day_changes_inside_the_new_day():
    w = generate_world(300, 5, TODAY)
    before = {k: {r["id"]: r for r in w.iter_records(k)} for k in RESOURCE_KEYS}
    truth_before = len(w.truth())
    for day in range(2):
        start = w.now
        changes = w.advance_day()
        assert w.now == start + dt.timedelta(days=1)
        for key in RESOURCE_KEYS:
            assert changes[key], (day, key)  # a 300-person world still changes every resource
            for rec in changes[key]:
                check_shape(key, rec)
                m = parse_marker(key, rec)
                if m is not None:
                    assert start < m <= w.now, (key, rec)
        contacts_before = before["accounting/contacts"]
        for rec in changes["accounting/contacts"]:
            assert rec["version"] > contacts_before[rec["id"]]["version"]
        current = {k: {r["id"]: r for r in w.iter_records(k)} for k in RESOURCE_KEYS}
        for key in RESOURCE_KEYS:
            for rec in changes[key]:
                assert current[key][rec["id"]] == rec
            assert w.count(key) == len(current[key])
        before = current
    t = w.truth()
    assert len(t) > truth_before
    assert set(zip(t.source_system, t.source_record_id)) == customer_keys({k: list(v.values()) for k, v in before.items()})


# ----------------------------------------------------------------------------- replay
def test_replay_round_trip(tmp_path: Path):
    w = generate_world(400, 9, TODAY)
    w.advance_day()
    counts = write_replay(w, tmp_path)
    assert (tmp_path / "truth" / "identity.csv").exists()
    for key in RESOURCE_KEYS:
        assert (tmp_path / f"{key}.jsonl").exists()
        assert counts[key] == w.count(key)
    rw = load_replay(tmp_path)
    for key in RESOURCE_KEYS:
        assert list(rw.iter_records(key)) == list(w.iter_records(key))
        assert rw.count(key) == w.count(key)
    assert rw.truth().sort_values(list(rw.truth().columns)).reset_index(drop=True).equals(
        w.truth().sort_values(list(w.truth().columns)).reset_index(drop=True))
    assert rw.now >= w.now
    with pytest.raises(NotImplementedError):
        rw.advance_day()
    again = tmp_path / "again"
    write_replay(rw, again)
    for key in RESOURCE_KEYS:
        assert (again / f"{key}.jsonl").read_bytes() == (tmp_path / f"{key}.jsonl").read_bytes()
    line = (tmp_path / "shop" / "customers.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert "\\u" not in line and not line.startswith(" ")


def test_a_replay_of_the_earlier_layout_turns_its_survey_responses_into_ratings_and_nps_rows(tmp_path: Path):
    """`helpdesk/survey_responses.jsonl` (CSAT and NPS answers of an export Zendesk does not have) is never
    served: CSAT rows become satisfaction ratings, NPS rows rows of the survey export, named by their user's
    e-mail and external id; an NPS row of an unknown user is dropped."""
    (tmp_path / "helpdesk").mkdir()
    (tmp_path / "helpdesk" / "users.jsonl").write_text(
        '{"id": 11, "email": "a@b.de", "external_id": "7000000001", "updated_at": "2026-01-01T00:00:00Z"}\n')
    (tmp_path / "helpdesk" / "survey_responses.jsonl").write_text(
        '{"id": 1, "type": "csat", "score": 5, "ticket_id": 3, "user_id": 11, "comment": null, '
        '"created_at": "2026-01-02T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"}\n'
        '{"id": 2, "type": "nps", "score": 9, "ticket_id": null, "user_id": 11, "comment": "gut", '
        '"created_at": "2026-01-03T00:00:00Z", "updated_at": "2026-01-03T00:00:00Z"}\n'
        '{"id": 3, "type": "nps", "score": 2, "ticket_id": null, "user_id": 99, "comment": null, '
        '"created_at": "2026-01-04T00:00:00Z", "updated_at": "2026-01-04T00:00:00Z"}\n')
    rw = load_replay(tmp_path)
    assert [(r["id"], r["score"]) for r in rw.iter_records("helpdesk/satisfaction_ratings")] == [(1, "good")]
    assert list(rw.iter_records("nps/responses")) == [{
        "id": 2, "responded_at": "2026-01-03T00:00:00Z", "email": "a@b.de", "customer_reference": "7000000001",
        "score": 9, "comment": "gut", "survey": "NPS Kundenbefragung"}]


def test_replay_keeps_nonconforming_json_and_rejects_broken_lines(tmp_path: Path):
    (tmp_path / "shop").mkdir()
    p = tmp_path / "shop" / "customers.jsonl"
    p.write_text('{"id": 1, "updated_at": "2030-01-01T10:00:00+01:00"}\n{"id": "x"}\n[1, 2]\n', encoding="utf-8")
    rw = load_replay(tmp_path)
    assert list(rw.iter_records("shop/customers")) == [{"id": 1, "updated_at": "2030-01-01T10:00:00+01:00"},
                                                       {"id": "x"}, [1, 2]]
    assert rw.now >= dt.datetime(2030, 1, 1, 9, 1, 1, tzinfo=dt.UTC)
    assert rw.count("shop/orders") == 0 and list(rw.truth().columns) == ["source_system", "source_record_id", "person_id"]
    p.write_text('{"id": 1}\n{"id": 2,\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"customers\.jsonl.*line 2"):
        load_replay(tmp_path)


def test_advance_day_never_changes_a_record_silently():
    """Every record that differs after a day carries a new change marker and is reported as changed."""
    from connectors import ALL_RESOURCES

    world = generate_world(500, 7, today=dt.date(2026, 11, 20))
    held = [spec for spec in ALL_RESOURCES if spec.key in world.resource_keys]
    before = {spec.key: {str(r.get("id")): r for r in world.iter_records(spec.key)} for spec in held}
    changes = world.advance_day()
    for spec in held:
        after = {str(r.get("id")): r for r in world.iter_records(spec.key)}
        reported = {str(r.get("id")) for r in changes[spec.key]}
        changed = {i for i, record in after.items() if before[spec.key].get(i) != record}
        assert changed == reported, spec.key
        for i in changed & set(before[spec.key]):
            assert spec.record_version(after[i]) > spec.record_version(before[spec.key][i]), (spec.key, i)


def test_a_mass_update_stays_within_what_the_voucher_list_can_page_through():
    """At 1M persons 2 % of the vouchers would share one day: more than the list API can ever serve."""
    import numpy as np

    from demo_sources.world import ACCOUNTING_WINDOW, _cluster

    rng = np.random.default_rng(5)
    n = 1_400_000
    created = np.sort(rng.integers(0, 700 * 86_400, n))
    updated = created + rng.integers(0, 86_400, n)
    _, bulk = _cluster(rng, created, updated, 300, 0.02, 800 * 86_400)
    assert bulk.sum() > ACCOUNTING_WINDOW  # what the cap is for
    _, capped = _cluster(rng, created, updated, 300, 0.02, 800 * 86_400, max_size=ACCOUNTING_WINDOW // 2)
    assert 300 <= capped.sum() <= ACCOUNTING_WINDOW // 2


def test_a_default_world_is_never_ahead_of_the_real_clock():
    """A world generated without a day ends at the last 04:00 UTC that has passed: its newest change
    markers are never in the future, which the landing would report as a bad source clock."""
    import datetime as dt

    before = dt.datetime.now(dt.UTC)
    world = generate_world(20, 1)
    assert world.now <= before
    assert before - world.now < dt.timedelta(days=1)


def test_credit_notes_refund_exactly_the_returned_units(recs):
    """Every return is one posted customer credit note of its order: its product lines credit the returned
    units of the order lines they name (the same units the install's custom field holds); a cancelled
    credit note credits nothing; a credit note's totals are its lines'."""
    orders = {o["id"]: o["name"] for o in recs["erp/sale.order"]}
    order_lines = {ln["id"]: ln for ln in recs["erp/sale.order.line"]}
    moves = {m["id"]: m for m in recs["erp/account.move"]}
    credited = collections.Counter()
    per_move = collections.defaultdict(list)
    for ln in recs["erp/account.move.line"]:
        move = moves[ln["move_id"][0]]
        per_move[move["id"]].append(ln)
        (sol,) = ln["sale_line_ids"]
        assert ln["parent_state"] == move["state"] and ln["move_name"] == move["name"]
        assert move["invoice_origin"] == orders[order_lines[sol]["order_id"][0]]
        assert ln["product_id"] == order_lines[sol]["product_id"]
        if move["state"] == "posted":
            credited[sol] += ln["quantity"]
    assert credited == collections.Counter({i: ln["x_qty_returned"] for i, ln in order_lines.items()
                                            if ln["x_qty_returned"]})
    assert {m["state"] for m in moves.values()} == {"posted", "cancel"}
    for mid, move in moves.items():
        assert cents(move["amount_total"]) == sum(cents(x["price_total"]) for x in per_move[mid])
        assert cents(move["amount_untaxed"]) == sum(cents(x["price_subtotal"]) for x in per_move[mid])


def test_accounting_companies_have_several_mailboxes_and_phones_the_buyers_first(world, recs):
    """As companies are kept in Lexware Office: the buyer's address (`business`) beside the company's
    accounts-payable mailbox (`office`), the buyer's line beside a fax; persons have private ones. The
    buyer's own address is the one their other records carry (the one identity links by)."""
    person = _person_of(world.truth())
    emails_of_person = collections.defaultdict(set)
    for key, field in (("shop/customers", "email"), ("erp/res.partner", "email"), ("helpdesk/users", "email")):
        for r in recs[key]:
            if isinstance(r.get(field), str):
                emails_of_person[person[(key.split("/")[0], str(r["id"]))]].add(r[field].strip().lower())
    companies = [c for c in recs["accounting/contacts"] if "company" in c]
    persons = [c for c in recs["accounting/contacts"] if "person" in c]
    assert len(companies) >= 20 and persons
    offices = [c["emailAddresses"]["office"] for c in companies]
    assert all(len(o) == 1 and re.fullmatch(r"rechnungen@[a-z0-9-]+\.de", o[0]) for o in offices)
    assert all(set(c["emailAddresses"]) <= {"private"} and set(c["phoneNumbers"]) <= {"mobile", "private"}
               for c in persons)
    with_line = [c for c in companies if "business" in c["phoneNumbers"]]
    assert with_line and all(c["phoneNumbers"]["fax"] == [c["phoneNumbers"]["business"][0][:-2] + "99"]
                             for c in with_line)
    buyers = [c for c in companies if c["emailAddresses"].get("business")]
    known = [c for c in buyers if emails_of_person[person[("accounting", c["id"])]]]
    assert len(known) >= 10
    same = sum(c["emailAddresses"]["business"][0].strip().lower() in emails_of_person[person[("accounting", c["id"])]]
               for c in known)
    assert same / len(known) > 0.7
