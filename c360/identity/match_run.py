"""One matching run: retrain, score everything with the stored model, or score only the day's changes.

Training (EM) and scoring every blocked pair took 70.8 s of a 214 s daily run at 1M persons, while a
day changes a few per cent of the records. So the trained model is kept in the warehouse
(`intermediate.identity_model`: Splink's settings JSON with its m/u and prior, the training date and
record count; its term frequencies in `intermediate.identity_model_term_frequencies`) and a daily
run scores only the pairs with a record new or changed since the last run (`loaded_at` after the
bound that run saw), then replaces those records' pairs in `intermediate.identity_match_pairs`.

Paths (`identity_match_runs.path`, one row per run):
- `trained`: no stored model, the model is `retrain_days` old, the records loaded since the training
  pass `retrain_share` of those it was trained on, or a retrain is requested; trains, stores, scores all.
- `full`: a current model but no usable last run (none, another model, another threshold); scores all.
- `daily`: scores the changed records' pairs and keeps the other stored pairs.

Under one model `daily` gives exactly the pairs and probabilities of `full`: a pair of two unchanged
records has the same fields and the same (frozen) term frequencies as when it was scored, and every
pair that touches a changed record is scored again. What drifts between retrains is the model
itself (m/u and frequencies of the training day), not the pairs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.matching import (DEFAULT_THRESHOLD, REVIEW_THRESHOLD, MatchResult, TrainedModel, predict_pairs,
                                    score_pairs, training_stats)
from c360.identity.resolve import _table_exists, write_match_pairs
from c360.identity.schema import (MATCH_PAIRS_TABLE, MATCH_RUNS_TABLE, MODEL_TABLE, MODEL_TERM_FREQUENCIES_TABLE,
                             RECORDS_TABLE, REVIEW_PAIRS_TABLE)

TRAINED, FULL, DAILY = "trained", "full", "daily"
# scores the match input's pairs with a stored model: (model, threshold, changed record keys or None)
Scorer = Callable[[TrainedModel, float, pa.Table | None], MatchResult]
# what the model sees: collective contacts (one account for many buyers) are never matched
MATCH_INPUT = f"(select * from {RECORDS_TABLE} where not is_collective_contact)"


@dataclass
class StoredModel:
    model: TrainedModel
    trained_on: date
    trained_at: datetime
    loaded_until: datetime | None  # newest `loaded_at` among the records it was trained on


@dataclass
class MatchRunResult:
    stats: dict


def save_model(con: duckdb.DuckDBPyConnection, model: TrainedModel, trained_on: date,
               loaded_until: datetime | None) -> StoredModel:
    """Replace the stored model (one at a time: the runs table keeps which one scored each run)."""
    trained_at = datetime.now(UTC)
    con.execute(
        f"""create or replace table {MODEL_TABLE} as
            select ?::timestamptz as trained_at, ?::date as trained_on, ?::bigint as records,
                   ?::timestamptz as loaded_until, ?::varchar as settings_json, ?::varchar as training_json""",
        [trained_at, trained_on, model.records, loaded_until, json.dumps(model.settings), json.dumps(model.training)],
    )
    con.register("__tf_arrow", model.term_frequencies)
    con.execute(f"create or replace table {MODEL_TERM_FREQUENCIES_TABLE} as "
                f"select tf_column::varchar as tf_column, value::varchar as value, tf::double as tf from __tf_arrow")
    con.unregister("__tf_arrow")
    return load_model(con)


def load_model(con: duckdb.DuckDBPyConnection) -> StoredModel | None:
    if not (_table_exists(con, MODEL_TABLE) and _table_exists(con, MODEL_TERM_FREQUENCIES_TABLE)):
        return None
    # a model stored before the training path was kept has no `training_json`
    cursor = con.execute(f"select * from {MODEL_TABLE}")
    row = cursor.fetchone()
    if row is None:
        return None
    row = dict(zip([c[0] for c in cursor.description], row))
    tf = con.execute(f"select tf_column, value, tf from {MODEL_TERM_FREQUENCIES_TABLE} "
                     f"order by tf_column, value").to_arrow_table()
    training = json.loads(row["training_json"]) if row.get("training_json") else {}
    return StoredModel(TrainedModel(json.loads(row["settings_json"]), tf, int(row["records"]), training),
                       row["trained_on"], row["trained_at"], row["loaded_until"])


def retrain_reason(stored: StoredModel | None, run_date: date, records_since_training: int, *,
                   retrain_days: int, retrain_share: float, requested: bool = False) -> str | None:
    """Why this run trains a new model, or None to score with the stored one."""
    if requested:
        return "requested"
    if stored is None:
        return "no stored model"
    age = (run_date - stored.trained_on).days
    if age >= retrain_days:
        return f"model is {age} days old (retrain after {retrain_days})"
    share = records_since_training / max(stored.model.records, 1)
    if share > retrain_share:
        return f"{share:.1%} of the records are new or changed since the training (retrain above {retrain_share:.1%})"
    return None


def last_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    if not _table_exists(con, MATCH_RUNS_TABLE):
        return None
    cursor = con.execute(f"select * from {MATCH_RUNS_TABLE} order by run_at desc limit 1")
    row = cursor.fetchone()
    return dict(zip([c[0] for c in cursor.description], row)) if row else None


def _records_loaded_after(con: duckdb.DuckDBPyConnection, bound: datetime | None, source: str) -> int:
    if bound is None:
        return con.execute(f"select count(*) from {source}").fetchone()[0]
    return con.execute(f"select count(*) from {source} where loaded_at > ?", [bound]).fetchone()[0]


def _can_score_daily(con: duckdb.DuckDBPyConnection, previous: dict | None, stored: StoredModel,
                     threshold: float) -> bool:
    """The stored pairs are this model's at this threshold, so only the changed records' pairs differ."""
    return (previous is not None and _table_exists(con, MATCH_PAIRS_TABLE) and _table_exists(con, REVIEW_PAIRS_TABLE)
            and previous["model_trained_at"] == stored.trained_at and previous["threshold"] == threshold
            and previous["loaded_until"] is not None)


def merge_changed_pairs(con: duckdb.DuckDBPyConnection, scored: pa.Table, changed_keys: pa.Table,
                        table: str = MATCH_PAIRS_TABLE, source: str = MATCH_INPUT) -> int:
    """Replace the pairs of the changed records in `table` with `scored` (which only holds pairs that
    touch a changed record, so nothing is counted twice); pairs of records gone from `source` go too."""
    con.register("__changed_keys", changed_keys)
    con.register("__scored_arrow", scored)
    con.execute(
        f"""create or replace temp table __merged_pairs as
            select p.* from {table} p
            where p.record_key_l not in (select record_key from __changed_keys)
              and p.record_key_r not in (select record_key from __changed_keys)
              and p.record_key_l in (select record_key from {source})
              and p.record_key_r in (select record_key from {source})
            union all
            select record_key_l::varchar, record_key_r::varchar, match_probability::double, match_weight::double
            from __scored_arrow"""
    )
    con.unregister("__changed_keys")
    con.unregister("__scored_arrow")
    con.execute(f"create or replace table {table} as select * from __merged_pairs order by record_key_l, record_key_r")
    con.execute("drop table __merged_pairs")
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def _split(pairs: pa.Table, threshold: float) -> tuple[pa.Table, pa.Table]:
    """(the pairs at or above `threshold`: links; those below it: the review band)."""
    above = pc.greater_equal(pairs["match_probability"], threshold)
    return pairs.filter(above), pairs.filter(pc.invert(above))


def _write_split(con: duckdb.DuckDBPyConnection, pairs: pa.Table, threshold: float) -> int:
    """Write the links and the review band; returns the number of links."""
    links, band = _split(pairs, threshold)
    write_match_pairs(con, band, REVIEW_PAIRS_TABLE)
    return write_match_pairs(con, links)


def _merge_split(con: duckdb.DuckDBPyConnection, pairs: pa.Table, changed: pa.Table, threshold: float) -> int:
    """`merge_changed_pairs` for the links and the review band; returns the number of links."""
    links, band = _split(pairs, threshold)
    merge_changed_pairs(con, band, changed, REVIEW_PAIRS_TABLE)
    return merge_changed_pairs(con, links, changed)


def _record_run(con: duckdb.DuckDBPyConnection, run_date: date, stats: dict, stored: StoredModel,
                threshold: float, loaded_until: datetime | None) -> None:
    con.execute(
        f"""create table if not exists {MATCH_RUNS_TABLE} (
            run_on date not null, run_at timestamptz not null, path varchar not null, reason varchar,
            model_trained_at timestamptz not null, threshold double not null, loaded_until timestamptz,
            records bigint, changed_records bigint, pairs_scored bigint, pairs bigint, seconds double)"""
    )
    con.execute(
        f"insert into {MATCH_RUNS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_date, datetime.now(UTC), stats["path"], stats["reason"], stored.trained_at, threshold, loaded_until,
         stats["records"], stats["changed_records"], stats["pairs_scored"], stats["pairs"], stats["seconds"]],
    )


def match_records(
    con: duckdb.DuckDBPyConnection,
    run_date: date,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    retrain: bool = False,
    retrain_days: int = 7,
    retrain_share: float = 0.05,
    threads: int | None = None,
    memory_limit: str | None = None,
    scorer: Scorer | None = None,
) -> MatchRunResult:
    """Write `identity_match_pairs` for this run by the cheapest path that gives the model's pairs.

    `scorer` scores with the stored model where the records are (Splink on Spark: `on_spark`); by default
    Splink on DuckDB over MATCH_INPUT. Training runs on DuckDB either way (its prior is calibrated on
    the pairs it scores there); with a scorer, the pairs a training run writes are then the scorer's."""
    started = time.perf_counter()
    loaded_until = con.execute(f"select max(loaded_at) from {RECORDS_TABLE}").fetchone()[0]
    stored = load_model(con)
    since_training = _records_loaded_after(con, stored.loaded_until, MATCH_INPUT) if stored else 0
    reason = retrain_reason(stored, run_date, since_training, retrain_days=retrain_days,
                            retrain_share=retrain_share, requested=retrain)
    previous = last_run(con)
    stats: dict = {"reason": reason, "records_since_training": since_training, "train_seconds": 0.0}
    # scored down to the review band, which is kept apart: the links are the same as at `threshold`
    scored_from = min(REVIEW_THRESHOLD, threshold)
    def score(model: TrainedModel, minimum: float, changed_keys: pa.Table | None) -> MatchResult:
        if scorer is not None:
            return scorer(model, minimum, changed_keys)
        return score_pairs(MATCH_INPUT, model, con, minimum, changed_keys, threads, memory_limit)

    con.begin()
    if reason:
        result = predict_pairs(MATCH_INPUT, con, threshold=scored_from, threads=threads, memory_limit=memory_limit)
        if result.model is None:  # fewer than two records: no model to keep, no run to follow
            _write_split(con, result.pairs, threshold)
            con.commit()
            return MatchRunResult(stats | {"path": TRAINED, "records": result.stats["records"], "changed_records": 0,
                                           "pairs_scored": 0, "pairs": 0, "model_trained_on": None,
                                           "model_records": 0} | training_stats(None, result.stats["training_reason"]))
        stored = save_model(con, result.model, run_date, loaded_until)
        if scorer is not None:  # the pairs where the records are, under the model just trained
            result.pairs = scorer(result.model, scored_from, None).pairs
        stats |= {"path": TRAINED, "changed_records": result.stats["records"],
                  "train_seconds": result.stats.get("train_seconds", 0.0),
                  "pairs": _write_split(con, result.pairs, threshold)}
    elif _can_score_daily(con, previous, stored, threshold):
        changed = con.execute(f"select record_key from {RECORDS_TABLE} where loaded_at > ? order by record_key",
                              [previous["loaded_until"]]).to_arrow_table()
        result = score(stored.model, scored_from, changed)
        stats |= {"path": DAILY, "changed_records": changed.num_rows,
                  "pairs": _merge_split(con, result.pairs, changed, threshold)}
    else:
        result = score(stored.model, scored_from, None)
        stats |= {"path": FULL, "reason": "no run of this model at this threshold to follow",
                  "changed_records": result.stats["records"],
                  "pairs": _write_split(con, result.pairs, threshold)}
    stats |= training_stats(stored.model) | {
        "records": result.stats["records"], "pairs_scored": _split(result.pairs, threshold)[0].num_rows,
        "model_trained_on": stored.trained_on, "model_records": stored.model.records,
        "seconds": round(time.perf_counter() - started, 2)}
    _record_run(con, run_date, stats, stored, threshold, loaded_until)
    con.commit()
    return MatchRunResult(stats)
