"""The Dagster UI on the demo, driven in Debian's Chromium: groups are listed and a launch succeeds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import make_world, serving
from demo_sources.testing.dagster_dev import PROJECT_ROOT, dagster_dev, graphql, new_instance_home, pipeline_env

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Flags for a headless Chromium as root on a machine without outside network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
GROUPS = ("shop", "erp", "helpdesk", "accounting", "staging", "identity", "marts", "segments", "serving")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def dagster_ui(tmp_path):
    world = make_world(persons=120, seed=61)
    with serving(world) as server:
        home = new_instance_home(tmp_path / "dagster_home")
        env = pipeline_env(server, tmp_path / "c360.duckdb", home)
        with dagster_dev(env, tmp_path / "dagster-dev.log") as (url, _):
            yield url


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
