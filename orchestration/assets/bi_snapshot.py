"""`bi_snapshot`: after the marts and segments are built, publish them for BI tools."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from c360 import settings, tables
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import OWNERS, asset_key
from c360.bi_publish import BI_SCHEMAS, CURRENT_LINK, publish_snapshot


def build_bi_snapshot_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(tables.BI_SNAPSHOT),
        deps=upstream,
        group_name="serving",
        kinds={"duckdb", "parquet"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            "Read-only copy of every table in the schemas "
            f"{', '.join(BI_SCHEMAS)} for BI tools: a new DuckDB file renamed into place "
            "(C360_BI_WAREHOUSE, default warehouse/bi.duckdb) and one Parquet file per table in a new "
            "folder per snapshot under C360_BI_PARQUET_DIR (default warehouse/bi/), switched into place "
            f"as warehouse/bi/{CURRENT_LINK}/ once complete; the last C360_BI_KEEP_SNAPSHOTS folders are kept. "
            "Only the Parquet files of tables that changed since the current snapshot are written (told by "
            "a fingerprint per table); the others are hard links to the current snapshot's files. "
            "Personal columns are pseudonymised, nulled or kept as C360_BI_PII says (c360.bi_pii)."
        ),
    )
    def bi_snapshot(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
        bi_path, parquet_dir = settings.bi_warehouse_path(), settings.bi_parquet_dir()
        with warehouse.get_connection() as con:
            snapshot = publish_snapshot(
                con, bi_path, parquet_dir, keep_snapshots=settings.bi_keep_snapshots()
            )
        unchanged = {t.table for t in snapshot.unchanged}
        for table in snapshot.tables:
            how = f"unchanged since {table.written_in}" if table.table in unchanged else "written"
            context.log.info(f"published {table.table}: {table.rows} rows, Parquet {how}")
        if snapshot.pruned:
            context.log.info(f"deleted from {parquet_dir}: {', '.join(snapshot.pruned)}")
        return dg.MaterializeResult(
            metadata={
                "bi_warehouse": dg.MetadataValue.path(str(bi_path)),
                "personal_data": dg.MetadataValue.text(settings.bi_pii_mode()),
                "snapshot_id": dg.MetadataValue.text(snapshot.snapshot_id),
                "parquet_snapshot": dg.MetadataValue.path(str(snapshot.parquet_folder)),
                "parquet_current": dg.MetadataValue.path(str(parquet_dir / CURRENT_LINK)),
                "tables": dg.MetadataValue.md(
                    "| table | rows | Parquet written in |\n|---|---|---|\n"
                    + "\n".join(f"| {t.table} | {t.rows} | {t.written_in} |" for t in snapshot.tables)
                ),
                "table_count": dg.MetadataValue.int(len(snapshot.tables)),
                "parquet_written": dg.MetadataValue.int(len(snapshot.tables) - len(unchanged)),
                "parquet_linked_unchanged": dg.MetadataValue.int(len(unchanged)),
            }
        )

    return bi_snapshot
