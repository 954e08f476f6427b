"""The whole job after landing on both engines, DuckDB (the default) and Spark in local mode, from the same raw records.

    python benchmarks/bench_engines.py --persons 100000 [--engines duckdb,spark]

Generates a world, loads every resource into a DuckDB raw layer (`demo_sources.testing.world_loader`)
and copies it into a raw zone (what landing leaves behind on either engine), then per engine runs the
job the way a user does, `C360_ENGINE=<engine> c360 materialize`, over every asset after landing:
staging, identity's inputs, matching and resolution, facts, golden table, KPI marts, CLV, segments
and the gates between them (Spark: `local[*]`, both cores). Prints the seconds of every step as
Dagster recorded them and the peak memory of the run's process tree during each step (the Spark driver
JVM and its Python workers included), the golden customers and segment rows of each engine, and the
pairwise F1 of Spark's crosswalk against DuckDB's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from c360.identity.evaluate import pairwise_metrics  # noqa: E402
from c360.raw_zone import ZONE_SELECT, RawZone  # noqa: E402
from connectors import ALL_RESOURCES  # noqa: E402
from demo_sources.current_csat import CurrentCsatWorld  # noqa: E402
from demo_sources.testing.world_loader import load_world  # noqa: E402
from demo_sources.world import generate_world  # noqa: E402

# every asset after landing (the raw assets, their gates and the NPS import are left out: the raw
# records are loaded above); the BI snapshot and the retention erasure run on DuckDB only
SELECTION = "group:staging or group:identity or group:marts or group:segments"


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (the Spark driver JVM is a grandchild)."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0").strip())
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    def in_tree(pid: int) -> bool:
        while pid and pid != root_pid:
            pid = parents.get(pid, 0)
        return pid == root_pid
    return sum(size for pid, size in rss.items() if in_tree(pid))


def sampled_run(command: list[str], env: dict, log: Path) -> tuple[float, list[tuple[float, int]]]:
    """Seconds the command takes and its process tree's resident memory, sampled 4x a second with the
    wall-clock time (Dagster's event timestamps are wall-clock too). Its output goes to `log` (a pipe
    read at the end would fill up and stall the run)."""
    started = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        samples = []
        while process.poll() is None:
            samples.append((time.time(), tree_rss_bytes(process.pid)))
            time.sleep(0.25)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:5])} failed:\n{log.read_text()[-8000:]}")
    return seconds, samples


def step_windows(dagster_home: Path) -> tuple[list[tuple[str, float, float, int]], dict]:
    """(step key, start, end, assets materialized) of every step of the run in this Dagster instance, in
    the order they started; and what identity's matching reported: its path, training seconds, the
    blocked pairs it scored and the pairs it kept."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    event = dg.DagsterEventType
    kinds = {event.STEP_START, event.STEP_SUCCESS, event.ASSET_MATERIALIZATION}
    try:
        (run,) = instance.get_runs()
        starts, ends, built = {}, {}, Counter()
        for entry in instance.all_logs(run.run_id, of_type=kinds):
            kind = entry.dagster_event.event_type
            if kind == event.ASSET_MATERIALIZATION:
                built[entry.step_key] += 1
            else:
                (starts if kind == event.STEP_START else ends)[entry.step_key] = entry.timestamp
        matching = instance.get_latest_materialization_event(dg.AssetKey(["intermediate", "identity_match_pairs"]))
        metadata = matching.asset_materialization.metadata
        pairs = {name: metadata[name].value for name in ("path", "train_seconds", "pairs_scored", "pairs")}
    finally:
        instance.dispose()
    return sorted(((key, starts[key], ends[key], built[key]) for key in starts), key=lambda window: window[1]), pairs


def run_engine(engine: str, folder: Path, zone: RawZone, raw_warehouse: Path) -> dict:
    """The job after landing on one engine; its steps' seconds and peak memory, its row counts."""
    home = folder / engine
    (home / "dagster_home").mkdir(parents=True)
    warehouse = home / "c360.duckdb"
    if engine == "duckdb":  # the DuckDB engine reads the raw layer from its warehouse, Spark from the raw zone
        shutil.copyfile(raw_warehouse, warehouse)
    env = {**os.environ, "C360_ENGINE": engine, "C360_WAREHOUSE": str(warehouse), "C360_RAW_ZONE": zone.root,
           "C360_BI_WAREHOUSE": str(home / "bi.duckdb"), "DAGSTER_HOME": str(home / "dagster_home"),
           "C360_AS_OF": date.today().isoformat(), "C360_QUALITY_DIR": str(home / "quality")}
    seconds, samples = sampled_run([sys.executable, "-m", "c360_cli.main", "materialize", "--select", SELECTION],
                                   env, home / "run.log")
    steps = []
    windows, pairs = step_windows(home / "dagster_home")
    for key, start, end, built in windows:
        # a step shorter than the sampling interval: the sample nearest its start
        nearest = min(samples, key=lambda sample: abs(sample[0] - start))[1]
        during = [rss for at, rss in samples if start <= at <= end] or [nearest]
        steps.append((key, built, end - start, max(during) / 1024**3))
    with duckdb.connect(str(warehouse), read_only=True) as con:  # on both engines in the driver's warehouse
        crosswalk = con.execute("select source_system, source_record_id, golden_customer_id "
                                "from marts.golden_customer_sources").df()
    return {"seconds": seconds, "peak": max(rss for _, rss in samples) / 1024**3, "steps": steps,
            "figures": {**built_counts(engine, home, warehouse), **pairs},
            "crosswalk": crosswalk}


def built_counts(engine: str, home: Path, warehouse: Path) -> dict[str, int]:
    """Rows of the golden table and the segments on an engine (Spark's tables are Parquet in its warehouse)."""
    tables = {"golden customers": ("marts", "golden_customers"), "segment rows": ("segments", "customer_segments")}
    counts = {}
    for label, (schema, table) in tables.items():
        if engine == "duckdb":
            with duckdb.connect(str(warehouse), read_only=True) as con:
                counts[label] = con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
        else:
            files = home / "spark_warehouse" / f"{schema}.db" / table / "*.parquet"
            counts[label] = duckdb.connect().execute("select count(*) from read_parquet(?)", [str(files)]
                                                     ).fetchone()[0]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--engines", default="duckdb,spark", help="comma-separated, in the order they run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        world = CurrentCsatWorld(generate_world(args.persons, args.seed, today=date.today()), keep_ratings=True)
        raw_warehouse = folder / "loaded.duckdb"
        zone = RawZone(str(folder / "raw_zone"))
        with duckdb.connect(str(raw_warehouse)) as con:
            loaded = load_world(con, world, resources=[spec.key for spec in ALL_RESOURCES])
            for spec in ALL_RESOURCES:
                zone.write_batch(con, f"select {ZONE_SELECT} from raw.{spec.table}", [], spec.key, "loaded")
        del world
        print(f"world of {args.persons} persons: {sum(loaded.values())} raw records loaded and copied into the "
              f"raw zone in {time.perf_counter() - started:.1f} s", flush=True)
        results = {}
        for engine in args.engines.split(","):
            results[engine] = run_engine(engine, folder, zone, raw_warehouse)
            print(f"{engine}: {results[engine]['seconds']:.1f} s, peak {results[engine]['peak']:.2f} GB", flush=True)
    report(results)


def report(results: dict) -> None:
    for engine, result in results.items():
        print(f"\n{engine}: the job after landing in {result['seconds']:.1f} s (process included), "
              f"peak {result['peak']:.2f} GB; {result['figures']}")
        print(f"  {'step (a gate: <asset>_<check>)':56} {'assets':>6} {'s':>8} {'peak GB':>8}")
        for key, built, seconds, peak in result["steps"]:
            print(f"  {key[:56]:56} {built:6} {seconds:8.1f} {peak:8.2f}")
    if set(results) == {"duckdb", "spark"}:
        # the Spark crosswalk judged against DuckDB's as the truth: the equivalence test's measure
        agreement = pairwise_metrics(results["spark"]["crosswalk"], results["duckdb"]["crosswalk"].rename(
            columns={"golden_customer_id": "person_id"}))
        print(f"\ncrosswalks: pairwise F1 of Spark's against DuckDB's {agreement['f1']:.6f} "
              f"({agreement['correct_pairs']} of {agreement['true_pairs']} pairs shared; Spark "
              f"{agreement['predicted_pairs']}); where they differ, the two Jaro-Winkler functions do (docs/spark.md)")


if __name__ == "__main__":
    main()
