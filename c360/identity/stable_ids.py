"""Stable `golden_customer_id`s: a person keeps their id while their records stay together.

Given this run's clusters and the previous crosswalk (record -> golden_customer_id):

- every previous id has a *home*: the new cluster holding most of its records (ties: the cluster
  whose smallest record key is smallest);
- a cluster that is home to one previous id keeps it: nobody's id changes while their records stay
  together, and records added to a person join that person's id;
- a cluster that is home to several previous ids is a **merge**: the oldest id survives (ids are
  numbered in order of creation, `GC000000001` is older than `GC000000002`), the others are
  recorded as merged into it;
- a cluster that is home to no previous id but holds records of one is a **split**: it gets a new
  id, recorded as split from each previous id whose records it holds;
- records that went from one surviving id to another surviving id are recorded as **moved**;
- a cluster of only new records gets a new id (no history row).

New ids are numbered after the largest id ever given (crosswalk and history), in the order of the
clusters' smallest record keys, so the same input always gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

ID_PREFIX = "GC"
ID_DIGITS = 9
HISTORY_COLUMNS = [
    "event_date",
    "event_type",
    "golden_customer_id",
    "related_golden_customer_id",
    "records",
]


def format_id(number: int) -> str:
    return f"{ID_PREFIX}{number:0{ID_DIGITS}d}"


def id_number(golden_id: str) -> int:
    return int(golden_id[len(ID_PREFIX):])


def id_numbers(golden_ids: pd.Series) -> pd.Series:
    """`id_number` of every id at once (930k ids: 0.3-0.4 s instead of 2.1-2.7 s element by element)."""
    return golden_ids.str.slice(len(ID_PREFIX)).astype("int64")


@dataclass
class StableIdResult:
    crosswalk: pd.DataFrame  # record_key, golden_customer_id
    history: pd.DataFrame  # HISTORY_COLUMNS, this run's events only
    stats: dict


def _history_events(df: pd.DataFrame, known: pd.DataFrame, merged: pd.DataFrame, new_ids: list[str],
                    run_date: date) -> pd.DataFrame:
    """This run's merges, splits and moves (HISTORY_COLUMNS): `df` the records with their previous and
    new ids, `known` those that had an id, `merged` the previous ids absorbed into a survivor."""
    events = []
    if len(merged):
        events.append(pd.DataFrame({
            "event_type": "merged",
            "golden_customer_id": merged["survivor"].to_numpy(),
            "related_golden_customer_id": merged["prev_id"].to_numpy(),
            "records": merged["n"].to_numpy(),
        }))
    # records whose id changed to an id other than the one their old id was merged into
    moved = known[known["prev_id"] != df.loc[known.index, "golden_customer_id"]]
    moved = moved.assign(golden_customer_id=df.loc[moved.index, "golden_customer_id"])
    merged_pairs = set(zip(merged["prev_id"], merged["survivor"]))
    new_id_set = set(new_ids)
    if len(moved):
        flows = moved.groupby(["prev_id", "golden_customer_id"]).size().rename("records").reset_index()
        flows = flows[[(p, g) not in merged_pairs for p, g in zip(flows["prev_id"], flows["golden_customer_id"])]]
        if len(flows):
            events.append(pd.DataFrame({
                "event_type": np.where(flows["golden_customer_id"].isin(new_id_set), "split", "moved"),
                "golden_customer_id": flows["golden_customer_id"].to_numpy(),
                "related_golden_customer_id": flows["prev_id"].to_numpy(),
                "records": flows["records"].to_numpy(),
            }))
    history = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=HISTORY_COLUMNS[1:])
    history.insert(0, "event_date", run_date)
    history = history[HISTORY_COLUMNS].sort_values(["event_type", "golden_customer_id", "related_golden_customer_id"])
    history["records"] = history["records"].astype("int64")
    return history


def assign_stable_ids(
    clusters: pd.DataFrame,
    previous: pd.DataFrame | None,
    run_date: date,
    last_id_number: int | None = None,
) -> StableIdResult:
    """`clusters`: record_key, cluster (any hashable label). `previous`: record_key, golden_customer_id.

    `last_id_number`: the largest id number ever given (default: the largest in `previous`), so
    that an id retired in an earlier run is never given again.
    """
    df = clusters[["record_key", "cluster"]].copy()
    prev = previous[["record_key", "golden_customer_id"]] if previous is not None and len(previous) else None
    if prev is not None:
        df = df.merge(prev.rename(columns={"golden_customer_id": "prev_id"}), on="record_key", how="left")
    else:
        df["prev_id"] = pd.Series([None] * len(df), dtype=object)
    if last_id_number is None:
        last_id_number = int(id_numbers(prev["golden_customer_id"]).max()) if prev is not None else 0

    cluster_min_key = df.groupby("cluster")["record_key"].min().rename("min_key")
    known = df[df["prev_id"].notna()]
    counts = known.groupby(["prev_id", "cluster"]).size().rename("n").reset_index()
    counts["min_key"] = counts["cluster"].map(cluster_min_key)
    counts = counts.sort_values(["prev_id", "n", "min_key"], ascending=[True, False, True])
    homes = counts.drop_duplicates("prev_id")[["prev_id", "cluster", "n"]]
    homes = homes.assign(num=id_numbers(homes["prev_id"])).sort_values(["cluster", "num"])

    survivors = homes.drop_duplicates("cluster")[["cluster", "prev_id"]].rename(columns={"prev_id": "survivor"})
    merged = homes.merge(survivors, on="cluster")
    merged = merged[merged["prev_id"] != merged["survivor"]]

    assigned = pd.Series(survivors["survivor"].to_numpy(), index=survivors["cluster"].to_numpy())
    new_clusters = cluster_min_key[~cluster_min_key.index.isin(assigned.index)].sort_values()
    new_ids = [format_id(last_id_number + 1 + i) for i in range(len(new_clusters))]
    assigned = pd.concat([assigned, pd.Series(new_ids, index=new_clusters.index, dtype=object)])

    df["golden_customer_id"] = df["cluster"].map(assigned)

    history = _history_events(df, known, merged, new_ids, run_date)

    prev_ids = set(prev["golden_customer_id"]) if prev is not None else set()
    kept = len(set(assigned.to_numpy()) & prev_ids)
    stats = {
        "clusters": int(len(assigned)),
        "ids_kept": kept,
        "ids_new": len(new_ids),
        "merges": int((history["event_type"] == "merged").sum()),
        "splits": int((history["event_type"] == "split").sum()),
        "moves": int((history["event_type"] == "moved").sum()),
        "last_id_number": last_id_number + len(new_ids),
    }
    return StableIdResult(
        crosswalk=df[["record_key", "golden_customer_id"]].reset_index(drop=True),
        history=history.reset_index(drop=True),
        stats=stats,
    )
