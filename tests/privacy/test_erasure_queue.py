"""Erasure requests queued while a run may hold the warehouse (`c360 privacy erase --queue`) are
carried out by the next run's privacy step: the person is gone from the golden table, crosswalk, KPIs
and segments, the request is closed with its erasure id and no longer names the golden id; an unknown
golden id is closed as such and erases nobody. On a copy of the session's pipeline warehouse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import PRIVACY_RETENTION
from tests.privacy.test_retention import privacy_resources
from tests.conftest import copy_of_pipeline_folder

ROOT = Path(__file__).resolve().parents[2]
PEOPLE_TABLES = ("marts.golden_customers", "marts.golden_customer_sources", "marts.customer_kpis",
                 "segments.customer_segments")


@pytest.fixture(scope="module")
def warehouse(pipeline_warehouse, tmp_path_factory) -> Path:
    return copy_of_pipeline_folder(pipeline_warehouse, tmp_path_factory, "erasure_queue") / "c360.duckdb"


def _queue(warehouse: Path, golden_id: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "c360_cli.main", "privacy", "erase", "--golden-id", golden_id,
                           "--reason", "ticket DSR-7", "--queue", "--warehouse", str(warehouse)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_queued_requests_are_carried_out_by_the_next_run(warehouse, monkeypatch):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        person = con.execute("select golden_customer_id from marts.customer_kpis where has_orders "
                             "order by golden_customer_id limit 1").fetchone()[0]
        before = {t: con.execute(f"select count(distinct golden_customer_id) from {t}").fetchone()[0] for t in PEOPLE_TABLES}
    known, unknown = _queue(warehouse, person), _queue(warehouse, "GC999999999")
    with duckdb.connect(str(warehouse), read_only=True) as con:  # queued only: nothing erased yet
        assert con.execute("select count(*) from marts.golden_customers where golden_customer_id = ?",
                           [person]).fetchone()[0] == 1
    monkeypatch.setenv("C360_PRIVACY_RETENTION_DAYS", "off")
    for name, value in (("C360_BI_WAREHOUSE", warehouse.parent / "bi.duckdb"),
                        ("C360_BI_PARQUET_DIR", warehouse.parent / "bi"), ("C360_QUALITY_DIR", warehouse.parent / "quality")):
        monkeypatch.setenv(name, str(value))
    result = dg.materialize([PRIVACY_RETENTION], resources=privacy_resources(warehouse),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    metadata = result.asset_materializations_for_node(PRIVACY_RETENTION.op.name)[0].metadata
    assert (metadata["requests_processed"].value, metadata["requests_erased"].value) == (2, 1)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in PEOPLE_TABLES:
            count = con.execute(f"select count(distinct golden_customer_id) from {table}").fetchone()[0]
            assert count == before[table] - 1, table
            assert not con.execute(f"select count(*) from {table} where golden_customer_id = ?", [person]).fetchone()[0]
        requests = {r[0]: r[1:] for r in con.execute(
            "select request_id, outcome, erasure_id is not null, golden_customer_id from raw._erasure_requests").fetchall()}
        assert requests == {known["queued"]: ("erased", True, None), unknown["queued"]: ("unknown golden id", False, None)}
        audit = con.execute("select count(*), min(reason) from raw._erasures").fetchone()
        assert audit == (1, "ticket DSR-7")
    # a second run finds nothing pending
    again = dg.materialize([PRIVACY_RETENTION], resources=privacy_resources(warehouse),
                           instance=dg.DagsterInstance.ephemeral())
    assert again.asset_materializations_for_node(PRIVACY_RETENTION.op.name)[0].metadata["requests_processed"].value == 0
