"""A run worker killed with `kill -9` in the middle of landing does not block the next run.

Under `dagster dev` (the real daemon, the queued run coordinator, the default run launcher) on an
instance holding the project's `orchestration/dagster.yaml`: a landing run is killed while it holds
the `warehouse` pool slot; the next run, launched right after, completes with nobody freeing the
slot by hand (the code server marks the dead run failed, the daemon's run monitoring frees its
slot), and the raw tables then equal an uninterrupted landing of the same world. Skipped only when
the daemon does not start.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import duckdb
import pytest

from connectors import ALL_RESOURCES
from tests.conftest import clients, make_world, serving
from demo_sources.testing.dagster_dev import LAUNCH_RUN, dagster_dev, graphql, new_instance_home, pipeline_env, wait_for_daemon

POOL = "warehouse"
# How long the next run may take, from its launch to success, before the test calls it stuck.
NEXT_RUN_DEADLINE_SECONDS = 240
# Landing in the run worker itself keeps the test short (the default executor starts one process
# per step, each importing the code location). Either way the run worker is the process that claims
# the pool slot, and killing it leaves the slot claimed.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}




class PausingSources:
    """Holds back the first request for a resource's second page until released, so that a run can
    be killed mid-way through a resource with its first batch committed."""

    def __init__(self, server) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        route = server.app.route

        def paused_route(system, method, rest, *args, **kwargs):
            with self._lock:
                pause = (system, rest) in self._seen and not self.reached.is_set()
                self._seen.add((system, rest))
                if pause:
                    self.reached.set()
            if pause:
                self.release.wait(timeout=300)
            return route(system, method, rest, *args, **kwargs)

        server.app.route = paused_route


def launch_landing(url: str) -> str:
    """Submit a run of every raw asset, as the UI's Materialize does (queued, launched by the daemon)."""
    selector = {
        "repositoryLocationName": "orchestration.definitions",
        "repositoryName": "__repository__",
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": ["raw", spec.table]} for spec in ALL_RESOURCES],
        "assetCheckSelection": [],
    }
    result = graphql(url, LAUNCH_RUN, {"params": {"selector": selector, "runConfigData": IN_PROCESS}})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def run_worker_pid(instance, run_id: str) -> int | None:
    """The run worker's pid, from the engine event it reports when it starts."""
    from dagster import DagsterEventType

    for event in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        match = re.match(r"Started process for run \(pid: (\d+)\)", event.message or "")
        if match:
            return int(match.group(1))
    return None


def step_in_progress(instance, run_id: str) -> str | None:
    from dagster import DagsterEventType

    starts = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    return starts[-1].step_key if starts else None


def logged(instance, run_id: str, text: str) -> bool:
    return any(text in (event.message or "") for event in instance.all_logs(run_id))


def wait_until(condition, seconds: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def raw_tables(path: Path) -> dict[str, list[tuple]]:
    """Every raw table's ids, change markers and records."""
    query = "select id, _version, record::varchar from raw.{} order by id"
    with duckdb.connect(str(path), read_only=True) as con:
        return {spec.table: con.execute(query.format(spec.table)).fetchall() for spec in ALL_RESOURCES}


def held_slots(instance) -> list[tuple[str, str]]:
    """(run id, step) of every claimed slot of the warehouse pool."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return [(slot.run_id, slot.step_key) for slot in info.claimed_slots]


@pytest.mark.timeout(600)
def test_a_killed_run_worker_frees_the_warehouse_pool_for_the_next_run(tmp_path):
    from dagster import DagsterInstance, DagsterRunStatus

    from c360.raw_store import land_resource

    world = make_world(persons=200, seed=83)
    with serving(world) as server:
        # An uninterrupted landing of the same world, straight through the landing code.
        expected_path = tmp_path / "uninterrupted.duckdb"
        with clients(server) as built, duckdb.connect(str(expected_path)) as con:
            for spec in ALL_RESOURCES:
                land_resource(con, built[spec.system], spec.name)
        expected = raw_tables(expected_path)

        sources = PausingSources(server)
        home = new_instance_home(tmp_path / "dagster_home")
        warehouse = tmp_path / "c360.duckdb"
        with (
            dagster_dev(pipeline_env(server, warehouse, home), tmp_path / "dagster-dev.log") as (url, process),
            DagsterInstance.from_config(str(home)) as instance,
        ):
            unhealthy = wait_for_daemon(url, process)
            if unhealthy:
                pytest.skip(f"the Dagster daemon did not start: {', '.join(unhealthy)} without a heartbeat")

            # The first run is killed in the middle of a resource, after its first batch is committed.
            killed = launch_landing(url)
            wait_until(sources.reached.is_set, 180, "the first run to ask for a second page")
            step = wait_until(lambda: step_in_progress(instance, killed), 30, "the landing step in progress")
            interrupted = next(spec for spec in ALL_RESOURCES if step == f"raw__{spec.table}")
            wait_until(lambda: logged(instance, killed, f"{interrupted.key}: "), 30, "the first batch")
            assert instance.get_run_by_id(killed).status == DagsterRunStatus.STARTED
            assert held_slots(instance) == [(killed, step)]
            pid = wait_until(lambda: run_worker_pid(instance, killed), 30, "the run worker's pid")
            os.kill(pid, signal.SIGKILL)
            sources.release.set()

            # The next run, launched right away, completes without anyone freeing the slot.
            launched = time.monotonic()
            following = launch_landing(url)

            def finished():
                run = instance.get_run_by_id(following)
                return run.status if run.is_finished else None

            try:
                status = wait_until(finished, NEXT_RUN_DEADLINE_SECONDS, "the next run to finish", interval=1)
            except AssertionError as stuck:
                raise AssertionError(
                    f"{stuck}: the killed run is {instance.get_run_by_id(killed).status.value}, the next "
                    f"{instance.get_run_by_id(following).status.value}; {POOL} slots held: {held_slots(instance)}"
                ) from None
            print(f"the next run finished {time.monotonic() - launched:.0f} s after its launch")
            assert status == DagsterRunStatus.SUCCESS
            assert instance.get_run_by_id(killed).status == DagsterRunStatus.FAILURE
            assert logged(instance, killed, f"Run execution process for {killed} was terminated by signal 9")
            assert held_slots(instance) == []

    assert raw_tables(warehouse) == expected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        syncs = con.execute(
            "select status, watermark_before from raw._syncs where resource = ? order by started_at",
            [interrupted.key],
        ).fetchall()
    # the killed sync never finished; the next one went on from the watermark of its committed batch
    assert [status for status, _ in syncs] == ["running", "succeeded"]
    assert syncs[1][1] is not None


OLD_INSTANCE_FILE = """\
# the demo home as an earlier `c360 demo` left it
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 3   # changed by hand
telemetry:
  enabled: false
"""


def test_demo_adds_new_instance_settings_to_an_existing_home_keeping_its_own(tmp_path, caplog):
    import yaml
    from dagster import DagsterInstance

    from c360_cli.main import PROJECT_ROOT, update_instance_file

    project_file = PROJECT_ROOT / "orchestration" / "dagster.yaml"
    project = yaml.safe_load(project_file.read_text())

    fresh = tmp_path / "fresh" / "dagster.yaml"
    fresh.parent.mkdir()
    update_instance_file(fresh, project_file)
    assert fresh.read_text() == project_file.read_text()

    existing = tmp_path / "dagster.yaml"
    existing.write_text(OLD_INSTANCE_FILE)
    assert update_instance_file(existing, project_file) == ["run_monitoring"]
    text = existing.read_text()
    assert text.startswith(OLD_INSTANCE_FILE)  # the file's own settings and comments, untouched
    merged = yaml.safe_load(text)
    assert merged["run_monitoring"] == project["run_monitoring"]
    assert merged["concurrency"]["runs"]["max_concurrent_runs"] == 3
    assert (tmp_path / "dagster.yaml.bak").read_text() == OLD_INSTANCE_FILE
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert update_instance_file(existing, project_file) == []  # once is enough
    assert existing.read_text() == text

    # a home with its own run monitoring keeps it, with a warning if it leaves crashed runs' slots held
    own = OLD_INSTANCE_FILE + "run_monitoring:\n  enabled: true\n"
    existing.write_text(own)
    with caplog.at_level("WARNING", logger="c360"):
        assert update_instance_file(existing, project_file) == []
    assert existing.read_text() == own
    assert "free_slots_after_run_end_seconds" in caplog.text
