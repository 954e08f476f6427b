"""The Dagster UI on the demo, driven in Debian's Chromium: groups are listed and a launch succeeds."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from c360.settings import SYSTEMS
from tests.conftest import CREDENTIALS, make_world, serving

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Flags for a headless Chromium as root on a machine without outside network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
GROUPS = ("shop", "erp", "helpdesk", "accounting", "staging", "identity", "marts", "segments", "serving")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


def wait_for_ui(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dagster dev exited with {process.returncode}")
        try:
            data = graphql(url, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                "locationOrLoadError { __typename } } } } }")
            entries = data["workspaceOrError"]["locationEntries"]
            if entries and all(e["locationOrLoadError"] and
                               e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries):
                return
        except (requests.RequestException, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError("the Dagster UI did not load the code location in time")


@pytest.fixture
def dagster_ui(tmp_path):
    world = make_world(persons=120, seed=61)
    with serving(world) as server:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
        port = free_port()
        venv_bin = Path(sys.executable).parent
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "C360_WAREHOUSE": str(tmp_path / "c360.duckdb"),
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "SHOP_API_TOKEN": CREDENTIALS.shop_token,
            "ERP_API_KEY": CREDENTIALS.erp_api_key,
            "HELPDESK_EMAIL": CREDENTIALS.helpdesk_email,
            "HELPDESK_API_TOKEN": CREDENTIALS.helpdesk_token,
            "ACCOUNTING_API_KEY": CREDENTIALS.accounting_api_key,
            **{f"{system.upper()}_API_URL": server.url(system) for system in SYSTEMS},
        }
        process = subprocess.Popen(
            [str(venv_bin / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, start_new_session=True,
            stdout=open(tmp_path / "dagster-dev.log", "w"), stderr=subprocess.STDOUT,
            # dagster dev must be stoppable even if this process was started with signals ignored
            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL),
                                signal.signal(signal.SIGTERM, signal.SIG_DFL)),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_ui(url, process)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def latest_materialization_run(url: str, path: list[str]) -> str | None:
    data = graphql(
        url,
        "query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset { "
        "assetMaterializations(limit: 1) { runId } } } }",
        {"key": {"path": path}},
    )
    materializations = data["assetOrError"].get("assetMaterializations") or []
    return materializations[0]["runId"] if materializations else None


def test_ui_lists_asset_groups_and_launches_a_materialization(dagster_ui):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    asset_path = ["raw", "erp_products"]
    assert latest_materialization_run(dagster_ui, asset_path) is None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            page.goto(f"{dagster_ui}/assets", wait_until="domcontentloaded")
            page.get_by_role("button", name="Skip").click(timeout=60_000)  # the first-visit dialog
            page.goto(f"{dagster_ui}/asset-groups", wait_until="domcontentloaded")
            page.screenshot(path=str(ARTIFACTS / "dagster-ui-groups.png"))
            for group in GROUPS:
                page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)

            page.goto(f"{dagster_ui}/assets/{'/'.join(asset_path)}", wait_until="domcontentloaded")
            page.get_by_text("Materialize", exact=True).first.click(timeout=60_000)
            deadline = time.monotonic() + 120
            run_id = None
            while run_id is None and time.monotonic() < deadline:
                run_id = latest_materialization_run(dagster_ui, asset_path)
                time.sleep(1)
            assert run_id, "the launch from the UI produced no materialization"
            status = None
            while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
                status = graphql(
                    dagster_ui, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                    {"id": run_id},
                )["runOrError"]["status"]
                time.sleep(1)
            assert status == "SUCCESS"
            page.goto(f"{dagster_ui}/runs/{run_id}", wait_until="domcontentloaded")
            page.get_by_text("Success", exact=False).first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "dagster-ui-run.png"), full_page=False)
            browser.close()
