"""NPS file import: survey-tool exports (CSV) landed in `raw.nps_responses`.

Zendesk has no NPS (its NPS surveys were retired on 2023-04-30, docs/source_protocol.md), so NPS
answers come from the survey tool the retailer uses (Delighted, Typeform, SurveyMonkey, Qualtrics...),
each of which exports its responses as a CSV file. Every `*.csv` in the import folder
(`C360_NPS_IMPORT_DIR`) is read on every run, in file-name order.

Columns (header names are matched without regard to case, blanks, `-` or `_`; aliases in brackets):

| column               | required | meaning                                                                 |
|----------------------|----------|-------------------------------------------------------------------------|
| `response_id`        | no       | the survey tool's id of the response [`id`, `response id`]; without it the id is derived from survey, e-mail, customer reference and time |
| `responded_at`       | yes      | when the answer was given: ISO 8601 date-time [`created_at`, `submitted_at`, `response_timestamp`, `date`] |
| `email`              | one of   | the respondent's e-mail, which ties the answer to the customer [`person_email`, `respondent_email`, `recipient_email`] |
| `customer_reference` | these    | the shop's customer id, if the tool has it [`customer_id`, `shop_customer_id`] |
| `score`              | yes      | the answer, an integer 0-10 [`nps`, `nps_score`, `rating`] |
| `comment`            | no       | free text [`comments`, `feedback`] |
| `survey`             | no       | the survey's name [`survey_name`, `survey_type`] |

Other columns are ignored (and named in the run's metadata). `responded_at` is ISO 8601 with a
`T` or a blank between date and time and an offset (`+02:00`) or `Z`; a date-time without an offset is
taken as the shop's local time, Europe/Berlin (daylight saving time included). A Unix timestamp or a
German date (`26.07.2025 08:02`, as Excel may re-save it) is not accepted.

Files may be separated by commas or semicolons (German Excel writes `;`), the delimiter being the one
the header line uses, and are UTF-8 with or without a byte order mark (Excel's "CSV UTF-8" writes
one). A file that is not UTF-8, or whose header lacks `responded_at`, `score` or both `email` and
`customer_reference`, is rejected as a whole: counted, named with its reason in the metadata and
in `raw._quarantine`, and the run goes on.

Landing (as `c360.raw_store` lands API records): one row per response id in `raw.nps_responses`
(`id`, the row as JSON, `_version` = the answer's time in epoch microseconds, `_source_updated_at`,
`_sync_id`, `_loaded_at`, and `_source_file`). A row equal to the landed one changes nothing (re-reading
the same files lands no duplicate); a row with the id of a landed one but other content replaces it
(the survey tool's correction wins); the same id twice in one run: the later file, and within a file
the later line, wins. A response whose file is gone stays landed: the folder may be emptied after
each import, and an export covering only the last weeks never erases older answers.

With a raw zone (`c360.raw_zone`, the Spark engine's input) the rows landed new or changed also go to
`<raw zone>/nps/responses/<sync id>.parquet`, written before the import commits.

A malformed row (a score not an integer 0-10, an unreadable date-time, neither e-mail nor customer
reference, more or fewer cells than the header) goes to `raw._quarantine` with its reason, file and
line, is counted per reason, and never stops the run; read again, it is not quarantined twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pyarrow as pa

from c360.raw_store import FILE_IMPORT_TABLES, RAW_SCHEMA, ensure_raw_schema, epoch_micros
from c360.raw_zone import FILE_IMPORT_COLUMNS, RawZone

log = logging.getLogger(__name__)

TABLE = "nps_responses"
RESOURCE = FILE_IMPORT_TABLES[TABLE]  # "nps/responses"
LOCAL_TIME_ZONE = ZoneInfo("Europe/Berlin")
COLUMNS = ("response_id", "responded_at", "email", "customer_reference", "score", "comment", "survey")
# Header names as exports write them, reduced by `_column_key`, -> our column.
ALIASES = {
    "responseid": "response_id", "id": "response_id",
    "respondedat": "responded_at", "createdat": "responded_at", "submittedat": "responded_at",
    "responsetimestamp": "responded_at", "date": "responded_at",
    "email": "email", "personemail": "email", "respondentemail": "email", "recipientemail": "email",
    "emailaddress": "email",
    "customerreference": "customer_reference", "customerid": "customer_reference",
    "shopcustomerid": "customer_reference",
    "score": "score", "nps": "score", "npsscore": "score", "rating": "score",
    "comment": "comment", "comments": "comment", "feedback": "comment",
    "survey": "survey", "surveyname": "survey", "surveytype": "survey",
}
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")
_SCORE = re.compile(r"\d{1,2}")


class RowError(ValueError):
    """Why a row is quarantined: `category` is counted in the metadata, the message names the value."""

    def __init__(self, category: str, detail: str):
        super().__init__(f"{category}: {detail}")
        self.category = category


@dataclass
class ImportStats:
    sync_id: str
    directory: str = ""
    files: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)  # file name -> reason
    rows_per_file: dict[str, int] = field(default_factory=dict)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    suppressed: int = 0  # answers of erased people (c360.erasure's suppression list), not landed
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _column_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def parse_responded_at(value: str) -> datetime:
    """An ISO 8601 date-time as tz-aware UTC; without an offset, Europe/Berlin local time."""
    text = value.strip()
    if not _ISO_DATETIME.fullmatch(text):
        raise RowError("responded_at is not an ISO 8601 date-time", repr(value))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowError("responded_at is not an ISO 8601 date-time", repr(value)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TIME_ZONE)
    return moment.astimezone(UTC)


def parse_score(value: str) -> int:
    text = value.strip()
    if not _SCORE.fullmatch(text) or int(text) > 10:
        raise RowError("score is not an integer 0-10", repr(value))
    return int(text)


def derived_response_id(row: dict) -> str:
    """A stable id for a response without one: the same survey, respondent and time give the same id
    whatever the score or comment, so a corrected answer replaces the first one."""
    key = "\x1f".join((row.get("survey") or "", (row.get("email") or "").strip().lower(),
                       row.get("customer_reference") or "", row["responded_at"]))
    return "derived:" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_row(cells: dict[str, str | None]) -> tuple[str, dict, datetime]:
    """A row of our columns as (response id, record, answer time in UTC); RowError if malformed."""
    email, reference = _blank_to_none(cells.get("email")), _blank_to_none(cells.get("customer_reference"))
    if email is None and reference is None:
        raise RowError("no email and no customer_reference", "the respondent cannot be found")
    responded_at = parse_responded_at(cells.get("responded_at") or "")
    record = {
        "responded_at": responded_at.isoformat().replace("+00:00", "Z"),
        # the e-mail as written: staging normalises it as every system's e-mails are
        "email": cells.get("email") if email is not None else None,
        "customer_reference": reference,
        "score": parse_score(cells.get("score") or ""),
        "comment": _blank_to_none(cells.get("comment")),
        "survey": _blank_to_none(cells.get("survey")),
    }
    response_id = _blank_to_none(cells.get("response_id")) or derived_response_id(record)
    return response_id, {"response_id": response_id, **record}, responded_at


@dataclass
class ParsedFile:
    name: str
    rows: list[tuple[str, dict, datetime]] = field(default_factory=list)
    quarantine: list[tuple[str | None, RowError, str]] = field(default_factory=list)  # id, error, payload
    ignored_columns: list[str] = field(default_factory=list)
    rejected: str | None = None  # why the whole file was not read
    lines: int = 0


def _decode(data: bytes) -> str:
    """UTF-8 with or without a byte order mark; UnicodeDecodeError otherwise."""
    return data.decode("utf-8-sig")


def _delimiter(header_line: str) -> str:
    """The delimiter the header uses: `;` (German Excel) or `,`, whichever separates more names."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


def _header_columns(header: list[str]) -> tuple[list[str | None], list[str], str | None]:
    """Per header cell our column (None: ignored), the ignored names, and why the header is invalid."""
    mapped: list[str | None] = []
    seen: set[str] = set()
    for name in header:
        column = ALIASES.get(_column_key(name))
        if column in seen:
            return mapped, [], f"column {column} appears twice (header {name!r})"
        if column:
            seen.add(column)
        mapped.append(column)
    ignored = [name for name, column in zip(header, mapped) if column is None]
    missing = [c for c in ("responded_at", "score") if c not in seen]
    if "email" not in seen and "customer_reference" not in seen:
        missing.append("email or customer_reference")
    if missing:
        return mapped, ignored, (f"no valid header: missing {', '.join(missing)} "
                                 f"(header: {', '.join(repr(h) for h in header) or 'empty'})")
    return mapped, ignored, None


def parse_file(name: str, data: bytes) -> ParsedFile:
    """The rows of one export: parsed rows, quarantined rows, or the reason the file is rejected."""
    parsed = ParsedFile(name)
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        parsed.rejected = f"not UTF-8 (byte {exc.start}): save the export as CSV UTF-8"
        return parsed
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    header = next(reader, [])
    mapped, parsed.ignored_columns, invalid = _header_columns(header)
    if invalid:
        parsed.rejected = invalid
        return parsed
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (a trailing one, Excel's empty rows)
        parsed.lines += 1
        line = reader.line_num
        payload = orjson.dumps({"file": name, "line": line, "cells": dict(zip(header, cells)) if len(cells) == len(header)
                                else cells}).decode()
        if len(cells) != len(header):
            error = RowError("wrong column count", f"{len(cells)} cells, the header has {len(header)}")
            parsed.quarantine.append((None, error, payload))
            continue
        ours = {column: cell for column, cell in zip(mapped, cells) if column}
        try:
            parsed.rows.append(parse_row(ours))
        except RowError as error:
            parsed.quarantine.append((_blank_to_none(ours.get("response_id")), error, payload))
    return parsed


def ensure_nps_table(con: duckdb.DuckDBPyConnection) -> None:
    """`raw.nps_responses` (one of the raw store's file-import tables) and the bookkeeping tables."""
    ensure_raw_schema(con, [])


def _upsert(con: duckdb.DuckDBPyConnection, rows: dict[str, tuple[dict, datetime, str]], sync_id: str,
            loaded_at: datetime) -> tuple[int, int, int]:
    """Land the run's rows (by id: record, answer time, file): new ids inserted, changed ones replaced,
    equal ones left as they are, those of erased people left out. Returns (new, updated, suppressed)."""
    from c360.erasure import suppressed_count

    ids = list(rows)
    incoming = pa.table({  # noqa: F841 - read by DuckDB by its name
        "id": pa.array(ids, pa.string()),
        "record": pa.array([orjson.dumps(rows[i][0]).decode() for i in ids], pa.string()),
        "_version": pa.array([epoch_micros(rows[i][1]) for i in ids], pa.int64()),
        "_source_updated_at": pa.array([rows[i][1] for i in ids], pa.timestamp("us", tz="UTC")),
        "_source_file": pa.array([rows[i][2] for i in ids], pa.string()),
    })
    table = f"{RAW_SCHEMA}.{TABLE}"
    con.execute(
        f"""
        create or replace temp table nps_changes as
        select incoming.*, stored.id is null as is_new
        from incoming
        left join {table} as stored on stored.id = incoming.id
        where stored.id is null or stored.record::varchar <> incoming.record
        """
    )
    suppressed = suppressed_count(con, table, "nps_changes")
    new, updated = con.execute(
        "select count(*) filter (where is_new), count(*) filter (where not is_new) from nps_changes"
    ).fetchone()
    con.execute(f"delete from {table} where id in (select id from nps_changes where not is_new)")
    con.execute(
        f"insert into {table} (id, record, _version, _source_updated_at, _sync_id, _loaded_at, _source_file) "
        "select id, record::json, _version, _source_updated_at, ?, ?, _source_file from nps_changes",
        [sync_id, loaded_at],
    )
    return new, updated, suppressed


def _quarantine(con: duckdb.DuckDBPyConnection, entries: list[tuple[str | None, str, str]], sync_id: str,
                loaded_at: datetime) -> None:
    """Keep malformed rows and rejected files in `raw._quarantine`; one read again is not added twice."""
    if not entries:
        return
    source_ids, reasons, payloads = (list(column) for column in zip(*entries))
    con.execute(
        f"""
        insert into {RAW_SCHEMA}._quarantine
        select distinct ?, q.source_id, q.reason, q.payload, ?, ?
        from (select unnest(?::varchar[]) as source_id, unnest(?::varchar[]) as reason,
                     unnest(?::varchar[]) as payload) as q
        where not exists (
            select 1 from {RAW_SCHEMA}._quarantine as seen where seen.resource = ? and seen.payload = q.payload
        )
        """,
        [RESOURCE, sync_id, loaded_at, source_ids, reasons, payloads, RESOURCE],
    )


def _read_folder(directory: Path, stats: ImportStats) -> tuple[dict, list[tuple[str | None, str, str]]]:
    """Parse every `*.csv` of the folder in name order: the rows by id (a later one wins) and the
    quarantine entries."""
    rows: dict[str, tuple[dict, datetime, str]] = {}
    quarantine: list[tuple[str | None, str, str]] = []
    paths = sorted(p for p in directory.glob("*.csv") if p.is_file()) if directory.is_dir() else []
    for path in paths:
        parsed = parse_file(path.name, path.read_bytes())
        stats.files.append(path.name)
        if parsed.ignored_columns:
            stats.ignored_columns[path.name] = parsed.ignored_columns
        if parsed.rejected:
            stats.files_rejected[path.name] = parsed.rejected
            reason = f"file rejected: {parsed.rejected}"
            quarantine.append((None, reason, orjson.dumps({"file": path.name, "reason": parsed.rejected}).decode()))
            continue
        stats.rows_per_file[path.name] = parsed.lines
        stats.rows += parsed.lines
        for response_id, record, responded_at in parsed.rows:
            rows.pop(response_id, None)  # re-inserted: dict order is the order of the last occurrence
            rows[response_id] = (record, responded_at, path.name)
        for source_id, error, payload in parsed.quarantine:
            quarantine.append((source_id, str(error), payload))
            stats.quarantine_reasons[error.category] = stats.quarantine_reasons.get(error.category, 0) + 1
        stats.quarantined += len(parsed.quarantine)
    return rows, quarantine


def _write_zone(con: duckdb.DuckDBPyConnection, zone: RawZone, sync_id: str, loaded_at: datetime) -> None:
    """The answers the import lands new or changed (`nps_changes`, erased people's taken out) as one file."""
    zone.write_batch(
        con,
        "select id, record, _version, _source_updated_at, ?::varchar, ?::timestamptz, null::timestamptz, "
        "_source_file from nps_changes",
        [sync_id, loaded_at], RESOURCE, sync_id, columns=FILE_IMPORT_COLUMNS)


def import_nps_files(con: duckdb.DuckDBPyConnection, directory: Path, raw_zone: RawZone | None = None) -> ImportStats:
    """Read every export in `directory` and land it (see the module docstring); one transaction."""
    ensure_nps_table(con)
    stats = ImportStats(sync_id=uuid.uuid4().hex, directory=str(directory))
    clock = time.perf_counter()
    started = datetime.now(UTC)
    rows, quarantine = _read_folder(Path(directory), stats)
    con.execute("begin transaction")
    try:
        new, updated, suppressed = _upsert(con, rows, stats.sync_id, started)
        if raw_zone is not None:
            _write_zone(con, raw_zone, stats.sync_id, started)
        _quarantine(con, quarantine, stats.sync_id, started)
        stats.new, stats.updated, stats.suppressed = new, updated, suppressed
        stats.unchanged = len(rows) - new - updated - suppressed
        stats.seconds = time.perf_counter() - clock
        con.execute(
            f"insert into {RAW_SCHEMA}._syncs (sync_id, resource, started_at, finished_at, status, fetched, new, "
            "updated, unchanged, quarantined, pages) values (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?)",
            [stats.sync_id, RESOURCE, started, datetime.now(UTC), stats.rows, new, updated, stats.unchanged,
             stats.quarantined + len(stats.files_rejected), len(stats.files)],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for name, reason in stats.files_rejected.items():
        log.warning("NPS import: %s rejected: %s", name, reason)
    return stats
