"""The vendors' published payloads of all four systems through the whole pipeline, to the golden table.

Each system's samples are served by the same stand-ins the per-system contract tests use (Shopify's
through the demo server's replay, Odoo's, Zendesk's and Lexware Office's by their vendor handlers),
landed by the real connectors into one warehouse, and then everything downstream runs through Dagster
as in production: staging, identity (a handful of records, no e-mail shared across systems: the shape
that used to stop the run in matching), marts, quality gates, segments. The records are unrelated
people (each vendor's own examples), so every one must come out as a golden customer of its own, and
every order, ticket and voucher must be in its fact table.
"""

from __future__ import annotations

import duckdb
import pytest

from c360.raw_store import ensure_raw_schema, land_resource
from connectors import ALL_RESOURCES
from connectors.accounting import AccountingClient
from connectors.helpdesk import HelpdeskClient
from tests.conftest import clients, run_pipeline_downstream_of_raw, using_warehouse
from tests.conftest import serving as serving_world
from tests.contract import test_accounting_payloads as accounting
from tests.contract import test_erp_payloads as erp
from tests.contract import test_helpdesk_payloads as helpdesk
from tests.contract import test_shop_payloads as shop
from tests.contract.conftest import serving

SPECS = {system: [spec for spec in ALL_RESOURCES if spec.system == system]
         for system in ("shop", "erp", "helpdesk", "accounting")}


def _land_shop(con, tmp) -> None:
    from demo_sources.replay import load_replay

    for key, records in shop.published_records().items():
        path = tmp / "replay" / f"{key}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(shop.orjson.dumps(r) + b"\n" for r in records))
    with serving_world(load_replay(tmp / "replay")) as server, clients(server) as by_system:
        for spec in SPECS["shop"]:
            land_resource(con, by_system["shop"], spec.name)


def _land_others(con) -> None:
    # the documentation's calls did not ask for `write_date`, the connector's change marker: each record
    # gets one and nothing else (as in the ERP contract test)
    erp._Odoo.records = {model: [dict(r, write_date=erp.MARKER) for r in records] for model, records in (
        ("res.partner", erp.PARTNERS), ("account.move", erp.CREDIT_NOTES), ("account.move.line", erp.CREDIT_NOTE_LINES))}
    sales = [v for v in accounting.VOUCHER_PAGE["content"] if v["voucherType"] != "purchaseinvoice"]
    accounting.Vendor.payments = {v["id"]: accounting.PAYMENT_BODIES[i % len(accounting.PAYMENT_BODIES)]
                                  for i, v in enumerate(sales)}
    with serving(erp._Odoo) as erp_url, serving(helpdesk.Zendesk) as helpdesk_url, \
            serving(accounting.Vendor) as accounting_url:
        systems = {"erp": erp._client(erp_url, "json2"), "helpdesk": HelpdeskClient(helpdesk_url, helpdesk.CREDS),
                   "accounting": AccountingClient(accounting_url, accounting.CREDS, max_rps=0)}
        try:
            for system, client in systems.items():
                for spec in SPECS[system]:
                    land_resource(con, client, spec.name)
        finally:
            for client in systems.values():
                client.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(read-only connection to the warehouse after the whole downstream run, the run's result)."""
    from orchestration.definitions import build_definitions

    tmp = tmp_path_factory.mktemp("payloads_to_golden")
    path = tmp / "c360.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con, list(ALL_RESOURCES))
        _land_shop(con, tmp)
        _land_others(con)
    # The published payloads are dated 2008-2023: the daily retention step would rightly erase every
    # person in them (no activity for three years); this test follows the records, not the retention.
    with using_warehouse(path), pytest.MonkeyPatch.context() as env:
        env.setenv("C360_PRIVACY_RETENTION_DAYS", "off")
        result = run_pipeline_downstream_of_raw(build_definitions())
    con = duckdb.connect(str(path), read_only=True)
    yield con, result
    con.close()


def scalar(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


def test_every_published_record_lands_and_none_is_quarantined(built):
    con, _ = built
    assert scalar(con, "select count(*) from raw._quarantine") == 0
    assert scalar(con, "select count(*) from raw.erp_partners") == len(erp.PARTNERS)


def test_every_published_person_record_gets_one_golden_customer(built):
    con, result = built
    assert result.success
    records = scalar(con, "select count(*) from intermediate.int_customer_records")
    # Shopify's customer, Odoo's partners, Zendesk's users, Lexware's contacts: all of them staged
    per_system = dict(con.execute("select source_system, count(*) from intermediate.int_customer_records "
                                  "group by 1").fetchall())
    assert set(per_system) == {"shop", "erp", "helpdesk", "accounting"}, per_system
    assert scalar(con, "select count(*) from marts.golden_customer_sources") == records
    assert scalar(con, "select count(distinct record_key) from marts.golden_customer_sources") == records
    orphans = scalar(con, "select count(*) from marts.golden_customer_sources s "
                          "anti join marts.golden_customers g using (golden_customer_id)")
    assert orphans == 0


def test_the_shopify_order_and_checkout_reach_their_facts_with_the_golden_customer(built):
    con, _ = built
    order = shop.published_records()["shop/orders"][0]
    row = con.execute("select golden_customer_id, currency from marts.fct_orders where shop_order_id = ?",
                      [order["id"]]).fetchall()
    assert len(row) == 1 and row[0][1] == order["currency"]
    customer = shop.published_records()["shop/customers"][0]
    if order.get("customer", {}).get("id") == customer["id"]:
        owner = scalar(con, f"select golden_customer_id from marts.golden_customer_sources "
                            f"where source_system = 'shop' and source_record_id = '{customer['id']}'")
        assert row[0][0] == owner
    lines = scalar(con, f"select count(*) from marts.fct_order_lines where order_key = 'shop:{order['id']}' "
                        f"and not is_shipping")
    assert lines == len(order["line_items"])


def test_tickets_ratings_and_vouchers_reach_their_facts(built):
    con, _ = built
    assert scalar(con, "select count(*) from marts.fct_tickets") == len(helpdesk.TICKETS)
    rated = [r for r in helpdesk.RATINGS if r["score"] in ("good", "bad")]
    # the CSAT survey responses whose customer-satisfaction question has a rating: numeric score beside it
    scored = {r["id"]: a["rating"] for r in helpdesk.SURVEY_RESPONSES for a in r["answers"]
              if a["question"].get("sub_type") == "customer_satisfaction" and a["type"] == "rating_scale"}
    csat = dict(con.execute("select survey_response_id, score from marts.fct_survey_responses "
                            "where survey_type = 'csat'").fetchall())
    assert len(csat) == len(rated) + len(scored)
    assert {k: v for k, v in csat.items() if k in scored} == scored
    assert all(csat[str(r["id"])] is None for r in rated)
    sales = [v for v in accounting.VOUCHER_PAGE["content"] if v["voucherType"] != "purchaseinvoice"]
    assert scalar(con, "select count(*) from marts.fct_invoices") >= 1
    assert scalar(con, "select count(*) from staging.stg_accounting__vouchers") >= len(sales) - 1


def test_segments_are_built(built):
    con, _ = built
    assert scalar(con, "select count(*) from information_schema.tables where table_schema = 'segments'") >= 7
