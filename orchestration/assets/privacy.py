"""`privacy_retention`: after the marts and segments are built, and before they are published, carry
out the erasure requests queued since the last run (`c360 privacy erase --queue`) and erase the
customers inactive for longer than the retention period (`c360.retention`)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_duckdb import DuckDBResource

from c360 import settings, tables
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import OWNERS, asset_key
from orchestration.resources import ENGINE, SparkResource, engine_kinds


@contextmanager
def engine_erasure(spark: SparkResource) -> Iterator:
    """The erasures and retention rule of the engine: all in the DuckDB warehouse, or on Spark and its
    driver (`c360.erasure_on_spark`), where the facts and marts are Spark's tables."""
    if ENGINE != "spark":
        from c360.erasure import WarehouseErasure

        yield WarehouseErasure()
        return
    from c360.erasure_on_spark import SparkErasure

    with spark.session() as session:
        yield SparkErasure(session)


def build_privacy_retention_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(tables.PRIVACY_ERASURES),
        deps=upstream,
        group_name="privacy",
        kinds=engine_kinds("duckdb"),
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            "Erasure requests queued with `c360 privacy erase --queue` (raw._erasure_requests) are carried out. "
            "Storage limitation: golden customers without an order, ticket, survey answer, checkout, invoice "
            "or new source record for longer than C360_PRIVACY_RETENTION_DAYS (default 1095; off: never) are "
            "erased as an erasure request erases them (accounting records kept pseudonymised); the audit "
            "trail raw._erasures gets a row per person. Runs before the BI snapshot, which then holds none of them. "
            "On the Spark engine the Spark tables holding them are rewritten without them (tables_rewritten)."
        ),
    )
    def privacy_retention(context: dg.AssetExecutionContext, warehouse: DuckDBResource,
                          spark: SparkResource) -> dg.MaterializeResult:
        from c360.erasure import (identifying_values, pending_golden_ids, process_requests, republish_bi,
                                  scrub_quality_dir, scrub_raw_zone)
        from c360.raw_zone import configured_raw_zone
        from c360.retention import RetentionResult, erase_inactive

        days = settings.privacy_retention_days()
        as_of = settings.as_of_date()
        with warehouse.get_connection() as con, engine_erasure(spark) as eraser:
            requested_values = identifying_values(con, pending_golden_ids(con))
            requests = process_requests(con, eraser)
            if days is None:
                context.log.info("retention erasure is off (C360_PRIVACY_RETENTION_DAYS=off)")
                result = RetentionResult(as_of, 0, None, None)
            else:
                result = erase_inactive(con, as_of, days, eraser)
            rewritten = eraser.finish()
            if rewritten:
                context.log.info(f"{ENGINE} tables rewritten without the people erased: {len(rewritten)}")
            files = []
            erased_requests = sum(r["outcome"] == "erased" for r in requests)
            if result.erased or erased_requests:
                bi_path, parquet_dir = settings.bi_warehouse_path(), settings.bi_parquet_dir()
                if bi_path.exists() or parquet_dir.exists():  # older snapshots hold the people erased
                    republish_bi(con, bi_path, parquet_dir)
                files = scrub_quality_dir(settings.quality_dir(), requested_values | set(result.identifying_values))
                raw_zone = configured_raw_zone()
                if raw_zone:
                    zone_records = scrub_raw_zone(con, raw_zone)
                    context.log.info(f"raw zone: records of erased people removed or stripped: {zone_records}")
        context.log.info(f"erasure requests: {len(requests)} processed ({erased_requests} erased); retention: "
                         f"{result.erased} customers without activity since before {result.cutoff} erased; "
                         f"{len(files)} validation run folders naming them deleted")
        return dg.MaterializeResult(metadata={
            "requests_processed": len(requests), "requests_erased": erased_requests,
            "requests": dg.MetadataValue.json(requests),
            "retention_days": days if days is not None else "off", "cutoff": result.cutoff.isoformat(),
            "erased": result.erased,
            "erasure_id": result.erasure_id or "", "oldest_activity": str(result.oldest_activity or ""),
            "validation_folders_deleted": len(files), "tables_rewritten": dg.MetadataValue.json(rewritten)})

    return privacy_retention
