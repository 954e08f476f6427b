"""Identity resolution as Dagster assets, between the dbt models of the same asset graph.

    dbt intermediate.int_customer_records ─┬─> intermediate/identity_match_pairs (Splink) ─┐
    dbt intermediate.int_identity_certain_links ──────────────────────────────────────────┴─>
        marts/golden_customer_sources + marts/golden_customer_id_history (guards, clusters, stable ids)
        ─> dbt marts.golden_customers

The logic lives in the `identity` package; these assets only read and write the warehouse and
report what happened. dbt declares the two marts tables as sources with
`meta.dagster.asset_key`, so `golden_customers` runs after them in one graph.
"""


import os
import time
from datetime import UTC, date, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from c360.settings import identity_memory_limit
from identity.guards import GuardConfig
from identity.matching import DEFAULT_THRESHOLD, predict_pairs
from identity.resolve import resolve, write_match_pairs
from identity.schema import RECORDS_TABLE
from orchestration.assets.raw_landing import WAREHOUSE_POOL

GROUP = "identity"
RECORDS_KEY = dg.AssetKey(["intermediate", "int_customer_records"])
CERTAIN_LINKS_KEY = dg.AssetKey(["intermediate", "int_identity_certain_links"])
MATCH_PAIRS_KEY = dg.AssetKey(["intermediate", "identity_match_pairs"])
CROSSWALK_KEY = dg.AssetKey(["marts", "golden_customer_sources"])
HISTORY_KEY = dg.AssetKey(["marts", "golden_customer_id_history"])


class MatchingConfig(dg.Config):
    threshold: float = DEFAULT_THRESHOLD  # Splink match probability a pair needs to become a link


class ResolutionConfig(dg.Config):
    email_cap: int = GuardConfig.email_cap
    phone_cap: int = GuardConfig.phone_cap
    address_cap: int = GuardConfig.address_cap
    max_cluster_size: int = GuardConfig.max_cluster_size
    as_of: str = ""  # date of this run's merges and splits (default: $C360_AS_OF, else today, UTC)


@dg.asset(
    key=MATCH_PAIRS_KEY,
    deps=[RECORDS_KEY],
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"splink", "duckdb"},
    description="Probable pairs of customer records from a Splink 5 model trained without labels "
    "(u by random sampling, m by EM); pairs at or above the threshold.",
)
def identity_match_pairs(context: dg.AssetExecutionContext, config: MatchingConfig,
                         warehouse: DuckDBResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    with warehouse.get_connection() as con:
        result = predict_pairs(
            f"(select * from {RECORDS_TABLE} where not is_collective_contact)", con, threshold=config.threshold,
            memory_limit=identity_memory_limit(),
        )
        pairs = write_match_pairs(con, result.pairs)
    context.log.info(f"Splink: {result.stats}")
    return dg.MaterializeResult(metadata={
        "records": result.stats.get("records", 0),
        "pairs": pairs,
        "threshold": config.threshold,
        "train_seconds": result.stats.get("train_seconds", 0.0),
        "runtime_seconds": round(time.perf_counter() - started, 2),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CROSSWALK_KEY, deps=[RECORDS_KEY, CERTAIN_LINKS_KEY, MATCH_PAIRS_KEY], group_name=GROUP,
                     kinds={"duckdb"},
                     description="The crosswalk: exactly one row per source record with its stable "
                     "golden_customer_id and how it was linked (rule, or match probability)."),
        dg.AssetSpec(HISTORY_KEY, deps=[RECORDS_KEY, CERTAIN_LINKS_KEY, MATCH_PAIRS_KEY], group_name=GROUP,
                     kinds={"duckdb"},
                     description="Merges, splits and moves of golden_customer_ids, one row per event, with dates."),
    ],
    name="golden_customer_resolution",
    pool=WAREHOUSE_POOL,
)
def golden_customer_resolution(context: dg.AssetExecutionContext, config: ResolutionConfig,
                               warehouse: DuckDBResource):
    as_of = config.as_of or os.environ.get("C360_AS_OF")
    run_date = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    guards = GuardConfig(email_cap=config.email_cap, phone_cap=config.phone_cap, address_cap=config.address_cap,
                         max_cluster_size=config.max_cluster_size)
    with warehouse.get_connection() as con:
        stats = resolve(con, run_date, guard_config=guards).stats
    context.log.info(f"resolution: {stats}")
    vetoes = stats.get("vetoed_links", {})
    yield dg.MaterializeResult(asset_key=CROSSWALK_KEY, metadata={
        "records": stats["records"],
        "certain_links": stats["certain_links"],
        "probable_links": stats["probable_links"],
        "vetoed_links": sum(vetoes.values()),
        "vetoes_by_guard": dg.MetadataValue.json(vetoes),
        "clusters": stats["clusters"],
        "split_components": stats["split_components"],
        "ids_kept": stats["ids_kept"],
        "ids_new": stats["ids_new"],
        "runtime_seconds": stats["resolve_seconds"],
    })
    yield dg.MaterializeResult(asset_key=HISTORY_KEY, metadata={
        "as_of": run_date.isoformat(),
        "merges": stats["ids_merges"],
        "splits": stats["ids_splits"],
        "moves": stats["ids_moves"],
    })


identity_assets = [identity_match_pairs, golden_customer_resolution]
