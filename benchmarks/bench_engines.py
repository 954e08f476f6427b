"""The dbt models on both engines, DuckDB (the default) and Spark in local mode, from the same raw records.

    python benchmarks/bench_engines.py --persons 100000

Generates a world, loads every resource into a DuckDB raw layer (`demo_sources.testing.world_loader`)
and copies it into a raw zone, then per engine builds the models ported to Spark so far (the staging
models and identity's inputs, `tests/spark/test_spark_staging.py`) the way a user runs them: `dbt run`
for DuckDB, `python -m c360.spark_dbt run --target spark` for Spark (`local[*]`: both cores). Prints
seconds per stage and the peak memory of each engine's process, and the rows of `int_customer_records`
on each side (they must be equal).

Stages still missing on Spark (identity, facts, marts, segments, gates) are not timed yet.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from c360.raw_zone import ZONE_SELECT, RawZone  # noqa: E402
from connectors import ALL_RESOURCES  # noqa: E402
from demo_sources.current_csat import CurrentCsatWorld  # noqa: E402
from demo_sources.testing.world_loader import load_world  # noqa: E402
from demo_sources.world import generate_world  # noqa: E402

SELECTION = "path:models/staging int_customer_records int_identity_certain_links"


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


def timed_run(command: list[str], env: dict) -> tuple[float, float]:
    """Seconds the command takes and the peak resident memory of its process tree (GB, sampled 4x a second)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT / "dbt_project", stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{output[-6000:]}")
    return seconds, peak / 1024**3


def slowest_models(target: Path, top: int = 6) -> list[tuple[str, float]]:
    """The models of a dbt run that took longest, from its run_results.json."""
    import json

    results = json.loads((target / "run_results.json").read_text())["results"]
    timed = sorted(((r["unique_id"].split(".")[-1], r["execution_time"]) for r in results), key=lambda x: -x[1])
    return timed[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        world = CurrentCsatWorld(generate_world(args.persons, args.seed, today=date.today()), keep_ratings=True)
        warehouse = folder / "duckdb" / "warehouse.duckdb"
        warehouse.parent.mkdir()
        zone = RawZone(str(folder / "raw_zone"))
        with duckdb.connect(str(warehouse)) as con:
            loaded = load_world(con, world, resources=[spec.key for spec in ALL_RESOURCES])
            for spec in ALL_RESOURCES:
                zone.write_batch(con, f"select {ZONE_SELECT} from raw.{spec.table}", [], spec.key, "loaded")
        print(f"world of {args.persons} persons: {sum(loaded.values())} raw records loaded and copied into the "
              f"raw zone in {time.perf_counter() - started:.1f} s")

        env = {**os.environ, "C360_AS_OF": date.today().isoformat()}
        duckdb_env = {**env, "C360_WAREHOUSE": str(warehouse)}
        dbt = str(Path(sys.executable).parent / "dbt")
        duckdb_seconds, duckdb_peak = timed_run([dbt, "run", "--select", SELECTION, "--profiles-dir", ".",
                                                 "--target-path", str(folder / "duckdb_target")], duckdb_env)

        spark_env = {**env, "C360_WAREHOUSE": str(folder / "spark" / "warehouse.duckdb"), "C360_RAW_ZONE": zone.root}
        spark_seconds, spark_peak = timed_run([sys.executable, "-m", "c360.spark_dbt", "run", "--target", "spark",
                                               "--select", *SELECTION.split(),
                                               "--target-path", str(folder / "spark_target")], spark_env)
        slowest = {engine: slowest_models(folder / f"{engine}_target") for engine in ("duckdb", "spark")}

        with duckdb.connect(str(warehouse), read_only=True) as con:
            duckdb_rows = con.execute("select count(*) from intermediate.int_customer_records").fetchone()[0]
        spark_rows = duckdb.connect().execute("select count(*) from read_parquet(?)", [
            str(folder / "spark" / "spark_warehouse" / "intermediate.db" / "int_customer_records" / "*.parquet")
        ]).fetchone()[0]

    print(f"{'stage':44} {'DuckDB s':>9} {'Spark s':>9} {'ratio':>6}")
    print(f"{'staging + identity inputs (dbt run, 25 models)':44} {duckdb_seconds:9.1f} {spark_seconds:9.1f} "
          f"{spark_seconds / duckdb_seconds:6.2f}")
    print(f"peak memory (process tree): DuckDB's dbt {duckdb_peak:.2f} GB; Spark's dbt with its driver JVM "
          f"and Python workers {spark_peak:.2f} GB")
    print(f"int_customer_records rows: DuckDB {duckdb_rows}, Spark {spark_rows}")
    print("slowest models (seconds, DuckDB | Spark):")
    for (d_name, d_seconds), (s_name, s_seconds) in zip(slowest["duckdb"], slowest["spark"]):
        print(f"  {d_name:36} {d_seconds:6.1f} | {s_name:36} {s_seconds:6.1f}")
    if duckdb_rows != spark_rows:
        raise SystemExit("the engines disagree on the identity input")


if __name__ == "__main__":
    main()
