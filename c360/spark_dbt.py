"""dbt on the Spark engine: the session the models need, then dbt in the same process.

dbt-spark's `session` method runs the models on the process's SparkSession (it calls
`SparkSession.builder.getOrCreate()`), so preparing that session first is how the models get what
Spark lacks and the raw tables they read:

- `nfc_normalize` and `strip_accents`, DuckDB functions that the name, street and phone macros use,
  registered under the same names as Python functions (Arrow-batched), so the SQL stays one;
- `raw.<table>` as views of the raw zone's latest records (`c360.spark_engine.register_raw_tables`).

Spark refuses a permanent view that calls a temporary function, so on Spark the staging models are
tables (dbt_project.yml), not views as on DuckDB.

    python -m c360.spark_dbt build --target spark --select staging

runs dbt with those arguments (the profile's `spark` target: method `session`) from the dbt project's
folder, on a session whose catalog outlives the process (`c360.spark_engine.catalog_session`). The
same runner is the `c360-spark-dbt` command, the dbt executable of Dagster's dbt steps on Spark.
"""

from __future__ import annotations

import logging
import sys
import unicodedata
from typing import TYPE_CHECKING

import pandas as pd

from c360 import settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

SPARK_TARGET_NAME = "target_spark"  # dbt's artefacts of Spark runs, in the project's folder


def nfc_normalize(text: str | None) -> str | None:
    """Unicode NFC, as DuckDB's `nfc_normalize`."""
    return None if text is None else unicodedata.normalize("NFC", text)


def strip_accents(text: str | None) -> str | None:
    """The text without its combining marks (`é` -> `e`, `č` -> `c`), recomposed: DuckDB's `strip_accents`."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def register_functions(spark: SparkSession) -> list[str]:
    """The DuckDB text functions the models call, as functions of `spark`'s SQL; returns their names."""
    from pyspark.sql.functions import pandas_udf

    def per_batch(function):
        def batch(texts: pd.Series) -> pd.Series:
            # as Python objects: pandas 3 keeps text in Arrow arrays of several chunks, which pyspark's
            # Arrow writer refuses ("Cannot convert pyarrow.lib.ChunkedArray to pyarrow.lib.Array")
            return texts.map(function, na_action="ignore").astype(object)
        return pandas_udf(batch, "string")

    for function in (nfc_normalize, strip_accents):
        spark.udf.register(function.__name__, per_batch(function))
    return [nfc_normalize.__name__, strip_accents.__name__]


def prepare_session(spark: SparkSession) -> list[str]:
    """Functions and raw views on `spark` for the models; returns the raw tables registered."""
    from c360.raw_zone import configured_raw_zone
    from c360.spark_engine import register_raw_tables
    from connectors import ALL_RESOURCES

    from c360.raw_store import FILE_IMPORT_TABLES

    register_functions(spark)
    zone = configured_raw_zone()
    if zone is None:
        raise RuntimeError("dbt on Spark reads the raw zone, and C360_RAW_ZONE is off")
    tables = {spec.table: spec.key for spec in ALL_RESOURCES}
    registered = register_raw_tables(spark, zone, tables, FILE_IMPORT_TABLES)
    empty = sorted((set(tables) | set(FILE_IMPORT_TABLES)) - set(registered))
    if empty:
        log.warning("raw tables without records on Spark (nothing landed in the zone yet): %s", ", ".join(empty))
    return registered


def main(argv: list[str] | None = None) -> int:
    from dbt.cli.main import dbtRunner

    from c360.dbt_macros import DBT_PROJECT
    from c360.spark_engine import catalog_session

    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-v"]):  # dagster-dbt asks the version of its executable: no session for that
        from dbt.version import __version__

        print(f"Core:\n  - installed: {__version__}")
        return 0
    # the project's folder; and artefacts apart from DuckDB's: Dagster reads dbt_project/target's
    # manifest, whose adapter (the asset kinds) a Spark run would otherwise overwrite. Dagster names
    # the folder of each invocation itself (DBT_TARGET_PATH), and the target (`--target spark`).
    defaults = {"--project-dir": DBT_PROJECT, "--profiles-dir": DBT_PROJECT,
                "--target-path": settings.dbt_target_path() or DBT_PROJECT / SPARK_TARGET_NAME}
    for option, value in defaults.items():
        if option not in args:
            args += [option, str(value)]
    # started by dagster-dbt in the dbt project's folder: the warehouse (and the metastore and raw zone
    # beside it) as the profile reads it, not relative to that folder (a relative C360_WAREHOUSE once
    # gave dbt a catalog of its own, and the next step did not find its tables)
    settings.use_warehouse_relative_to(DBT_PROJECT.parent)
    prepare_session(catalog_session("c360-dbt"))
    result = dbtRunner().invoke(args)
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


if __name__ == "__main__":
    sys.exit(main())
