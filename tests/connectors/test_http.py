"""The shared HTTP layer: throttle policies, retries, errors; against a tiny local stub server."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from c360.settings import SourceCredentials
from connectors import SourceAuthError, SourceRequestError, SourceUnavailableError, build_client
from connectors.errors import extract_error_message
from connectors.http import POLICIES, HttpClient, ThrottlePolicy

SECRET = "s3cr3t-token-value"


# --- throttle policy: pure wait computation ---------------------------------------------------------

def test_shop_waits_float_retry_after():
    assert POLICIES["shop"].throttle_wait({"Retry-After": "2.0"}, 1, random.Random(1)) == 2.0
    assert POLICIES["shop"].throttle_wait({"Retry-After": "0.35"}, 5, random.Random(1)) == 0.35


def test_helpdesk_waits_integer_retry_after():
    assert POLICIES["helpdesk"].throttle_wait({"Retry-After": "7"}, 1, random.Random(1)) == 7.0
    assert POLICIES["helpdesk"].throttle_wait({"Retry-After": " 1 "}, 3, random.Random(1)) == 1.0


@pytest.mark.parametrize("system", ["erp", "accounting"])
def test_no_retry_after_backs_off_exponentially_with_jitter(system):
    p = POLICIES[system]
    rng = random.Random(7)
    for attempt in range(1, 8):
        ceiling = min(p.max_wait, p.throttle_base * 2 ** (attempt - 1))
        waits = [p.throttle_wait({}, attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered


def test_single_wait_is_capped():
    p = ThrottlePolicy("shop", "float", max_wait=5.0)
    assert p.throttle_wait({"Retry-After": "3600"}, 1, random.Random()) == 5.0
    assert ThrottlePolicy("helpdesk", "int", max_wait=5.0).throttle_wait({"Retry-After": "60"}, 1, random.Random()) == 5.0
    assert all(p.backoff(30, random.Random(i)) <= 5.0 for i in range(20))


def test_unparsable_retry_after_falls_back_to_backoff():
    w = POLICIES["helpdesk"].throttle_wait({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 1, random.Random(3))
    assert 0.25 <= w <= 0.5


def test_error_message_extraction_per_system():
    assert extract_error_message("shop", b'{"errors": {"page_info": ["cannot be combined"]}}') == \
        "page_info: cannot be combined"
    assert extract_error_message("erp", b'{"name": "odoo.exceptions.ValidationError", "message": "Invalid field \'x\'",'
                                        b' "arguments": [], "context": {}, "debug": "..."}') == \
        "ValidationError: Invalid field 'x'"
    assert extract_error_message("helpdesk", b'{"error": "InvalidValue", "description": "Too recent start_time"}') == \
        "InvalidValue: Too recent start_time"
    assert extract_error_message("accounting", b'{"status": 400, "error": "Bad Request", "message": "page too deep",'
                                               b' "details": []}') == "page too deep"
    assert extract_error_message("erp", b"<html>oops</html>") == "<html>oops</html>"


# --- stub server ------------------------------------------------------------------------------------

class Script:
    """Answers to serve in order; each a dict(status, headers, body, mode)."""

    def __init__(self):
        self.steps: list[dict] = []
        self.seen: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()

    def next(self) -> dict:
        with self.lock:
            return self.steps.pop(0) if self.steps else {"status": 200, "body": b'{"ok": true}'}


@pytest.fixture()
def stub():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            script.seen.append((self.command, self.path, dict(self.headers)))
            step = script.next()
            mode = step.get("mode")
            if mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                self.close_connection = True
                return
            if mode == "slow":
                time.sleep(step.get("seconds", 1.0))
            body = step.get("body", b"")
            self.send_response(step["status"])
            for k, v in step.get("headers", {}).items():
                self.send_header(k, v)
            if mode == "truncated":
                self.send_header("Content-Length", str(len(body) + 100))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield script
    server.shutdown()
    server.server_close()


def _client(stub, system="shop", **kw):
    waits: list[float] = []
    kw.setdefault("timeout", 2.0)
    c = HttpClient(system, stub.url + "/" + system, headers={"X-Shopify-Access-Token": SECRET}, sleep=waits.append,
                   rng=random.Random(0), **kw)
    return c, waits


OK = {"status": 200, "headers": {"Content-Type": "application/json"}, "body": b'{"customers": [{"id": 1}]}'}


def test_shop_429_honours_float_retry_after(stub):
    stub.steps = [{"status": 429, "headers": {"Retry-After": "2.0"}, "body": b'{"errors": "Exceeded 2 calls per second"}'},
                  {"status": 429, "headers": {"Retry-After": "0.5"}, "body": b'{"errors": "Exceeded"}'}, OK]
    c, waits = _client(stub, "shop")
    body = c.get("/admin/api/2024-10/customers.json", {"limit": 250}).body
    assert body == {"customers": [{"id": 1}]}
    assert waits == [2.0, 0.5]
    assert (c.stats.requests, c.stats.retries, c.stats.throttled, c.stats.pages) == (3, 2, 2, 1)


def test_helpdesk_429_honours_integer_retry_after(stub):
    stub.steps = [{"status": 429, "headers": {"Retry-After": "3"}, "body": b'{"error": "TooManyRequests"}'}, OK]
    c, waits = _client(stub, "helpdesk")
    c.get("/api/v2/incremental/users/cursor.json", {"start_time": 0})
    assert waits == [3.0] and c.stats.throttled == 1


def test_erp_429_plain_text_and_503_html_back_off(stub):
    stub.steps = [{"status": 429, "headers": {"Content-Type": "text/plain"}, "body": b"Too many requests"},
                  {"status": 503, "headers": {"Content-Type": "text/html"}, "body": b"<html>Service Unavailable</html>"},
                  {"status": 200, "body": b"[]"}]
    c, waits = _client(stub, "erp")
    body = c.post("/json/2/res.partner/search_read", {"domain": []}).body
    assert body == []
    assert 0.25 <= waits[0] <= 0.5  # throttle backoff, attempt 1
    assert 0.125 <= waits[1] <= 0.25  # failure backoff, attempt 1
    assert (c.stats.requests, c.stats.retries, c.stats.throttled) == (3, 2, 1)
    method, path, headers = stub.seen[0]
    assert method == "POST" and headers["Content-Type"] == "application/json"


def test_accounting_429_json_body_backs_off(stub):
    stub.steps = [{"status": 429, "headers": {"Content-Type": "application/json"},
                   "body": b'{"status": 429, "error": "Too Many Requests", "message": "Rate limit exceeded"}'}] * 3 + [OK]
    c, waits = _client(stub, "accounting")
    c.get("/v1/contacts", {"page": 0, "size": 250})
    assert len(waits) == 3
    for i, w in enumerate(waits, start=1):
        ceiling = 0.5 * 2 ** (i - 1)
        assert ceiling / 2 <= w <= ceiling


def test_retries_5xx_truncated_invalid_json_reset_and_timeout(stub, caplog):
    stub.steps = [
        {"status": 500, "body": b"boom"},
        {"status": 502, "body": b""},
        {"status": 200, "body": b'{"customers": [{"id": 1}, {"id"', "mode": "truncated"},
        {"status": 200, "body": b'{"customers": [{"id": 1}, {"id"'},  # complete HTTP body, invalid JSON
        {"status": 200, "mode": "reset"},
        {"status": 200, "mode": "slow", "seconds": 1.0, "body": b"{}"},
        OK,
    ]
    c, waits = _client(stub, "shop", timeout=0.4)
    with caplog.at_level(logging.DEBUG, logger="connectors.http"):
        body = c.get("/admin/api/2024-10/customers.json", {"limit": 250}).body
    assert body == {"customers": [{"id": 1}]}
    assert c.stats.retries == 6 and c.stats.requests == 7 and c.stats.pages == 1 and c.stats.throttled == 0
    # exponential: each ceiling doubles
    for i, w in enumerate(waits, start=1):
        ceiling = 0.25 * 2 ** (i - 1)
        assert ceiling / 2 <= w <= ceiling
    retry_lines = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retry_lines) == 6
    assert not any(SECRET in line for line in retry_lines)
    assert any("read timeout" in line for line in retry_lines)
    assert any("undecodable JSON" in line for line in retry_lines)


@pytest.mark.parametrize("status, error", [(400, SourceRequestError), (401, SourceAuthError),
                                           (403, SourceAuthError), (404, SourceRequestError),
                                           (422, SourceRequestError)])
def test_client_errors_are_never_retried(stub, status, error):
    stub.steps = [{"status": status, "body": b'{"errors": {"page_info": ["cannot be combined with updated_at_min"]}}'}]
    c, waits = _client(stub, "shop")
    with pytest.raises(error) as err:
        c.get("/admin/api/2024-10/customers.json", {"limit": 250})
    assert c.stats.requests == 1 and c.stats.retries == 0 and waits == []
    e = err.value
    assert (e.system, e.endpoint, e.status) == ("shop", "GET /admin/api/2024-10/customers.json", status)
    assert SECRET not in str(e)
    if error is SourceRequestError:
        assert "page_info: cannot be combined with updated_at_min" in str(e)


def test_auth_error_message_names_system_endpoint_and_env_var(stub):
    stub.steps = [{"status": 401, "body": b'{"errors": "[API] Invalid API key or access token"}'}]
    c, _ = _client(stub, "shop")
    with pytest.raises(SourceAuthError) as err:
        c.get("/admin/api/2024-10/customers.json")
    assert str(err.value).startswith(
        "shop: 401 Unauthorized at GET /admin/api/2024-10/customers.json — check SHOP_API_TOKEN")


def test_retries_exhausted(stub):
    stub.steps = [{"status": 503, "body": b"<html>down</html>"}] * 10
    c, waits = _client(stub, "erp", max_retries=2)
    with pytest.raises(SourceUnavailableError) as err:
        c.post("/json/2/res.partner/search_read", {})
    e = err.value
    assert e.attempts == 3 and c.stats.requests == 3 and len(waits) == 2
    assert "after 3 attempts" in str(e) and "HTTP 503" in str(e) and "ERP_API_URL" in str(e)


def test_throttle_storm_is_bounded(stub):
    stub.steps = [{"status": 429, "headers": {"Retry-After": "0.0"}, "body": b"{}"}] * 10
    c, waits = _client(stub, "shop", max_retries=1, max_throttle_retries=4)
    with pytest.raises(SourceUnavailableError, match="429"):
        c.get("/admin/api/2024-10/customers.json")
    assert c.stats.throttled == 5 and len(waits) == 4


def test_connection_refused_is_retried_then_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    waits: list[float] = []
    c = HttpClient("accounting", f"http://127.0.0.1:{port}/accounting", max_retries=2, sleep=waits.append, timeout=1)
    with pytest.raises(SourceUnavailableError, match="connection refused"):
        c.get("/v1/contacts")
    assert len(waits) == 2


def test_build_client_sends_each_systems_auth(stub, monkeypatch):
    monkeypatch.setenv("C360_SHOP_BULK_AFTER_DAYS", "off")  # one paginated query: no bulk operation
    creds = SourceCredentials("tok-shop", "key-erp", "agent@example.com", "tok-hd", "key-acc")
    stub.steps = [{"status": 200, "body": b'{"data": {"customers": {"nodes": [], "pageInfo": {"hasNextPage": false}}}}'},
                  {"status": 200, "body": b"{}"},  # erp fields_get (asked once per model)
                  {"status": 200, "body": b"[]"},
                  {"status": 200, "body": b'{"users": [], "after_cursor": "x", "end_of_stream": true}'},
                  {"status": 200, "body": b'{"content": [], "last": true, "totalElements": 0}'}]
    for system, resource in [("shop", "customers"), ("erp", "res.partner"), ("helpdesk", "users"),
                             ("accounting", "contacts")]:
        client = build_client(system, f"{stub.url}/{system}", creds)
        assert [p.records for p in client.fetch(resource, None)] == [[]]
        client.close()
    assert stub.seen[1][1] == "/erp/json/2/res.partner/fields_get" and stub.seen[1][2]["Authorization"] == "bearer key-erp"
    stub.seen = [seen for seen in stub.seen if not seen[1].endswith("/fields_get")]
    headers = [h for _, _, h in stub.seen]
    assert headers[0]["X-Shopify-Access-Token"] == "tok-shop"
    assert headers[1]["Authorization"] == "bearer key-erp"
    import base64
    assert headers[2]["Authorization"] == "Basic " + base64.b64encode(b"agent@example.com/token:tok-hd").decode()
    assert headers[3]["Authorization"] == "Bearer key-acc"
    paths = [p for _, p, _ in stub.seen]
    assert paths[0] == "/shop/admin/api/2026-10/graphql.json"
    assert paths[1] == "/erp/json/2/res.partner/search_read"
    assert paths[2] == "/helpdesk/api/v2/incremental/users/cursor.json?start_time=0"
    assert paths[3] == "/accounting/v1/contacts?page=0&size=250"


def test_unexpected_response_shape_is_a_clear_error(stub):
    from connectors import SourceError

    stub.steps = [{"status": 200, "body": b'{"message": "welcome to the login page"}'}]
    client = build_client("shop", f"{stub.url}/shop", SourceCredentials.from_env())
    with pytest.raises(SourceError, match="shop: unexpected response at POST /admin/api/2026-10/graphql.json"):
        list(client.fetch("orders", None))
    client.close()


# --- accounting (Lexware Office): client-side request pace ------------------------------------------

def test_request_pacer_spaces_requests_to_the_rate_and_zero_is_no_pace():
    from connectors.http import RequestPacer

    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    pacer = RequestPacer(2.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(4):
        pacer.wait()
    assert waits == [0.5, 0.5, 0.5]  # 2 requests a second: the 2nd, 3rd and 4th wait half a second
    clock[0] += 10  # idle: the next request goes at once
    pacer.wait()
    assert len(waits) == 3
    off = RequestPacer(0, clock=lambda: clock[0], sleep=sleep)
    off.wait()
    off.wait()
    assert len(waits) == 3


def test_accounting_pace_defaults_to_two_a_second_against_a_real_host(monkeypatch):
    from c360.settings import accounting_max_rps

    monkeypatch.delenv("C360_ACCOUNTING_MAX_RPS", raising=False)
    assert accounting_max_rps("https://api.lexware.io") == 2.0
    assert accounting_max_rps("http://127.0.0.1:8765/accounting") == 0.0
    monkeypatch.setenv("C360_ACCOUNTING_MAX_RPS", "5")
    assert accounting_max_rps("https://api.lexware.io") == 5.0
