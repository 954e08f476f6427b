"""The quality gates end to end: a blocking great_expectations check that fails stops the segments.

Each test copies the session warehouse (`pipeline_warehouse`, built once by the whole pipeline),
injects one defect and runs the pipeline, or only what the defect needs, through Dagster in process:

1. raw: 20 % invalid e-mails in raw shop customers -> the whole pipeline after raw landing;
2. identity: two different persons' records in one golden id (two birthdays) -> golden_customers
   and the segments with the gates on the crosswalk;
3. KPI: a P(alive) out of [0, 1] in customer_kpis -> the segments with the gates on the KPI marts;
   then the defect is removed and the next run rebuilds the segments.

Each failing run must be reported failed naming the check, show failing rows in the check metadata,
keep its validation (JSON + HTML) under C360_QUALITY_DIR/<run_id>/, and leave every segment table
byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from c360.settings import LANDING_GROUPS

SEGMENT_TABLES = ("customer_segments", "besonders_profitabel", "treue_kunden", "abwanderungsgefaehrdet",
                  "loyal_low_revenue", "unprofitabel", "nach_schlechter_erfahrung")
SEGMENT_KEYS = {dg.AssetKey(["segments", t]) for t in SEGMENT_TABLES}


@pytest.fixture
def warehouse_copy(pipeline_warehouse, tmp_path, monkeypatch) -> Path:
    source, _world = pipeline_warehouse
    path = tmp_path / "c360.duckdb"
    shutil.copyfile(source, path)
    monkeypatch.setenv("C360_WAREHOUSE", str(path))
    monkeypatch.setenv("C360_QUALITY_DIR", str(tmp_path / "quality"))
    return path


def segment_bytes(path: Path) -> dict[str, str]:
    """sha256 of each segment table exported as CSV in a fixed order (its bytes as a reader sees them)."""
    digests = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for table in SEGMENT_TABLES:
            out = path.parent / f"{table}.csv"
            con.execute(f"copy (select * from segments.{table} order by all) to '{out}' (header)")
            digests[table] = hashlib.sha256(out.read_bytes()).hexdigest()
            out.unlink()
    return digests


def run(asset_keys, check_keys) -> dg.ExecuteInProcessResult:
    """Materialize `asset_keys` and run `check_keys` in one run of the definitions as the env says now."""
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    selection = dg.AssetSelection.assets(*asset_keys) | dg.AssetSelection.checks(*check_keys)
    job = dg.define_asset_job("quality_gate_test", selection=selection)
    merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    return merged.resolve_job_def("quality_gate_test").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def graph():
    from orchestration.definitions import build_definitions

    return build_definitions().resolve_asset_graph()


def gx_checks(g, *asset_keys) -> list[dg.AssetCheckKey]:
    wanted = {dg.AssetKey(k) if isinstance(k, list) else k for k in asset_keys}
    return [k for k in g.asset_check_keys if k.name.startswith("gx_") and k.asset_key in wanted]


def failed_checks(result) -> dict[str, dict]:
    failed = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            evaluation = event.event_specific_data
            failed[evaluation.check_name] = evaluation.metadata
    return failed


def materialized(result) -> set[dg.AssetKey]:
    return {e.event_specific_data.materialization.asset_key for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"}


def assert_gate_held(result, check_name: str, before: dict, path: Path, example_column: str):
    assert not result.success, "the run must be reported failed"
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any(check_name in (e.event_specific_data.error.message or "") for e in failures), \
        [e.event_specific_data.error.message for e in failures]
    failed = failed_checks(result)
    assert check_name in failed, failed.keys()
    metadata = failed[check_name]
    examples = metadata["failing_row_examples"].value
    assert any(example_column in row for rows in examples.values() for row in rows), examples
    assert metadata["expectations_failed"].value >= 1
    docs = Path(metadata["data_docs_path"].value)
    assert docs.exists() and docs.parent.name == result.run_id and "FAILED" in docs.read_text()
    assert Path(metadata["gx_result_json"].value).exists()
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "c360_dbt_segments" not in started, "the segments step must not run"
    assert not (materialized(result) & SEGMENT_KEYS)
    assert segment_bytes(path) == before, "segment tables must stay byte-for-byte as they were"


def test_invalid_emails_in_raw_stop_the_pipeline(warehouse_copy):
    path = warehouse_copy
    before = segment_bytes(path)
    with duckdb.connect(str(path)) as con:
        # landed again, as a changed record is: the raw gate validates what arrived since it last passed
        con.execute("""update raw.shop_customers set record = json_merge_patch(record, '{"email": "keine-email.de"}'),
                              _loaded_at = now()
                       where hash(id) % 5 = 0 and record->>'email' is not null""")
        share = con.execute("select avg((record->>'email' = 'keine-email.de')::int) from raw.shop_customers "
                            "where record->>'email' is not null").fetchone()[0]
    assert 0.15 < share < 0.25
    g = graph()
    downstream = (dg.AssetSelection.all() - dg.AssetSelection.groups(*LANDING_GROUPS)).resolve(g)
    raw_keys = dg.AssetSelection.groups(*LANDING_GROUPS).resolve(g)
    checks = gx_checks(g, *raw_keys) + gx_checks(g, *downstream)
    result = run(downstream, checks)
    assert_gate_held(result, "gx_raw_shop_customers", before, path, "email")
    examples = failed_checks(result)["gx_raw_shop_customers"]["failing_row_examples"].value
    assert all(row["email"] == "keine-email.de" for row in examples["expect_column_values_to_match_regex(email)"])
    # nothing downstream of the raw tables ran
    assert not materialized(result)


def test_two_people_in_one_golden_id_stop_the_segments(warehouse_copy):
    path = warehouse_copy
    before = segment_bytes(path)
    with duckdb.connect(str(path)) as con:
        # pairs of golden customers with birthdays years apart become one each: what a source reusing
        # ids for other people does to the crosswalk (more than the gate's 1 in 2,000 tolerated)
        people = con.execute("select count(distinct golden_customer_id) from marts.golden_customer_sources").fetchone()[0]
        born = con.execute("""
            select x.golden_customer_id, min(r.birthday) as birthday
            from marts.golden_customer_sources x join intermediate.int_customer_records r using (record_key)
            where r.birthday is not null group by 1 having count(distinct r.birthday) = 1
            order by birthday, 1""").fetchall()
        k = people // 500 + 2  # the oldest k paired with the youngest k: birthdays years apart
        pairs = [(old[0], young[0]) for old, young in zip(born[:k], reversed(born[-k:]))
                 if young[1].year - old[1].year >= 5]
        merged = [(a, b) for a, b in pairs if a not in {y for _, y in pairs} and b not in {x for x, _ in pairs}]
        assert len(merged) * 2000 > people, "too few pairs to pass the gate's tolerance"
        for a, b in merged:
            con.execute("update marts.golden_customer_sources set golden_customer_id = ? where golden_customer_id = ?", [a, b])
    g = graph()
    assets = [dg.AssetKey(["marts", "golden_customers"]), *SEGMENT_KEYS]
    checks = gx_checks(g, ["marts", "golden_customer_sources"], *assets)
    result = run(assets, checks)
    assert_gate_held(result, "gx_golden_clusters", before, path, "golden_customer_id")
    examples = failed_checks(result)["gx_golden_clusters"]["failing_row_examples"].value
    rows = examples["expect_column_values_to_be_between(birthdays_far_apart)"]
    assert {row["golden_customer_id"] for row in rows} <= {a for a, _ in merged} and rows
    assert all(row["birthdays_far_apart"] >= 1 for row in rows)
    assert dg.AssetKey(["marts", "golden_customers"]) not in materialized(result)


def test_kpi_out_of_range_stops_the_segments_until_fixed(warehouse_copy):
    path = warehouse_copy
    before = segment_bytes(path)
    with duckdb.connect(str(path)) as con:
        ids = [r[0] for r in con.execute(
            "select golden_customer_id from marts.customer_kpis where p_alive is not null order by 1 limit 3").fetchall()]
        saved = con.execute("select golden_customer_id, p_alive from marts.customer_kpis where golden_customer_id in "
                            "(select unnest(?))", [ids]).fetchall()
        con.execute("update marts.customer_kpis set p_alive = 1.5 where golden_customer_id in (select unnest(?))", [ids])
        # a change the segments would pick up if they were rebuilt
        con.execute("update marts.customer_kpis set margin_clv = -999 where golden_customer_id = ?", [ids[0]])
    g = graph()
    checks = gx_checks(g, ["marts", "customer_kpis"], ["marts", "golden_customers"], *SEGMENT_KEYS)
    result = run(SEGMENT_KEYS, checks)
    assert_gate_held(result, "gx_kpi_customer_ranges", before, path, "p_alive")
    rows = failed_checks(result)["gx_kpi_customer_ranges"]["failing_row_examples"].value[
        "expect_column_values_to_be_between(p_alive)"]
    assert sorted(r["golden_customer_id"] for r in rows) == sorted(ids)

    # the defect removed, the next run rebuilds the segments
    with duckdb.connect(str(path)) as con:
        con.executemany("update marts.customer_kpis set p_alive = ? where golden_customer_id = ?",
                        [(p, gid) for gid, p in saved])
    result = run(SEGMENT_KEYS, checks)
    assert result.success
    assert SEGMENT_KEYS <= materialized(result)
    with duckdb.connect(str(path), read_only=True) as con:
        margin, unprofitable = con.execute("select margin_clv, is_unprofitabel from segments.customer_segments "
                                           "where golden_customer_id = ?", [ids[0]]).fetchone()
    assert float(margin) == -999 and unprofitable
    assert segment_bytes(path) != before


def check_evaluations(result) -> dict[str, object]:
    return {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_new_values_of_open_sets_warn_and_invalid_records_still_block(warehouse_copy):
    """A shop order in CHF and a ticket from a channel never seen before (Zendesk's `native_messaging`)
    are legitimate: the raw gates warn, naming the value and its count, and staging is built. A ticket
    without a requester is invalid: the gate blocks and staging is not built."""
    path = warehouse_copy
    with duckdb.connect(str(path)) as con:
        # landed again, as a changed record is: the raw gate validates what arrived since it last passed
        order = con.execute("""update raw.shop_orders
                               set record = json_merge_patch(record, '{"currencyCode": "CHF", "currency": "CHF"}'),
                                   _loaded_at = now()
                               where id = (select min(id) from raw.shop_orders) returning id""").fetchone()[0]
        ticket = con.execute("""update raw.helpdesk_tickets
                                set record = json_merge_patch(record, '{"via": {"channel": "native_messaging"}}'),
                                    _loaded_at = now()
                                where id = (select min(id) from raw.helpdesk_tickets) returning id""").fetchone()[0]
    staging = [dg.AssetKey(["staging", "stg_shop__orders"]), dg.AssetKey(["staging", "stg_helpdesk__tickets"])]
    raw = [["raw", "shop_orders"], ["raw", "helpdesk_tickets"]]
    checks = gx_checks(graph(), *raw)
    result = run(staging, checks)
    assert result.success, "a new value of an open set must not stop the run"
    assert set(staging) <= materialized(result)
    evaluations = check_evaluations(result)
    tickets = evaluations["gx_raw_helpdesk_tickets"]
    assert not tickets.passed and tickets.severity == dg.AssetCheckSeverity.WARN
    assert tickets.metadata["new_values"].value == {
        "expect_column_values_to_be_in_set(channel)": [{"value": "native_messaging", "count": 1}]}
    assert tickets.metadata["expectations_failed"].value == 0
    assert "native_messaging" in tickets.metadata["warnings"].value
    assert evaluations["gx_raw_shop_orders"].passed  # an ISO code: the currency is no defect at all
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select currency from staging.stg_shop__orders where source_record_id = ?",
                           [order]).fetchone()[0] == "CHF"
        assert con.execute("select channel from staging.stg_helpdesk__tickets where source_record_id = ?",
                           [ticket]).fetchone()[0] == "native_messaging"

    with duckdb.connect(str(path)) as con:
        con.execute("""update raw.helpdesk_tickets set record = json_merge_patch(record, '{"requester_id": null}'),
                                                      _loaded_at = now()
                       where id = ?""", [ticket])
    result = run(staging, checks)
    assert not result.success
    tickets = check_evaluations(result)["gx_raw_helpdesk_tickets"]
    assert not tickets.passed and tickets.severity == dg.AssetCheckSeverity.ERROR
    assert "expect_column_values_to_not_be_null(requester_id)" in tickets.metadata["failed_expectations"].value
    assert dg.AssetKey(["staging", "stg_helpdesk__tickets"]) not in materialized(result)
