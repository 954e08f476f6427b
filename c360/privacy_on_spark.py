"""Access (GDPR Art. 15) on the Spark engine (`C360_ENGINE=spark`): the same document as
`c360.privacy.export_from`, from Spark's tables and the driver's warehouse.

On Spark the facts, staging tables, marts and segments are Spark's, while the driver's DuckDB warehouse
holds the raw tables the landing writes, identity's state and crosswalk, and the erasures' bookkeeping
(`c360.erasure_on_spark`). `export_on_spark` puts the one person's share of both into an in-memory
DuckDB and runs the DuckDB export on it, so both engines answer a request with one code path:

1. the driver's tables of the personal schemas, as views of the attached warehouse (read only);
2. the person's source record ids: `privacy.PERSON_IDS` on the driver where it reads the driver's
   tables, on Spark where it reads Spark's (`erasure_on_spark.ids_of_spark_facts`);
3. every Spark table of `erasure_on_spark.SPARK_SCHEMAS`, with only the person's rows as the erasure
   finds them (`erasure_on_spark.rows_of_the_people`), in place of a driver table of the same name; a
   table holding nobody's rows comes empty, so that the export's coverage still names it. The raw
   records are the driver's (the landing writes them there beside the raw zone Spark reads).

Only the person's rows leave Spark: one Spark job per table, whatever the table's size.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from pyspark.sql import SparkSession

from c360 import privacy, tables
from c360.erasure_on_spark import ids_of_spark_facts, people_views, rows_of_the_people, spark_tables


def _driver_views(con: duckdb.DuckDBPyConnection, warehouse: Path) -> set[str]:
    """Attach the driver's warehouse read-only and give each of its personal tables a view of the same
    name on `con`; returns their names."""
    con.execute(f"attach '{warehouse}' as driver (read_only)")
    names = {f"{schema}.{table}" for schema, table in con.execute(
        """select table_schema, table_name from information_schema.tables
           where table_catalog = 'driver' and table_schema in (select unnest(?::varchar[]))""",
        [list(privacy.PERSONAL_SCHEMAS)]).fetchall()}
    for name in sorted(names):
        con.execute(f"create schema if not exists {name.split('.')[0]}")
        con.execute(f"create view {name} as select * from driver.{name}")
    return names


def _copy(con: duckdb.DuckDBPyConnection, name: str, frame) -> None:
    """`frame` (a Spark DataFrame) as the table `name` on `con`, in place of a view of the driver's."""
    con.execute(f"create schema if not exists {name.split('.')[0]}")
    con.execute(f"drop view if exists {name}")
    rows = frame.toArrow()
    con.register("__spark_rows", rows)
    con.execute(f"create table {name} as select * from __spark_rows")
    con.unregister("__spark_rows")


def export_on_spark(session: SparkSession, warehouse: Path | str, golden_id: str) -> dict:
    """Everything held about one golden customer on the Spark engine (see the module doc); raises
    LookupError for a golden id the driver's crosswalk does not know."""
    spark_columns = spark_tables(session)
    with duckdb.connect() as con:
        on_driver = _driver_views(con, Path(warehouse))
        if tables.GOLDEN_CUSTOMER_SOURCES not in on_driver:
            raise LookupError(f"no crosswalk ({tables.GOLDEN_CUSTOMER_SOURCES}) in the driver's warehouse {warehouse}")
        records = con.execute(f"select record_key, source_system, source_record_id::varchar "
                              f"from {tables.GOLDEN_CUSTOMER_SOURCES} where golden_customer_id = ?",
                              [golden_id]).fetchall()
        if not records:
            raise LookupError(f"no golden customer {golden_id!r} in the crosswalk")
        people_views(session, golden=[(golden_id,)], records=records)
        ids = privacy.person_ids(con, golden_id)  # the queries that read only the driver's tables
        for raw_table, found in ids_of_spark_facts(session, spark_columns, con).items():
            ids[raw_table] = sorted(set(ids.get(raw_table, [])) | set(found))
        people_views(session, golden=[(golden_id,)], records=records,
                     ids=[(raw_table, i) for raw_table, found in ids.items() for i in found])
        for table, columns in sorted(spark_columns.items()):
            rows = rows_of_the_people(table, columns, spark_columns)
            _copy(con, table, session.sql(f"select * from {table} where {rows[0] if rows else 'false'}"))
        return privacy.export_from(con, golden_id)
