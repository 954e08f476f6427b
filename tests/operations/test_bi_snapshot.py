"""BI tools read a published snapshot: never the live warehouse, never a lock error, never half a snapshot."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from c360.bi_publish import (
    CURRENT_FILE,
    CURRENT_LINK,
    NOT_PUBLISHED,
    SNAPSHOT_ID_METADATA_KEY,
    current_snapshot_folder,
    publish_snapshot,
    read_manifest,
    snapshot_ids,
)

# A small warehouse whose every table says which generation wrote it.
GENERATION_TABLES = (
    ("marts", "golden_customers"),
    ("marts", "golden_customer_sources"),
    ("marts", "fct_orders"),
    ("marts", "customer_kpis"),
    ("segments", "customer_segments"),
    ("segments", "treue_kunden"),
)


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
    metadata = first.asset_materializations_for_node("serving__bi_snapshot")[0].metadata
    parquet_dir = bi_path.parent / "bi"
    assert metadata["parquet_snapshot"].value == str(current_snapshot_folder(parquet_dir))
    assert metadata["parquet_written"].value == metadata["table_count"].value  # nothing to link to yet
    assert metadata["parquet_linked_unchanged"].value == 0

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
            if f"{schema}.{name}" in NOT_PUBLISHED:  # the steward's review queue: personal data side by side
                assert not bi.execute("select count(*) from information_schema.tables where table_schema = ? "
                                      "and table_name = ?", [schema, name]).fetchone()[0]
                assert not (parquet_dir / CURRENT_LINK / f"{schema}.{name}.parquet").exists()
                continue
            expected = wh.execute(f"select count(*) from {schema}.{name}").fetchone()[0]
            assert bi.execute(f"select count(*) from {schema}.{name}").fetchone()[0] == expected
            parquet = parquet_dir / CURRENT_LINK / f"{schema}.{name}.parquet"
            assert wh.execute(f"select count(*) from '{parquet}'").fetchone()[0] == expected


def write_generation(con: duckdb.DuckDBPyConnection, generation: int, rows: int) -> None:
    """Rebuild every table with `generation` in each row (the row count varies with it, too)."""
    for schema, name in GENERATION_TABLES:
        con.execute(
            f"create or replace table {schema}.{name} as "
            f"select {generation} as generation, i as id, md5(i::varchar) as payload "
            f"from range({rows + generation}) t(i)"
        )


def read_parquet_sets_in_a_loop(parquet_dir: str, stop, ready, report) -> None:
    """A BI reader in its own process: resolve the pointer once, read every table of that snapshot,
    note the generations it found; again and again."""
    reads, generations_read, errors = 0, set(), []
    with duckdb.connect() as con:
        while not stop.is_set():
            try:
                folder = current_snapshot_folder(Path(parquet_dir))
                manifest = read_manifest(folder)
                generations = set()
                for table in manifest["tables"]:
                    parquet = folder / table["file"]
                    found, rows = con.execute(
                        f"select list(distinct generation), count(*) from '{parquet}'"
                    ).fetchone()
                    generations.update(found)
                    if rows != table["rows"]:
                        errors.append(f"{table['table']}: {rows} rows, the manifest says {table['rows']}")
                files = sorted(p.name for p in folder.glob("*.parquet"))
                if files != sorted(t["file"] for t in manifest["tables"]) or len(files) != len(GENERATION_TABLES):
                    errors.append(f"incomplete set in {folder.name}: {files}")
                if len(generations) != 1:
                    errors.append(f"mixed set in {folder.name}: generations {sorted(generations)}")
                generations_read |= generations
                reads += 1
                ready.set()
            except Exception as exc:  # a vanished folder or a torn file is what this test is looking for
                errors.append(f"{type(exc).__name__}: {exc}")
    report.put((reads, sorted(generations_read), errors))


def test_parquet_readers_see_one_whole_snapshot_while_snapshots_are_published(tmp_path):
    parquet_dir, bi_path, keep, last = tmp_path / "bi", tmp_path / "bi.duckdb", 3, 14
    parquet_dir.mkdir()
    stale_flat_file = parquet_dir / "marts.golden_customers.parquet"  # what the flat layout left behind
    stale_flat_file.write_bytes(b"stale")
    with duckdb.connect(str(tmp_path / "c360.duckdb")) as con:
        con.execute("create schema marts")
        con.execute("create schema segments")
        write_generation(con, 1, rows=40_000)
        publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=keep)

        ctx = multiprocessing.get_context("spawn")
        stop, ready, report = ctx.Event(), ctx.Event(), ctx.Queue()
        reader = ctx.Process(target=read_parquet_sets_in_a_loop, args=(str(parquet_dir), stop, ready, report))
        reader.start()
        try:
            assert ready.wait(60), "the reader never read the first snapshot"
            for generation in range(2, last + 1):
                write_generation(con, generation, rows=40_000)
                publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=keep)
        finally:
            stop.set()
            reads, generations_read, errors = report.get(timeout=60)
            reader.join(timeout=60)

    assert errors == []
    assert reads > 20 and len(generations_read) > 3, (
        f"the reader read {reads} sets of generations {generations_read}: the test proves nothing"
    )
    kept = snapshot_ids(parquet_dir)
    assert len(kept) == keep
    assert sorted(p.name for p in parquet_dir.iterdir()) == sorted([*kept, CURRENT_LINK, CURRENT_FILE])
    assert os.readlink(parquet_dir / CURRENT_LINK) == kept[-1]
    assert (parquet_dir / CURRENT_FILE).read_text().strip() == kept[-1]
    assert not stale_flat_file.exists()

    generations = []
    with duckdb.connect() as con:
        for snapshot_id in kept:
            folder = parquet_dir / snapshot_id
            manifest = read_manifest(folder)
            assert manifest["snapshot_id"] == snapshot_id
            assert [t["table"] for t in manifest["tables"]] == sorted(f"{s}.{n}" for s, n in GENERATION_TABLES)
            for table in manifest["tables"]:
                parquet = folder / table["file"]
                generation, rows = con.execute(f"select max(generation), count(*) from '{parquet}'").fetchone()
                assert rows == table["rows"] == 40_000 + generation
                generations.append(generation)
                stamped = con.execute(
                    "select decode(value) from parquet_kv_metadata(?) where decode(key) = ?",
                    [str(parquet), SNAPSHOT_ID_METADATA_KEY],
                ).fetchone()[0]
                assert stamped == snapshot_id
    assert sorted(set(generations)) == list(range(last - keep + 1, last + 1))
    with duckdb.connect(str(bi_path), read_only=True) as bi:
        assert bi.execute("select max(generation) from marts.fct_orders").fetchone()[0] == last


def test_keep_snapshots_setting(monkeypatch):
    from c360 import settings

    monkeypatch.delenv("C360_BI_KEEP_SNAPSHOTS", raising=False)
    assert settings.bi_keep_snapshots() == settings.DEFAULT_BI_KEEP_SNAPSHOTS
    monkeypatch.setenv("C360_BI_KEEP_SNAPSHOTS", "5")
    assert settings.bi_keep_snapshots() == 5
    monkeypatch.setenv("C360_BI_KEEP_SNAPSHOTS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        settings.bi_keep_snapshots()


def read_snapshot_set(folder: Path) -> dict[str, list[tuple]]:
    """Every table of one snapshot folder as a reader gets it, checked against its manifest: the
    files listed, their row counts and the snapshot id stamped in each."""
    manifest = read_manifest(folder)
    assert sorted(p.name for p in folder.glob("*.parquet")) == sorted(t["file"] for t in manifest["tables"])
    content = {}
    with duckdb.connect() as con:
        for table in manifest["tables"]:
            parquet = str(folder / table["file"])
            content[table["table"]] = con.execute(f"select * from '{parquet}' order by all").fetchall()
            assert len(content[table["table"]]) == table["rows"]
            stamped = con.execute(
                "select decode(value) from parquet_kv_metadata(?) where decode(key) = ?",
                [parquet, SNAPSHOT_ID_METADATA_KEY],
            ).fetchone()[0]
            assert stamped == table["written_in"]
    return content


def read_bi_file(bi_path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(bi_path), read_only=True) as bi:
        return {
            f"{schema}.{name}": bi.execute(f"select * from {schema}.{name} order by all").fetchall()
            for schema, name in bi.execute(
                "select table_schema, table_name from information_schema.tables order by 1, 2"
            ).fetchall()
        }


@pytest.fixture
def generation_warehouse(tmp_path):
    with duckdb.connect(str(tmp_path / "c360.duckdb")) as con:
        con.execute("create schema marts")
        con.execute("create schema segments")
        write_generation(con, 1, rows=5_000)
        yield con


def test_a_publish_rewrites_only_the_changed_tables_and_links_the_rest(generation_warehouse, tmp_path):
    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    first = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=1)
    assert first.unchanged == []
    con.execute("update marts.fct_orders set payload = 'changed' where id = 7")
    second = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=1)

    rewritten = [t.table for t in second.tables if t.written_in == second.snapshot_id]
    assert rewritten == ["marts.fct_orders"]
    assert all(t.written_in == first.snapshot_id for t in second.unchanged)
    assert not (parquet_dir / first.snapshot_id).exists()  # pruned: the linked files live on in the new folder

    # the incremental set equals a full publish of the same warehouse, table by table, file by file
    full_dir, full_bi = tmp_path / "full", tmp_path / "full.duckdb"
    full = publish_snapshot(con, full_bi, full_dir, keep_snapshots=1)
    assert full.unchanged == [] and len(full.tables) == len(GENERATION_TABLES)
    assert read_snapshot_set(current_snapshot_folder(parquet_dir)) == read_snapshot_set(full.parquet_folder)
    assert read_bi_file(bi_path) == read_bi_file(full_bi)
    assert [(t.table, t.rows, t.fingerprint) for t in second.tables] == [
        (t.table, t.rows, t.fingerprint) for t in full.tables
    ]


def test_unchanged_files_are_the_previous_snapshots_inodes(generation_warehouse, tmp_path):
    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    first = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)
    write_generation(con, 1, rows=5_000)  # rebuilt with the same rows: not a change
    con.execute("create or replace table segments.treue_kunden as select 2 as generation, 1 as id, 'x' as payload")
    second = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)

    assert [t.table for t in second.tables if t.written_in == second.snapshot_id] == ["segments.treue_kunden"]
    for before, after in zip(first.tables, second.tables):
        same_inode = before.parquet.stat().st_ino == after.parquet.stat().st_ino
        assert same_inode == (after.table != "segments.treue_kunden"), after.table
    assert read_snapshot_set(second.parquet_folder)["segments.treue_kunden"] == [(2, 1, "x")]
    assert read_snapshot_set(first.parquet_folder)["segments.treue_kunden"][0][0] == 1  # the old set is intact


def test_a_renamed_column_new_and_dropped_tables_are_changes(generation_warehouse, tmp_path):
    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)
    con.execute("alter table marts.customer_kpis rename column payload to kpi")  # same rows, new name
    con.execute("drop table segments.treue_kunden")
    con.execute("create table marts.kpi_daily as select 1 as generation, 1 as id")
    snapshot = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)

    rewritten = sorted(t.table for t in snapshot.tables if t.written_in == snapshot.snapshot_id)
    assert rewritten == ["marts.customer_kpis", "marts.kpi_daily"]
    content = read_snapshot_set(snapshot.parquet_folder)
    assert "segments.treue_kunden" not in content and content["marts.kpi_daily"] == [(1, 1)]


def test_unchanged_tables_are_copied_where_links_fail(generation_warehouse, tmp_path, monkeypatch):
    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    first = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)

    def refuse(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    second = publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)
    assert len(second.unchanged) == len(GENERATION_TABLES)
    for before, after in zip(first.tables, second.tables):
        assert before.parquet.stat().st_ino != after.parquet.stat().st_ino
        assert before.parquet.read_bytes() == after.parquet.read_bytes()
    assert read_snapshot_set(second.parquet_folder) == read_snapshot_set(first.parquet_folder)


class RecordingConnection:
    """The warehouse connection, noting the statements that write a table of the BI file."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.tables_written = con, []

    def execute(self, query: str, *args):
        if query.startswith("create or replace table bi_"):
            self.tables_written.append(query.split()[4].split(".", 1)[1])
        return self.con.execute(query, *args)


def test_the_duckdb_file_replaces_only_the_changed_tables(generation_warehouse, tmp_path):
    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    recording = RecordingConnection(con)
    publish_snapshot(recording, bi_path, parquet_dir, keep_snapshots=2)
    assert len(recording.tables_written) == len(GENERATION_TABLES)

    recording.tables_written.clear()
    con.execute("delete from segments.customer_segments where id < 10")
    con.execute("drop table segments.treue_kunden")
    publish_snapshot(recording, bi_path, parquet_dir, keep_snapshots=2)
    assert recording.tables_written == ["segments.customer_segments"]
    full_bi = tmp_path / "full.duckdb"
    publish_snapshot(con, full_bi, tmp_path / "full", keep_snapshots=1)
    assert read_bi_file(bi_path) == read_bi_file(full_bi)
    assert "segments.treue_kunden" not in read_bi_file(bi_path)


@pytest.mark.parametrize("previous", ["unreadable", "without fingerprints"])
def test_a_duckdb_file_that_cannot_be_trusted_is_written_whole(generation_warehouse, tmp_path, previous):
    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    if previous == "unreadable":
        bi_path.write_bytes(b"not a duckdb file")
    else:  # as written before the tables carried their fingerprints, with stale contents
        with duckdb.connect(str(bi_path)) as old:
            old.execute("create schema marts")
            old.execute("create table marts.fct_orders as select 0 as generation, 0 as id, 'old' as payload")
    recording = RecordingConnection(con)
    publish_snapshot(recording, bi_path, parquet_dir, keep_snapshots=2)
    assert sorted(recording.tables_written) == sorted(f"{s}.{n}" for s, n in GENERATION_TABLES)
    full_bi = tmp_path / "full.duckdb"
    publish_snapshot(con, full_bi, tmp_path / "full", keep_snapshots=1)
    assert read_bi_file(bi_path) == read_bi_file(full_bi)


def test_a_mostly_changed_warehouse_gets_a_new_duckdb_file_not_a_copy(generation_warehouse, tmp_path, monkeypatch):
    import c360.bi_publish as publish

    con, parquet_dir, bi_path = generation_warehouse, tmp_path / "bi", tmp_path / "bi.duckdb"
    publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=2)
    copied = []
    monkeypatch.setattr(publish.shutil, "copyfile", lambda source, target: copied.append(source))
    write_generation(con, 2, rows=5_000)
    recording = RecordingConnection(con)
    snapshot = publish_snapshot(recording, bi_path, parquet_dir, keep_snapshots=2)
    assert copied == [] and snapshot.unchanged == []
    assert sorted(recording.tables_written) == sorted(f"{s}.{n}" for s, n in GENERATION_TABLES)
    assert {rows[0][0] for rows in read_bi_file(bi_path).values()} == {2}
