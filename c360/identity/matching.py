"""Probabilistic matching with Splink 5 on DuckDB: the pairs that exact keys miss.

Typos, transliterations, initials, moves, changed last names and missing e-mails break exact keys;
a Fellegi-Sunter model weighs the agreement of every field instead. The model is trained without
labels on the data itself:

- u probabilities (how often fields agree by chance) by random sampling of record pairs;
- m probabilities (how often fields agree for the same person) by expectation maximisation over
  a few blocking rules, each leaving the fields it blocks on to the other rules;
- the prior (probability that two random records match) from deterministic rules.

Prediction uses blocking rules on folded names, e-mail, phones, postcode/street and birthday, and
keeps pairs above `threshold`. Comparisons use Jaro-Winkler on names, exact matches on e-mail,
phones, birthday and address, with term-frequency adjustments where a value's frequency matters
(a shared landline or a common last name says less than a rare one).

Input: a table with the columns of `int_customer_records` (see `MATCH_COLUMNS`). Splink runs in
its own in-memory DuckDB so that none of its work tables land in the warehouse.

Training and scoring are apart: `predict_pairs` trains and scores everything, `score_pairs` scores
with a stored `TrainedModel` (settings JSON and term frequencies), all pairs or only those touching
the records changed since the last run (`c360.identity.match_run` decides which and keeps the model).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

MATCH_COLUMNS = [
    "record_key",
    "source_system",
    "first_name_folded",
    "first_initial",
    "last_name_folded",
    "email_normalized",
    "email_local",
    "mobile_e164",
    "landline_e164",
    "birthday",
    "street_normalized",
    "postcode",
    "address_key",
    "birth_year",
]

DEFAULT_THRESHOLD = 0.9


def _null(col: str) -> dict:
    return {"sql_condition": f'"{col}_l" is null or "{col}_r" is null', "label_for_charts": "null",
            "is_null_level": True}


def _level(sql: str, label: str, tf_col: str | None = None) -> dict:
    level = {"sql_condition": sql, "label_for_charts": label}
    if tf_col:
        level |= {"tf_adjustment_column": tf_col, "tf_adjustment_weight": 1.0}
    return level


ELSE = {"sql_condition": "else", "label_for_charts": "else"}


def comparisons() -> list[dict]:
    return [
        {
            "output_column_name": "first_name",
            "comparison_levels": [
                {"sql_condition": "first_initial_l is null or first_initial_r is null", "label_for_charts": "null",
                 "is_null_level": True},
                _level("first_name_folded_l = first_name_folded_r", "exact", "first_name_folded"),
                _level("jaro_winkler_similarity(first_name_folded_l, first_name_folded_r) >= 0.9", "jw >= 0.9"),
                _level("(first_name_folded_l is null or first_name_folded_r is null) "
                       "and first_initial_l = first_initial_r", "initial agrees"),
                _level("jaro_winkler_similarity(first_name_folded_l, first_name_folded_r) >= 0.8", "jw >= 0.8"),
                ELSE,
            ],
        },
        {
            "output_column_name": "last_name",
            "comparison_levels": [
                _null("last_name_folded"),
                _level("last_name_folded_l = last_name_folded_r", "exact", "last_name_folded"),
                _level("jaro_winkler_similarity(last_name_folded_l, last_name_folded_r) >= 0.9", "jw >= 0.9"),
                _level("jaro_winkler_similarity(last_name_folded_l, last_name_folded_r) >= 0.8", "jw >= 0.8"),
                ELSE,
            ],
        },
        {
            "output_column_name": "email",
            "comparison_levels": [
                _null("email_normalized"),
                _level("email_normalized_l = email_normalized_r", "exact", "email_normalized"),
                ELSE,
            ],
        },
        {
            "output_column_name": "mobile",
            "comparison_levels": [_null("mobile_e164"), _level("mobile_e164_l = mobile_e164_r", "exact", "mobile_e164"),
                                  ELSE],
        },
        {
            "output_column_name": "landline",
            "comparison_levels": [_null("landline_e164"),
                                  _level("landline_e164_l = landline_e164_r", "exact", "landline_e164"), ELSE],
        },
        {
            "output_column_name": "birthday",
            "comparison_levels": [_null("birthday"), _level("birthday_l = birthday_r", "exact"),
                                  _level("birth_year_l = birth_year_r", "same year"), ELSE],
        },
        {
            "output_column_name": "address",
            "comparison_levels": [
                _null("postcode"),
                _level("address_key_l = address_key_r", "exact", "address_key"),
                _level("postcode_l = postcode_r and jaro_winkler_similarity(street_normalized_l, street_normalized_r) >= 0.9",
                       "same postcode, similar street"),
                _level("postcode_l = postcode_r", "same postcode"),
                ELSE,
            ],
        },
    ]


# Candidate pairs for prediction: each rule catches what the others miss.
PREDICTION_BLOCKING_RULES = [
    ["email_normalized"],
    ["mobile_e164"],
    ["email_local", "first_initial"],  # other mailbox of the same person
    ["first_name_folded", "last_name_folded", "postcode"],
    ["first_name_folded", "last_name_folded", "birthday"],
    ["first_name_folded", "address_key"],  # changed last name
    ["last_name_folded", "address_key"],  # typo'd or initial first name
    ["first_name_folded", "birthday"],  # moved and renamed
    ["landline_e164", "first_initial"],
]
# EM: each rule estimates the fields it does not block on; together they cover every field.
TRAINING_BLOCKING_RULES = [
    ["email_normalized"],
    ["first_name_folded", "last_name_folded", "birthday"],
    ["mobile_e164"],
]
DETERMINISTIC_RULES = [
    "l.email_normalized = r.email_normalized and l.first_name_folded = r.first_name_folded",
    "l.mobile_e164 = r.mobile_e164 and l.first_name_folded = r.first_name_folded",
    "l.first_name_folded = r.first_name_folded and l.last_name_folded = r.last_name_folded "
    "and l.birthday = r.birthday",
]


def settings() -> dict:
    from splink import block_on

    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "record_key",
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [block_on(*cols) for cols in PREDICTION_BLOCKING_RULES],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }


# columns whose comparisons carry term-frequency adjustments (frozen with the model, see TrainedModel)
TF_COLUMNS = sorted({level["tf_adjustment_column"] for comparison in comparisons()
                     for level in comparison["comparison_levels"] if "tf_adjustment_column" in level})
# set on the records new or changed since the last scoring; only pairs touching one are scored then
CHANGED_COLUMN = "is_changed"


@dataclass
class TrainedModel:
    """A trained Fellegi-Sunter model: Splink's settings JSON (m, u, prior) and the term frequencies.

    The term frequencies are kept as of the training: with frequencies recomputed each day, every new
    record would move the frequency of its values (and the denominator of all of them), and so the
    score of pairs between records that did not change; scoring only the day's pairs could then not
    give what a full scoring gives. A value first seen after the training gets no adjustment.
    """

    settings: dict
    term_frequencies: pa.Table  # tf_column, value (varchar), tf
    records: int


@dataclass
class MatchResult:
    pairs: pa.Table  # record_key_l, record_key_r, match_probability, match_weight
    stats: dict = field(default_factory=dict)
    model: TrainedModel | None = None


def _empty_pairs() -> pa.Table:
    return pa.table({"record_key_l": pa.array([], pa.string()), "record_key_r": pa.array([], pa.string()),
                     "match_probability": pa.array([], pa.float64()), "match_weight": pa.array([], pa.float64())})


def _match_connection(records: pa.Table | str, source_con: duckdb.DuckDBPyConnection | None, threads: int | None,
                      memory_limit: str | None, changed_keys: pa.Table | None = None) -> duckdb.DuckDBPyConnection:
    """Splink's own in-memory DuckDB with the table `match_input` (and `is_changed` if `changed_keys`)."""
    if isinstance(records, str):
        records = source_con.execute(f"select {', '.join(MATCH_COLUMNS)} from {records}").to_arrow_table()
    con = duckdb.connect()
    if threads:
        con.execute(f"set threads = {int(threads)}")
    if memory_limit:
        # beyond it DuckDB spills the comparisons to its temp directory instead of growing
        con.execute(f"set memory_limit = '{memory_limit}'")
    con.register("__records_arrow", records)
    changed = ""
    if changed_keys is not None:
        con.register("__changed_arrow", changed_keys)
        changed = (f", record_key in (select record_key from __changed_arrow) as {CHANGED_COLUMN}")
    # Same records, same model: the training samples rows by position, so fix the order (a daily
    # warehouse holds its rows in another order than a fresh rebuild).
    con.execute(f"create table match_input as select *{changed} from __records_arrow order by record_key")
    con.unregister("__records_arrow")
    if changed_keys is not None:
        con.unregister("__changed_arrow")
    return con


def _train(con: duckdb.DuckDBPyConnection, n: int, u_max_pairs: float, em_max_pairs: float, seed: int,
           threads: int | None) -> TrainedModel:
    """u by random sampling, m by EM, prior from deterministic rules, on `match_input`."""
    from splink import DuckDBAPI, Linker, block_on

    linker = Linker(DuckDBAPI(con).register("match_input"), settings(), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(DETERMINISTIC_RULES, recall=0.8)
    # DuckDB's seeded sampling repeats itself only on one thread.
    con.execute("set threads = 1")
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    for cols in TRAINING_BLOCKING_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*cols), estimate_without_term_frequencies=True, max_pairs=em_max_pairs
        )
    con.execute(f"set threads = {int(threads)}" if threads else "reset threads")
    frequencies = [
        f"select '{col}' as tf_column, \"{col}\"::varchar as value, tf_{col}::double as tf "
        f"from {linker.table_management.compute_tf_table(col).physical_name}"
        for col in TF_COLUMNS
    ]
    tf = con.sql(" union all ".join(frequencies) + " order by tf_column, value").to_arrow_table()
    return TrainedModel(linker.misc.save_model_to_json(), tf, n)


def _changed_only(rules: list[dict]) -> list[dict]:
    """The prediction rules, each narrowed to pairs with a changed record on either side.

    Splink skips a pair in rule k when an earlier rule already produced it; narrowing every rule by
    the same condition keeps that, so each changed pair comes from the same first rule as in a full
    scoring, exactly once, and no pair of two unchanged records reaches the comparisons."""
    return [{**rule, "blocking_rule": f"({rule['blocking_rule']}) and (l.{CHANGED_COLUMN} or r.{CHANGED_COLUMN})"}
            for rule in rules]


def _score(con: duckdb.DuckDBPyConnection, model: TrainedModel, threshold: float, changed_only: bool) -> pa.Table:
    """Pairs of `match_input` at or above `threshold` under `model`, without any training."""
    from splink import DuckDBAPI, Linker

    model_settings = copy.deepcopy(model.settings)
    if changed_only:
        model_settings["blocking_rules_to_generate_predictions"] = _changed_only(
            model_settings["blocking_rules_to_generate_predictions"])
    db_api = DuckDBAPI(con)
    linker = Linker(db_api.register("match_input"), model_settings, log_level=logging.WARNING)
    con.register("__tf_arrow", model.term_frequencies)
    types = dict(con.execute("select column_name, column_type from (describe match_input)").fetchall())
    for col in TF_COLUMNS:
        con.execute(f"create or replace table tf_{col} as select value::{types[col]} as \"{col}\", tf as tf_{col} "
                    f"from __tf_arrow where tf_column = '{col}'")
        linker.table_management.register_term_frequency_lookup(db_api.register(f"tf_{col}"), col)
    con.unregister("__tf_arrow")
    predicted = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    return con.execute(
        f"""
        select least(record_key_l, record_key_r) as record_key_l,
               greatest(record_key_l, record_key_r) as record_key_r,
               match_probability, match_weight
        from {predicted.physical_name}
        """
    ).to_arrow_table()


def score_pairs(
    records: pa.Table | str,
    model: TrainedModel,
    source_con: duckdb.DuckDBPyConnection | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    changed_keys: pa.Table | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> MatchResult:
    """Score the pairs of `records` with a stored model; with `changed_keys` (a table with `record_key`)
    only the pairs with at least one of those records on a side, against all of `records`."""
    started = time.perf_counter()
    con = _match_connection(records, source_con, threads, memory_limit, changed_keys)
    n = con.execute("select count(*) from match_input").fetchall()[0][0]
    pairs = _score(con, model, threshold, changed_keys is not None) if n >= 2 else _empty_pairs()
    con.close()
    stats = {"records": int(n), "pairs": pairs.num_rows, "score_seconds": round(time.perf_counter() - started, 2)}
    return MatchResult(pairs, stats, model)


def predict_pairs(
    records: pa.Table | str,
    source_con: duckdb.DuckDBPyConnection | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    u_max_pairs: float = 2e6,
    em_max_pairs: float = 2e6,
    seed: int = 42,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> MatchResult:
    """Train a model on `records` without labels and return the pairs above `threshold` (and the model).

    `records`: an Arrow table with MATCH_COLUMNS, or a table name readable on `source_con`.
    """
    started = time.perf_counter()
    con = _match_connection(records, source_con, threads, memory_limit)
    n = con.execute("select count(*) from match_input").fetchall()[0][0]
    stats: dict = {"records": int(n)}
    if n < 2:
        con.close()
        return MatchResult(_empty_pairs(), stats)
    model = _train(con, int(n), u_max_pairs, em_max_pairs, seed, threads)
    stats["train_seconds"] = round(time.perf_counter() - started, 2)
    pairs = _score(con, model, threshold, changed_only=False)
    con.close()
    stats["pairs"] = pairs.num_rows
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return MatchResult(pairs, stats, model)
