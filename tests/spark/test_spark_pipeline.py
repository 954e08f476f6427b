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

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
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
        patch.setenv("C360_ENGINE", "spark")
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        patch.setenv("C360_AS_OF", date.today().isoformat())
        patch.setenv("C360_QUALITY_DIR", str(folder / "quality"))
        patch.setenv("C360_SPARK_MASTER", "local[2]")
        # as `.venv/bin/c360` runs when the venv is not activated: its bin/ not on PATH (Spark's Python
        # workers once took the system's python3 from PATH, without the project)
        venv_bin = str(Path(sys.executable).parent)
        path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if part != venv_bin)
        run = subprocess.run([sys.executable, "-m", "c360_cli.main", "materialize"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=1500, env={**os.environ, "PATH": path})
    assert run.returncode == 0, run.stderr[-6000:]
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        yield instance, warehouse
    finally:
        instance.dispose()


def _latest(instance, *path: str):
    event = instance.get_latest_materialization_event(dg.AssetKey(list(path)))
    assert event is not None, f"{'/'.join(path)} was not materialized"
    return event.asset_materialization.metadata


def test_the_tables_are_spark_and_dagster_counts_them(spark_run):
    instance, warehouse = spark_run
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
    instance, _ = spark_run
    for key, check in ((["marts", "golden_customers"], "gx_golden_customers"),
                       (["marts", "customer_kpis"], "gx_kpi_customer_ranges"),
                       (["intermediate", "int_customer_records"], "gx_staging_set_aside")):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(key), check), limit=1)
        assert records, f"{check} did not run"
        evaluation = records[0].event.dagster_event.event_specific_data
        assert evaluation.passed and evaluation.metadata["engine"].value == "spark", check
    assert _latest(instance, "segments", "customer_segments")["dagster/row_count"].value > 0
