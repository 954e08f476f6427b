"""Publish the marts and segments for BI tools as a separate, read-only DuckDB file and Parquet files.

DuckDB lets one process write a file and locks readers of other processes out meanwhile, so BI tools
must never open the live warehouse. Each snapshot is written to a new file and renamed into place:
a reader has either the previous snapshot or the new one open, never a half-written file, and never
a lock conflict with the pipeline.

The Parquet files are a set (a report joins customers with their orders), and renaming them into
place one by one let a reader see some tables of the new snapshot beside others of the previous one.
So each snapshot writes its files into a folder of its own, `<parquet dir>/<snapshot id>/`, with a
`manifest.json` (tables, row counts, snapshot time), and only then is the pointer switched: the
symlink `current` is replaced by a rename (it always names a whole folder), and the text file
`CURRENT` names the same folder for readers that cannot follow links. A reader that resolves the
pointer once reads one snapshot throughout. The newest few snapshots stay on disk, so that a reader
that resolved an older one can finish; every Parquet file also carries its snapshot id in its
key-value metadata (`c360_snapshot_id`), so a reader can check that the files it read belong together.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

BI_SCHEMAS = ("marts", "segments")
CURRENT_LINK = "current"
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
SNAPSHOT_ID_METADATA_KEY = "c360_snapshot_id"
# UTC time to the microsecond, then a random suffix: names sort by publication time and never collide.
_SNAPSHOT_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")
_STAGING_FOLDER = re.compile(rf"\.({_SNAPSHOT_ID.pattern})\.tmp")
# What publishing wrote before snapshots had folders: stale copies that BI tools must stop reading.
_FLAT_LAYOUT_FILE = re.compile(rf"\.?({'|'.join(BI_SCHEMAS)})\.\w+\.parquet(\.\w+\.tmp)?")


@dataclass
class PublishedTable:
    schema: str
    name: str
    rows: int
    parquet: Path


@dataclass
class PublishedSnapshot:
    snapshot_id: str
    snapshot_time: datetime
    parquet_folder: Path
    tables: list[PublishedTable]
    pruned: list[str]


def bi_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Tables (not views) of the BI-facing schemas, in a stable order."""
    placeholders = ", ".join("?" for _ in BI_SCHEMAS)
    return con.execute(
        f"""
        select table_schema, table_name from information_schema.tables
        where table_catalog = current_database() and table_schema in ({placeholders})
          and table_type = 'BASE TABLE'
        order by 1, 2
        """,
        list(BI_SCHEMAS),
    ).fetchall()


def new_snapshot_id(snapshot_time: datetime) -> str:
    return f"{snapshot_time.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, bi_path: Path, parquet_dir: Path, *, keep_snapshots: int
) -> PublishedSnapshot:
    """Copy every BI table into a new DuckDB file and a new Parquet folder, then switch both into place
    and delete the Parquet snapshots beyond the newest `keep_snapshots`."""
    if keep_snapshots < 1:
        raise ValueError(f"keep_snapshots is {keep_snapshots}; the current snapshot must stay, so at least 1")
    bi_path.parent.mkdir(parents=True, exist_ok=True)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    snapshot_time = datetime.now(UTC)
    snapshot_id = new_snapshot_id(snapshot_time)
    staging_file = bi_path.with_name(f".{bi_path.name}.{snapshot_id}.tmp")
    staging_folder = parquet_dir / f".{snapshot_id}.tmp"
    staging_folder.mkdir()
    try:
        tables = _write_snapshot(con, staging_file, staging_folder, snapshot_id)
        _write_manifest(staging_folder, snapshot_id, snapshot_time, tables)
    except BaseException:
        staging_file.unlink(missing_ok=True)
        shutil.rmtree(staging_folder, ignore_errors=True)
        raise
    folder = parquet_dir / snapshot_id
    os.rename(staging_folder, folder)
    os.replace(staging_file, bi_path)
    _point_current_at(parquet_dir, snapshot_id)
    pruned = prune_snapshots(parquet_dir, keep_snapshots)
    published = [PublishedTable(t.schema, t.name, t.rows, folder / t.parquet.name) for t in tables]
    return PublishedSnapshot(snapshot_id, snapshot_time, folder, published, pruned)


def _write_snapshot(
    con: duckdb.DuckDBPyConnection, duckdb_file: Path, parquet_folder: Path, snapshot_id: str
) -> list[PublishedTable]:
    """Copy every BI table into `duckdb_file` and, from there, into one Parquet file each in `parquet_folder`."""
    alias = f"bi_{uuid.uuid4().hex[:12]}"
    tables = bi_tables(con)
    published: list[PublishedTable] = []
    con.execute(f"attach '{duckdb_file}' as {alias}")
    try:
        for schema in BI_SCHEMAS:
            con.execute(f"create schema if not exists {alias}.{schema}")
        for schema, name in tables:
            con.execute(f"create table {alias}.{schema}.{name} as select * from {schema}.{name}")
            rows = con.execute(f"select count(*) from {alias}.{schema}.{name}").fetchone()[0]
            parquet = parquet_folder / f"{schema}.{name}.parquet"
            con.execute(
                f"copy {alias}.{schema}.{name} to '{parquet}' "
                f"(format parquet, kv_metadata {{{SNAPSHOT_ID_METADATA_KEY}: '{snapshot_id}'}})"
            )
            published.append(PublishedTable(schema, name, rows, parquet))
    finally:
        con.execute(f"detach {alias}")
    return published


def _write_manifest(
    folder: Path, snapshot_id: str, snapshot_time: datetime, tables: list[PublishedTable]
) -> None:
    """What a complete snapshot holds, so that a reader can check it read all of it."""
    manifest = {
        "snapshot_id": snapshot_id,
        "snapshot_time": snapshot_time.isoformat(),
        "tables": [
            {"table": f"{t.schema}.{t.name}", "file": t.parquet.name, "rows": t.rows} for t in tables
        ],
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def _point_current_at(parquet_dir: Path, snapshot_id: str) -> None:
    """Switch `current` (relative symlink, so the folder can be moved or mounted) and `CURRENT`, each by
    one rename: a reader sees the previous target or the new one, never no pointer at all."""
    link = parquet_dir / CURRENT_LINK
    staging_link = parquet_dir / f".{CURRENT_LINK}.{snapshot_id}.tmp"
    os.symlink(snapshot_id, staging_link, target_is_directory=True)
    os.replace(staging_link, link)
    _write_text_by_rename(parquet_dir / CURRENT_FILE, snapshot_id + "\n")


def _write_text_by_rename(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def snapshot_ids(parquet_dir: Path) -> list[str]:
    """Ids of the published snapshot folders, oldest first."""
    if not parquet_dir.is_dir():
        return []
    return sorted(p.name for p in parquet_dir.iterdir() if _SNAPSHOT_ID.fullmatch(p.name) and p.is_dir())


def current_snapshot_id(parquet_dir: Path) -> str:
    """The id the pointer names now: the target of `current`, else the content of `CURRENT`."""
    link = parquet_dir / CURRENT_LINK
    if link.is_symlink():
        return Path(os.readlink(link)).name
    try:
        return (parquet_dir / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        raise FileNotFoundError(f"no BI snapshot has been published in {parquet_dir}") from None


def current_snapshot_folder(parquet_dir: Path) -> Path:
    """The folder of the current snapshot. Read every file of a set from the folder returned by one
    call: resolving the pointer again per file could land in a newer snapshot halfway."""
    return parquet_dir / current_snapshot_id(parquet_dir)


def read_manifest(snapshot_folder: Path) -> dict:
    return json.loads((snapshot_folder / MANIFEST_FILE).read_text())


def prune_snapshots(parquet_dir: Path, keep_snapshots: int) -> list[str]:
    """Delete the snapshot folders beyond the newest `keep_snapshots` (never the current one), what
    earlier runs left half-written, and the files of the former flat layout. Returns what it deleted.

    Publishing runs one at a time (the warehouse pool), so any staging folder left is a dead run's.
    """
    current = current_snapshot_id(parquet_dir)
    doomed = [s for s in snapshot_ids(parquet_dir)[:-keep_snapshots] if s != current]
    doomed += [p.name for p in parquet_dir.iterdir() if _STAGING_FOLDER.fullmatch(p.name)]
    for name in doomed:
        shutil.rmtree(parquet_dir / name, ignore_errors=True)
    flat = [p for p in parquet_dir.iterdir() if _FLAT_LAYOUT_FILE.fullmatch(p.name) and p.is_file()]
    for path in flat:
        path.unlink(missing_ok=True)
    return doomed + [p.name for p in flat]
