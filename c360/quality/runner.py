"""Validate a DataFrame against a suite with great_expectations 1.x: pandas, or Spark on the Spark engine.

`validate(df, suite)` builds an ephemeral GX context, a whole-DataFrame batch (GX's pandas or Spark
data source, after the frame's kind) and the suite's expectations, runs them and returns a
`SuiteResult`: pass/fail, the failing expectations with their counts and example rows (whole rows of
`df`, found by the suite's `id_columns`; of a Spark frame only those leave Spark), and the GX result
as JSON. A failing `severity: warn` expectation (an open set showing a value not seen before) is a
warning: listed with its unexpected values and their counts, it does not fail the suite. GX is imported here, on first use (it takes seconds), not when the package is imported.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from c360.quality.suites import Expectation, Suite

if TYPE_CHECKING:  # pandas is imported where a DataFrame is validated, not with the package
    import pandas as pd

EXAMPLES_PER_EXPECTATION = 5
PARTIAL_UNEXPECTED = 20


@dataclass
class FailedExpectation:
    type: str
    label: str
    why: str
    kwargs: dict[str, Any]
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    examples: list[dict] = field(default_factory=list)  # failing rows (id columns + checked column)
    exception: str | None = None
    severity: str = "error"  # "warn": reported, does not fail the suite
    # the unexpected values with their counts, most frequent first: [{"value": "CHF", "count": 3}, ...]
    unexpected_values: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        parts = [self.label]
        if self.unexpected_count is not None:
            parts.append(f"{self.unexpected_count} unexpected ({self.unexpected_percent or 0:.2f} %)")
        if self.observed_value is not None:
            parts.append(f"observed {self.observed_value}")
        if self.unexpected_values:
            parts.append("values " + ", ".join(f"{v['value']!r} x{v['count']}" for v in self.unexpected_values))
        if self.exception:
            parts.append(f"error: {self.exception}")
        return ", ".join(parts)


@dataclass
class SuiteResult:
    suite: str
    success: bool
    rows: int
    evaluated: int
    failures: list[FailedExpectation]  # failed blocking expectations: the suite failed
    gx_result: dict  # the ExpectationSuiteValidationResult as JSON
    seconds: float
    warnings: list[FailedExpectation] = field(default_factory=list)  # failed warn-level expectations

    @property
    def failed_expectations(self) -> list[str]:
        return [f.type for f in self.failures]

    def failure(self, expectation_type: str, column: str | None = None) -> FailedExpectation | None:
        for f in self.failures:
            if f.type == expectation_type and (column is None or f.kwargs.get("column") == column):
                return f
        return None

    def warning(self, expectation_type: str, column: str | None = None) -> FailedExpectation | None:
        for f in self.warnings:
            if f.type == expectation_type and (column is None or f.kwargs.get("column") == column):
                return f
        return None

    def examples(self) -> dict[str, list[dict]]:
        return {f.label: f.examples for f in self.failures}


def _json_rows(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))


def _gx_expectation(gx, expectation: Expectation):
    class_name = "".join(part.capitalize() for part in expectation.type.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        raise ValueError(f"unknown great_expectations expectation type {expectation.type!r}")
    severity = {} if expectation.blocking else {"severity": "warning"}  # GX 1.x FailureSeverity, for its docs
    return cls(**expectation.resolved(), meta={"why": expectation.why} if expectation.why else None, **severity)


def _is_spark(df) -> bool:
    """A Spark DataFrame (the Spark engine's gates), not a pandas one."""
    return hasattr(df, "sparkSession")


def _unexpected_values(df: pd.DataFrame, expectation: Expectation, result: dict, limit: int = 20) -> list[dict]:
    """The values outside an expected set with their counts over all rows (GX lists only a sample)."""
    column, kwargs = expectation.column, expectation.resolved()
    if expectation.type == "expect_column_values_to_be_in_set" and column in df.columns and _is_spark(df):
        from pyspark.sql import functions as F

        value = F.col(column)
        counts = (df.where(value.isNotNull() & ~value.isin(list(kwargs.get("value_set") or [])))
                  .groupBy(value.cast("string").alias("value")).count()
                  .orderBy(F.desc("count"), "value").limit(limit).collect())
        return [{"value": row["value"], "count": int(row["count"])} for row in counts]
    if expectation.type == "expect_column_values_to_be_in_set" and column in df.columns:
        values = df[column]
        unexpected = values[values.notna() & ~values.isin(list(kwargs.get("value_set") or []))]
        counts = unexpected.astype(str).value_counts().head(limit)
        return [{"value": value, "count": int(count)} for value, count in counts.items()]
    return [{"value": str(c.get("value")), "count": int(c.get("count", 0))}
            for c in (result.get("partial_unexpected_counts") or [])[:limit] if isinstance(c, dict)]


def _key(values) -> tuple:
    import pandas as pd

    return tuple("<null>" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values)


def _examples(df: pd.DataFrame, suite: Suite, expectation: Expectation, result: dict, limit: int) -> list[dict]:
    column = expectation.kwargs.get("column")
    columns = list(dict.fromkeys([*suite.id_columns, *(expectation.kwargs.get("column_list") or []),
                                  *([column] if column else [])]))
    columns = [c for c in columns if c in df.columns] or list(df.columns)
    index_list = result.get("partial_unexpected_index_list") or []
    if _is_spark(df):  # only the failing rows leave Spark
        df = _spark_rows_to_show(df, suite, column, index_list, result.get("partial_unexpected_list") or [], limit)
    if index_list and isinstance(index_list[0], dict) and suite.id_columns:
        ids = list(suite.id_columns)
        wanted = {_key(entry.get(c) for c in ids) for entry in index_list}
        mask = [_key(values) in wanted for values in df[ids].itertuples(index=False, name=None)]
        return _json_rows(df.loc[mask, columns].head(limit))
    if index_list and not isinstance(index_list[0], dict):
        return _json_rows(df.loc[[i for i in index_list[:limit] if i in df.index], columns])
    values = result.get("partial_unexpected_list") or []
    if values and column:
        return _json_rows(df[df[column].isin(values)][columns].head(limit))
    if "observed_value" in result:
        return [{"observed_value": result["observed_value"]}]
    return []


def _spark_rows_to_show(df, suite: Suite, column: str | None, index_list: list, values: list, limit: int):
    """The rows of a Spark DataFrame that `_examples` shows, as pandas: those of the failing ids GX
    listed, else those holding the failing values, else none."""
    from functools import reduce

    from pyspark.sql import functions as F

    if index_list and isinstance(index_list[0], dict) and suite.id_columns:
        same_ids = [reduce(lambda a, b: a & b, (F.col(c).eqNullSafe(F.lit(entry.get(c))) for c in suite.id_columns))
                    for entry in index_list[:limit]]
        return df.where(reduce(lambda a, b: a | b, same_ids)).limit(limit).toPandas()
    if values and column:
        return df.where(F.col(column).isin(values)).limit(limit).toPandas()
    return df.limit(0).toPandas()


def validate(df: pd.DataFrame, suite: Suite, examples: int = EXAMPLES_PER_EXPECTATION) -> SuiteResult:
    """Run `suite` on `df` with great_expectations; failures carry up to `examples` failing rows."""
    started = time.perf_counter()
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    on_spark = _is_spark(df)
    if not on_spark:
        df = df.reset_index(drop=True)
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    tag = uuid.uuid4().hex[:8]
    batch_definition = (
        (context.data_sources.add_spark if on_spark else context.data_sources.add_pandas)(f"{suite.name}_{tag}")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{suite.name}_{tag}"))
    by_id = {}
    for expectation in suite.expectations:
        added = gx_suite.add_expectation(_gx_expectation(gx, expectation))
        by_id[added.id] = expectation
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}_{tag}", data=batch_definition, suite=gx_suite)
    )
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_UNEXPECTED}
    if suite.id_columns:
        result_format["unexpected_index_column_names"] = list(suite.id_columns)
    outcome = definition.run(batch_parameters={"dataframe": df}, result_format=result_format)
    gx_result = outcome.to_json_dict()
    gx_result["suite_name"] = suite.name

    failures, warnings = [], []
    for res in outcome.results:
        if res.success:
            continue
        expectation = by_id[res.expectation_config.id]
        detail = res.result or {}
        exception = (res.exception_info or {}).get("exception_message") if isinstance(res.exception_info, dict) else None
        (failures if expectation.blocking else warnings).append(FailedExpectation(
            type=expectation.type,
            label=expectation.label,
            why=expectation.why,
            kwargs=expectation.resolved(),
            unexpected_count=detail.get("unexpected_count"),
            unexpected_percent=detail.get("unexpected_percent"),
            observed_value=detail.get("observed_value"),
            examples=_examples(df, suite, expectation, detail, examples),
            exception=exception,
            severity=expectation.severity,
            unexpected_values=_unexpected_values(df, expectation, detail),
        ))
    return SuiteResult(
        suite=suite.name,
        success=not failures,
        rows=df.count() if on_spark else len(df),
        evaluated=len(suite.expectations),
        failures=failures,
        gx_result=gx_result,
        seconds=round(time.perf_counter() - started, 3),
        warnings=warnings,
    )
