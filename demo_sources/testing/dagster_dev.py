"""`dagster dev` (webserver, daemon and code server) on a real instance directory, for tests.

The instance gets the project's `orchestration/dagster.yaml`; the pipeline reads the given demo
sources and writes the given warehouse, as under `make demo`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from c360.settings import DEMO_ERP_CUSTOM_FIELDS, SYSTEMS
from demo_sources.testing import CREDENTIALS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Submits a run as the UI and the schedule do: queued, then started by the daemon.
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
    response.raise_for_status()
    return response.json()["data"]


def pipeline_env(server, warehouse: Path, dagster_home: Path, **extra: str) -> dict[str, str]:
    """The environment of `dagster dev`: this instance, these demo sources, this warehouse (and the server's
    NPS export written into the warehouse's default NPS import folder)."""
    nps_dir = Path(warehouse).parent / "imports" / "nps"
    server.export_nps(nps_dir)
    return {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "C360_WAREHOUSE": str(warehouse),
        "C360_BI_WAREHOUSE": str(Path(warehouse).with_name("bi.duckdb")),
        "C360_NPS_IMPORT_DIR": str(nps_dir),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SHOP_API_TOKEN": CREDENTIALS.shop_token,
        "ERP_API_KEY": CREDENTIALS.erp_api_key,
        **DEMO_ERP_CUSTOM_FIELDS,
        "HELPDESK_EMAIL": CREDENTIALS.helpdesk_email,
        "HELPDESK_API_TOKEN": CREDENTIALS.helpdesk_token,
        "ACCOUNTING_API_KEY": CREDENTIALS.accounting_api_key,
        **{f"{system.upper()}_API_URL": server.url(system) for system in SYSTEMS},
        **extra,
    }


def new_instance_home(path: Path) -> Path:
    """An instance directory holding the project's instance file."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", path / "dagster.yaml")
    return path


def _code_location_loaded(url: str) -> bool:
    data = graphql(url, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                        "locationOrLoadError { __typename } } } } }")
    entries = data["workspaceOrError"]["locationEntries"]
    return bool(entries) and all(
        e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for e in entries
    )


def wait_for_ui(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    """Until the webserver answers and has loaded the code location."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dagster dev exited with {process.returncode}")
        try:
            if _code_location_loaded(url):
                return
        except (requests.RequestException, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError("the Dagster UI did not load the code location in time")


def unhealthy_daemons(url: str) -> list[str]:
    """The daemons this instance requires that have not sent a heartbeat recently."""
    data = graphql(url, "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }")
    statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    return [s["daemonType"] for s in statuses if s["required"] and not s["healthy"]]


def wait_for_daemon(url: str, process: subprocess.Popen, seconds: float = 120) -> list[str]:
    """Until every required daemon is healthy; returns those still unhealthy at the deadline."""
    deadline = time.monotonic() + seconds
    unhealthy = ["(no answer)"]
    while time.monotonic() < deadline and process.poll() is None:
        try:
            unhealthy = unhealthy_daemons(url)
        except (requests.RequestException, KeyError, TypeError):
            pass
        if not unhealthy:
            return []
        time.sleep(1)
    return unhealthy


@contextmanager
def dagster_dev(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`dagster dev` on the project's workspace; yields (UI url, process) once the code location is
    loaded, and stops the whole process group afterwards."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
            # dagster dev must be stoppable even if this process was started with signals ignored
            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL),
                                signal.signal(signal.SIGTERM, signal.SIG_DFL)),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ui(url, process)
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
