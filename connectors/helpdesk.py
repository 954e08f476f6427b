"""Helpdesk connector (Zendesk Support API): users and tickets by the cursor-based incremental
exports, satisfaction ratings by the List Satisfaction Ratings endpoint (see `fetch_ratings`).

Incremental exports: first run `start_time=0`, later runs resume where the previous run stopped; pages until
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
from .paginators import ZendeskCursorPaginator

RESOURCES: dict[str, ResourceSpec] = {
    "users": resource("helpdesk", "users", "helpdesk_users", "updated_at"),
    "tickets": resource("helpdesk", "tickets", "helpdesk_tickets", "updated_at"),
    "satisfaction_ratings": resource("helpdesk", "satisfaction_ratings", "helpdesk_satisfaction_ratings", "updated_at"),
}
INCREMENTAL_EXPORTS = ("users", "tickets")
# NPS answers are no helpdesk resource: Zendesk has no NPS; they come from survey-tool exports (c360.nps_import).
RATINGS_PATH = "/api/v2/satisfaction_ratings"
# How far before the creation time reached by the last run the next run starts reading ratings again:
# a rating is changed in place (same id, new `updated_at`, e.g. `good` -> `bad` when the requester changes
# their mind), and the list filters only by time of the rating, not by the time of the change. Zendesk
# closes a solved ticket after at most 28 days, after which its rating can no longer change *(verify)*.
RATINGS_LOOKBACK = timedelta(days=28)

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


def last_created_at(records: list, read_at: datetime) -> str | None:
    """The `created_at` (as written) of the last rating of a page created no later than `read_at`: how far
    the creation-ordered list has been read. A future-dated rating never moves it (it would skip every
    rating created until that date); None if no rating qualifies."""
    for record in reversed(records):
        value = record.get("created_at") if isinstance(record, dict) else None
        try:
            created = parse_iso_offset(value, "created_at")
        except MalformedRecord:
            continue
        if created <= read_at:
            return value
    return None


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
        if resource == "satisfaction_ratings":
            yield from self.fetch_ratings(watermark)
            return
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

    def fetch_ratings(self, watermark: str | None) -> Iterator[Page]:
        """`GET /api/v2/satisfaction_ratings` with cursor pagination, oldest rating first.

        Zendesk has no incremental export of ratings. The list filters by `start_time`/`end_time`, "time of
        the oldest / most recent satisfaction rating" (Unix seconds), and lists ratings in the order they
        were created, so the filter bounds the creation time (`created_at`), not the time of a change
        (`updated_at`). The watermark is therefore the `created_at` of the last rating read (not after the
        clock), and the next run asks `start_time` = watermark - `RATINGS_LOOKBACK`: a rating changed
        within that window after its creation is read again (the landing upserts it by id, the newer
        `updated_at` wins); a change to an older rating is missed until a full re-read (a run without a
        watermark). Offered and unoffered ratings are read too: staging treats them as no answer.
        """
        params: dict[str, object] = {}
        if watermark:
            try:
                reached = parse_iso_offset(watermark, "watermark")
                params["start_time"] = max(0, int((reached - RATINGS_LOOKBACK).timestamp()))
            except MalformedRecord:
                pass  # not a creation time (never written by this connector): read everything
        pager = ZendeskCursorPaginator(params)
        standing = watermark
        while True:
            response = self.http.get(RATINGS_PATH, pager.arguments())
            read_at = datetime.now(UTC)
            body = response.body
            records = expect_records(body, "satisfaction_ratings", "helpdesk", f"GET {RATINGS_PATH}")
            reached = last_created_at(records, read_at) or standing
            yield Page(records, reached if reached != standing else None, response.content,
                       records_path("satisfaction_ratings"), future_after=read_at + self.future_tolerance)
            standing = reached
            if not pager.advance(body):
                return

    def close(self) -> None:
        self.http.close()
