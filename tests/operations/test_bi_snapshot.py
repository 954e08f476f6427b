"""BI tools read a published snapshot: never the live warehouse, never a lock error, never half a snapshot."""

from __future__ import annotations

import multiprocessing
import shutil
import time

import dagster as dg
import duckdb


def read_snapshots_in_a_loop(bi_path: str, stop, report) -> None:
    """A BI reader in its own process: open, check the snapshot is whole, close; again and again."""
    reads, errors = 0, []
    while not stop.is_set():
        try:
            with duckdb.connect(bi_path, read_only=True) as con:
                tables = {
                    f"{schema}.{name}"
                    for schema, name in con.execute(
                        "select table_schema, table_name from information_schema.tables"
                    ).fetchall()
                }
                golden = con.execute("select count(*) from marts.golden_customers").fetchone()[0]
                mapped = con.execute(
                    "select count(distinct golden_customer_id) from marts.golden_customer_sources"
                ).fetchone()[0]
            if "marts.golden_customers" not in tables or golden != mapped:
                errors.append(f"partial snapshot: {sorted(tables)}, {golden} golden vs {mapped} mapped")
            reads += 1
        except Exception as exc:  # a lock error or a torn file is what this test is looking for
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.01)
    report.put((reads, errors))


def test_bi_reader_sees_whole_snapshots_and_no_lock_error_during_a_full_run(
    pipeline_warehouse, tmp_path, monkeypatch
):
    from tests.conftest import run_pipeline_downstream_of_raw

    built, _ = pipeline_warehouse
    live = tmp_path / "c360.duckdb"
    shutil.copy(built, live)
    bi_path = tmp_path / "bi.duckdb"
    monkeypatch.setenv("C360_WAREHOUSE", str(live))
    monkeypatch.setenv("C360_BI_WAREHOUSE", str(bi_path))
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    first = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[dg.AssetKey(["serving", "bi_snapshot"])]
    )
    assert first.success and bi_path.exists()

    ctx = multiprocessing.get_context("spawn")
    stop, report = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=read_snapshots_in_a_loop, args=(str(bi_path), stop, report))
    reader.start()
    try:
        time.sleep(2)  # the reader is reading before the run starts writing
        run_pipeline_downstream_of_raw(defs)
        time.sleep(0.5)
    finally:
        stop.set()
        reads, errors = report.get(timeout=60)
        reader.join(timeout=60)
    assert errors == []
    assert reads > 20, "the reader hardly read: the test proves nothing"

    with duckdb.connect(str(bi_path), read_only=True) as bi, duckdb.connect(str(live), read_only=True) as wh:
        for schema, name in wh.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'segments') and table_type = 'BASE TABLE'"
        ).fetchall():
            expected = wh.execute(f"select count(*) from {schema}.{name}").fetchone()[0]
            assert bi.execute(f"select count(*) from {schema}.{name}").fetchone()[0] == expected
            parquet = bi_path.parent / "bi" / f"{schema}.{name}.parquet"
            assert wh.execute(f"select count(*) from '{parquet}'").fetchone()[0] == expected
