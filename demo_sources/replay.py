"""Replay format: one JSON Lines file per resource plus truth/identity.csv (see SOURCE_APIS.md).

The NPS answers are `nps/responses.jsonl`, one row of the survey tool's export per line (served as a
CSV file, `demo_sources.nps_export`, not over HTTP). A replay directory of an earlier layout holds them
in `helpdesk/survey_responses.jsonl` instead, an export Zendesk does not have: when `nps/responses.jsonl`
is missing, its NPS rows are converted to export rows (`helpdesk.nps_from_legacy`), and its CSAT rows
to satisfaction ratings when `helpdesk/satisfaction_ratings.jsonl` is missing too. The file is never
served as it is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import orjson
import pandas as pd

from .accounting import payments_from_legacy
from .helpdesk import nps_from_legacy, ratings_from_legacy
from .world import RESOURCE_KEYS, TRUTH_COLUMNS, _no_gc

# Resources a replay directory may hold beyond the generated world's: CSAT survey responses (the
# generated account runs Zendesk's legacy CSAT; a replay of an account on the current CSAT brings them).
REPLAY_KEYS = RESOURCE_KEYS + ("helpdesk/csat_survey_responses",)

_MARKERS = {"shop": "updated_at", "erp": "write_date", "helpdesk": "updated_at", "accounting": "updatedDate",
            "nps": "responded_at"}


def write_replay(world, out_dir: Path) -> dict[str, int]:
    """Write every resource of ``world`` as <system>/<resource>.jsonl and truth/identity.csv; return counts."""
    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    for key in world.resource_keys:
        path = out_dir / f"{key}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with open(path, "wb") as fh:
            for batch in world.iter_record_batches(key):
                fh.write(b"".join([orjson.dumps(rec) + b"\n" for rec in batch]))
                n += len(batch)
        counts[key] = n
    truth = world.truth()
    if truth is not None and len(truth):
        tp = out_dir / "truth" / "identity.csv"
        tp.parent.mkdir(parents=True, exist_ok=True)
        truth[TRUTH_COLUMNS].to_csv(tp, index=False, lineterminator="\n")
        counts["truth"] = len(truth)
    return counts


def _parse_marker(system: str, value) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        if system == "erp":
            return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


class ReplayWorld:
    """A world read from a replay directory: the read interface of GeneratedWorld, without a clock."""

    resource_keys = REPLAY_KEYS

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise FileNotFoundError(f"replay directory not found: {self.data_dir}")
        self.seed = None
        # records are kept as their compact JSON lines (far smaller than dicts) and parsed when iterated
        self._records: dict[str, list[bytes]] = {}
        latest: dt.datetime | None = None
        with _no_gc():
            latest = self._load(latest)
        wall = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.now = max(wall, latest + dt.timedelta(seconds=61)) if latest else wall
        tp = self.data_dir / "truth" / "identity.csv"
        if tp.exists():
            self._truth = pd.read_csv(tp, dtype=str, keep_default_na=False)
        else:
            self._truth = pd.DataFrame({c: pd.Series(dtype=str) for c in TRUTH_COLUMNS})

    def _load(self, latest: dt.datetime | None) -> dt.datetime | None:
        for key in REPLAY_KEYS:
            recs, latest = self._read_jsonl(key, latest)
            if key == "accounting/payments" and recs:
                # the earlier layout held one row per payment; the payments resource holds one per voucher
                recs = [orjson.dumps(r) for r in payments_from_legacy([orjson.loads(line) for line in recs])]
            self._records[key] = recs
        self._convert_legacy_surveys()
        return latest

    def _convert_legacy_surveys(self) -> None:
        """The earlier layout's `helpdesk/survey_responses.jsonl` (see the module docstring)."""
        if not (self.data_dir / "helpdesk" / "survey_responses.jsonl").exists():
            return
        legacy, _ = self._read_jsonl("helpdesk/survey_responses", None)
        ratings, rest = ratings_from_legacy(legacy)
        if not (self.data_dir / "helpdesk" / "satisfaction_ratings.jsonl").exists():
            self._records["helpdesk/satisfaction_ratings"] = ratings
        if not (self.data_dir / "nps" / "responses.jsonl").exists():
            self._records["nps/responses"] = nps_from_legacy(rest, self._records["helpdesk/users"])

    def _read_jsonl(self, key: str, latest: dt.datetime | None) -> tuple[list[bytes], dt.datetime | None]:
        """The records of `<key>.jsonl` as compact JSON lines (none if it is missing), and the latest
        change marker so far."""
        path = self.data_dir / f"{key}.jsonl"
        recs: list[bytes] = []
        if path.exists():
            system = key.split("/")[0]
            marker = _MARKERS[system]
            with open(path, "rb") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        raise ValueError(f"{path}: line {lineno} is not valid JSON ({exc})") from None
                    # valid JSON that does not conform (not an object, missing fields) is kept as it is
                    recs.append(orjson.dumps(rec))
                    if isinstance(rec, dict):
                        m = _parse_marker(system, rec.get(marker))
                        if m is not None and (latest is None or m > latest):
                            latest = m
        return recs, latest

    def count(self, key: str) -> int:
        if key not in REPLAY_KEYS:
            raise KeyError(key)
        return len(self._records[key])

    def iter_records(self, key: str) -> Iterator[dict]:
        if key not in REPLAY_KEYS:
            raise KeyError(key)
        for batch in self.iter_record_batches(key, 5_000):
            yield from batch

    def iter_record_batches(self, key: str, batch_size: int = 50_000) -> Iterator[list[dict]]:
        if key not in REPLAY_KEYS:
            raise KeyError(key)
        recs = self._records[key]
        for a in range(0, len(recs), batch_size):
            with _no_gc():
                batch = [orjson.loads(line) for line in recs[a:a + batch_size]]
            yield batch

    def truth(self) -> pd.DataFrame:
        return self._truth.copy()

    def advance_day(self) -> dict[str, list[dict]]:
        raise NotImplementedError("a replayed world has no clock; only a generated world can advance")


def load_replay(data_dir: Path) -> ReplayWorld:
    return ReplayWorld(data_dir)
