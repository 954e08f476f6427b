"""Spark reads the raw zone the landing writes: the same latest version of every record as DuckDB."""

from __future__ import annotations

import duckdb

from c360.raw_zone import RawZone, latest_records
from c360.spark_engine import latest_records as spark_latest_records, register_raw_tables
from connectors import ALL_RESOURCES
from tests.conftest import land_every_resource, make_world_serving_every_resource, served_by_id, serving


def test_spark_reads_every_resource_of_the_zone_as_duckdb_does(spark, tmp_path):
    zone = RawZone(str(tmp_path / "zone"))
    world = make_world_serving_every_resource(persons=200, seed=31)
    with serving(world) as server, duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        for day in range(2):
            if day:
                server.advance(days=1)
            land_every_resource(con, server, batch_records=300, raw_zone=zone)
        served = {spec.key: served_by_id(server, spec) for spec in ALL_RESOURCES}
    columns = ["id", "record", "_version", "_deleted_at"]
    for spec in ALL_RESOURCES:
        # Spark hands timestamps to Python without their zone: compare whether a record is deleted
        with duckdb.connect() as reader:
            expected = sorted((*(row[c] for c in columns[:3]), row["_deleted_at"] is not None)
                              for row in latest_records(reader, zone, spec.key).to_pylist())
        got = sorted((*row[:3], row[3] is not None)
                     for row in spark_latest_records(spark, zone, spec.key).select(*columns).collect())
        assert got == expected, f"{spec.key}: Spark and DuckDB read different latest versions"
        live = {row[0] for row in got if not row[3]}
        assert live, f"{spec.key}: nothing landed, the comparison proves nothing"
        assert live == set(served[spec.key]), f"{spec.key}: the zone's live ids are not the served ones"


def test_the_raw_tables_as_spark_views_hold_what_the_duckdb_raw_tables_hold(spark, tmp_path):
    zone = RawZone(str(tmp_path / "zone"))
    world = make_world_serving_every_resource(persons=120, seed=32)
    with serving(world) as server, duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        land_every_resource(con, server, batch_records=300, raw_zone=zone)
        stored = {spec.table: con.execute(f"select id, _version from raw.{spec.table} order by id").fetchall()
                  for spec in ALL_RESOURCES}
    registered = register_raw_tables(spark, zone, {spec.table: spec.key for spec in ALL_RESOURCES})
    assert sorted(registered) == sorted(stored)
    for table, rows in stored.items():
        assert rows, f"{table}: nothing landed, the comparison proves nothing"
        viewed = [tuple(row) for row in spark.sql(f"select id, _version from raw.{table} order by id").collect()]
        assert viewed == rows, f"raw.{table}: the Spark view differs from the DuckDB raw table"


def test_the_session_reads_the_models_regular_expressions_as_duckdb_does(spark):
    """The dbt macros' patterns (clean_text, fold_name, split_name, normalize_email) on text with
    control characters, non-breaking spaces, name particles and brackets: with Spark's default
    unescaping of string literals these differ. `{g}` is DuckDB's flag to replace every match,
    which is what Spark's regexp_replace always does."""
    cases = [
        (r"regexp_replace(v, '[\x00-\x1F\x7F]+', ' '{g})", "Anna\tMaria\x01Müller"),
        (r"regexp_replace(v, '[\s\x{00A0}\-]+', ' '{g})", "Karl-Heinz\u00a0 von der  Heide"),
        (r"regexp_extract(v, '(?i)(?:^|\s)((?:(?:von|van|de|der|den)\s+)*\S+)$', 1)", "Karl von der Heide"),
        (r"regexp_replace(v, '(?i)^\s*(?:(?:herr|frau|dr\.?|prof\.?)\s+)+', ''{g})", "Frau Dr. Anna Müller"),
        (r"""regexp_replace(v, '[\[\]\\"]', ''{g})""", 'x["a\\b"]'),
    ]
    with duckdb.connect() as con:
        for expression, value in cases:
            in_duckdb, in_spark = expression.replace("{g}", ", 'g'"), expression.replace("{g}", "")
            expected = con.execute(f"select {in_duckdb} from (select ? as v)", [value]).fetchone()[0]
            got = spark.sql(f"select {in_spark} from (select :v as v)", args={"v": value}).collect()[0][0]
            assert got == expected, f"{expression} on {value!r}: Spark {got!r}, DuckDB {expected!r}"
            assert got != value, f"{expression} left {value!r} as it was: the case proves nothing"


def test_a_view_kept_from_an_earlier_dbt_step_reads_what_landed_since(spark, tmp_path):
    """Each dbt step of a run registers the raw views again and keeps a view whose query is unchanged
    (`register_raw_tables`): in the same session it must still read the batches landed after it was
    created, and a resource's empty view must give way to the zone once its first batch lands."""
    zone = RawZone(str(tmp_path / "zone"))
    tables = {"shop_customers": "shop/customers", "shop_orders": "shop/orders"}
    batch = ("select * from (values {rows}) as t(id, record, _version, _source_updated_at, _sync_id, _loaded_at, "
             "_deleted_at)")

    def land(con, key: str, name: str, *versions: tuple[str, int]) -> None:
        rows = ", ".join(f"('{id_}', '{{}}', {version}::bigint, now(), '{name}', now(), null::timestamptz)"
                         for id_, version in versions)
        zone.write_batch(con, batch.format(rows=rows), [], key, name)

    def read(table: str) -> list[tuple]:
        return [tuple(row) for row in spark.sql(f"select id, _version from raw.{table} order by id").collect()]

    with duckdb.connect() as con:
        land(con, "shop/customers", "sync-1", ("c1", 1))
        assert register_raw_tables(spark, zone, tables) == ["shop_customers"]
        assert read("shop_customers") == [("c1", 1)] and read("shop_orders") == []
        land(con, "shop/customers", "sync-2", ("c1", 2), ("c2", 1))
        land(con, "shop/orders", "sync-2", ("o1", 1))
        assert register_raw_tables(spark, zone, tables) == ["shop_customers", "shop_orders"]
    assert read("shop_customers") == [("c1", 2), ("c2", 1)]
    assert read("shop_orders") == [("o1", 1)]
