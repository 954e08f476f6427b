"""A failed run posts one alert, naming the run and the failed step, to the configured webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from tests.conftest import make_world, serving


class CapturingWebhook:
    def __init__(self) -> None:
        self.posts: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def webhook():
    hook = CapturingWebhook()
    yield hook
    hook.close()


def test_a_failed_run_posts_one_alert_naming_run_and_failed_step(webhook, monkeypatch, tmp_path):
    world = make_world(persons=40, seed=51)
    with serving(world) as server:
        monkeypatch.setenv("C360_WAREHOUSE", str(tmp_path / "c360.duckdb"))
        monkeypatch.setenv("C360_ALERT_WEBHOOK_URL", webhook.url)
        monkeypatch.setenv("ERP_API_URL", server.url("erp"))
        monkeypatch.setenv("ERP_API_KEY", "not-the-key")
        from orchestration.definitions import build_definitions
        from orchestration.sensors import alert_on_run_failure

        defs = build_definitions()
        instance = dg.DagsterInstance.ephemeral()
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(["raw", "erp_products"])], raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name=alert_on_run_failure.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    ).for_run_failure()
    alert_on_run_failure(context)

    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert post["run_id"] == result.run_id and result.run_id in post["text"]
    assert post["failed_steps"] == ["raw__erp_products"]
    assert "raw__erp_products" in post["text"] and "erp" in post["text"]
    assert "not-the-key" not in json.dumps(post)
    # Refused credentials are not retried: one attempt, not the step's retry policy.
    attempts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
    assert len(attempts) == 1
