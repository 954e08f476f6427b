"""Shop deletions noticed by id reconciliation: demo world -> connector -> raw landing -> staging.

Shopify deletes customers and orders outright and reports it nowhere in GraphQL; the landing lists the
shop's ids and marks landed records it no longer holds. Expected: exactly the records deleted in the
world are marked, staging flags them, an unchanged id set marks nothing, `state: disabled` stays live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from c360.raw_store import ensure_raw_schema, land_resource, reconcile_deletions
from connectors import ALL_RESOURCES
from connectors.shop import ShopClient
from tests.conftest import CREDENTIALS, make_world, serving
from tests.dbt.test_staging import build_staging_models


def deleted_ids(con, table: str) -> set[str]:
    return {row[0] for row in con.execute(f"select id from raw.{table} where _deleted_at is not null").fetchall()}


@pytest.fixture(scope="module")
def reconciled(tmp_path_factory):
    """(warehouse path, world, ids deleted by hand, ids the world deleted in a day, reconciliation stats)."""
    path = tmp_path_factory.mktemp("deletions") / "w.duckdb"
    world = make_world(persons=300, seed=51)
    with serving(world) as server, duckdb.connect(str(path)) as con:
        ensure_raw_schema(con, list(ALL_RESOURCES))
        client = ShopClient(server.url("shop"), CREDENTIALS, bulk_after_days=None)
        for name in ("customers", "orders"):
            land_resource(con, client, name)
        first = {name: reconcile_deletions(con, client, name, every_days=0) for name in ("customers", "orders")}
        orders = server.served("shop/orders")
        with_orders = {o["customer"]["id"] for o in orders if o.get("customer")}
        customer = next(c["id"] for c in server.served("shop/customers") if c["id"] not in with_orders)
        order = orders[len(orders) // 2]["id"]
        with pytest.raises(ValueError, match="has orders"):
            server.delete("shop/customers", next(iter(with_orders)))
        server.delete("shop/customers", customer)
        server.delete("shop/orders", order)
        by_hand = {"shop_customers": {str(customer)}, "shop_orders": {str(order)}}
        second = {name: reconcile_deletions(con, client, name, every_days=0) for name in ("customers", "orders")}
        marked = {table: deleted_ids(con, table) for table in by_hand}
        not_due = reconcile_deletions(con, client, "customers", every_days=7)
        # a simulated day deletes one customer and one order as the world does; the next sync notices
        server.advance(1)
        by_world = {f"shop_{key.split('/')[1]}": {str(i) for i in ids} for key, ids in world.deleted_ids().items()}
        for name in ("customers", "orders"):
            land_resource(con, client, name)
        later = datetime.now(UTC) + timedelta(days=8)
        third = {name: reconcile_deletions(con, client, name, every_days=7, now=later) for name in ("customers", "orders")}
        client.close()
    return path, by_hand, by_world, marked, {"first": first, "second": second, "not_due": not_due, "third": third}


def test_an_unchanged_id_set_marks_nothing(reconciled):
    *_, stats = reconciled
    for name, s in stats["first"].items():
        assert s.ran and s.live > 0 and s.marked_deleted == 0, name


def test_exactly_the_deleted_customer_and_order_are_marked(reconciled):
    _, by_hand, _, marked, stats = reconciled
    assert marked == by_hand
    assert {name: s.marked_deleted for name, s in stats["second"].items()} == {"customers": 1, "orders": 1}
    assert not stats["not_due"].ran  # reconciled a moment ago: not due for a week


def test_the_worlds_own_deletions_are_noticed_after_a_day(reconciled):
    path, by_hand, by_world, _, stats = reconciled
    with duckdb.connect(str(path), read_only=True) as con:
        for table, ids in by_world.items():
            assert ids > by_hand[table], table  # the day deleted one more of each
            assert deleted_ids(con, table) == ids, table
    assert all(s.ran for s in stats["third"].values())


def test_staging_shows_the_deleted_records_as_deleted_and_disabled_ones_as_live(reconciled):
    path, _, by_world, _, _ = reconciled
    results = build_staging_models(path)
    failed = [(r["unique_id"], r["status"]) for r in results["results"] if r["status"] in ("error", "fail")]
    assert not failed, failed
    with duckdb.connect(str(path), read_only=True) as con:
        customers = dict(con.execute("select source_record_id, is_deleted from staging.stg_shop__customers").fetchall())
        orders = dict(con.execute("select source_record_id, is_deleted from staging.stg_shop__orders").fetchall())
        states = dict(con.execute("select source_record_id, state from staging.stg_shop__customers").fetchall())
    assert {i for i, d in customers.items() if d} == by_world["shop_customers"]
    assert {i for i, d in orders.items() if d} == by_world["shop_orders"]
    disabled = [i for i, s in states.items() if s == "disabled" and i not in by_world["shop_customers"]]
    assert disabled and not any(customers[i] for i in disabled)
