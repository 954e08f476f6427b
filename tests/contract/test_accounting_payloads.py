"""Lexware Office's published sample payloads through connector -> raw landing -> dbt staging.

A tiny HTTP server answers `/v1/contacts`, `/v1/voucherlist` and `/v1/payments/{voucherId}` with the
vendor's documentation samples (tests/contract/payloads/accounting/, sources in its README): the
contacts page (one contact archived) plus the company contact with every e-mail and phone kind, the
voucherlist page (filtered by `voucherType` as the API does) and, per voucher, one of the documented
payment-state bodies. Every real record must reach staging with names, e-mails, phones, addresses,
amounts, currency and dates intact.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from c360.settings import SourceCredentials
from connectors.accounting import AccountingClient
from tests.contract.conftest import VendorHandler, land_and_stage, load_payload, serving

CREDS = SourceCredentials.from_env()


def load(name: str):
    return load_payload("accounting", name)


CONTACTS = load("contacts_page_with_archived.json")["content"] + [load("contact_company_customer_vendor.json")]
VOUCHER_PAGE = load("voucherlist_page.json")
PAYMENT_BODIES = [load("payments_retrieve_salesinvoice.json")] + load("payments_samples.json")


def page(content: list, number: int = 0) -> dict:
    return {"content": content, "first": number == 0, "last": True, "totalPages": 1, "totalElements": len(content),
            "numberOfElements": len(content), "size": 250, "number": number, "sort": []}


class Vendor(VendorHandler):
    """The three endpoints, answering with the published samples."""

    payments: dict[str, dict] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") != f"Bearer {CREDS.accounting_api_key}":
            return self.send_json(401, {"status": 401, "error": "Unauthorized", "message": "Unauthorized"})
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/v1/contacts":
            return self.send_json(200, page(CONTACTS if query.get("page", ["0"])[0] == "0" else []))
        if url.path == "/v1/voucherlist":
            types = set(query["voucherType"][0].split(","))
            return self.send_json(200, page([v for v in VOUCHER_PAGE["content"] if v["voucherType"] in types]))
        if url.path.startswith("/v1/payments/") and url.path[len("/v1/payments/"):] in self.payments:
            return self.send_json(200, self.payments[url.path[len("/v1/payments/"):]])
        return self.send_json(404, {"status": 404, "error": "Not Found", "message": "Not Found"})


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    sales = [v for v in VOUCHER_PAGE["content"] if v["voucherType"] != "purchaseinvoice"]
    Vendor.payments = {v["id"]: PAYMENT_BODIES[i % len(PAYMENT_BODIES)] for i, v in enumerate(sales)}
    path = tmp_path_factory.mktemp("contract") / "warehouse.duckdb"
    with serving(Vendor) as url:
        stats, results = land_and_stage(path, AccountingClient(url, CREDS, max_rps=0),
                                        ("contacts", "vouchers", "payments"), "accounting")
    con = duckdb.connect(str(path), read_only=True)
    yield con, stats, sales, results
    con.close()


def rows(con, model: str) -> list[dict]:
    df = con.execute(f"select * from staging.{model}").df()
    return df.to_dict("records")


def test_every_published_record_lands_and_nothing_is_quarantined(staged):
    con, stats, sales, results = staged
    assert {r["status"] for r in results["results"]} <= {"pass", "success"}, results["results"]
    assert stats["contacts"].new == len(CONTACTS) == 3
    assert stats["vouchers"].new == len(sales) == 2  # the purchase invoice is not asked for
    assert stats["payments"].new == len(sales)
    assert all(s.quarantined == 0 for s in stats.values())


def test_contacts_keep_names_emails_phones_addresses_and_archived(staged):
    con = staged[0]
    by_id = {r["contact_id"]: r for r in rows(con, "stg_accounting__contacts")}
    assert by_id.keys() == {c["id"] for c in CONTACTS}
    for contact in CONTACTS:
        row = by_id[contact["id"]]
        assert bool(row["is_archived"]) == contact["archived"]
        if "person" in contact:
            assert row["contact_type"] == "person" and row["last_name"] == contact["person"]["lastName"]
        else:
            assert row["contact_type"] == "company" and row["company_name"] == contact["company"]["name"]
    company = by_id["be9475f4-ef80-442b-8ab9-3ab8b1a2aeb9"]
    assert company["email"] == "private@lexware.de"  # the private address first, one of four kinds
    assert company["street"] == "Hauptstr. 5" and company["zip"] == "12345" and company["city"] == "Musterort"
    assert company["country_code"] == "DE" and company["phone"] is not None


def test_vouchers_keep_types_amounts_currency_and_german_days(staged):
    con, _, sales, _ = staged
    by_id = {r["voucher_id"]: r for r in rows(con, "stg_accounting__vouchers")}
    assert by_id.keys() == {v["id"] for v in sales}
    for v in sales:
        row = by_id[v["id"]]
        assert row["voucher_type"] == v["voucherType"] and row["voucher_status"] == v["voucherStatus"]
        assert row["voucher_number"] == v["voucherNumber"] and row["currency"] == v["currency"]
        assert Decimal(str(row["total_amount"])) == Decimal(str(v["totalAmount"]))
        assert Decimal(str(row["open_amount"])) == Decimal(str(v["openAmount"]))
        assert row["contact_id"] == v["contactId"] and row["contact_name"] == v["contactName"]
        assert row["voucher_day"].date() == date.fromisoformat(v["voucherDate"][:10])  # the German calendar day
        assert row["due_day"].date() == date.fromisoformat(v["dueDate"][:10])
        assert not row["is_archived"]


def test_payment_states_unnest_into_their_payment_items(staged):
    con, _, sales, _ = staged
    got = sorted((r["voucher_id"], r["payment_id"], Decimal(str(r["amount"])), r["payment_item_type"], r["currency"],
                  r["paid_at"].date() if r["paid_at"] is not None else None) for r in rows(con, "stg_accounting__payments"))
    want = []
    for v in sales:
        for n, item in enumerate(Vendor.payments[v["id"]]["paymentItems"]):
            want.append((v["id"], f"{v['id']}/{n}", Decimal(str(item["amount"])), item["paymentItemType"],
                         item["currency"], None))
    assert [g[:5] for g in got] == sorted(w[:5] for w in want) and got
    states = {r["voucher_id"]: r for r in rows(con, "stg_accounting__payments")}
    for v in sales:
        body = Vendor.payments[v["id"]]
        if body["paymentItems"]:
            assert Decimal(str(states[v["id"]]["voucher_open_amount"])) == Decimal(str(body["openAmount"]))
            assert states[v["id"]]["payment_status"] == body["paymentStatus"]
