"""How good is a crosswalk? Pairwise precision, recall and F1 against a truth file, and more.

A crosswalk maps every source record to a cluster (`golden_customer_id`); a truth table maps every
source record to the real `person_id`. Both are compared as the set of record pairs they put
together:

- precision = pairs put together that are truly the same person / all pairs put together;
- recall = pairs of the same person that were put together / all pairs of the same person;
- exact share = people whose records form exactly one cluster, with nothing else in it;
- household precision: restricted to record pairs that share a phone *and* an address (where
  households live), the precision of the pairs put together, and how many pairs of different
  people among them were merged by mistake.

Counting uses cluster contingency tables (sum of n*(n-1)/2 per cell), never a list of pairs, so it
runs on millions of records.

Without a truth file, a data steward's labels (`intermediate.identity_labels`, `c360 identity
review`) are the truth there is: `label_metrics` compares the crosswalk and the model's scores with
them, pair by pair (a labelled pair is a sample of the uncertain band, not of all pairs, so these
figures say how the band is decided, not how the whole crosswalk is).

CLI: `c360 evaluate (--truth FILE | --labels) [--warehouse PATH]` calls `main_cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KEY_COLUMNS = ["source_system", "source_record_id"]


def _pairs(counts: np.ndarray | pd.Series) -> int:
    n = np.asarray(counts, dtype=np.int64)
    return int((n * (n - 1) // 2).sum())


def _normalise(df: pd.DataFrame, cluster_column: str) -> pd.DataFrame:
    out = df[[*KEY_COLUMNS, cluster_column]].copy()
    for column in (*KEY_COLUMNS, cluster_column):
        out[column] = out[column].astype(str)
    return out


def pairwise_metrics(crosswalk: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Pairwise precision/recall/F1 and the exact-person share.

    `crosswalk`: source_system, source_record_id, golden_customer_id.
    `truth`: source_system, source_record_id, person_id.
    Records of the truth missing from the crosswalk count as singletons (and are reported);
    records of the crosswalk missing from the truth are left out of the comparison (and reported).
    """
    pred = _normalise(crosswalk, "golden_customer_id")
    true = _normalise(truth, "person_id")
    if pred.duplicated(KEY_COLUMNS).any():
        raise ValueError("the crosswalk maps a source record more than once")
    merged = true.merge(pred, on=KEY_COLUMNS, how="left", indicator=True)
    unmapped = int((merged["_merge"] == "left_only").sum())
    # an unmapped record is its own cluster
    missing = merged["golden_customer_id"].isna()
    merged.loc[missing, "golden_customer_id"] = (
        "__unmapped__" + merged.loc[missing, "source_system"] + ":" + merged.loc[missing, "source_record_id"]
    )
    not_in_truth = len(pred) - (len(merged) - unmapped)

    pred_sizes = merged.groupby("golden_customer_id", sort=False).size()
    true_sizes = merged.groupby("person_id", sort=False).size()
    cell_sizes = merged.groupby(["golden_customer_id", "person_id"], sort=False).size()

    predicted_pairs = _pairs(pred_sizes)
    true_pairs = _pairs(true_sizes)
    correct_pairs = _pairs(cell_sizes)
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    cells = cell_sizes.rename("n").reset_index()
    cells["pred_n"] = cells["golden_customer_id"].map(pred_sizes)
    cells["true_n"] = cells["person_id"].map(true_sizes)
    exact = int(((cells["n"] == cells["pred_n"]) & (cells["n"] == cells["true_n"])).sum())

    return {
        "records": int(len(merged)),
        "persons": int(len(true_sizes)),
        "clusters": int(len(pred_sizes)),
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "correct_pairs": correct_pairs,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "exact_person_share": round(exact / len(true_sizes), 6) if len(true_sizes) else 1.0,
        "unmapped_records": unmapped,
        "records_not_in_truth": int(not_in_truth),
    }


def household_metrics(crosswalk: pd.DataFrame, truth: pd.DataFrame, records: pd.DataFrame) -> dict:
    """Precision on household pairs: record pairs that share a phone and an address.

    `records`: source_system, source_record_id, phone_e164, street_normalized, postcode.
    Reports the pairs sharing phone+address, how many of them are different people, how many of
    those were put together by mistake, and the precision of the pairs put together among them.
    """
    pred = _normalise(crosswalk, "golden_customer_id")
    true = _normalise(truth, "person_id")
    rec = records[[*KEY_COLUMNS, "phone_e164", "street_normalized", "postcode"]].copy()
    rec["source_record_id"] = rec["source_record_id"].astype(str)
    rec = rec.dropna(subset=["phone_e164", "street_normalized", "postcode"])
    df = rec.merge(true, on=KEY_COLUMNS).merge(pred, on=KEY_COLUMNS)
    df["household_key"] = df["phone_e164"] + "|" + df["street_normalized"] + "|" + df["postcode"]

    total = _pairs(df.groupby("household_key", sort=False).size())
    same_person = _pairs(df.groupby(["household_key", "person_id"], sort=False).size())
    put_together = _pairs(df.groupby(["household_key", "golden_customer_id"], sort=False).size())
    correct = _pairs(df.groupby(["household_key", "golden_customer_id", "person_id"], sort=False).size())
    different_people = total - same_person
    wrongly_merged = put_together - correct
    return {
        "household_pairs": total,
        "household_pairs_different_people": different_people,
        "household_pairs_wrongly_merged": wrongly_merged,
        "household_precision": round(correct / put_together, 6) if put_together else 1.0,
        "household_kept_apart_share": round(1 - wrongly_merged / different_people, 6) if different_people else 1.0,
    }


def evaluate(crosswalk: pd.DataFrame, truth: pd.DataFrame, records: pd.DataFrame | None = None) -> dict:
    result = pairwise_metrics(crosswalk, truth)
    if records is not None:
        result.update(household_metrics(crosswalk, truth, records))
    return result


def read_truth(path: str | Path) -> pd.DataFrame:
    """A truth file in the replay format: CSV with source_system, source_record_id, person_id."""
    truth = pd.read_csv(path, dtype=str)
    missing = {"source_system", "source_record_id", "person_id"} - set(truth.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return truth


def evaluate_warehouse(warehouse: str | Path, truth: pd.DataFrame) -> dict:
    """Compare `marts.golden_customer_sources` of a warehouse with a truth table."""
    import duckdb

    from c360.identity.schema import CROSSWALK_TABLE, RECORDS_TABLE

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        crosswalk = con.execute(
            f"select source_system, source_record_id, golden_customer_id from {CROSSWALK_TABLE}"
        ).df()
        try:
            records = con.execute(
                f"select source_system, source_record_id, phone_e164, street_normalized, postcode from {RECORDS_TABLE}"
            ).df()
        except duckdb.Error:
            records = None
    finally:
        con.close()
    return evaluate(crosswalk, truth, records)


# The bands the labelled pairs are counted in: the model's match probability, below the review band
# (or never scored: not blocked together), in it, and at or above the match threshold.
LABEL_BANDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _confusion(decided_match: pd.Series, predicted_match: pd.Series) -> dict:
    tp = int((decided_match & predicted_match).sum())
    fp = int((~decided_match & predicted_match).sum())
    fn = int((decided_match & ~predicted_match).sum())
    tn = int((~decided_match & ~predicted_match).sum())
    return {"true_positive": tp, "false_positive": fp, "false_negative": fn, "true_negative": tn,
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


def labelled_pairs(con) -> pd.DataFrame:
    """One row per labelled pair: the decision, both records' golden ids now (null when a record is
    gone) and the pair's latest match probability (null when the model never scored it)."""
    from c360.identity.schema import CROSSWALK_TABLE, LABELS_TABLE, MATCH_PAIRS_TABLE, REVIEW_PAIRS_TABLE

    present = {f"{schema}.{name}" for schema, name in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    labels = LABELS_TABLE if LABELS_TABLE in present else (  # no steward has labelled anything yet
        "(select null::varchar as record_key_l, null::varchar as record_key_r, null::varchar as decision where false)")
    scored = [f"select record_key_l, record_key_r, match_probability from {t}"
              for t in (MATCH_PAIRS_TABLE, REVIEW_PAIRS_TABLE) if t in present]
    scores = (" union all ".join(scored) if scored else
              "select null::varchar as record_key_l, null::varchar as record_key_r, null::double as match_probability "
              "where false")
    crosswalk = (CROSSWALK_TABLE if CROSSWALK_TABLE in present else
                 "(select null::varchar as record_key, null::varchar as golden_customer_id where false)")
    return con.execute(f"""
        with scores as (
            select least(record_key_l, record_key_r) as record_key_l,
                   greatest(record_key_l, record_key_r) as record_key_r,
                   max(match_probability) as match_probability
            from ({scores}) group by all
        )
        select d.record_key_l, d.record_key_r, d.decision,
               cl.golden_customer_id as golden_customer_id_l, cr.golden_customer_id as golden_customer_id_r,
               s.match_probability
        from {labels} d
        left join {crosswalk} cl on cl.record_key = d.record_key_l
        left join {crosswalk} cr on cr.record_key = d.record_key_r
        left join scores s on s.record_key_l = d.record_key_l and s.record_key_r = d.record_key_r
        order by d.record_key_l, d.record_key_r
    """).df()


def label_metrics(pairs: pd.DataFrame, threshold: float) -> dict:
    """The crosswalk and the model at `threshold` against the steward's labels (`labelled_pairs`).

    - `crosswalk`: a pair is put together when both records have the same golden id. Once a run has
      followed the labels, precision and recall are 1.0; less means labels not applied yet (decided
      after the last run) or records a label cannot hold.
    - `model`: a pair is put together when its match probability reaches `threshold`.
    - `bands`: per probability band, how many labelled pairs the steward called match and no_match:
      where the band's match share is high, the threshold may be set too high, and the reverse.
    """
    out: dict = {"labels": len(pairs), "match": int((pairs["decision"] == "match").sum()),
                 "no_match": int((pairs["decision"] == "no_match").sum())}
    resolved = pairs["golden_customer_id_l"].notna() & pairs["golden_customer_id_r"].notna()
    out["records_gone"] = int((~resolved).sum())
    in_crosswalk = pairs[resolved]
    out["crosswalk"] = _confusion(in_crosswalk["decision"] == "match",
                                  in_crosswalk["golden_customer_id_l"] == in_crosswalk["golden_customer_id_r"])
    probability = pairs["match_probability"]
    out["model"] = {"threshold": threshold,
                    **_confusion(pairs["decision"] == "match", probability.fillna(0.0) >= threshold)}
    edges = (0.0, *LABEL_BANDS, 1.0000001)
    bands = [{"band": "not scored", "match": int(((pairs["decision"] == "match") & probability.isna()).sum()),
              "no_match": int(((pairs["decision"] == "no_match") & probability.isna()).sum())}]
    for low, high in zip(edges, edges[1:]):
        inside = probability.notna() & (probability >= low) & (probability < high)
        band = {"band": f"[{low:g}, {min(high, 1.0):g}{']' if high > 1 else ')'}",
                "match": int((inside & (pairs["decision"] == "match")).sum()),
                "no_match": int((inside & (pairs["decision"] == "no_match")).sum())}
        band["match_share"] = _ratio(band["match"], band["match"] + band["no_match"])
        bands.append(band)
    out["bands"] = bands
    return out


def evaluate_labels(warehouse: str | Path, threshold: float | None = None) -> dict:
    """`label_metrics` of a warehouse's labels (read-only; the match threshold by default)."""
    import duckdb

    from c360.identity.matching import DEFAULT_THRESHOLD

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        pairs = labelled_pairs(con)
    finally:
        con.close()
    return label_metrics(pairs, DEFAULT_THRESHOLD if threshold is None else threshold)


def main_cli(args: argparse.Namespace) -> int:
    """`c360 evaluate`: print the metrics as JSON; exit 0."""
    from c360 import settings

    warehouse = Path(args.warehouse) if args.warehouse else settings.warehouse_path()
    if not warehouse.exists():
        print(f"c360 evaluate: no warehouse at {warehouse}", file=sys.stderr)
        return 2
    if getattr(args, "labels", False):
        result = evaluate_labels(warehouse, getattr(args, "threshold", None))
    else:
        result = evaluate_warehouse(warehouse, read_truth(args.truth))
    print(json.dumps(result, indent=2))
    return 0
