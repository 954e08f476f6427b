"""Load a generated world straight into the raw landing tables (no HTTP), for tests and benchmarks.

Rows are written by the raw store (`c360.raw_store.replace_rows`), in the layout the landing writes:
id, the record as JSON, the change marker, sync id and load time; a record already present is
replaced (upsert by id, as the landing does). The NPS answers, which the pipeline imports from a
survey tool's CSV export, go the real way: the demo's export written to a folder, then imported
(`load_nps`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from connectors import ALL_RESOURCES
from c360.nps_import import ImportStats, import_nps_files
from c360.raw_store import ensure_raw_schema, raw_row, replace_rows
from demo_sources.nps_export import write_export

# what identity resolution reads (customers, and the orders, vouchers and tickets that link them)
IDENTITY_RESOURCES = ("shop/customers", "shop/orders", "erp/res.partner", "erp/sale.order", "helpdesk/users",
                      "helpdesk/tickets", "accounting/contacts", "accounting/vouchers")
CUSTOMER_RESOURCES = ("shop/customers", "erp/res.partner", "helpdesk/users", "accounting/contacts")


def _land_batch(con: duckdb.DuckDBPyConnection, spec, batch: list[dict], sync_id: str, loaded_at: datetime) -> int:
    return replace_rows(con, spec.table, [raw_row(spec, record) for record in batch], sync_id=sync_id,
                        loaded_at=loaded_at)


def load_world(con: duckdb.DuckDBPyConnection, world, resources=IDENTITY_RESOURCES, batch_size: int = 50_000) -> dict:
    specs = {spec.key: spec for spec in ALL_RESOURCES}
    ensure_raw_schema(con, list(specs.values()))
    sync_id = uuid.uuid4().hex
    loaded_at = datetime.now(UTC)
    # a resource the world does not hold lands empty (the generated helpdesk has no CSAT survey responses)
    return {key: sum(_land_batch(con, specs[key], batch, sync_id, loaded_at)
                     for batch in world.iter_record_batches(key, batch_size))
            if key in world.resource_keys else 0
            for key in resources}


def load_nps(con: duckdb.DuckDBPyConnection, world, directory: Path) -> ImportStats:
    """Write the world's NPS export into `directory` and import the folder into `raw.nps_responses`."""
    write_export(world, directory)
    return import_nps_files(con, directory)


def land_changes(con: duckdb.DuckDBPyConnection, changes: dict[str, list[dict]],
                 resources=IDENTITY_RESOURCES) -> dict:
    """Land only a day's changes (`world.advance_day()`), as a daily sync would: one new load time."""
    specs = {spec.key: spec for spec in ALL_RESOURCES}
    sync_id = uuid.uuid4().hex
    loaded_at = datetime.now(UTC)
    return {key: _land_batch(con, specs[key], changes[key], sync_id, loaded_at) if changes.get(key) else 0
            for key in resources}


def drop_order_links(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the order-type tables: a customers-only replay with no order links at all."""
    for spec in ALL_RESOURCES:
        if spec.key not in CUSTOMER_RESOURCES:
            con.execute(f"delete from raw.{spec.table}")
