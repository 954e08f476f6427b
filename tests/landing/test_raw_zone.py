"""The raw zone (Parquet files per landed batch) holds what the raw tables hold: every served record in
its latest version, after a first sync, a day of changes, and a crash between a file and its commit."""

from __future__ import annotations

import duckdb
import orjson
import pytest

from c360.raw_store import land_resource
from c360.raw_zone import RawZone, latest_records
from connectors import ALL_RESOURCES
from connectors.erp import ErpClient
from tests.conftest import CREDENTIALS, land_every_resource, make_world_serving_every_resource, served_by_id, serving


def land_all(con, server, zone) -> None:
    land_every_resource(con, server, batch_records=500, raw_zone=zone)


def zone_records(zone, spec) -> dict[str, dict]:
    with duckdb.connect() as reader:
        table = latest_records(reader, zone, spec.key)
    return {row["id"]: orjson.loads(row["record"]) for row in table.to_pylist() if row["_deleted_at"] is None}


def assert_zone_equals_sources(zone, server) -> None:
    for spec in ALL_RESOURCES:
        expected = served_by_id(server, spec)
        assert expected, f"the world serves no {spec.key}: the test would prove nothing"
        assert zone_records(zone, spec) == expected, f"{spec.key}: the raw zone differs from the served records"


def test_the_zone_holds_every_served_record_in_its_latest_version_after_a_day_of_changes(tmp_path):
    zone = RawZone(str(tmp_path / "zone"))
    world = make_world_serving_every_resource(persons=250, seed=21)
    with serving(world) as server, duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        land_all(con, server, zone)
        assert_zone_equals_sources(zone, server)
        first_files = set((tmp_path / "zone").rglob("*.parquet"))
        assert len(first_files) > len(ALL_RESOURCES), "every resource in several batches"

        land_all(con, server, zone)  # nothing changed: no new file
        assert set((tmp_path / "zone").rglob("*.parquet")) == first_files

        server.advance(days=1)
        land_all(con, server, zone)
        assert set((tmp_path / "zone").rglob("*.parquet")) > first_files
        assert_zone_equals_sources(zone, server)
    assert not list((tmp_path / "zone").rglob(".*")), "a hidden, half-written file was left behind"


def test_a_crash_after_the_file_before_the_commit_loses_nothing(tmp_path, monkeypatch):
    import c360.raw_store as raw_store

    zone = RawZone(str(tmp_path / "zone"))
    spec = next(s for s in ALL_RESOURCES if s.key == "erp/res.partner")
    world = make_world_serving_every_resource(persons=250, seed=22)
    with serving(world) as server, duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        calls = {"n": 0}
        original = raw_store._store_watermark

        def dies_at_the_third_batch(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("killed between the zone file and the commit")
            return original(*args, **kwargs)

        monkeypatch.setattr(raw_store, "_store_watermark", dies_at_the_third_batch)
        erp = ErpClient(server.url("erp"), CREDENTIALS, page_size=40)  # batches of one small page
        with pytest.raises(RuntimeError, match="killed"):
            land_resource(con, erp, spec.name, batch_records=40, raw_zone=zone)
        # the third batch's file is there, its records are not in the table (rolled back)
        landed = con.execute(f"select count(*) from raw.{spec.table}").fetchone()[0]
        assert len(zone_records(zone, spec)) > landed > 0

        monkeypatch.setattr(raw_store, "_store_watermark", original)
        land_resource(con, erp, spec.name, batch_records=40, raw_zone=zone)
        erp.close()
        assert zone_records(zone, spec) == served_by_id(server, spec)
        with duckdb.connect() as reader:
            files = f"{zone.resource_uri(spec.key)}/*.parquet"
            rows, ids = reader.execute("select count(*), count(distinct id) from read_parquet(?)", [files]).fetchone()
        assert rows > ids, "the crashed batch was landed again: the zone holds some versions twice"


def test_the_engine_setting_picks_the_zone_and_refuses_unknown_engines(monkeypatch, tmp_path):
    from c360 import settings

    monkeypatch.setenv("C360_WAREHOUSE", str(tmp_path / "w" / "c360.duckdb"))
    monkeypatch.delenv("C360_RAW_ZONE", raising=False)
    monkeypatch.delenv("C360_ENGINE", raising=False)
    assert settings.engine() == "duckdb" and settings.raw_zone_root() is None
    monkeypatch.setenv("C360_ENGINE", "Spark")
    assert settings.raw_zone_root() == str(tmp_path / "w" / "raw_zone")
    monkeypatch.setenv("C360_RAW_ZONE", "off")
    assert settings.raw_zone_root() is None
    monkeypatch.setenv("C360_RAW_ZONE", "s3://bucket/raw")
    assert settings.raw_zone_root() == "s3://bucket/raw"
    monkeypatch.setenv("C360_ENGINE", "snowflake")
    with pytest.raises(ValueError, match="C360_ENGINE is 'snowflake'; use one of duckdb, spark"):
        settings.engine()
