"""Quality gates benchmark: the great_expectations suites beside the same checks as plain SQL.

    python benchmarks/bench_quality.py --persons 100000 [--seed 7] [--workdir /tmp/bench_quality]
    python benchmarks/bench_quality.py --warehouse warehouse/c360.duckdb   # every suite of a built warehouse

1. generates a world of --persons and loads every resource into the raw tables of a fresh warehouse
   (or uses --warehouse as it is, read-only: then the golden and KPI suites run too);
2. for each suite whose tables exist: reads its query into pandas (as the Dagster check does),
   validates it with GX (`c360.quality.validate`), and runs the same expectations as one SQL aggregate
   (`c360.quality.sql`); checks that both agree on pass/fail per expectation;
3. prints a table and one JSON document (seconds per suite: read, GX, SQL; rows; GX import time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TODAY = date(2026, 11, 20)


def build_raw(persons: int, seed: int, workdir: Path) -> Path:
    import duckdb

    from connectors import ALL_RESOURCES
    from demo_sources.world import generate_world
    from demo_sources.testing.world_loader import load_world

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"quality_{persons}.duckdb"
    path.unlink(missing_ok=True)
    world = generate_world(persons, seed, today=TODAY)
    with duckdb.connect(str(path)) as con:
        load_world(con, world, resources=[spec.key for spec in ALL_RESOURCES])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_quality"))
    parser.add_argument("--warehouse", type=Path, help="validate this warehouse instead of a generated raw one")
    args = parser.parse_args()

    import duckdb

    from c360.quality import load_suites
    from c360.quality.sql import validate_sql

    figures: dict = {"persons": None if args.warehouse else args.persons}
    started = time.perf_counter()
    path = args.warehouse or build_raw(args.persons, args.seed, args.workdir)
    figures["generate_and_load_seconds"] = None if args.warehouse else round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    import great_expectations  # noqa: F401 - timed: the checks import it once per process

    figures["gx_import_seconds"] = round(time.perf_counter() - started, 2)

    from c360.quality.runner import validate

    con = duckdb.connect(str(path), read_only=True)
    tables = {f"{s}.{t}" for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()}
    rows = []
    for suite in load_suites():
        referenced = [t for t in (".".join(suite.asset), *(".".join(d) for d in suite.additional_deps))]
        if not all(t in tables for t in referenced):
            continue
        t0 = time.perf_counter()
        df = con.execute(suite.query).df()
        t1 = time.perf_counter()
        gx_result = validate(df, suite)
        t2 = time.perf_counter()
        sql_result = validate_sql(con, suite)
        t3 = time.perf_counter()
        gx_passed = {e.label: e.label not in {f.label for f in gx_result.failures} for e in suite.expectations}
        rows.append({
            "suite": suite.name, "rows": len(df), "expectations": len(suite.expectations),
            "read_seconds": round(t1 - t0, 3), "gx_seconds": round(t2 - t1, 3), "sql_seconds": round(t3 - t2, 3),
            "gx_passed": gx_result.success, "sql_passed": all(sql_result.values()),
            "agree": gx_passed == sql_result,
        })
    con.close()
    figures["suites"] = rows
    figures["total"] = {
        "read_seconds": round(sum(r["read_seconds"] for r in rows), 2),
        "gx_seconds": round(sum(r["gx_seconds"] for r in rows), 2),
        "sql_seconds": round(sum(r["sql_seconds"] for r in rows), 2),
        "rows": sum(r["rows"] for r in rows),
    }
    print(f"{'suite':36} {'rows':>9} {'exp':>4} {'read s':>7} {'GX s':>7} {'SQL s':>7}  pass GX/SQL  agree")
    for r in rows:
        print(f"{r['suite']:36} {r['rows']:>9} {r['expectations']:>4} {r['read_seconds']:>7.3f} {r['gx_seconds']:>7.3f} "
              f"{r['sql_seconds']:>7.3f}  {str(r['gx_passed']):>5}/{str(r['sql_passed']):<5}  {r['agree']}")
    t = figures["total"]
    print(f"{'total':36} {t['rows']:>9} {'':>4} {t['read_seconds']:>7.2f} {t['gx_seconds']:>7.2f} {t['sql_seconds']:>7.2f}"
          f"   (GX import {figures['gx_import_seconds']} s)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
