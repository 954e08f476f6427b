"""A raw quality gate validates what arrived since it last passed, and keeps failing rows in view.

A real DuckDB warehouse in the raw landing layout and the real great_expectations suite
`raw_shop_customers`: customers land in waves (each with a later `_loaded_at`, as the landing writes
them), and each validation is checked for the rows it saw and whether it passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from connectors import ALL_RESOURCES
from c360.raw_store import ensure_raw_schema
from c360.quality.scope import validate_in_warehouse
from c360.quality.suites import get_suite
from tests.conftest import land_raw_record

T0 = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)


def customer(customer_id: int, created_at: str | None = "2025-01-02T10:00:00+01:00") -> dict:
    """A shop customer; `created_at=None` is a defect that blocks the gate (a new state would only warn)."""
    return {
        "id": customer_id, "email": f"kunde{customer_id}@example.de", "state": "enabled",
        "email_marketing_consent": {"state": "subscribed"},
        "created_at": created_at, "updated_at": "2026-11-01T10:00:00+01:00",
    }


def land(con, records: list[dict], loaded_at: datetime) -> None:
    for record in records:
        land_raw_record(con, "shop_customers", record, loaded_at)


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "c360.duckdb")) as connection:
        ensure_raw_schema(connection, [s for s in ALL_RESOURCES if s.table == "shop_customers"])
        yield connection


def gate(con):
    result, scope = validate_in_warehouse(con, get_suite("raw_shop_customers"))
    return result.success, result.rows, scope.arrived_after


def test_each_validation_sees_the_rows_arrived_since_the_last_pass(con):
    land(con, [customer(i) for i in range(1, 6)], T0)
    assert gate(con) == (True, 5, None)  # first validation: every row

    land(con, [customer(6), customer(7, created_at=None)], T0 + timedelta(days=1))
    assert gate(con) == (False, 2, T0)  # the day's rows only, and the bad one fails the gate

    land(con, [customer(8)], T0 + timedelta(days=2))
    assert gate(con) == (False, 3, T0)  # a failed gate did not move on: the bad row is seen again

    land(con, [customer(7)], T0 + timedelta(days=3))  # the source fixed it; landed again
    assert gate(con) == (True, 3, T0)
    assert gate(con) == (True, 0, T0 + timedelta(days=3))  # nothing new arrived


def test_quality_scope_all_validates_every_row(con, monkeypatch):
    land(con, [customer(i) for i in range(1, 4)], T0)
    assert gate(con)[0]
    land(con, [customer(4)], T0 + timedelta(days=1))
    monkeypatch.setenv("C360_QUALITY_SCOPE", "all")
    assert gate(con) == (True, 4, None)
    con.execute("update raw.shop_customers set record = json_merge_patch(record, '{\"created_at\": null}') where id = '1'")
    assert not gate(con)[0]  # an old row changed without landing is found only when all rows are validated
