"""Zendesk's published sample payloads through connector -> raw landing -> dbt staging.

A tiny HTTP server answers the cursor-based incremental exports of users and tickets and the List
Satisfaction Ratings endpoint with the published records (tests/contract/payloads/helpdesk/, sources
in its README): three end users; four tickets with the channels `web`, `voice` (a voicemail) and
`sample_ticket` and the embedded ratings `good`, `offered` and `unoffered`; five satisfaction ratings
(the API reference's two `good` ones, one changed after it was created, and three `offered` ones of a
test account with null assignee and group); five CSAT survey responses of the current CSAT (List
Survey Responses: ULID ids, the responder and ticket ids as strings, numeric and emoji ratings with
their category, a skipped rating, a rating changed two days later, comments). Every record must reach
staging with names, e-mails, channels, ratings and dates intact.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import duckdb
import pandas as pd
import pytest

from c360.settings import SourceCredentials
from c360.raw_store import land_resource
from connectors.base import ulid_time
from connectors.helpdesk import RATINGS_LOOKBACK, HelpdeskClient
from tests.contract.conftest import VendorHandler, land_and_stage, load_payload, serving

CREDS = SourceCredentials.from_env()


def load(name: str):
    return load_payload("helpdesk", name)


def by_marker(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (r["updated_at"], r["id"]))


USERS = by_marker(load("incremental_users_cursor_page.json")["users"] + load("sandbox_users.json"))
TICKETS = by_marker(load("incremental_tickets_cursor_page.json")["tickets"] + load("sandbox_tickets.json"))
EXPORTS = {"users": USERS, "tickets": TICKETS}
# oldest first, as the list gives them
RATINGS = sorted(load("satisfaction_ratings_docs_example.json")["satisfaction_ratings"]
                 + load("sandbox_satisfaction_ratings_offered.json"), key=lambda r: (r["created_at"], r["id"]))
RATINGS_PAGE = 2  # fewer than the asked page[size], so that the cursor is followed
SURVEY_RESPONSES = load("csat_survey_responses.json")["survey_responses"]  # sorted by id, as `sort=id` asks
SURVEY_QUERIES: list[dict] = []  # the queries of List Survey Responses, as received


class Zendesk(VendorHandler):
    """`GET /api/v2/incremental/{users,tickets}/cursor.json`: one page, then the end of the stream."""

    content_type = "application/json; charset=utf-8"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        expected = base64.b64encode(f"{CREDS.helpdesk_email}/token:{CREDS.helpdesk_token}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            return self.send_json(401, {"error": "Couldn't authenticate you"})
        url = urlsplit(self.path)
        if url.path in ("/api/v2/satisfaction_ratings", "/api/v2/satisfaction_ratings.json"):
            return self.ratings(parse_qs(url.query))
        if url.path == "/api/v2/guide/survey_responses":
            return self.survey_responses(parse_qs(url.query))
        resource = url.path.removeprefix("/api/v2/incremental/").removesuffix("/cursor.json")
        if resource not in EXPORTS:
            return self.send_json(404, {"error": "InvalidEndpoint", "description": "Not found"})
        query = parse_qs(url.query)
        records = [] if "cursor" in query else EXPORTS[resource]
        cursor = base64.b64encode(f"{resource}-end".encode()).decode()
        return self.send_json(200, {resource: records, "after_cursor": cursor, "after_url": None,
                                "before_cursor": None, "before_url": None, "end_of_stream": True})

    def ratings(self, query: dict) -> None:
        """List Satisfaction Ratings: every rating on a first run, in cursor pages."""
        if "page[size]" not in query:
            return self.send_json(400, {"error": "cursor pagination expected"})
        if "start_time" in query:
            return self.send_json(400, {"error": "a first run reads every rating"})
        return self.cursor_page("satisfaction_ratings", RATINGS, query, "/api/v2/satisfaction_ratings")

    def cursor_page(self, key: str, listed: list, query: dict, path: str) -> None:
        """One page of `listed` in the list endpoints' envelope (`meta.has_more`, `meta.after_cursor`,
        `links.next`); `page[after]` is the index of the next record here."""
        start = int(query.get("page[after]", ["0"])[0])
        more = start + RATINGS_PAGE < len(listed)
        after = str(start + RATINGS_PAGE)
        return self.send_json(200, {key: listed[start:start + RATINGS_PAGE],
                                    "meta": {"has_more": more, "after_cursor": after, "before_cursor": str(start)},
                                    "links": {"next": f"{path}?page[after]={after}" if more else None, "prev": None}})

    def survey_responses(self, query: dict) -> None:
        """List Survey Responses in cursor pages; `filter[created_at_start]` (ms) keeps the responses whose
        ULID id says they were created then or later."""
        SURVEY_QUERIES.append(query)
        if query.get("sort") != ["id"] or "page[size]" not in query:
            return self.send_json(400, {"error": "sort=id and cursor pagination expected"})
        since = int(query.get("filter[created_at_start]", ["0"])[0])
        listed = [r for r in SURVEY_RESPONSES if ulid_time(r["id"]).timestamp() * 1000 >= since]
        return self.cursor_page("survey_responses", listed, query, "/api/v2/guide/survey_responses")


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "warehouse.duckdb"
    with serving(Zendesk) as url:
        stats, results = land_and_stage(
            path, HelpdeskClient(url, CREDS), ("users", "tickets", "satisfaction_ratings", "csat_survey_responses"),
            "helpdesk")
    con = duckdb.connect(str(path), read_only=True)
    yield con, stats, results
    con.close()


def test_every_published_record_lands_and_nothing_is_quarantined(staged):
    _, stats, results = staged
    assert {r["status"] for r in results["results"]} <= {"pass", "success", "warn"}, results["results"]
    assert stats["users"].new == len(USERS) == 3
    assert stats["tickets"].new == len(TICKETS) == 4
    assert stats["satisfaction_ratings"].new == len(RATINGS) == 5
    assert stats["satisfaction_ratings"].pages == 3
    assert stats["csat_survey_responses"].new == len(SURVEY_RESPONSES) == 5
    assert stats["csat_survey_responses"].pages == 3
    assert all(s.quarantined == 0 for s in stats.values())


def test_users_keep_names_emails_and_dates(staged):
    con = staged[0]
    got = con.execute("select user_id, name, email, role, is_active, updated_at from staging.stg_helpdesk__users").df()
    got = got.set_index("user_id")
    assert set(got.index) == {u["id"] for u in USERS}
    for u in USERS:
        row = got.loc[u["id"]]
        assert row["name"] == u["name"] and row["email"] == u["email"] and row["role"] == u["role"]
        assert bool(row["is_active"]) == u["active"]
        assert row["updated_at"] == pd.Timestamp(u["updated_at"])


def test_tickets_keep_channels_ratings_and_requesters(staged):
    con = staged[0]
    got = con.execute("select ticket_id, requester_id, subject, channel, status, satisfaction_score, created_at "
                      "from staging.stg_helpdesk__tickets").df().set_index("ticket_id")
    assert set(got.index) == {t["id"] for t in TICKETS}
    for t in TICKETS:
        row = got.loc[t["id"]]
        assert row["channel"] == t["via"]["channel"] and row["status"] == t["status"]
        assert row["satisfaction_score"] == t["satisfaction_rating"]["score"]
        assert row["requester_id"] == t["requester_id"] and row["subject"] == t["subject"]
        assert row["created_at"] == pd.Timestamp(t["created_at"])
    assert {"voice", "web", "sample_ticket"} <= set(got["channel"])
    assert {"good", "offered", "unoffered"} <= set(got["satisfaction_score"])


def test_satisfaction_ratings_keep_scores_people_and_dates(staged):
    con = staged[0]
    got = con.execute("select * from staging.stg_helpdesk__satisfaction_ratings").df().set_index("satisfaction_rating_id")
    assert set(got.index) == {r["id"] for r in RATINGS}
    for r in RATINGS:
        row = got.loc[r["id"]]
        assert row["score"] == r["score"] and row["ticket_id"] == r["ticket_id"]
        assert row["requester_id"] == r["requester_id"]
        for field in ("assignee_id", "group_id", "comment"):
            assert (pd.isna(row[field]) if r[field] is None else row[field] == r[field]), (r["id"], field)
        assert row["created_at"] == pd.Timestamp(r["created_at"]) and row["updated_at"] == pd.Timestamp(r["updated_at"])
        # offered = survey sent, no answer yet: not counted; good = satisfied
        assert bool(row["is_received"]) == (r["score"] in ("good", "bad"))
        assert (pd.isna(row["is_satisfied"]) if r["score"] == "offered" else bool(row["is_satisfied"]) == (r["score"] == "good"))
    changed = got.loc[120447]
    assert changed["updated_at"] > changed["created_at"]  # the published example changed a day after it was given


def test_csat_survey_responses_keep_ratings_categories_tickets_and_times(staged):
    con = staged[0]
    got = con.execute("select * from staging.stg_helpdesk__csat_survey_responses").df().set_index("survey_response_id")
    assert set(got.index) == {r["id"] for r in SURVEY_RESPONSES}
    for r in SURVEY_RESPONSES:
        row = got.loc[r["id"]]
        assert row["ticket_id"] == int(r["subjects"][0]["id"]) and row["responder_id"] == int(r["responder_id"])
        csat = [a for a in r["answers"] if a["question"].get("sub_type") == "customer_satisfaction"]
        rated = [a for a in csat if a["type"] == "rating_scale"]
        assert bool(row["is_received"]) == bool(rated), r["id"]
        if rated:
            assert row["rating"] == rated[0]["rating"] and row["rating_category"] == rated[0]["rating_category"]
            assert bool(row["is_satisfied"]) == (rated[0]["rating_category"] == "good")
            assert row["answered_at"] == pd.Timestamp(rated[0]["created_at"])
            assert row["updated_at"] == pd.Timestamp(rated[0]["updated_at"])
        else:
            assert pd.isna(row["rating"]) and pd.isna(row["is_satisfied"])
        comments = [a["value"] for a in r["answers"] if a["type"] == "open_ended"]
        assert (row["comment"] == " ".join(comments)) if comments else pd.isna(row["comment"])
    assert set(got["question_type"].dropna()) == {"rating_scale_numeric", "rating_scale_emoji"}
    # the landed version is the one with the newest answer (the bad rating changed two days later)
    version = con.execute("select _source_updated_at from raw.helpdesk_csat_survey_responses where id = ?",
                          ["01M4JGRSD87QK2M4XV1B8C3D9E"]).fetchone()[0]
    assert version == pd.Timestamp("2026-10-12T17:45:30.118Z")


def test_a_later_read_of_survey_responses_starts_the_look_back_before_the_last_creation(staged, tmp_path):
    """The first read takes every response (no time filter); the next one asks from the creation time of
    the last response read minus the look-back, in milliseconds, and re-reads nothing it must not."""
    first = [q for q in SURVEY_QUERIES if "page[after]" not in q]
    assert first and "filter[created_at_start]" not in first[0]
    SURVEY_QUERIES.clear()
    path = tmp_path / "again.duckdb"
    with serving(Zendesk) as url, duckdb.connect(str(path)) as con:
        from c360.raw_store import ensure_raw_schema
        from connectors import ALL_RESOURCES

        ensure_raw_schema(con, ALL_RESOURCES)
        client = HelpdeskClient(url, CREDS)
        land_resource(con, client, "csat_survey_responses")
        again = land_resource(con, client, "csat_survey_responses")
        client.close()
    last_created = ulid_time(SURVEY_RESPONSES[-1]["id"])
    asked = int(SURVEY_QUERIES[-1]["filter[created_at_start]"][0])
    assert asked == int((last_created - RATINGS_LOOKBACK).timestamp() * 1000)
    assert again.new == 0 and again.updated == 0 and again.quarantined == 0
