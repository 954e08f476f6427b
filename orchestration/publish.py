"""Publish the marts and segments for BI tools as a separate, read-only DuckDB file and Parquet files.

DuckDB lets one process write a file and locks readers of other processes out meanwhile, so BI tools
must never open the live warehouse. Each snapshot is written to a new file and renamed into place:
a reader has either the previous snapshot or the new one open, never a half-written file, and never
a lock conflict with the pipeline.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

BI_SCHEMAS = ("marts", "segments")


@dataclass
class PublishedTable:
    schema: str
    name: str
    rows: int
    parquet: Path


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


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, bi_path: Path, parquet_dir: Path
) -> list[PublishedTable]:
    """Copy every BI table into a new DuckDB file and Parquet files, then rename them into place."""
    bi_path.parent.mkdir(parents=True, exist_ok=True)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging_file = bi_path.with_name(f".{bi_path.name}.{token}.tmp")
    alias = f"bi_{token}"
    tables = bi_tables(con)
    published: list[PublishedTable] = []
    con.execute(f"attach '{staging_file}' as {alias}")
    try:
        for schema in BI_SCHEMAS:
            con.execute(f"create schema if not exists {alias}.{schema}")
        for schema, name in tables:
            con.execute(f"create table {alias}.{schema}.{name} as select * from {schema}.{name}")
            rows = con.execute(f"select count(*) from {alias}.{schema}.{name}").fetchone()[0]
            parquet = parquet_dir / f"{schema}.{name}.parquet"
            parquet_tmp = parquet.with_name(f".{parquet.name}.{token}.tmp")
            con.execute(f"copy {alias}.{schema}.{name} to '{parquet_tmp}' (format parquet)")
            published.append(PublishedTable(schema, name, rows, parquet))
            os.replace(parquet_tmp, parquet)
    except BaseException:
        con.execute(f"detach {alias}")
        staging_file.unlink(missing_ok=True)
        raise
    con.execute(f"detach {alias}")
    os.replace(staging_file, bi_path)
    return published
