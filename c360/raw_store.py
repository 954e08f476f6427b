"""Raw landing: source records into the DuckDB warehouse, schema `raw`.

One table per source resource keeps the source `id`, the whole record as JSON (nothing is lost when a
source adds or renames fields), the record's change marker, `_loaded_at` and the sync it came from.
Landing is an upsert by id in which the latest version wins, so re-reading a page (inclusive
watermarks, a restarted run) never lands a record twice. A batch of pages is committed together with
the watermark that resumes after it (batches that bring none join the next commit): a run killed
mid-way restarts from the last committed batch, with no gap and no duplicate.

Records that cannot be parsed (no id, an unreadable change marker, not an object) go to
`raw._quarantine` with the reason and the raw payload, are counted, and never stop the run.

Records whose change marker lies in the future (later than the clock when their page arrived plus the
tolerance, `Page.future_after`: a source with a bad clock) are landed like any other, counted and
named in a warning; the connectors never take a watermark from them, so they are read again, and
counted again, on every run until their time comes. `_source_updated_at > _loaded_at + tolerance`
finds them in a raw table.

Python never touches a record here: the response bodies go to DuckDB as received, DuckDB splits
them into records and reads ids and markers (the SQL of `connectors.base`), and only the records it
does not accept are read by the Python parsers. DuckDB releases the GIL while it works, so the next
pages are fetched meanwhile. A connector that has read the records anyway (the shop's bulk export,
whose rows it puts back together) hands them on as `EncodedRecords`, texts with the ids and markers
it read, which DuckDB then does not parse for them again (1.2 s instead of 2.4-3.4 s of the batches'
parsing for the 136k orders of 100k persons).
"""

from __future__ import annotations

import array
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from c360.collector import fewer_collections
from c360.raw_zone import ZONE_SELECT, RawZone
from c360.settings import DEFAULT_LANDING_BATCH
from connectors.base import EncodedRecords, MalformedRecord, Page, ResourceSpec, SourceClient

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
FUTURE_DATED_EXAMPLES = 5  # ids (with their markers) a sync keeps to name future-dated records


def epoch_micros(version: datetime | int) -> int:
    """One sortable integer for both kinds of change marker (timestamps and version counters)."""
    if isinstance(version, datetime):
        delta = version - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return int(version)


@dataclass
class LandingStats:
    resource: str
    sync_id: str
    watermark_before: str | None = None
    watermark_after: str | None = None
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    suppressed: int = 0  # records of erased people (raw._suppressed_records), not landed
    future_dated: int = 0  # landed records whose change marker lies in the future (see the module docstring)
    pages: int = 0
    batches: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    future_dated_examples: dict[str, str] = field(default_factory=dict)  # id -> change marker as written

    def as_dict(self) -> dict:
        return asdict(self)


def future_dated_warning(stats: LandingStats) -> str:
    examples = ", ".join(f"{record_id} ({marker})" for record_id, marker in stats.future_dated_examples.items())
    return (
        f"{stats.resource}: {stats.future_dated} records with a change marker in the future landed, e.g. "
        f"{examples}; they do not move the watermark and are read again on every run until their time "
        f"comes: the source's clock or data is wrong"
    )


# Raw tables landed from files (c360.nps_import), in the API tables' layout plus the file a row came from.
# Created with the bookkeeping tables whatever the specs: staging reads them even before a first import.
# Table -> its key in the raw zone (`c360.raw_zone`).
FILE_IMPORT_TABLES = {"nps_responses": "nps/responses"}


def zone_keys() -> dict[str, str]:
    """Every raw record table (`shop_customers`) -> its key in the raw zone (`shop/customers`): the API
    resources' and the file imports'."""
    from connectors import ALL_RESOURCES

    return {**{spec.table: spec.key for spec in ALL_RESOURCES}, **FILE_IMPORT_TABLES}


def ensure_raw_schema(con: duckdb.DuckDBPyConnection, specs: list[ResourceSpec]) -> None:
    """The raw tables of `specs`, the file-import tables and the bookkeeping tables (quarantine, syncs,
    watermarks, reconciliations), each unless it exists."""
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    _ensure_record_tables(con, specs)
    _ensure_bookkeeping_tables(con)


def _ensure_record_tables(con: duckdb.DuckDBPyConnection, specs: list[ResourceSpec]) -> None:
    for table in FILE_IMPORT_TABLES:
        con.execute(
            f"""
            create table if not exists {RAW_SCHEMA}.{table} (
                id varchar not null,
                record json not null,
                _version bigint not null,
                _source_updated_at timestamptz,
                _sync_id varchar not null,
                _loaded_at timestamptz not null,
                _source_file varchar
            )
            """
        )
    for spec in specs:
        con.execute(
            f"""
            create table if not exists {RAW_SCHEMA}.{spec.table} (
                id varchar not null,
                -- zstd: a third of the size of DuckDB's default for JSON text, at half the write cost
                record json not null using compression zstd,
                _version bigint not null,
                _source_updated_at timestamptz,
                _sync_id varchar not null,
                _loaded_at timestamptz not null,
                -- when the record was found deleted at the source (null: it exists as far as known)
                _deleted_at timestamptz
            )
            """
        )
        # warehouses created before the column
        con.execute(f"alter table {RAW_SCHEMA}.{spec.table} add column if not exists _deleted_at timestamptz")


def _ensure_bookkeeping_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}._sync_state (
            resource varchar not null,
            watermark varchar,
            sync_id varchar not null,
            updated_at timestamptz not null
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}._quarantine (
            resource varchar not null,
            source_id varchar,
            reason varchar not null,
            payload varchar not null,
            sync_id varchar not null,
            quarantined_at timestamptz not null
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}._syncs (
            sync_id varchar not null,
            resource varchar not null,
            started_at timestamptz not null,
            finished_at timestamptz,
            status varchar not null,
            fetched bigint, new bigint, updated bigint, unchanged bigint, quarantined bigint,
            pages bigint, requests bigint, retries bigint, throttled bigint,
            watermark_before varchar, watermark_after varchar,
            error varchar,
            future_dated bigint
        )
        """
    )
    # warehouses created before the column
    con.execute(f"alter table {RAW_SCHEMA}._syncs add column if not exists future_dated bigint")
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}._reconciliations (
            resource varchar not null,
            reconciled_at timestamptz not null,
            live bigint not null,
            marked_deleted bigint not null
        )
        """
    )


def read_watermark(con: duckdb.DuckDBPyConnection, resource: str) -> str | None:
    row = con.execute(
        f"select watermark from {RAW_SCHEMA}._sync_state where resource = ?", [resource]
    ).fetchone()
    return row[0] if row else None


def raw_row(spec: ResourceSpec, record: dict) -> tuple[str, str, int, datetime | None]:
    """A well-formed record as the columns of its raw row: (id, record as JSON text, `_version`,
    `_source_updated_at`). Raises `MalformedRecord` for a record the landing would quarantine."""
    version = spec.record_version(record)
    updated_at = version if isinstance(version, datetime) else None
    return spec.record_id(record), orjson.dumps(record).decode(), epoch_micros(version), updated_at


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[str, str, int, datetime | None]],
                 *, sync_id: str, loaded_at: datetime) -> int:
    """Write rows (id, record JSON, `_version`, `_source_updated_at`) into `raw.<table>`, each replacing
    the stored row of its id: the landing's upsert without its checks, for records known to be
    well-formed with one row per id (loading a generated world in tests and benchmarks)."""
    ids, records, versions, updated_ats = (list(column) for column in zip(*rows)) if rows else ([], [], [], [])
    incoming = pa.table({
        "id": pa.array(ids, pa.string()), "record": pa.array(records, pa.string()),
        "_version": pa.array(versions, pa.int64()),
        "_source_updated_at": pa.array(updated_ats, pa.timestamp("us", tz="UTC")),
    })
    # DuckDB reads the local Arrow table `incoming` by its name (a replacement scan). `register` would
    # refuse to run while the caller still holds an unread result on `con` (DuckDB 2.0), which a
    # helper writing rows should not make its callers care about.
    con.execute(f"delete from {RAW_SCHEMA}.{table} where id in (select id from incoming)")
    con.execute(
        f"insert into {RAW_SCHEMA}.{table} (id, record, _version, _source_updated_at, _sync_id, _loaded_at) "
        "select id, record::json, _version, _source_updated_at, ?, ? from incoming",
        [sync_id, loaded_at],
    )
    return len(ids)


@dataclass(frozen=True)
class _FetchedPage:
    """What the landing keeps of a page: its body as received, not the decoded records; or the records'
    texts, ids and markers a connector read itself (`EncodedRecords`)."""

    content: bytes | None
    records_path: str
    records: int
    watermark: str | None
    future_after: datetime | None
    encoded: EncodedRecords | None = None

    @classmethod
    def of(cls, page: Page) -> _FetchedPage:
        if isinstance(page.records, EncodedRecords):
            return cls(None, "$", len(page.records), page.watermark, page.future_after, page.records)
        if page.content is None:
            return cls(orjson.dumps(page.records), "$", len(page.records), page.watermark, page.future_after)
        return cls(page.content, page.records_path, len(page.records), page.watermark, page.future_after)


def _batches(pages: Iterator[Page], batch_records: int) -> Iterator[_Batch]:
    """The pages in batches, fetched in a thread while the previous batch is written.

    A batch is what arrived while the previous one was being written (at least one page, at most
    about `batch_records` records), so writes keep pace with fetching and the last write of a run
    is small. DuckDB releases the GIL while it writes, so the fetching really goes on meanwhile.
    """
    # Pages hold 250-1000 records: room for two batches' worth of the smaller ones.
    buffer: queue.Queue = queue.Queue(maxsize=max(8, 2 * batch_records // 250))
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if stop.is_set():
                    return
                buffer.put(_FetchedPage.of(page))
            buffer.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            buffer.put(exc)

    def take(item: object, batch: _Batch) -> bool:
        """Add a page to the batch; False at the end of the pages."""
        if item is done:
            return False
        if isinstance(item, BaseException):
            raise item
        batch.add_page(item)  # type: ignore[arg-type]
        return True

    worker = threading.Thread(target=produce, name="page-prefetch", daemon=True)
    worker.start()
    try:
        more = True
        while more:
            batch = _Batch()
            more = take(buffer.get(), batch)
            while more and len(batch) < batch_records:
                try:
                    item = buffer.get_nowait()
                except queue.Empty:
                    break
                more = take(item, batch)
            if batch.pages:
                yield batch
    finally:
        stop.set()
        while worker.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(0.05)


class _Batch:
    """Pages waiting to be written: their bodies as received, parsed only in the warehouse, and the
    records connectors read themselves, with their ids and markers."""

    def __init__(self) -> None:
        self.page_numbers: list[int] = []
        self.bodies: list[bytes] = []
        self.body_records = 0  # the records in `bodies`
        self.records_paths: list[str] = []
        self.future_afters: list[datetime | None] = []
        self.encoded = _EncodedColumns()
        self.watermark: str | None = None
        self.pages = 0
        self.fetched = 0

    def add_page(self, page: _FetchedPage) -> None:
        if page.encoded is not None:
            self.encoded.add(self.pages, page.encoded, page.future_after)
        else:
            self.page_numbers.append(self.pages)
            self.bodies.append(page.content)
            self.records_paths.append(page.records_path + "[*]")
            self.future_afters.append(page.future_after)
            self.body_records += page.records
        self.pages += 1
        self.fetched += page.records
        if page.watermark is not None:
            self.watermark = page.watermark

    def __len__(self) -> int:
        return self.fetched


class _EncodedColumns:
    """The columns of `landing_records` for records connectors read themselves (`EncodedRecords`).

    Ids and markers are converted by Arrow, a column at a time: converting them record by record in
    Python held the GIL, and stopped the fetching, for about 1.5 us a record (0.2 s for the 136k orders
    of 100k persons)."""

    def __init__(self) -> None:
        self.page_no: list[int] = []
        self.position: list[int] = []
        self.texts: list[bytes] = []
        self.ids: list[str | None] = []
        self.versions: list[datetime | int | None] = []
        self.future_after: list[datetime | None] = []

    def add(self, page_no: int, records: EncodedRecords, future_after: datetime | None) -> None:
        count = len(records)
        self.page_no.extend(itertools.repeat(page_no, count))
        self.position.extend(range(1, count + 1))
        self.texts.extend(records.texts)
        self.ids.extend(records.ids)
        self.versions.extend(records.versions)
        self.future_after.extend(itertools.repeat(future_after, count))

    def table(self) -> pa.Table:
        version, updated_at = _marker_columns(self.versions)
        ids = pa.array(self.ids, pa.string())
        # a record whose id or marker the connector could not read has neither: the landing checks it
        known = pc.and_(ids.is_valid(), version.is_valid())
        return _in_scan_chunks(pa.Table.from_arrays(
            [
                pa.array(self.page_no, pa.int64()),
                pa.array(self.position, pa.int64()),
                _arrow_strings(self.texts),
                pc.if_else(known, ids, None),
                pc.if_else(known, version, None),
                pc.if_else(known, updated_at, None),
                pa.array(self.future_after, pa.timestamp("us", tz="UTC")),
            ],
            names=["page_no", "position", "record", "id", "_version", "_source_updated_at", "future_after"],
        ), rows=8192)


def _marker_columns(markers: list[datetime | int | None]) -> tuple[pa.Array, pa.Array]:
    """(`_version`: `epoch_micros` of each marker, `_source_updated_at`: the timestamps) of change markers
    that are tz-aware datetimes or version counters."""
    stamp = pa.timestamp("us", tz="UTC")
    try:
        converted = pa.array(markers)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # both kinds in one list: one at a time
        converted = None
    if converted is not None and pa.types.is_timestamp(converted.type) and converted.type.tz is not None:
        stamps = converted.cast(stamp)
        return stamps.cast(pa.int64()), stamps
    if converted is not None and (pa.types.is_integer(converted.type) or pa.types.is_null(converted.type)):
        return converted.cast(pa.int64()), pa.nulls(len(markers), stamp)
    return (pa.array([None if m is None else epoch_micros(m) for m in markers], pa.int64()),
            pa.array([m if isinstance(m, datetime) else None for m in markers], stamp))


def _recheck_rejected(
    con: duckdb.DuckDBPyConnection, spec: ResourceSpec
) -> tuple[list[list], list[tuple[str | None, str, str]]]:
    """The records the SQL checks did not accept, read by the Python parsers, which have the last word.

    Returns the columns (page, position, id, marker, timestamp marker) of the ones accepted after
    all, and the quarantine entries (source id, reason, payload).
    """
    rescued: list[list] = [[], [], [], [], []]
    quarantine: list[tuple[str | None, str, str]] = []
    rejected = con.execute(
        "select page_no, position, record::varchar, not_json from landing_records where id is null or _version is null"
    ).fetchall()
    for page_no, position, payload, not_json in rejected:
        record = orjson.loads(payload)
        if not_json:  # the text as received, which the source sent as a record
            quarantine.append((None, "not valid JSON", record))
            continue
        try:
            record_id = spec.record_id(record)
            version = spec.record_version(record)
        except MalformedRecord as exc:
            source_id = record.get(spec.id_field) if isinstance(record, dict) else None
            quarantine.append((None if source_id is None else str(source_id), str(exc), payload))
            continue
        updated_at = version if isinstance(version, datetime) else None
        for column, value in zip(rescued, (page_no, position, record_id, epoch_micros(version), updated_at)):
            column.append(value)
    return rescued, quarantine


def _future_dated(con: duckdb.DuckDBPyConnection, spec: ResourceSpec) -> tuple[int, list[tuple[str, str]]]:
    """The accepted records of the batch dated after their page's `future_after`: how many, and the
    first few as (id, change marker as written)."""
    future = f"""
        select id, record->>'{spec.marker_path}' as marker, page_no, position
        from landing_accepted
        where _source_updated_at > future_after
    """
    count = con.execute(f"select count(distinct id) from ({future})").fetchone()[0]
    if not count:
        return 0, []
    examples = con.execute(
        f"select id, marker from ({future}) order by page_no, position limit ?", [FUTURE_DATED_EXAMPLES]
    ).fetchall()
    return count, examples


def _arrow_strings(values: list[bytes]) -> pa.Array:
    """UTF-8 byte strings as one Arrow string array, laid out in a single buffer.

    `pa.array` converts element by element while holding the GIL (about 4 ms per MB of page bodies,
    during which the fetching stops). The values must be valid UTF-8; page bodies are, since the
    connector decoded each one as JSON.
    """
    offsets = array.array("q", [0])
    offsets.extend(itertools.accumulate(map(len, values)))
    return pa.Array.from_buffers(
        pa.large_string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))]
    )


def _in_scan_chunks(table: pa.Table, rows: int) -> pa.Table:
    """`table` as record batches of at most `rows` rows, slices of the same buffers.

    DuckDB hands each record batch of a scan to a thread, and a table built from whole columns is one
    record batch, which one thread parses. Measured on 2 cores: 30 page bodies of 1,000 tickets parsed
    in 0.18-0.20 s as one record batch, 0.06-0.07 s as a record batch per page; 100k order texts of
    1.3 kB checked in 0.25-0.30 s as one, 0.15-0.18 s in record batches of 8,192.
    """
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows))


# Records per record batch of page bodies that DuckDB parses best on 2 cores: 24k Zendesk ratings in
# pages of 100 (batches of 30 pages) parsed in 71 ms a page per record batch, 52 ms five pages (500
# records) per record batch, 54-55 ms three or ten, 74 ms all in one record batch.
SCAN_CHUNK_RECORDS = 500


def _pages_table(batch: _Batch) -> pa.Table:
    """The batch's page bodies as an Arrow table, in record batches of whole pages holding about
    `SCAN_CHUNK_RECORDS` records (one page of a 1,000-record list), packed without converting them
    element by element."""
    pages_per_chunk = max(1, round(SCAN_CHUNK_RECORDS * len(batch.bodies) / max(1, batch.body_records)))
    numbers = array.array("q", batch.page_numbers)
    return _in_scan_chunks(pa.Table.from_arrays(
        [
            pa.Array.from_buffers(pa.int64(), len(numbers), [None, pa.py_buffer(numbers)]),
            _arrow_strings(batch.bodies),
            _arrow_strings([path.encode() for path in batch.records_paths]),
            pa.array(batch.future_afters, type=pa.timestamp("us", tz="UTC")),
        ],
        names=["page_no", "body", "records_path", "future_after"],
    ), rows=pages_per_chunk)


def _parse_records(con: duckdb.DuckDBPyConnection, spec: ResourceSpec, batch: _Batch) -> None:
    """`landing_records`: the records, their ids and change markers, parsed out of the page bodies of
    `incoming_pages` by DuckDB (in its own threads, without the GIL, while the next pages are fetched),
    and those of `incoming_records` that the connector read itself."""
    parts = []
    paths = sorted(set(batch.records_paths))
    if paths:
        parts.append(_records_of_bodies(spec, paths))
    if batch.encoded.texts:
        # json(): the text as DuckDB writes JSON, which the records of page bodies are written as. A text
        # that is not JSON (a connector hands on parts it did not decode) is kept as a JSON string,
        # without id, for the Python check to quarantine.
        parts.append("""
            select page_no, position, coalesce(parsed, to_json(record)) as record,
                   if(parsed is null, null, id) as id, _version, _source_updated_at, future_after,
                   parsed is null as not_json
            from (select *, try(json(record)) as parsed from incoming_records)""")
    if not parts:
        parts.append("select null::bigint as page_no, null::bigint as position, null::json as record, "
                     "null::varchar as id, null::bigint as _version, null::timestamptz as _source_updated_at, "
                     "null::timestamptz as future_after, false as not_json limit 0")
    con.execute(f"create or replace temp table landing_records as {' union all '.join(parts)}",
                [value for path in paths for value in (path, path)])


def _records_of_bodies(spec: ResourceSpec, paths: list[str]) -> str:
    """The query of the records in the page bodies of `incoming_pages`, with ids and markers read by
    the SQL of `connectors.base`; its parameters are each path twice."""
    # A wildcard path must be a constant (or a parameter) for json_extract to give a list: one
    # select per path.
    page_records = "\n            union all\n            ".join(
        "select page_no, future_after, json_extract(body, ?) as records from incoming_pages where records_path = ?"
        for _ in paths
    )
    return f"""
        (with page_records as (
            {page_records}
        ),
        elements as (
            select page_no, future_after, generate_subscripts(records, 1) as position, unnest(records) as record
            from page_records
        ),
        id_and_marker as (
            select
                page_no,
                future_after,
                position,
                record,
                -- NULLs for a record that is not an object, which sends it to the Python check
                json_extract(record, ['$.{spec.id_field}', '{spec.marker_path}']) as id_and_marker
            from elements
        )
        select
            page_no,
            position,
            record,
            {spec.sql_id("id_and_marker[1]")} as id,
            {spec.sql_version("id_and_marker[2]")} as _version,
            {spec.sql_updated_at("id_and_marker[2]") or "null::timestamptz"} as _source_updated_at,
            future_after,
            false as not_json
        from id_and_marker)
        """


def _accept_rechecked(con: duckdb.DuckDBPyConnection, spec: ResourceSpec) -> list[tuple[str | None, str, str]]:
    """Re-check the records the SQL did not accept; those the Python parsers accept after all get their id
    and markers in `landing_records`, whose rows with both (`landing_accepted`) are then every accepted
    record of the batch, and the rest go to `quarantined_batch`. Returns the quarantine entries (source
    id, reason, payload)."""
    rescued, quarantine = _recheck_rejected(con, spec)
    # Each statement costs 0.5-1 ms (more while the next pages are fetched), and most batches have
    # nothing to rescue or quarantine: only what the batch has.
    if rescued[0]:
        con.execute(
            """
            update landing_records
            set id = rescued.id, _version = rescued._version, _source_updated_at = rescued._source_updated_at
            from (
                select unnest($1::bigint[]) as page_no, unnest($2::bigint[]) as position,
                       unnest($3::varchar[]) as id, unnest($4::bigint[]) as _version,
                       unnest($5::timestamptz[]) as _source_updated_at
            ) as rescued
            where landing_records.page_no = rescued.page_no and landing_records.position = rescued.position
            """,
            rescued,
        )
    if quarantine:
        con.execute(
            """
            create or replace temp table quarantined_batch as
            select unnest($1::varchar[]) as source_id, unnest($2::varchar[]) as reason,
                   unnest($3::varchar[]) as payload
            """,
            [list(column) for column in zip(*quarantine)],
        )
    con.execute(
        """
        create or replace temp view landing_accepted as
        select page_no, position, id, record, _version, _source_updated_at, future_after
        from landing_records
        where id is not null and _version is not null
        """
    )
    return quarantine


def _upsert_accepted(con: duckdb.DuckDBPyConnection, table: str, sync_id: str, loaded_at: datetime,
                     reviving: bool) -> tuple[int, int]:
    """Write the accepted records that are new or changed into `table`; returns (new, updated).
    `reviving`: the table has records found deleted, which the batch revives if it has them."""
    # Within one batch the same id may come twice (a record updated while paging): keep the
    # latest version, and of equal versions the one read last. The records themselves stay in
    # `landing_records` (by page and position) until they are written: sorting and copying them
    # here cost a third of the upsert for the 2.7 kB orders of the shop.
    con.execute(
        f"""
        create or replace temp table landing_changes as
        with latest as (
            select page_no, position, id, _version, _source_updated_at from landing_accepted
            qualify row_number() over (partition by id order by _version desc, page_no desc, position desc) = 1
        ),
        -- The stored ids and versions only: the stored records are read (by row id) just for
        -- equal versions, since reading all of them costs what the table holds, not the batch.
        stored as (
            select latest.id, current._version, current.rowid as row_id
            from latest
            join {table} as current on current.id = latest.id
        )
        select latest.*, stored.id is null as is_new
        from latest
        left join stored on stored.id = latest.id
        where stored.id is null or latest._version > stored._version
        union all
        select latest.*, false as is_new
        from latest
        join stored on stored.id = latest.id and stored._version = latest._version
        join {table} as current on current.rowid = stored.row_id
        join landing_records as incoming using (page_no, position)
        where incoming.record::varchar <> current.record::varchar
        """
    )
    new, updated = con.execute(
        "select count(*) filter (where is_new), count(*) filter (where not is_new) from landing_changes"
    ).fetchone()
    con.execute("""
        create or replace temp view landing_changes_records as
        select changes.*, incoming.record
        from landing_changes as changes
        join landing_records as incoming using (page_no, position)
    """)
    if updated:
        con.execute(f"delete from {table} where id in (select id from landing_changes where not is_new)")
    if reviving:
        # A record found deleted that the source serves again exists after all (it is read unchanged).
        con.execute(f"create or replace temp table landing_revived as select id from {table} "
                    "where _deleted_at is not null and id in (select id from landing_accepted)")
        con.execute(f"update {table} set _deleted_at = null where id in (select id from landing_revived)")
    con.execute(
        f"""
        insert into {table} (id, record, _version, _source_updated_at, _sync_id, _loaded_at)
        select id, record, _version, _source_updated_at, ?, ? from landing_changes_records
        """,
        [sync_id, loaded_at],
    )
    return new, updated


def _quarantine_rejected(con: duckdb.DuckDBPyConnection, resource: str, sync_id: str, loaded_at: datetime) -> None:
    """Keep the batch's malformed records in `raw._quarantine`."""
    # A malformed record read again at a boundary is the same quarantined record, not a new one.
    con.execute(
        f"""
        insert into {RAW_SCHEMA}._quarantine
        select distinct ?, q.source_id, q.reason, q.payload, ?, ?
        from quarantined_batch as q
        where not exists (
            select 1 from {RAW_SCHEMA}._quarantine as seen
            where seen.resource = ? and seen.payload = q.payload
        )
        """,
        [resource, sync_id, loaded_at, resource],
    )


def _store_watermark(con: duckdb.DuckDBPyConnection, resource: str, watermark: str, sync_id: str,
                     loaded_at: datetime) -> None:
    # one statement a batch: the resource's row is there after its first watermark
    updated = con.execute(f"update {RAW_SCHEMA}._sync_state set watermark = ?, sync_id = ?, updated_at = ? "
                          "where resource = ?", [watermark, sync_id, loaded_at, resource]).fetchone()[0]
    if not updated:
        con.execute(f"insert into {RAW_SCHEMA}._sync_state values (?, ?, ?, ?)",
                    [resource, watermark, sync_id, loaded_at])


@dataclass
class _BatchOutcome:
    new: int
    updated: int
    quarantine: list[tuple[str | None, str, str]]
    future_dated: int
    future_examples: list[tuple[str, str]]
    suppressed: int = 0


def _count_batch(stats: LandingStats, batch: _Batch, outcome: _BatchOutcome) -> None:
    stats.new += outcome.new
    stats.updated += outcome.updated
    stats.unchanged += batch.fetched - len(outcome.quarantine) - outcome.new - outcome.updated - outcome.suppressed
    stats.suppressed += outcome.suppressed
    stats.quarantined += len(outcome.quarantine)
    stats.future_dated += outcome.future_dated
    for record_id, marker in outcome.future_examples:
        if len(stats.future_dated_examples) < FUTURE_DATED_EXAMPLES:
            stats.future_dated_examples.setdefault(record_id, marker)
    for _, reason, _ in outcome.quarantine:
        stats.quarantine_reasons[reason] = stats.quarantine_reasons.get(reason, 0) + 1
    stats.fetched += batch.fetched
    stats.pages += batch.pages
    stats.batches += 1
    if batch.watermark is not None:
        stats.watermark_after = batch.watermark


@dataclass(frozen=True)
class _TableState:
    """What a landing reads once about its raw table, not per batch: nothing changes it meanwhile (the
    warehouse file has one writer at a time, and only erasures and reconciliations change these)."""

    suppressing: bool  # ids of the table are on the erasure suppression list: batches are checked against it
    reviving: bool  # records of the table were found deleted: a batch that brings one again revives it

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, table: str) -> _TableState:
        from c360.erasure import any_suppressed

        deleted = con.execute(f"select exists (select 1 from {table} where _deleted_at is not null)").fetchone()[0]
        return cls(suppressing=any_suppressed(con, table), reviving=deleted)


def _store_batch(con: duckdb.DuckDBPyConnection, spec: ResourceSpec, batch: _Batch, stats: LandingStats,
                 loaded_at: datetime, quarantined: bool, zone: RawZone | None, reviving: bool) -> tuple[int, int]:
    """In the landing's open transaction: the upsert, the quarantine and the watermark that resumes after
    the batch; the batch's file in the raw zone, if any, is complete before the transaction commits."""
    new, updated = _upsert_accepted(con, f"{RAW_SCHEMA}.{spec.table}", stats.sync_id, loaded_at, reviving)
    if zone is not None:
        _write_zone_batch(con, zone, spec, stats, loaded_at, reviving)
    if quarantined:
        _quarantine_rejected(con, spec.key, stats.sync_id, loaded_at)
    if batch.watermark is not None:
        _store_watermark(con, spec.key, batch.watermark, stats.sync_id, loaded_at)
    return new, updated


class _ResumePointCommits:
    """The landing's transactions: one commits with each batch that brings a resume point (a watermark)
    and at the end; a batch without one joins the open transaction.

    Committing a batch that has nothing to resume from buys nothing: a run stopped after it starts again
    from the last watermark and reads the batch again. The shop's bulk export is such a stream (its
    watermark comes with its last line), and one commit per batch cost it the write-ahead log: DuckDB
    logs a small transaction's rows and copies them into the database file later, while the rows of a
    large one go to the file once, compressed. Measured on the 136k orders of 100k persons (366 MB),
    written in ten inserts: 3.1 s with a commit each, 1.4 s in one transaction.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, stats: LandingStats) -> None:
        self.con = con
        self.open = False
        self.committed = deepcopy(stats)  # the counts as the warehouse holds them

    def begin(self) -> None:
        if not self.open:
            self.con.execute("begin transaction")
            self.open = True

    def after_batch(self, batch: _Batch, stats: LandingStats) -> None:
        if batch.watermark is not None:
            self.commit(stats)

    def commit(self, stats: LandingStats) -> None:
        if self.open:
            self.open = False  # a failed commit ends the transaction too
            self.con.execute("commit")
        self.committed = deepcopy(stats)

    def roll_back(self, stats: LandingStats) -> None:
        """Undo the batches not committed, and their counts in `stats`."""
        if self.open:
            self.con.execute("rollback")
            self.open = False
        for name, value in vars(deepcopy(self.committed)).items():
            if name not in ("seconds", "requests", "retries", "throttled"):
                setattr(stats, name, value)


def _write_zone_batch(con: duckdb.DuckDBPyConnection, zone: RawZone, spec: ResourceSpec, stats: LandingStats,
                      loaded_at: datetime, reviving: bool) -> None:
    """The batch's new and changed records, and those found deleted before that the source serves again
    (revived by this batch's load), as one file of the raw zone."""
    columns = "id, record::varchar, _version, _source_updated_at, ?::varchar, ?::timestamptz, null::timestamptz"
    revived = f"""
        union all
        select {columns} from {RAW_SCHEMA}.{spec.table}
        where id in (select id from landing_revived) and id not in (select id from landing_changes)
        """
    zone.write_batch(
        con, f"select {columns} from landing_changes_records {revived if reviving else ''}",
        [stats.sync_id, loaded_at] * (2 if reviving else 1), spec.key, f"{stats.sync_id}-{stats.batches:06d}")


def _write_batch(
    con: duckdb.DuckDBPyConnection,
    spec: ResourceSpec,
    batch: _Batch,
    stats: LandingStats,
    loaded_at: datetime,
    zone: RawZone | None,
    table_state: _TableState,
) -> None:
    """Parse, check and land one batch of pages, then count it in `stats`."""
    # only what the batch has (registering an empty table costs a few milliseconds a batch)
    if batch.bodies:
        con.register("incoming_pages", _pages_table(batch))
    if batch.encoded.texts:
        con.register("incoming_records", batch.encoded.table())
    try:
        _parse_records(con, spec, batch)
        quarantine = _accept_rechecked(con, spec)
        suppressed, quarantine = (_drop_suppressed(con, spec, quarantine) if table_state.suppressing
                                  else (0, quarantine))
        future_dated, future_examples = _future_dated(con, spec)
        new, updated = _store_batch(con, spec, batch, stats, loaded_at, quarantined=bool(quarantine), zone=zone,
                                    reviving=table_state.reviving)
    finally:
        if batch.bodies:
            con.unregister("incoming_pages")
        if batch.encoded.texts:
            con.unregister("incoming_records")
    _count_batch(stats, batch, _BatchOutcome(new, updated, quarantine, future_dated, future_examples, suppressed))


def _drop_suppressed(
    con: duckdb.DuckDBPyConnection, spec: ResourceSpec, quarantine: list[tuple[str | None, str, str]]
) -> tuple[int, list[tuple[str | None, str, str]]]:
    """Leave out of the batch the records of erased people (their ids are on the suppression list of
    `c360.erasure`), landed or malformed: they stay out of the warehouse until the source deletes them.
    Returns how many, and the quarantine entries left."""
    from c360.erasure import suppressed_count

    table = f"{RAW_SCHEMA}.{spec.table}"
    # accepted by the SQL checks or by the Python parsers: both have their id in `landing_records`
    dropped = suppressed_count(con, table, "landing_records")
    malformed = suppressed_count(con, table, "quarantined_batch", "source_id") if quarantine else 0
    if malformed:
        quarantine = [tuple(row) for row in con.execute(
            "select source_id, reason, payload from quarantined_batch").fetchall()]
    return dropped + malformed, quarantine


def land_resource(
    con: duckdb.DuckDBPyConnection,
    client: SourceClient,
    resource: str,
    *,
    batch_records: int = DEFAULT_LANDING_BATCH,
    on_progress: Callable[[LandingStats], None] | None = None,
    raw_zone: RawZone | None = None,
) -> LandingStats:
    """Fetch one resource from its stored watermark on and upsert it into `raw.<table>`; with a
    `raw_zone`, each batch's new and changed records also go there as a Parquet file."""
    spec = client.resources[resource]
    ensure_raw_schema(con, [spec])
    stats = LandingStats(resource=spec.key, sync_id=uuid.uuid4().hex)
    stats.watermark_before = stats.watermark_after = read_watermark(con, spec.key)
    started = datetime.now(UTC)
    requests_before = (client.stats.requests, client.stats.retries, client.stats.throttled)
    con.execute(
        f"insert into {RAW_SCHEMA}._syncs (sync_id, resource, started_at, status, watermark_before) "
        "values (?, ?, ?, 'running', ?)",
        [stats.sync_id, spec.key, started, stats.watermark_before],
    )
    clock = time.perf_counter()
    table_state = _TableState.read(con, f"{RAW_SCHEMA}.{spec.table}")
    status, error = "failed", None
    commits = _ResumePointCommits(con, stats)
    try:
        with fewer_collections():
            for batch in _batches(client.fetch(resource, stats.watermark_before), batch_records):
                commits.begin()
                _write_batch(con, spec, batch, stats, datetime.now(UTC), raw_zone, table_state)
                commits.after_batch(batch, stats)
                if on_progress:
                    on_progress(stats)
            commits.commit(stats)
        status = "succeeded"
    except BaseException as exc:
        commits.roll_back(stats)
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        stats.seconds = time.perf_counter() - clock
        stats.requests = client.stats.requests - requests_before[0]
        stats.retries = client.stats.retries - requests_before[1]
        stats.throttled = client.stats.throttled - requests_before[2]
        con.execute(
            f"""
            update {RAW_SCHEMA}._syncs set finished_at = ?, status = ?, fetched = ?, new = ?, updated = ?,
                unchanged = ?, quarantined = ?, future_dated = ?, pages = ?, requests = ?, retries = ?,
                throttled = ?, watermark_after = ?, error = ?
            where sync_id = ?
            """,
            [
                datetime.now(UTC), status, stats.fetched, stats.new, stats.updated, stats.unchanged,
                stats.quarantined, stats.future_dated, stats.pages, stats.requests, stats.retries,
                stats.throttled, stats.watermark_after, error, stats.sync_id,
            ],
        )
    if stats.future_dated:
        log.warning(future_dated_warning(stats))
    return stats


# --- deletions the source does not report ----------------------------------------------------------

@dataclass
class ReconcileStats:
    resource: str
    ran: bool = False
    live: int = 0  # ids the source holds now
    marked_deleted: int = 0  # landed records found deleted by this reconciliation
    reason: str = ""


def last_reconciled(con: duckdb.DuckDBPyConnection, resource: str) -> datetime | None:
    row = con.execute(f"select max(reconciled_at) from {RAW_SCHEMA}._reconciliations where resource = ?",
                      [resource]).fetchone()
    return row[0] if row else None


def reconcile_deletions(con: duckdb.DuckDBPyConnection, client, resource: str, *, every_days: float | None,
                        now: datetime | None = None, raw_zone: RawZone | None = None) -> ReconcileStats:
    """Mark the landed records of `resource` that the source no longer holds as deleted.

    For a source that deletes outright and reports no deletions (Shopify customers and orders): the
    client lists every id it holds now (`client.live_ids`), and each landed record not among them gets
    `_deleted_at` and a new `_loaded_at` (so that incremental staging reads it again), in one
    transaction. Runs when the last reconciliation of the resource is `every_days` old (0: every time,
    None: never). Run it after the landing: a record landed before the listing began existed then, so
    missing from the list means deleted since. An empty list against landed records is taken for a
    source answering wrongly, not for every record deleted, and marks nothing.
    """
    spec = client.resources[resource]
    ensure_raw_schema(con, [spec])
    now = now or datetime.now(UTC)
    stats = ReconcileStats(spec.key)
    last = last_reconciled(con, spec.key)
    if every_days is None:
        stats.reason = "reconciliation is off"
        return stats
    if last is not None and now - last < timedelta(days=every_days):
        stats.reason = f"last reconciled {last.isoformat()}"
        return stats
    ids = pa.array([i for chunk in client.live_ids(resource) for i in chunk], pa.string())
    live = pa.table({"id": ids})  # read by DuckDB by its name (a replacement scan)
    stats.ran, stats.live = True, len(ids)
    table = f"{RAW_SCHEMA}.{spec.table}"
    con.execute("begin transaction")
    try:
        landed = con.execute(f"select count(*) from {table} where _deleted_at is null").fetchone()[0]
        if stats.live or not landed:
            stats.marked_deleted = con.execute(
                f"update {table} set _deleted_at = ?, _loaded_at = ? "
                "where _deleted_at is null and id not in (select id from live)", [now, now]).fetchone()[0]
            if raw_zone is not None and stats.marked_deleted:
                raw_zone.write_batch(con, f"select {ZONE_SELECT} from {table} where _deleted_at = ? and _loaded_at = ?",
                                     [now, now], spec.key, f"reconciled-{now:%Y%m%dT%H%M%S%f}")
        else:
            stats.reason = f"the source listed no ids against {landed} landed records: nothing marked"
            log.warning("%s: %s", spec.key, stats.reason)
        con.execute(f"insert into {RAW_SCHEMA}._reconciliations values (?, ?, ?, ?)",
                    [spec.key, now, stats.live, stats.marked_deleted])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return stats
