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
import hmac
import logging
import math
import os
import socket
import struct
import sys
import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import parse_qsl

import orjson

from c360.settings import SourceCredentials
from demo_sources.accounting import AccountingApi
from demo_sources.api import BERLIN, HOLDBACK_US, ApiError, Response, _json
from demo_sources.erp import ErpApi, ErpDomain
from demo_sources.faults import Decision, FaultInjector, FaultProfile, resolve_profile
from demo_sources.helpdesk import HelpdeskApi
from demo_sources.nps_export import write_export as write_nps_export
from demo_sources.shop import GRAPHQL_PATH, ShopApi, ShopGraphqlApi
from demo_sources.shop_bulk import ShopBulkApi
from demo_sources.shop_graphql import as_fetched
from demo_sources.store import RESOURCE_KEYS, ResourceStore, to_epoch_us

log = logging.getLogger(__name__)

SYSTEMS = ("shop", "erp", "helpdesk", "accounting")
ACCESS_LOG_ENV = "C360_SOURCES_ACCESS_LOG"
# Where the shop's bulk operation results are downloaded: Shopify hands out a storage URL, another
# service than the Admin API, so neither its token nor its throttling and faults apply there.
BULK_RESULTS_PREFIX = "/shop/bulk-results/"
ADMIN_HOSTS_ENV = "C360_SOURCES_ADMIN_HOSTS"
NPS_KEY = "nps/responses"  # the world's NPS answers: a CSV export (demo_sources.nps_export), not served


# ----------------------------------------------------------------------------------------------
# The application: routing, auth, the four APIs and the admin endpoints
# ----------------------------------------------------------------------------------------------
class SourceApp(ShopApi, ShopGraphqlApi, ShopBulkApi, ErpApi, HelpdeskApi, AccountingApi):
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
        self.nps_export_dir: Path | None = None

    def export_nps(self, directory: Path | None) -> Path | None:
        """Write the world's NPS answers as the survey tool's CSV export into `directory` (the pipeline's
        NPS import folder), now and after every advance; None: no export."""
        with self._advance_lock:
            self.nps_export_dir = None if directory is None else Path(directory)
            return self._write_nps_export()

    def _write_nps_export(self) -> Path | None:
        if self.nps_export_dir is None:
            return None
        return write_nps_export(self.world, self.nps_export_dir)

    def _world_batches(self, key: str):
        """The world's records of `key` in batches; none for a resource the world does not hold
        (its `resource_keys`: a replay without that file, an account on the other CSAT)."""
        if key not in getattr(self.world, "resource_keys", RESOURCE_KEYS):
            return iter(())
        return self.world.iter_record_batches(key)

    # --- clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        now = self.world.now
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def now_us(self) -> int:
        return to_epoch_us(self.now())

    # --- auth ---------------------------------------------------------------------------------
    def authorized(self, system: str, headers, path: str = "") -> bool:
        if system == "erp" and path.startswith("/erp/xmlrpc/"):
            return True  # Odoo's XML-RPC carries the credentials in the call's arguments
        if system == "shop" and path.startswith(BULK_RESULTS_PREFIX):
            return True  # a signed storage URL: the signature in its query string is the credential
        if system == "shop":
            given = headers.get("X-Shopify-Access-Token", "")
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
        if system == "shop" and GRAPHQL_PATH.search(path):
            return self.shop_throttled()
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
    def route(self, system: str, method: str, rest: str, params: dict, body: bytes, base: str,
              headers=None) -> Response:
        try:
            if system == "shop":
                return self.shop(method, rest, params, base, body)
            if system == "erp":
                return self.erp(method, rest, body, headers)
            if system == "helpdesk":
                return self.helpdesk(method, rest, params, base)
            return self.accounting(method, rest, params)
        except ApiError as exc:
            return self.error(system, exc.status, exc.message, code=exc.code, details=exc.details,
                              shop_errors=exc.shop_errors, path=f"/{rest}")


    # --- admin --------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "now": self.now().isoformat(),
            "profile": self.profile.name,
            "counts": {key: store.count() for key, store in self.stores.items()},
            "nps_export": None if self.nps_export_dir is None else str(self.nps_export_dir),
            "faults": dict(self.injector.counts),
        }

    def advance(self, days: int = 1) -> dict[str, int]:
        """Run the world `days` days; returns the changed records per served resource (and the NPS
        answers added to the survey tool's export, rewritten if one is written)."""
        changed = dict.fromkeys(self.stores, 0)
        changed[NPS_KEY] = 0
        with self._advance_lock:
            for _ in range(days):
                updates = self.world.advance_day()
                changed[NPS_KEY] += len(updates.get(NPS_KEY, []))
                for key, records in updates.items():
                    if key in self.stores and records:
                        changed[key] += self.stores[key].upsert(records)
            self.sync_deletions()
            for store in self.stores.values():
                store.view()
            self._write_nps_export()
        return changed

    def sync_deletions(self) -> None:
        """Stop serving what the world deleted outright (the shop's customers and orders)."""
        deleted = getattr(self.world, "deleted_ids", None)
        for key, ids in (deleted() if deleted else {}).items():
            if key in self.stores:
                self.stores[key].delete(ids)

    def served_positions(self, key: str):
        view = self.stores[key].view()
        end = len(view)
        if key.startswith("helpdesk/") and key != "helpdesk/satisfaction_ratings":  # the exports hold back
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
                if key == "accounting/payments":  # read per voucher, not listed
                    lines = [orjson.dumps(r) for r in self.accounting_served_payments()]
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
            elif not app.authorized(system, self.headers, path):
                response = app.error(system, 401, _UNAUTHORIZED[system], path=path,
                                     code="Unauthorized" if system == "helpdesk" else None)
            else:
                decision = Decision() if path.startswith(BULK_RESULTS_PREFIX) else app.injector.decide(system)
                graphql = system == "shop" and GRAPHQL_PATH.search(path) is not None
                if graphql and decision.kind == "throttled":
                    decision = Decision()  # GraphQL calls are limited by their cost, not by the REST call bucket
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
                    response = app.route(system, method, rest, params, body, base, self.headers)
                if system == "shop" and not graphql and not path.startswith(BULK_RESULTS_PREFIX):
                    response.headers.append(("X-Shopify-Shop-Api-Call-Limit", app.injector.shop_call_limit()))
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
        nps_export_dir: Path | None = None,
    ):
        """`admin_hosts`: host names the admin endpoints accept in `Host` beside the local ones (and
        those of `C360_SOURCES_ADMIN_HOSTS`). `nps_export_dir`: where the survey tool's CSV export of the
        NPS answers is written (the pipeline's `C360_NPS_IMPORT_DIR`); None: not written."""
        self.world = world
        self.profile = resolve_profile(faults)
        self.credentials = credentials or SourceCredentials.from_env()
        self.app = SourceApp(world, self.profile, self.credentials, fault_seed)
        if nps_export_dir is not None:
            self.app.export_nps(nps_export_dir)
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

    def export_nps(self, directory: Path | None) -> Path | None:
        """Write the NPS answers as the survey tool's CSV export into `directory`, now and after every
        advance (see `SourceApp.export_nps`)."""
        return self.app.export_nps(directory)

    def delete(self, key: str, record_id) -> None:
        """Delete a record of the world outright (see `GeneratedWorld.delete_record`) and stop serving it."""
        self.world.delete_record(key, record_id)
        self.app.sync_deletions()

    def upsert(self, key: str, records: list) -> int:
        return self.app.stores[key].upsert(records)

    def served(self, key: str) -> list:
        """Every record a full sync of `key` would receive now (held-back helpdesk records excluded)."""
        if key == "accounting/payments":  # read per voucher, not listed
            return self.app.accounting_served_payments()
        view, end = self.app.served_positions(key)
        return [orjson.loads(raw) for raw in view.encoded(slice(0, end))]

    def fetched(self, key: str) -> list:
        """`served(key)` as the connector receives it (shop records as GraphQL nodes)."""
        return [as_fetched(key, record) for record in self.served(key)]

    def __enter__(self) -> SourceServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()


__all__ = ["SourceServer", "SourceApp", "ErpDomain", "AdminGuard"]
