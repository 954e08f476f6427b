"""How the scheduled run executes: one process for the whole job, and a code location that imports
cheaply (every run worker, code server and webserver reload imports it).

The default multiprocess executor started one process per step, each importing the code location and
then waiting for the one `warehouse` slot: a daily run on the 5,000-person demo world took 1,507 s for
245 s of step work (benchmarks/bench_scheduled.py measures it through the webserver and the daemon).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from demo_sources.testing.dagster_dev import PROJECT_ROOT

# Each takes from a tenth of a second (scipy.optimize) to seconds (great_expectations) to import;
# they belong inside the steps that use them.
HEAVY_MODULES = ("splink", "great_expectations", "scipy", "pandas")

PROBE = f"""
import json, sys
from orchestration.definitions import defs
job = defs.resolve_job_def("customer_360")
print(json.dumps({{
    "executor": job.executor_def.name,
    "schedule_job": defs.resolve_schedule_def("daily_customer_360").job_name,
    "heavy_modules_imported": [m for m in {HEAVY_MODULES!r} if m in sys.modules],
}}))
"""


@pytest.fixture(scope="module")
def fresh_import() -> dict:
    """What a fresh interpreter has after importing the code location, as a run worker does."""
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_scheduled_job_runs_its_steps_in_one_process(fresh_import):
    assert fresh_import["schedule_job"] == "customer_360"
    assert fresh_import["executor"] == "in_process"


def test_the_code_location_imports_no_heavy_library(fresh_import):
    assert fresh_import["heavy_modules_imported"] == []
