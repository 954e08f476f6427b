"""Helpdesk connector (Zendesk Support API): users and tickets by the cursor-based incremental
exports, satisfaction ratings by the List Satisfaction Ratings endpoint (legacy CSAT, see
`fetch_ratings`) and CSAT survey responses by List Survey Responses (the current CSAT with numeric
ratings, see `fetch_survey_responses`). An account has one of the two CSATs active; both are read.

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
                   records_path, resource, ulid_time)
from .http import HttpClient
from .paginators import ZendeskCursorPaginator

RESOURCES: dict[str, ResourceSpec] = {
    "users": resource("helpdesk", "users", "helpdesk_users", "updated_at"),
    "tickets": resource("helpdesk", "tickets", "helpdesk_tickets", "updated_at"),
    "satisfaction_ratings": resource("helpdesk", "satisfaction_ratings", "helpdesk_satisfaction_ratings", "updated_at"),
    # A survey response has a ULID string id and no change marker of its own: it is versioned by its
    # newest answer's `updated_at` (docs/source_protocol.md).
    "csat_survey_responses": resource("helpdesk", "csat_survey_responses", "helpdesk_csat_survey_responses",
                                      "updated_at", id_kind="ulid", newest_of="answers"),
}
INCREMENTAL_EXPORTS = ("users", "tickets")
# NPS answers are no helpdesk resource: Zendesk has no NPS; they come from survey-tool exports (c360.nps_import).
RATINGS_PATH = "/api/v2/satisfaction_ratings"
# How far before the creation time reached by the last run the next run starts reading ratings again:
# a rating is changed in place (same id, new `updated_at`, e.g. `good` -> `bad` when the requester changes
# their mind), and the list filters only by time of the rating, not by the time of the change. Zendesk
# closes a solved ticket after at most 28 days, after which its rating can no longer change *(verify)*.
RATINGS_LOOKBACK = timedelta(days=28)
SURVEY_RESPONSES_PATH = "/api/v2/guide/survey_responses"

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


def lookback_start(watermark: str | None) -> datetime | None:
    """Where a creation-ordered list is read from again: `RATINGS_LOOKBACK` before the creation time
    the watermark holds (never before the epoch); None (read everything) without one."""
    if not watermark:
        return None
    try:
        reached = parse_iso_offset(watermark, "watermark")
    except MalformedRecord:
        return None  # not a creation time (never written by this connector): read everything
    return max(reached - RATINGS_LOOKBACK, datetime.fromtimestamp(0, UTC))


def last_ulid_time(records: list, read_at: datetime) -> str | None:
    """The creation time (ISO 8601, UTC) that the ULID id of the last survey response of a page carries,
    of the last one created no later than `read_at`; None if no response qualifies."""
    for record in reversed(records):
        try:
            created = ulid_time(record.get("id") if isinstance(record, dict) else None)
        except MalformedRecord:
            continue
        if created <= read_at:
            return created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
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
        if resource in self.lists:
            yield from self.lists[resource](self, watermark)
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

    def _creation_window(self, path: str, resource: str, params: dict, reached_by,
                         watermark: str | None) -> Iterator[Page]:
        """The pages of a creation-ordered list (cursor pagination) from `params` on; the watermark
        moves to `reached_by(records, read_at)`, the creation time read so far."""
        pager = ZendeskCursorPaginator(params)
        standing = watermark
        while True:
            response = self.http.get(path, pager.arguments())
            read_at = datetime.now(UTC)
            body = response.body
            records = expect_records(body, resource, "helpdesk", f"GET {path}")
            reached = reached_by(records, read_at) or standing
            yield Page(records, reached if reached != standing else None, response.content,
                       records_path(resource), future_after=read_at + self.future_tolerance)
            standing = reached
            if not pager.advance(body):
                return

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
        start = lookback_start(watermark)
        if start is not None:
            params["start_time"] = int(start.timestamp())
        yield from self._creation_window(RATINGS_PATH, "satisfaction_ratings", params, last_created_at, watermark)

    def fetch_survey_responses(self, watermark: str | None) -> Iterator[Page]:
        """`GET /api/v2/guide/survey_responses` (List Survey Responses), oldest first (`sort=id`: the
        ids are ULIDs, which begin with their creation time), cursor pagination.

        The only time filter, `filter[created_at_start]` (Unix milliseconds), bounds the response's
        creation; a response changes when its answers do (a requester edits it until `expires_at`).
        As for the legacy ratings, the watermark is the creation time reached (the ULID's time of the
        last response read) and the next run starts `RATINGS_LOOKBACK` before it; the landing upserts
        by id and keeps the version with the newest answer.
        """
        params: dict[str, object] = {"sort": "id"}
        start = lookback_start(watermark)
        if start is not None:
            params["filter[created_at_start]"] = int(start.timestamp() * 1000)
        yield from self._creation_window(SURVEY_RESPONSES_PATH, "survey_responses", params, last_ulid_time,
                                         watermark)

    lists = {"satisfaction_ratings": fetch_ratings, "csat_survey_responses": fetch_survey_responses}

    def close(self) -> None:
        self.http.close()
