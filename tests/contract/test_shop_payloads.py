"""Shopify's published sample payloads through the real path: demo server -> connector -> raw landing -> dbt staging.

The payloads (tests/contract/payloads/shop/, sources in payloads/README.md) are REST-shaped, as
Shopify's REST API, webhooks and exports write them. They are written as a replay directory; the demo
server serves them through the GraphQL Admin API as nodes (its REST -> GraphQL conversion), the
connector reads them with GraphQL queries, the landing stores the nodes, staging reads them. The only
composition: the refund (`GET /orders/{id}/refunds/{id}.json`) and the transactions
(`GET /orders/{id}/transactions.json`) of order 450789469 are nested into that order, as the GraphQL
`Order` node nests `refunds` and `transactions`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest

from connectors import ALL_RESOURCES
from c360.quality.runner import validate
from c360.quality.suites import get_suite
from c360.raw_store import ensure_raw_schema, land_resource
from tests.conftest import clients, serving
from tests.dbt.test_staging import build_staging_models

PAYLOADS = Path(__file__).parent / "payloads" / "shop"
SHOP_SPECS = [spec for spec in ALL_RESOURCES if spec.system == "shop"]


def _load(name: str):
    return orjson.loads((PAYLOADS / name).read_bytes())


def published_records() -> dict[str, list[dict]]:
    order = dict(_load("order_rest_usd_disabled_customer.json")["order"])
    refund = _load("refund_rest_with_line_items.json")["refund"]
    transactions = _load("transactions_rest_list.json")
    assert refund["order_id"] == order["id"] and {t["order_id"] for t in transactions} == {order["id"]}
    order["refunds"] = [refund]
    order["transactions"] = transactions
    checkouts = {c["id"]: c for c in [_load("abandoned_checkout_rest.json")["checkout"],
                                      *_load("checkouts_rest_list.json")["checkouts"]]}
    return {"shop/customers": [_load("customer_rest_state_disabled.json")["customer"]],
            "shop/orders": [order], "shop/checkouts": list(checkouts.values())}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """(staging connection, the published records by resource, landing stats, raw gate results)."""
    from demo_sources.replay import load_replay

    tmp = tmp_path_factory.mktemp("shop_contract")
    records = published_records()
    for key, recs in records.items():
        path = tmp / "replay" / f"{key}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    warehouse = tmp / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con, serving(load_replay(tmp / "replay")) as server:
        ensure_raw_schema(con, list(ALL_RESOURCES))
        with clients(server) as by_system:
            stats = {spec.key: land_resource(con, by_system["shop"], spec.name) for spec in SHOP_SPECS}
        gates = {name: validate(con.execute(get_suite(name).query).df(), get_suite(name))
                 for name in ("raw_shop_customers", "raw_shop_orders")}
    run_results = build_staging_models(warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        yield con, records, stats, gates, run_results
    finally:
        con.close()


def rows(con, model: str) -> list[dict]:
    cur = con.execute(f"select * from staging.{model}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_every_published_record_lands_and_nothing_is_quarantined(pipeline):
    _, records, stats, _, run_results = pipeline
    for key, recs in records.items():
        assert stats[key].quarantined == 0, stats[key]
        assert stats[key].new == len(recs), stats[key]
    failed = [(r["unique_id"], r["status"], r.get("message")) for r in run_results["results"]
              if r["status"] in ("error", "fail")]
    assert not failed, failed


def test_the_raw_gate_passes_a_usd_order(pipeline):
    _, _, _, gates, _ = pipeline
    for name, result in gates.items():
        assert result.success, (name, result.failed_expectations)


def test_the_disabled_customer_reaches_staging_intact_and_is_not_deleted(pipeline):
    con, records, _, _, _ = pipeline
    src = records["shop/customers"][0]
    (row,) = rows(con, "stg_shop__customers")
    addr = src["default_address"]
    assert (row["customer_id"], row["source_record_id"]) == (207119551, "207119551")
    assert (row["first_name"], row["last_name"], row["email"]) == ("Bob", "Norman", "bob.norman@hostmail.com")
    assert row["phone"] is None  # the customer has no phone; its address has one
    assert (row["street"], row["zip"], row["city"], row["country_code"]) == (
        addr["address1"], addr["zip"], addr["city"], "US")
    assert row["state"] == "disabled" and row["is_deleted"] is False and row["is_guest"] is True
    assert row["email_marketing_consent_state"] == "not_subscribed"  # from the legacy accepts_marketing
    assert row["created_at"] == utc(src["created_at"]) and row["updated_at"] == utc(src["updated_at"])


def test_the_usd_order_keeps_amounts_currency_shipping_addresses_and_dates(pipeline):
    con, records, _, _, _ = pipeline
    src = records["shop/orders"][0]
    (row,) = rows(con, "stg_shop__orders")
    assert (row["order_id"], row["order_name"], row["order_number"]) == (450789469, "#1001", 1001)
    assert (row["customer_id"], row["email"]) == (207119551, "bob.norman@hostmail.com")
    assert row["currency"] == row["presentment_currency"] == "USD"
    assert (row["total_price"], row["subtotal_price"], row["total_tax"], row["total_discounts"]) == (
        Decimal("409.94"), Decimal("398.00"), Decimal("11.94"), Decimal("0.00"))
    assert row["presentment_total_price"] == Decimal("409.94")
    assert row["shipping_price"] == Decimal("0.00")  # the one shipping line, "Free Shipping"
    assert row["financial_status"] == "authorized" and row["is_test"] is False and row["cancelled_at"] is None
    assert row["payment_gateway"] == "authorize_net"
    bill = src["billing_address"]
    assert (row["billing_street"], row["billing_zip"], row["billing_city"], row["billing_country_code"]) == (
        bill["address1"], bill["zip"], bill["city"], "US")
    assert (row["shipping_street"], row["shipping_city"]) == (src["shipping_address"]["address1"], "Louisville")
    assert (row["line_items_count"], row["refunds_count"]) == (3, 1)
    assert row["created_at"] == utc(src["created_at"]) and row["updated_at"] == utc(src["updated_at"])


def test_line_items_refund_and_refund_lines_are_intact(pipeline):
    con, records, _, _, _ = pipeline
    src = records["shop/orders"][0]
    lines = sorted(rows(con, "stg_shop__order_lines"), key=lambda r: r["line_position"])
    assert [(r["line_item_id"], r["sku"], r["title"], r["quantity"], r["price"], r["product_id"]) for r in lines] == [
        (li["id"], li["sku"], li["title"], li["quantity"], Decimal(li["price"]), li["product_id"])
        for li in src["line_items"]]
    (refund,) = rows(con, "stg_shop__refunds")
    assert (refund["refund_id"], refund["order_id"], refund["refund_lines_count"]) == (509562969, 450789469, 2)
    assert refund["refunded_quantity"] == 2 and refund["refunded_amount"] == Decimal("209.00")
    assert refund["refunded_lines_subtotal"] == Decimal("398.00")  # price x quantity, no subtotal in the payload
    assert refund["created_at"] == utc(src["refunds"][0]["created_at"])
    refund_lines = rows(con, "stg_shop__refund_lines")
    assert sorted(r["line_item_id"] for r in refund_lines) == [466157049, 703073504]


def test_the_abandoned_checkout_is_intact(pipeline):
    con, records, _, _, _ = pipeline
    src = records["shop/checkouts"][0]
    (row,) = rows(con, "stg_shop__checkouts")
    assert (row["checkout_id"], row["customer_id"], row["email"]) == (450789469, 207119551, "bob.norman@hostmail.com")
    assert row["total_price"] == Decimal("409.94") and row["line_items_count"] == len(src["line_items"])
    assert row["is_abandoned"] is True and row["completed_at"] is None
    assert row["created_at"] == utc(src["created_at"])
