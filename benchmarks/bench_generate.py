"""Benchmark of the demo world generator: build time, replay write time, records/s and peak RSS.

Usage: python benchmarks/bench_generate.py --persons 100000 [--seed 1] [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo_sources.replay import write_replay  # noqa: E402
from demo_sources.world import generate_world  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # ru_maxrss is KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--today", default="2026-05-10")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_world_"))
    t0 = time.perf_counter()
    world = generate_world(args.persons, args.seed, dt.date.fromisoformat(args.today))
    t_build = time.perf_counter() - t0
    print(f"persons={args.persons} build={t_build:.1f}s peak_rss={peak_rss_gb():.2f}GB", flush=True)
    t0 = time.perf_counter()
    counts = write_replay(world, out)
    t_write = time.perf_counter() - t0
    total = sum(v for k, v in counts.items() if k != "truth")
    customers = sum(counts[k] for k in ("shop/customers", "erp/res.partner", "helpdesk/users", "accounting/contacts"))
    for k, v in counts.items():
        print(f"  {k:28s} {v:>10,d}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"records={total:,d} customer_records={customers:,d} replay_bytes={size / 1e9:.2f}GB")
    print(f"build={t_build:.1f}s write_replay={t_write:.1f}s total={t_build + t_write:.1f}s "
          f"records/s={total / (t_build + t_write):,.0f} peak_rss={peak_rss_gb():.2f}GB")
    if not args.keep and args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
