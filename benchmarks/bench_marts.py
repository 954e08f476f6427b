"""KPI marts benchmark: time to build every fact and KPI mart (dbt + predictions) at --persons N.

    python benchmarks/bench_marts.py --persons 100000 [--seed 2027] [--workdir /tmp/bench_marts]

1. generates a world and loads all 13 resources into the raw tables (demo_sources/testing/world_loader.py);
2. builds staging + identity as production does (dbt, Splink, resolution) - reported apart;
3. times the KPI marts alone: dbt facts (models/marts/facts, models/intermediate), the BG/NBD + Gamma-Gamma predictions
   asset code (c360/kpis/clv_store.py), then dbt customer_kpis, kpi_daily, kpi_monthly, their
   dbt tests, the great_expectations gates on the golden and KPI tables, and the segments (dbt build);
4. prints one JSON document: seconds per step, row counts and the fitted parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TODAY = date(2026, 11, 20)
AS_OF = "2026-11-21"


def _dbt(args: list[str], warehouse: Path) -> float:
    env = {**os.environ, "C360_WAREHOUSE": str(warehouse), "C360_AS_OF": AS_OF,
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "dbt"), *args, "--quiet", "--profiles-dir", "."],
                   cwd=ROOT / "dbt_project", env=env, check=True)
    return round(time.perf_counter() - started, 2)


def _gates(warehouse: Path, layers: tuple[str, ...]) -> float:
    """The great_expectations gates of these layers as the asset checks run them: read, validate."""
    import duckdb

    from c360.quality import load_suites
    from c360.quality.runner import validate

    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for suite in load_suites():
            if suite.layer in layers:
                result = validate(con.execute(suite.query).df(), suite)
                if not result.success:
                    raise SystemExit(f"quality gate {suite.name} failed: {[f.label for f in result.failures]}")
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_marts"))
    args = parser.parse_args()

    import duckdb

    from c360.settings import identity_memory_limit
    from connectors import ALL_RESOURCES
    from c360.identity.resolve import resolve, write_match_pairs
    from c360.identity.matching import predict_pairs
    from c360.identity.schema import RECORDS_TABLE
    from c360.kpis.clv_store import write_predictions
    from demo_sources.world import generate_world
    from demo_sources.testing.world_loader import load_world

    args.workdir.mkdir(parents=True, exist_ok=True)
    warehouse = args.workdir / f"marts_{args.persons}.duckdb"
    warehouse.unlink(missing_ok=True)
    figures: dict = {"persons": args.persons, "seed": args.seed}

    started = time.perf_counter()
    world = generate_world(args.persons, args.seed, today=TODAY)
    with duckdb.connect(str(warehouse)) as con:
        counts = load_world(con, world, resources=[spec.key for spec in ALL_RESOURCES])
    figures["generate_and_load_seconds"] = round(time.perf_counter() - started, 2)
    figures["raw_records"] = sum(counts.values())

    # upstream of the marts, as in production (not part of the marts figures)
    upstream = _dbt(["build", "--select", "path:models/staging", "path:models/identity",
                     "--exclude", "resource_type:test"], warehouse)
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        result = predict_pairs(f"(select * from {RECORDS_TABLE} where not is_collective_contact)", con,
                               memory_limit=identity_memory_limit())
        write_match_pairs(con, result.pairs)
        resolve(con, date.fromisoformat(AS_OF))
    upstream += round(time.perf_counter() - started, 2)
    upstream += _dbt(["run", "--select", "golden_customers"], warehouse)
    figures["upstream_seconds"] = round(upstream, 2)

    steps = {}
    # the facts and the business facts computed once from them (order values, company KPIs)
    steps["dbt_facts_run"] = _dbt(["run", "--select", "path:models/marts/facts", "path:models/intermediate"],
                                  warehouse)
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        stats = write_predictions(con, date.fromisoformat(AS_OF))
    steps["predictions"] = round(time.perf_counter() - started, 2)
    steps["dbt_kpis_run"] = _dbt(["run", "--select", "path:models/marts/kpis"], warehouse)
    steps["dbt_marts_tests"] = _dbt(["test", "--select", "path:models/marts/facts", "path:models/marts/kpis"], warehouse)
    steps["gx_gates_golden_and_kpis"] = _gates(warehouse, layers=("golden", "kpis"))
    steps["dbt_segments_build"] = _dbt(["build", "--select", "path:models/segments"], warehouse)
    figures["steps_seconds"] = steps
    figures["marts_total_seconds"] = round(sum(steps.values()), 2)
    figures["predictions"] = stats
    with duckdb.connect(str(warehouse), read_only=True) as con:
        figures["rows"] = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0]
                           for t in ("fct_orders", "fct_order_lines", "fct_refunds", "fct_invoices", "fct_payments",
                                     "fct_tickets", "fct_survey_responses", "fct_checkouts", "customer_kpis",
                                     "kpi_daily", "kpi_monthly")}
        figures["unresolved"] = {r[0]: r[1] for r in con.execute(
            "select fact_table, unresolved_rows from marts.unresolved_facts").fetchall()}
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
