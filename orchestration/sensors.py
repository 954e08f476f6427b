"""Sensors: alert when a run of the pipeline fails."""

from __future__ import annotations

import dagster as dg

from c360.alerts import send_failure_alert


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description="Posts one alert per failed run (log, and C360_ALERT_WEBHOOK_URL if set) naming the failed steps.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    failed_steps = sorted({event.step_key for event in context.get_step_failure_events() if event.step_key})
    error = context.failure_event.message if context.failure_event else None
    send_failure_alert(context.dagster_run.job_name, context.dagster_run.run_id, failed_steps, error)
