"""Identity resolution as Dagster assets, between the dbt models of the same asset graph.

    dbt intermediate.int_customer_records ─┬─> intermediate/identity_match_pairs (Splink) ─┐
    dbt intermediate.int_identity_certain_links ──────────────────────────────────────────┴─>
        marts/golden_customer_sources + marts/golden_customer_id_history (guards, clusters, stable ids)
        ─> dbt marts.golden_customers

Matching keeps its trained model in `intermediate.identity_model` and, between retrains, scores only
the pairs of records changed since its last run (`c360.identity.match_run`; the metadata names the path:
trained, full or daily). The logic lives in the `c360.identity` package; these assets only read and
write the warehouse and report what happened. dbt declares the two marts tables as sources with
`meta.dagster.asset_key`, so `golden_customers` runs after them in one graph.
"""


import time

import dagster as dg
from dagster_duckdb import DuckDBResource

from c360 import tables
from c360.settings import as_of_date, identity_memory_limit, identity_retrain_days, identity_retrain_share
from c360.identity.guards import GuardConfig
from c360.identity.matching import DEFAULT_THRESHOLD
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import OWNERS, asset_key
from orchestration.resources import ENGINE, SparkResource, engine_kinds

GROUP = "identity"
RECORDS_KEY = asset_key(tables.CUSTOMER_RECORDS)
CERTAIN_LINKS_KEY = asset_key(tables.IDENTITY_CERTAIN_LINKS)
MATCH_PAIRS_KEY = asset_key(tables.IDENTITY_MATCH_PAIRS)
CROSSWALK_KEY = asset_key(tables.GOLDEN_CUSTOMER_SOURCES)
HISTORY_KEY = asset_key(tables.GOLDEN_CUSTOMER_ID_HISTORY)


class MatchingConfig(dg.Config):
    threshold: float = DEFAULT_THRESHOLD  # Splink match probability a pair needs to become a link
    retrain: bool = False  # train a new model now instead of scoring with the stored one
    as_of: str = ""  # date the model's age is counted to (default: $C360_AS_OF, else today, UTC)


class ResolutionConfig(dg.Config):
    email_cap: int = GuardConfig.email_cap
    phone_cap: int = GuardConfig.phone_cap
    address_cap: int = GuardConfig.address_cap
    max_cluster_size: int = GuardConfig.max_cluster_size
    as_of: str = ""  # date of this run's merges and splits (default: $C360_AS_OF, else today, UTC)
    # re-resolve every record instead of only the components the day's changes touch (same result)
    full: bool = False


@dg.asset(
    key=MATCH_PAIRS_KEY,
    deps=[RECORDS_KEY],
    group_name=GROUP,
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    kinds=engine_kinds("splink", "duckdb"),
    description="Probable pairs of customer records from a Splink 5 model trained without labels "
    "(u by random sampling, m by EM over the blocking rules the data has pairs for; fixed priors where it "
    "has too few records or pairs); pairs at or above the threshold. The model is kept "
    "(intermediate.identity_model) and retrained weekly, past a share of new records or on request; "
    "in between a run scores only the pairs of records new or changed since the last run.",
)
def identity_match_pairs(context: dg.AssetExecutionContext, config: MatchingConfig,
                         warehouse: DuckDBResource, spark: SparkResource) -> dg.MaterializeResult:
    # imports pandas and scipy: only in the step that needs them
    from c360.identity.match_run import match_records
    from c360.identity.on_spark import match_on_spark

    started = time.perf_counter()
    options = dict(threshold=config.threshold, retrain=config.retrain, retrain_days=identity_retrain_days(),
                   retrain_share=identity_retrain_share(), memory_limit=identity_memory_limit())
    with warehouse.get_connection() as con:
        if ENGINE == "spark":  # the inputs dbt-spark built, copied to the driver; the pairs scored on Spark
            with spark.session() as session:
                run, copied = match_on_spark(session, con, as_of_date(config.as_of), **options)
            context.log.info(f"identity's inputs copied from Spark to the driver (rows): {copied}")
        else:
            run = match_records(con, as_of_date(config.as_of), **options)
    stats = run.stats
    context.log.info(f"Splink: {stats}")
    return dg.MaterializeResult(metadata={
        "path": stats["path"],
        "reason": stats["reason"] or "",
        "model_trained_on": str(stats["model_trained_on"] or ""),
        "model_records": stats["model_records"],
        # how the model in use was trained: "em", or "fallback_priors" where the data allows no EM
        "training": stats["training"],
        "training_reason": stats["training_reason"],
        "training_rules": dg.MetadataValue.json(stats["training_rules"]),
        "records": stats["records"],
        "changed_records": stats["changed_records"],
        "pairs_scored": stats["pairs_scored"],
        "pairs": stats["pairs"],
        "threshold": config.threshold,
        "train_seconds": stats["train_seconds"],
        "runtime_seconds": round(time.perf_counter() - started, 2),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CROSSWALK_KEY, deps=[RECORDS_KEY, CERTAIN_LINKS_KEY, MATCH_PAIRS_KEY], group_name=GROUP,
                     owners=OWNERS, kinds=engine_kinds("duckdb"),
                     description="The crosswalk: exactly one row per source record with its stable "
                     "golden_customer_id and how it was linked (rule, or match probability)."),
        dg.AssetSpec(HISTORY_KEY, deps=[RECORDS_KEY, CERTAIN_LINKS_KEY, MATCH_PAIRS_KEY], group_name=GROUP,
                     owners=OWNERS, kinds=engine_kinds("duckdb"),
                     description="Merges, splits and moves of golden_customer_ids, one row per event, with dates."),
    ],
    name="golden_customer_resolution",
    pool=WAREHOUSE_POOL,
)
def golden_customer_resolution(context: dg.AssetExecutionContext, config: ResolutionConfig,
                               warehouse: DuckDBResource, spark: SparkResource):
    # imports pandas and scipy: only in the step that needs them
    from c360.identity.on_spark import resolve_and_publish
    from c360.identity.resolve import resolve
    from c360.identity.review import build_review_queue

    run_date = as_of_date(config.as_of)
    guards = GuardConfig(email_cap=config.email_cap, phone_cap=config.phone_cap, address_cap=config.address_cap,
                         max_cluster_size=config.max_cluster_size)
    options = {"guard_config": guards, "full": config.full, "memory_limit": identity_memory_limit()}
    with warehouse.get_connection() as con:
        if ENGINE == "spark":  # resolved on the driver, the crosswalk and id history written to Spark's catalog
            with spark.session() as session:
                stats = resolve_and_publish(session, con, run_date, **options).stats
        else:
            stats = resolve(con, run_date, **options).stats
        # the steward's queue shows the golden ids the pairs have after this resolution
        stats["review_queue"] = build_review_queue(con)
    context.log.info(f"resolution: {stats}")
    vetoes = stats.get("vetoed_links", {})
    yield dg.MaterializeResult(asset_key=CROSSWALK_KEY, metadata={
        "records": stats["records"],
        "resolution": stats["resolution"],
        "records_reresolved": stats["records_reresolved"],
        "certain_links": stats["certain_links"],
        "probable_links": stats["probable_links"],
        "vetoed_links": sum(vetoes.values()),
        "vetoes_by_guard": dg.MetadataValue.json(vetoes),
        "clusters": stats["clusters"],
        "split_components": stats["split_components"],
        "ids_kept": stats["ids_kept"],
        "ids_new": stats["ids_new"],
        "steward_labels": stats["steward_labels"],
        "review_queue": stats["review_queue"],
        "runtime_seconds": stats["resolve_seconds"],
    })
    yield dg.MaterializeResult(asset_key=HISTORY_KEY, metadata={
        "as_of": run_date.isoformat(),
        "merges": stats["ids_merges"],
        "splits": stats["ids_splits"],
        "moves": stats["ids_moves"],
    })


identity_assets = [identity_match_pairs, golden_customer_resolution]
