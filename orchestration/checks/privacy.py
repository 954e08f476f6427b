"""The erasure check: no record of an erased person is in the raw tables again.

The landing leaves the records on the suppression list out (`c360.raw_store`, `c360.erasure`); a
record can still come back by another path (a backup restored, a table loaded by hand). The check
runs with the crosswalk, before anything downstream reads it: blocking, so a person who came back is
not published to BI; the fix is to erase them again (`c360 privacy erase`).
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from c360 import tables
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import asset_key


@dg.asset_check(
    asset=asset_key(tables.GOLDEN_CUSTOMER_SOURCES),
    name="privacy_erased_absent",
    description="no raw record of an erased person is back (hashed ids of raw._suppressed_records; blocking)",
    blocking=True,
    pool=WAREHOUSE_POOL,
)
def privacy_erased_absent(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    from c360.erasure import erased_records_present

    with warehouse.get_connection() as con:
        present = erased_records_present(con)
    return dg.AssetCheckResult(
        passed=not present,
        metadata={"records_back": dg.MetadataValue.json(present), "tables": dg.MetadataValue.int(len(present))},
    )
