"""Probabilistic matching with Splink 5 on DuckDB: the pairs that exact keys miss.

Typos, transliterations, initials, moves, changed last names and missing e-mails break exact keys;
a Fellegi-Sunter model weighs the agreement of every field instead. The model is trained without
labels on the data itself:

- u probabilities (how often fields agree by chance) by random sampling of record pairs;
- m probabilities (how often fields agree for the same person) by expectation maximisation over
  a few blocking rules, each leaving the fields it blocks on to the other rules;
- the prior (probability that two random records match) from deterministic rules, kept inside PRIOR_BOUNDS.

Training adapts to the fields the data has: each candidate training rule's pairs are counted first and
only rules with MIN_EM_PAIRS or more run EM (`choose_training_rules`). Where training is not possible
(fewer than MIN_TRAINING_RECORDS records, random pairs not mostly different people, no rule with pairs
enough) or Splink's training fails, the model is FALLBACK_M_U with the prior; levels EM leaves
unestimated take their m/u from it too. The model's `training` (and the stats) say which path ran and why.

Prediction uses blocking rules on folded names, e-mail, phones, postcode/street and birthday (and, for
records without e-mail or phone, looser REGISTER_BLOCKING_RULES where their pairs stay bounded), and
keeps pairs above `threshold`. The prior is checked against the model's own posterior before that
(`_calibrated_prior`): where the deterministic rules find far fewer of the linked pairs than assumed,
it is raised. Comparisons use Jaro-Winkler on names (and on first and last name swapped), exact
matches on e-mail and phones, birthday and address with a level for one typo, with term-frequency
adjustments where a value's frequency matters (a shared landline or a common last name says less
than a rare one).

Input: a table with the columns of `int_customer_records` (see `MATCH_COLUMNS`). Splink runs in
its own in-memory DuckDB so that none of its work tables land in the warehouse.

Training and scoring are apart: `predict_pairs` trains and scores everything, `score_pairs` scores
with a stored `TrainedModel` (settings JSON and term frequencies), all pairs or only those touching
the records changed since the last run (`c360.identity.match_run` decides which and keeps the model).
"""

from __future__ import annotations

import copy
import logging
import math
import re
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

# columns the matcher derives from MATCH_COLUMNS (SQL that DuckDB and Spark both read): blocking keys only
DERIVED_MATCH_COLUMNS = {
    # the street's first three letters, spaces dropped: a street typed apart or mistyped after its start
    # ("woollum s treet", "chillagoestreet") still blocks with its postcode
    "street_prefix": "left(replace(street_normalized, ' ', ''), 3)",
}

DEFAULT_THRESHOLD = 0.9
# pairs from here up to the threshold are kept apart for a data steward to decide (c360.identity.review)
REVIEW_THRESHOLD = 0.5

logger = logging.getLogger(__name__)


def _null(col: str) -> dict:
    return {"sql_condition": f'"{col}_l" is null or "{col}_r" is null', "label_for_charts": "null",
            "is_null_level": True}


def _level(sql: str, label: str, tf_col: str | None = None) -> dict:
    level = {"sql_condition": sql, "label_for_charts": label}
    if tf_col:
        level |= {"tf_adjustment_column": tf_col, "tf_adjustment_weight": 1.0}
    return level


def _else() -> dict:
    """The last level of a comparison. A new dict each time: one dict shared by every comparison would
    carry one m and u into all of them (`with_fallback_m_u` fills levels in place)."""
    return {"sql_condition": "else", "label_for_charts": "else"}


def _swapped(col: str, other: str) -> str:
    """The name of one side is (nearly) the other name of the other side: first and last name swapped."""
    return (f"jaro_winkler_similarity({col}_l, {other}_r) >= 0.9 "
            f"or jaro_winkler_similarity({col}_r, {other}_l) >= 0.9")


# one typo in a date: a digit of YYYYMMDD changed, two neighbouring digits swapped, or day and month swapped
BIRTHDAY_TYPO = ("damerau_levenshtein(strftime(birthday_l, '%Y%m%d'), strftime(birthday_r, '%Y%m%d')) <= 1 "
                 "or strftime(birthday_l, '%Y%d%m') = strftime(birthday_r, '%Y%m%d')")


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
                _level(_swapped("first_name_folded", "last_name_folded"), "swapped with last name"),
                _level("jaro_winkler_similarity(first_name_folded_l, first_name_folded_r) >= 0.8", "jw >= 0.8"),
                _else(),
            ],
        },
        {
            "output_column_name": "last_name",
            "comparison_levels": [
                _null("last_name_folded"),
                _level("last_name_folded_l = last_name_folded_r", "exact", "last_name_folded"),
                _level("jaro_winkler_similarity(last_name_folded_l, last_name_folded_r) >= 0.9", "jw >= 0.9"),
                _level(_swapped("last_name_folded", "first_name_folded"), "swapped with first name"),
                _level("jaro_winkler_similarity(last_name_folded_l, last_name_folded_r) >= 0.8", "jw >= 0.8"),
                _else(),
            ],
        },
        {
            "output_column_name": "email",
            "comparison_levels": [
                _null("email_normalized"),
                _level("email_normalized_l = email_normalized_r", "exact", "email_normalized"),
                _else(),
            ],
        },
        {
            "output_column_name": "mobile",
            "comparison_levels": [_null("mobile_e164"), _level("mobile_e164_l = mobile_e164_r", "exact", "mobile_e164"),
                                  _else()],
        },
        {
            "output_column_name": "landline",
            "comparison_levels": [_null("landline_e164"),
                                  _level("landline_e164_l = landline_e164_r", "exact", "landline_e164"), _else()],
        },
        {
            "output_column_name": "birthday",
            "comparison_levels": [_null("birthday"), _level("birthday_l = birthday_r", "exact"),
                                  _level(BIRTHDAY_TYPO, "one typo"),
                                  _level("birth_year_l = birth_year_r", "same year"), _else()],
        },
        {
            "output_column_name": "address",
            "comparison_levels": [
                _null("postcode"),
                _level("address_key_l = address_key_r", "exact", "address_key"),
                _level("postcode_l = postcode_r and jaro_winkler_similarity(street_normalized_l, street_normalized_r) >= 0.9",
                       "same postcode, similar street"),
                _level("damerau_levenshtein(postcode_l, postcode_r) <= 1 "
                       "and jaro_winkler_similarity(street_normalized_l, street_normalized_r) >= 0.9",
                       "similar street, postcode one typo"),
                _level("postcode_l = postcode_r", "same postcode"),
                _else(),
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
# A record without any identifier (no e-mail, no phone) is found only through its names, address and
# birthday, and the rules above then need an exact first name besides: in a register of names and
# addresses (FEBRL) one typo in it hides the pair. These rules block on one or two of those fields, each
# only for pairs with such a record on a side, and each only where it gives at most
# MAX_REGISTER_PAIRS_PER_RECORD pairs per such record (`choose_register_rules`): a rule whose pairs grow
# with the square of the records (one postcode, one year of birth among a million) is left out.
REGISTER_BLOCKING_RULES = [
    ["first_name_folded", "last_name_folded"],
    ["birthday"],
    ["postcode", "last_name_folded"],
    ["postcode", "first_name_folded"],
    ["last_name_folded", "birth_year"],
    ["first_name_folded", "birth_year"],
    ["postcode", "birth_year"],
    ["street_normalized"],
    ["postcode", "street_prefix"],
    ["first_name_folded=last_name_folded", "last_name_folded=first_name_folded"],  # first and last name swapped
]
MAX_REGISTER_PAIRS_PER_RECORD = 2.0


def _without_identifier(side: str) -> str:
    return f"({side}.email_normalized is null and {side}.mobile_e164 is null and {side}.landline_e164 is null)"


def _register_rule_sql(cols: list[str]) -> str:
    """Splink blocking SQL of a register rule: its keys equal (`a=b`: the left's a is the right's b) and a
    record without identifier on a side."""
    keys = []
    for col in cols:
        left, _, right = col.partition("=")
        keys.append(f'l."{left}" = r."{right or left}"')
    return " and ".join(keys) + f" and ({_without_identifier('l')} or {_without_identifier('r')})"


def register_pair_counts(con: duckdb.DuckDBPyConnection) -> tuple[int, dict[str, int]]:
    """(records without identifier, pairs each REGISTER_BLOCKING_RULE gives on `match_input`): pairs with
    equal keys minus those where both records hold an identifier (a swapped rule: an upper bound, by a join)."""
    without = int(con.execute(f"select count(*) from match_input m where {_without_identifier('m')}").fetchall()[0][0])
    counts = {}
    for cols in REGISTER_BLOCKING_RULES:
        if any("=" in col for col in cols):
            on = " and ".join(f'l."{c.partition("=")[0]}" = r."{c.partition("=")[2]}"' for c in cols)
            sql = (f"select count(*) from match_input l join match_input r on {on} "
                   f"where {_without_identifier('l')} and l.record_key <> r.record_key")
        else:
            keys = ", ".join(f'"{c}"' for c in cols)
            not_null = " and ".join(f'"{c}" is not null' for c in cols)
            sql = (f"select coalesce(sum(n * (n - 1) // 2 - i * (i - 1) // 2), 0) from "
                   f"(select count(*)::hugeint as n, count(*) filter (not {_without_identifier('m')})::hugeint as i "
                   f"from match_input m where {not_null} group by {keys})")
        counts[_rule_name(cols)] = int(con.execute(sql).fetchall()[0][0])
    return without, counts


def choose_register_rules(without_identifier: int, pair_counts: dict[str, int]) -> list[list[str]]:
    """The register rules with pairs (at most MAX_REGISTER_PAIRS_PER_RECORD per record without identifier)."""
    cap = MAX_REGISTER_PAIRS_PER_RECORD * without_identifier
    return [cols for cols in REGISTER_BLOCKING_RULES if 0 < pair_counts.get(_rule_name(cols), 0) <= cap]


# EM: each rule estimates the fields it does not block on; together they cover every field. These are
# used whenever they have pairs enough (`choose_training_rules`), which the demo world's data always has.
TRAINING_BLOCKING_RULES = [
    ["email_normalized"],
    ["first_name_folded", "last_name_folded", "birthday"],
    ["mobile_e164"],
]
# Taken in this order, only for comparisons the rules above leave unestimated (no e-mails, no phones, a
# register of names and addresses): each blocks on what the others leave to estimate.
EXTRA_TRAINING_BLOCKING_RULES = [
    ["address_key"],
    ["first_name_folded", "birthday"],
    ["last_name_folded", "postcode"],
    ["landline_e164"],
    ["email_local"],
    ["postcode"],
    ["birthday"],
    ["last_name_folded"],
    ["first_name_folded"],
]
DETERMINISTIC_RULES = [
    "l.email_normalized = r.email_normalized and l.first_name_folded = r.first_name_folded",
    "l.mobile_e164 = r.mobile_e164 and l.first_name_folded = r.first_name_folded",
    "l.first_name_folded = r.first_name_folded and l.last_name_folded = r.last_name_folded "
    "and l.birthday = r.birthday",
]
# share of the true matches the deterministic rules are taken to find (the prior is their count / recall)
DETERMINISTIC_RECALL = 0.8
# The prior is kept inside this open interval: 0 (no deterministic pair) makes every weight -inf and 1
# (every pair deterministic) +inf; either breaks EM and scoring ("math domain error", "inf" in SQL).
PRIOR_BOUNDS = (1e-10, 0.5)
# the most the model's own posterior may raise the deterministic prior (`_calibrated_prior`)
MAX_PRIOR_RAISE = 4.0
# EM on a rule with fewer candidate pairs than this is not tried: Splink's own guidance is that EM needs
# "usually at least a few hundred, but preferably at least a few thousand" comparisons, and on a handful
# of pairs (one duplicate) it drives m to 0 or 1.
MIN_EM_PAIRS = 300
# u by random sampling (and the term frequencies) measure chance agreement only where random pairs are
# nearly all different people: at least this many records, and a prior at most MAX_SAMPLING_PRIOR. In
# 10 records or a table of one person's copies the "random" pairs are the duplicates themselves.
MIN_TRAINING_RECORDS = 200
MAX_SAMPLING_PRIOR = 0.01
EM, FALLBACK_PRIORS = "em", "fallback_priors"

# m and u per comparison level (by `label_for_charts`) where the data cannot estimate them.
FALLBACK_M_U = {
    "first_name": {"exact": (0.87, 0.0045), "jw >= 0.9": (0.017, 0.0018), "initial agrees": (0.052, 0.0036),
                   "swapped with last name": (0.002, 1e-5), "jw >= 0.8": (0.00083, 0.0046), "else": (0.057, 0.99)},
    "last_name": {"exact": (0.94, 0.017), "jw >= 0.9": (0.036, 0.0097), "swapped with first name": (0.002, 1e-5),
                  "jw >= 0.8": (0.0084, 0.023), "else": (0.019, 0.95)},
    "email": {"exact": (0.92, 4.2e-5), "else": (0.075, 0.99996)},
    "mobile": {"exact": (0.96, 4.4e-5), "else": (0.52, 0.99996)},
    "landline": {"exact": (0.95, 0.00012), "else": (0.05, 0.99988)},
    "birthday": {"exact": (0.95, 6.9e-5), "one typo": (0.01, 0.001), "same year": (0.025, 0.015),
                 "else": (0.025, 0.985)},
    "address": {"exact": (0.96, 3.8e-5), "same postcode, similar street": (0.0037, 5.4e-5),
                "similar street, postcode one typo": (0.003, 1e-5), "same postcode": (0.0083, 0.011),
                "else": (0.033, 0.99)},
}
"""Where these numbers come from (used where training is not possible, and for levels it leaves unestimated).

m and u are this project's model trained without labels on the demo world (`benchmarks/bench_identity.py
--persons 20000`, seed 2027: 46,826 records, EM over the three TRAINING_BLOCKING_RULES, u from 2M random
pairs), rounded to two significant figures. They are medians over EM sessions, so the m of one comparison
need not sum to exactly 1. Two comparisons are not taken from it, because that world cannot teach them:
- birthday: that world (without the ERP's custom birthday field) holds birthdays in the shop only, where a
  person has one record, so EM sees no pair of one person's birthdays (it left m(exact) unestimated). m is Splink's default for a comparison with
  three levels (0.95 for the top level, the rest split evenly: `comparison_level._default_m_values`); u is
  the trained one (exact 6.9e-5: one birthday in ~40 years of birth dates; same year 1.5 %).
- landline: EM put m(else) at 0.0003, i.e. a person never has two landlines nor moves; m is Splink's
  default for two levels (0.95 / 0.05), u the trained one.
The typo levels (names swapped, a birthday one typo away, a postcode one typo away) came after that
training and are guesses of the same order as their neighbours: m a few tenths of a per cent to one per
cent (a typo in one field of one record in a hundred or more), u the chance that two different people
agree so (names swapped: 1e-5; a birthday one typo away: ~40 of ~24,000 dates, 0.1 %).
u of an identifier (e-mail, phone, exact address) is the share of random pairs of different people that
share it, which falls with the number of records; the demo's values are for ~50,000 records and overstate
a shared identifier's evidence in a small table, where the prior (from the number of pairs) is larger in
turn and the guards (shared-identifier caps, first-name and birthday conflicts) still veto household links.
With enough records (MIN_TRAINING_RECORDS) u is measured on the data instead.
"""


def settings(register_rules: list[list[str]] | None = None) -> dict:
    """Splink settings: PREDICTION_BLOCKING_RULES, then the chosen REGISTER_BLOCKING_RULES (kept with the
    model, so that a daily scoring blocks as the training day did)."""
    from splink import block_on

    register = [{"blocking_rule": _register_rule_sql(cols), "sql_dialect": "duckdb"} for cols in register_rules or []]
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "record_key",
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [block_on(*cols) for cols in PREDICTION_BLOCKING_RULES] + register,
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
    # how it was trained: {"training": EM | FALLBACK_PRIORS, "reason": ..., "rules": [...], ...}
    training: dict = field(default_factory=dict)


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
    derived = "".join(f", {sql} as {name}" for name, sql in DERIVED_MATCH_COLUMNS.items())
    con.execute(f"create table match_input as select *{derived}{changed} from __records_arrow order by record_key")
    con.unregister("__records_arrow")
    if changed_keys is not None:
        con.unregister("__changed_arrow")
    return con


def _rule_name(cols: list[str]) -> str:
    return "+".join(cols)


def comparison_columns() -> dict[str, set[str]]:
    """The input columns each comparison reads (as Splink finds them: `<col>_l` / `<col>_r` in its SQL)."""
    return {c["output_column_name"]: {m for level in c["comparison_levels"]
                                      for m in re.findall(r"\b(\w+)_[lr]\b", level["sql_condition"])}
            for c in comparisons()}


def candidate_pair_counts(con: duckdb.DuckDBPyConnection, rules: list[list[str]]) -> dict[str, int]:
    """Pairs each blocking rule would give EM on `match_input`: sum of n*(n-1)/2 over its non-null keys."""
    counts = {}
    for cols in rules:
        keys = ", ".join(f'"{c}"' for c in cols)
        not_null = " and ".join(f'"{c}" is not null' for c in cols)
        counts[_rule_name(cols)] = int(con.execute(
            f"select coalesce(sum(n * (n - 1) // 2), 0) from "
            f"(select count(*)::hugeint as n from match_input where {not_null} group by {keys})").fetchall()[0][0])
    return counts


def choose_training_rules(pair_counts: dict[str, int], columns_with_data: set[str]) -> list[list[str]]:
    """The EM rules: every preferred rule with MIN_EM_PAIRS pairs, then extra ones while they estimate a
    comparison (one with data) that no chosen rule estimates yet. A rule estimates the comparisons that
    read none of its columns; a comparison left out keeps its m from FALLBACK_M_U."""
    usable = [cols for cols in TRAINING_BLOCKING_RULES + EXTRA_TRAINING_BLOCKING_RULES
              if pair_counts.get(_rule_name(cols), 0) >= MIN_EM_PAIRS]
    reads = {name: cols for name, cols in comparison_columns().items() if cols & columns_with_data}

    def estimates(rule: list[str]) -> set[str]:
        return {name for name, cols in reads.items() if not cols & set(rule)}

    chosen = [rule for rule in usable if rule in TRAINING_BLOCKING_RULES]
    covered = set().union(*(estimates(rule) for rule in chosen))
    for rule in usable:
        if rule not in chosen and estimates(rule) - covered:
            chosen.append(rule)
            covered |= estimates(rule)
    return chosen


def _columns_with_data(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Columns with a value in at least two records (else no pair can agree or disagree on them)."""
    cols = [c for c in MATCH_COLUMNS if c not in ("record_key", "source_system")]
    counts = con.execute("select " + ", ".join(f'count("{c}")' for c in cols) + " from match_input").fetchall()[0]
    return {c for c, count in zip(cols, counts) if count >= 2}


def deterministic_prior(con: duckdb.DuckDBPyConnection, n: int) -> tuple[float, int]:
    """(prior, pairs found): Splink's direct estimate (distinct pairs the DETERMINISTIC_RULES find, over
    DETERMINISTIC_RECALL, over all n*(n-1)/2 pairs), with at least one pair assumed and kept inside
    PRIOR_BOUNDS, so that neither 0 found pairs nor all of them gives a prior of 0 or 1."""
    found = con.execute(
        "select count(*) from (" + " union ".join(
            f"select l.record_key as l, r.record_key as r from match_input l join match_input r "
            f"on l.record_key < r.record_key and ({rule})" for rule in DETERMINISTIC_RULES) + ")").fetchall()[0][0]
    total = max(n * (n - 1) / 2, 1)
    prior = max(found, 1) / DETERMINISTIC_RECALL / total
    low, high = PRIOR_BOUNDS
    return min(max(prior, low), high), int(found)


def with_fallback_m_u(model_settings: dict) -> dict:
    """A settings dict whose levels without an m or u (never trained, or not seen in training) take theirs
    from FALLBACK_M_U; trained values are kept, but rescaled to what the fallback levels leave.

    EM spreads m over the levels it saw, so those sum to 1 on their own. When it saw only some levels,
    the fallback's m for the others come on top: in the demo world EM sees birthdays of one person in
    no training pair, only those of household members who share an e-mail, and puts m(else) at 1.0,
    beside the fallback's 0.95 for an equal birthday. A disagreeing birthday then weighed nothing
    (log2(1.0 / 0.98)). The trained levels now share 1 - (the fallback levels' m): m(else) 0.015."""
    model_settings = copy.deepcopy(model_settings)
    for comparison in model_settings["comparisons"]:
        fallback = FALLBACK_M_U[comparison["output_column_name"]]
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        trained = [level for level in levels if "m_probability" in level]
        untrained_share = sum(fallback[level["label_for_charts"]][0] for level in levels if level not in trained)
        trained_sum = sum(level["m_probability"] for level in trained)
        if trained and 0 < untrained_share < 1 and trained_sum > 0:
            for level in trained:
                level["m_probability"] *= (1 - untrained_share) / trained_sum
        for level in levels:
            m, u = fallback[level["label_for_charts"]]
            level.setdefault("m_probability", m)
            level.setdefault("u_probability", u)
    return model_settings


def _term_frequencies(con: duckdb.DuckDBPyConnection, linker) -> pa.Table:
    frequencies = [
        f"select '{col}' as tf_column, \"{col}\"::varchar as value, tf_{col}::double as tf "
        f"from {linker.table_management.compute_tf_table(col).physical_name}"
        for col in TF_COLUMNS
    ]
    return con.sql(" union all ".join(frequencies) + " order by tf_column, value").to_arrow_table()


def _no_term_frequencies() -> pa.Table:
    return pa.table({"tf_column": pa.array([], pa.string()), "value": pa.array([], pa.string()),
                     "tf": pa.array([], pa.float64())})


def _linker(con: duckdb.DuckDBPyConnection, model_settings: dict):
    from splink import DuckDBAPI, Linker

    return Linker(DuckDBAPI(con).register("match_input"), model_settings, log_level=logging.WARNING)


def _train(con: duckdb.DuckDBPyConnection, n: int, prior: float, rules: list[list[str]], u_max_pairs: float,
           em_max_pairs: float, seed: int, threads: int | None, register_rules: list[list[str]]) -> TrainedModel:
    """u by random sampling, m by EM over `rules`, on `match_input`. A rule whose EM fails is skipped (its
    comparisons keep the m of the other rules, or the fallback's); all failing raises."""
    from splink import block_on

    linker = _linker(con, settings(register_rules) | {"probability_two_random_records_match": prior})
    failed = {}
    # DuckDB's seeded sampling repeats itself only on one thread.
    con.execute("set threads = 1")
    try:
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        for cols in rules:
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*cols), estimate_without_term_frequencies=True, max_pairs=em_max_pairs)
            except (MemoryError, duckdb.OutOfMemoryException):
                raise  # not the data's shape: a larger machine or memory limit, not a weaker model, is the fix
            except Exception as error:  # noqa: BLE001 - any Splink failure of one rule: train without it
                failed[_rule_name(cols)] = f"{type(error).__name__}: {str(error)[:200]}"
                logger.warning("EM on %s failed, trained without it: %s", _rule_name(cols), failed[_rule_name(cols)])
        if len(failed) == len(rules):
            raise RuntimeError(f"EM failed on every training rule: {failed}")
    finally:
        con.execute(f"set threads = {int(threads)}" if threads else "reset threads")
    trained = [_rule_name(cols) for cols in rules if _rule_name(cols) not in failed]
    reason = f"EM over {len(trained)} rule(s) with >= {MIN_EM_PAIRS} pairs"
    if failed:
        reason += "; EM failed (rule skipped) on " + "; ".join(f"{rule}: {error}" for rule, error in failed.items())
    training = {"training": EM, "reason": reason, "rules": trained, "failed_rules": failed,
                "register_rules": [_rule_name(cols) for cols in register_rules]}
    return TrainedModel(with_fallback_m_u(linker.misc.save_model_to_json()), _term_frequencies(con, linker), n,
                        training)


def _fallback_model(con: duckdb.DuckDBPyConnection, n: int, prior: float, reason: str, sample_u: bool,
                    u_max_pairs: float, seed: int, threads: int | None, register_rules: list[list[str]]) -> TrainedModel:
    """FALLBACK_M_U with the prior; u (and term frequencies) measured on the data where that is sound."""
    linker = _linker(con, with_fallback_m_u(settings(register_rules)) | {"probability_two_random_records_match": prior})
    tf = _no_term_frequencies()
    if sample_u:
        con.execute("set threads = 1")
        try:
            linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
            tf = _term_frequencies(con, linker)
        except (MemoryError, duckdb.OutOfMemoryException):
            raise
        except Exception as error:  # noqa: BLE001 - keep the fallback u
            reason += f"; u sampling failed ({type(error).__name__}), fallback u kept"
            sample_u = False
            linker = _linker(con, with_fallback_m_u(settings(register_rules)) | {"probability_two_random_records_match": prior})
        finally:
            con.execute(f"set threads = {int(threads)}" if threads else "reset threads")
    # levels the sample did not see lose their u in Splink's JSON: the fallback's takes their place
    training = {"training": FALLBACK_PRIORS, "reason": reason, "rules": [], "failed_rules": {},
                "register_rules": [_rule_name(cols) for cols in register_rules],
                "u": "random sampling" if sample_u else "fallback"}
    return TrainedModel(with_fallback_m_u(linker.misc.save_model_to_json()), tf, n, training)


def _changed_only(rules: list[dict]) -> list[dict]:
    """The prediction rules, each narrowed to pairs with a changed record on either side.

    Splink skips a pair in rule k when an earlier rule already produced it; narrowing every rule by
    the same condition keeps that, so each changed pair comes from the same first rule as in a full
    scoring, exactly once, and no pair of two unchanged records reaches the comparisons."""
    return [{**rule, "blocking_rule": f"({rule['blocking_rule']}) and (l.{CHANGED_COLUMN} or r.{CHANGED_COLUMN})"}
            for rule in rules]


def _score(con: duckdb.DuckDBPyConnection, model: TrainedModel, threshold: float, changed_only: bool,
           calibrate: bool = False) -> pa.Table:
    """Pairs of `match_input` at or above `threshold` under `model`, without any training; with `calibrate`,
    the prior first checked against the pairs the model links (`_calibrated_prior`, which updates `model`)."""
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
    prior = model.settings["probability_two_random_records_match"]
    calibrate = calibrate and 0 < threshold < 1
    low = _weight_threshold(threshold, prior, prior * MAX_PRIOR_RAISE) if calibrate else threshold
    predicted = linker.inference.predict(threshold_match_probability=low, warning_mode="never").physical_name
    shift = 0.0
    if calibrate:
        new_prior = _calibrated_prior(con, predicted, prior)
        shift = _log2_odds(new_prior) - _log2_odds(prior)
        model.settings["probability_two_random_records_match"] = new_prior
        model.training["prior_calibration"] = {"deterministic_prior": prior, "prior": new_prior}
    return con.execute(
        f"""
        select least(record_key_l, record_key_r) as record_key_l,
               greatest(record_key_l, record_key_r) as record_key_r,
               1 / (1 + pow(2, -(match_weight + {shift}))) as match_probability, match_weight + {shift} as match_weight
        from {predicted}
        where 1 / (1 + pow(2, -(match_weight + {shift}))) >= {threshold}
        """
    ).to_arrow_table()


def _log2_odds(p: float) -> float:
    return math.log2(p / (1 - p))


def _weight_threshold(threshold: float, prior: float, raised: float) -> float:
    """The probability under `prior` of a pair that reaches `threshold` under the `raised` prior."""
    weight = _log2_odds(threshold) - (_log2_odds(min(raised, PRIOR_BOUNDS[1])) - _log2_odds(prior))
    return 1 / (1 + 2 ** -weight)


def _calibrated_prior(con: duckdb.DuckDBPyConnection, predicted: str, prior: float) -> float:
    """The prior from the model's own posterior. The deterministic prior assumes its rules find
    DETERMINISTIC_RECALL of the matches; where the linked pairs (weighted by their probability) say
    the rules find fewer (a register without e-mails, its names and birthdays mistyped: FEBRL, 40-50 %),
    the prior is raised by that ratio, at most MAX_PRIOR_RAISE times. It is never lowered."""
    rules = " or ".join(f"({rule})" for rule in DETERMINISTIC_RULES)
    share = con.execute(
        f"""select sum(p.match_probability) filter (where {rules}) / nullif(sum(p.match_probability), 0)
            from {predicted} p
            join match_input l on l.record_key = p.record_key_l
            join match_input r on r.record_key = p.record_key_r""").fetchall()[0][0]
    if not share or share >= DETERMINISTIC_RECALL:
        return prior
    raised = prior * min(DETERMINISTIC_RECALL / share, MAX_PRIOR_RAISE)
    return min(max(raised, PRIOR_BOUNDS[0]), PRIOR_BOUNDS[1])


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


def _training_plan(con: duckdb.DuckDBPyConnection, n: int) -> dict:
    """What the data allows: the prior, the EM rules, whether u may be sampled, and why not EM (or None)."""
    prior, found = deterministic_prior(con, n)
    counts = candidate_pair_counts(con, TRAINING_BLOCKING_RULES + EXTRA_TRAINING_BLOCKING_RULES)
    rules = choose_training_rules(counts, _columns_with_data(con))
    without_identifier, register_counts = register_pair_counts(con)
    register_rules = choose_register_rules(without_identifier, register_counts)
    sample_u = n >= MIN_TRAINING_RECORDS and prior <= MAX_SAMPLING_PRIOR
    reason = None
    if n < MIN_TRAINING_RECORDS:
        reason = f"{n} records: EM and u sampling need at least {MIN_TRAINING_RECORDS}"
    elif prior > MAX_SAMPLING_PRIOR:
        reason = (f"prior {prior:.3g} above {MAX_SAMPLING_PRIOR}: random pairs are not mostly different people, "
                  f"so u and EM cannot be estimated")
    elif not rules:
        reason = f"no training blocking rule gives {MIN_EM_PAIRS} pairs or more"
    return {"prior": prior, "deterministic_pairs": found, "pair_counts": counts, "rules": rules,
            "sample_u": sample_u, "reason": reason, "register_rules": register_rules,
            "register_pair_counts": register_counts}


def _train_and_score(con: duckdb.DuckDBPyConnection, n: int, plan: dict, threshold: float, u_max_pairs: float,
                     em_max_pairs: float, seed: int, threads: int | None) -> tuple[TrainedModel, pa.Table, float]:
    """(model, pairs, training seconds): EM where the plan allows it; on any failure of it (or of scoring
    its model) the fallback priors."""
    reason = plan["reason"]
    started = time.perf_counter()
    if reason is None:
        try:
            model = _train(con, n, plan["prior"], plan["rules"], u_max_pairs, em_max_pairs, seed, threads,
                           plan["register_rules"])
            seconds = time.perf_counter() - started
            return model, _score(con, model, threshold, changed_only=False, calibrate=True), seconds
        except (MemoryError, duckdb.OutOfMemoryException):
            raise
        except Exception as error:  # noqa: BLE001 - EMTrainingException, math domain error, inf weights...
            reason = f"training failed: {type(error).__name__}: {str(error)[:300]}"
            logger.warning("Splink training failed, using the fallback priors: %s", reason)
    model = _fallback_model(con, n, plan["prior"], reason, plan["sample_u"], u_max_pairs, seed, threads,
                            plan["register_rules"])
    seconds = time.perf_counter() - started
    return model, _score(con, model, threshold, changed_only=False, calibrate=True), seconds


def training_stats(model: TrainedModel | None, reason: str = "") -> dict:
    """The training path of `model` for run statistics and asset metadata."""
    training = model.training if model is not None else {}
    return {"training": training.get("training", FALLBACK_PRIORS), "training_reason": training.get("reason", reason),
            "training_rules": list(training.get("rules", []))}


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

    `records`: an Arrow table with MATCH_COLUMNS, or a table name readable on `source_con`. Any input
    gives a result: where EM is not possible or fails, the model is the fallback priors (FALLBACK_M_U);
    `stats["training"]` says which (EM or FALLBACK_PRIORS), `training_reason` why, `training_rules` the
    EM rules used.
    """
    started = time.perf_counter()
    con = _match_connection(records, source_con, threads, memory_limit)
    n = con.execute("select count(*) from match_input").fetchall()[0][0]
    stats: dict = {"records": int(n)}
    if n < 2:
        con.close()
        return MatchResult(_empty_pairs(), stats | training_stats(None, f"{n} record(s): no pair to score"))
    plan = _training_plan(con, int(n))
    model, pairs, train_seconds = _train_and_score(con, int(n), plan, threshold, u_max_pairs, em_max_pairs, seed,
                                                   threads)
    con.close()
    stats |= training_stats(model) | {"prior": plan["prior"], "deterministic_pairs": plan["deterministic_pairs"],
                                      "training_pair_counts": plan["pair_counts"],
                                      "register_rules": [_rule_name(cols) for cols in plan["register_rules"]]}
    stats["pairs"] = pairs.num_rows
    stats["train_seconds"] = round(train_seconds, 2)
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return MatchResult(pairs, stats, model)
