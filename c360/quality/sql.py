"""The same expectations as plain SQL on DuckDB: one aggregate query per suite.

Used by `benchmarks/bench_quality.py` (GX beside plain SQL) and as a cross-check in the tests. It
covers the expectation types the suites use; pass/fail follows GX (`mostly` over non-null values).
"""

from __future__ import annotations

import duckdb

from c360.quality.suites import Expectation, Suite


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def quote_identifier(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _aggregates(e: Expectation, i: int) -> list[str]:
    """SQL aggregates: `u<i>` unexpected rows and `n<i>` rows the share is taken over."""
    kw = e.resolved()
    col = quote_identifier(kw["column"]) if "column" in kw else None
    if e.type == "expect_column_values_to_not_be_null":
        return [f"count(*) filter (where {col} is null) as u{i}", f"count(*) as n{i}"]
    if e.type == "expect_column_values_to_be_unique":
        return [f"count({col}) - count(distinct {col}) as u{i}", f"count({col}) as n{i}"]
    if e.type == "expect_column_values_to_match_regex":
        return [f"count(*) filter (where not regexp_matches({col}::varchar, {_literal(kw['regex'])})) as u{i}",
                f"count({col}) as n{i}"]
    if e.type == "expect_column_values_to_be_in_set":
        values = ", ".join(_literal(v) for v in kw["value_set"])
        return [f"count(*) filter (where {col} not in ({values})) as u{i}", f"count({col}) as n{i}"]
    if e.type == "expect_column_values_to_be_between":
        conditions = []
        if kw.get("min_value") is not None:
            conditions.append(f"{col} < {_literal(kw['min_value'])}")
        if kw.get("max_value") is not None:
            conditions.append(f"{col} > {_literal(kw['max_value'])}")
        return [f"count(*) filter (where {' or '.join(conditions) or 'false'}) as u{i}", f"count({col}) as n{i}"]
    if e.type == "expect_table_row_count_to_equal":
        return [f"(count(*) != {int(kw['value'])})::int as u{i}", f"1 as n{i}"]
    if e.type == "expect_table_row_count_to_be_between":
        low, high = kw.get("min_value"), kw.get("max_value")
        cond = " or ".join(c for c in (f"count(*) < {low}" if low is not None else "",
                                        f"count(*) > {high}" if high is not None else "") if c) or "false"
        return [f"({cond})::int as u{i}", f"1 as n{i}"]
    raise NotImplementedError(f"no plain-SQL version of {e.type}")


def suite_sql(suite: Suite) -> str:
    columns = [agg for i, e in enumerate(suite.expectations) for agg in _aggregates(e, i)]
    return f"select {', '.join(columns)} from ({suite.query}) as q"


def validate_sql(con: duckdb.DuckDBPyConnection, suite: Suite) -> dict[str, bool]:
    """Expectation label -> passed, computed by one SQL query on `con`."""
    row = con.execute(suite_sql(suite)).fetchone()
    outcome = {}
    for i, e in enumerate(suite.expectations):
        unexpected, total = row[2 * i], row[2 * i + 1]
        mostly = e.resolved().get("mostly", 1.0)
        passed = unexpected == 0 if mostly >= 1.0 else (not total or (total - unexpected) / total >= mostly)
        outcome[e.label] = bool(passed)
    return outcome
