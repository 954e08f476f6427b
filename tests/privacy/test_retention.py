"""Retention (storage limitation): the daily run's `privacy_retention` step erases exactly the golden
customers without activity since the cutoff, through the erasure path, and leaves everyone else.

On a copy of the session's warehouse built by the whole pipeline. Who is inactive is computed here
in pandas from the facts and the customer records (the rule of `c360.retention`, written again), with
the cutoff at the median last activity, so that the step must split the customers about in half.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from c360 import tables
from orchestration.definitions import PRIVACY_RETENTION
from orchestration.resources import SparkResource, WarehouseResource
from tests.conftest import copy_of_pipeline_folder
from tests.privacy.test_erasure import accounting_totals

ACTIVITY = {"marts.fct_orders": "order_date", "marts.fct_tickets": "created_date",
            "marts.fct_survey_responses": "response_date", "marts.fct_checkouts": "checkout_date",
            "marts.fct_invoices": "invoice_date"}
PEOPLE_TABLES = ("marts.golden_customers", "marts.golden_customer_sources", "marts.customer_kpis",
                 "segments.customer_segments")


@pytest.fixture(scope="module")
def copy_dir(pipeline_warehouse, tmp_path_factory) -> Path:
    return copy_of_pipeline_folder(pipeline_warehouse, tmp_path_factory, "retention")


def privacy_resources(warehouse: Path) -> dict:
    """The resources of the privacy step on the engine of the environment (DuckDB in these tests)."""
    return {"warehouse": WarehouseResource(database=str(warehouse)), "spark": SparkResource()}


def last_activity(con) -> pd.Series:
    """Per golden customer the date of their latest order, ticket, answer, checkout, invoice or record creation."""
    frames = [con.execute(f"select golden_customer_id, {column}::date as day from {table} "
                          "where golden_customer_id is not null").df() for table, column in ACTIVITY.items()]
    frames.append(con.execute("select c.golden_customer_id, r.created_at::date as day from marts.golden_customer_sources c "
                              "join intermediate.int_customer_records r using (record_key)").df())
    days = pd.concat(frames).dropna()
    return days.groupby("golden_customer_id")["day"].max()


def _ids(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"select distinct golden_customer_id from {table}").fetchall()}


@pytest.fixture(scope="module")
def run(copy_dir, monkeypatch_module) -> dict:
    warehouse = copy_dir / "c360.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        activity = last_activity(con)
        before = {table: _ids(con, table) for table in PEOPLE_TABLES}
        totals = accounting_totals(con)
    as_of = date(2027, 6, 30)
    cutoff = pd.Timestamp(activity.median()).date()
    days = (as_of - cutoff).days
    monkeypatch_module.setenv("C360_AS_OF", as_of.isoformat())
    monkeypatch_module.setenv("C360_PRIVACY_RETENTION_DAYS", str(days))
    for name, path in (("C360_BI_WAREHOUSE", copy_dir / "bi.duckdb"), ("C360_BI_PARQUET_DIR", copy_dir / "bi"),
                       ("C360_QUALITY_DIR", copy_dir / "quality")):
        monkeypatch_module.setenv(name, str(path))
    result = dg.materialize([PRIVACY_RETENTION], resources=privacy_resources(warehouse),
                            instance=dg.DagsterInstance.ephemeral(), selection=[PRIVACY_RETENTION.key])
    assert result.success
    metadata = result.asset_materializations_for_node(PRIVACY_RETENTION.op.name)[0].metadata
    inactive = {g for g, day in activity.items() if pd.Timestamp(day).date() < cutoff}
    return {"warehouse": warehouse, "copy_dir": copy_dir, "before": before, "totals": totals, "inactive": inactive,
            "cutoff": cutoff, "metadata": {k: v.value for k, v in metadata.items()}}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_exactly_the_inactive_customers_are_erased(run):
    inactive, before = run["inactive"], run["before"]
    everyone = before["marts.golden_customers"]
    assert 0.2 * len(everyone) < len(inactive) < 0.8 * len(everyone)  # the cutoff really splits them
    assert run["metadata"]["erased"] == len(inactive)
    assert run["metadata"]["cutoff"] == run["cutoff"].isoformat()
    with duckdb.connect(str(run["warehouse"]), read_only=True) as con:
        for table in PEOPLE_TABLES:
            assert _ids(con, table) == before[table] - inactive, table
        audit = con.execute(f"select count(*), min(reason) from {tables.PRIVACY_ERASURES}").fetchone()
        assert audit[0] == len(inactive) and audit[1].startswith("retention: no activity since before")
        assert accounting_totals(con) == run["totals"]  # vouchers and payments kept, pseudonymised
        # the people kept all have an activity on or after the cutoff; the retained invoices of the
        # people erased now carry pseudonyms, not golden ids
        kept = last_activity(con)
        pseudonyms = kept.index.str.startswith("ERASED-")
        assert pseudonyms.sum() > 0
        assert (kept[~pseudonyms].map(lambda d: pd.Timestamp(d).date()) >= run["cutoff"]).all()


def test_the_bi_copy_holds_only_the_people_kept(run):
    parquet = run["copy_dir"] / "bi"
    folders = [p for p in parquet.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(folders) == 1, "an older snapshot folder still holds the people erased"
    segments = duckdb.execute(f"select distinct golden_customer_id from '{folders[0]}/segments.customer_segments.parquet'"
                              ).fetchall()
    assert {r[0] for r in segments} == run["before"]["segments.customer_segments"] - run["inactive"]


def test_the_next_run_erases_nobody_more(run):
    """The erased people's retained invoices (pseudonyms, old dates) are no customers to erase again."""
    result = dg.materialize([PRIVACY_RETENTION], resources=privacy_resources(run["warehouse"]),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert result.asset_materializations_for_node(PRIVACY_RETENTION.op.name)[0].metadata["erased"].value == 0


def test_off_erases_nobody(copy_dir, monkeypatch_module, run):
    monkeypatch_module.setenv("C360_PRIVACY_RETENTION_DAYS", "off")
    warehouse = run["warehouse"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        people = _ids(con, "marts.golden_customers")
    result = dg.materialize([PRIVACY_RETENTION], resources=privacy_resources(warehouse),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert _ids(con, "marts.golden_customers") == people
