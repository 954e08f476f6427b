"""Shared fixtures: generated worlds served over real HTTP, and a fresh DuckDB warehouse per test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from c360.settings import DEMO_ERP_CUSTOM_FIELDS, LANDING_GROUPS, SYSTEMS
from demo_sources.testing import CREDENTIALS, TEST_TODAY


# The demo ERP keeps a custom birthday field; the test runs read it (and the dbt builds they start), as
# `c360 demo` does. A test of the default (no custom fields) unsets it. Returns come from the demo's
# customer credit notes, as in standard Odoo.
for _name, _value in DEMO_ERP_CUSTOM_FIELDS.items():
    os.environ.setdefault(_name, _value)


def make_world(persons: int = 300, seed: int = 7):
    from demo_sources.world import generate_world

    return generate_world(persons, seed, today=TEST_TODAY)


def make_world_serving_every_resource(persons: int = 300, seed: int = 7):
    """`make_world` whose helpdesk lists its ratings both ways, as legacy ratings and as CSAT survey
    responses (an account runs one of the two), so that every connector resource has records."""
    from demo_sources.current_csat import CurrentCsatWorld

    return CurrentCsatWorld(make_world(persons, seed), keep_ratings=True)


def load_benchmark(name: str):
    """A module of `benchmarks/` (a folder of scripts, no package), imported as the scripts import each
    other: their folder on the path, the module registered under its name."""
    import importlib
    import sys

    folder = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


@contextmanager
def serving(world, faults: str = "none", fault_seed: int = 1) -> Iterator:
    from demo_sources.server import SourceServer

    server = SourceServer(world, port=0, faults=faults, credentials=CREDENTIALS, fault_seed=fault_seed).start()
    try:
        yield server
    finally:
        server.shutdown()


def point_pipeline_at(monkeypatch, server, warehouse) -> None:
    """Env vars that make the pipeline read these demo sources and write this warehouse."""
    monkeypatch.setenv("C360_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("C360_BI_WAREHOUSE", str(Path(warehouse).with_name("bi.duckdb")))
    monkeypatch.setenv("SHOP_API_TOKEN", CREDENTIALS.shop_token)
    monkeypatch.setenv("ERP_API_KEY", CREDENTIALS.erp_api_key)
    for name, value in DEMO_ERP_CUSTOM_FIELDS.items():  # the demo ERP's custom fields
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HELPDESK_EMAIL", CREDENTIALS.helpdesk_email)
    monkeypatch.setenv("HELPDESK_API_TOKEN", CREDENTIALS.helpdesk_token)
    monkeypatch.setenv("ACCOUNTING_API_KEY", CREDENTIALS.accounting_api_key)
    for system in SYSTEMS:
        monkeypatch.setenv(f"{system.upper()}_API_URL", server.url(system))
    # the survey tool's NPS export, where the pipeline imports it (C360_NPS_IMPORT_DIR's default)
    monkeypatch.delenv("C360_NPS_IMPORT_DIR", raising=False)
    server.export_nps(Path(warehouse).parent / "imports" / "nps")


@contextmanager
def using_warehouse(path: Path) -> Iterator[None]:
    """`C360_WAREHOUSE` points at `path` meanwhile (for session-scoped fixtures, where monkeypatch is not)."""
    previous = os.environ.get("C360_WAREHOUSE")
    os.environ["C360_WAREHOUSE"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("C360_WAREHOUSE", None)
        else:
            os.environ["C360_WAREHOUSE"] = previous


def served_by_id(server, spec) -> dict[str, dict]:
    """Every record a complete sync of the resource receives now (as the connector receives it), by source id:
    an ERP record with the fields the connector asks for (no custom field unless configured, no
    `move_type` of a credit-note line)."""
    from c360.settings import ErpOptions
    from connectors.erp import model_fields

    read = set(model_fields(spec.name, ErpOptions.from_env())) | {"id"} if spec.system == "erp" else None
    by_id = {}
    for record in server.fetched(spec.key):
        if isinstance(record, dict) and read is not None:
            record = {k: v for k, v in record.items() if k in read}
        if isinstance(record, dict) and record.get("id") is not None:
            try:
                by_id[spec.record_id(record)] = record
            except ValueError:
                by_id[str(record["id"])] = record
    return by_id


def land_raw_record(con: duckdb.DuckDBPyConnection, table: str, record: dict, loaded_at: datetime) -> None:
    """Write `record` into `raw.<table>` as the landing does: it replaces its id's row, landed at `loaded_at`."""
    from c360.raw_store import replace_rows

    replace_rows(con, table, [(str(record["id"]), json.dumps(record), 1, None)], sync_id="test-sync",
                 loaded_at=loaded_at)


@contextmanager
def clients(server, *, timeout: float = 10.0, max_retries: int = 8, credentials=CREDENTIALS):
    from connectors import build_client

    built = {
        system: build_client(system, server.url(system), credentials, timeout=timeout, max_retries=max_retries)
        for system in SYSTEMS
    }
    try:
        yield built
    finally:
        for client in built.values():
            client.close()


def land_every_resource(con, server, *, batch_records: int = 700, raw_zone=None, **client_options) -> dict:
    """Land every connector resource as the landing assets do (the shop's deletions by reconciling
    its ids after the landing); the landing stats by resource key."""
    from c360.raw_store import land_resource, reconcile_deletions
    from connectors import ALL_RESOURCES

    stats = {}
    with clients(server, **client_options) as by_system:
        for spec in ALL_RESOURCES:
            client = by_system[spec.system]
            stats[spec.key] = land_resource(con, client, spec.name, batch_records=batch_records, raw_zone=raw_zone)
            if spec.name in getattr(client, "reconciled", ()):
                reconcile_deletions(con, client, spec.name, every_days=0, raw_zone=raw_zone)
    return stats


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        yield con
    finally:
        con.close()


def run_pipeline_downstream_of_raw(defs):
    """Materialize every asset after raw landing and the file imports (dbt, identity, marts, segments) in this
    process."""
    return run_pipeline(defs, include_landing=False)


def run_pipeline(defs, include_landing: bool = True):
    """Materialize the whole graph (or all but the raw landing) in this process; fail the test if the
    run fails. Returns the run's result."""
    import dagster as dg

    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.all()
    if not include_landing:
        selection = selection - dg.AssetSelection.groups(*LANDING_GROUPS)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=list(selection.resolve(graph)),
        raise_on_error=False,
    )
    failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, f"pipeline run failed: {failures}"
    return result


@pytest.fixture(scope="session")
def pipeline_warehouse(pipeline_build):
    """(warehouse path, world) of the session's pipeline build. Tests must only read it."""
    path, world, _ = pipeline_build
    return path, world


def copy_of_pipeline_warehouse(pipeline_warehouse, tmp_path_factory, name: str) -> Path:
    """A copy of the session build's warehouse file alone, for a test that writes to it."""
    import shutil

    path, _ = pipeline_warehouse
    target = tmp_path_factory.mktemp(name) / "c360.duckdb"
    shutil.copy(path, target)
    return target


def copy_of_pipeline_folder(pipeline_warehouse, tmp_path_factory, name: str) -> Path:
    """A copy of the session build's folder (warehouse, BI snapshot, validation results, imports), for a
    test that writes: the build itself is only read."""
    import shutil

    path, _ = pipeline_warehouse
    target = tmp_path_factory.mktemp(name) / "warehouse"
    shutil.copytree(path.parent, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def pipeline_materializations(pipeline_build) -> dict:
    """Metadata of every asset materialized by the session's pipeline build, by asset key."""
    _, _, result = pipeline_build
    return {
        event.asset_key: event.materialization.metadata for event in result.get_asset_materialization_events()
    }


@pytest.fixture(scope="session")
def pipeline_build(tmp_path_factory):
    """One warehouse built once per test session by the whole pipeline from a generated world.

    The world's records are put straight into the raw tables (the landing itself is tested over HTTP
    in tests/landing), its NPS answers through the survey export's import; everything downstream runs
    through Dagster as in production. Yields
    (warehouse path, world, run result).
    """
    from connectors import ALL_RESOURCES
    from demo_sources.testing.world_loader import load_nps, load_world

    path = tmp_path_factory.mktemp("pipeline") / "c360.duckdb"
    world = make_world(persons=1500, seed=31)
    with duckdb.connect(str(path)) as con:
        load_world(con, world, resources=[spec.key for spec in ALL_RESOURCES])
        load_nps(con, world, path.parent / "imports" / "nps")
    with using_warehouse(path):
        from orchestration.definitions import build_definitions

        result = run_pipeline_downstream_of_raw(build_definitions())
    yield path, world, result


# `make test` runs the suite on two workers (pytest-xdist, `--dist loadgroup`): each test file is a
# group of its own, so its module fixtures are built once, except the files that read the session's
# pipeline build (`pipeline_build`), which form one group so that one worker builds it once. Long
# groups start first, so that they run beside the many short files instead of last and alone.
PIPELINE_BUILD_FILES = (
    "tests/test_pipeline_smoke.py",
    "tests/dbt/test_docs_and_contracts.py",
    "tests/kpis/test_kpis_against_truth.py",
    "tests/operations/test_bi_snapshot.py",
    "tests/operations/test_bi_pii.py",
    "tests/privacy/test_find_and_export.py",
    "tests/privacy/test_objections.py",
    "tests/privacy/test_erasure.py",
    "tests/quality/test_gates.py",
    "tests/quality/test_segments.py",
)
LONG_RUNNING_FILES = (
    "tests/spark/test_spark_pipeline.py",
    "tests/operations/test_daily_runs.py",
    "tests/spark/test_spark_staging.py",
    "tests/dbt/test_staging_incremental.py",
    "tests/dbt/test_staging_tests_scope.py",
    "tests/landing/test_raw_landing.py",
    "tests/operations/test_crash_recovery.py",
    "tests/dbt/test_junk_records.py",
    "tests/ui/test_dagster_ui.py",
    "tests/contract/test_payloads_to_golden.py",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Group each test for the workers and put long groups first (the same order on every worker)."""
    rank = {path: i for i, path in enumerate(PIPELINE_BUILD_FILES[:1] + LONG_RUNNING_FILES)}

    def group(item) -> str:
        path = Path(str(item.fspath)).relative_to(config.rootpath).as_posix()
        return PIPELINE_BUILD_FILES[0] if path in PIPELINE_BUILD_FILES else path

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
        if getattr(config.option, "loadgroup", False):  # a worker of `--dist loadgroup`
            _name_the_group_in_the_id(item, group(item))
    items.sort(key=lambda item: rank.get(group(item), len(rank)))


def _name_the_group_in_the_id(item, name: str) -> None:
    """pytest-xdist sends the tests whose node id ends in `@<group>` to one worker, and appends that
    suffix itself, to a field pytest 9.2 no longer reads its ids from (pytest-dev/pytest-xdist#1386):
    every group was spread over both workers, each building the pipeline and every module fixture
    once more. The suffix goes on the id pytest reads (`_id`); a pytest that has none keeps xdist's way."""
    if "@" in item.nodeid.rpartition("]")[2] or not hasattr(item, "_id"):
        return
    from _pytest.nodeid import NodeId

    item._id = NodeId.parse(f"{item.nodeid}@{name}")
