"""Change markers in the future (a source with a bad clock): the tolerance setting, the watermark bound of
`last_valid`, and the helpdesk's resume point, which falls back from the cursor to `start_time`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from c360 import settings
from connectors import ALL_RESOURCES
from connectors.base import last_valid
from connectors.helpdesk import START_TIME_MIN_AGE, resume_params, resume_point

SPECS = {s.key: s for s in ALL_RESOURCES}
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def tickets(*updated_at: str) -> list[dict]:
    return [{"id": i + 1, "updated_at": value} for i, value in enumerate(updated_at)]


@pytest.mark.parametrize("value, expected", [
    ("", settings.DEFAULT_FUTURE_TOLERANCE),
    ("900", timedelta(minutes=15)),
    ("90s", timedelta(seconds=90)),
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("1.5H", timedelta(minutes=90)),
    ("2d", timedelta(days=2)),
    ("0", timedelta(0)),
])
def test_future_tolerance_setting(monkeypatch, value, expected):
    monkeypatch.setenv("C360_FUTURE_TOLERANCE", value)
    assert settings.future_tolerance() == expected


@pytest.mark.parametrize("value", ["soon", "-5", "1w", "1h30m"])
def test_future_tolerance_setting_rejects_what_it_cannot_read(monkeypatch, value):
    monkeypatch.setenv("C360_FUTURE_TOLERANCE", value)
    with pytest.raises(ValueError, match="C360_FUTURE_TOLERANCE"):
        settings.future_tolerance()


def test_last_valid_without_a_bound_takes_the_last_readable_marker():
    spec = SPECS["helpdesk/tickets"]
    records = tickets("2026-11-20T10:00:00Z", "2099-01-01T00:00:00Z", "not a date")
    assert last_valid(records, spec) == (records[1], datetime(2099, 1, 1, tzinfo=UTC))


def test_last_valid_skips_markers_after_the_bound():
    spec = SPECS["helpdesk/tickets"]
    records = tickets("2026-11-20T10:00:00Z", "2026-11-20T12:00:00Z", "2026-11-20T12:00:01Z",
                      "not a date", "2099-01-01T00:00:00Z")
    assert last_valid(records, spec, not_after=NOW) == (records[1], NOW)  # at the bound counts
    assert last_valid(records, spec, not_after=NOW - timedelta(hours=3)) == (None, None)
    assert last_valid([], spec, not_after=NOW) == (None, None)


def test_last_valid_bound_reads_each_systems_marker_in_utc():
    shop = SPECS["shop/customers"]
    # 12:30 in Berlin is 11:30 UTC: before the bound, though its digits are later
    assert last_valid([{"id": 1, "updated_at": "2026-11-20T12:30:00+01:00"}], shop, not_after=NOW)[0] is not None
    erp = SPECS["erp/res.partner"]
    assert last_valid([{"id": 1, "write_date": "2026-11-20 12:30:00"}], erp, not_after=NOW) == (None, None)


def test_last_valid_bound_leaves_version_counters_alone():
    contacts = SPECS["accounting/contacts"]
    record = {"id": "0b8e9a3c-1f2d-4e5a-9b6c-7d8e9f0a1b2c", "version": 7}
    assert last_valid([record], contacts, not_after=NOW) == (record, 7)


def test_helpdesk_resumes_at_the_cursor_when_the_page_ends_in_the_past():
    spec = SPECS["helpdesk/tickets"]
    assert resume_point(tickets("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"), spec, "CURSOR", NOW) == "CURSOR"
    assert resume_point([], spec, "CURSOR", NOW) == "CURSOR"
    assert resume_point(tickets("2026-11-20T10:00:00Z", "broken"), spec, "CURSOR", NOW) == "CURSOR"


def test_helpdesk_resumes_before_a_future_dated_record_instead_of_after_it():
    spec = SPECS["helpdesk/tickets"]
    page = tickets("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", "2099-01-01T00:00:00Z")
    assert resume_point(page, spec, "CURSOR", NOW) == "2026-11-20T11:00:00Z"
    # nothing before the clock on the page: the resume point stands where the previous page put it
    assert resume_point(tickets("2099-01-01T00:00:00Z"), spec, "CURSOR", NOW) is None


def test_helpdesk_resume_params():
    assert resume_params(None, NOW) == {"start_time": 0}
    cursor = "eyJyIjoidGlja2V0cyIsIm0iOjE3OTQ3NjYxODAwMDAwMDAsImkiOjE0fQ"
    assert resume_params(cursor, NOW) == {"cursor": cursor}
    assert resume_params("2026-11-20T11:00:00Z", NOW) == {"start_time": int(datetime(2026, 11, 20, 11, tzinfo=UTC).timestamp())}
    # the helpdesk refuses a start_time less than a minute old
    assert resume_params("2026-11-20T11:59:30Z", NOW) == {"start_time": int((NOW - START_TIME_MIN_AGE).timestamp())}
