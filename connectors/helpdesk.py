"""Helpdesk connector (Zendesk cursor-based incremental export style).

First run `start_time=0`, later runs resume where the previous run stopped; pages until
`end_of_stream: true`. The resume point (watermark) is one of two kinds:

- the `after_cursor` of the last page, as Zendesk hands it out: positional after the last record
  served, ordered by (`updated_at`, `id`) (records changed in the last 60 s are held back by the
  server and come after the cursor once released);
- an `updated_at` as the helpdesk wrote it, resumed as `start_time` (inclusive, so that record is read
  again): used when a page ends with a future-dated record. A cursor after it would skip every record
  changed until that date, so the run resumes from the last record not after the clock instead, and
  reads the future-dated one again on every run until its time comes (the landing upserts it as
  unchanged). A cursor is opaque base64 and never reads as a date-time, so the two cannot be confused.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Iterator

from c360.settings import DEFAULT_FUTURE_TOLERANCE, SourceCredentials

from .base import (MalformedRecord, Page, RequestStats, ResourceSpec, expect_records, last_valid, parse_iso_offset,
                   records_path, resource)
from .http import HttpClient

RESOURCES: dict[str, ResourceSpec] = {
    "users": resource("helpdesk", "users", "helpdesk_users", "updated_at"),
    "tickets": resource("helpdesk", "tickets", "helpdesk_tickets", "updated_at"),
    "survey_responses": resource("helpdesk", "survey_responses", "helpdesk_survey_responses", "updated_at"),
}

# Zendesk refuses a start_time less than a minute old; one more minute covers a difference between its
# clock and ours.
START_TIME_MIN_AGE = timedelta(minutes=2)


def resume_params(watermark: str | None, now: datetime) -> dict[str, object]:
    """The query that resumes the export at a stored watermark (see the module docstring)."""
    if not watermark:
        return {"start_time": 0}
    try:
        updated_at = parse_iso_offset(watermark, "watermark")
    except MalformedRecord:
        return {"cursor": watermark}
    return {"start_time": int(min(updated_at, now - START_TIME_MIN_AGE).timestamp())}


def resume_point(records: list, spec: ResourceSpec, after_cursor: str | None, read_at: datetime) -> str | None:
    """Where the next run resumes after this page: its cursor, unless the page ends with a record dated
    after `read_at` (the clock when it arrived); then the `updated_at` of the last record that is not,
    or None (unchanged: the previous page's resume point precedes this page) if there is none."""
    _, last_marker = last_valid(records, spec)
    if last_marker is None or last_marker <= read_at:
        return after_cursor
    plausible, _ = last_valid(records, spec, not_after=read_at)
    return None if plausible is None else plausible[spec.version_field]


class HelpdeskClient:
    system = "helpdesk"
    resources = RESOURCES

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE):
        self.stats = RequestStats()
        self.future_tolerance = future_tolerance
        user = f"{credentials.helpdesk_email}/token"
        basic = base64.b64encode(f"{user}:{credentials.helpdesk_token}".encode()).decode("ascii")
        self.http = HttpClient("helpdesk", base_url, headers={"Authorization": f"Basic {basic}"},
                               timeout=timeout, max_retries=max_retries, stats=self.stats)

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        spec = self.resources[resource]
        path = f"/api/v2/incremental/{resource}/cursor.json"
        params = resume_params(watermark, datetime.now(UTC))
        cursor = params.get("cursor")
        standing = watermark  # the resume point as stored once the pages so far are
        while True:
            response = self.http.get(path, params)
            read_at = datetime.now(UTC)
            body = response.body
            records = expect_records(body, resource, "helpdesk", f"GET {path}")
            after = body.get("after_cursor") or None
            resume = resume_point(records, spec, after, read_at) or standing
            yield Page(records, resume if resume != standing else None, response.content, records_path(resource),
                       future_after=read_at + self.future_tolerance)
            standing = resume
            if body.get("end_of_stream", True) or after is None or (after == cursor and not records):
                return
            cursor = after
            params = {"cursor": after}

    def close(self) -> None:
        self.http.close()
