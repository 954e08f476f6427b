"""Data quality gates: great_expectations 1.x suites defined as data, and a runner for DataFrames.

    c360/quality/suites/*.yml   the suites: which table (a SQL query), which expectations, why
    c360/quality/suites.py      loads them (`load_suites()`, `get_suite(name)`)
    c360/quality/runner.py      `validate(df, suite)` -> `SuiteResult` (failing expectations + example rows)
    c360/quality/docs.py        keeps each validation: GX result JSON + a Data Docs-style HTML page
    c360/quality/sql.py         the same expectations as plain SQL (benchmark and cross-check)

The Dagster side (blocking asset checks that read the warehouse and call the runner) lives in
`orchestration/checks/quality_gates.py`. great_expectations takes seconds to import, so it is
imported only inside `validate`, never at module import time.
"""

from c360.quality.runner import FailedExpectation, SuiteResult, validate
from c360.quality.suites import Expectation, Suite, get_suite, load_suites

__all__ = ["Expectation", "FailedExpectation", "Suite", "SuiteResult", "get_suite", "load_suites", "validate"]
