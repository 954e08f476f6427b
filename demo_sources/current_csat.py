"""A helpdesk account on Zendesk's current CSAT: the world's satisfaction ratings listed as CSAT survey
responses (`GET /api/v2/guide/survey_responses`) instead of legacy ratings.

A Zendesk account runs one of the two CSATs. The generated world's account runs the legacy one; this
wrapper turns any world (generated or replayed) into one whose account runs the current one, every day
of it included: a rating offered, answered or changed is the survey response offered, answered or
changed (`helpdesk.survey_response_from_rating`: same id for the same rating, the answer's
`updated_at` as its version). `c360 sources serve --csat survey` serves it.
"""

from __future__ import annotations

from collections.abc import Iterator

from .helpdesk import survey_response_from_rating

RATINGS = "helpdesk/satisfaction_ratings"
SURVEY_RESPONSES = "helpdesk/csat_survey_responses"
CSAT_KINDS = ("legacy", "survey", "both")


class CurrentCsatWorld:
    """`world` with its ratings as survey responses; `keep_ratings` lists them both ways (tests that
    need every resource served)."""

    def __init__(self, world, keep_ratings: bool = False):
        self._world = world
        self._keep_ratings = keep_ratings
        keys = tuple(key for key in world.resource_keys
                     if key != SURVEY_RESPONSES and (keep_ratings or key != RATINGS))
        self.resource_keys = (*keys, SURVEY_RESPONSES)

    def __getattr__(self, name):
        return getattr(self._world, name)

    def iter_record_batches(self, key: str, batch_size: int = 50_000) -> Iterator[list[dict]]:
        if key not in self.resource_keys:
            raise KeyError(key)
        if key != SURVEY_RESPONSES:
            yield from self._world.iter_record_batches(key, batch_size)
            return
        for batch in self._world.iter_record_batches(RATINGS, batch_size):
            yield [survey_response_from_rating(rating) for rating in batch]

    def iter_records(self, key: str) -> Iterator[dict]:
        for batch in self.iter_record_batches(key, 5_000):
            yield from batch

    def advance_day(self) -> dict[str, list[dict]]:
        changes = self._world.advance_day()
        ratings = changes.get(RATINGS, [])
        changes[SURVEY_RESPONSES] = [survey_response_from_rating(rating) for rating in ratings]
        if not self._keep_ratings:
            changes[RATINGS] = []
        return changes


def with_csat(world, kind: str):
    """The world as an account on the legacy CSAT (as it is), on the current one, or listing its ratings
    both ways (`both`: every connector resource has records, for the landing benchmark)."""
    if kind not in CSAT_KINDS:
        raise ValueError(f"csat is {kind!r}; use one of {', '.join(CSAT_KINDS)}")
    return world if kind == "legacy" else CurrentCsatWorld(world, keep_ratings=kind == "both")
