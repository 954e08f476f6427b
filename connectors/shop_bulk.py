"""Shopify bulk operations: one asynchronous export instead of thousands of paginated queries
(docs/source_protocol.md A1, bulk operations).

The shop connector runs one for a first sync and for a catch-up after a long pause
(`C360_SHOP_BULK_AFTER_DAYS`): `bulkOperationRunQuery` with the same selection as the paginated query,
polled through `node(id:)` with a growing interval until its status is final, then the JSONL result
is streamed line by line from its `url` (a signed storage URL: it is fetched without the shop's access
token). Nested connections (an order's line items and shipping lines, a checkout's line items) come
as rows of their own carrying `__parentId`; with `groupObjects: true` each parent's rows follow it, so
a node is complete when the next top-level row starts and the export never has to be held in memory.
The rows are put back into the parent as `{"nodes": [...]}` where the paginated query has them, so
raw records are the same whichever way they were read.

The watermark comes with the last page only: the export is not sorted by `updatedAt`, so a watermark
taken earlier could skip records still to be written if the run stopped. A FAILED, CANCELED or
EXPIRED operation stops the sync with its `errorCode`; nothing has moved the watermark then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import requests

from c360 import settings

from .base import EncodedRecords, MalformedRecord, Page, parse_iso_offset
from .errors import SourceError, SourceRequestError, SourceUnavailableError

if TYPE_CHECKING:
    from .shop import ShopClient

log = logging.getLogger(__name__)
T = TypeVar("T")

BULK_PAGE_RECORDS = 1000  # reassembled nodes handed to the landing at a time
FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
# Before 2026-01 an app runs one bulk query per shop at a time; from 2026-01 up to five. A refused
# start for that reason is waited out like a running operation.
BUSY_CODES = ("OPERATION_IN_PROGRESS", "LIMIT_REACHED")
# Failures Shopify calls intermittent ("try performing the same query again"): a later run may succeed.
TRANSIENT_ERROR_CODES = ("INTERNAL_SERVER_ERROR", "TIMEOUT")

RUN_MUTATION = """mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status createdAt }
    userErrors { field message code }
  }
}"""

POLL_QUERY = """query PollBulk($id: ID!) {
  node(id: $id) {
    ... on BulkOperation {
      id status errorCode createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl
    }
  }
}"""


def bulk_query(connection: str, node_fields: str, search: str | None) -> str:
    """The query a bulk operation runs: the whole connection (no `first`, no cursor), oldest change
    first, filtered by `search` for a catch-up."""
    args = "sortKey: UPDATED_AT" + ("" if search is None else f", query: {orjson.dumps(search).decode()}")
    from .shop import FRAGMENTS

    return (f"{{\n  {connection}({args}) {{\n    edges {{\n      node {{{node_fields}\n      }}\n    }}\n  }}\n}}\n"
            f"{FRAGMENTS}")


class BulkAssembler:
    """Puts the flattened rows of a grouped JSONL export back into their parents, one node at a time.

    The node is assembled as JSON text, not as Python objects: the parent's line as received with its
    connections appended (they are the last fields of the selection, so the text equals what the
    paginated query returns), each child's line without its `__typename` and `__parentId`. Building and
    re-serialising the nested objects instead cost 3.9 s of the fetching thread for the 136k orders of
    100k persons, beside 1.6 s for decoding the lines alone (benchmarks/bench_landing.py).

    A child's line is not even decoded when it has the shape the export writes (`_cut_child`): the
    landing only needs the parents' ids and markers, and the warehouse checks each node's JSON as it
    stores it (a node that is not valid JSON is quarantined, `c360.raw_store`). The 362k line items and
    shipping lines of those orders are three in four lines of the export; cutting them instead of
    decoding them took the fetching thread from 3.1-3.5 s of CPU to 2.6-2.9 s.
    """

    def __init__(self, flattened: tuple[tuple[str, str], ...]):
        self.by_type = {typename: field for field, typename in flattened}
        self.fields = [field for field, _ in flattened]
        self.current: bytes | None = None
        self.current_row: Any = None
        self.children: dict[str, list[bytes]] = {}
        self.by_type_bytes = {typename.encode(): field for field, typename in flattened}
        self.child_tail: bytes | None = None

    def feed(self, line: bytes) -> tuple[bytes, Any] | None:
        """Take one JSONL line; returns the previous node (its text and its parent row, which has the
        node's own fields) when the line starts the next one. A child row of the current node is cut
        from the line without decoding it (`_cut_child`); any other line is decoded, and a line that
        cannot be raises orjson.JSONDecodeError before anything changes."""
        line = line.strip()
        if self.child_tail is not None and line.endswith(self.child_tail):
            cut = self._cut_child(line)
            if cut is not None:
                self.children[cut[0]].append(cut[1])
                return None
        row = orjson.loads(line)
        parent = row.get("__parentId") if isinstance(row, dict) else None
        if parent is None:
            done = self.finish()
            self.current, self.current_row = line, row
            self.children = {field: [] for field in self.fields}
            node_id = row.get("id") if isinstance(row, dict) else None
            self.child_tail = (b',"__parentId":' + orjson.dumps(node_id) + b"}"
                               if self.fields and isinstance(node_id, str) else None)
            return done
        typename = row.get("__typename")
        field = self.by_type.get(typename)
        if field is None or not isinstance(self.current_row, dict) or self.current_row.get("id") != parent:
            raise SourceError(f"shop: bulk export row of {parent} does not follow its parent "
                              f"(expected grouped rows of {sorted(self.by_type)}); cannot reassemble it",
                              system="shop", endpoint="bulk operation result", status=200)
        # a row `_cut_child` could not cut (another layout, a parent id written another way): re-serialised
        self.children[field].append(orjson.dumps({key: value for key, value in row.items()
                                                  if key not in ("__typename", "__parentId")}))
        return None

    def _cut_child(self, line: bytes) -> tuple[str, bytes] | None:
        """(field, the row's JSON without `__typename` and `__parentId`) of a line that ends with the
        current node's `__parentId` and starts with a known `__typename`, as the export writes them
        (the selection asks for `__typename` first; Shopify writes `__parentId` last). Inside a JSON
        string a quote is escaped, so neither marker can be part of a value; a download cut short
        leaves a line without the end that `feed` looks for. None: decode the line instead."""
        if not line.startswith(b'{"__typename":"'):
            return None
        end = line.find(b'",', 15)
        field = self.by_type_bytes.get(line[15:end]) if end > 0 else None
        stop = len(line) - len(self.child_tail)
        if field is None or stop <= end + 2:
            return None
        return field, b"{" + line[end + 2:stop] + b"}"

    def finish(self) -> tuple[bytes, Any] | None:
        """The node being assembled: its text, and its parent row."""
        text, row = self.current, self.current_row
        self.current = self.current_row = self.child_tail = None
        if text is None:
            return None
        if not isinstance(row, dict) or not self.fields:
            return text, row
        connections = b",".join(b'"%s":{"nodes":[%s]}' % (field.encode(), b",".join(self.children[field]))
                                for field in self.fields)
        if any(field in row for field in self.fields):  # a parent that has a connection itself: it is replaced
            rest = {key: value for key, value in row.items() if key not in self.fields}
            return orjson.dumps(rest)[:-1] + (b"," if rest else b"") + connections + b"}", row
        return text[:-1] + (b"," if row else b"") + connections + b"}", row


def _data(client: ShopClient, body: Any, field: str) -> Any:
    """`data.<field>` of an answer, or a clear error when the answer is no GraphQL Admin API answer."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or field not in data:
        raise SourceError(f"shop: unexpected response at POST {client.path}: no data.{field}; is the base URL "
                          f"pointing at the shop's Admin API?", system="shop", endpoint=f"POST {client.path}", status=200)
    return data[field]


def _status_error(op: dict, resource: str) -> SourceError:
    status, code = op.get("status"), op.get("errorCode")
    partial = " (partial data exists at its partialDataUrl, not landed)" if op.get("partialDataUrl") else ""
    message = (f"shop: bulk operation {op.get('id')} for {resource} ended {status}, errorCode "
               f"{code or 'none'}{partial}; the watermark was not moved")
    cls = SourceUnavailableError if code in TRANSIENT_ERROR_CODES else SourceRequestError
    return cls(message, system="shop", endpoint="bulk operation", status=200)


def start(client: ShopClient, document: str, resource: str, max_wait: float) -> dict:
    """Start the bulk operation; a refusal because another one runs is retried after a pause."""
    waited, pause = 0.0, client.bulk_poll_interval
    while True:
        payload = _data(client, client.query(RUN_MUTATION, {"query": document}).body, "bulkOperationRunQuery") or {}
        errors = payload.get("userErrors") or []
        if not errors and payload.get("bulkOperation"):
            return payload["bulkOperation"]
        if errors and all(e.get("code") in BUSY_CODES for e in errors) and waited < max_wait:
            log.info("shop: another bulk operation runs; %s waits %.1fs", resource, pause)
            client.sleep(pause)
            waited += pause
            pause = min(pause * 2, 30.0)
            continue
        detail = "; ".join(f"{e.get('message')} [{e.get('code')}]" for e in errors) or "no operation returned"
        raise SourceRequestError(f"shop: bulkOperationRunQuery for {resource} refused: {detail}",
                                 system="shop", endpoint="bulkOperationRunQuery", status=200)


def wait_until_final(client: ShopClient, op_id: str, resource: str, max_wait: float) -> dict:
    """Poll the operation with a growing interval until its status is final."""
    waited, pause = 0.0, client.bulk_poll_interval
    while True:
        op = _data(client, client.query(POLL_QUERY, {"id": op_id}).body, "node") or {}
        if op.get("status") in FINAL_STATUSES:
            return op
        if waited >= max_wait:
            raise SourceUnavailableError(
                f"shop: bulk operation {op_id} for {resource} still {op.get('status')} after {waited:.0f}s "
                f"({op.get('objectCount')} objects so far)", system="shop", endpoint="bulk operation", status=200)
        client.sleep(pause)
        waited += pause
        pause = min(pause * 1.5, 30.0)


DOWNLOAD_CHUNK_BYTES = 64 * 1024


def stream_lines(url: str, expected: int | None, read: Callable[[bytes], T], *, timeout: float,
                 max_retries: int, sleep=time.sleep) -> Iterator[T]:
    """`read` of each JSONL line at `url`. A line `read` cannot decode (orjson.JSONDecodeError: a line
    cut short) and a broken or short download are resumed (the lines already read are skipped), up to
    `max_retries` times; `expected` is the operation's `objectCount`. No credentials are sent: the URL
    is signed."""
    done, failures = 0, 0
    session = requests.Session()
    session.proxies.update(settings.http_proxies(url))
    ca_bundle = settings.http_ca_bundle()
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False
    try:
        while True:
            cause = None
            try:
                with session.get(url, stream=True, timeout=(min(timeout, 10.0), timeout)) as resp:
                    if resp.status_code != 200 and resp.status_code < 500 and resp.status_code != 429:
                        raise SourceRequestError(f"shop: bulk result download answered HTTP {resp.status_code} "
                                                 f"(the URL expires 7 days after the operation)",
                                                 system="shop", endpoint="bulk result", status=resp.status_code)
                    if resp.status_code != 200:
                        cause = f"HTTP {resp.status_code}"
                    else:
                        # requests reads 512 bytes at a time by default: 750,000 reads for 136k orders,
                        # a third of the download's time (7.5 s instead of 10.9 s at 100k persons)
                        for i, line in enumerate(resp.iter_lines(chunk_size=DOWNLOAD_CHUNK_BYTES)):
                            if i < done or not line:
                                continue
                            try:
                                item = read(line)
                            except orjson.JSONDecodeError:
                                cause = f"undecodable line {i + 1}"
                                break
                            done += 1
                            yield item
                        if cause is None and (expected is None or done >= expected):
                            return
                        cause = cause or f"{done} of {expected} objects received"
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                cause = type(exc).__name__
            failures += 1
            if failures > max_retries:
                raise SourceUnavailableError.exhausted("shop", "GET bulk result", failures, cause or "?")
            log.debug("shop: bulk result download broke (%s) after %d rows, resuming", cause, done)
            sleep(min(30.0, 0.25 * 2 ** (failures - 1)))
    finally:
        session.close()


def fetch_bulk(client: ShopClient, resource: str, watermark: str | None) -> Iterator[Page]:
    """The records of `resource` changed since `watermark` (all without one) through a bulk operation."""
    from .shop import CONNECTIONS, FLATTENED, NODE_FIELDS, bulk_connection

    spec = client.resources[resource]
    search = None if watermark is None else f"updated_at:>='{watermark}'"
    document = bulk_query(CONNECTIONS[resource], NODE_FIELDS[resource](bulk_connection), search)
    started = start(client, document, resource, client.bulk_max_wait)
    op = wait_until_final(client, started["id"], resource, client.bulk_max_wait)
    if op.get("status") != "COMPLETED":
        raise _status_error(op, resource)
    # No marker later than the moment the export began counts: a change made while it ran may or may
    # not be in it, and is read again from there.
    try:
        not_after = min(parse_iso_offset(op.get("createdAt") or started.get("createdAt"), "createdAt"),
                        datetime.now(UTC))
    except MalformedRecord:
        not_after = datetime.now(UTC)
    expected = int(op["objectCount"]) if str(op.get("objectCount") or "").isdigit() else None
    log.info("shop: bulk operation %s for %s completed, %s objects", op.get("id"), resource, expected)
    if not op.get("url"):
        yield Page([], None, future_after=datetime.now(UTC) + client.future_tolerance)
        return
    assembler = BulkAssembler(FLATTENED[resource])
    nodes = stream_lines(op["url"], expected, assembler.feed, timeout=client.timeout,
                        max_retries=client.max_retries, sleep=client.sleep)
    yield from _pages(client, spec, nodes, assembler, not_after)


def _pages(client: ShopClient, spec, nodes: Iterator[tuple[bytes, Any] | None], assembler: BulkAssembler,
           not_after: datetime) -> Iterator[Page]:
    best, best_text = None, None
    texts: list[bytes] = []
    ids: list[str | None] = []
    versions: list[datetime | int | None] = []

    def page(last: bool) -> Page:
        return Page(EncodedRecords(list(texts), list(ids), list(versions)), best_text if last else None,
                    future_after=datetime.now(UTC) + client.future_tolerance)

    def take(node: tuple[bytes, Any]) -> None:
        nonlocal best, best_text
        text, row = node  # the row has the node's own fields, its id and marker among them
        try:
            version = spec.record_version(row)
        except MalformedRecord:
            version = None
        try:
            record_id = spec.record_id(row)
        except MalformedRecord:
            record_id = None
        texts.append(text)
        ids.append(record_id)
        versions.append(version)
        if isinstance(version, datetime) and version <= not_after and (best is None or version > best):
            best, best_text = version, row.get(spec.version_field)

    for node in nodes:
        if node is None:
            continue
        take(node)
        if len(texts) >= BULK_PAGE_RECORDS:
            yield page(False)
            texts.clear()
            ids.clear()
            versions.clear()
    node = assembler.finish()
    if node is not None:
        take(node)
    yield page(True)


def bulk_due(watermark: str | None, after: timedelta | None, now: datetime | None = None) -> bool:
    """A bulk operation for a first sync, or when the watermark is older than `after` (None: never)."""
    if after is None:
        return False
    if watermark is None:
        return True
    try:
        moment = parse_iso_offset(watermark, "watermark")
    except MalformedRecord:
        return False  # the paginated path names the unusable watermark
    return (now or datetime.now(UTC)) - moment > after
