"""Throttling and fault injection of the demo sources.

A `FaultProfile` says, per system, whether throttling is on and at which rate, and how often a
request fails in each of the ways a real API fails: 500/502/503, a response slower than the
client's timeout, a truncated JSON body (two variants), a connection reset, and a storm of
consecutive 429s. Profiles: `none` (everything off, the fast demo), `flaky` (throttling at a
test-friendly rate plus about 5 % faults) and `hostile` (about 20 % faults, storms included).

Faults never change data: a faulted request simply fails, and the same request sent again is
answered from the same data.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field, replace

SYSTEMS = ("shop", "erp", "helpdesk", "accounting")

# Fault kinds, in the order the cumulative probabilities are laid out.
FAULT_KINDS = (
    "http_500",
    "http_502",
    "http_503",
    "slow",
    "truncated_length",  # Content-Length promises more than is sent; the connection is closed
    "truncated_json",  # body cut short with a matching Content-Length: only JSON decoding fails
    "reset",  # socket closed with SO_LINGER 0 before anything is answered (TCP RST)
    "storm",  # a run of consecutive 429s
)


@dataclass(frozen=True)
class Throttle:
    """Leaky bucket: `capacity` calls, draining at `rate` calls a second."""

    enabled: bool = False
    capacity: float = 40.0
    rate: float = 2.0


@dataclass(frozen=True)
class FaultProfile:
    name: str = "none"
    throttle: dict[str, Throttle] = field(default_factory=dict)
    p_500: float = 0.0
    p_502: float = 0.0
    p_503: float = 0.0
    p_slow: float = 0.0
    slow_seconds: float = 3.0
    p_truncated_length: float = 0.0
    p_truncated_json: float = 0.0
    p_reset: float = 0.0
    p_storm: float = 0.0
    storm_length: tuple[int, int] = (3, 6)  # a storm is this many 429s in a row (inclusive range)

    def probabilities(self) -> tuple[float, ...]:
        return (
            self.p_500,
            self.p_502,
            self.p_503,
            self.p_slow,
            self.p_truncated_length,
            self.p_truncated_json,
            self.p_reset,
            self.p_storm,
        )

    @property
    def fault_rate(self) -> float:
        return sum(self.probabilities())

    def with_(self, **changes) -> FaultProfile:
        return replace(self, **changes)


def _throttles(shop_rate: float, erp: float, helpdesk: float, accounting: float) -> dict[str, Throttle]:
    return {
        "shop": Throttle(True, capacity=40, rate=shop_rate),
        "erp": Throttle(True, capacity=erp, rate=erp),
        "helpdesk": Throttle(True, capacity=helpdesk, rate=helpdesk),
        "accounting": Throttle(True, capacity=accounting, rate=accounting),
    }


PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile("none"),
    "flaky": FaultProfile(
        "flaky",
        throttle=_throttles(shop_rate=20.0, erp=25.0, helpdesk=10.0, accounting=20.0),
        p_500=0.01,
        p_502=0.008,
        p_503=0.008,
        p_slow=0.004,
        p_truncated_length=0.004,
        p_truncated_json=0.004,
        p_reset=0.006,
        p_storm=0.006,
        storm_length=(2, 4),
    ),
    "hostile": FaultProfile(
        "hostile",
        throttle=_throttles(shop_rate=10.0, erp=12.0, helpdesk=6.0, accounting=10.0),
        p_500=0.03,
        p_502=0.025,
        p_503=0.025,
        p_slow=0.015,
        p_truncated_length=0.025,
        p_truncated_json=0.025,
        p_reset=0.03,
        p_storm=0.025,
        storm_length=(3, 6),
    ),
}


def resolve_profile(faults: str | FaultProfile | None) -> FaultProfile:
    if faults is None:
        return PROFILES["none"]
    if isinstance(faults, FaultProfile):
        return faults
    try:
        return PROFILES[faults]
    except KeyError:
        raise ValueError(f"unknown fault profile {faults!r}; choose one of {sorted(PROFILES)}") from None


class _Bucket:
    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, throttle: Throttle):
        self.capacity = float(throttle.capacity)
        self.rate = float(throttle.rate)
        self.level = 0.0
        self.stamp = time.monotonic()

    def hit(self) -> tuple[bool, float, float]:
        """(allowed, level after the call, seconds until one more call fits)."""
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level + 1.0 > self.capacity:
            return False, self.level, (self.level + 1.0 - self.capacity) / self.rate
        self.level += 1.0
        return True, self.level, 0.0


@dataclass
class Decision:
    """What happens to one request. `throttled` and `storm` mean: answer 429 in the system's style."""

    kind: str | None = None  # one of FAULT_KINDS or "throttled", None for a normal answer
    retry_after: float = 0.0
    bucket_level: float | None = None

    @property
    def is_429(self) -> bool:
        return self.kind in ("throttled", "storm")


class FaultInjector:
    """Seeded, thread-safe decisions per request; also counts what it did."""

    def __init__(self, profile: FaultProfile, seed: int = 0):
        self.profile = profile
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._buckets = {
            system: _Bucket(spec) for system, spec in profile.throttle.items() if spec.enabled
        }
        self._storms = dict.fromkeys(SYSTEMS, 0)
        cumulative, total = [], 0.0
        for p in profile.probabilities():
            total += p
            cumulative.append(total)
        self._cumulative = tuple(cumulative)
        self._fault_rate = total
        self.counts: dict[str, int] = {}

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def shop_call_limit(self) -> str:
        bucket = self._buckets.get("shop")
        if bucket is None:
            return "1/40"
        return f"{min(int(math.ceil(bucket.level)), int(bucket.capacity))}/{int(bucket.capacity)}"

    def decide(self, system: str) -> Decision:
        if not self._buckets and self._fault_rate <= 0.0:
            return Decision()
        with self._lock:
            if self._storms.get(system, 0) > 0:
                self._storms[system] -= 1
                self._count("storm")
                return Decision("storm", retry_after=0.1)
            bucket = self._buckets.get(system)
            level = None
            if bucket is not None:
                allowed, level, wait = bucket.hit()
                if not allowed:
                    self._count("throttled")
                    return Decision("throttled", retry_after=wait, bucket_level=level)
            if self._fault_rate > 0.0:
                draw = self._rng.random()
                if draw < self._fault_rate:
                    for kind, bound in zip(FAULT_KINDS, self._cumulative):
                        if draw < bound:
                            break
                    self._count(kind)
                    if kind == "storm":
                        low, high = self.profile.storm_length
                        self._storms[system] = max(0, self._rng.randint(low, high) - 1)
                        return Decision("storm", retry_after=0.1, bucket_level=level)
                    return Decision(kind, bucket_level=level)
            return Decision(bucket_level=level)

    def cut_point(self, length: int) -> int:
        """Where to cut a body of `length` bytes (always strictly inside it)."""
        if length <= 1:
            return 0
        with self._lock:
            return self._rng.randint(1, length - 1)
