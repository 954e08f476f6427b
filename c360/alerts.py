"""Run-failure alerts: a log line always, and a POST to a Slack/Teams-compatible webhook when set.

`C360_ALERT_WEBHOOK_URL` names the webhook (Slack incoming webhooks and Teams workflows both accept
a JSON body with a `text` field). The URL is a secret: it is never logged.
"""

from __future__ import annotations

import logging

import requests

from c360 import settings

log = logging.getLogger(__name__)

def failure_message(job_name: str, run_id: str, failed_steps: list[str], error: str | None) -> str:
    steps = ", ".join(failed_steps) if failed_steps else "(no step failed: the run itself failed)"
    lines = [f":rotating_light: c360 run failed: job `{job_name}`, run `{run_id}`", f"Failed steps: {steps}"]
    if error:
        lines.append(f"Error: {error[:500]}")
    return "\n".join(lines)


def send_failure_alert(job_name: str, run_id: str, failed_steps: list[str], error: str | None) -> bool:
    """Log the failure and post it to the webhook if one is configured; True if a post was accepted."""
    text = failure_message(job_name, run_id, failed_steps, error)
    log.error(text)
    url = settings.alert_webhook_url()
    if not url:
        return False
    payload = {"text": text, "job": job_name, "run_id": run_id, "failed_steps": failed_steps}
    try:
        response = requests.post(url, json=payload, timeout=10)
        response.raise_for_status()
    except requests.RequestException as exc:
        # The exception text may carry the URL; name only its kind.
        log.error("the failure alert could not be posted to the webhook (%s)", type(exc).__name__)
        return False
    return True
