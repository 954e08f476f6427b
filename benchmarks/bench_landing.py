"""Landing throughput per connector beside a bare `requests` loop over the same pages.

    python benchmarks/bench_landing.py --persons 100000

Starts the demo sources in a separate process (throttling and faults off), then for each of the 16
resources: (1) a bare loop that fetches every page with `requests` and only decodes the JSON,
(2) the real connector landing into a fresh DuckDB file (upsert, watermark, quarantine checks).
Prints records/s of both and the ratio landing / bare loop (1.0 = the landing costs nothing extra)
per resource, per connector and for all together, as medians of `--repeat` alternating runs (each
landing into a fresh warehouse).
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_serve import bare_fetch  # noqa: E402

from c360.settings import SYSTEMS, SourceCredentials, landing_batch_records  # noqa: E402
from connectors import ALL_RESOURCES, build_client  # noqa: E402
from c360.raw_store import land_resource  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sources(persons: int, seed: int, port: int, nps_dir: Path | None = None) -> subprocess.Popen:
    """The demo sources in a separate process; `nps_dir`: where they write the NPS survey export
    (default: the pipeline's default NPS import folder)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "c360_cli.main", "sources", "serve", "--persons", str(persons),
         "--seed", str(seed), "--port", str(port), "--csat", "both",
         *(["--nps-dir", str(nps_dir)] if nps_dir else [])],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_admin/state", timeout=1).raise_for_status()
            return process
        except requests.RequestException:
            if process.poll() is not None:
                raise SystemExit("the demo sources exited before answering")
            time.sleep(0.5)
    raise SystemExit("the demo sources did not start in time")


def spread(numerators: list[float], denominators: list[float]) -> str:
    """The lowest and the highest ratio of one repetition (landing / bare loop): how far a single run
    of the same code may land from the median."""
    ratios = [n / d for n, d in zip(numerators, denominators)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def selected(only: list[str] | None) -> list:
    """The resources to measure: all, or those named by system (`shop`) or key (`shop/orders`)."""
    if not only:
        return list(ALL_RESOURCES)
    chosen = [spec for spec in ALL_RESOURCES if spec.system in only or spec.key in only]
    if not chosen:
        raise SystemExit(f"--only {' '.join(only)} names no resource; resources: "
                         f"{', '.join(spec.key for spec in ALL_RESOURCES)}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3,
                        help="bare loop and landing alternate this often per resource; medians are printed")
    parser.add_argument("--only", nargs="*", default=None, metavar="SYSTEM_OR_RESOURCE",
                        help="measure only these systems or resources (e.g. shop erp/res.partner)")
    args = parser.parse_args()

    port = free_port()
    credentials = SourceCredentials.from_env()
    started = time.perf_counter()
    sources = start_sources(args.persons, args.seed, port)
    print(f"world of {args.persons} persons generated and served in {time.perf_counter() - started:.1f} s")
    base_url = f"http://127.0.0.1:{port}"
    # Seconds per repetition, summed over the resources of each connector and over all, and records.
    totals = {group: {"bare": [0.0] * args.repeat, "landing": [0.0] * args.repeat, "records": 0}
              for group in (*SYSTEMS, "all")}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            # One warehouse per repetition, so that every landing is a first, complete load.
            warehouses = [duckdb.connect(str(Path(scratch) / f"bench{i}.duckdb")) for i in range(args.repeat)]
            clients = {s: build_client(s, f"{base_url}/{s}", credentials) for s in SYSTEMS}
            print(f"{'resource':30} {'records':>9} {'bare rec/s':>11} {'landing rec/s':>14} {'ratio':>6} {'runs':>10}")
            for spec in selected(args.only):
                bare_rates, landing_rates = [], []
                for repetition, con in enumerate(warehouses):
                    bare_records, bare_seconds = bare_fetch(base_url, spec.key, credentials)
                    stats = land_resource(con, clients[spec.system], spec.name,
                                          batch_records=landing_batch_records())
                    assert stats.fetched == bare_records, f"{spec.key}: landing and bare loop read different pages"
                    bare_rates.append(bare_records / bare_seconds)
                    landing_rates.append(stats.fetched / stats.seconds)
                    for group in (spec.system, "all"):
                        totals[group]["bare"][repetition] += bare_seconds
                        totals[group]["landing"][repetition] += stats.seconds
                for group in (spec.system, "all"):
                    totals[group]["records"] += bare_records
                bare_rate, landing_rate = statistics.median(bare_rates), statistics.median(landing_rates)
                print(
                    f"{spec.key:30} {bare_records:9d} {bare_rate:11.0f} {landing_rate:14.0f} "
                    f"{landing_rate / bare_rate:6.2f} {spread(landing_rates, bare_rates):>10}"
                )
            print("per connector, and all together:")
            for group, total in totals.items():
                if not total["records"]:
                    continue  # a system left out by --only
                bare_rate = total["records"] / statistics.median(total["bare"])
                landing_rate = total["records"] / statistics.median(total["landing"])
                print(f"{group:30} {total['records']:9d} {bare_rate:11.0f} {landing_rate:14.0f} "
                      f"{landing_rate / bare_rate:6.2f} {spread(total['bare'], total['landing']):>10}")
            print(f"(medians of {args.repeat} alternating runs; runs: the lowest and highest ratio of one run)")
            peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
            print(f"peak memory of the landing process: {peak_gb:.2f} GB (batches of up to {landing_batch_records()})")
    finally:
        sources.terminate()
        sources.wait(timeout=60)


if __name__ == "__main__":
    main()
