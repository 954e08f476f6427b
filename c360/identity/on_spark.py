"""Identity resolution on the Spark engine: pairs scored by Splink's Spark backend, resolved on the driver.

Scoring is the part of identity resolution that grows with the data: every blocked pair is compared
field by field (at 1M persons most of the matching step's time). On the Spark engine it runs where the
records are, with the same stored model (`matching.TrainedModel`: Splink's settings JSON with m, u and
prior, and the frozen term frequencies), so that both engines give the same pairs:

- the settings' SQL (comparison levels, blocking rules) is written in DuckDB's dialect when the model
  is trained; it is translated to Spark's with sqlglot, and DuckDB's `jaro_winkler_similarity` becomes
  the `jaro_winkler` of the jar Splink ships (`c360.spark_engine` puts it on a local session's class
  path; a cluster needs it installed, docs/spark.md). `damerau_levenshtein` has the same name in both.
- The two Jaro-Winkler implementations differ where the Jaro similarity is at most 0.7: DuckDB's adds
  the common-prefix boost only above 0.7, the jar's always does. A pair can then land in a higher name
  level on Spark (Jaro 0.7 with a four-letter common prefix: 0.82 there, 0.7 on DuckDB); the
  equivalence of the engines is measured as pairwise F1 of their crosswalks for that reason.

A run (`resolve_on_spark`) copies identity's inputs built by dbt-spark (the customer records and the
certain links) into the DuckDB warehouse on the driver, where identity's state lives as on the DuckDB
engine (stored model, pairs, crosswalk, id history); `match_run.match_records` decides the path with
Spark as its scorer; `resolve.resolve` clusters with the guards and keeps the ids stable; the crosswalk
goes back to Spark's catalog for the facts. Training stays on the driver (DuckDB over the identity
input): it samples pairs for u and runs EM on the blocked pairs of a few rules, and then scores every
blocked pair once to calibrate the prior (`matching._calibrated_prior`), so a training run (weekly, or
on the share of new records) costs the driver a full scoring; the pairs it writes are still Spark's.
The driver holds one row per customer record and about one pair per record.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from datetime import date
from functools import partial

import duckdb
import pyarrow as pa

from c360.identity.matching import (CHANGED_COLUMN, DERIVED_MATCH_COLUMNS, MATCH_COLUMNS, TF_COLUMNS, MatchResult,
                                    TrainedModel, _changed_only, _empty_pairs)
from c360.spark_engine import to_spark_sql


def spark_settings(model_settings: dict) -> dict:
    """The model's Splink settings for the Spark backend: the same levels, m, u and prior; Spark's SQL."""
    translated = copy.deepcopy(model_settings)
    translated["sql_dialect"] = "spark"
    for comparison in translated["comparisons"]:
        for level in comparison["comparison_levels"]:
            level["sql_condition"] = to_spark_sql(level["sql_condition"])
    for rule in translated["blocking_rules_to_generate_predictions"]:
        rule["blocking_rule"] = to_spark_sql(rule["blocking_rule"])
        rule["sql_dialect"] = "spark"
    return translated


def _match_input(spark, records, changed_keys: pa.Table | None):
    """The records' match columns and DERIVED_MATCH_COLUMNS as a Spark DataFrame, with `is_changed` when
    only changes are scored."""
    from pyspark.sql import functions as F

    frame = (spark.table(records) if isinstance(records, str) else records).select(*MATCH_COLUMNS)
    for name, sql in DERIVED_MATCH_COLUMNS.items():
        frame = frame.withColumn(name, F.expr(sql))
    if changed_keys is None:
        return frame
    changed = spark.createDataFrame(changed_keys.select(["record_key"])).withColumn(
        CHANGED_COLUMN, F.lit(True))
    return (frame.join(F.broadcast(changed), "record_key", "left")
            .withColumn(CHANGED_COLUMN, F.coalesce(F.col(CHANGED_COLUMN), F.lit(False))))


def _register_term_frequencies(spark, linker, db_api, model: TrainedModel, match_input, suffix: str) -> list[str]:
    """The model's frozen term frequencies as Splink's lookup tables, typed as the input's columns;
    returns the views' names."""
    from pyspark.sql import functions as F

    frequencies = spark.createDataFrame(model.term_frequencies)
    types = dict(match_input.dtypes)
    names = []
    for col in TF_COLUMNS:
        lookup = (frequencies.where(F.col("tf_column") == col)
                  .select(F.col("value").cast(types[col]).alias(col), F.col("tf").alias(f"tf_{col}")))
        names.append(f"tf_{col}_{suffix}")
        linker.table_management.register_term_frequency_lookup(db_api.register(lookup, table_name=names[-1]), col)
    return names


def score_pairs_on_spark(spark, records, model: TrainedModel, threshold: float,
                         changed_keys: pa.Table | None = None) -> MatchResult:
    """`matching.score_pairs` on Spark: the pairs of `records` (a table name or a DataFrame with
    MATCH_COLUMNS) at or above `threshold` under `model`; with `changed_keys`, only the pairs that touch
    one of those records. The pairs come back as Arrow, each once with the smaller key on the left."""
    from splink import Linker, SparkAPI

    started = time.perf_counter()
    match_input = _match_input(spark, records, changed_keys)
    n = match_input.count()
    if n < 2:
        return MatchResult(_empty_pairs(), {"records": n, "pairs": 0, "score_seconds": 0.0}, model)
    model_settings = spark_settings(model.settings)
    if changed_keys is not None:
        model_settings["blocking_rules_to_generate_predictions"] = _changed_only(
            model_settings["blocking_rules_to_generate_predictions"])
    # the session's views are shared by its users: names of this scoring alone
    suffix = uuid.uuid4().hex[:12]
    views = [f"match_input_{suffix}"]
    db_api = SparkAPI(spark_session=spark)
    linker = Linker(db_api.register(match_input, table_name=views[0]), model_settings, log_level=logging.WARNING)
    try:
        views += _register_term_frequencies(spark, linker, db_api, model, match_input, suffix)
        predicted = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
        pairs = spark.sql(
            f"""select least(record_key_l, record_key_r) as record_key_l,
                       greatest(record_key_l, record_key_r) as record_key_r,
                       cast(match_probability as double) as match_probability,
                       cast(match_weight as double) as match_weight
                from {predicted.physical_name}""").toArrow()
    finally:
        linker.table_management.delete_tables_created_by_splink_from_db()
        for view in views:
            spark.catalog.dropTempView(view)
    pairs = pairs.cast(_empty_pairs().schema)
    stats = {"records": n, "pairs": pairs.num_rows, "score_seconds": round(time.perf_counter() - started, 2)}
    return MatchResult(pairs, stats, model)


def match_on_spark(spark, con: duckdb.DuckDBPyConnection, run_date: date, **match_options):
    """Identity's matching step on the Spark engine: the inputs dbt-spark built copied to the driver's
    warehouse `con` (returned with their rows), then `match_records` with Spark as its scorer."""
    from c360.identity.match_run import match_records
    from c360.identity.schema import CERTAIN_LINKS_TABLE, RECORDS_TABLE
    from c360.spark_engine import copy_to_driver

    copied = {table: copy_to_driver(spark, con, table) for table in (RECORDS_TABLE, CERTAIN_LINKS_TABLE)}
    spark_input = spark.table(RECORDS_TABLE).where("not is_collective_contact")
    scorer = partial(score_pairs_on_spark, spark, spark_input)
    return match_records(con, run_date, scorer=scorer, **match_options), copied


def resolve_and_publish(spark, con: duckdb.DuckDBPyConnection, run_date: date, **resolve_options):
    """Identity's resolution step on the Spark engine: `resolve` on the driver, then the crosswalk and
    the id history written to Spark's catalog, where the facts and dbt's tests read them."""
    from c360.identity.resolve import resolve
    from c360.identity.schema import CROSSWALK_TABLE, HISTORY_TABLE
    from c360.spark_engine import publish_from_driver

    resolution = resolve(con, run_date, **resolve_options)
    for table in (CROSSWALK_TABLE, HISTORY_TABLE):
        publish_from_driver(spark, con, table)
    return resolution


def resolve_on_spark(spark, con: duckdb.DuckDBPyConnection, run_date: date, **match_options) -> dict:
    """Identity resolution of the Spark engine (module docstring), both steps: returns what was copied
    to the driver and the matching and resolution statistics."""
    matching, copied = match_on_spark(spark, con, run_date, **match_options)
    resolution = resolve_and_publish(spark, con, run_date)
    return {"copied": copied, "matching": matching.stats, "resolution": resolution.stats}
