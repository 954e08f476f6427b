"""Asset keys of the warehouse tables (one rule, `<schema>.<table>` -> `[<schema>, <table>]`) and the
owners every asset names.

The table names are declared in `c360.tables` (and the raw tables by the connectors' resource specs);
asset keys are the history of every materialization, so they come from here and nowhere else.
"""

from __future__ import annotations

import dagster as dg

from c360.raw_store import RAW_SCHEMA

# Who answers for an asset in the UI and in alerts: one team owns the whole pipeline.
OWNERS = ["team:data-engineering"]


def asset_key(table: str) -> dg.AssetKey:
    """The asset key of a table named `<schema>.<table>`."""
    schema, name = table.split(".")
    return dg.AssetKey([schema, name])


def raw_asset_key(table: str) -> dg.AssetKey:
    """The asset key of the raw landing table `raw.<table>` of a source resource."""
    return asset_key(f"{RAW_SCHEMA}.{table}")
