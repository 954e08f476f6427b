"""Objections to direct marketing (GDPR Art. 21): recorded against the person's source records.

An objection is made by a person, whom the pipeline knows as a golden customer today; golden ids
change when records merge or split. So an objection is stored once per source record the person
had at the time (`raw.privacy_objections`, one row per request and record key, with the golden id
of the day only for the record), and the dbt model `int_marketing_objections` maps it through
today's crosswalk: a record that later joins another golden customer carries the objection there,
and a golden customer objects when any of its records' latest request is an objection.

The table is a history: a request is never updated or deleted by this module; a withdrawal is a new
row (action `withdraw`) for every record the person has at the time of the withdrawal. The segments
(`segments.customer_segments.email_marketing_allowed` and every e-mail and phone segment) leave an
objecting person out at the next run, whatever the shop's consent says; `marts.consent_history`
lists the shop consent states and these requests with their dates and sources.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import duckdb

from c360 import tables

OBJECTIONS = "raw.privacy_objections"
OBJECT, WITHDRAW = "object", "withdraw"
# Art. 21(2)-(3): an objection to direct marketing must be honoured without conditions
PURPOSE_DIRECT_MARKETING = "direct_marketing"

_DDL = f"""
create table if not exists {OBJECTIONS} (
    id varchar primary key,               -- `<request id>:<record key>`
    request_id varchar not null,          -- one request: the rows of all the person's records
    action varchar not null check (action in ('{OBJECT}', '{WITHDRAW}')),
    purpose varchar not null,
    record_key varchar not null,          -- `<source system>:<source record id>`
    source_system varchar not null,
    source_record_id varchar not null,
    golden_customer_id varchar not null,  -- the person's golden id when the request was recorded
    requested_at timestamptz not null,    -- when the person made the request
    recorded_at timestamptz not null,     -- when it was entered here
    source varchar,                       -- how it reached us: e-mail, letter, phone, web form ...
    reason varchar                        -- as the person gave it (none is needed)
)
"""


@dataclass(frozen=True)
class Request:
    golden_id: str
    action: str = OBJECT
    reason: str | None = None
    source: str | None = None
    requested_on: date | None = None  # the day the person objected; today when not given


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(_DDL)


def active_objection_keys(con: duckdb.DuckDBPyConnection, record_keys: list[str]) -> list[str]:
    """Those of `record_keys` whose latest request is an objection."""
    rows = con.execute(
        f"""select record_key from {OBJECTIONS} where record_key in (select unnest(?::varchar[]))
            qualify row_number() over (partition by record_key order by requested_at desc, recorded_at desc) = 1
              and action = '{OBJECT}'
            order by 1""",
        [record_keys],
    ).fetchall()
    return [key for (key,) in rows]


def record_request(con: duckdb.DuckDBPyConnection, request: Request, now: datetime | None = None) -> dict:
    """Store an objection or its withdrawal for every source record of the golden customer; returns
    what was stored. Raises LookupError for an unknown golden id, ValueError for a withdrawal without
    an objection in force (nothing is stored then)."""
    if request.action not in (OBJECT, WITHDRAW):
        raise ValueError(f"action {request.action!r}; use {OBJECT} or {WITHDRAW}")
    now = now or datetime.now(UTC)
    requested_at = datetime.combine(request.requested_on, time(), UTC) if request.requested_on else now
    if requested_at > now:
        raise ValueError(f"the request date {requested_at.date()} lies in the future")
    records = con.execute(
        f"""select record_key, source_system, source_record_id from {tables.GOLDEN_CUSTOMER_SOURCES}
            where golden_customer_id = ? order by record_key""",
        [request.golden_id],
    ).fetchall()
    if not records:
        raise LookupError(f"no golden customer {request.golden_id!r} in the crosswalk")
    ensure_table(con)
    keys = [key for key, _, _ in records]
    if request.action == WITHDRAW and not active_objection_keys(con, keys):
        raise ValueError(f"{request.golden_id} has no objection in force to withdraw")
    request_id = uuid.uuid4().hex
    rows = [
        [f"{request_id}:{key}", request_id, request.action, PURPOSE_DIRECT_MARKETING, key, system, record_id,
         request.golden_id, requested_at, now, request.source, request.reason]
        for key, system, record_id in records
    ]
    con.begin()
    try:
        con.executemany(f"insert into {OBJECTIONS} values ({', '.join('?' * 12)})", rows)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return {
        "request_id": request_id,
        "action": request.action,
        "golden_customer_id": request.golden_id,
        "requested_at": requested_at.isoformat(),
        "record_keys": keys,
    }


def history(con: duckdb.DuckDBPyConnection, golden_id: str) -> list[dict]:
    """The requests recorded for any of the golden customer's records today, oldest first."""
    try:
        cursor = con.execute(
            f"""select distinct request_id, action, requested_at, recorded_at, source, reason
                from {OBJECTIONS} where record_key in (select record_key from {tables.GOLDEN_CUSTOMER_SOURCES}
                                                       where golden_customer_id = ?)
                order by requested_at, recorded_at""",
            [golden_id],
        )
    except duckdb.CatalogException:  # nothing was ever recorded
        return []
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]
