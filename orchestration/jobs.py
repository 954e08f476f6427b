"""Jobs of the pipeline."""

from __future__ import annotations

import dagster as dg

customer_360_job = dg.define_asset_job(
    name="customer_360",
    selection=dg.AssetSelection.all(),
    description="The whole pipeline: land the four sources, then everything downstream of them.",
)
