"""Raw landing against the real demo sources over HTTP: complete, idempotent, incremental, restartable."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
import requests

from connectors import ALL_RESOURCES
from connectors.errors import SourceAuthError
from c360.raw_store import land_resource
from demo_sources.shop_graphql import as_fetched
from c360.settings import ErpOptions
from connectors.erp import model_fields
from tests.conftest import (CREDENTIALS, clients, land_every_resource, make_world_serving_every_resource,
                            served_by_id, serving)


def land_everything(con, server, **client_options) -> dict:
    return land_every_resource(con, server, **client_options)


def landed(con, spec) -> dict[str, dict]:
    """The landed records the source still holds (those found deleted are kept, marked)."""
    rows = con.execute(f"select id, record::varchar from raw.{spec.table} where _deleted_at is null").fetchall()
    assert len(rows) == len({row[0] for row in rows}), f"{spec.table} holds an id twice"
    return {row[0]: orjson.loads(row[1]) for row in rows}


def assert_warehouse_equals_sources(con, server) -> None:
    for spec in ALL_RESOURCES:
        expected = served_by_id(server, spec)
        assert expected, f"the world serves no {spec.key}: the test would prove nothing"
        assert landed(con, spec) == expected, f"{spec.key}: landed records differ from the served ones"


@pytest.mark.parametrize("faults", ["none", "flaky", "hostile"])
def test_every_served_record_lands_once_in_its_latest_version(warehouse, faults):
    world = make_world_serving_every_resource(persons=250, seed=11)
    with serving(world, faults=faults) as server:
        # The hostile profile answers some requests slower than this timeout: they must be retried.
        stats = land_everything(warehouse, server, timeout=2.0, max_retries=12)
        assert_warehouse_equals_sources(warehouse, server)
    if faults != "none":
        assert sum(s.retries + s.throttled for s in stats.values()) > 0, "the profile injected no fault"


def test_rerun_without_changes_lands_nothing_and_a_new_day_lands_exactly_the_changes(warehouse):
    world = make_world_serving_every_resource(persons=300, seed=12)
    with serving(world) as server:
        land_everything(warehouse, server)
        before = {spec.key: served_by_id(server, spec) for spec in ALL_RESOURCES}

        rerun = land_everything(warehouse, server)
        for key, stats in rerun.items():
            assert (stats.new, stats.updated) == (0, 0), f"{key}: a run without changes landed records"

        server.advance(days=1)
        after = {spec.key: served_by_id(server, spec) for spec in ALL_RESOURCES}
        daily = land_everything(warehouse, server)
        changed_somewhere = 0
        for spec in ALL_RESOURCES:
            old, new = before[spec.key], after[spec.key]
            expected_new = set(new) - set(old)
            expected_updated = {i for i in set(new) & set(old) if new[i] != old[i]}
            changed_somewhere += len(expected_new) + len(expected_updated)
            stats = daily[spec.key]
            rows = warehouse.execute(
                f"select id from raw.{spec.table} where _sync_id = ?", [stats.sync_id]
            ).fetchall()
            assert {r[0] for r in rows} == expected_new | expected_updated, spec.key
            assert (stats.new, stats.updated) == (len(expected_new), len(expected_updated)), spec.key
        assert changed_somewhere > 0, "advancing the clock changed nothing"
        assert_warehouse_equals_sources(warehouse, server)


class Interrupted(Exception):
    pass


def test_a_run_killed_midway_and_restarted_ends_like_an_uninterrupted_run(tmp_path):
    import duckdb

    world = make_world_serving_every_resource(persons=400, seed=13)
    with serving(world) as server:
        with duckdb.connect(str(tmp_path / "interrupted.duckdb")) as con, clients(server) as by_system:
            for spec in ALL_RESOURCES:
                client = by_system[spec.system]
                original_fetch = client.fetch

                def dying_fetch(resource, watermark, _fetch=original_fetch):
                    for number, page in enumerate(_fetch(resource, watermark)):
                        if number == 2:
                            raise Interrupted("killed after two pages")
                        yield page

                client.fetch = dying_fetch
                try:
                    land_resource(con, client, spec.name, batch_records=1)
                except Interrupted:
                    pass
                client.fetch = original_fetch
                land_resource(con, client, spec.name, batch_records=1)
            assert_warehouse_equals_sources(con, server)
            syncs = con.execute("select status, count(*) from raw._syncs group by 1").fetchall()
            assert dict(syncs)["failed"] > 0


def test_wrong_credentials_fail_with_an_error_naming_the_system(warehouse):
    world = make_world_serving_every_resource(persons=50, seed=14)
    wrong = CREDENTIALS.__class__(
        shop_token="nope", erp_api_key="nope", helpdesk_email="agent@example.com",
        helpdesk_token="nope", accounting_api_key="nope",
    )
    with serving(world) as server, clients(server, credentials=wrong) as by_system:
        for system, client in by_system.items():
            resource = next(iter(client.resources))
            with pytest.raises(SourceAuthError) as failure:
                land_resource(warehouse, client, resource)
            assert system in str(failure.value)
            assert "nope" not in str(failure.value)


def test_malformed_records_are_quarantined_with_their_reason_and_the_rest_lands(warehouse):
    world = make_world_serving_every_resource(persons=100, seed=15)
    with serving(world) as server:
        customer = dict(server.served("shop/customers")[0])
        broken_marker = {**customer, "id": 9_000_000_001, "updated_at": "yesterday-ish"}
        missing_id = {key: value for key, value in customer.items() if key != "id"}
        response = requests.post(
            f"{server.base_url}/_admin/records/shop/customers", json=[broken_marker, missing_id], timeout=10
        )
        response.raise_for_status()
        stats = land_everything(warehouse, server)

        assert stats["shop/customers"].quarantined == 2
        quarantined = warehouse.execute(
            "select source_id, reason, payload from raw._quarantine where resource = 'shop/customers'"
        ).fetchall()
        assert len(quarantined) == 2
        by_id = {row[0]: row for row in quarantined}
        # the connector receives GraphQL nodes: the id as the source wrote it is the global id
        assert "updatedAt" in by_id["gid://shopify/Customer/9000000001"][1]
        assert orjson.loads(by_id["gid://shopify/Customer/9000000001"][2]) == as_fetched("shop/customers", broken_marker)
        assert "id" in by_id[None][1]
        shop_customers = next(spec for spec in ALL_RESOURCES if spec.key == "shop/customers")
        well_formed = set(served_by_id(server, shop_customers)) - {"9000000001"}
        assert set(landed(warehouse, shop_customers)) == well_formed

        # Read again at the next run, a quarantined record is not quarantined twice.
        land_everything(warehouse, server)
        assert warehouse.execute("select count(*) from raw._quarantine").fetchone()[0] == 2


def test_a_record_only_the_python_parsers_read_lands_with_the_same_version(warehouse):
    # A space instead of the `T`: valid ISO 8601 for Python, outside the warehouse's strict fast path.
    world = make_world_serving_every_resource(persons=60, seed=17)
    with serving(world) as server:
        customer = dict(server.served("shop/customers")[0])
        unusual = {**customer, "id": 9_000_000_002, "updated_at": "2026-11-19 10:00:00.250+01:00"}
        response = requests.post(f"{server.base_url}/_admin/records/shop/customers", json=[unusual], timeout=10)
        response.raise_for_status()
        stats = land_everything(warehouse, server)

    assert stats["shop/customers"].quarantined == 0
    version, updated_at = warehouse.execute(
        "select _version, epoch_us(_source_updated_at) from raw.shop_customers where id = '9000000002'"
    ).fetchone()
    expected = int(datetime(2026, 11, 19, 9, 0, 0, 250_000, tzinfo=UTC).timestamp() * 1_000_000)
    assert version == updated_at == expected


def test_records_of_a_page_body_only_the_python_parsers_read_land_beside_a_malformed_one(warehouse):
    # Zendesk's pages reach the warehouse as bodies, which DuckDB splits into records: the records its
    # strict fast path leaves to the Python parsers are read there, in the same batch as the rest.
    world = make_world_serving_every_resource(persons=60, seed=19)
    with serving(world) as server:
        user = dict(server.served("helpdesk/users")[0])
        markers = {9_000_000_003: "2026-11-19T10:00:00+0100", 9_000_000_004: "2026-11-19T10:00:00.1234567+01:00"}
        unusual = [{**user, "id": record_id, "updated_at": marker} for record_id, marker in markers.items()]
        # an unreadable id: a record with an unreadable time is left out of the export, as at Zendesk
        broken = {**user, "id": "9000000005x"}
        response = requests.post(f"{server.base_url}/_admin/records/helpdesk/users", json=[*unusual, broken],
                                 timeout=10)
        response.raise_for_status()
        stats = land_everything(warehouse, server)["helpdesk/users"]
        users = next(spec for spec in ALL_RESOURCES if spec.key == "helpdesk/users")
        served = served_by_id(server, users)

    assert stats.quarantined == 1
    [(source_id, reason)] = warehouse.execute(
        "select source_id, reason from raw._quarantine where resource = 'helpdesk/users'").fetchall()
    assert source_id == "9000000005x" and "expected an integer" in reason
    assert set(landed(warehouse, users)) == set(served) - {"9000000005x"}
    expected = {
        "9000000003": datetime(2026, 11, 19, 9, 0, tzinfo=UTC),
        "9000000004": datetime(2026, 11, 19, 9, 0, 0, 123456, tzinfo=UTC),  # Python keeps microseconds
    }
    for record_id, instant in expected.items():
        version, updated_at = warehouse.execute(
            "select _version, _source_updated_at from raw.helpdesk_users where id = ?", [record_id]).fetchone()
        assert (version, updated_at) == (int(instant.timestamp() * 1_000_000), instant), record_id


def test_a_record_found_deleted_that_the_source_serves_again_unchanged_is_revived(warehouse):
    world = make_world_serving_every_resource(persons=60, seed=20)
    with serving(world) as server:
        land_everything(warehouse, server)
        served_id = str(server.served("helpdesk/users")[0]["id"])
        # as a reconciliation marks records the source no longer lists: one it still serves, one it does not
        warehouse.execute("insert into raw.helpdesk_users select '9000000006', record, _version, _source_updated_at, "
                          "_sync_id, _loaded_at, null from raw.helpdesk_users where id = ?", [served_id])
        warehouse.execute("update raw.helpdesk_users set _deleted_at = now() where id in (?, '9000000006')",
                          [served_id])
        # a full read again (its watermark gone), which serves every record unchanged
        warehouse.execute("delete from raw._sync_state where resource = 'helpdesk/users'")
        stats = land_everything(warehouse, server)["helpdesk/users"]

    assert (stats.new, stats.updated) == (0, 0)
    deleted = dict(warehouse.execute("select id, _deleted_at is not null from raw.helpdesk_users "
                                     "where id in (?, '9000000006')", [served_id]).fetchall())
    assert deleted == {served_id: False, "9000000006": True}


def test_a_record_changed_without_a_new_marker_replaces_the_stored_one(warehouse):
    # The inclusive watermark re-reads the records at the boundary: unchanged they land nothing,
    # changed under the same marker (a source that forgot to bump it) the new content wins.
    world = make_world_serving_every_resource(persons=60, seed=18)
    with serving(world) as server:
        land_everything(warehouse, server)
        boundary = max(server.served("shop/customers"), key=lambda c: (c["updated_at"], c["id"]))
        assert land_everything(warehouse, server)["shop/customers"].updated == 0

        edited = {**boundary, "note": "edited without a new updated_at"}
        response = requests.post(f"{server.base_url}/_admin/records/shop/customers", json=[edited], timeout=10)
        response.raise_for_status()
        stats = land_everything(warehouse, server)["shop/customers"]

    assert (stats.new, stats.updated) == (0, 1)
    assert landed(warehouse, next(s for s in ALL_RESOURCES if s.key == "shop/customers"))[str(boundary["id"])] == \
        as_fetched("shop/customers", edited)


def test_replay_directory_served_and_landed_reproduces_every_record(warehouse, tmp_path):
    from demo_sources.replay import load_replay, write_replay

    world = make_world_serving_every_resource(persons=200, seed=16)
    write_replay(world, tmp_path / "replay")
    replayed = load_replay(tmp_path / "replay")
    with serving(replayed) as server:
        land_everything(warehouse, server)
    for spec in ALL_RESOURCES:
        path = tmp_path / "replay" / f"{spec.key}.jsonl"
        from_file = {str(r["id"]): as_fetched(spec.key, r) for r in map(orjson.loads, path.read_bytes().splitlines())}
        assert from_file, spec.key
        if spec.system == "erp":  # the fields the connector asks for (no custom field unless configured)
            read = set(model_fields(spec.name, ErpOptions.from_env())) | {"id"}
            from_file = {i: {k: v for k, v in r.items() if k in read} for i, r in from_file.items()}
        if spec.key == "accounting/payments":  # read per voucher: the state of every voucher, paid or not
            from demo_sources.accounting import payment_response

            vouchers = map(orjson.loads, (tmp_path / "replay" / "accounting/vouchers.jsonl").read_bytes().splitlines())
            from_file = {v["id"]: {**payment_response(v, from_file.get(v["id"])), "id": v["id"],
                                   "updatedDate": v["updatedDate"]} for v in vouchers}
        assert landed(warehouse, spec) == from_file, spec.key
