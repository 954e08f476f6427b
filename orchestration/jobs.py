"""Jobs of the pipeline."""

from __future__ import annotations

import dagster as dg

# Every step of the job writes the warehouse and sits in the one-slot pool `warehouse` (DuckDB allows
# one writing process), so the steps run one after another whatever the executor. The default
# multiprocess executor starts a process per step that imports the code location again and then
# polls for the slot with a back-off of up to 15 s: a daily run on the 5,000-person demo world took
# 1,507 s for 245 s of step work. Forking the step processes from a server that preloaded the code
# location (`forkserver`) still took 336 s, 131 s of it idle between steps; in one process the run
# pays the import once, each step starts within 0.1 s of the previous one's end, and the same daily
# run took 110 s (2 s idle) with other work on the 2 cores, 72 s (0.3 s idle) on a quiet machine, beside
# 69 s in-process. Figures of benchmarks/bench_scheduled.py on that world.
CUSTOMER_360_EXECUTOR = dg.in_process_executor

customer_360_job = dg.define_asset_job(
    name="customer_360",
    selection=dg.AssetSelection.all(),
    description="The whole pipeline: land the four sources, then everything downstream of them.",
    executor_def=CUSTOMER_360_EXECUTOR,
)
