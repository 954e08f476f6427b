"""The daily run launched as the schedule launches it, through the webserver and the daemon, beside
the same run in-process.

    python benchmarks/bench_scheduled.py --persons 5000 [--seed 2025] [--workdir /tmp/bench_scheduled]
        [--executor job|forkserver|spawn]

`execute_in_process` (what the other benchmarks measure) hides what a scheduled run pays on top of
the step work: the queue, the run worker's start, and with the multiprocess executor one process per
step that imports the code location and then waits for the single `warehouse` pool slot. Here:

1. the demo sources start in a separate process, and `dagster dev` (webserver, daemon, code server)
   on a temporary DAGSTER_HOME holding the project's `orchestration/dagster.yaml`;
2. initial run: the job `customer_360` submitted through the webserver (queued, then started by
   the daemon, as the schedule's runs are) into an empty warehouse; the warehouse is then copied;
3. the sources advance one day, and the daily run is submitted the same way;
4. the same daily run on the copy, in this process (`execute_in_process`, as bench_daily.py).

Prints, as one JSON document: for the scheduled daily run, seconds from submission to the end, the
sum of the step work, and for each step its start offset from the run's start, its duration and the
idle time before it (since the previous step ended); the in-process daily run's seconds and steps;
and their ratio. `--executor forkserver|spawn` launches the same assets and checks with the
multiprocess executor instead of the job's own executor, to compare.

On the 5,000-person demo world (2 cores, otherwise idle) the daily run took 62 s in the daemon's run
worker with 0.1 s idle between its 52 steps, 80 s from submission, beside 58 s in-process (an earlier
version, 2 cores shared with other work: forkserver 336 s, 131 s idle). Before the run starts,
submission writes one "planned" event per asset and check (about 30 s for 435 events in SQLite here)
and the run worker imports the code location.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_daily import run_everything  # noqa: E402
from bench_landing import free_port, start_sources  # noqa: E402

from c360.settings import SYSTEMS, SourceCredentials  # noqa: E402
from demo_sources.testing.dagster_dev import LAUNCH_RUN, dagster_dev, graphql, new_instance_home, pipeline_env, wait_for_daemon  # noqa: E402

LOCATION = "orchestration.definitions"
JOB = "customer_360"
MULTIPROCESS = {"forkserver": {"start_method": {"forkserver": {"preload_modules": [LOCATION]}}}, "spawn": {}}
RUN_DEADLINE_SECONDS = 3 * 3600
# Submitting writes one "planned" event per asset and check (about 430) before the call returns: 30 s
# and more on a busy 2-core machine.
SUBMIT_TIMEOUT_SECONDS = 600



def launch_target(executor: str) -> tuple[str, dict]:
    """The job and run config to submit: the schedule's job as it is, or every asset and check (the
    implicit asset job) under the multiprocess executor with the given start method."""
    if executor == "job":
        return JOB, {}
    return "__ASSET_JOB", {"execution": {"config": {"multiprocess": MULTIPROCESS[executor]}}}


def submit_run(url: str, job_name: str, run_config: dict) -> str:
    """Submit a run through the webserver: queued, then started by the daemon like a scheduled run."""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job_name}
    params = {"selector": selector, "runConfigData": run_config}
    result = graphql(url, LAUNCH_RUN, {"params": params}, timeout=SUBMIT_TIMEOUT_SECONDS)["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"launching {job_name} failed: {result}")
    return result["run"]["runId"]


def wait_for_run(instance, run_id: str) -> None:
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while not instance.get_run_by_id(run_id).is_finished:
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} did not finish in {RUN_DEADLINE_SECONDS} s")
        time.sleep(1)


def step_timeline(instance, run_id: str) -> list[dict]:
    """Each step's start offset from the run's start, its duration and the idle time before it (since
    the latest end of a step finished before it started, or since the run's start)."""
    from dagster import DagsterEventType

    run_start = instance.get_run_record_by_id(run_id).start_time
    starts, ends, durations = {}, {}, {}
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}):
        event = entry.dagster_event
        if event.event_type == DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        else:
            ends[entry.step_key] = entry.timestamp
            durations[entry.step_key] = event.event_specific_data.duration_ms / 1000
    timeline = []
    for step, started in sorted(starts.items(), key=lambda item: item[1]):
        previous_end = max((end for end in ends.values() if end <= started), default=run_start)
        timeline.append({"step": step, "start_s": round(started - run_start, 1),
                         "seconds": round(durations.get(step, float("nan")), 2),
                         "idle_before_s": round(started - previous_end, 1)})
    return timeline


def run_through_daemon(url: str, instance, job_name: str, run_config: dict) -> dict:
    """Submit a run, wait for it, and return its figures from the run record and the event log."""
    run_id = submit_run(url, job_name, run_config)
    wait_for_run(instance, run_id)
    record = instance.get_run_record_by_id(run_id)
    if record.dagster_run.status.value != "SUCCESS":
        raise SystemExit(f"run {run_id} ended {record.dagster_run.status.value}; see the dagster dev log")
    submitted = record.create_timestamp.timestamp()
    steps = step_timeline(instance, run_id)
    return {
        "job": job_name,
        "run_config": run_config,
        "wall_seconds": round(record.end_time - submitted, 1),
        "queued_seconds": round(record.start_time - submitted, 1),
        "run_seconds": round(record.end_time - record.start_time, 1),
        "steps": len(steps),
        "step_work_seconds": round(sum(step["seconds"] for step in steps), 1),
        "idle_seconds": round(sum(step["idle_before_s"] for step in steps), 1),
        "timeline": steps,
    }


def copy_warehouse(source: Path, target: Path) -> None:
    """Copy a warehouse once its writer has let go of it, checkpointed so that the file is whole."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with duckdb.connect(str(source)) as con:
                con.execute("checkpoint")
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    shutil.copy(source, target)


def source_credentials_env() -> dict[str, str]:
    """The credentials the demo sources accept (the defaults unless set in the environment)."""
    credentials = SourceCredentials.from_env()
    return {"SHOP_API_TOKEN": credentials.shop_token, "ERP_API_KEY": credentials.erp_api_key,
            "HELPDESK_EMAIL": credentials.helpdesk_email, "HELPDESK_API_TOKEN": credentials.helpdesk_token,
            "ACCOUNTING_API_KEY": credentials.accounting_api_key}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_scheduled"))
    parser.add_argument("--executor", choices=["job", *MULTIPROCESS], default="job",
                        help="job: the job's own executor, as the schedule runs it; forkserver / spawn: "
                             "the multiprocess executor with that start method, for comparison")
    args = parser.parse_args()
    from dagster import DagsterInstance

    shutil.rmtree(args.workdir, ignore_errors=True)
    scheduled, in_process = args.workdir / "scheduled", args.workdir / "in_process"
    scheduled.mkdir(parents=True)
    in_process.mkdir()
    port = free_port()
    # one NPS export for both runs, which the sources' process writes (again after the day's advance)
    nps_dir = args.workdir / "nps"
    sources = start_sources(args.persons, args.seed, port, nps_dir=nps_dir)
    sources_process = SimpleNamespace(url=lambda system: f"http://127.0.0.1:{port}/{system}",
                                      export_nps=lambda directory: None)
    os.environ.update({f"{system.upper()}_API_URL": sources_process.url(system) for system in SYSTEMS})
    os.environ["C360_NPS_IMPORT_DIR"] = str(nps_dir)
    home = new_instance_home(args.workdir / "dagster_home")
    env = pipeline_env(sources_process, scheduled / "c360.duckdb", home, C360_NPS_IMPORT_DIR=str(nps_dir),
                       **source_credentials_env())
    figures: dict = {"persons": args.persons, "seed": args.seed, "executor": args.executor}
    try:
        with (
            dagster_dev(env, args.workdir / "dagster-dev.log") as (url, process),
            DagsterInstance.from_config(str(home)) as instance,
        ):
            unhealthy = wait_for_daemon(url, process)
            if unhealthy:
                raise SystemExit(f"the Dagster daemon did not start: {', '.join(unhealthy)}")
            initial = run_through_daemon(url, instance, JOB, {})
            figures["initial_run"] = {k: initial[k] for k in ("wall_seconds", "run_seconds", "steps")}
            copy_warehouse(scheduled / "c360.duckdb", in_process / "c360.duckdb")
            advanced = requests.post(f"http://127.0.0.1:{port}/_admin/advance", params={"days": 1}, timeout=600)
            advanced.raise_for_status()
            figures["day_changed_records"] = sum(advanced.json()["changed"].values())
            figures["daily_scheduled"] = run_through_daemon(url, instance, *launch_target(args.executor))
        figures["daily_in_process"] = run_everything(in_process / "c360.duckdb")
        figures["scheduled_over_in_process"] = round(
            figures["daily_scheduled"]["wall_seconds"] / figures["daily_in_process"]["seconds"], 2)
    finally:
        sources.terminate()
        sources.wait()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
