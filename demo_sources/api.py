"""What the four demo APIs share: error answers, responses, cursors, integer parameters and mask scans."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import orjson

BERLIN = ZoneInfo("Europe/Berlin")
# Helpdesk records changed within the last minute are not served yet.
HOLDBACK_US = 60_000_000


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
