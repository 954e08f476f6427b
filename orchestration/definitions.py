"""The code location: every asset, job, schedule and resource of the pipeline, assembled here."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt_models import c360_dbt_models, dbt_resource
from orchestration.assets.identity import identity_assets
from orchestration.assets.raw_landing import raw_landing_assets
from orchestration.resources import source_resources, warehouse_resource

all_assets_job = dg.define_asset_job(
    name="customer_360",
    selection=dg.AssetSelection.all(),
    description="The whole pipeline: land the four sources, then everything downstream of them.",
)



def build_definitions() -> dg.Definitions:
    """The definitions with resources configured from the environment as it is now."""
    return dg.Definitions(
        assets=[*raw_landing_assets, c360_dbt_models, *identity_assets],
        jobs=[all_assets_job],
        resources={**source_resources(), "warehouse": warehouse_resource(), "dbt": dbt_resource()},
    )


defs = build_definitions()
