"""Staging tests in a daily build look at what landed since the last passing build, and at all of it on request.

A real warehouse and real `dbt build`s of the staging models: a first build tests every row and
records that it passed; then a satisfaction rating whose record carries no readable id lands "before"
that build and another one after it (ratings are a view, which shows every raw row however it landed).
The next build's `not_null` test of the rating id finds the later one only, fails, and records nothing;
`--vars {staging_tests: all}` finds both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb

from c360.raw_store import replace_rows
from tests.dbt.test_staging import build_staging_models, land_world

ID_TEST = "not_null_stg_helpdesk__satisfaction_ratings_satisfaction_rating_id"


def build_staging(path, *extra_args) -> dict:
    """`dbt build` of the staging models on `path`; the run result of the rating id test."""
    results = build_staging_models(path, *extra_args)["results"]
    return next(r for r in results if r["unique_id"].split(".")[2] == ID_TEST)


def passed_builds(path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(*) from staging._tests_passed").fetchone()[0]


def land_rating(path, template: dict, raw_id: int, record_id: str, loaded_at: datetime) -> None:
    """A rating landed under the raw id `raw_id` whose record's own `id` is `record_id` (no number)."""
    with duckdb.connect(str(path)) as con:
        record = {**template, "id": record_id}
        replace_rows(con, "helpdesk_satisfaction_ratings", [(str(raw_id), json.dumps(record), 1, None)],
                     sync_id="test-sync", loaded_at=loaded_at)


def test_a_daily_build_tests_the_rows_landed_since_the_last_passing_build(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    records = land_world(path, persons=80, seed=23)

    first = build_staging(path)
    assert first["status"] == "pass"
    assert passed_builds(path) == 1
    with duckdb.connect(str(path), read_only=True) as con:
        tested_through = con.execute("select max(build_started_at) from staging._tests_passed").fetchone()[0]

    template = records["helpdesk/satisfaction_ratings"][0]
    land_rating(path, template, 990_000_001, "bogus_before", tested_through - timedelta(minutes=5))
    land_rating(path, template, 990_000_002, "bogus_after", datetime.now(UTC))

    daily = build_staging(path)
    assert daily["status"] == "fail"
    assert daily["failures"] == 1  # the row landed after the passing build, not the one before it
    assert passed_builds(path) == 1  # a failed build does not move the bound

    everything = build_staging(path, "--vars", "{staging_tests: all}")
    assert everything["status"] == "fail"
    assert everything["failures"] == 2
