"""The Spark engine: a SparkSession from the settings, and the raw zone as Spark reads it.

`C360_ENGINE=spark` runs on a SparkSession: started in this process from `C360_SPARK_MASTER`
(`local[*]` by default: every core of this machine, nothing to install but Java 17 or 21 from the OS
packages), or a Spark Connect client of `C360_SPARK_REMOTE` (`sc://host:15002`; needs the Connect
client's packages, in the project's `spark` extra with pyspark itself). Without them pyspark's Connect
modules end the process (`sys.exit(0)`, "Skipping doctests") when imported by a process started with
`python -c`, as pytest-xdist's workers are: great_expectations imports them whenever pyspark is there.

A zone on object storage is read through the cluster's Hadoop file systems (`s3a://` with hadoop-aws,
`abfss://` with hadoop-azure): jars the cluster provides; a local session reads local folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from c360 import settings
from c360.raw_zone import LATEST_PER_ID, RawZone

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _require_java() -> None:
    java_home = settings.java_home()
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) and not shutil.which("java"):
        raise RuntimeError("C360_ENGINE=spark starts a local SparkSession, which needs Java 17 or 21: install the OS "
                           "package (Debian: openjdk-17-jre-headless) or set JAVA_HOME; or point C360_SPARK_REMOTE "
                           "at a Spark Connect server")


def spark_session(app_name: str = "c360", extra_config: dict[str, str] | None = None) -> SparkSession:
    """The session the pipeline runs on (an existing one of this process is reused, as Spark does)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RuntimeError("C360_ENGINE=spark needs pyspark: install the project's `spark` extra "
                           "(`uv sync --extra spark`, which `make setup` does)") from exc
    remote = settings.spark_remote()
    local = not remote and settings.spark_master().startswith("local")
    if remote:
        builder = SparkSession.builder.remote(remote)
    else:
        _require_java()
        from splink.backends.spark import similarity_jar_location

        # The string similarity functions identity's scoring calls (Splink's jar) on the class path.
        # The driver's heap (in local mode the executors' too): Spark's default of 1 GB is sized for a
        # driver that only plans; the Python steps collect identity's pairs and the CLV summary to it.
        builder = (SparkSession.builder.master(settings.spark_master())
                   .config("spark.jars", similarity_jar_location())
                   .config("spark.driver.memory", settings.spark_driver_memory()))
        if local:
            # The session's own tables beside the warehouse file, not in whatever folder the process
            # runs in; there too the checkpoints where Splink writes its work tables (its Spark
            # backend's default). A cluster has its own warehouse and checkpoint folders.
            # Shuffles in twice as many partitions as the machine has cores: Spark's default of 200 is
            # sized for a cluster and costs seconds per query on one machine (each a task per partition).
            folder = settings.warehouse_path().resolve().parent
            builder = (builder.config("spark.sql.warehouse.dir", str(folder / "spark_warehouse"))
                       .config("spark.checkpoint.dir", str(folder / "spark_checkpoints"))
                       .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 1))))
    # Timestamps as UTC, whatever the machine's zone (the marts compare them with DuckDB's). String
    # literals as written, as DuckDB reads them: by default Spark unescapes them, and the models'
    # regular expressions silently change meaning ('[\x00-\x1F]' matches the letters x, 0, 1 and F,
    # '\s' the letter s).
    # No console progress bar: it writes over the output of the process, where dbt's JSON log lines
    # are read by dagster-dbt (a bar at the start of a line hides that line's event).
    builder = (builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.parser.escapedStringLiterals", "true")
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in (extra_config or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if local:
        # The Python workers of the text functions and the CLV's UDFs run this interpreter, which has
        # the project installed; pyspark's default is `python3` from PATH, which (with the venv not
        # activated, as `.venv/bin/c360` runs) lacks it: every such model failed with "No module named
        # 'c360'". pyspark takes a UDF's worker Python from the context (set from PYSPARK_PYTHON only,
        # not from `spark.pyspark.python`, for a session started from Python).
        session.sparkContext.pythonExec = settings.pyspark_python()
    return session


# DuckDB's Jaro-Winkler, as Spark calls it: the function of Splink's jar (`register_similarity_functions`)
SPARK_JARO_WINKLER = "jaro_winkler"


def to_spark_sql(sql: str) -> str:
    """SQL written for DuckDB (identity's comparison levels and blocking rules, the quality suites'
    queries) in Spark's dialect: sqlglot's translation, Splink's names of the string similarities, and
    DuckDB's `timezone(zone, instant)` (the local time of an instant) as Spark's
    `from_utc_timestamp(instant, zone)` (the session's zone is UTC)."""
    import sqlglot
    from sqlglot import exp

    if sql.strip().lower() == "else":  # a comparison's last level, not SQL
        return sql

    def to_spark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone" and len(node.expressions) == 2:
            zone, instant = node.expressions
            return exp.Anonymous(this="from_utc_timestamp", expressions=[instant, zone])
        if isinstance(node, exp.JarowinklerSimilarity):
            return exp.Anonymous(this=SPARK_JARO_WINKLER, expressions=[node.this, node.expression])
        return node

    return sqlglot.parse_one(sql, read="duckdb").transform(to_spark).sql(dialect="spark")


def register_similarity_functions(spark: SparkSession) -> None:
    """Splink's string similarities (`jaro_winkler`, `damerau_levenshtein`, ...) as functions of
    `spark`'s SQL, from its jar on the session's class path (`spark_session`)."""
    from splink.internals.spark.jar_location import get_scala_udfs

    for udf in get_scala_udfs():
        spark.udf.registerJavaFunction(*udf)


def embedded_metastore() -> bool:
    """Whether the catalog's metastore is a Derby database of this machine: a local session's."""
    return not settings.spark_remote() and settings.spark_master().startswith("local")


_catalog_session_started = False  # by this process: the session `free_embedded_metastore` may end


def catalog_session(app_name: str = "c360") -> SparkSession:
    """The session of the engine's steps (dbt, identity, the CLV fit, the quality gates), each of which
    may run in its own process, so its catalog is a Hive metastore: the tables one step builds are
    there for the next. In local mode that is a Derby database beside the warehouse file (their data
    in `spark_warehouse/` beside it); embedded Derby admits one process at a time, so the steps that
    use the session run one after the other (Dagster's `warehouse` pool), and a process hands it on
    (`free_embedded_metastore`).
    On a cluster the metastore is the cluster's own (its `hive-site.xml`); a Spark Connect server
    brings its catalog."""
    global _catalog_session_started
    if settings.spark_remote():
        return spark_session(app_name)
    _catalog_session_started = True
    config = {"spark.sql.catalogImplementation": "hive"}
    if embedded_metastore():
        folder = settings.warehouse_path().resolve().parent
        folder.mkdir(parents=True, exist_ok=True)
        config |= {
            "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'spark_metastore'};create=true",
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}",
        }
    return spark_session(app_name, config)


def end_local_session(spark: SparkSession) -> None:
    """Stop `spark` and end the JVM this process started for it (pyspark keeps it otherwise), which frees
    the catalog's embedded metastore for another process. The next session starts a JVM again (seconds)."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    launched = getattr(gateway, "proc", None)
    if gateway is not None:
        gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if launched is not None:
        if launched.stdin is not None:
            launched.stdin.close()  # spark-submit's JVM ends when its standard input closes
        try:
            launched.wait(timeout=60)
        except subprocess.TimeoutExpired:
            launched.kill()
            launched.wait()


def free_embedded_metastore() -> None:
    """End the session `catalog_session` started in this process, JVM included, if it is a local one
    holding the embedded metastore: before another process opens the metastore (a dbt step starts dbt
    in its own), and when a run ends. A session started otherwise (a test's) is left alone."""
    global _catalog_session_started
    if not (_catalog_session_started and embedded_metastore()):
        return
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    _catalog_session_started = False
    if SparkContext._active_spark_context is not None:
        end_local_session(SparkSession.builder.getOrCreate())


def _latest_sql(relation: str) -> str:
    return (f"select * except (_rank) from (select *, row_number() over ({LATEST_PER_ID}) as _rank "
            f"from {relation}) where _rank = 1")


def latest_records(spark: SparkSession, zone: RawZone, key: str) -> DataFrame:
    """The zone's latest version of every record of `key` (`system/resource`), as `c360.raw_zone`
    defines it: the same window as the DuckDB reader's."""
    return spark.sql(_latest_sql(f"parquet.`{zone.resource_uri(key)}`"))


# A raw table with nothing landed yet: the zone's columns and no row (DuckDB's raw schema has every
# table from the start; on Spark a model reading a missing view would fail).
_EMPTY_RAW_TABLE = ("select cast(null as string) as id, cast(null as string) as record, "
                    "cast(null as bigint) as _version, cast(null as timestamp) as _source_updated_at, "
                    "cast(null as string) as _sync_id, cast(null as timestamp) as _loaded_at, "
                    "cast(null as timestamp) as _deleted_at{extra} where false")


def register_raw_tables(spark: SparkSession, zone: RawZone, tables: dict[str, str],
                        file_import_tables: dict[str, str] | None = None) -> list[str]:
    """`raw.<table>` as a view of the zone's latest records of each resource, `tables` mapping the
    table to its `system/resource`, and `file_import_tables` the same for the file imports (the NPS
    exports, with the file each row came from): the dbt sources read them on Spark as they read the
    DuckDB raw tables. A resource without files yet is an empty view with the same columns. Returns
    the tables with records.

    A view already in the catalog with the same query is kept: it reads the zone's files when it is
    queried, so a batch landed since needs no new view, and each dbt step of a run (a process of its
    own) would otherwise write all 20 views to the metastore again (measured: 10.4 s of a step's start
    on a demo world; 5.8 s once they exist, 4.6 s of it the metastore's first call)."""
    spark.sql("create database if not exists raw")
    registered = []
    for extra, mapping in (("", tables), (", cast(null as string) as _source_file", file_import_tables or {})):
        for table, key in sorted(mapping.items()):
            folder = zone.resource_uri(key)
            if "://" not in folder and not any(Path(folder).glob("*.parquet")):
                query = _EMPTY_RAW_TABLE.format(extra=extra)
            else:
                query = _latest_sql(f"parquet.`{folder}`")
                registered.append(table)
            if _view_query(spark, f"raw.{table}") != query:
                spark.sql(f"create or replace view raw.{table} as {query}")
    return registered


def _view_query(spark: SparkSession, view: str) -> str | None:
    """The query a view of the catalog was created with; None where there is no such table."""
    if not spark.catalog.tableExists(view):
        return None
    statement = spark.sql(f"show create table {view}").first()[0]
    return statement.split("\nAS ", 1)[1].strip() if "\nAS " in statement else None


# The Python steps (identity resolution's clustering and ids, the CLV fit) run on the driver over its
# DuckDB warehouse, as on the DuckDB engine: they read what dbt-spark built and hand back their tables.
def copy_to_driver(spark: SparkSession, con, table: str) -> int:
    """Replace `table` (`schema.name`) in the driver's DuckDB warehouse `con` with Spark's table of that
    name; returns its rows."""
    rows = spark.table(table).toArrow()
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("__from_spark", rows)
    con.execute(f"create or replace table {table} as select * from __from_spark")
    con.unregister("__from_spark")
    return rows.num_rows


def publish_from_driver(spark: SparkSession, con, table: str) -> int:
    """Write the driver's DuckDB table `table` to Spark's catalog under the same name, replacing it;
    returns its rows."""
    rows = con.execute(f"select * from {table}").to_arrow_table()
    spark.sql(f"create database if not exists {table.split('.')[0]}")
    spark.createDataFrame(rows).write.mode("overwrite").saveAsTable(table)
    return rows.num_rows
