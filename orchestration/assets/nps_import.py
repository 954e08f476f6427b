"""The NPS file import: the survey tool's CSV exports in `C360_NPS_IMPORT_DIR` landed in `raw.nps_responses`
(format and rules in `c360.nps_import`)."""

import dagster as dg

from dagster_duckdb import DuckDBResource

from c360 import settings
from c360.nps_import import TABLE, ImportStats, import_nps_files
from c360.raw_zone import configured_raw_zone
from c360.raw_store import RAW_SCHEMA
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import OWNERS, raw_asset_key


def _metadata(stats: ImportStats, table_rows: int) -> dict:
    metadata = {
        "directory": dg.MetadataValue.path(stats.directory),
        "files": dg.MetadataValue.json(stats.files),
        "files_read": dg.MetadataValue.int(len(stats.files) - len(stats.files_rejected)),
        "files_rejected": dg.MetadataValue.int(len(stats.files_rejected)),
        "rows_per_file": dg.MetadataValue.json(stats.rows_per_file),
        "records_fetched": dg.MetadataValue.int(stats.rows),
        "records_new": dg.MetadataValue.int(stats.new),
        "records_updated": dg.MetadataValue.int(stats.updated),
        "records_unchanged": dg.MetadataValue.int(stats.unchanged),
        "records_quarantined": dg.MetadataValue.int(stats.quarantined),
        "records_suppressed": dg.MetadataValue.int(stats.suppressed),
        "seconds": dg.MetadataValue.float(round(stats.seconds, 3)),
        "sync_id": dg.MetadataValue.text(stats.sync_id),
        "dagster/row_count": dg.MetadataValue.int(table_rows),
    }
    if stats.files_rejected:
        metadata["rejected_files"] = dg.MetadataValue.json(stats.files_rejected)
    if stats.quarantine_reasons:
        metadata["quarantine_reasons"] = dg.MetadataValue.json(stats.quarantine_reasons)
    if stats.ignored_columns:
        metadata["ignored_columns"] = dg.MetadataValue.json(stats.ignored_columns)
    return metadata


@dg.asset(
    key=raw_asset_key(TABLE),
    group_name="nps",
    kinds={"python", "duckdb", "csv"},
    description=(
        "NPS answers from the survey tool's CSV exports (every `*.csv` in `C360_NPS_IMPORT_DIR`), upserted by "
        "response id: unchanged rows land nothing, changed ones replace; answers of a file that is gone stay. "
        "Malformed rows and files without a valid header go to `raw._quarantine` and are counted."
    ),
    required_resource_keys={"warehouse"},
    pool=WAREHOUSE_POOL,
    tags={"source_system": "nps"},
    owners=OWNERS,
)
def nps_responses(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    warehouse: DuckDBResource = context.resources.warehouse
    directory = settings.nps_import_dir()
    if not directory.is_dir():
        context.log.warning(f"NPS import folder {directory} does not exist: no NPS answers read this run")
    with warehouse.get_connection() as con:
        stats = import_nps_files(con, directory, configured_raw_zone())
        table_rows = con.execute(f"select count(*) from {RAW_SCHEMA}.{TABLE}").fetchone()[0]
    context.log.info(
        f"NPS import: {len(stats.files)} files, {stats.rows} rows ({stats.new} new, {stats.updated} updated, "
        f"{stats.unchanged} unchanged, {stats.quarantined} quarantined)"
    )
    for name, reason in stats.files_rejected.items():
        context.log.warning(f"NPS import: file {name} rejected: {reason}")
    if stats.quarantined:
        context.log.warning(f"NPS import: {stats.quarantined} malformed rows quarantined in raw._quarantine: "
                            f"{stats.quarantine_reasons}")
    return dg.MaterializeResult(metadata=_metadata(stats, table_rows))


nps_import_assets = [nps_responses]
