"""The daily run: every morning, the whole graph from the stored watermarks on."""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import customer_360_job

daily_customer_360 = dg.ScheduleDefinition(
    name="daily_customer_360",
    job=customer_360_job,
    cron_schedule="0 6 * * *",
    execution_timezone="Europe/Berlin",
    description="06:00 Europe/Berlin: land what changed in the four sources, rebuild the marts, publish for BI.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
