"""The quality gates: each suite of `c360/quality/suites/*.yml` as a BLOCKING Dagster asset check.

A check reads its suite's query from the warehouse into a DataFrame (on the Spark engine a Spark
DataFrame of the tables dbt-spark and identity built; the raw tables from the landing's DuckDB file on
either), validates it with great_expectations (`c360.quality.validate`), keeps the result
(`c360.quality.docs`: GX JSON + HTML under `$C360_QUALITY_DIR/<run_id>/`) and reports an
`AssetCheckResult` with ERROR severity. Because the checks are blocking, a failed one stops every asset
directly downstream of the checked asset in the same run (Dagster skips those steps and fails the run
naming the check):

    raw/<table>  --gate-->  dbt staging ... (nothing downstream is rebuilt)
    intermediate/int_customer_records  --gate-->  identity, marts, segments (share of records staging set aside)
    marts/golden_customer_sources  --gate-->  marts/golden_customers, marts/* KPI marts
    marts/golden_customers, marts/customer_kpis  --gate-->  segments/* (a separate dbt step)

So when a gate fails the segment tables are not rebuilt and keep their previous contents. The
metadata of the check says which expectations failed, with example failing rows, and links the
Data Docs page of the validation.

Expectations of `severity: warn` (open sets: a state, channel or type the vendor added) never stop
a run: when only they fail, the check reports WARN severity (Dagster blocks on ERROR only), logs a
warning and lists the new values with their counts in its metadata (`warnings`, `new_values`).
"""



from collections.abc import Iterable

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.resources import ENGINE, SparkResource
from c360.quality.suites import Suite, load_suites

MAX_EXAMPLE_ROWS_IN_TABLE = 10


def _markdown_examples(result) -> str:
    lines = []
    for failure in [*result.failures, *result.warnings]:
        lines.append(f"**{failure.label}**: {failure.summary()}" + (f" ({failure.why})" if failure.why else ""))
        rows = failure.examples[:MAX_EXAMPLE_ROWS_IN_TABLE]
        if rows:
            columns = list(dict.fromkeys(k for row in rows for k in row))
            lines.append("")
            lines.append("| " + " | ".join(columns) + " |")
            lines.append("|" + "---|" * len(columns))
            for row in rows:
                lines.append("| " + " | ".join(str(row.get(c, "")).replace("|", "\\|") for c in columns) + " |")
        lines.append("")
    return "\n".join(lines) or "all expectations met"


def _warning_line(suite: Suite, result) -> str:
    return (f"quality gate {suite.name} on {'/'.join(suite.asset)} passed with warnings (not blocking): "
            + "; ".join(f"{w.summary()}" + (f" ({w.why})" if w.why else "") for w in result.warnings))


def _first_examples(failure, count: int = 3) -> str:
    """The first failing rows of an expectation, for the log line: which records, not just how many."""
    rows = failure.examples[:count]
    return "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in rows) or "no example rows"


def _check_metadata(result, json_path, html_path) -> dict:
    return {
        "suite": result.suite,
        "rows_validated": dg.MetadataValue.int(result.rows),
        "expectations_evaluated": dg.MetadataValue.int(result.evaluated),
        "expectations_failed": dg.MetadataValue.int(len(result.failures)),
        "failed_expectations": dg.MetadataValue.text(", ".join(f.label for f in result.failures) or "none"),
        "failing_rows": dg.MetadataValue.md(_markdown_examples(result)),
        "failing_row_examples": dg.MetadataValue.json({f.label: f.examples for f in result.failures}),
        "expectations_warned": dg.MetadataValue.int(len(result.warnings)),
        "warnings": dg.MetadataValue.text("; ".join(w.summary() for w in result.warnings) or "none"),
        # per warned expectation the values not seen before, with their counts
        "new_values": dg.MetadataValue.json({w.label: w.unexpected_values for w in result.warnings}),
        "data_docs": dg.MetadataValue.url(html_path.resolve().as_uri()),
        "data_docs_path": dg.MetadataValue.path(str(html_path.resolve())),
        "gx_result_json": dg.MetadataValue.path(str(json_path.resolve())),
        "validation_seconds": dg.MetadataValue.float(result.seconds),
    }


def build_quality_check(suite: Suite, known_keys: set[dg.AssetKey] | None = None) -> dg.AssetChecksDefinition:
    deps = [dg.AssetKey(list(dep)) for dep in suite.additional_deps]
    if known_keys is not None:
        deps = [dep for dep in deps if dep in known_keys]

    @dg.asset_check(
        asset=dg.AssetKey(list(suite.asset)),
        name=f"gx_{suite.name}",
        description=(suite.description or f"great_expectations suite `{suite.name}`")
        + f" (c360/quality/suites/{suite.layer}.yml; blocking)",
        blocking=True,
        additional_deps=deps or None,
        pool=WAREHOUSE_POOL,
        metadata={"suite_file": f"c360/quality/suites/{suite.layer}.yml", "layer": suite.layer},
    )
    def _gate(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource,
              spark: SparkResource) -> dg.AssetCheckResult:
        from c360.quality.docs import write_validation
        from c360.quality.scope import validate_in_warehouse, validate_on_spark
        from c360.spark_engine import to_spark_sql

        engine = ENGINE if not suite.arrival_column else "duckdb"
        if engine == "spark":  # a table dbt-spark or identity built
            with spark.session() as session:
                result, scope = validate_on_spark(session, suite)
                shown = session.sql(to_spark_sql(suite.query)).toPandas() if suite.show_rows else None
        else:  # the DuckDB engine, and on either the landed rows, in the landing's DuckDB tables
            with warehouse.get_connection() as con:
                result, scope = validate_in_warehouse(con, suite)
                shown = con.execute(suite.query).df() if suite.show_rows else None
        json_path, html_path = write_validation(result, suite, context.op_execution_context.run_id)
        if result.warnings:
            context.log.warning(_warning_line(suite, result) + f" (Data Docs: {html_path})")
        if result.success:
            context.log.info(f"{suite.name}: {result.rows} rows ({scope.describe()}), "
                             f"{result.evaluated - len(result.warnings)} of {result.evaluated} expectations met")
        else:
            context.log.error(
                f"quality gate {suite.name} failed on {'/'.join(suite.asset)}: "
                + "; ".join(f"{f.summary()}, e.g. {_first_examples(f)}" for f in result.failures)
                + f" (Data Docs: {html_path})"
            )
        metadata = {**_check_metadata(result, json_path, html_path), "validated": scope.describe(),
                    "engine": engine}
        if shown is not None:
            metadata["rows"] = dg.MetadataValue.md(shown.to_markdown(index=False))
        # only warnings: failed with WARN severity, which Dagster shows but never blocks on
        severity = dg.AssetCheckSeverity.ERROR if result.failures or not result.warnings else dg.AssetCheckSeverity.WARN
        return dg.AssetCheckResult(passed=result.success and not result.warnings, severity=severity,
                                   metadata=metadata)

    return _gate


def build_quality_checks(assets: Iterable[dg.AssetsDefinition | dg.AssetSpec] | None = None,
                         suites: Iterable[Suite] | None = None) -> list[dg.AssetChecksDefinition]:
    """One blocking check per suite whose asset is among `assets` (all suites when `assets` is None)."""
    suites = list(suites if suites is not None else load_suites())
    if assets is None:
        return [build_quality_check(suite) for suite in suites]
    known: set[dg.AssetKey] = set()
    for item in assets:
        known |= set(item.keys) if isinstance(item, dg.AssetsDefinition) else {item.key}
    return [build_quality_check(suite, known) for suite in suites if dg.AssetKey(list(suite.asset)) in known]
