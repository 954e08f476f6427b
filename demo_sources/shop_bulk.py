"""The demo shop's bulk operations, as Shopify's GraphQL Admin API runs them (docs/source_protocol.md A1).

`bulkOperationRunQuery(query:, groupObjects:)` starts an operation over one root connection
(`customers`, `orders`, `abandonedCheckouts`, with `sortKey` and an `updated_at` search filter as the
paginated query takes them); `node(id:)`, `bulkOperation(id:)` and `currentBulkOperation` report it.
The status moves one step each time it is asked for (CREATED, RUNNING, then COMPLETED), so tests see
the progression without waiting. The result is JSONL at a signed `url` under the shop's prefix
(`/shop/bulk-results/<n>.jsonl?Expires=..&Signature=..`, fetched without the access token, like the
storage URL Shopify hands out): one line per node, the rows of its nested connections (an order's
`lineItems` and `shippingLines`, a checkout's `lineItems`) on lines of their own right after it, with
`__typename` and `__parentId`. The records are those stored when the operation started.

Before API version 2026-01 a second bulk query while one runs is refused (`OPERATION_IN_PROGRESS`);
from 2026-01 up to five run at once. `shop_bulk_failure` (an error code such as `TIMEOUT`) makes the
next operations end FAILED with it, for tests of that path.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import mmap
import re
import tempfile
import threading

import numpy as np
import orjson

from .api import ApiError, Response
from .shop import GRAPHQL_ROOTS, _graphql_response, _graphql_root, _GraphqlError, _search_bounds
from .shop_graphql import NODES

# root connection -> its nested connections flattened into rows: node field -> the rows' __typename
BULK_FLATTENED = {
    "customers": {},
    "orders": {"lineItems": "LineItem", "shippingLines": "ShippingLine"},
    "abandonedCheckouts": {"lineItems": "AbandonedCheckoutLineItem"},
}
BULK_MUTATION_COST = 10
RESULT_BATCH = 20_000  # records turned into JSONL lines at a time while a result file is written
_RUNNING = ("CREATED", "RUNNING")
_NEXT = {"CREATED": "RUNNING", "RUNNING": "COMPLETED"}
_POLL_RE = re.compile(r"\b(node|bulkOperation)\s*\(\s*id\s*:\s*(\$\w+|\"[^\"]*\")\s*\)")
_SIGNING_KEY = b"demo-shop-bulk-results"


def _signature(number: int) -> str:
    return hmac.new(_SIGNING_KEY, str(number).encode(), hashlib.sha256).hexdigest()[:32]


def bulk_lines(root: str, record: dict) -> list[bytes]:
    """The JSONL lines of one stored record: its node, then the rows of its nested connections."""
    node = NODES[root](record)
    flattened = BULK_FLATTENED[root]
    if not isinstance(node, dict) or not flattened:
        return [orjson.dumps(node)]
    parent = {key: value for key, value in node.items() if key not in flattened}
    lines = [orjson.dumps(parent)]
    for field, typename in flattened.items():
        for child in (node.get(field) or {}).get("nodes") or []:
            lines.append(orjson.dumps({"__typename": typename, **child, "__parentId": node["id"]}))
    return lines


class ShopBulkApi:
    """Bulk query operations of the demo shop; a mixin of `server.SourceApp` beside `ShopGraphqlApi`."""

    _shop_bulk_lock = threading.Lock()
    _shop_bulk_numbers = itertools.count(1)
    shop_bulk_failure: str | None = None

    def _shop_bulk_ops(self) -> dict:
        ops = getattr(self, "_shop_bulk", None)
        if ops is None:
            ops = self._shop_bulk = {}
        return ops

    def shop_bulk_answer(self, query: str, variables: dict, version: str, base: str) -> Response | None:
        """The answer to a bulk operation request, or None for any other query."""
        if "bulkOperationRunQuery" in query:
            return self._shop_bulk_run(query, variables, version, base)
        match = _POLL_RE.search(query)
        if match:
            token = match.group(2)
            op_id = variables.get(token[1:]) if token.startswith("$") else orjson.loads(token)
            return self._shop_bulk_report(match.group(1), op_id)
        if "currentBulkOperation" in query:
            with self._shop_bulk_lock:
                ops = self._shop_bulk_ops()
                latest = ops[max(ops)] if ops else None
                return _bulk_data("currentBulkOperation", self._shop_bulk_step(latest) if latest else None)
        return None

    def _shop_bulk_run(self, query: str, variables: dict, version: str, base: str) -> Response:
        args = re.search(r"bulkOperationRunQuery\s*\(([^)]*)\)", query)
        inner = variables.get("query") if args and "$query" in args.group(1) else None
        if inner is None and args:
            literal = re.search(r'query\s*:\s*("""[\s\S]*?"""|"(?:[^"\\]|\\.)*")', args.group(1))
            inner = literal.group(1).strip('"') if literal else None
        if not isinstance(inner, str):
            raise _GraphqlError("Variable $query of type String! was provided invalid value", "INVALID_VARIABLE")
        try:
            root, root_args = _graphql_root(inner, {})
            low, high = _search_bounds(root, root_args.get("query"))
        except _GraphqlError as exc:
            return _bulk_payload(None, [{"field": ["query"], "message": exc.message, "code": "INVALID"}])
        if "first" in root_args:
            return _bulk_payload(None, [{"field": ["query"], "message": "Bulk queries read whole connections: "
                                         "remove `first` from the root field", "code": "INVALID"}])
        with self._shop_bulk_lock:
            running = [op for op in self._shop_bulk_ops().values() if op["status"] in _RUNNING]
            limit = 5 if version >= "2026-01" or version == "unstable" else 1
            if len(running) >= limit:
                code = "LIMIT_REACHED" if limit > 1 else "OPERATION_IN_PROGRESS"
                message = f"A bulk query operation for this app and shop is already in progress: {running[0]['id']}."
                return _bulk_payload(None, [{"field": None, "message": message, "code": code}])
            number = next(self._shop_bulk_numbers)
            op = {"id": f"gid://shopify/BulkOperation/{number}", "number": number, "status": "CREATED",
                  "createdAt": _shopify_time(self.now()), "completedAt": None, "errorCode": None,
                  "objectCount": "0", "rootObjectCount": "0", "fileSize": None, "url": None,
                  "partialDataUrl": None, "query": inner, "type": "QUERY", "root": root,
                  "view": self._shop_bulk_positions(root, low, high), "base": base, "body": b""}
            self._shop_bulk_ops()[number] = op
            return _bulk_payload(_public(op, ("id", "status", "createdAt")), [])

    def _shop_bulk_positions(self, root: str, low: int | None, high: int | None):
        """(view, positions) of the records the operation exports: those stored now, in the filter."""
        view = self.stores["shop/" + GRAPHQL_ROOTS[root]].view()
        start = view.marker_left(low) if low is not None else 0
        end = view.marker_right(high) if high is not None else len(view)
        return view, np.arange(start, max(start, end))

    def _shop_bulk_report(self, field: str, op_id) -> Response:
        number = _number(op_id)
        with self._shop_bulk_lock:
            op = self._shop_bulk_ops().get(number) if number is not None else None
            return _bulk_data(field, self._shop_bulk_step(op) if op else None)

    def _shop_bulk_step(self, op: dict) -> dict:
        """Move the operation one status on (the caller holds the lock); its public fields."""
        if op["status"] in _NEXT:
            op["status"] = _NEXT[op["status"]]
            if op["status"] == "RUNNING":
                op["objectCount"] = str(len(op["view"][1]) // 2)
            elif self.shop_bulk_failure:
                op.update(status="FAILED", errorCode=self.shop_bulk_failure, completedAt=_shopify_time(self.now()))
            else:
                self._shop_bulk_complete(op)
        return _public(op, ("id", "status", "errorCode", "createdAt", "completedAt", "objectCount",
                            "rootObjectCount", "fileSize", "url", "partialDataUrl", "query", "type"))

    def _shop_bulk_complete(self, op: dict) -> None:
        view, positions = op.pop("view")
        op["body"], lines = _write_result(op["root"], view, positions)
        number = op["number"]
        op.update(status="COMPLETED", completedAt=_shopify_time(self.now()), objectCount=str(lines),
                  rootObjectCount=str(len(positions)), fileSize=str(len(op["body"])) if lines else None,
                  url=(f"{op['base']}/bulk-results/{number}.jsonl?Expires=604800&Signature={_signature(number)}"
                       if lines else None))

    def shop_bulk_result(self, rest: str, params: dict) -> Response:
        """The JSONL of a completed operation; a missing or wrong signature is refused like storage does."""
        number = int(re.search(r"(\d+)", rest).group(1))
        with self._shop_bulk_lock:
            op = self._shop_bulk_ops().get(number)
        if op is None or op["status"] != "COMPLETED" or not hmac.compare_digest(
                params.get("Signature", ""), _signature(number)):
            raise ApiError(403, "AccessDenied: Access denied.")
        return Response(200, op["body"], "application/jsonl")


def _write_result(root: str, view, positions: np.ndarray) -> tuple[bytes | mmap.mmap, int]:
    """(the JSONL result of the operation, its line count). The lines are written to a temporary file a
    batch of records at a time and served from a read-only map of it: at 1M persons the orders' result
    is gigabytes, which held as bytes took the demo sources past 23 GB and the kernel killed them. The
    file is unlinked at once; the map keeps its pages until the operation is dropped."""
    lines = 0
    with tempfile.TemporaryFile(prefix="c360-demo-bulk-") as out:
        for start in range(0, len(positions), RESULT_BATCH):
            batch = [line for raw in view.encoded(positions[start:start + RESULT_BATCH])
                     for line in bulk_lines(root, orjson.loads(bytes(raw)))]
            out.write(b"".join(line + b"\n" for line in batch))
            lines += len(batch)
        out.flush()
        if not out.tell():
            return b"", 0
        return mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ), lines


def _number(op_id) -> int | None:
    match = re.fullmatch(r"gid://shopify/BulkOperation/(\d+)", op_id) if isinstance(op_id, str) else None
    return int(match.group(1)) if match else None


def _public(op: dict, fields: tuple[str, ...]) -> dict:
    return {field: op.get(field) for field in fields}


def _shopify_time(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bulk_payload(operation: dict | None, user_errors: list) -> Response:
    data = {"bulkOperationRunQuery": {"bulkOperation": operation, "userErrors": user_errors}}
    status = {"maximumAvailable": 2000.0, "currentlyAvailable": 2000 - BULK_MUTATION_COST, "restoreRate": 100.0}
    return _graphql_response({"data": data}, {"cost": {"requestedQueryCost": BULK_MUTATION_COST,
                                                        "actualQueryCost": BULK_MUTATION_COST,
                                                        "throttleStatus": status}})


def _bulk_data(field: str, operation: dict | None) -> Response:
    status = {"maximumAvailable": 2000.0, "currentlyAvailable": 1999, "restoreRate": 100.0}
    return _graphql_response({"data": {field: operation}}, {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1,
                                                                     "throttleStatus": status}})
