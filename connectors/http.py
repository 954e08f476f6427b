"""The one HTTP layer all four connectors use.

A keep-alive `requests.Session` with connect/read timeouts, JSON decoding with orjson, retries with
exponential backoff and jitter on 5xx, timeouts, broken connections and undecodable bodies, and a
per-system throttle policy that reads each system's 429 signal. 400/401/403/404/422 are never
retried. Counters go to `RequestStats`; one debug line per retry, never with credentials (headers
are not logged, and the URL is logged without its query string).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import orjson
import requests
from requests.adapters import HTTPAdapter

from c360 import settings

from .base import RequestStats
from .errors import SourceAuthError, SourceRequestError, SourceUnavailableError, extract_error_message

log = logging.getLogger("connectors.http")

_RETRYABLE_EXCEPTIONS = (
    requests.exceptions.ConnectionError,  # refused, reset, DNS (incl. ConnectTimeout's sibling errors)
    requests.exceptions.Timeout,  # connect and read timeouts
    requests.exceptions.ChunkedEncodingError,  # body cut off mid-stream
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How one system signals throttling (429) and how long the client waits.

    retry_after: "float" (shop: `Retry-After: 2.0`), "int" (helpdesk: `Retry-After: 7`) or None
    (ERP, accounting: no header; exponential backoff with jitter).
    """

    system: str
    retry_after: str | None
    backoff_base: float = 0.25  # first backoff after a failure, seconds (doubles per attempt)
    throttle_base: float = 0.5  # first backoff after a 429 without Retry-After
    max_wait: float = 30.0  # cap on any single wait

    def backoff(self, attempt: int, rng: random.Random, base: float | None = None) -> float:
        """Exponential backoff with jitter for the attempt-th consecutive retry (1-based)."""
        ceiling = min(self.max_wait, (self.backoff_base if base is None else base) * (2 ** (attempt - 1)))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def throttle_wait(self, headers: Mapping[str, str], attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the attempt-th consecutive 429 of one request."""
        if self.retry_after is not None:
            value = headers.get("Retry-After")
            if value is not None:
                try:
                    seconds = float(value) if self.retry_after == "float" else float(int(value.strip()))
                except ValueError:
                    try:  # tolerate "2.0" where an integer was expected, and vice versa
                        seconds = float(value)
                    except ValueError:
                        seconds = -1.0
                if seconds >= 0:
                    return min(self.max_wait, seconds)
        return self.backoff(attempt, rng, base=self.throttle_base)


POLICIES: dict[str, ThrottlePolicy] = {
    "shop": ThrottlePolicy("shop", retry_after="float"),
    "erp": ThrottlePolicy("erp", retry_after=None),
    "helpdesk": ThrottlePolicy("helpdesk", retry_after="int"),
    "accounting": ThrottlePolicy("accounting", retry_after=None),
}


class Response(NamedTuple):
    body: Any  # the decoded JSON
    headers: Mapping[str, str]
    content: bytes  # the body as received, which the landing hands to the warehouse undecoded


class HttpClient:
    """Session + retries for one system. `request()` returns a Response (decoded JSON, headers, bytes)."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 8,
        max_throttle_retries: int | None = None,
        policy: ThrottlePolicy | None = None,
        stats: RequestStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        pacer: "RequestPacer | None" = None,
    ):
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(timeout, 10.0), timeout)
        self.max_retries = max_retries
        # A 429 is the server asking for patience, not a failure: allow more of them, still bounded.
        if max_throttle_retries is None:
            max_throttle_retries = max(20, 4 * max_retries)
        self.max_throttle_retries = max_throttle_retries
        self.policy = policy or POLICIES.get(system) or ThrottlePolicy(system, None)
        self.stats = stats if stats is not None else RequestStats()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.pacer = pacer
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # Read proxy and CA-bundle settings from the environment once, not on every request (with
        # trust_env requests re-scans os.environ per call, a measurable share of a page's cost).
        self.session.proxies.update(settings.http_proxies(self.base_url))
        ca_bundle = settings.http_ca_bundle()
        if ca_bundle:
            self.session.verify = ca_bundle
        self.session.trust_env = False
        self.session.headers.update({"Accept": "application/json", "User-Agent": "c360-connectors/0.1"})
        if headers:
            self.session.headers.update(headers)
        if auth:
            self.session.auth = auth

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, data: bytes | None = None, content_type: str | None = None,
                decode: Callable[[bytes], Any] | None = None) -> Response:
        """`decode` (default JSON) turns a 2xx body into `Response.body`; a ValueError from it is an
        undecodable body, retried like a truncated one (the ERP's XML-RPC passes its own)."""
        url = self.base_url + path
        endpoint = f"{method} {path}"
        headers = None
        if json_body is not None:
            data = orjson.dumps(json_body)
            headers = {"Content-Type": "application/json"}
        elif data is not None and content_type:
            headers = {"Content-Type": content_type, "Accept": content_type}
        stats = self.stats
        failures = 0
        throttles = 0
        while True:
            if self.pacer is not None:
                self.pacer.wait()
            stats.requests += 1
            status: int | None = None
            try:
                resp = self.session.request(method, url, params=params, data=data, headers=headers,
                                            timeout=self.timeout)
            except _RETRYABLE_EXCEPTIONS as exc:
                cause = _describe_exception(exc)
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    try:
                        body = orjson.loads(resp.content) if decode is None else decode(resp.content)
                    except ValueError:  # orjson.JSONDecodeError is one
                        cause = f"undecodable {'JSON' if decode is None else 'response'} body ({len(resp.content)} bytes)"
                    else:
                        stats.pages += 1
                        return Response(body, resp.headers, resp.content)
                elif status == 429:
                    throttles += 1
                    stats.throttled += 1
                    if throttles > self.max_throttle_retries:
                        raise SourceUnavailableError.exhausted(
                            self.system, endpoint, failures + throttles,
                            f"HTTP 429 (throttled {throttles} times in a row)", status=429)
                    wait = self.policy.throttle_wait(resp.headers, throttles, self.rng)
                    stats.retries += 1
                    log.debug("%s: %s throttled (429), retry %d after %.2fs", self.system, endpoint, throttles, wait)
                    self.sleep(wait)
                    continue
                elif status >= 500:
                    cause = f"HTTP {status}"
                elif status in (401, 403):
                    raise SourceAuthError.from_status(self.system, endpoint, status,
                                                      extract_error_message(self.system, resp.content, 200))
                else:
                    raise SourceRequestError.from_status(self.system, endpoint, status,
                                                         extract_error_message(self.system, resp.content))
            failures += 1
            if failures > self.max_retries:
                raise SourceUnavailableError.exhausted(self.system, endpoint, failures + throttles, cause,
                                                       status=status)
            wait = self.policy.backoff(failures, self.rng)
            stats.retries += 1
            log.debug("%s: %s failed (%s), retry %d/%d after %.2fs", self.system, endpoint, cause, failures,
                      self.max_retries, wait)
            self.sleep(wait)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, json_body: Any) -> Response:
        return self.request("POST", path, json_body=json_body)


def _describe_exception(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "response body cut off"
    text = str(exc)
    if "reset" in text.lower():
        return "connection reset"
    if "refused" in text.lower():
        return "connection refused"
    if "aborted" in text.lower() or "RemoteDisconnected" in text:
        return "connection closed by server"
    return type(exc).__name__


# --- accounting (Lexware Office): client-side request pace --------------------------------------------

class RequestPacer:
    """Spaces requests to at most `rate` a second (Lexware Office: 2/s, a token bucket over all
    endpoints, 429 beyond); every attempt waits its turn, retries included. `rate` 0 = no pace."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            self.sleep(at - now)
