"""A daily incremental run beside a full rebuild of the same data, step by step.

    python benchmarks/bench_daily.py --persons 100000 [--seed 2025] [--workdir /tmp/bench_daily]

Starts the demo sources in a separate process, then through Dagster (in this process, as
`c360 materialize` runs it):
1. initial run: the whole graph into an empty warehouse;
2. advances the sources' clock one day, then the daily run: landing from the stored watermarks,
   dbt (incremental facts), identity, KPIs, checks, segments, BI snapshot;
3. full rebuild: the whole graph into a second, empty warehouse from the same sources.
Prints seconds per run and per step (the slowest first), peak memory of this process, and the
records the day changed, as one JSON document. Run it at N and 5N persons to see which steps
follow the history and which the day's changes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_landing import free_port, start_sources  # noqa: E402

from c360.settings import SYSTEMS  # noqa: E402


def run_everything(warehouse: Path) -> dict:
    """One run of the whole graph into `warehouse`; seconds in total and per step."""
    import dagster as dg

    os.environ["C360_WAREHOUSE"] = str(warehouse)
    os.environ["C360_BI_WAREHOUSE"] = str(warehouse.with_name("bi.duckdb"))
    os.environ["C360_BI_PARQUET_DIR"] = str(warehouse.parent / "bi_parquet")
    from orchestration.definitions import build_definitions

    job = build_definitions().resolve_implicit_global_asset_job_def()
    started = time.perf_counter()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=quiet, raise_on_error=False)
    seconds = time.perf_counter() - started
    if not result.success:
        failed = sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"})
        raise SystemExit(f"the run failed in {failed}")
    steps: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 2)
    slowest_first = dict(sorted(steps.items(), key=lambda item: -item[1]))
    return {"seconds": round(seconds, 1), "steps": len(steps), "step_seconds": slowest_first,
            "landing_seconds": round(sum(s for k, s in steps.items() if k.startswith(("raw__", "raw_"))), 1)}


def landed_by_last_sync(warehouse: Path) -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select sum(new + updated) from raw._syncs where sync_id in (select sync_id from raw._syncs"
            " qualify row_number() over (partition by resource order by started_at desc) = 1)"
        ).fetchone()[0]


def report_phase(phase: str, figures: dict) -> None:
    """The figures of a finished phase on stderr at once: a 1M run takes over an hour, and a run stopped
    before its end still leaves what it measured."""
    print(json.dumps({"phase": phase, **figures[phase]}), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_daily"))
    parser.add_argument("--no-full-rebuild", action="store_true",
                        help="compare the daily run with the initial run instead of a full rebuild (an hour less at 1M "
                             "persons): the initial run holds one day less, so daily / initial bounds daily / full from above")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    (args.workdir / "daily").mkdir(parents=True)
    (args.workdir / "full").mkdir(parents=True)
    port = free_port()
    sources = start_sources(args.persons, args.seed, port)
    for system in SYSTEMS:
        os.environ[f"{system.upper()}_API_URL"] = f"http://127.0.0.1:{port}/{system}"
    figures: dict = {"persons": args.persons, "seed": args.seed}
    try:
        daily = args.workdir / "daily" / "c360.duckdb"
        figures["initial_run"] = run_everything(daily)
        figures["initial_run"]["records_landed"] = landed_by_last_sync(daily)
        report_phase("initial_run", figures)
        advanced = requests.post(f"http://127.0.0.1:{port}/_admin/advance", params={"days": 1}, timeout=600)
        advanced.raise_for_status()
        figures["day_changed_records"] = sum(advanced.json()["changed"].values())
        figures["daily_run"] = run_everything(daily)
        figures["daily_run"]["records_landed"] = landed_by_last_sync(daily)
        report_phase("daily_run", figures)
        if args.no_full_rebuild:
            figures["daily_over_initial"] = round(figures["daily_run"]["seconds"] / figures["initial_run"]["seconds"], 3)
        else:
            figures["full_rebuild"] = run_everything(args.workdir / "full" / "c360.duckdb")
            figures["daily_over_full"] = round(figures["daily_run"]["seconds"] / figures["full_rebuild"]["seconds"], 3)
        figures["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    finally:
        sources.terminate()
        sources.wait()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
