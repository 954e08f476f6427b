"""A record whose change marker lies in the future (a source with a bad clock) lands, is flagged, and never
moves the watermark: records changed after it are still landed. Against the real demo sources over HTTP."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from c360.settings import DEFAULT_FUTURE_TOLERANCE
from connectors import ALL_RESOURCES
from connectors.base import ResourceSpec, parse_erp_datetime, parse_iso_offset
from c360.raw_store import land_resource, read_watermark
from tests.conftest import clients, make_world, serving

BERLIN = ZoneInfo("Europe/Berlin")
SPECS = {spec.key: spec for spec in ALL_RESOURCES}
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def marker(spec: ResourceSpec, moment: datetime) -> str:
    """`moment` written as the resource's source writes its change marker (docs/source_protocol.md)."""
    if spec.system == "erp":
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if spec.system in ("helpdesk", "shop"):  # Zendesk; a Shopify GraphQL DateTime
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if spec.system == "accounting":
        return moment.astimezone(BERLIN).isoformat(timespec="milliseconds")
    return moment.astimezone(BERLIN).isoformat(timespec="seconds")


def stored_marker(spec: ResourceSpec) -> str:
    """The marker's field in the demo's stored records: shop records are stored in the REST shape
    (`updated_at`) and reach the connector as GraphQL nodes (`updatedAt`)."""
    return "updated_at" if spec.system == "shop" else spec.version_field


def record_id(spec: ResourceSpec, n: int) -> int | str:
    return f"00000000-0000-4000-8000-{n:012d}" if spec.system == "accounting" else 9_000_000_000 + n


def resume_moment(spec: ResourceSpec, watermark: str) -> datetime:
    """Where the next run resumes from a stored watermark: it reads no record dated before this again."""
    if spec.system == "erp":
        return parse_erp_datetime(watermark, "watermark")
    if spec.system == "accounting":  # a Berlin day, re-read whole from its start
        day = date.fromisoformat(watermark)
        return datetime(day.year, day.month, day.day, tzinfo=BERLIN)
    if spec.system == "helpdesk" and ":" not in watermark:  # the demo's cursor: the last record's marker
        cursor = orjson.loads(base64.urlsafe_b64decode(watermark + "=" * (-len(watermark) % 4)))
        return datetime.fromtimestamp(cursor["m"] / 1_000_000, UTC)
    return parse_iso_offset(watermark, "watermark")


@pytest.mark.parametrize("key", ["shop/customers", "shop/orders", "erp/res.partner", "helpdesk/tickets",
                                 "helpdesk/users", "accounting/vouchers", "accounting/payments"])
def test_a_future_dated_record_lands_flagged_and_later_records_still_land(warehouse, monkeypatch, caplog, key):
    spec = SPECS[key]
    with serving(make_world(persons=80, seed=41)) as server:
        if spec.system == "helpdesk":
            # The demo helpdesk holds back every record dated after its own clock (Zendesk holds back the
            # last minute of changes by when they happened, and serves an imported ticket dated 2099 at
            # once): with its clock past 2099 it serves the future-dated record as Zendesk would.
            monkeypatch.setattr(server.app, "now", lambda: FUTURE + timedelta(days=1))
        # the payment state of a voucher is read per voucher and marked with the voucher's updatedDate
        store_key = "accounting/vouchers" if key == "accounting/payments" else key
        template = server.served(store_key)[-1]
        future = {**template, "id": record_id(spec, 1), stored_marker(spec): marker(spec, FUTURE)}
        server.upsert(store_key, [future])

        with clients(server) as by_system, caplog.at_level(logging.WARNING, logger="c360.raw_store"):
            client = by_system[spec.system]
            first = land_resource(warehouse, client, spec.name)
            after_first = read_watermark(warehouse, key)

            now = datetime.now(UTC) - timedelta(minutes=2)
            fresh = [{**template, "id": record_id(spec, n), stored_marker(spec): marker(spec, now)} for n in (2, 3)]
            server.upsert(store_key, fresh)
            second = land_resource(warehouse, client, spec.name)
            after_second = read_watermark(warehouse, key)

    landed = dict(warehouse.execute(f"select id, count(*) from raw.{spec.table} group by id").fetchall())
    assert {str(r["id"]) for r in fresh} <= landed.keys(), f"{key}: records changed after the future-dated one were lost"
    assert second.new == 2, key
    assert landed[str(future["id"])] == 1, key

    horizon = datetime.now(UTC) + DEFAULT_FUTURE_TOLERANCE
    for watermark in (after_first, after_second):
        assert watermark is not None and resume_moment(spec, watermark) <= horizon, (key, watermark)

    for stats in (first, second):  # read again on every run until its time comes, and flagged each time
        assert stats.future_dated == 1, key
        assert stats.future_dated_examples == {str(future["id"]): future[stored_marker(spec)]}, key
        assert warehouse.execute(
            "select future_dated from raw._syncs where sync_id = ?", [stats.sync_id]
        ).fetchone() == (1,), key
    assert second.unchanged >= 1, key
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(key in w and str(future["id"]) in w and future[stored_marker(spec)] in w for w in warnings), warnings


def test_records_within_the_tolerance_are_not_flagged(warehouse):
    spec = SPECS["shop/customers"]
    with serving(make_world(persons=60, seed=42)) as server:
        soon = datetime.now(UTC) + DEFAULT_FUTURE_TOLERANCE / 2
        server.upsert(spec.key, [{**server.served(spec.key)[-1], "id": record_id(spec, 1),
                                  stored_marker(spec): marker(spec, soon)}])
        with clients(server) as by_system:
            stats = land_resource(warehouse, by_system["shop"], spec.name)
    assert stats.future_dated == 0
    assert stats.future_dated_examples == {}
    # ahead of the clock all the same: it is read again next run instead of moving the watermark
    assert parse_iso_offset(read_watermark(warehouse, spec.key), "watermark") <= datetime.now(UTC)


def test_the_raw_asset_reports_future_dated_records_by_the_configured_tolerance(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.assets.raw_landing import raw_landing_assets
    from orchestration.resources import source_resources, warehouse_resource
    from tests.conftest import point_pipeline_at

    spec = SPECS["shop/customers"]
    asset = next(a for a in raw_landing_assets if a.key == dg.AssetKey(["raw", spec.table]))
    with serving(make_world(persons=60, seed=43)) as server:
        template = server.served(spec.key)[-1]
        in_two_hours = {**template, "id": record_id(spec, 1),
                        stored_marker(spec): marker(spec, datetime.now(UTC) + timedelta(hours=2))}
        in_2099 = {**template, "id": record_id(spec, 2), stored_marker(spec): marker(spec, FUTURE)}
        server.upsert(spec.key, [in_two_hours, in_2099])
        point_pipeline_at(monkeypatch, server, tmp_path / "c360.duckdb")
        monkeypatch.setenv("C360_FUTURE_TOLERANCE", "1d")  # a source clock a few hours fast is forgiven
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([asset], resources={**source_resources(), "warehouse": warehouse_resource()},
                                instance=instance)

    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["records_future_dated"].value == 1
    assert metadata["future_dated_examples"].value == {str(in_2099["id"]): in_2099[stored_marker(spec)]}
    assert metadata["records_new"].value >= 2
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.WARNING]
    assert any(str(in_2099["id"]) in w and in_2099[stored_marker(spec)] in w for w in warnings), warnings
