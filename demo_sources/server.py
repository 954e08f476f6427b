"""HTTP server of the demo source systems: shop, ERP, helpdesk and accounting on one port.

Every system speaks its API as fixed in `../shared/SOURCE_APIS.md` and `docs/source_protocol.md`
under its own prefix (`/shop`, `/erp`, `/helpdesk`, `/accounting`); the admin endpoints live
under `/_admin`. Records are served from `ResourceStore`s (encoded once, paged by binary search),
throttling and faults come from a `FaultProfile`.

    server = SourceServer(world, port=0, faults="flaky").start()
    requests.get(server.url("shop") + "/admin/api/2024-10/customers.json", headers=...)
    server.shutdown()

Set `C360_SOURCES_ACCESS_LOG=1` for a one-line access log on stderr (never with credentials).

The admin endpoints need no credentials, so they answer only a local operator (see `AdminGuard`):
loopback clients whose `Host` names this server, and browsers only from the same origin. Set
`C360_SOURCES_ADMIN_HOSTS` (comma-separated host names) to allow more names, e.g. behind a proxy.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from c360.settings import SourceCredentials
from demo_sources.faults import Decision, FaultInjector, FaultProfile, resolve_profile
from demo_sources.store import RESOURCE_KEYS, ResourceStore, parse_marker, to_epoch_us
from demo_sources.world import ACCOUNTING_WINDOW

log = logging.getLogger(__name__)

SYSTEMS = ("shop", "erp", "helpdesk", "accounting")
BERLIN = ZoneInfo("Europe/Berlin")
HOLDBACK_US = 60_000_000
SHOP_MAX_LIMIT = 250
SHOP_DEFAULT_LIMIT = 50
HELPDESK_MAX_PAGE = 1000
ACCOUNTING_MAX_SIZE = 250
ACCOUNTING_DEFAULT_SIZE = 25
ACCESS_LOG_ENV = "C360_SOURCES_ACCESS_LOG"
ADMIN_HOSTS_ENV = "C360_SOURCES_ADMIN_HOSTS"

_SHOP_PATH = re.compile(r"admin/api/(\d{4}-\d{2})/(customers|orders|checkouts)\.json")
_SHOP_STATUSES = ("open", "closed", "cancelled", "any")
_ERP_PATH = re.compile(r"json/2/([A-Za-z0-9_.]+)/([A-Za-z_]+)")
_HELPDESK_PATH = re.compile(r"api/v2/incremental/(users|tickets|survey_responses)/cursor\.json")
_ACCOUNTING_PATH = re.compile(r"v1/(contacts|voucherlist|payments)")
_ACCOUNTING_RESOURCE = {"contacts": "contacts", "voucherlist": "vouchers", "payments": "payments"}


class ApiError(Exception):
    """An error answer in the style of the system that raises it."""

    def __init__(self, status: int, message: str, *, code: str | None = None, details=None, shop_errors=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details
        self.shop_errors = shop_errors


class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status: int, body: bytes, content_type: str = "application/json", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


def _json(status: int, payload, headers=None) -> Response:
    return Response(status, orjson.dumps(payload), "application/json", headers)


def _b64(payload) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def _unb64(token: str):
    try:
        padded = token + "=" * (-len(token) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None


def _int_param(params: dict, name: str, default: int | None, low: int, high: int | None, error: Callable) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise error(name, "is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(name, "must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise error(name, f"must be {bound}")
    return value


def _scan(mask_fn: Callable[[int, int], np.ndarray], start: int, end: int, need: int | None) -> np.ndarray:
    """View positions in [start, end) where the mask holds, the first `need` of them (all if None).

    Reads growing windows so that a page costs about its own size, not the size of the store.
    """
    if start >= end:
        return np.empty(0, np.int64)
    if need is None:
        return np.flatnonzero(mask_fn(start, end)) + start
    found: list[np.ndarray] = []
    got = 0
    window = max(need * 2, 1024)
    pos = start
    while pos < end and got < need:
        hi = min(end, pos + window)
        hits = np.flatnonzero(mask_fn(pos, hi)) + pos
        found.append(hits)
        got += len(hits)
        pos = hi
        window = min(window * 4, 1 << 22)
    hits = np.concatenate(found) if len(found) > 1 else found[0]
    return hits[:need]


# ----------------------------------------------------------------------------------------------
# ERP domains
# ----------------------------------------------------------------------------------------------
_ERP_DOMAIN_FIELDS = ("write_date", "id", "active")
_ERP_OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "not in")


class _Bounds:
    """What a domain implies about write_date and id (for a cheap start/end of the scan)."""

    __slots__ = ("wd_lo", "wd_hi", "id_lo", "id_hi", "key_lo")

    def __init__(self, wd_lo=None, wd_hi=None, id_lo=None, id_hi=None, key_lo=None):
        self.wd_lo, self.wd_hi, self.id_lo, self.id_hi, self.key_lo = wd_lo, wd_hi, id_lo, id_hi, key_lo


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)


def _min_all(a, b):
    return None if a is None or b is None else min(a, b)


def _max_all(a, b):
    return None if a is None or b is None else max(a, b)


class ErpDomain:
    """An Odoo prefix-notation domain over write_date, id and active, evaluated with numpy masks."""

    def __init__(self, domain, model: str, known_fields: set[str]):
        if domain is None:
            domain = []
        if not isinstance(domain, list):
            raise ApiError(422, "The domain must be a list", code="odoo.exceptions.ValidationError")
        self.model = model
        self.known_fields = known_fields
        self.mentions_active = False
        self._items = domain
        nodes = []
        i = 0
        while i < len(domain):
            node, i = self._parse(i)
            nodes.append(node)
        tree = None
        for node in nodes:
            tree = node if tree is None else ("&", tree, node)
        self.tree = tree

    def _error(self, message: str) -> ApiError:
        return ApiError(422, message, code="odoo.exceptions.ValidationError")

    def _parse(self, i: int):
        items = self._items
        if i >= len(items):
            raise self._error("Invalid domain: an operator is missing its operands")
        token = items[i]
        if token in ("&", "|"):
            left, i = self._parse(i + 1)
            right, i = self._parse(i)
            return (token, left, right), i
        if token == "!":
            child, i = self._parse(i + 1)
            return ("!", child), i
        if isinstance(token, (list, tuple)) and len(token) == 3:
            return self._leaf(*token), i + 1
        raise self._error(f"Invalid domain term {token!r}")

    def _leaf(self, field, op, value):
        if not isinstance(field, str) or not isinstance(op, str):
            raise self._error(f"Invalid domain term {[field, op, value]!r}")
        op = op.lower()
        if field not in _ERP_DOMAIN_FIELDS:
            if self.known_fields and field not in self.known_fields:
                raise self._error(f"Invalid field {field!r} on model {self.model!r}")
            raise self._error(
                f"Invalid field {field!r} in domain: the demo ERP filters {self.model!r} only on "
                f"{', '.join(_ERP_DOMAIN_FIELDS)}"
            )
        if op not in _ERP_OPS:
            raise self._error(f"Invalid operator {op!r} in domain term {[field, op, value]!r}")
        if field == "active":
            self.mentions_active = True
        if op in ("in", "not in"):
            if not isinstance(value, (list, tuple)):
                raise self._error(f"Operator {op!r} needs a list in domain term {[field, op, value]!r}")
            converted = [self._value(field, v) for v in value]
        else:
            converted = self._value(field, value)
        return ("leaf", field, op, converted)

    def _value(self, field: str, value):
        if value is False or value is None:
            return None  # Odoo's "not set"; no record has an unset id or write_date
        if field == "write_date":
            if isinstance(value, str):
                marker = parse_marker(value if len(value) > 10 else value + " 00:00:00")
                if marker is not None:
                    return marker
            raise self._error(f"Invalid datetime {value!r} for field 'write_date' (expected 'YYYY-MM-DD HH:MM:SS')")
        if field == "id":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise self._error(f"Invalid value {value!r} for field 'id' (expected an integer)")
        if isinstance(value, bool):
            return value
        raise self._error(f"Invalid value {value!r} for field 'active' (expected a boolean)")

    # --- evaluation ----------------------------------------------------------------------------
    def mask(self, view, lo: int, hi: int) -> np.ndarray:
        if self.tree is None:
            return np.ones(hi - lo, np.bool_)
        return self._eval(self.tree, view, lo, hi)

    def _eval(self, node, view, lo, hi) -> np.ndarray:
        kind = node[0]
        if kind == "&":
            return self._eval(node[1], view, lo, hi) & self._eval(node[2], view, lo, hi)
        if kind == "|":
            return self._eval(node[1], view, lo, hi) | self._eval(node[2], view, lo, hi)
        if kind == "!":
            return ~self._eval(node[1], view, lo, hi)
        _, field, op, value = node
        if field == "write_date":
            column = view.marker[lo:hi]
        elif field == "id":
            column = view.ids[lo:hi]
        else:
            column = view.cols["active"][lo:hi] if "active" in view.cols else np.ones(hi - lo, np.bool_)
        if op in ("in", "not in"):
            present = [v for v in value if v is not None]
            hits = np.isin(column, np.asarray(present, dtype=column.dtype)) if present else np.zeros(hi - lo, np.bool_)
            return hits if op == "in" else ~hits
        if value is None:
            # "= False" matches unset values (none here); "!= False" matches every set value.
            if field == "active":
                value = False
            elif op == "=":
                return np.zeros(hi - lo, np.bool_)
            elif op == "!=":
                return np.ones(hi - lo, np.bool_)
            else:
                return np.zeros(hi - lo, np.bool_)
        if op == "=":
            return column == value
        if op == "!=":
            return column != value
        if op == ">":
            return column > value
        if op == ">=":
            return column >= value
        if op == "<":
            return column < value
        return column <= value

    # --- bounds -------------------------------------------------------------------------------
    def bounds(self) -> _Bounds:
        return self._bounds(self.tree) if self.tree is not None else _Bounds()

    def _bounds(self, node) -> _Bounds:
        kind = node[0]
        if kind == "leaf":
            _, field, op, value = node
            b = _Bounds()
            if field in ("write_date", "id"):
                lo = hi = None
                if op in ("in",):
                    present = [v for v in value if v is not None]
                    if present:
                        lo, hi = min(present), max(present)
                    else:
                        lo, hi = 1, 0  # nothing matches
                elif value is not None:
                    lo = value if op in ("=", ">=") else value + 1 if op == ">" else None
                    hi = value if op in ("=", "<=") else value - 1 if op == "<" else None
                if field == "write_date":
                    b.wd_lo, b.wd_hi = lo, hi
                    if lo is not None:
                        b.key_lo = (lo, None)
                else:
                    b.id_lo, b.id_hi = lo, hi
            return b
        if kind == "!":
            return _Bounds()
        left, right = self._bounds(node[1]), self._bounds(node[2])
        if kind == "&":
            b = _Bounds(
                _max(left.wd_lo, right.wd_lo), _min(left.wd_hi, right.wd_hi),
                _max(left.id_lo, right.id_lo), _min(left.id_hi, right.id_hi),
            )
            keys = [k for k in (left.key_lo, right.key_lo) if k is not None]
            if b.wd_lo is not None:
                if b.wd_hi == b.wd_lo and b.id_lo is not None:
                    keys.append((b.wd_lo, b.id_lo))
                else:
                    keys.append((b.wd_lo, None))
            b.key_lo = max(keys, key=lambda k: (k[0], -math.inf if k[1] is None else k[1])) if keys else None
            return b
        b = _Bounds(
            _min_all(left.wd_lo, right.wd_lo), _max_all(left.wd_hi, right.wd_hi),
            _min_all(left.id_lo, right.id_lo), _max_all(left.id_hi, right.id_hi),
        )
        if left.key_lo is not None and right.key_lo is not None:
            b.key_lo = min(
                (left.key_lo, right.key_lo), key=lambda k: (k[0], -math.inf if k[1] is None else k[1])
            )
        return b


# ----------------------------------------------------------------------------------------------
# The application: routing, auth, the four APIs and the admin endpoints
# ----------------------------------------------------------------------------------------------
class SourceApp:
    def __init__(self, world, profile: FaultProfile, credentials: SourceCredentials, fault_seed: int):
        self.world = world
        self.profile = profile
        self.credentials = credentials
        self.injector = FaultInjector(profile, fault_seed)
        self._advance_lock = threading.Lock()
        self._filter_cache: OrderedDict = OrderedDict()
        self._filter_cache_lock = threading.Lock()
        self.stores: dict[str, ResourceStore] = {}
        for key in RESOURCE_KEYS:
            store = ResourceStore(key, self.now_us)
            store.load(self._world_batches(key))
            self.stores[key] = store
        helpdesk_auth = f"{credentials.helpdesk_email}/token:{credentials.helpdesk_token}"
        self._auth = {
            "shop": credentials.shop_token.encode(),
            "erp": f"bearer {credentials.erp_api_key}".lower().encode(),
            "helpdesk": ("Basic " + base64.b64encode(helpdesk_auth.encode()).decode()).encode(),
            "accounting": f"bearer {credentials.accounting_api_key}".lower().encode(),
        }
        self._erp_key = credentials.erp_api_key.encode()
        self._accounting_key = credentials.accounting_api_key.encode()

    def _world_batches(self, key: str):
        if hasattr(self.world, "iter_record_batches"):
            try:
                yield from self.world.iter_record_batches(key)
                return
            except KeyError:
                return
        batch = []
        for record in self.world.iter_records(key):
            batch.append(record)
            if len(batch) >= 50_000:
                yield batch
                batch = []
        if batch:
            yield batch

    # --- clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        now = self.world.now
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def now_us(self) -> int:
        return to_epoch_us(self.now())

    # --- auth ---------------------------------------------------------------------------------
    def authorized(self, system: str, headers) -> bool:
        if system == "shop":
            given = headers.get("X-Shop-Access-Token", "")
            return hmac.compare_digest(given.encode(), self._auth["shop"])
        if system == "helpdesk":
            given = headers.get("Authorization", "").strip()
            if given[:6].lower() != "basic ":
                return False
            return hmac.compare_digest(("Basic " + given[6:].strip()).encode(), self._auth["helpdesk"])
        expected = self._erp_key if system == "erp" else self._accounting_key
        scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

    # --- errors in each system's style --------------------------------------------------------
    def error(self, system: str, status: int, message: str, *, code=None, details=None, shop_errors=None,
              path: str = "", headers=None) -> Response:
        if system == "shop":
            return _json(status, {"errors": shop_errors if shop_errors is not None else message}, headers)
        if system == "erp":
            name = code or {
                401: "werkzeug.exceptions.Unauthorized",
                404: "werkzeug.exceptions.NotFound",
                405: "werkzeug.exceptions.MethodNotAllowed",
                400: "werkzeug.exceptions.BadRequest",
                500: "werkzeug.exceptions.InternalServerError",
            }.get(status, "odoo.exceptions.ValidationError")
            return _json(status, {"name": name, "message": message, "arguments": [message], "context": {},
                                  "debug": f"Traceback (most recent call last):\n{name}: {message}"}, headers)
        if system == "helpdesk":
            default_code = {400: "InvalidValue", 401: "Unauthorized", 404: "InvalidEndpoint",
                            405: "MethodNotAllowed", 429: "TooManyRequests"}.get(status, "InternalError")
            return _json(status, {"error": code or default_code, "description": message,
                                  "details": details if details is not None else {}}, headers)
        if system == "accounting":
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
            return _json(status, {
                "timestamp": datetime.now(BERLIN).isoformat(timespec="milliseconds"),
                "status": status, "error": phrase, "path": path, "traceId": uuid.uuid4().hex[:16],
                "message": message, "details": details if details is not None else [],
            }, headers)
        return _json(status, {"error": HTTPStatus(status).phrase, "message": message}, headers)

    def too_many(self, system: str, decision: Decision, path: str) -> Response:
        if system == "shop":
            rate = self.profile.throttle.get("shop")
            per_second = f"{rate.rate:g}" if rate is not None else "2"
            wait = max(decision.retry_after, 0.001)
            return _json(429, {"errors": f"Exceeded {per_second} calls per second for api client. "
                                         "Reduce request rates to resume uninterrupted service."},
                         [("Retry-After", f"{wait:.3f}")])
        if system == "erp":
            return Response(429, b"Too many requests, please slow down.\n", "text/plain; charset=utf-8")
        if system == "helpdesk":
            wait = max(1, math.ceil(decision.retry_after))
            return self.error("helpdesk", 429, "Rate limit exceeded. Try again later.",
                              code="TooManyRequests", headers=[("Retry-After", str(wait))])
        return self.error("accounting", 429, "Rate limit exceeded", path=path)

    def server_error(self, system: str, status: int, path: str) -> Response:
        if status == 502 or (status == 503 and system == "erp"):
            phrase = HTTPStatus(status).phrase
            html = (f"<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}"
                    f"</h1></center><hr><center>nginx</center></body></html>\n").encode()
            return Response(status, html, "text/html; charset=utf-8")
        message = "Internal server error" if status == 500 else "Service temporarily unavailable"
        return self.error(system, status, message, path=path,
                          shop_errors="Internal Server Error" if status == 500 else "Service Unavailable")

    # --- dispatch -----------------------------------------------------------------------------
    def route(self, system: str, method: str, rest: str, params: dict, body: bytes, base: str) -> Response:
        try:
            if system == "shop":
                return self.shop(method, rest, params, base)
            if system == "erp":
                return self.erp(method, rest, body)
            if system == "helpdesk":
                return self.helpdesk(method, rest, params, base)
            return self.accounting(method, rest, params)
        except ApiError as exc:
            return self.error(system, exc.status, exc.message, code=exc.code, details=exc.details,
                              shop_errors=exc.shop_errors, path=f"/{rest}")

    # --- shop ---------------------------------------------------------------------------------
    @staticmethod
    def _shop_param_error(name: str, message: str) -> ApiError:
        return ApiError(400, message, shop_errors={name: [message]})

    def shop(self, method: str, rest: str, params: dict, base: str) -> Response:
        match = _SHOP_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "Not Found")
        if method != "GET":
            raise ApiError(405, "Method Not Allowed")
        version, resource = match.groups()
        view = self.stores["shop/" + resource].view()
        limit = _int_param(params, "limit", SHOP_DEFAULT_LIMIT, 1, SHOP_MAX_LIMIT, self._shop_param_error)
        if "page_info" in params:
            others = sorted(set(params) - {"page_info", "limit"})
            if others:
                raise self._shop_param_error(
                    "page_info", f"page_info can only be combined with limit, not with {', '.join(others)}"
                )
            cursor = _unb64(params["page_info"])
            if (not isinstance(cursor, dict) or cursor.get("r") != resource or not isinstance(cursor.get("m"), int)
                    or not isinstance(cursor.get("i"), int)):
                raise self._shop_param_error("page_info", "Invalid value.")
            low, high, status = cursor.get("min"), cursor.get("max"), cursor.get("st", "any")
            if not all(v is None or type(v) is int for v in (low, high)) or status not in _SHOP_STATUSES:
                raise self._shop_param_error("page_info", "Invalid value.")
            start = view.position_after(cursor["m"], cursor["i"])
        else:
            low = self._shop_time(params, "updated_at_min")
            high = self._shop_time(params, "updated_at_max")
            status = params.get("status", "open" if resource == "orders" else "any") or "any"
            if resource != "orders":
                status = "any"
            elif status not in _SHOP_STATUSES:
                raise self._shop_param_error("status", "is invalid")
            start = view.marker_left(low) if low is not None else 0
        end = view.marker_right(high) if high is not None else len(view)
        if status == "any" or "open" not in view.cols:
            positions = np.arange(start, max(start, min(end, start + limit + 1)))
        else:
            column = view.cols["open"]
            want_open = status == "open"
            positions = _scan(
                (lambda a, b: column[a:b]) if want_open else (lambda a, b: ~column[a:b]), start, end, limit + 1
            )
        more = len(positions) > limit
        positions = positions[:limit]
        records = view.encoded(positions)
        body = b"".join((b'{"', resource.encode(), b'":[', b",".join(records), b"]}"))
        headers = []
        if more:
            last = positions[-1]
            page_info = _b64({"r": resource, "m": int(view.marker[last]), "i": int(view.ids[last]),
                              "min": low, "max": high, "st": status})
            headers.append(("Link", f'<{base}/admin/api/{version}/{resource}.json?limit={limit}'
                                    f'&page_info={page_info}>; rel="next"'))
        return Response(200, body, "application/json; charset=utf-8", headers)

    def _shop_time(self, params: dict, name: str) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            moment = datetime.fromisoformat(raw.replace(" ", "+") if raw.count(" ") == 1 and "T" in raw else raw)
        except ValueError:
            raise self._shop_param_error(name, f"{raw!r} is not a valid ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BERLIN)
        return to_epoch_us(moment)

    # --- erp ----------------------------------------------------------------------------------
    @staticmethod
    def _erp_error(message: str) -> ApiError:
        return ApiError(422, message, code="odoo.exceptions.ValidationError")

    def erp(self, method: str, rest: str, body: bytes) -> Response:
        match = _ERP_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "Not Found: the requested URL was not found on the server.")
        model, call = match.groups()
        if method != "POST":
            raise ApiError(405, "Method Not Allowed: the JSON-2 API takes POST requests")
        store = self.stores.get("erp/" + model)
        if store is None:
            raise self._erp_error(f"Object {model} doesn't exist")
        if call not in ("search_read", "search_count"):
            raise ApiError(404, f"Not Found: method {call!r} is not available on {model}")
        try:
            args = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            raise ApiError(400, "Bad Request: the body is not valid JSON", code="werkzeug.exceptions.BadRequest") from None
        if not isinstance(args, dict):
            raise ApiError(400, "Bad Request: the body must be a JSON object", code="werkzeug.exceptions.BadRequest")
        unknown = sorted(set(args) - {"domain", "fields", "offset", "limit", "order", "context"})
        if unknown:
            raise self._erp_error(f"{model}.{call}() got an unexpected keyword argument {unknown[0]!r}")
        domain = ErpDomain(args.get("domain"), model, store.fields)
        context = args.get("context") or {}
        if not isinstance(context, dict):
            raise self._erp_error("context must be an object")
        active_test = context.get("active_test", True) is not False and not domain.mentions_active
        offset = args.get("offset") or 0
        limit = args.get("limit")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise self._erp_error(f"Invalid offset {offset!r}")
        if limit is False or limit == 0:
            limit = None
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise self._erp_error(f"Invalid limit {limit!r}")
        order = " ".join(str(args.get("order") or "id asc").replace(",", ", ").lower().split())
        if order in ("id", "id asc"):
            by_time = False
        elif order in ("write_date asc, id asc", "write_date, id", "write_date asc, id", "write_date, id asc"):
            by_time = True
        else:
            raise self._erp_error(f"Invalid order {args.get('order')!r}: use 'write_date asc, id asc' or 'id asc'")
        fields = args.get("fields")
        if fields is not None and fields is not False:
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                raise self._erp_error("fields must be a list of field names")
            for name in fields:
                if store.fields and name not in store.fields:
                    raise self._erp_error(f"Invalid field {name!r} on model {model!r}")

        view = store.view()
        bounds = domain.bounds()
        if by_time:
            start, end = 0, len(view)
            if bounds.key_lo is not None:
                m, i = bounds.key_lo
                start = view.marker_left(m) if i is None else view.position_after(m, i, inclusive=True)
            if bounds.wd_hi is not None:
                end = view.marker_right(bounds.wd_hi)
        else:
            view = view.by_id()
            start, end = 0, len(view)
            if bounds.id_lo is not None:
                start = int(np.searchsorted(view.ids, bounds.id_lo, side="left"))
            if bounds.id_hi is not None:
                end = int(np.searchsorted(view.ids, bounds.id_hi, side="right"))
        active = view.cols.get("active") if active_test else None

        if active is not None and domain.tree is None:
            mask_fn = lambda a, b: active[a:b]  # noqa: E731
        elif active is not None:
            mask_fn = lambda a, b: domain.mask(view, a, b) & active[a:b]  # noqa: E731
        elif domain.tree is not None:
            mask_fn = lambda a, b: domain.mask(view, a, b)  # noqa: E731
        else:
            mask_fn = None

        if call == "search_count":
            count = (end - start if start < end else 0) if mask_fn is None else len(_scan(mask_fn, start, end, None))
            return Response(200, str(count).encode())
        need = None if limit is None else offset + limit
        if mask_fn is None:
            stop = end if need is None else min(end, start + need)
            positions = np.arange(start + offset, max(start + offset, stop))
        else:
            positions = _scan(mask_fn, start, end, need)[offset:]
        records = view.encoded(positions)
        if fields and not set(store.fields) <= set(fields):
            records = [orjson.dumps(self._project(orjson.loads(raw), fields)) for raw in records]
        return Response(200, b"".join((b"[", b",".join(records), b"]")), "application/json; charset=utf-8")

    @staticmethod
    def _project(record, fields: list[str]):
        if not isinstance(record, dict):
            return record
        projected = {"id": record.get("id", False)}
        for name in fields:
            projected[name] = record.get(name, False)
        return projected

    # --- helpdesk -----------------------------------------------------------------------------
    @staticmethod
    def _helpdesk_param_error(name: str, message: str) -> ApiError:
        return ApiError(400, f"{name} {message}", code="InvalidValue",
                        details={name: [{"description": f"{name} {message}", "error": "InvalidValue"}]})

    def helpdesk(self, method: str, rest: str, params: dict, base: str) -> Response:
        match = _HELPDESK_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "The page you were looking for doesn't exist", code="InvalidEndpoint")
        if method != "GET":
            raise ApiError(405, "Method not allowed", code="MethodNotAllowed")
        resource = match.group(1)
        view = self.stores["helpdesk/" + resource].view()
        horizon = self.now_us() - HOLDBACK_US
        visible = view.marker_right(horizon)
        per_page = _int_param(params, "per_page", HELPDESK_MAX_PAGE, 1, HELPDESK_MAX_PAGE, self._helpdesk_param_error)
        if params.get("cursor"):
            cursor = _unb64(params["cursor"])
            if (not isinstance(cursor, dict) or cursor.get("r") != resource or not isinstance(cursor.get("m"), int)
                    or not (cursor.get("i") is None or isinstance(cursor.get("i"), int))):
                raise ApiError(400, "cursor is invalid", code="InvalidCursor", details={"cursor": params["cursor"]})
        elif params.get("start_time") not in (None, ""):
            try:
                start_time = int(params["start_time"])
            except ValueError:
                raise self._helpdesk_param_error("start_time", "must be a unix timestamp in seconds") from None
            if start_time < 0:
                raise self._helpdesk_param_error("start_time", "must not be negative")
            if start_time * 1_000_000 > horizon:
                raise ApiError(400, "Too recent start_time. Use a start_time older than 1 minute",
                               code="InvalidValue",
                               details={"start_time": [{"description": "Too recent start_time", "error": "InvalidValue"}]})
            cursor = {"r": resource, "m": start_time * 1_000_000, "i": None}
        else:
            raise self._helpdesk_param_error("start_time", "is required (or give a cursor)")
        if cursor["i"] is None:
            start = view.marker_left(cursor["m"])
        else:
            start = view.position_after(cursor["m"], cursor["i"])
        stop = max(start, min(visible, start + per_page))
        records = view.encoded(slice(start, stop))
        if stop > start:
            cursor = {"r": resource, "m": int(view.marker[stop - 1]), "i": int(view.ids[stop - 1])}
        after = _b64(cursor)
        after_url = f"{base}/api/v2/incremental/{resource}/cursor.json?cursor={after}"
        if "per_page" in params:
            after_url += f"&per_page={per_page}"
        end_of_stream = stop >= visible
        body = b"".join((
            b'{"', resource.encode(), b'":[', b",".join(records), b'],"after_cursor":', orjson.dumps(after),
            b',"after_url":', orjson.dumps(after_url), b',"before_cursor":null,"before_url":null,"end_of_stream":',
            b"true" if end_of_stream else b"false", b"}",
        ))
        return Response(200, body, "application/json; charset=utf-8")

    # --- accounting ---------------------------------------------------------------------------
    @staticmethod
    def _accounting_param_error(name: str, message: str) -> ApiError:
        return ApiError(400, f"{name} {message}", details=[{"violation": message, "field": name}])

    def _accounting_day(self, params: dict, name: str, next_day: bool = False) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise self._accounting_param_error(name, "must be a date yyyy-MM-dd") from None
        if len(raw) != 10:
            raise self._accounting_param_error(name, "must be a date yyyy-MM-dd")
        if next_day:
            day += timedelta(days=1)
        return to_epoch_us(datetime(day.year, day.month, day.day, tzinfo=BERLIN))

    def _codes(self, store: ResourceStore, column: str, raw: str | None, name: str):
        if raw is None or raw.strip() == "" or "any" in [v.strip() for v in raw.split(",")]:
            return None
        vocab = store.vocab.get(column, {})
        return tuple(sorted({vocab.get(v.strip(), -2) for v in raw.split(",") if v.strip()}))

    def _filtered(self, view, lo: int, hi: int, filters: tuple) -> np.ndarray:
        key = (view.key, view.generation, lo, hi, filters)
        with self._filter_cache_lock:
            hit = self._filter_cache.get(key)
            if hit is not None:
                self._filter_cache.move_to_end(key)
                return hit
        mask = np.ones(max(0, hi - lo), np.bool_)
        for column, codes in filters:
            if codes is not None:
                mask &= np.isin(view.cols[column][lo:hi], np.asarray(codes, np.int16))
        positions = np.flatnonzero(mask) + lo
        with self._filter_cache_lock:
            self._filter_cache[key] = positions
            while len(self._filter_cache) > 16:
                self._filter_cache.popitem(last=False)
        return positions

    def accounting(self, method: str, rest: str, params: dict) -> Response:
        match = _ACCOUNTING_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "Not Found")
        if method != "GET":
            raise ApiError(405, "Method Not Allowed")
        endpoint = match.group(1)
        resource = _ACCOUNTING_RESOURCE[endpoint]
        store = self.stores["accounting/" + resource]
        page = _int_param(params, "page", 0, 0, None, self._accounting_param_error)
        size = _int_param(params, "size", ACCOUNTING_DEFAULT_SIZE, 1, ACCOUNTING_MAX_SIZE, self._accounting_param_error)
        view = store.view()
        if endpoint == "contacts":
            lo, hi, positions = 0, len(view), None
        else:
            if (page + 1) * size > ACCOUNTING_WINDOW:
                raise ApiError(400, f"The requested page reaches past result {ACCOUNTING_WINDOW}: narrow the "
                                    f"updatedDate window ((page + 1) * size must be at most {ACCOUNTING_WINDOW})",
                               details=[{"violation": "result window too large", "field": "page"}])
            start_day = self._accounting_day(params, "updatedDateFrom")
            end_day = self._accounting_day(params, "updatedDateTo", next_day=True)
            lo = view.marker_left(start_day) if start_day is not None else 0
            hi = view.marker_left(end_day) if end_day is not None else len(view)
            hi = max(lo, hi)
            positions = None
            if endpoint == "voucherlist":
                raw_type = params.get("voucherType")
                if not raw_type:
                    raise self._accounting_param_error("voucherType", "is required")
                filters = (
                    ("voucherType", self._codes(store, "voucherType", raw_type, "voucherType")),
                    ("voucherStatus", self._codes(store, "voucherStatus", params.get("voucherStatus"), "voucherStatus")),
                )
                if any(codes is not None for _, codes in filters):
                    positions = self._filtered(view, lo, hi, filters)
        total = (hi - lo) if positions is None else len(positions)
        first = page * size
        if positions is None:
            page_positions = slice(lo + min(first, total), lo + min(first + size, total))
        else:
            page_positions = positions[first:first + size]
        records = view.encoded(page_positions)
        total_pages = math.ceil(total / size)
        meta = orjson.dumps({
            "first": page == 0, "last": page >= total_pages - 1, "totalPages": total_pages,
            "totalElements": total, "numberOfElements": len(records), "size": size, "number": page,
        })
        body = b"".join((b'{"content":[', b",".join(records), b"],", meta[1:]))
        return Response(200, body, "application/json; charset=utf-8")

    # --- admin --------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "now": self.now().isoformat(),
            "profile": self.profile.name,
            "counts": {key: store.count() for key, store in self.stores.items()},
            "faults": dict(self.injector.counts),
        }

    def advance(self, days: int = 1) -> dict[str, int]:
        changed = dict.fromkeys(self.stores, 0)
        with self._advance_lock:
            for _ in range(days):
                updates = self.world.advance_day()
                for key, records in updates.items():
                    if key in self.stores and records:
                        changed[key] += self.stores[key].upsert(records)
            for store in self.stores.values():
                store.view()
        return changed

    def served_positions(self, key: str):
        view = self.stores[key].view()
        end = len(view)
        if key.startswith("helpdesk/"):
            end = view.marker_right(self.now_us() - HOLDBACK_US)
        return view, end

    def admin(self, method: str, path: str, params: dict, body: bytes) -> Response:
        parts = path.strip("/").split("/")  # _admin, action, ...
        action = parts[1] if len(parts) > 1 else ""
        if action == "state" and method == "GET" and len(parts) == 2:
            return _json(200, self.state())
        if action == "advance" and method == "POST" and len(parts) == 2:
            try:
                days = int(params.get("days", "1"))
            except ValueError:
                return _json(400, {"error": "days must be an integer"})
            if days < 0 or days > 3650:
                return _json(400, {"error": "days must be between 0 and 3650"})
            try:
                changed = self.advance(days)
            except NotImplementedError as exc:
                return _json(409, {"error": f"this world cannot advance: {exc}" if str(exc) else
                                   "this world cannot advance (replayed data)"})
            return _json(200, {"now": self.now().isoformat(), "days": days, "changed": changed})
        if action in ("records", "served") and len(parts) == 4:
            key = f"{parts[2]}/{parts[3]}"
            if key not in self.stores:
                return _json(404, {"error": f"unknown resource {key!r}"})
            if action == "records" and method == "POST":
                try:
                    records = orjson.loads(body)
                except orjson.JSONDecodeError:
                    return _json(400, {"error": "the body must be a JSON array of records"})
                if not isinstance(records, list):
                    return _json(400, {"error": "the body must be a JSON array of records"})
                upserted = self.stores[key].upsert(records)
                return _json(200, {"upserted": upserted, "count": self.stores[key].count()})
            if action == "served" and method == "GET":
                view, end = self.served_positions(key)
                lines = view.encoded(slice(0, end))
                body = b"\n".join(lines) + (b"\n" if lines else b"")
                return Response(200, body, "application/x-ndjson")
        return _json(404, {"error": f"no admin endpoint {method} {path}"})


# ----------------------------------------------------------------------------------------------
# HTTP plumbing
# ----------------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "c360-demo-sources/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class names it so
        pass

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._read_chunked()
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            self.close_connection = True
            return b""

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        app: SourceApp = self.server.app  # type: ignore[attr-defined]
        body = self._read_body()
        path, _, query = self.path.partition("?")
        params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        system = path[1:].split("/", 1)[0]
        decision = None
        try:
            if system == "_admin":
                guard: AdminGuard = self.server.admin_guard  # type: ignore[attr-defined]
                refusal = guard.refusal(self.client_address[0], self.headers)
                if refusal is not None:
                    response = _json(403, {"error": refusal})
                else:
                    response = app.admin(method, path, params, body)
            elif system not in SYSTEMS:
                response = _json(404, {"error": "Not Found", "message": f"no source system at {path}"})
            elif not app.authorized(system, self.headers):
                response = app.error(system, 401, _UNAUTHORIZED[system], path=path,
                                     code="Unauthorized" if system == "helpdesk" else None)
            else:
                decision = app.injector.decide(system)
                kind = decision.kind
                if kind == "reset":
                    self._reset()
                    self._access_log(method, "RST", 0, started)
                    return
                if decision.is_429:
                    response = app.too_many(system, decision, path)
                elif kind in ("http_500", "http_502", "http_503"):
                    response = app.server_error(system, int(kind[5:]), path)
                else:
                    rest = path[len(system) + 2:]
                    host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
                    base = f"http://{host}/{system}"
                    response = app.route(system, method, rest, params, body, base)
                if system == "shop":
                    response.headers.append(("X-Shop-Api-Call-Limit", app.injector.shop_call_limit()))
        except Exception:  # an internal error must not kill the connection thread
            log.exception("demo sources: internal error on %s %s", method, path)
            response = app.error(system if system in SYSTEMS else "", 500, "Internal server error", path=path)
        kind = decision.kind if decision is not None else None
        if kind == "slow":
            time.sleep(app.profile.slow_seconds)
        self._send(response, kind, app)
        self._access_log(method, response.status, len(response.body), started)

    def _send(self, response: Response, kind: str | None, app: SourceApp) -> None:
        body = response.body
        length = len(body)
        if kind == "truncated_json":
            body = body[:app.injector.cut_point(len(body))]
            length = len(body)
        elif kind == "truncated_length":
            body = body[:app.injector.cut_point(len(body))]
            self.close_connection = True
        phrase = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Server: {self.server_version}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {length}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _reset(self) -> None:
        """Close the socket without answering: SO_LINGER 0 makes the close send a TCP RST."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _access_log(self, method: str, status, size: int, started: float) -> None:
        if os.environ.get(ACCESS_LOG_ENV, "").strip().lower() in ("", "0", "false", "no"):
            return
        path = self.path.split("?", 1)[0]
        sys.stderr.write(
            f"{self.client_address[0]} {method} {path} {status} {size} {1000 * (time.perf_counter() - started):.1f}ms\n"
        )


_UNAUTHORIZED = {
    "shop": "[API] Invalid API key or access token (unrecognized login or wrong password)",
    "erp": "Invalid apikey",
    "helpdesk": "Couldn't authenticate you",
    "accounting": "Unauthorized",
}


def _is_loopback(address: str) -> bool:
    try:
        return ip_address(address).is_loopback
    except ValueError:
        return False


def _host_header_name(host: str) -> str:
    """A host as it appears in a Host or Origin header: IPv6 addresses in brackets, lower case."""
    host = host.strip().lower()
    try:
        return f"[{host}]" if ip_address(host).version == 6 else host
    except ValueError:
        return host  # a name, a bracketed address, or a name with its port


class AdminGuard:
    """Decides who may use the admin endpoints, which change the world without credentials.

    Only a local operator may: the client connects over loopback; its `Host` header names this server
    (localhost, 127.0.0.1, [::1] or the bind address, with the port) or a host the operator allowed,
    because a page of a DNS-rebinding attack reaches 127.0.0.1 under its own domain name; and a browser
    request comes from the same origin, because a cross-site page cannot hide its `Origin` (sent on
    every POST) or `Sec-Fetch-Site`. The CLI, `requests` and curl send neither header and pass.
    """

    LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
    # "none": the operator typed the URL into the address bar; any other page is refused.
    ALLOWED_FETCH_SITES = ("same-origin", "none")

    def __init__(self, bind_host: str, port: int, extra_hosts: tuple[str, ...] = ()):
        names = {*self.LOCAL_NAMES, *(_host_header_name(h) for h in extra_hosts)}
        if bind_host not in ("", "0.0.0.0", "::"):
            names.add(_host_header_name(bind_host))
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts |= names  # a browser leaves out the default port
        hosts |= {_host_header_name(h) for h in extra_hosts}  # as sent through a proxy
        self.allowed_hosts = frozenset(hosts)

    @classmethod
    def from_env(cls, bind_host: str, port: int, extra_hosts=()) -> AdminGuard:
        """The guard with the hosts given here plus those of `C360_SOURCES_ADMIN_HOSTS`."""
        configured = [h for h in os.environ.get(ADMIN_HOSTS_ENV, "").split(",") if h.strip()]
        return cls(bind_host, port, (*extra_hosts, *configured))

    def refusal(self, client_address: str, headers) -> str | None:
        """Why the request is refused, or None when it may go on."""
        if not _is_loopback(client_address):
            return "the admin endpoints answer on loopback only"
        host = (headers.get("Host") or "").strip().lower()
        if host not in self.allowed_hosts:
            return (
                f"the admin endpoints answer only requests addressed to this server: Host {host!r} is not "
                f"one of {', '.join(sorted(self.allowed_hosts))} (allow more with {ADMIN_HOSTS_ENV})"
            )
        origin = headers.get("Origin")
        if origin is not None and origin.strip().lower() not in (f"http://{host}", f"https://{host}"):
            return f"the admin endpoints refuse cross-origin requests: Origin {origin!r} is not this server"
        fetch_site = headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site.strip().lower() not in self.ALLOWED_FETCH_SITES:
            return f"the admin endpoints refuse requests from other sites (Sec-Fetch-Site: {fetch_site})"
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        log.error("demo sources: error while serving %s", client_address[0], exc_info=True)


class SourceServer:
    """The four demo source systems on one port (see the module docstring)."""

    def __init__(
        self,
        world,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: str | FaultProfile = "none",
        credentials: SourceCredentials | None = None,
        fault_seed: int = 0,
        admin_hosts: tuple[str, ...] = (),
    ):
        """`admin_hosts`: host names the admin endpoints accept in `Host` beside the local ones (and
        those of `C360_SOURCES_ADMIN_HOSTS`)."""
        self.world = world
        self.profile = resolve_profile(faults)
        self.credentials = credentials or SourceCredentials.from_env()
        self.app = SourceApp(world, self.profile, self.credentials, fault_seed)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.app = self.app  # type: ignore[attr-defined]
        self.host = host
        self.port = self._httpd.server_address[1]
        self._httpd.admin_guard = AdminGuard.from_env(host, self.port, tuple(admin_hosts))  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._closed = False

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def url(self, system: str) -> str:
        return f"{self.base_url}/{system}"

    @property
    def fault_counts(self) -> dict[str, int]:
        return dict(self.app.injector.counts)

    def start(self) -> SourceServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name="demo-sources", daemon=True)
            self._thread.start()
            self._serving.wait(5)
        return self

    def serve_forever(self) -> None:
        self._serving.set()
        self._httpd.serve_forever(poll_interval=0.05)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._serving.is_set():
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def advance(self, days: int = 1) -> dict[str, int]:
        """Run the world's clock `days` days; returns the number of changed records per resource."""
        return self.app.advance(days)

    def upsert(self, key: str, records: list) -> int:
        return self.app.stores[key].upsert(records)

    def served(self, key: str) -> list:
        """Every record a full sync of `key` would receive now (held-back helpdesk records excluded)."""
        view, end = self.app.served_positions(key)
        return [orjson.loads(raw) for raw in view.encoded(slice(0, end))]

    def __enter__(self) -> SourceServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()


__all__ = ["SourceServer", "SourceApp", "ErpDomain", "AdminGuard"]
