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

CLI: `c360 evaluate --truth FILE [--warehouse PATH]` calls `main_cli`.
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


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="c360 evaluate", description="Compare the golden-customer crosswalk with a truth file"
    )
    parser.add_argument("--truth", required=True, help="truth CSV (source_system,source_record_id,person_id)")
    parser.add_argument("--warehouse", help="DuckDB warehouse file (default: $C360_WAREHOUSE)")
    return parser


def main_cli(args: argparse.Namespace) -> int:
    """`c360 evaluate`: print the metrics as JSON; exit 0."""
    from c360 import settings

    warehouse = Path(args.warehouse) if args.warehouse else settings.warehouse_path()
    if not warehouse.exists():
        print(f"c360 evaluate: no warehouse at {warehouse}", file=sys.stderr)
        return 2
    result = evaluate_warehouse(warehouse, read_truth(args.truth))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main_cli(build_parser().parse_args()))
