"""What every connector shares: resource descriptions, pages, counters, change-marker parsing.

Change markers per resource (docs/source_protocol.md):

| system                        | field        | format                                         |
|-------------------------------|--------------|------------------------------------------------|
| shop                          | `updatedAt`  | ISO 8601 (GraphQL `DateTime`; REST `updated_at`)|
| erp                           | `write_date` | naive UTC `YYYY-MM-DD HH:MM:SS`                |
| helpdesk                      | `updated_at` | ISO 8601 UTC with `Z`                          |
| helpdesk CSAT survey responses| the newest `answers[].updated_at` (epoch without answers) | ISO 8601 UTC, ms, `Z` |
| accounting contacts           | `version`    | integer                                        |
| accounting vouchers, payments | `updatedDate`| ISO 8601, milliseconds, Europe/Berlin offset   |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Protocol

import orjson

from .errors import SourceError

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SHOP_GID_RE = re.compile(r"^gid://shopify/[A-Za-z]+/([0-9]+)$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ERP_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# A ULID (https://github.com/ulid/spec): 26 characters of Crockford's base32, the first ten the creation
# time in milliseconds. Zendesk's survey responses are keyed by them.
_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class MalformedRecord(ValueError):
    """A record whose id or change marker is missing or cannot be read; the reason names the field."""


# --- change markers ---------------------------------------------------------------------------------

def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if value is False:
        return "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_iso_offset(value: Any, field: str) -> datetime:
    """ISO 8601 with a UTC offset or `Z` (shop, helpdesk, accounting) -> tz-aware UTC datetime."""
    if not isinstance(value, str):
        raise MalformedRecord(f"{field} is {_describe(value)}, expected an ISO 8601 timestamp with offset")
    if len(value) < 19 or value[10] not in "Tt ":
        raise MalformedRecord(f"{field} {_describe(value)} is not an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedRecord(f"{field} {_describe(value)} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise MalformedRecord(f"{field} {_describe(value)} has no UTC offset")
    return parsed.astimezone(UTC)


def parse_erp_datetime(value: Any, field: str) -> datetime:
    """Odoo's naive UTC `YYYY-MM-DD HH:MM:SS` -> tz-aware UTC datetime (`false` means empty)."""
    if value is False or value is None:
        raise MalformedRecord(f"{field} is empty ({_describe(value)})")
    if not isinstance(value, str):
        raise MalformedRecord(f"{field} is {_describe(value)}, expected 'YYYY-MM-DD HH:MM:SS' (naive UTC)")
    if not _ERP_DATETIME_RE.match(value):
        raise MalformedRecord(f"{field} {_describe(value)} is not 'YYYY-MM-DD HH:MM:SS' (naive UTC)")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise MalformedRecord(f"{field} {_describe(value)} is not a valid date-time") from None


def parse_version(value: Any, field: str) -> int:
    """Integer version counter (accounting contacts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRecord(f"{field} is {_describe(value)}, expected an integer")
    if value < 0:
        raise MalformedRecord(f"{field} is {value}, expected a non-negative integer")
    return value


def _int_id(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedRecord(f"{field} is {_describe(value)}, expected an integer")
    return str(value)


def _shop_id(value: Any, field: str) -> str:
    """A shop id: the numeric tail of a GraphQL global id (`gid://shopify/Customer/123` -> "123", the
    same number as its `legacyResourceId` and its REST/webhook `id`), or a REST-shaped integer id."""
    if isinstance(value, str):
        m = _SHOP_GID_RE.match(value)
        if m:
            return m.group(1)
        raise MalformedRecord(f"{field} is {_describe(value)}, expected a gid://shopify/<Type>/<number> id")
    return _int_id(value, field)


def _uuid_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _UUID_RE.match(value):
        raise MalformedRecord(f"{field} is {_describe(value)}, expected a UUID string")
    return value


def _ulid_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ULID_RE.match(value):
        raise MalformedRecord(f"{field} is {_describe(value)}, expected a ULID (26 characters of Crockford base32)")
    return value


def ulid_time(value: str) -> datetime:
    """The creation time a ULID carries (its first ten characters, milliseconds since the epoch)."""
    millis = 0
    for char in _ulid_id(value, "id")[:10]:
        millis = millis * 32 + _CROCKFORD.index(char)
    return datetime.fromtimestamp(millis / 1000, UTC)


_ID_PARSERS: dict[str, Callable[[Any, str], str]] = {
    "shop": _shop_id,
    "erp": _int_id,
    "helpdesk": _int_id,
    "accounting": _uuid_id,
    "ulid": _ulid_id,
}


# A shop record in the REST/webhook shape (old replay directories, webhook payloads, raws landed before
# the GraphQL connector) names its marker in snake_case; the Python check accepts it (the SQL check
# reads only the GraphQL name and hands such records over to it).
_REST_MARKERS = {("shop", "updatedAt"): "updated_at"}


def _version_parser(system: str, version_field: str) -> Callable[[Any, str], datetime | int]:
    if version_field == "version":
        return parse_version
    if system == "erp":
        return parse_erp_datetime
    return parse_iso_offset


# --- the same checks in SQL -------------------------------------------------------------------------
# The landing reads ids and change markers in the warehouse (DuckDB), where the records are parsed out
# of the response bytes. These expressions take a JSON value and give the id (varchar) or the marker
# as a timestamptz / integer, and NULL for anything they do not accept. They are deliberately
# stricter than the Python parsers above (ASCII digits, a `T` separator, hours below 24), which stay
# the definition: a record rejected here is checked again by the parsers, which either name the
# reason for the quarantine or accept it after all.

_SQL_INT_ID = "case when json_type({v}) = 'UBIGINT' then {v}::varchar end"
_SQL_UUID_ID = (
    "case when json_type({v}) = 'VARCHAR' and regexp_full_match({v}->>'$', "
    "'[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}') then {v}->>'$' end"
)
_SQL_SHOP_ID = (
    "case when json_type({v}) = 'UBIGINT' then {v}::varchar "
    "when json_type({v}) = 'VARCHAR' and regexp_full_match({v}->>'$', 'gid://shopify/[A-Za-z]+/[0-9]+') "
    "then regexp_extract({v}->>'$', '([0-9]+)$', 1) end"
)
_SQL_ULID_ID = (
    "case when json_type({v}) = 'VARCHAR' and regexp_full_match({v}->>'$', '[0-7][0-9A-HJKMNP-TV-Z]{{25}}') "
    "then {v}->>'$' end"
)
_SQL_ID = {"shop": _SQL_SHOP_ID, "erp": _SQL_INT_ID, "helpdesk": _SQL_INT_ID, "accounting": _SQL_UUID_ID,
           "ulid": _SQL_ULID_ID}
_SQL_ERP_DATETIME = (
    "case when json_type({v}) = 'VARCHAR' and regexp_full_match({v}->>'$', '\\d{{4}}-\\d{{2}}-\\d{{2}} "
    "\\d{{2}}:\\d{{2}}:\\d{{2}}') then timezone('UTC', try_strptime({v}->>'$', '%Y-%m-%d %H:%M:%S')) end"
)
_SQL_ISO_OFFSET = (
    "case when json_type({v}) = 'VARCHAR' and regexp_full_match({v}->>'$', '\\d{{4}}-\\d{{2}}-\\d{{2}}"
    "T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{{1,6}})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)') "
    "then try_cast({v}->>'$' as timestamptz) end"
)
_SQL_VERSION = "case when json_type({v}) = 'UBIGINT' then try_cast({v}::varchar as bigint) end"


# --- resources, pages, counters ---------------------------------------------------------------------

@dataclass(frozen=True)
class ResourceSpec:
    system: str  # "shop"
    name: str  # API resource name: "customers", "res.partner", "satisfaction_ratings", ...
    key: str  # resource key of docs/source_protocol.md: "shop/customers"
    table: str  # raw landing table: "shop_customers"
    id_field: str  # "id"
    version_field: str  # updated_at / write_date / version / updatedDate
    # The id's kind when it is not the system's usual one ("ulid": Zendesk's survey responses).
    id_kind: str | None = None
    # A record without a change marker of its own is versioned by the newest `version_field` among the
    # objects of its list `newest_of` (a survey response by its newest answer); an empty list gives
    # the epoch (a response not answered yet).
    newest_of: str | None = None

    @property
    def marker_path(self) -> str:
        """The JSON path the landing extracts the change marker from (the list, with `newest_of`)."""
        return f"$.{self.newest_of or self.version_field}"

    def record_id(self, record: Any) -> str:
        """The record's id as a string; MalformedRecord if it is missing or of the wrong kind."""
        if not isinstance(record, dict):
            raise MalformedRecord(f"record is {_describe(record)}, expected a JSON object")
        if self.id_field not in record:
            raise MalformedRecord(f"{self.id_field} is missing")
        return _ID_PARSERS[self.id_kind or self.system](record[self.id_field], self.id_field)

    def record_version(self, record: Any) -> datetime | int:
        """The change marker: tz-aware UTC datetime, or int for version counters."""
        if not isinstance(record, dict):
            raise MalformedRecord(f"record is {_describe(record)}, expected a JSON object")
        if self.newest_of is not None:
            return self._newest_version(record)
        field = self.version_field
        if field not in record:
            field = _REST_MARKERS.get((self.system, field), field)
            if field not in record:
                raise MalformedRecord(f"{self.version_field} is missing")
        return _version_parser(self.system, field)(record[field], field)

    def _newest_version(self, record: dict) -> datetime:
        items = record.get(self.newest_of)
        if not isinstance(items, list):
            raise MalformedRecord(f"{self.newest_of} is {_describe(items)}, expected a list")
        newest = EPOCH
        for i, item in enumerate(items):
            field = f"{self.newest_of}[{i}].{self.version_field}"
            if not isinstance(item, dict) or self.version_field not in item:
                raise MalformedRecord(f"{field} is missing")
            newest = max(newest, _version_parser(self.system, self.version_field)(item[self.version_field], field))
        return newest

    def sql_id(self, value: str) -> str:
        """SQL giving the id (varchar) of the JSON value `value`, NULL where `record_id` may object."""
        return _SQL_ID[self.id_kind or self.system].format(v=value)

    def sql_updated_at(self, value: str) -> str | None:
        """SQL giving a timestamp marker as timestamptz (None for version counters), NULL where unsure.
        `value` is the JSON at `marker_path`: with `newest_of`, the list whose newest marker counts."""
        if self.version_field == "version":
            return None
        one = (_SQL_ERP_DATETIME if self.system == "erp" else _SQL_ISO_OFFSET)
        if self.newest_of is None:
            return one.format(v=value)
        markers = f"list_transform(json_extract({value}, '$[*].{self.version_field}'), lambda m: {one.format(v='m')})"
        # NULL (the Python check names the reason) unless every item has a marker that parses
        return (f"case when json_type({value}) = 'ARRAY' and list_count({markers}) = json_array_length({value}) "
                f"then coalesce(list_max({markers}), 'epoch'::timestamptz) end")

    def sql_version(self, value: str) -> str:
        """SQL giving the marker as one sortable integer (epoch microseconds or the counter), as `epoch_micros`."""
        updated_at = self.sql_updated_at(value)
        return _SQL_VERSION.format(v=value) if updated_at is None else f"epoch_us({updated_at})"


class EncodedRecords(Sequence):
    """Records a connector has read itself, handed on as each record's JSON text with the id and the
    change marker it read (None for a record it could not read them of: the landing's own check then
    names the reason). The landing writes the texts without parsing them for ids again; other readers
    get the records decoded. A text may hold parts the connector did not decode (the rows of a Shopify
    bulk export): one that is not JSON is read as that text, a string, as the landing reads it."""

    def __init__(self, texts: list[bytes], ids: list[str | None], versions: list[datetime | int | None]):
        self.texts, self.ids, self.versions = texts, ids, versions
        self._decoded: list | None = None

    def _records(self) -> list:
        if self._decoded is None:
            try:
                self._decoded = orjson.loads(b"[" + b",".join(self.texts) + b"]")
            except orjson.JSONDecodeError:
                self._decoded = [_decoded_or_text(text) for text in self.texts]
        return self._decoded

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index):
        return self._records()[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"EncodedRecords({len(self.texts)} records)"


def _decoded_or_text(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.decode("utf-8", "replace")


@dataclass
class Page:
    records: Sequence[Any]  # records exactly as the API returned them (malformed ones included)
    watermark: str | None  # resume point, valid once this page and all before it are stored; None = unchanged
    # The response body as received and the JSON path of the record list in it ("$" for a bare
    # array): the landing parses the records out of these bytes in the warehouse, not in Python.
    # Without a body, the landing serialises `records`.
    content: bytes | None = None
    records_path: str = "$"
    # The clock when the page arrived plus the future tolerance: a record whose timestamp marker is
    # later is future-dated (a bad source clock), which the landing counts and reports. None = unjudged.
    future_after: datetime | None = None


@dataclass
class RequestStats:
    requests: int = 0  # HTTP attempts sent
    retries: int = 0  # attempts repeated after a failure or a 429
    throttled: int = 0  # 429 answers
    pages: int = 0  # successful (decoded) responses


class SourceClient(Protocol):
    system: str
    resources: dict[str, ResourceSpec]
    stats: RequestStats

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]: ...

    def close(self) -> None: ...


def last_valid(records: list, spec: ResourceSpec, not_after: datetime | None = None):
    """(record, marker) of the last record of a page whose change marker parses, else (None, None).

    Pages are sorted by their marker, so this is the page's greatest marker; usually the very
    last record, so the loop body runs once. With `not_after` (the clock when the page arrived), a
    timestamp marker later than it does not count: a watermark taken from a future-dated record would
    skip every record changed until that date, and one taken from a marker just ahead of the clock
    would skip the changes stamped by a correct clock meanwhile. Such records sort last, so they are
    landed all the same and read again next run.
    """
    for i in range(len(records) - 1, -1, -1):
        try:
            marker = spec.record_version(records[i])
        except MalformedRecord:
            continue
        if not_after is None or not isinstance(marker, datetime) or marker <= not_after:
            return records[i], marker
    return None, None


def resource(system: str, name: str, table: str, version_field: str, **options: Any) -> ResourceSpec:
    return ResourceSpec(system=system, name=name, key=f"{system}/{name}", table=table, id_field="id",
                        version_field=version_field, **options)


def records_path(key: str | None) -> str:
    """The JSON path of `body[key]` (of the body itself when key is None), as in `expect_records`."""
    return "$" if key is None else f"$.{key}"


def expect_records(body: Any, key: str | None, system: str, endpoint: str) -> list:
    """The record list of a decoded response (`body[key]`, or the body itself when key is None)."""
    value = body if key is None else (body.get(key) if isinstance(body, dict) else None)
    if isinstance(value, list):
        return value
    where = "the response body" if key is None else f"'{key}'"
    raise SourceError(f"{system}: unexpected response at {endpoint}: {where} is not a JSON array "
                      f"(got {type(value).__name__}); is the base URL pointing at the {system} API?",
                      system=system, endpoint=endpoint, status=200)
