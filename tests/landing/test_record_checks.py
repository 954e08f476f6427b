"""The warehouse's checks of ids and change markers against the Python parsers they stand in for.

The landing reads ids and markers in SQL and hands whatever SQL does not accept to the parsers in
`connectors.base`. That is only right if SQL never accepts what a parser rejects, and reads the same
id and the same instant where both accept.
"""

from __future__ import annotations

import duckdb
import orjson
import pytest

from connectors import ALL_RESOURCES
from connectors.base import MalformedRecord
from c360.raw_store import epoch_micros

IDS = [
    1, 0, 42, 2**63 - 1, 2**63, -5, 1.0, 1.5, True, False, None, "17", "", [1], {"id": 1},
    "0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5B-D9CB-469F-A165-70867728950E",
    "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5bd9cb469fa16570867728950e", " 0f8fad5b-d9cb-469f-a165-70867728950e",
    "0f8fad5b-d9cb-469f-a165-70867728950e\n", "g0000000-0000-0000-0000-000000000000",
]
MARKERS = [
    # ERP, naive UTC
    "2026-03-29 01:30:00", "2026-02-29 10:00:00", "2026-01-01 24:00:00", "2026-01-01 10:00:60", "2026-1-01 10:00:00",
    "2026-01-01T10:00:00", "2026-01-01 10:00:00 ", "2026-01-01 10:00:00.5", "２０２６-01-01 10:00:00",
    # ISO 8601 with offset (shop, helpdesk, accounting)
    "2026-03-29T03:30:00+02:00", "2026-03-29T00:30:00Z", "2026-03-29T00:30:00z", "2026-03-29T00:30:00.123+01:00",
    "2026-03-29T00:30:00.123456-05:30", "2026-03-29T00:30:00.1234567+01:00", "2026-03-29T00:30:00+0100",
    "2026-03-29T00:30:00+24:00", "2026-03-29 00:30:00+01:00", "2026-03-29t00:30:00+01:00", "2026-03-29T00:30:00",
    "2026-03-29T24:00:00Z", "2026-02-30T10:00:00Z", "2026-03-29T00:30+01:00", "2026-03-29T00:30:00.+01:00",
    "yesterday-ish", "", " 2026-03-29T00:30:00Z",
    # counters and wrong kinds
    0, 7, 2**63 - 1, 2**63, -1, 3.0, True, False, None, [], {},
]


def python_reading(spec, record):
    try:
        version = spec.record_version(record)
        return spec.record_id(record), epoch_micros(version)
    except MalformedRecord:
        return None


# ULIDs (Zendesk's survey responses): valid, lower case, a first character past 7, a U, one short
ULIDS = ["01M4FMXHBW5WHJ6D7BEMA0RZC5", "01m4fmxhbw5whj6d7bema0rzc5", "81M4FMXHBW5WHJ6D7BEMA0RZC5",
         "01M4FMXHBW5WHJ6D7BEMA0RZCU", "01M4FMXHBW5WHJ6D7BEMA0RZC"]


def records_to_check(spec) -> list:
    """Every id beside every marker; for a record versioned by the newest of its list (`newest_of`), the
    markers in lists of one and two items, and lists that are empty, missing, not lists or hold no marker."""
    ids = IDS + ULIDS
    if spec.newest_of is None:
        records = [{spec.id_field: record_id, spec.version_field: marker} for record_id in ids for marker in MARKERS]
        return records + [{spec.version_field: MARKERS[0]}, {spec.id_field: IDS[0]}]
    lists = ([[{spec.version_field: marker}] for marker in MARKERS]
             + [[{spec.version_field: a}, {spec.version_field: b}] for a, b in zip(MARKERS, MARKERS[1:])]
             + [[], None, "x", [{}], [1]])
    records = [{spec.id_field: record_id, spec.newest_of: items} for record_id in ids for items in lists]
    return records + [{spec.newest_of: lists[0]}, {spec.id_field: ULIDS[0]}]


@pytest.mark.parametrize("spec", ALL_RESOURCES, ids=lambda spec: spec.key)
def test_sql_accepts_only_what_the_parsers_accept_and_reads_the_same(spec):
    records = records_to_check(spec)
    con = duckdb.connect()
    con.execute("set timezone = 'America/Los_Angeles'")  # the session's zone must not matter
    sql_readings = con.execute(
        f"""
        select {spec.sql_id("value[1]")}, {spec.sql_version("value[2]")}
        from (
            select unnest(json_extract(?, '$[*]')) as record
        ), lateral (select json_extract(record, ['$.{spec.id_field}', '{spec.marker_path}']) as value)
        """,
        [orjson.dumps(records).decode()],
    ).fetchall()
    assert len(sql_readings) == len(records)
    accepted_by_sql = 0
    for record, (sql_id, sql_version) in zip(records, sql_readings, strict=True):
        expected = python_reading(spec, record)
        if sql_id is not None and sql_version is not None:
            accepted_by_sql += 1
            assert expected == (sql_id, sql_version), record
    # The fast path must take the well-formed records, or the checks are only in Python after all.
    assert accepted_by_sql > 0
