"""Column store of the records a demo source serves: each current version encoded once.

A `ResourceStore` keeps every record of one resource as orjson bytes in a few large chunk buffers,
plus numpy columns per stored version (chunk, offset, length, change marker, id and the handful of
filter columns the API needs). A `StoreView` is an immutable snapshot of the current versions sorted
the way the API pages them, so that a page is a binary search and a slice, never a scan of every
record. Upserts append new versions and mark the store dirty; the next read re-sorts once.

Change markers are int64 epoch microseconds (see docs/source_protocol.md). Records that are
malformed (not an object, no usable id, unparsable change marker) are stored and served as they are:
they sort at the clock's current time and get an id from a running counter, so that the pipeline
can quarantine them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone

import numpy as np
import orjson

RESOURCE_KEYS = (
    "shop/customers",
    "shop/orders",
    "shop/checkouts",
    "erp/res.partner",
    "erp/sale.order",
    "erp/sale.order.line",
    "erp/product.product",
    "erp/account.move",
    "erp/account.move.line",
    "helpdesk/users",
    "helpdesk/tickets",
    "helpdesk/satisfaction_ratings",
    "helpdesk/csat_survey_responses",
    "accounting/contacts",
    "accounting/vouchers",
    "accounting/payments",
)

# Field that marks a change, per resource; None = sorted by insertion order (accounting contacts).
MARKER_FIELD: dict[str, str | None] = {
    "shop/customers": "updated_at",
    "shop/orders": "updated_at",
    "shop/checkouts": "updated_at",
    "erp/res.partner": "write_date",
    "erp/sale.order": "write_date",
    "erp/sale.order.line": "write_date",
    "erp/product.product": "write_date",
    "erp/account.move": "write_date",
    "erp/account.move.line": "write_date",
    "helpdesk/users": "updated_at",
    "helpdesk/tickets": "updated_at",
    # Zendesk lists ratings in the order they were created and filters `start_time` on that time
    "helpdesk/satisfaction_ratings": "created_at",
    # Zendesk lists survey responses by id, a ULID, which begins with the response's creation time (the
    # time `filter[created_at_start]` bounds): the store sorts them by that time, read from the id
    "helpdesk/csat_survey_responses": "id",
    "accounting/contacts": None,
    "accounting/vouchers": "updatedDate",
    "accounting/payments": "updatedDate",
}

STRING_ID_KEYS = frozenset({"helpdesk/csat_survey_responses"})

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Ids given to records without a usable id sort after every real id at the same change marker.
FALLBACK_INT_ID = 1 << 62
FALLBACK_STR_PREFIX = "~malformed-"


def to_epoch_us(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime (naive means UTC), exact integer arithmetic."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_marker(value: object) -> int | None:
    """Epoch microseconds of an ISO 8601 timestamp (offset, `Z` or naive UTC), None if unusable."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return to_epoch_us(moment)


def _num(digits: np.ndarray, start: int, stop: int) -> np.ndarray:
    value = np.zeros(len(digits), np.int64)
    for k in range(start, stop):
        value = value * 10 + digits[:, k]
    return value


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


_CROCKFORD = {char: value for value, char in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}


def ulid_micros(value: object, now_us: Callable[[], int]) -> int:
    """The creation time a ULID id carries, in epoch microseconds; the clock's time for anything else
    (a malformed record sorts last, as with an unparsable marker)."""
    if isinstance(value, str) and len(value) == 26 and all(char in _CROCKFORD for char in value):
        millis = 0
        for char in value[:10]:
            millis = millis * 32 + _CROCKFORD[char]
        return millis * 1000
    return now_us()


def parse_markers(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `parse_marker` for the four marker formats of the protocol.

    Returns (epoch microseconds, ok); rows that are not in one of the exact formats
    (`YYYY-MM-DD HH:MM:SS`, `...THH:MM:SSZ`, `...+HH:MM`, `....mmm+HH:MM`, `....mmmZ`) are not ok
    and must go through `parse_marker`.
    """
    n = len(values)
    out = np.zeros(n, np.int64)
    if n == 0:
        return out, np.zeros(0, np.bool_)
    raw = np.asarray([v if type(v) is str and len(v) <= 29 and v.isascii() else "" for v in values], dtype="S29")
    chars = raw.view(np.uint8).reshape(n, 29).astype(np.int64)
    length = (chars != 0).sum(axis=1)
    digits = chars - 48

    def is_digit(*cols):
        return np.all((digits[:, list(cols)] >= 0) & (digits[:, list(cols)] <= 9), axis=1)

    ok = (
        (length >= 19)
        & is_digit(0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
        & (chars[:, 4] == 45) & (chars[:, 7] == 45) & ((chars[:, 10] == 84) | (chars[:, 10] == 32))
        & (chars[:, 13] == 58) & (chars[:, 16] == 58)
    )
    year, month, day = _num(digits, 0, 4), _num(digits, 5, 7), _num(digits, 8, 10)
    hour, minute, second = _num(digits, 11, 13), _num(digits, 14, 16), _num(digits, 17, 19)
    c19, c23 = chars[:, 19], chars[:, 23]
    has_ms = (c19 == 46) & (length >= 24) & is_digit(20, 21, 22)
    millis = np.where(has_ms, _num(digits, 20, 23), 0)
    tz_at = np.where(has_ms, 23, 19)
    tz_char = np.where(has_ms, c23, c19)
    naive = (length == 19) & ~has_ms
    zulu = (tz_char == 90) & (length == tz_at + 1)
    signed = ((tz_char == 43) | (tz_char == 45)) & (length == tz_at + 6)
    rows = np.arange(n)
    off_digits = digits[rows[:, None], np.minimum(tz_at[:, None] + np.array([1, 2, 4, 5]), 28)]
    off_ok = np.all((off_digits >= 0) & (off_digits <= 9), axis=1) & (
        chars[rows, np.minimum(tz_at + 3, 28)] == 58
    )
    offset_min = (off_digits[:, 0] * 10 + off_digits[:, 1]) * 60 + off_digits[:, 2] * 10 + off_digits[:, 3]
    offset_min = np.where(signed & (tz_char == 45), -offset_min, offset_min)
    offset_min = np.where(signed, offset_min, 0)
    ok &= naive | zulu | (signed & off_ok & (offset_min > -24 * 60) & (offset_min < 24 * 60))
    days = _days_from_civil(year, month, day)
    month_len = _days_from_civil(year + (month == 12), month % 12 + 1, np.ones_like(day)) - _days_from_civil(
        year, month, np.ones_like(day)
    )
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_len) & (year >= 1)
    ok &= (hour < 24) & (minute < 60) & (second < 60)
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_min * 60
    out = np.where(ok, seconds * 1_000_000 + millis * 1_000, 0)
    return out, ok


def _is_active(record: dict) -> bool:
    return record.get("active", True) is not False


def _is_open_order(record: dict) -> bool:
    return record.get("cancelled_at") is None and record.get("closed_at") is None


# Filter columns per resource: name -> (numpy dtype, extractor, default for non-object records).
# Columns named in VOCAB_COLUMNS hold small integer codes of a string value.
_BOOL_COLUMNS: dict[str, dict[str, Callable[[dict], bool]]] = {
    "erp/res.partner": {"active": _is_active},
    "erp/sale.order": {"active": _is_active},
    "erp/sale.order.line": {"active": _is_active},
    "erp/product.product": {"active": _is_active},
    "shop/orders": {"open": _is_open_order},
}
VOCAB_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounting/vouchers": ("voucherType", "voucherStatus"),
    # the selection fields the ERP connector's domains name (customer credit notes, their product lines)
    "erp/account.move": ("move_type", "state"),
    "erp/account.move.line": ("move_type", "display_type"),
}


class StoreView:
    """Immutable snapshot of the current versions of one resource, sorted by (marker, id).

    `marker` is the change marker (insertion sequence for accounting contacts), `ids` the record
    ids (int64, or bytes for string ids), `cols` the filter columns, all aligned with `slots`.
    """

    __slots__ = (
        "key", "slots", "marker", "ids", "cols", "generation",
        "_chunk", "_off", "_len", "_mvs", "_by_id", "_by_id_lock", "_id_slots", "_id_sorted",
        "_all_cols", "_all_marker",
    )

    def __init__(self, key, slots, marker, ids, cols, chunk, off, length, mvs, generation,
                 id_sorted, id_slots, all_cols, all_marker):
        self.key = key
        self.slots = slots
        self.marker = marker
        self.ids = ids
        self.cols = cols
        self.generation = generation
        self._chunk = chunk
        self._off = off
        self._len = length
        self._mvs = mvs
        self._id_sorted = id_sorted
        self._id_slots = id_slots
        self._all_cols = all_cols
        self._all_marker = all_marker
        self._by_id = None
        self._by_id_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def string_ids(self) -> bool:
        return self.ids.dtype.kind == "S"

    # --- positions -------------------------------------------------------------------------
    def marker_left(self, marker: int) -> int:
        """First position whose marker is >= `marker`."""
        return int(np.searchsorted(self.marker, marker, side="left"))

    def marker_right(self, marker: int) -> int:
        """First position whose marker is > `marker`."""
        return int(np.searchsorted(self.marker, marker, side="right"))

    def position_after(self, marker: int, record_id, inclusive: bool = False) -> int:
        """First position sorting after (marker, id), or at it when `inclusive`."""
        lo = self.marker_left(marker)
        hi = self.marker_right(marker)
        if lo == hi:
            return lo
        side = "left" if inclusive else "right"
        return lo + int(np.searchsorted(self.ids[lo:hi], record_id, side=side))

    # --- encoded records -------------------------------------------------------------------
    def encoded(self, positions) -> list[memoryview]:
        """Encoded records at view positions (a slice or an index array), in that order."""
        slots = self.slots[positions]
        mvs = self._mvs
        return [
            mvs[c][o:o + n]
            for c, o, n in zip(self._chunk[slots].tolist(), self._off[slots].tolist(), self._len[slots].tolist())
        ]

    def iter_encoded(self, batch: int = 20_000) -> Iterator[list[memoryview]]:
        for start in range(0, len(self.slots), batch):
            yield self.encoded(slice(start, start + batch))

    def encoded_size(self, positions) -> int:
        return int(self._len[self.slots[positions]].sum())

    def by_id(self) -> StoreView:
        """The same records sorted by id (for ERP `order: "id asc"`)."""
        with self._by_id_lock:
            if self._by_id is None:
                slots = self._id_slots
                self._by_id = StoreView(
                    self.key, slots, self._all_marker[slots], self._id_sorted,
                    {name: col[slots] for name, col in self._all_cols.items()},
                    self._chunk, self._off, self._len, self._mvs, self.generation,
                    self._id_sorted, slots, self._all_cols, self._all_marker,
                )
            return self._by_id


class ResourceStore:
    """Current version of every record of one resource, encoded once, paged by binary search."""

    def __init__(self, key: str, now_us: Callable[[], int]):
        self.key = key
        self.system, self.resource = key.split("/", 1)
        self.marker_field = MARKER_FIELD.get(key, "updated_at")
        self.string_ids = self.system == "accounting" or key in STRING_ID_KEYS
        self._now_us = now_us
        self._lock = threading.RLock()
        self._bool_cols = _BOOL_COLUMNS.get(key, {})
        self._vocab_cols = VOCAB_COLUMNS.get(key, ())
        self.vocab: dict[str, dict[str, int]] = {name: {} for name in self._vocab_cols}
        self.fields: frozenset[str] = frozenset()
        self._chunks: list[bytes] = []
        self._mvs: list[memoryview] = []
        self._pending: list[dict[str, np.ndarray]] = []
        id_dtype = "S1" if self.string_ids else np.int64
        self._cols: dict[str, np.ndarray] = {
            "chunk": np.empty(0, np.int32),
            "off": np.empty(0, np.int64),
            "len": np.empty(0, np.int32),
            "marker": np.empty(0, np.int64),
            "id": np.empty(0, id_dtype),
        }
        for name in self._bool_cols:
            self._cols["c:" + name] = np.empty(0, np.bool_)
        for name in self._vocab_cols:
            self._cols["c:" + name] = np.empty(0, np.int16)
        self._fallback_counter = 0
        self._generation = 0
        self._view: StoreView | None = None
        # Ids deleted at the source (a shop deletes customers and orders outright): no version of
        # them is served any more. A later upsert of the id brings it back.
        self._deleted: set = set()

    # --- writing ---------------------------------------------------------------------------
    def _fallback_id(self):
        self._fallback_counter += 1
        if self.string_ids:
            return f"{FALLBACK_STR_PREFIX}{self._fallback_counter:012d}".encode()
        return FALLBACK_INT_ID + self._fallback_counter

    def _id_key(self, record):
        value = record.get("id") if isinstance(record, dict) else None
        if self.string_ids:
            if isinstance(value, str) and value:
                return value.encode()
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value).encode()
            return None
        if isinstance(value, int) and not isinstance(value, bool) and -(1 << 63) <= value < FALLBACK_INT_ID:
            return value
        return None

    def _code(self, column: str, value) -> int:
        if not isinstance(value, str):
            return -1
        vocab = self.vocab[column]
        code = vocab.get(value)
        if code is None:
            code = vocab[value] = len(vocab)
        return code

    def upsert(self, records: Iterable) -> int:
        """Store new versions (replacing by id); returns how many records were taken."""
        records = records if isinstance(records, list) else list(records)
        if not records:
            return 0
        try:
            encoded = list(map(orjson.dumps, records))
        except TypeError:
            encoded = [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS, default=str) for r in records]
        all_objects = set(map(type, records)) == {dict}
        with self._lock:
            if all_objects:
                self._add_fields(*{tuple(r) for r in records})
                ids = self._ids_fast(records)
                markers = self._markers(records)
                bools = {name: [bool(extract(r)) for r in records] for name, extract in self._bool_cols.items()}
                codes = {name: [self._code(name, r.get(name)) for r in records] for name in self._vocab_cols}
            else:
                ids = [self._id_key(r) for r in records]
                objects = [r if isinstance(r, dict) else {} for r in records]
                self._add_fields(*(tuple(r) for r in objects))
                markers = self._markers(objects)
                bools = {
                    name: [bool(extract(r)) if isinstance(r, dict) else True for r in records]
                    for name, extract in self._bool_cols.items()
                }
                codes = {name: [self._code(name, r.get(name)) for r in objects] for name in self._vocab_cols}
            if not isinstance(ids, np.ndarray):
                ids = [self._fallback_id() if i is None else i for i in ids]
                ids = np.asarray(ids, dtype=None if self.string_ids else np.int64)
            if self._deleted:
                self._deleted.difference_update(ids.tolist())
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            offsets = np.cumsum(lengths) - lengths
            chunk = b"".join(encoded)
            del encoded
            chunk_no = len(self._chunks)
            self._chunks.append(chunk)
            self._mvs.append(memoryview(chunk))
            batch = {
                "chunk": np.full(len(lengths), chunk_no, np.int32),
                "off": offsets,
                "len": lengths.astype(np.int32),
                "marker": markers,
                "id": ids,
            }
            for name, values in bools.items():
                batch["c:" + name] = np.asarray(values, np.bool_)
            for name, values in codes.items():
                batch["c:" + name] = np.asarray(values, np.int16)
            self._pending.append(batch)
            self._view = None
            return len(lengths)

    def delete(self, ids: Iterable) -> int:
        """Remove records by id, as a source that deletes outright; returns how many were stored."""
        keys = {key for key in (self._id_key({"id": i}) for i in ids) if key is not None}
        with self._lock:
            view = self.view()
            present = np.isin(view.ids, np.asarray(list(keys), dtype=view.ids.dtype)) if keys and len(view) else None
            self._deleted |= keys
            self._view = None
            return int(present.sum()) if present is not None else 0

    def _add_fields(self, *key_sets) -> None:
        new = set().union(*key_sets) if key_sets else set()
        if not new <= self.fields:
            self.fields = frozenset(self.fields | new)  # replaced, never mutated: readers iterate safely

    def _ids_fast(self, records: list[dict]):
        raw = [r.get("id") for r in records]
        kinds = set(map(type, raw))
        if self.string_ids and kinds == {str} and all(raw):
            return np.asarray([v.encode() for v in raw])
        if not self.string_ids and kinds == {int}:
            try:
                ids = np.asarray(raw, dtype=np.int64)
            except OverflowError:
                return [self._id_key(r) for r in records]
            if len(ids) and ids.max() < FALLBACK_INT_ID:
                return ids
        return [self._id_key(r) for r in records]

    def _markers(self, objects: list[dict]) -> np.ndarray:
        if self.marker_field is None:
            return np.zeros(len(objects), np.int64)
        field = self.marker_field
        if field == "id":
            return np.array([ulid_micros(r.get("id"), self._now_us) for r in objects], np.int64)
        markers, ok = parse_markers([r.get(field) for r in objects])
        if not ok.all():
            now = None
            for i in np.flatnonzero(~ok).tolist():
                marker = parse_marker(objects[i].get(field))
                if marker is None:
                    if now is None:
                        now = self._now_us()
                    marker = now
                markers[i] = marker
        return markers

    def load(self, batches: Iterable[Iterable]) -> int:
        """Bulk load (e.g. a world's batches); sorted once at the end."""
        total = sum(self.upsert(batch) for batch in batches)
        self.view()
        return total

    # --- reading ---------------------------------------------------------------------------
    def view(self) -> StoreView:
        view = self._view
        if view is not None:
            return view
        with self._lock:
            if self._view is None:
                self._view = self._rebuild()
            return self._view

    def _rebuild(self) -> StoreView:
        cols = self._cols
        if self._pending:
            for name in cols:
                parts = [cols[name]] + [batch[name] for batch in self._pending]
                if name == "id" and self.string_ids:
                    width = max(part.dtype.itemsize for part in parts)
                    parts = [part.astype(f"S{max(width, 1)}") for part in parts]
                cols[name] = np.concatenate(parts)
            self._pending = []
        ids = cols["id"]
        n = len(ids)
        by_id = np.argsort(ids, kind="stable")  # stable: versions of an id stay in insertion order
        sorted_ids = ids[by_id]
        last = np.ones(n, np.bool_)
        first = np.ones(n, np.bool_)
        if n:
            np.not_equal(sorted_ids[:-1], sorted_ids[1:], out=last[:-1])
            np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=first[1:])
        live = by_id[last]  # newest version of each id, in id order
        id_sorted = sorted_ids[last]
        if self.marker_field is None:
            # Insertion order: the slot of an id's first version (stable even after updates).
            marker_all = np.zeros(n, np.int64)
            marker_all[live] = by_id[first]
        else:
            marker_all = cols["marker"]
        if self._deleted:
            kept = ~np.isin(id_sorted, np.asarray(list(self._deleted), dtype=id_sorted.dtype))
            live, id_sorted = live[kept], id_sorted[kept]
        live_marker = marker_all[live]
        order = np.lexsort((id_sorted, live_marker))
        slots = live[order]
        filter_cols = {name[2:]: col for name, col in cols.items() if name.startswith("c:")}
        self._generation += 1
        return StoreView(
            self.key,
            slots,
            live_marker[order],
            id_sorted[order],
            {name: col[slots] for name, col in filter_cols.items()},
            cols["chunk"],
            cols["off"],
            cols["len"],
            list(self._mvs),
            self._generation,
            id_sorted,
            live,
            filter_cols,
            marker_all,
        )

    def count(self) -> int:
        return len(self.view())

    def iter_records(self) -> Iterator:
        """Decoded current versions in API order (tests and admin)."""
        for batch in self.view().iter_encoded():
            for raw in batch:
                yield orjson.loads(raw)
