"""Incremental staging tables equal a full build after a day of changes.

The staging models over a long history (orders and what is unnested from them, ERP orders and lines,
vouchers, payments, tickets) are incremental tables. A real warehouse is built, then raw records are
re-landed the way the landing does it (the row replaced, a later `_loaded_at`): a shop order that
lost all its line items and refunds, an order with a changed quantity, a changed payment, a new ERP
order line. The incremental build must then hold exactly the rows of a full build of a second
warehouse with the same raw tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from tests.conftest import land_raw_record
from tests.dbt.test_staging import SPECS, build_staging_models, land_world

INCREMENTAL_MODELS = [
    "stg_shop__orders", "stg_shop__order_lines", "stg_shop__refunds", "stg_shop__refund_lines",
    "stg_erp__sale_orders", "stg_erp__sale_order_lines", "stg_accounting__vouchers",
    "stg_accounting__payments", "stg_helpdesk__tickets",
]


def model_rows(path, model: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(f"select * from staging.{model}").fetchall(), key=repr)


def test_an_incremental_staging_build_equals_a_full_build_after_changes(tmp_path):
    daily = tmp_path / "daily.duckdb"
    records = land_world(daily, persons=80, seed=24)
    assert all(r["status"] in ("pass", "success") for r in build_staging_models(daily)["results"])

    orders = records["shop/orders"]
    emptied = next(o for o in orders if o.get("line_items") and o.get("refunds"))
    edited = next(o for o in orders if o.get("line_items") and o["id"] != emptied["id"])
    payment = records["accounting/payments"][0]
    new_line = {**records["erp/sale.order.line"][0], "id": 990_000_001}
    with duckdb.connect(str(daily)) as con:
        # fetchall: DuckDB refuses other work on a connection while a result is not read to the end
        stored_lines = con.execute(
            "select count(*) from staging.stg_shop__order_lines where order_id = ?", [emptied["id"]]
        ).fetchall()[0][0]
        assert stored_lines > 0
        now = datetime.now(UTC)
        land_raw_record(con, "shop_orders", {**emptied, "line_items": [], "refunds": []}, now)
        edited_lines = [{**edited["line_items"][0], "quantity": 7}]
        land_raw_record(con, "shop_orders", {**edited, "line_items": edited_lines}, now)
        # a voucher's payment state read again with one more payment item
        items = [{**payment["paymentItems"][0], "amount": 12.34}, {**payment["paymentItems"][0], "amount": 1.0}]
        land_raw_record(con, "accounting_payments", {**payment, "paymentItems": items}, now)
        land_raw_record(con, "erp_sale_order_lines", new_line, now)
    build_staging_models(daily)

    full = tmp_path / "full.duckdb"
    with duckdb.connect(str(full)) as con:
        con.execute(f"attach '{daily}' as daily (read_only)")
        con.execute("create schema raw")
        for spec in SPECS.values():
            con.execute(f"create table raw.{spec.table} as select * from daily.raw.{spec.table}")
    build_staging_models(full)

    for model in INCREMENTAL_MODELS:
        assert model_rows(daily, model) == model_rows(full, model), f"{model}: incremental differs from full"
    with duckdb.connect(str(daily), read_only=True) as con:
        assert con.execute(
            "select count(*) from staging.stg_shop__order_lines where order_id = ?", [emptied["id"]]
        ).fetchone()[0] == 0
        assert con.execute(
            "select quantity from staging.stg_shop__order_lines where order_id = ?", [edited["id"]]
        ).fetchall() == [(7,)]
        kinds = dict(con.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'staging'"
        ).fetchall())
    assert all(kinds[model] == "BASE TABLE" for model in INCREMENTAL_MODELS)
