"""Identity resolution benchmark: time, peak memory, precision and recall at --persons N.

    python benchmarks/bench_identity.py --persons 100000 [--seed 2027] [--dirt-scale 1] [--workdir /tmp/bench] [--daily]

1. generates a world and loads its customer, order, voucher and ticket records into the raw tables
   of a fresh warehouse (not timed as part of identity resolution; reported apart);
2. runs the pipeline as it runs in production, each step in its own process so that its peak
   memory is its own: dbt (staging, `int_customer_records`, `int_identity_certain_links`),
   then Splink matching, then guards + clustering + stable ids;
3. runs the deterministic baseline (exact keys + connected components) on the same records;
4. prints one JSON document: seconds and peak RSS per step, and precision/recall/F1, exact-person
   share and household precision of both against the world's truth.

With `--daily`, then a second day: the world's day-two changes are landed, dbt updates its
incremental models, and matching + resolution run twice on copies of that warehouse: the daily path
(stored model, only the changed records' pairs) and a retrain with a full scoring (the same records).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TODAY = date(2026, 11, 20)


def _peak_mb(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def _child(step: str, warehouse: Path, extra: list[str] | None = None) -> dict:
    """Run one step in a fresh process; it prints a JSON line with its figures."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--step", step, "--warehouse", str(warehouse), *(extra or [])],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    return result


def step_generate(args) -> dict:
    import duckdb

    from demo_sources.world import DirtRates, generate_world
    from demo_sources.testing.world_loader import load_world

    started = time.perf_counter()
    world = generate_world(args.persons, args.seed, today=TODAY, dirt=DirtRates().scaled(args.dirt_scale))
    con = duckdb.connect(str(args.warehouse))
    counts = load_world(con, world)
    con.close()
    truth = world.truth()
    truth.to_csv(Path(args.warehouse).with_suffix(".truth.csv"), index=False)
    return {"seconds": round(time.perf_counter() - started, 2), "peak_mb": _peak_mb(), "raw_records": counts,
            "customer_records": len(truth)}


def step_dbt(args) -> dict:
    env = {**os.environ, "C360_WAREHOUSE": str(Path(args.warehouse).resolve()),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    subprocess.run(
        ["dbt", "run", "--select", "+int_identity_certain_links", "--profiles-dir", ".", "--quiet"],
        check=True, cwd=ROOT / "dbt_project", env=env,
    )
    return {"seconds": round(time.perf_counter() - started, 2), "peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}


def step_match(args) -> dict:
    import duckdb

    from c360.settings import identity_memory_limit
    from c360.identity.match_run import match_records

    started = time.perf_counter()
    con = duckdb.connect(str(args.warehouse))
    stats = match_records(con, args.run_date, threshold=args.threshold, retrain=args.retrain, threads=2,
                          memory_limit=identity_memory_limit()).stats
    con.close()
    return {"seconds": round(time.perf_counter() - started, 2), "peak_mb": _peak_mb(), **stats}


def step_land_day_two(args) -> dict:
    """The world again (same seed), one simulated day, only its changes landed."""
    import duckdb

    from demo_sources.world import DirtRates, generate_world
    from demo_sources.testing.world_loader import land_changes

    world = generate_world(args.persons, args.seed, today=TODAY, dirt=DirtRates().scaled(args.dirt_scale))
    started = time.perf_counter()
    con = duckdb.connect(str(args.warehouse))
    landed = land_changes(con, world.advance_day())
    con.close()
    return {"seconds": round(time.perf_counter() - started, 2), "landed": landed}


def step_resolve(args) -> dict:
    import duckdb

    from c360.identity.resolve import resolve
    from c360.settings import identity_memory_limit

    started = time.perf_counter()
    con = duckdb.connect(str(args.warehouse))
    con.execute("set threads = 2")
    stats = resolve(con, args.run_date, memory_limit=identity_memory_limit()).stats  # as the pipeline's step
    con.close()
    return {"seconds": round(time.perf_counter() - started, 2), "peak_mb": _peak_mb(), **stats}


def step_baseline(args) -> dict:
    import duckdb

    from c360.identity.baseline import baseline_clusters

    started = time.perf_counter()
    con = duckdb.connect(str(args.warehouse))
    con.execute("set threads = 2")
    clusters = baseline_clusters(con)
    con.close()
    seconds = round(time.perf_counter() - started, 2)
    clusters.to_parquet(Path(args.warehouse).with_suffix(".baseline.parquet"))
    return {"seconds": seconds, "peak_mb": _peak_mb()}


def step_evaluate(args) -> dict:
    import duckdb
    import pandas as pd

    from c360.identity.evaluate import evaluate, read_truth
    from c360.identity.schema import CROSSWALK_TABLE, RECORDS_TABLE

    truth = read_truth(Path(args.warehouse).with_suffix(".truth.csv"))
    con = duckdb.connect(str(args.warehouse), read_only=True)
    crosswalk = con.execute(f"select source_system, source_record_id, golden_customer_id from {CROSSWALK_TABLE}").df()
    records = con.execute(
        f"select source_system, source_record_id, phone_e164, street_normalized, postcode from {RECORDS_TABLE}"
    ).df()
    con.close()
    baseline = pd.read_parquet(Path(args.warehouse).with_suffix(".baseline.parquet"))
    return {"pipeline": evaluate(crosswalk, truth, records), "baseline": evaluate(baseline, truth, records)}


STEPS = {"generate": step_generate, "dbt": step_dbt, "match": step_match, "resolve": step_resolve,
         "baseline": step_baseline, "evaluate": step_evaluate, "land_day_two": step_land_day_two}


def day_two(warehouse: Path, common: list[str]) -> dict:
    """Day two's identity step (matching + resolution), daily path beside a retrain, same records."""
    import shutil

    report = {"land": _child("land_day_two", warehouse, common), "dbt": _child("dbt", warehouse, common)}
    day2 = [*common, "--run-date", (TODAY + timedelta(days=1)).isoformat()]
    for path, extra in (("daily", []), ("retrained", ["--retrain"])):
        copy = warehouse.with_name(f"{warehouse.stem}.{path}.duckdb")
        shutil.copy(warehouse, copy)
        steps = {name: _child(name, copy, day2 + (extra if name == "match" else [])) for name in ("match", "resolve")}
        report[path] = {"identity_seconds": round(sum(s["wall_seconds"] for s in steps.values()), 2), **steps}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--dirt-scale", type=float, default=1.0)
    parser.add_argument("--threshold", type=float, default=None, help="Splink match probability threshold")
    parser.add_argument("--workdir", default="/tmp/c360_bench_identity")
    parser.add_argument("--daily", action="store_true", help="then day two: daily path beside a retrain")
    parser.add_argument("--run-date", type=date.fromisoformat, default=TODAY, help=argparse.SUPPRESS)
    parser.add_argument("--retrain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threshold is None:
        from c360.identity.matching import DEFAULT_THRESHOLD

        args.threshold = DEFAULT_THRESHOLD
    if args.step:
        print(json.dumps(STEPS[args.step](args), default=str))
        return 0

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / f"identity_{args.persons}_{args.seed}_{args.dirt_scale:g}.duckdb"
    for suffix in ("", ".wal"):
        Path(str(warehouse) + suffix).unlink(missing_ok=True)
    common = ["--persons", str(args.persons), "--seed", str(args.seed), "--dirt-scale", str(args.dirt_scale),
              "--threshold", str(args.threshold)]
    report: dict = {"persons": args.persons, "seed": args.seed, "dirt_scale": args.dirt_scale,
                    "threshold": args.threshold, "cpus": os.cpu_count()}
    report["generate_and_load"] = _child("generate", warehouse, common)
    steps = {name: _child(name, warehouse, common) for name in ("dbt", "match", "resolve")}
    report["pipeline_steps"] = steps
    report["pipeline"] = {
        "seconds": round(sum(s["wall_seconds"] for s in steps.values()), 2),
        "peak_mb": max(s["peak_mb"] for s in steps.values()),
    }
    report["baseline"] = _child("baseline", warehouse, common)
    quality = _child("evaluate", warehouse, common)
    report["pipeline"].update(quality["pipeline"])
    report["baseline"].update(quality["baseline"])
    if args.daily:
        report["day_two"] = day_two(warehouse, common)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
