"""The whole job on the Spark engine, as a user starts it: `C360_ENGINE=spark c360 materialize`.

The landing writes the raw zone, dbt builds every model on dbt-spark (dagster-dbt starting the
`c360-spark-dbt` runner), identity scores on Spark and resolves on the driver, the CLV is fitted on the
driver and the gates validate Spark's tables with great_expectations' Spark data source, each step in
the same process, one after the other (the in-process executor of the daily job). What each engine
computes is compared row for row by `test_spark_staging.py`; this test proves the orchestration: every
step succeeds, the tables are Spark's (the driver's warehouse holds identity's state and the CLV
fits, no mart), and the figures Dagster reports agree with the driver's crosswalk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.conftest import make_world_serving_every_resource, point_pipeline_at, serving

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# the test takes about 7.5 minutes alone on 2 cores (178 dbt nodes in the staging step, each a few Spark
# jobs and metastore calls), more beside the rest of the suite: past the suite's 900 s per test
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory):
    """A world of 150 persons through the job on Spark; the Dagster instance and the driver's warehouse."""
    folder = tmp_path_factory.mktemp("spark_pipeline")
    warehouse, dagster_home = folder / "warehouse" / "c360.duckdb", folder / "dagster_home"
    warehouse.parent.mkdir()
    dagster_home.mkdir()
    with serving(make_world_serving_every_resource(persons=150, seed=5)) as server, \
            pytest.MonkeyPatch.context() as patch:
        point_pipeline_at(patch, server, warehouse)
        # relative to the project's root, as the default `warehouse/c360.duckdb` is: the dbt runner, which
        # dagster-dbt starts in dbt_project/, must find the same warehouse and the metastore beside it
        patch.setenv("C360_WAREHOUSE", os.path.relpath(warehouse, PROJECT_ROOT))
        patch.setenv("C360_ENGINE", "spark")
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        patch.setenv("C360_AS_OF", date.today().isoformat())
        patch.setenv("C360_QUALITY_DIR", str(folder / "quality"))
        patch.setenv("C360_SPARK_MASTER", "local[2]")
        # nobody erased by age in the job (its figures are compared below); `spark_privacy_run` sets a period
        patch.setenv("C360_PRIVACY_RETENTION_DAYS", "off")
        # as `.venv/bin/c360` runs when the venv is not activated: its bin/ not on PATH (Spark's Python
        # workers once took the system's python3 from PATH, without the project)
        venv_bin = str(Path(sys.executable).parent)
        path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if part != venv_bin)
        env = {**os.environ, "PATH": path}
        run = subprocess.run([sys.executable, "-m", "c360_cli.main", "materialize"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=1500, env=env)
    assert run.returncode == 0, run.stderr[-6000:]
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        yield instance, warehouse, env
    finally:
        instance.dispose()


def _latest(instance, *path: str):
    event = instance.get_latest_materialization_event(dg.AssetKey(list(path)))
    assert event is not None, f"{'/'.join(path)} was not materialized"
    return event.asset_materialization.metadata


def test_the_tables_are_spark_and_dagster_counts_them(spark_run):
    instance, warehouse, _ = spark_run
    with duckdb.connect(str(warehouse), read_only=True) as driver:
        golden_ids = driver.execute("select count(distinct golden_customer_id) from marts.golden_customer_sources"
                                    ).fetchone()[0]
        driver_tables = {row[0] for row in driver.execute(
            "select table_schema || '.' || table_name from information_schema.tables").fetchall()}
    # dbt-spark built the golden customer table, one row per golden id of the crosswalk the driver resolved
    assert _latest(instance, "marts", "golden_customers")["dagster/row_count"].value == golden_ids > 100
    assert _latest(instance, "marts", "customer_kpis")["dagster/row_count"].value == golden_ids
    assert _latest(instance, "intermediate", "identity_match_pairs")["pairs"].value > 0
    assert "marts.golden_customers" not in driver_tables and "marts.customer_kpis" not in driver_tables
    assert {"marts.golden_customer_sources", "marts.customer_clv_predictions"} <= driver_tables


def test_the_gates_ran_on_spark_and_the_segments_after_them(spark_run):
    instance, _, _ = spark_run
    for key, check in ((["marts", "golden_customers"], "gx_golden_customers"),
                       (["marts", "customer_kpis"], "gx_kpi_customer_ranges"),
                       (["intermediate", "int_customer_records"], "gx_staging_set_aside")):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(key), check), limit=1)
        assert records, f"{check} did not run"
        evaluation = records[0].event.dagster_event.event_specific_data
        assert evaluation.passed and evaluation.metadata["engine"].value == "spark", check
    assert _latest(instance, "segments", "customer_segments")["dagster/row_count"].value > 0


def spark_tables_in_duckdb(warehouse: Path, names: list[str]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per Spark table of `names` over its Parquet files (a local
    session's tables are folders `spark_warehouse/<schema>.db/<table>/` beside the warehouse file)."""
    con = duckdb.connect()
    for name in names:
        schema, table = name.split(".")
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create view {name} as select * from "
                    f"read_parquet('{warehouse.parent / 'spark_warehouse' / f'{schema}.db' / table}/*.parquet')")
    return con


def records_in_zone(con, zone: Path, shop_customer_ids: set[str]) -> int:
    """Rows of the raw zone's shop customers with one of these ids (every version landed)."""
    return con.execute(f"select count(*) from read_parquet('{zone}/shop/customers/*.parquet') "
                       "where id in (select unnest(?::varchar[]))", [sorted(shop_customer_ids)]).fetchone()[0]


def test_a_user_exports_a_person_on_spark(spark_run, tmp_path):
    """`c360 privacy export` with C360_ENGINE=spark, as a user runs it after the job: the document holds
    the person's golden row and orders as Spark's tables hold them (read here from their Parquet
    files), their tickets, and their raw shop records from the driver. Before the privacy step below,
    which erases people."""
    _, warehouse, env = spark_run
    names = ["marts.golden_customers", "marts.fct_orders", "marts.fct_tickets"]
    with spark_tables_in_duckdb(warehouse, names) as spark_tables:
        golden_id, orders, tickets = spark_tables.execute("""
            select golden_customer_id, list(distinct order_key order by order_key),
                   (select count(*) from marts.fct_tickets t where t.golden_customer_id = o.golden_customer_id)
            from marts.fct_orders o where shop_order_id is not null
            group by all order by 3 desc, len(list(distinct order_key)) desc, 1 limit 1""").fetchone()
        golden_row = spark_tables.execute("select count(*) from marts.golden_customers where golden_customer_id = ?",
                                          [golden_id]).fetchone()[0]
    out = tmp_path / "export.json"
    run = subprocess.run([sys.executable, "-m", "c360_cli.main", "privacy", "export", "--golden-id", golden_id,
                          "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-6000:]
    document = json.loads(out.read_text(encoding="utf-8"))
    assert golden_row == 1 and [g["golden_customer_id"] for g in document["golden"]] == [golden_id]
    assert sorted(o["order_key"] for o in document["tables"]["marts.fct_orders"]) == orders
    assert len(document["tables"]["marts.fct_tickets"]) == tickets > 0
    assert document["systems"]["shop"]["raw"]["raw.shop_customers"] and document["coverage"]["not_covered"] == []


@pytest.fixture(scope="module")
def spark_privacy_run(spark_run):
    """After the job, an erasure request queued for the latest active customer with a shop account and
    the retention period set at the median last activity (computed here over Spark's tables with the
    rule written again in `tests/privacy/test_retention.py`); then the privacy step alone on Spark, as a
    user starts it."""
    from c360.erasure import queue_request
    from tests.privacy.test_retention import ACTIVITY, last_activity

    instance, warehouse, env = spark_run
    names = [*ACTIVITY, "marts.golden_customer_sources", "intermediate.int_customer_records", "marts.golden_customers"]
    with spark_tables_in_duckdb(warehouse, names) as spark_tables:
        activity = last_activity(spark_tables)
        golden_before = {g for (g,) in spark_tables.execute("select golden_customer_id from marts.golden_customers"
                                                            ).fetchall()}
    cutoff = pd.Timestamp(activity.median()).date()
    inactive = {g for g, day in activity.items() if pd.Timestamp(day).date() < cutoff}
    with duckdb.connect(str(warehouse)) as driver:
        shop_ids = dict(driver.execute("select golden_customer_id, list(source_record_id) from "
                                       "marts.golden_customer_sources where source_system = 'shop' group by all"
                                       ).fetchall())
        requested = next(g for g in activity.sort_values(ascending=False).index if g in shop_ids)
        requested_shop_ids = set(shop_ids[requested])
        queue_request(driver, requested, "test request")
        zone = Path(env.get("C360_RAW_ZONE") or warehouse.parent / "raw_zone")
        requested_in_zone_before = records_in_zone(driver, zone, requested_shop_ids)
    days = (date.fromisoformat(env["C360_AS_OF"]) - cutoff).days
    run = subprocess.run([sys.executable, "-m", "c360_cli.main", "materialize", "--select", "key:raw/_erasures"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
                         env={**env, "C360_PRIVACY_RETENTION_DAYS": str(days)})
    assert run.returncode == 0, run.stderr[-6000:]
    return {"metadata": _latest(instance, "raw", "_erasures"), "warehouse": warehouse, "inactive": inactive,
            "requested": requested, "requested_shop_ids": requested_shop_ids, "golden_before": golden_before,
            "zone": zone, "requested_in_zone_before": requested_in_zone_before}


def test_the_privacy_step_on_spark_erases_the_inactive_and_the_requested(spark_privacy_run):
    """Retention and an erasure request on the Spark engine: exactly the customers past the period and
    the one requested leave Spark's golden table; the requested person's shop records leave the
    driver's raw table and the raw zone's files."""
    run = spark_privacy_run
    assert len(run["golden_before"]) // 3 < len(run["inactive"]) < len(run["golden_before"])
    assert run["metadata"]["erased"].value == len(run["inactive"])
    assert run["metadata"]["requests_erased"].value == 1 and run["requested"] not in run["inactive"]
    with spark_tables_in_duckdb(run["warehouse"], ["marts.golden_customers"]) as spark_tables:
        golden_after = {g for (g,) in spark_tables.execute("select golden_customer_id from marts.golden_customers"
                                                           ).fetchall()}
    assert golden_after == run["golden_before"] - run["inactive"] - {run["requested"]}
    assert run["metadata"]["tables_rewritten"].value["marts.golden_customers"]["deleted"] == len(run["inactive"]) + 1
    assert run["requested_shop_ids"] and run["requested_in_zone_before"] >= len(run["requested_shop_ids"])
    with duckdb.connect(str(run["warehouse"]), read_only=True) as driver:
        assert not driver.execute("select count(*) from raw.shop_customers where id in (select unnest(?::varchar[]))",
                                  [sorted(run["requested_shop_ids"])]).fetchone()[0]
        assert records_in_zone(driver, run["zone"], run["requested_shop_ids"]) == 0
