"""Which rows a quality gate validates: for landed data, what arrived since the suite last passed.

A suite with an `arrival_column` (the raw suites: `_loaded_at`, when the landing wrote the row)
validates the rows that arrived after the newest row of the last validation it passed. A failed
validation does not move that bound, so failing rows are validated again, together with whatever
arrives next, until the suite passes; a record that changes is landed again and so validated again.
Suites without an arrival column (the marts, rebuilt every run) validate their whole table, and
`C360_QUALITY_SCOPE=all` makes every suite validate every row.

What this gives up, as the staging tests do: `mostly` is the share among the new rows, and
uniqueness is checked among the new rows (the landing keeps one row per source id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from c360.settings import quality_scope
from c360.quality.runner import SuiteResult, validate
from c360.quality.sql import quote_identifier
from c360.quality.suites import Suite

PASSED_TABLE = "_gates_passed"


@dataclass(frozen=True)
class ValidationScope:
    query: str  # the suite's query, restricted to the rows to validate
    parameters: list
    arrived_after: datetime | None  # None: every row

    def describe(self) -> str:
        return "every row" if self.arrived_after is None else f"rows arrived after {self.arrived_after.isoformat()}"


def _passed_table(suite: Suite) -> str:
    return f"{suite.asset[0]}.{PASSED_TABLE}"


def validation_scope(con: duckdb.DuckDBPyConnection, suite: Suite) -> ValidationScope:
    """The query for the rows `suite` is to validate now."""
    if not suite.arrival_column or quality_scope() == "all":
        return ValidationScope(suite.query, [], None)
    table = _passed_table(suite)
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [suite.asset[0], PASSED_TABLE],
    ).fetchone()[0]
    bound = None
    if exists:
        bound = con.execute(f"select max(arrived_through) from {table} where suite = ?", [suite.name]).fetchone()[0]
    if bound is None:
        return ValidationScope(suite.query, [], None)
    column = quote_identifier(suite.arrival_column)
    return ValidationScope(f"select * from ({suite.query}) as suite_rows where {column} > ?", [bound], bound)


def record_passed(con: duckdb.DuckDBPyConnection, suite: Suite, scope: ValidationScope, df: pd.DataFrame) -> None:
    """After a passed validation: the next one starts after the newest row validated now."""
    if not suite.arrival_column or df.empty:
        return
    arrived_through = df[suite.arrival_column].max()
    if scope.arrived_after is not None and arrived_through <= scope.arrived_after:
        return
    table = _passed_table(suite)
    con.execute(f"create schema if not exists {suite.asset[0]}")
    con.execute(
        f"create table if not exists {table} (suite varchar not null, arrived_through timestamptz not null, "
        "rows bigint not null, validated_at timestamptz not null)"
    )
    con.execute(f"insert into {table} values (?, ?, ?, now())", [suite.name, arrived_through, len(df)])


def validate_in_warehouse(con: duckdb.DuckDBPyConnection, suite: Suite) -> tuple[SuiteResult, ValidationScope]:
    """Validate the rows of `suite`'s scope with great_expectations; a pass moves the scope on."""
    scope = validation_scope(con, suite)
    df = con.execute(scope.query, scope.parameters).df()
    result = validate(df, suite)
    if result.success:
        record_passed(con, suite, scope, df)
    return result, scope


def validate_on_spark(spark, suite: Suite) -> tuple[SuiteResult, ValidationScope]:
    """The Spark engine's gate on a table dbt-spark or identity built: the suite's query (DuckDB SQL,
    translated) run by Spark and validated by great_expectations' Spark data source. The raw suites
    validate the landing's DuckDB tables on either engine (the zone holds the same records)."""
    from c360.spark_engine import register_similarity_functions, to_spark_sql

    if suite.arrival_column:
        raise ValueError(f"suite {suite.name} validates landed rows, which the landing's DuckDB tables hold")
    register_similarity_functions(spark)
    return validate(spark.sql(to_spark_sql(suite.query)), suite), ValidationScope(suite.query, [], None)
