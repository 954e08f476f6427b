"""The dbt project (`dbt_project/`) as Dagster assets: staging and, on top of it, identity, marts and segments.

One `dbt build` materializes the selected models in DAG order; every dbt test becomes an asset check
(error-severity tests are blocking, so a failing check stops the assets downstream of it in the run).
dbt sources link to the raw landing assets through `meta.dagster.asset_key` (`["raw", "<table>"]`).

The manifest is read when this module is imported, so it must exist beforehand: `dagster dev` prepares it
(`prepare_if_dev`); anywhere else run `make prepare-dbt` (see `PREPARE_COMMAND`). The project is never
parsed here at import time.
"""

import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from c360 import settings
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import OWNERS
from orchestration.resources import ENGINE, SparkResource

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
PREPARE_COMMAND = "dagster-dbt project prepare-and-package --file orchestration/assets/dbt_models.py"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()

# First folder under models/ -> Dagster group.
GROUP_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "marts",  # order values and company KPIs that the marts read
    "identity": "identity",
    "marts": "marts",
    "segments": "segments",
}


BI_FACING_GROUPS = ("marts", "segments")
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30), warn_window=timedelta(hours=25))


class C360DbtTranslator(DagsterDbtTranslator):
    """Models are keyed `[<schema>, <model>]` (like `["raw", <table>]` for landing) and grouped by folder."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        # fqn = [project, <folder>, ..., <name>]; a model directly under models/ has no folder
        folder = fqn[1] if len(fqn) > 2 else None
        return GROUP_BY_FOLDER.get(folder, super().get_group_name(dbt_resource_props))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        spec = spec.replace_attributes(owners=OWNERS)
        if ENGINE != "duckdb":  # the manifest is DuckDB's (make prepare-dbt); the models run on the engine
            spec = spec.replace_attributes(kinds={*(spec.kinds - {"duckdb"}), ENGINE})
        if spec.group_name in BI_FACING_GROUPS:
            # The daily run is at 06:00; a mart older than a day and a bit means a run was missed.
            spec = spec.replace_attributes(freshness_policy=MARTS_FRESHNESS)
        return spec


dbt_translator = C360DbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


PREVIEW_ROWS = 5

# dbt's unit tests check the SQL against fixed inputs: they prove the code, not the day's data, and the
# dbt docs advise running them in development and CI, not in production builds. They run in `make test`
# (tests/dbt/test_staging.py builds staging with them); a pipeline run skipping them saves about 5 s
# of the 26 s staging step of the demo world's daily run.
PIPELINE_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


TableStats = Callable[[str], "tuple[int, pd.DataFrame] | None"]


@contextmanager
def built_table_stats(warehouse: DuckDBResource, spark: SparkResource) -> Iterator[TableStats]:
    """A function giving a table's (`schema.name`) rows and first rows in the engine's warehouse, or
    None for a view or a table that is not there."""
    if ENGINE == "spark":
        with spark.session() as session:

            def spark_stats(table: str):
                if not session.catalog.tableExists(table):
                    return None
                frame = session.table(table)
                return frame.count(), frame.limit(PREVIEW_ROWS).toPandas()

            yield spark_stats
        return
    with warehouse.get_connection() as con:
        tables = {f"{schema}.{name}" for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()}

        def duckdb_stats(table: str):
            if table not in tables:
                return None
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            return int(rows), con.execute(f"select * from {table} limit {PREVIEW_ROWS}").df()

        yield duckdb_stats


def build_with_table_stats(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                           warehouse: DuckDBResource, spark: SparkResource) -> Iterator:
    """`dbt build` of the step's selection; every table it built gets its row count and a preview.

    dbt holds the warehouse until it exits (DuckDB's file, or on Spark the catalog's metastore), so
    the tables are read after the command and the events are passed on then (dbt's log streams
    meanwhile). When dbt fails, what it did build is still reported before the error.
    """
    events, failure = [], None
    if ENGINE == "spark":  # dbt's process opens the catalog's metastore: this one lets go of it
        spark.free_metastore()
    invocation = dbt.cli(["build", *PIPELINE_BUILD_FLAGS], context=context)
    try:
        events.extend(invocation.stream())
    except Exception as exc:  # re-raised below, after the events of what was built
        failure = exc
        if invocation.process.poll() is None:
            # The events stopped but dbt did not: it would hold the warehouse (and hide this error
            # behind a lock error below) until it finished the whole build.
            invocation.process.terminate()
            invocation.process.wait()
    keep_partial_parse(Path(invocation.target_path))
    with built_table_stats(warehouse, spark) as table_stats:
        for event in events:
            key = context.asset_key_for_output(event.output_name) if isinstance(event, dg.Output) else None
            stats = table_stats(".".join(key.path)) if key is not None else None
            if stats is not None:
                rows, preview = stats
                event = event.with_metadata({
                    **event.metadata,
                    "dagster/row_count": dg.MetadataValue.int(rows),
                    "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
                })
            yield event
    if failure is not None:
        raise failure


def keep_partial_parse(invocation_target: Path) -> None:
    """Leave this invocation's parse state where the next dbt step of Dagster starts from.

    dagster-dbt gives every invocation its own target folder, seeded with the project's
    `target/partial_parse.msgpack`. That file is written by `make prepare-dbt`, for the default
    warehouse path; dbt throws it away when the profile differs (another `C360_WAREHOUSE`) and parses
    the whole project again, a few seconds per step. Keeping the latest one lets the next steps and
    runs parse only what changed.
    """
    parsed = invocation_target / "partial_parse.msgpack"
    if not parsed.exists():
        return
    kept = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    staged = kept.with_name(f".{kept.name}.{os.getpid()}")
    try:
        shutil.copyfile(parsed, staged)
        os.replace(staged, kept)
    except OSError as exc:  # a read-only deployment of the project: dbt parses in full, as before
        log.debug("dbt parse state not kept in %s: %s", kept.parent, exc)


# The segments are a dbt step of their own: the blocking quality gates on the golden customer and
# KPI marts (orchestration/checks/quality_gates.py) sit between this step and the one before it, so
# a failed gate leaves the segment tables as they were (Dagster skips the segments step).
SEGMENTS_SELECT = "path:models/segments"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=dbt_translator,
    name="c360_dbt_models",
    exclude=SEGMENTS_SELECT,
    # dbt writes the DuckDB warehouse: one writer at a time with the landing assets
    pool=WAREHOUSE_POOL,
)
def c360_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBResource,
                    spark: SparkResource) -> Iterator:
    """`dbt build` of the selected models: unit tests, models and data tests in DAG order."""
    # The Python identity steps split the dbt graph into several steps of one run: a singular test
    # reading models of two steps (the crosswalk check) must wait for the later one.
    settings.default_dbt_indirect_selection()
    yield from build_with_table_stats(context, dbt, warehouse, spark)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=dbt_translator,
    name="c360_dbt_segments",
    select=SEGMENTS_SELECT,
    pool=WAREHOUSE_POOL,
)
def c360_dbt_segments(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                      warehouse: DuckDBResource, spark: SparkResource) -> Iterator:
    """`dbt build` of the segment models, run only after the quality gates upstream of them passed."""
    settings.default_dbt_indirect_selection()
    yield from build_with_table_stats(context, dbt, warehouse, spark)


def dbt_resource(engine: str = ENGINE) -> DbtCliResource:
    """dbt on the engine: the dbt of this environment (so that runs work without the venv's bin/ on
    PATH), or on Spark the runner that prepares the session first (`c360-spark-dbt`) and the profile's
    `spark` target."""
    executable, target = ("c360-spark-dbt", "spark") if engine == "spark" else ("dbt", None)
    bundled = Path(sys.executable).parent / executable
    return DbtCliResource(project_dir=dbt_project, dbt_executable=str(bundled) if bundled.exists() else executable,
                          target=target)
