"""Shopify bulk operations through the real path: demo shop -> connector -> raw landing.

A first sync (and a long catch-up) read through a bulk operation must land exactly what the
paginated queries land, record by record; a failed operation must stop the sync naming its error code
without moving the watermark.
"""

from __future__ import annotations

import duckdb
import orjson
import pytest
import requests

from c360.raw_store import ensure_raw_schema, land_resource, read_watermark
from connectors import ALL_RESOURCES
from connectors.errors import SourceRequestError, SourceUnavailableError
from connectors.shop import ShopClient
from connectors import shop_bulk
from connectors.shop_bulk import BulkAssembler, bulk_due
from connectors.errors import SourceError
from tests.conftest import CREDENTIALS, make_world, serving

SHOP = [spec for spec in ALL_RESOURCES if spec.system == "shop"]


def bulk_client(server, **kw) -> ShopClient:
    return ShopClient(server.url("shop"), CREDENTIALS, bulk_after_days=30, bulk_poll_interval=0.01, **kw)


def paged_client(server) -> ShopClient:
    return ShopClient(server.url("shop"), CREDENTIALS, bulk_after_days=None)


def land_all(path, client) -> dict:
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con, SHOP)
        stats = {spec.key: land_resource(con, client, spec.name) for spec in SHOP}
    client.close()
    return stats


def raw_rows(path) -> dict:
    """Every landed row of the shop tables, as stored (record text, markers), and the watermarks."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {spec.table: con.execute(
            f"select id, record::varchar, _version, _source_updated_at, _deleted_at from raw.{spec.table} order by id"
        ).fetchall() for spec in SHOP}
        marks = {spec.key: read_watermark(con, spec.key) for spec in SHOP}
    return {"tables": tables, "watermarks": marks}


def bulk_operations(server) -> list[dict]:
    return list(getattr(server.app, "_shop_bulk", {}).values())


def test_a_first_sync_through_bulk_lands_the_same_raw_records_as_pagination(tmp_path):
    with serving(make_world(persons=250, seed=41)) as server:
        bulk_stats = land_all(tmp_path / "bulk.duckdb", bulk_client(server))
        ran = bulk_operations(server)
        paged_stats = land_all(tmp_path / "paged.duckdb", paged_client(server))
        assert len(bulk_operations(server)) == len(ran) == len(SHOP), "pagination ran no bulk operation"
        expected = {spec.table: len(server.served(spec.key)) for spec in SHOP}
    assert {op["status"] for op in ran} == {"COMPLETED"}
    bulk, paged = raw_rows(tmp_path / "bulk.duckdb"), raw_rows(tmp_path / "paged.duckdb")
    for table, rows in paged["tables"].items():
        assert len(rows) == expected[table] > 0, table
        assert bulk["tables"][table] == rows, table  # record text, markers: identical row by row
    assert bulk["watermarks"] == paged["watermarks"] and all(paged["watermarks"].values())
    orders = [row for row in paged["tables"]["shop_orders"] if '"lineItems":{"nodes":[{' in row[1]]
    assert orders, "orders carry their line items, which the bulk export flattened"
    for key, stats in bulk_stats.items():
        assert stats.new == paged_stats[key].new and stats.quarantined == 0, key


def test_malformed_orders_of_a_bulk_export_are_quarantined_as_pagination_quarantines_them(tmp_path):
    """The bulk path hands the landing the ids and markers it read itself; the records it could not read
    them of go through the landing's own check, with the reason and payload pagination gives them."""
    with serving(make_world(persons=60, seed=45)) as server:
        order = dict(server.served("shop/orders")[0])
        broken_marker = {**order, "id": 9_000_000_101, "updated_at": "yesterday-ish"}
        # (an order without an id has no rows in an export: its line items could not name their parent)
        no_marker = {**{key: value for key, value in order.items() if key != "updated_at"}, "id": 9_000_000_102}
        requests.post(f"{server.base_url}/_admin/records/shop/orders", json=[broken_marker, no_marker],
                      timeout=10).raise_for_status()
        quarantined = {}
        for name, client in (("bulk", bulk_client(server)), ("paged", paged_client(server))):
            with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as con:
                ensure_raw_schema(con, SHOP)
                stats = land_resource(con, client, "orders")
                quarantined[name] = con.execute(
                    "select source_id, reason, payload::varchar from raw._quarantine order by source_id").fetchall()
                landed = con.execute("select count(*) from raw.shop_orders").fetchone()[0]
            client.close()
            assert stats.quarantined == 2 and landed == len(server.served("shop/orders")) - 2, name
    assert quarantined["bulk"] == quarantined["paged"]
    reasons = [reason for _, reason, _ in quarantined["bulk"]]
    assert "yesterday-ish" in reasons[0] and "updatedAt is null" in reasons[1]
    assert '"lineItems":{"nodes":[{' in quarantined["bulk"][0][2]  # the whole order, its line items back in


def test_an_order_whose_export_row_is_not_json_is_quarantined_and_the_rest_of_the_export_lands(tmp_path, monkeypatch):
    """The connector cuts line items out of the export without decoding them; one that is not JSON
    must not stop the landing: its order is quarantined with the reason and the text as received."""
    feed, broken = BulkAssembler.feed, []

    def break_one_line_item(self, line: bytes):
        if not broken and line.startswith(b'{"__typename":"LineItem"') and b'"quantity":' in line:
            line = line.replace(b'"quantity":', b'"quantity":,', 1)
            broken.append(line)
        return feed(self, line)

    monkeypatch.setattr(BulkAssembler, "feed", break_one_line_item)
    with serving(make_world(persons=60, seed=46)) as server:
        client = bulk_client(server)
        with duckdb.connect(str(tmp_path / "bulk.duckdb")) as con:
            ensure_raw_schema(con, SHOP)
            stats = land_resource(con, client, "orders")
            quarantine = con.execute("select source_id, reason, payload from raw._quarantine").fetchall()
            landed = con.execute("select count(*) from raw.shop_orders").fetchone()[0]
        client.close()
        served = len(server.served("shop/orders"))
        assert bulk_operations(server), "the orders were not read through a bulk operation"
    assert broken, "the export had no line item to break"
    ((source_id, reason, payload),) = quarantine
    assert stats.quarantined == 1 and landed == served - 1
    assert reason == "not valid JSON" and source_id is None
    assert payload.startswith('{"id":"gid://shopify/Order/') and '"quantity":,' in payload


def test_records_handed_on_as_text_read_as_that_text_where_it_is_not_json():
    from connectors.base import EncodedRecords

    records = EncodedRecords([b'{"id":1}', b'{"id":2,"x":}'], ["1", "2"], [1, 2])
    assert list(records) == [{"id": 1}, '{"id":2,"x":}']


def test_a_long_catch_up_through_bulk_lands_what_a_paginated_catch_up_lands(tmp_path):
    with serving(make_world(persons=200, seed=42)) as server:
        for name in ("bulk", "paged"):
            land_all(tmp_path / f"{name}.duckdb", paged_client(server))
        server.advance(2)
        # a gap above 0 days: every increment is a catch-up through a bulk operation
        land_all(tmp_path / "bulk.duckdb", ShopClient(server.url("shop"), CREDENTIALS, bulk_after_days=0,
                                                      bulk_poll_interval=0.01))
        queries = [op["query"] for op in bulk_operations(server)]
        land_all(tmp_path / "paged.duckdb", paged_client(server))
    assert len(queries) == len(SHOP) and all("updated_at:>=" in q for q in queries)
    assert raw_rows(tmp_path / "bulk.duckdb") == raw_rows(tmp_path / "paged.duckdb")


@pytest.mark.parametrize("code, error", [("TIMEOUT", SourceUnavailableError), ("ACCESS_DENIED", SourceRequestError)])
def test_a_failed_bulk_operation_names_its_error_code_and_moves_no_watermark(tmp_path, code, error):
    path = tmp_path / "w.duckdb"
    with serving(make_world(persons=80, seed=43)) as server, duckdb.connect(str(path)) as con:
        server.app.shop_bulk_failure = code
        ensure_raw_schema(con, SHOP)
        client = bulk_client(server)
        with pytest.raises(error) as raised:
            land_resource(con, client, "orders")
        assert code in str(raised.value) and "FAILED" in str(raised.value)
        assert read_watermark(con, "shop/orders") is None
        assert con.execute("select count(*) from raw.shop_orders").fetchone() == (0,)
        assert con.execute("select status from raw._syncs").fetchall() == [("failed",)]
        server.app.shop_bulk_failure = None  # the next run starts another operation, which completes
        stats = land_resource(con, client, "orders")
        assert stats.new == len(server.served("shop/orders")) and read_watermark(con, "shop/orders")


class Stopped(Exception):
    pass


def test_a_bulk_sync_stopped_before_its_last_page_keeps_nothing_and_the_next_lands_everything(tmp_path, monkeypatch):
    """The export's watermark comes with its last page, so its batches are written in one transaction: a
    sync stopped on the way leaves the warehouse and the sync's counts as they were, instead of a part
    that the next sync reads again anyway."""
    monkeypatch.setattr(shop_bulk, "BULK_PAGE_RECORDS", 40)
    with serving(make_world(persons=250, seed=47)) as server, duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        client = bulk_client(server)
        served = len(server.served("shop/orders"))
        assert served > 4 * 40, "the export must be longer than the pages read before the stop"
        export = client.fetch

        def stopping_fetch(resource, watermark):
            for number, page in enumerate(export(resource, watermark)):
                if number == 3:
                    raise Stopped("stopped after three pages")
                yield page

        client.fetch = stopping_fetch
        with pytest.raises(Stopped):
            land_resource(con, client, "orders", batch_records=1)  # a batch per page
        assert con.execute("select count(*) from raw.shop_orders").fetchone() == (0,)
        assert con.execute("select status, fetched, new, pages from raw._syncs").fetchall() == [("failed", 0, 0, 0)]
        assert read_watermark(con, "shop/orders") is None
        client.fetch = export
        stats = land_resource(con, client, "orders", batch_records=1)
        assert stats.new == served == con.execute("select count(*) from raw.shop_orders").fetchone()[0]
        assert stats.batches > 4 and read_watermark(con, "shop/orders") is not None
        client.close()


def test_an_older_api_version_runs_one_bulk_query_at_a_time():
    with serving(make_world(persons=30, seed=44)) as server:
        client = ShopClient(server.url("shop"), CREDENTIALS, api_version="2025-10")
        from connectors.shop_bulk import RUN_MUTATION
        first = client.query(RUN_MUTATION, {"query": "{ customers(sortKey: UPDATED_AT) { edges { node { id } } } }"})
        second = client.query(RUN_MUTATION, {"query": "{ orders(sortKey: UPDATED_AT) { edges { node { id } } } }"})
        client.close()
    assert first.body["data"]["bulkOperationRunQuery"]["bulkOperation"]["status"] == "CREATED"
    (refusal,) = second.body["data"]["bulkOperationRunQuery"]["userErrors"]
    assert refusal["code"] == "OPERATION_IN_PROGRESS"


def _feed(assembler: BulkAssembler, line: bytes):
    return assembler.feed(line)


def test_rows_that_do_not_follow_their_parent_are_refused():
    assembler = BulkAssembler((("lineItems", "LineItem"),))
    assert _feed(assembler, b'{"id":"gid://shopify/Order/1","name":"#1"}') is None
    _feed(assembler, b'{"__typename":"LineItem","id":"gid://shopify/LineItem/9","__parentId":"gid://shopify/Order/1"}')
    text, row = _feed(assembler, b'{"id":"gid://shopify/Order/2","name":"#2"}')
    assert orjson.loads(text) == {"id": "gid://shopify/Order/1", "name": "#1",
                                  "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/9"}]}}
    assert row == {"id": "gid://shopify/Order/1", "name": "#1"}
    with pytest.raises(SourceError, match="does not follow its parent"):
        _feed(assembler, b'{"__typename":"LineItem","id":"gid://shopify/LineItem/5",'
                         b'"__parentId":"gid://shopify/Order/1"}')


@pytest.mark.parametrize("child", [
    b'{"__typename":"LineItem","id":"l9","title":"Mug, \\"blue\\"","__parentId":"o1"}',
    # the two fields elsewhere, spaces, escapes, a parent id written another way: the row is re-serialised
    b'{"id":"l9","__parentId":"o1","__typename":"LineItem","title":"Mug, \\"blue\\""}',
    b'{ "__typename" : "LineItem", "id":"l9","title":"Mug, \\"blue\\"", "__parentId":"o1" }',
    b'{"__typename":"LineItem","id":"l9","title":"Mug, \\"blue\\"","__parentId":"\\u006f1"}',
])
def test_a_child_row_goes_back_into_its_parent_without_the_export_fields(child):
    assembler = BulkAssembler((("lineItems", "LineItem"), ("shippingLines", "ShippingLine")))
    _feed(assembler, b' {"id":"o1","note":"a } and a ,","shippingAddress":null}\r')
    _feed(assembler, child)
    text, _ = assembler.finish()
    assert orjson.loads(text) == {
        "id": "o1", "note": "a } and a ,", "shippingAddress": None,
        "lineItems": {"nodes": [{"id": "l9", "title": 'Mug, "blue"'}]}, "shippingLines": {"nodes": []},
    }
    assert list(orjson.loads(text)) == ["id", "note", "shippingAddress", "lineItems", "shippingLines"]


def test_a_node_that_holds_a_connection_itself_or_nothing_or_no_object_is_assembled_all_the_same():
    assembler = BulkAssembler((("lineItems", "LineItem"),))
    _feed(assembler, b'{"id":"gid://shopify/Order/1","lineItems":{"nodes":[{"id":"stale"}]},"name":"#1"}')
    _feed(assembler, b'{"__typename":"LineItem","id":"gid://shopify/LineItem/9","__parentId":"gid://shopify/Order/1"}')
    text, _ = _feed(assembler, b'{}')
    assert orjson.loads(text) == {"id": "gid://shopify/Order/1", "name": "#1",
                                  "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/9"}]}}
    text, _ = _feed(assembler, b'[1, 2]')
    assert orjson.loads(text) == {"lineItems": {"nodes": []}}
    with pytest.raises(SourceError, match="does not follow its parent"):  # a row cannot belong to a list
        _feed(assembler, b'{"__typename":"LineItem","id":"l9","__parentId":"gid://shopify/Order/1"}')
    text, row = assembler.finish()
    assert (text, row) == (b"[1, 2]", [1, 2]) and assembler.finish() is None


def test_bulk_is_due_without_a_watermark_or_after_the_gap():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 20, tzinfo=UTC)
    assert bulk_due(None, timedelta(days=30), now)
    assert not bulk_due(None, None, now)
    assert not bulk_due("2026-11-01T00:00:00Z", timedelta(days=30), now)
    assert bulk_due("2026-10-01T00:00:00Z", timedelta(days=30), now)
