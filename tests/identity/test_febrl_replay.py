"""FEBRL-4 through the real path: served from a replay directory over HTTP, landed by the shop and ERP
connectors, staged by dbt and resolved by the pipeline in Dagster (`benchmarks/bench_febrl_replay.py`).

This is the data that once stopped the run in matching (no e-mail anywhere, one person's records in two
systems); then, once the matcher held, at the golden-clusters gate: FEBRL types a copy's birthday over
in about 2 % of its pairs, and the guards rightly merge such a pair when first name, last name and
address agree. Here the run must finish, every record must come out in the golden table, and the
crosswalk must be as good as the matcher's on the same rows fed to it directly (nothing lost on the
way through the sources' shapes: Odoo's single name field, Shopify's birthday metafield).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from c360.settings import DEMO_ERP_CUSTOM_FIELDS
from tests.conftest import load_benchmark

ORIGINALS = 300


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """(replay bench module, FEBRL rows, links, truth, warehouse path, run figures)."""
    bench = load_benchmark("bench_febrl_replay")
    rows, links = bench.harness.febrl4_slice(ORIGINALS)
    tmp = tmp_path_factory.mktemp("febrl_replay")
    with pytest.MonkeyPatch.context() as env:
        for name, value in DEMO_ERP_CUSTOM_FIELDS.items():
            env.setenv(name, value)
        env.setenv("C360_PRIVACY_RETENTION_DAYS", "off")
        truth = bench.write_replay(rows, links, tmp / "replay", DEMO_ERP_CUSTOM_FIELDS["C360_ERP_BIRTHDAY_FIELD"],
                                   datetime.now(UTC).replace(microsecond=0) - timedelta(days=30))
        # run_replay points these at its warehouse: set here first, so that the monkeypatch restores them
        for name in ("C360_WAREHOUSE", "C360_BI_WAREHOUSE", "C360_BI_PARQUET_DIR", "C360_NPS_IMPORT_DIR"):
            env.setenv(name, str(tmp / name.lower()))
        run = bench.run_replay(tmp / "replay", tmp / "c360.duckdb")
    return bench, rows, links, truth, tmp / "c360.duckdb", run


def test_the_run_over_febrl_through_the_connectors_finishes(replayed):
    *_, run = replayed
    assert run["success"] and run["failed_steps"] == []


def test_every_febrl_record_reaches_the_golden_table_once(replayed):
    _, rows, _, truth, warehouse, _ = replayed
    with duckdb.connect(str(warehouse), read_only=True) as con:
        mapped = con.execute("select source_system, source_record_id, count(*) from marts.golden_customer_sources "
                             "group by all").fetchall()
    assert len(mapped) == len(rows) == 2 * ORIGINALS and all(n == 1 for *_, n in mapped)
    assert {(s, i) for s, i, _ in mapped} == set(zip(truth["source_system"], truth["source_record_id"]))


def test_the_crosswalk_through_the_sources_is_as_good_as_the_matcher_fed_directly(replayed, tmp_path):
    bench, rows, links, truth, warehouse, _ = replayed
    through = bench.score(warehouse, truth)
    direct = bench.direct_score(rows, links, tmp_path / "direct.duckdb")
    assert through["precision"] == 1.0
    assert through["f1"] >= direct["f1"] - 0.005, (through, direct)
    # FEBRL-4 copies carry typos in every field; the matcher finds most of them even so
    assert through["recall"] > 0.9


def test_birthdays_typed_over_are_a_warning_of_the_gate_not_a_stop(replayed):
    """The golden customers whose records hold birthdays far apart (FEBRL's corrupted copies) are merged
    as the guards allow (same first name, last name and address agree): the gate counts them as allowed."""
    from c360.quality.suites import get_suite

    *_, warehouse, _ = replayed
    with duckdb.connect(str(warehouse), read_only=True) as con:
        blocking, allowed = con.execute(f"select count(*) filter (where birthdays_far_apart > 0), "
                                        f"count(*) filter (where birthdays_far_apart_allowed > 0) "
                                        f"from ({get_suite('golden_clusters').query})").fetchone()
    assert blocking == 0 and allowed >= 1
