"""Erasure (GDPR Art. 17) and retention on the Spark engine (`C360_ENGINE=spark`), with the rules of
`c360.erasure` and `c360.retention`.

On Spark the erasure's bookkeeping stays in the driver's DuckDB warehouse, which holds it on both
engines: the raw tables the landing writes beside the zone, identity's state and crosswalk, the
suppression list, the audit trail and the request queue. The facts, the staging tables and the marts
are Spark's. So an erasure on Spark (`SparkErasure.erase_many`):

1. collects the people's source record ids: the queries of `c360.privacy.PERSON_IDS` that read only
   the crosswalk and raw tables run on the driver (inside `erase_many_in`), those reading facts or
   staging run on Spark, over the temp views `_erased_golden` and `_person_records`;
2. erases on the driver with `c360.erasure.erase_many_in`, in one transaction (raw tables, identity
   state, suppression list, audit row);
3. at the end of the privacy step (`finish`), for everybody erased in it, rewrites every Spark table
   holding rows of the people without them, the retained accounting facts kept with the pseudonym and
   without personal columns, as on DuckDB. Parquet tables have no delete: a table is rewritten (a
   copy, then `insert overwrite` from it), and only a table with rows of the people is. The audit rows
   of step 2 count the driver's rows; the Spark tables' rows are in the step's metadata.

The raw zone's files are scrubbed after, as on DuckDB (`c360.erasure.scrub_raw_zone`). Should step 3
fail, the driver has erased the people and the zone is scrubbed by the next run's privacy step; the
next dbt build rebuilds the Spark tables whole without them.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
from pyspark.sql import SparkSession

from c360 import erasure, privacy, tables
from c360.retention import inactive_customers_sql
from c360.spark_engine import to_spark_sql

# the schemas dbt-spark and identity write to Spark's catalog (raw records are views over the zone)
SPARK_SCHEMAS = ("staging", "intermediate", "marts", "segments")


def spark_tables(session: SparkSession) -> dict[str, list[str]]:
    """Every table (no view) of `SPARK_SCHEMAS` in Spark's catalog, with its columns in order."""
    found: dict[str, list[str]] = {}
    for schema in SPARK_SCHEMAS:
        if not session.catalog.databaseExists(schema):
            continue
        for table in session.catalog.listTables(schema):
            if table.tableType != "VIEW" and not table.isTemporary:
                found[f"{schema}.{table.name}"] = session.table(f"{schema}.{table.name}").columns
    return found


def rows_of_the_people(table: str, columns: list[str], spark_columns: dict[str, list[str]]) -> tuple[str, str] | None:
    """(the people's rows, those of them kept pseudonymised) of a Spark table (of `spark_columns`, the
    catalog's tables) as Spark SQL conditions, never null (`x in (...)` is null for a null x: such a row
    is nobody's); None if it holds nobody's. Used by the erasure and by the export on Spark."""
    people = _people_conditions(table, columns, {**spark_columns, **{t: [] for t in privacy.PERSON_IDS}})
    return None if people is None else tuple(f"coalesce({condition}, false)" for condition in people)


def _people_conditions(table: str, columns: list[str], every_table: dict[str, list[str]]) -> tuple[str, str] | None:
    """`rows_of_the_people` before null is read as false, as `c360.erasure._staging_tables` and
    `_keyed_tables` find the rows; `every_table` holds the raw tables too."""
    if table in privacy.NOT_PERSONAL:
        return None
    if table.startswith("staging."):
        if {"source_table", "source_record_id"} <= set(columns):
            return ("(source_table, cast(source_record_id as string)) in "
                    f"(select split_part(raw_table, '.', 2), id from {erasure.ERASED_IDS})", "false")
        link = privacy._staging_raw_table(table, every_table)
        if link is None:
            return None
        raw_table, id_expr = link
        rows = f"{to_spark_sql(id_expr)} in (select id from {erasure.ERASED_IDS} where raw_table = '{raw_table}')"
        return rows, (rows if raw_table in erasure.RETAINED_RAW else "false")
    conditions = [f"{c} in (select golden_customer_id from {erasure.ERASED_GOLDEN})"
                  for c in columns if c.endswith("golden_customer_id")]
    conditions += [f"{c} in (select record_key from _person_records)"
                   for c in columns if c in privacy.RECORD_KEY_COLUMNS]
    if not conditions:
        return None
    rows = "(" + " or ".join(conditions) + ")"
    retained = erasure.RETAINED_FACTS.get(table)
    return rows, (f"{rows} and ({to_spark_sql(retained)})" if retained else "false")


def _kept_rows_sql(table: str, columns: list[str], rows: str, retained: str) -> str:
    """The table without the people's rows, their retained rows with pseudonyms and no personal values."""
    personal = set(erasure._personal_columns(columns))
    selected = []
    for column in columns:
        if column.endswith("golden_customer_id"):
            selected.append(f"case when {retained} then (select max(p.pseudonym) from _pseudonyms p "
                            f"where p.golden_customer_id = t.{column}) else t.{column} end as {column}")
        elif column in personal:
            selected.append(f"case when {retained} then null else t.{column} end as {column}")
        else:
            selected.append(f"t.{column}")
    return f"select {', '.join(selected)} from {table} t where not ({rows} and not {retained})"


def people_views(session: SparkSession, golden: list[tuple], records: list[tuple], ids: list[tuple] = (),
                 pseudonyms: list[tuple] = ()) -> None:
    """The people as the temp views the SQL of this module reads: their golden ids, their crosswalk rows
    (record_key, source_system, source_record_id), their ids per raw table and their pseudonyms."""
    for name, rows, schema in (
            (erasure.ERASED_GOLDEN, golden, "golden_customer_id string"),
            ("_person_records", records, "record_key string, source_system string, source_record_id string"),
            (erasure.ERASED_IDS, ids, "raw_table string, id string"),
            ("_pseudonyms", pseudonyms, "golden_customer_id string, pseudonym string")):
        session.createDataFrame(list(rows), schema).createOrReplaceTempView(name)


def ids_of_spark_facts(session: SparkSession, spark_columns: dict[str, list[str]],
                       con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The people's ids per raw table (of `people_views`) from the `PERSON_IDS` queries that read Spark's
    tables (`spark_columns`): those reading only tables `con` has are the driver's to run."""
    on_driver = {f"{s}.{n}" for s, n in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    found: dict[str, list[str]] = {}
    for raw_table, sql in privacy.PERSON_IDS.items():
        read = set(erasure._TABLE_NAME.findall(sql))
        if read <= on_driver or not read <= set(spark_columns):
            continue  # the driver's, or a table neither has
        for_all = sql.replace("golden_customer_id = ?", f"golden_customer_id in "
                                                        f"(select golden_customer_id from {erasure.ERASED_GOLDEN})")
        ids = [row[0] for row in session.sql(to_spark_sql(for_all)).collect() if row[0] is not None]
        if ids:
            found[raw_table] = ids
    return found


class SparkErasure:
    """The erasures and the retention rule of one privacy step on Spark, with the methods of
    `c360.erasure.WarehouseErasure`: `erase_many` erases on the driver at once (steps 1 and 2), one
    transaction and audit row per call as on DuckDB; `finish` rewrites the Spark tables once for all
    the people erased since (step 3), so that a run with several requests scans each table once."""

    def __init__(self, session: SparkSession):
        self.session = session
        self.columns = spark_tables(session)
        self.erased: dict[str, list[tuple]] = {"golden": [], "records": [], "ids": [], "pseudonyms": []}

    def inactive(self, con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> list[tuple[str, date]]:
        """(golden id, last activity) of the customers inactive for more than `days`, from Spark's facts."""
        query = inactive_customers_sql(set(self.columns), as_of - timedelta(days=days))
        return [(row[0], row[1]) for row in self.session.sql(to_spark_sql(query)).collect()]

    def erase_many(self, con: duckdb.DuckDBPyConnection, golden_ids: list[str], reason: str) -> erasure.ErasureResult:
        """Steps 1 and 2 of the module docstring; the people are kept for `finish`."""
        golden_ids = sorted(set(golden_ids))
        people = con.execute(f"select record_key, source_system, source_record_id::varchar "
                             f"from {tables.GOLDEN_CUSTOMER_SOURCES} "
                             "where golden_customer_id in (select unnest(?::varchar[]))", [golden_ids]).fetchall()
        people_views(self.session, golden=[(g,) for g in golden_ids], records=people)
        result = erasure.erase_many_in(con, golden_ids, reason, ids_of_spark_facts(self.session, self.columns, con))
        salt = erasure.privacy_salt(con)
        self.erased["golden"] += [(g,) for g in golden_ids]
        self.erased["records"] += people
        self.erased["ids"] += con.execute(f"select raw_table, id from {erasure.ERASED_IDS}").fetchall()  # the erasure's
        self.erased["pseudonyms"] += [(g, erasure.pseudonym(salt, g)) for g in golden_ids]
        return result

    def finish(self) -> dict[str, dict[str, int]]:
        """Step 3 for everybody erased since the last call: per Spark table rewritten, its rows deleted
        and kept pseudonymised."""
        if not self.erased["golden"]:
            return {}
        people_views(self.session, **self.erased)
        rewritten = {}
        for table, columns in self.columns.items():
            counts = self._rewrite(table, columns)
            if counts:
                rewritten[table] = counts
        self.erased = {name: [] for name in self.erased}
        return rewritten

    def _rewrite(self, table: str, columns: list[str]) -> dict[str, int] | None:
        """The table without the people's rows (their retained rows pseudonymised), if it has any."""
        people = rows_of_the_people(table, columns, self.columns)
        if people is None:
            return None
        rows, retained = people
        counts = self.session.sql(f"select count_if({rows} and not {retained}), count_if({retained}) "
                                  f"from {table}").first()
        if not counts[0] and not counts[1]:
            return None
        staged = f"{table}__erasing"
        self.session.sql(f"drop table if exists {staged}")
        self.session.sql(f"create table {staged} as {_kept_rows_sql(table, columns, rows, retained)}")
        self.session.sql(f"insert overwrite table {table} select * from {staged}")
        self.session.sql(f"drop table {staged}")
        return {"deleted": counts[0], "pseudonymised": counts[1]}
