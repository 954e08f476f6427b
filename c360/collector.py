"""Rarer garbage collections while a landing decodes pages.

Decoding a JSON page makes tens of thousands of dicts and lists that live until the page is written.
With CPython's default threshold (a young-generation collection every 700 new objects) the collector
walks them over and over while they live: 6 s of the 17 s the shop connector takes to read the orders
export of 100k persons (measured with nothing landed: 17.0 s with the default threshold, 10.4 s with
100,000, 10.8 s with the collector off; the bare decoding loop takes 8.4 s). Decoded JSON holds no
reference cycles, so collecting less often keeps no memory that the reference counts would not free
anyway; the collector still runs, only every 100,000 new objects.

The threshold is process-wide: landings running in threads of one process share one relaxed period,
and the threshold that was set before the first of them is restored after the last.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

LANDING_GC_THRESHOLD = 100_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def fewer_collections(threshold: int = LANDING_GC_THRESHOLD) -> Iterator[None]:
    """Young-generation collections every `threshold` new objects inside the block (never more often
    than the threshold already set)."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(threshold, _saved[0]), *_saved[1:])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
