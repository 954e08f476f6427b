"""One asset per source resource: fetch from the stored watermark on and land it in `raw.<table>`.

Assets are grouped per source system. All of them write the warehouse, so they share the `warehouse`
concurrency pool (DuckDB allows one writer per file).
"""


import dagster as dg

from dagster_duckdb import DuckDBResource

from c360 import settings
from connectors import ALL_RESOURCES
from connectors.base import ResourceSpec
from connectors.errors import SourceAuthError, SourceRequestError
from orchestration.keys import OWNERS, raw_asset_key
from c360.raw_zone import configured_raw_zone
from c360.raw_store import RAW_SCHEMA, LandingStats, future_dated_warning, land_resource, reconcile_deletions

WAREHOUSE_POOL = "warehouse"

LANDING_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


def _materialization_metadata(stats: LandingStats, table_rows: int) -> dict:
    metadata = {
        "records_fetched": dg.MetadataValue.int(stats.fetched),
        "records_new": dg.MetadataValue.int(stats.new),
        "records_updated": dg.MetadataValue.int(stats.updated),
        "records_unchanged": dg.MetadataValue.int(stats.unchanged),
        "records_quarantined": dg.MetadataValue.int(stats.quarantined),
        "records_future_dated": dg.MetadataValue.int(stats.future_dated),
        # records of erased people left out (c360.erasure's suppression list)
        "records_suppressed": dg.MetadataValue.int(stats.suppressed),
        "pages": dg.MetadataValue.int(stats.pages),
        "requests": dg.MetadataValue.int(stats.requests),
        "retries": dg.MetadataValue.int(stats.retries),
        "throttled": dg.MetadataValue.int(stats.throttled),
        "watermark_before": dg.MetadataValue.text(stats.watermark_before or "(none: full history)"),
        "watermark": dg.MetadataValue.text(stats.watermark_after or "(none: full scan)"),
        "seconds": dg.MetadataValue.float(round(stats.seconds, 3)),
        "records_per_second": dg.MetadataValue.float(
            round(stats.fetched / stats.seconds, 1) if stats.seconds else 0.0
        ),
        "sync_id": dg.MetadataValue.text(stats.sync_id),
        "dagster/row_count": dg.MetadataValue.int(table_rows),
    }
    if stats.quarantine_reasons:
        metadata["quarantine_reasons"] = dg.MetadataValue.json(stats.quarantine_reasons)
    if stats.future_dated_examples:
        metadata["future_dated_examples"] = dg.MetadataValue.json(stats.future_dated_examples)
    return metadata


def build_raw_landing_asset(spec: ResourceSpec) -> dg.AssetsDefinition:
    api_resource_key = f"{spec.system}_api"

    @dg.asset(
        key=raw_asset_key(spec.table),
        group_name=spec.system,
        kinds={"python", "duckdb"},
        description=(
            f"{spec.system} `{spec.name}` landed as raw JSON, upserted by id (latest version wins) "
            f"from the stored watermark on; unparsable records go to `raw._quarantine`, records dated in "
            f"the future land but never move the watermark and are counted."
        ),
        required_resource_keys={api_resource_key, "warehouse"},
        pool=WAREHOUSE_POOL,
        retry_policy=LANDING_RETRY_POLICY,
        tags={"source_system": spec.system},
        owners=OWNERS,
    )
    def _landing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        source = getattr(context.resources, api_resource_key)
        warehouse: DuckDBResource = context.resources.warehouse

        def progress(stats: LandingStats) -> None:
            context.log.info(
                f"{spec.key}: {stats.fetched} fetched in {stats.pages} pages "
                f"({stats.new} new, {stats.updated} updated, {stats.quarantined} quarantined), "
                f"watermark {stats.watermark_after}"
            )

        raw_zone = configured_raw_zone()
        try:
            with source.client() as client, warehouse.get_connection() as con:
                stats = land_resource(
                    con, client, spec.name,
                    batch_records=settings.landing_batch_records(),
                    on_progress=progress,
                    raw_zone=raw_zone,
                )
                # Deletions the source reports nowhere (Shopify customers and orders): reconcile ids.
                reconciled = None
                if spec.name in getattr(client, "reconciled", ()):
                    reconciled = reconcile_deletions(con, client, spec.name, every_days=settings.shop_reconcile_days(),
                                                     raw_zone=raw_zone)
                table_rows = con.execute(f"select count(*) from {RAW_SCHEMA}.{spec.table}").fetchone()[0]
        except (SourceAuthError, SourceRequestError) as exc:
            # Wrong credentials or a request the source refuses will not heal by retrying the step.
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        progress(stats)
        metadata = _materialization_metadata(stats, table_rows)
        if reconciled is not None and reconciled.ran:
            context.log.info(f"{spec.key}: {reconciled.live} ids at the source, "
                             f"{reconciled.marked_deleted} landed records found deleted")
            metadata["records_found_deleted"] = dg.MetadataValue.int(reconciled.marked_deleted)
        if stats.quarantined:
            context.log.warning(
                f"{spec.key}: {stats.quarantined} malformed records quarantined in raw._quarantine: "
                f"{stats.quarantine_reasons}"
            )
        if stats.future_dated:
            # the landing logs it too, but only the step's own log reaches the run's event log
            context.log.warning(future_dated_warning(stats))
        return dg.MaterializeResult(metadata=metadata)

    return _landing


raw_landing_assets = [build_raw_landing_asset(spec) for spec in ALL_RESOURCES]
