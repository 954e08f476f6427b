"""Load a generated world straight into the raw landing tables (no HTTP), for tests and benchmarks.

Rows have exactly the layout the raw landing writes (`c360.raw_store.ensure_raw_schema`):
id, the record as JSON, the change marker, sync id and load time; a record already present is
replaced (upsert by id, as the landing does).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import duckdb
import orjson
import pyarrow as pa

from connectors import ALL_RESOURCES
from c360.raw_store import ensure_raw_schema, epoch_micros

# what identity resolution reads (customers, and the orders, vouchers and tickets that link them)
IDENTITY_RESOURCES = ("shop/customers", "shop/orders", "erp/res.partner", "erp/sale.order", "helpdesk/users",
                      "helpdesk/tickets", "accounting/contacts", "accounting/vouchers")
CUSTOMER_RESOURCES = ("shop/customers", "erp/res.partner", "helpdesk/users", "accounting/contacts")


def _land_batch(con: duckdb.DuckDBPyConnection, spec, batch: list[dict], sync_id: str, loaded_at: datetime) -> int:
    ids, records, versions, updated = [], [], [], []
    for record in batch:
        version = spec.record_version(record)
        ids.append(spec.record_id(record))
        records.append(orjson.dumps(record).decode())
        versions.append(epoch_micros(version))
        updated.append(version if isinstance(version, datetime) else None)
    arrow = pa.table({
        "id": pa.array(ids, pa.string()), "record": pa.array(records, pa.string()),
        "_version": pa.array(versions, pa.int64()),
        "_source_updated_at": pa.array(updated, pa.timestamp("us", tz="UTC")),
    })
    table = f"raw.{spec.table}"
    con.register("__incoming", arrow)
    con.execute(f"delete from {table} where id in (select id from __incoming)")
    con.execute(f"insert into {table} select id, record::json, _version, _source_updated_at, ?, ? "
                f"from __incoming", [sync_id, loaded_at])
    con.unregister("__incoming")
    return len(ids)


def load_world(con: duckdb.DuckDBPyConnection, world, resources=IDENTITY_RESOURCES, batch_size: int = 50_000) -> dict:
    specs = {spec.key: spec for spec in ALL_RESOURCES}
    ensure_raw_schema(con, list(specs.values()))
    sync_id = uuid.uuid4().hex
    loaded_at = datetime.now(UTC)
    return {key: sum(_land_batch(con, specs[key], batch, sync_id, loaded_at)
                     for batch in world.iter_record_batches(key, batch_size))
            for key in resources}


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
