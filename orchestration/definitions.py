"""The code location: every asset, check, job, schedule, sensor and resource of the pipeline, assembled here."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.bi_snapshot import build_bi_snapshot_asset
from orchestration.assets.dbt_models import c360_dbt_models, c360_dbt_segments, dbt_resource
from orchestration.assets.identity import identity_assets
from orchestration.assets.kpis import kpi_assets
from orchestration.assets.nps_import import nps_import_assets
from orchestration.assets.privacy import build_privacy_retention_asset
from orchestration.assets.raw_landing import raw_landing_assets
from orchestration.checks import build_quality_checks, privacy_erased_absent
from orchestration.jobs import customer_360_job
from c360.bi_publish import BI_SCHEMAS
from orchestration.resources import ENGINE, SparkResource, source_resources, warehouse_resource
from orchestration.schedules import daily_customer_360
from orchestration.sensors import alert_on_run_failure

PIPELINE_ASSETS = [*raw_landing_assets, *nps_import_assets, c360_dbt_models, *identity_assets, *kpi_assets, c360_dbt_segments]
BI_FACING_KEYS = [key for assets in PIPELINE_ASSETS for key in assets.keys if key.path[0] in BI_SCHEMAS]
# erases the customers past the retention period from what is built, before it is published
PRIVACY_RETENTION = build_privacy_retention_asset(BI_FACING_KEYS)
# The BI snapshot copies the DuckDB warehouse's marts; on the Spark engine they are in Spark's catalog,
# where BI tools read them (docs/spark.md)
SERVING_ASSETS = ([build_bi_snapshot_asset([*BI_FACING_KEYS, *PRIVACY_RETENTION.keys])]
                  if ENGINE == "duckdb" else [])


def build_definitions() -> dg.Definitions:
    """The definitions with resources configured from the environment as it is now."""
    return dg.Definitions(
        assets=[*PIPELINE_ASSETS, PRIVACY_RETENTION, *SERVING_ASSETS],
        # blocking great_expectations gates on raw, golden and KPI tables (c360/quality/suites/*.yml)
        asset_checks=[*build_quality_checks(PIPELINE_ASSETS), privacy_erased_absent],
        jobs=[customer_360_job],
        schedules=[daily_customer_360],
        sensors=[alert_on_run_failure],
        resources={**source_resources(), "warehouse": warehouse_resource(), "dbt": dbt_resource(),
                   "spark": SparkResource()},
    )


defs = build_definitions()
