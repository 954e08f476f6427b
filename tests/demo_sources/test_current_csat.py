"""A demo helpdesk account on Zendesk's current CSAT (`c360 sources serve --csat survey`): the world's
ratings listed as CSAT survey responses, the same answers, the same changes day by day."""

from __future__ import annotations

import datetime as dt

from c360.settings import SourceCredentials
from connectors.base import ulid_time
from connectors.helpdesk import RESOURCES, HelpdeskClient
from demo_sources.current_csat import RATINGS, SURVEY_RESPONSES, CurrentCsatWorld
from demo_sources.server import SourceServer
from demo_sources.world import generate_world

CREDS = SourceCredentials.from_env()


def _by_rating(world) -> dict[tuple[int, str], dict]:
    """The world's legacy ratings by (ticket, created_at)."""
    return {(r["ticket_id"], r["created_at"]): r for r in world.iter_records(RATINGS)}


def test_each_rating_is_one_survey_response_with_its_answer():
    legacy = generate_world(800, 11, today=dt.date(2026, 11, 20))
    current = CurrentCsatWorld(generate_world(800, 11, today=dt.date(2026, 11, 20)))
    assert RATINGS not in current.resource_keys and SURVEY_RESPONSES in current.resource_keys
    ratings = _by_rating(legacy)
    responses = list(current.iter_records(SURVEY_RESPONSES))
    assert len(responses) == len(ratings) > 50
    assert len({r["id"] for r in responses}) == len(responses)
    for response in responses:
        ticket = int(response["subjects"][0]["id"])
        rating = ratings[(ticket, ulid_time(response["id"]).isoformat().replace("+00:00", "Z"))]
        assert response["responder_id"] == str(rating["requester_id"])
        answer = [a["rating_category"] for a in response["answers"]]
        assert answer == ([rating["score"]] if rating["score"] in ("good", "bad") else [])
        assert RESOURCES["csat_survey_responses"].record_version(response).isoformat().replace("+00:00", "Z") == (
            rating["updated_at"] if answer else "1970-01-01T00:00:00Z")


def test_a_days_changed_rating_is_the_same_response_read_again_by_the_connector():
    """Served over HTTP: the connector reads every response; after a day, the rating answered or changed
    that day comes back as the same response id with a newer answer."""
    world = CurrentCsatWorld(generate_world(800, 11, today=dt.date(2026, 11, 20)))
    server = SourceServer(world, port=0, credentials=CREDS).start()
    client = HelpdeskClient(server.url("helpdesk"), CREDS)
    try:
        pages = list(client.fetch("csat_survey_responses", None))
        first = {r["id"]: r for page in pages for r in page.records}
        assert len(first) == len(list(world.iter_records(SURVEY_RESPONSES)))
        watermark = [p.watermark for p in pages if p.watermark][-1]
        changed = server.app.advance(1)[SURVEY_RESPONSES]
        assert changed >= 1
        again = {r["id"]: r for page in client.fetch("csat_survey_responses", watermark) for r in page.records}
        spec = RESOURCES["csat_survey_responses"]
        newer = [i for i, r in again.items() if i in first and spec.record_version(r) > spec.record_version(first[i])]
        added = [i for i in again if i not in first]
        assert newer and added  # a rating answered or changed that day; the surveys offered on solving
    finally:
        client.close()
        server.shutdown()
