"""What the BI snapshot's parts cost on a built warehouse: per table the fingerprint, the copy into the
DuckDB file and the Parquet file; then whole publishes: the first, one with nothing changed, a few in a
row with the --change tables changed (seconds, Parquet files written, size of bi.duckdb), and the same
warehouse published from scratch.

    python -m tests.operations.bi_snapshot_costs --warehouse /tmp/bench_marts/marts_100000.duckdb \
        [--change marts.fct_orders,marts.customer_kpis] [--workdir /tmp/bi_snapshot_costs]

The warehouse is copied into the work folder first (publishing attaches files, so it needs a writable
connection) and never changed. Prints one JSON document of seconds and sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import duckdb

from c360.bi_publish import bi_tables, publish_snapshot, table_fingerprint


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def per_table_costs(con: duckdb.DuckDBPyConnection, workdir: Path) -> dict[str, dict]:
    """Seconds per table for the three things a publish may do with it."""
    costs = {}
    bi_file, parquet_dir = workdir / "per_table.duckdb", workdir / "per_table"
    bi_file.unlink(missing_ok=True)
    parquet_dir.mkdir(exist_ok=True)
    con.execute(f"attach '{bi_file}' as measured")
    for schema in ("marts", "segments"):
        con.execute(f"create schema if not exists measured.{schema}")
    for schema, name in bi_tables(con):
        table = f"{schema}.{name}"
        costs[table] = {
            "rows": con.execute(f"select count(*) from {table}").fetchone()[0],
            "fingerprint": seconds(lambda: table_fingerprint(con, schema, name)),
            "duckdb_copy": seconds(lambda: con.execute(f"create table measured.{table} as select * from {table}")),
            "parquet_write": seconds(lambda: con.execute(
                f"copy measured.{table} to '{parquet_dir / (table + '.parquet')}' (format parquet)")),
        }
    con.execute("detach measured")
    return costs


def change_tables(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """Change one row's worth of content in each table (a new row copied from an existing one)."""
    for table in tables:
        con.execute(f"insert into {table} select * from {table} limit 1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--change", default="marts.fct_orders,marts.fct_order_lines,marts.customer_kpis,"
                        "marts.kpi_daily,marts.kpi_monthly,segments.customer_segments")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bi_snapshot_costs"))
    parser.add_argument("--rounds", type=int, default=4, help="publishes with the --change tables changed")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    live = args.workdir / "c360.duckdb"
    shutil.copyfile(args.warehouse, live)
    changed = [t for t in args.change.split(",") if t]
    figures: dict = {"warehouse": str(args.warehouse), "changed_tables": changed}
    bi_path, parquet_dir = args.workdir / "bi.duckdb", args.workdir / "bi"

    with duckdb.connect(str(live)) as con:
        tables = per_table_costs(con, args.workdir)
        figures["per_table"] = tables
        figures["totals"] = {k: round(sum(t[k] for t in tables.values()), 2)
                             for k in ("fingerprint", "duckdb_copy", "parquet_write")}
        figures["changed_share_of_parquet_write"] = round(
            sum(tables[t]["parquet_write"] for t in changed) / figures["totals"]["parquet_write"], 3)
        def publish(bi_file: Path, folder: Path) -> dict:
            started = time.perf_counter()
            snapshot = publish_snapshot(con, bi_file, folder, keep_snapshots=3)
            return {"seconds": round(time.perf_counter() - started, 2),
                    "parquet_written": len(snapshot.tables) - len(snapshot.unchanged),
                    "bi_duckdb_mb": round(bi_file.stat().st_size / 1e6, 1)}

        figures["publish_first"] = publish(bi_path, parquet_dir)
        figures["publish_nothing_changed"] = publish(bi_path, parquet_dir)
        figures["publish_changed"] = []
        for _ in range(args.rounds):
            change_tables(con, changed)
            figures["publish_changed"].append(publish(bi_path, parquet_dir))
        # the same warehouse published from scratch: what every run cost before
        figures["publish_all_from_scratch"] = publish(args.workdir / "scratch.duckdb", args.workdir / "scratch")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
