"""Vectorised timestamp rendering in the formats of docs/source_protocol.md.

All simulated times are int64 seconds (or milliseconds) since the Unix epoch, UTC. A negative value
means "no value" and renders as None.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

BERLIN = ZoneInfo("Europe/Berlin")


def _last_sunday(year: int, month: int) -> dt.date:
    d = dt.date(year, month, 31)
    return d - dt.timedelta(days=(d.weekday() + 1) % 7)


def _transitions() -> np.ndarray:
    """UTC seconds of the EU summer-time switches (last Sunday of March / October, 01:00 UTC)."""
    out = []
    for y in range(1970, 2100):
        for month in (3, 10):
            d = _last_sunday(y, month)
            out.append(int(dt.datetime(d.year, d.month, d.day, 1, tzinfo=dt.UTC).timestamp()))
    return np.array(out, dtype=np.int64)


_TRANS = _transitions()


def berlin_offset(t: np.ndarray) -> np.ndarray:
    """Offset of Europe/Berlin from UTC in seconds (3600 or 7200) for UTC epoch seconds t."""
    k = np.searchsorted(_TRANS, np.asarray(t, dtype=np.int64), side="right")
    return np.where(k % 2 == 1, 7200, 3600).astype(np.int64)


def _with_none(strs: np.ndarray, t: np.ndarray) -> list:
    out = strs.tolist()
    if (t < 0).any():
        for i in np.flatnonzero(t < 0).tolist():
            out[i] = None
    return out


def shop_ts(t: np.ndarray) -> list:
    """'2026-03-02T10:15:00+01:00'"""
    t = np.asarray(t, dtype=np.int64)
    off = berlin_offset(t)
    s = np.datetime_as_string((t + off).astype("datetime64[s]"), unit="s")
    s = np.char.add(s, np.where(off == 3600, "+01:00", "+02:00"))
    return _with_none(s, t)


def acc_ts(t_ms: np.ndarray) -> list:
    """'2026-05-01T00:00:00.000+02:00' from epoch milliseconds."""
    t_ms = np.asarray(t_ms, dtype=np.int64)
    off = berlin_offset(t_ms // 1000)
    s = np.datetime_as_string((t_ms + off * 1000).astype("datetime64[ms]"), unit="ms")
    s = np.char.add(s, np.where(off == 3600, "+01:00", "+02:00"))
    return _with_none(s, t_ms)


def erp_ts(t: np.ndarray) -> list:
    """'2026-05-01 13:45:10' (naive UTC)."""
    t = np.asarray(t, dtype=np.int64)
    s = np.datetime_as_string(t.astype("datetime64[s]"), unit="s")
    s = np.char.replace(s, "T", " ")
    return _with_none(s, t)


def hd_ts(t: np.ndarray) -> list:
    """'2026-05-01T13:45:10Z'"""
    t = np.asarray(t, dtype=np.int64)
    s = np.char.add(np.datetime_as_string(t.astype("datetime64[s]"), unit="s"), "Z")
    return _with_none(s, t)


def day_str(d: np.ndarray) -> list:
    """'1985-04-12' from days since epoch."""
    d = np.asarray(d, dtype=np.int64)
    return _with_none(np.datetime_as_string(d.astype("datetime64[D]")), d + 10**6)  # dates may be < 1970


def day_str_nullable(d: np.ndarray, missing: np.ndarray) -> list:
    d = np.asarray(d, dtype=np.int64)
    out = np.datetime_as_string(d.astype("datetime64[D]")).tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out
