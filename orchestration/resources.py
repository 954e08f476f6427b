"""Dagster resources: the warehouse, the Spark engine's session and the four source systems.

Only the engine (`C360_ENGINE`, `ENGINE`) is read when the definitions are loaded: it shapes them (the
dbt executable, the kinds the UI shows per asset). Nothing else here reads the environment then: a
field left unset is taken from `c360.settings` (which reads the environment variables) when a step
uses the resource, so the UI shows neither a value nor a secret, and a changed variable applies to
the next run without reloading the code location. A deployment may still set a field, for instance to
`dg.EnvVar("SHOP_API_URL")` (the UI then names the variable). Credentials are read only when a
client is built, inside the run, so they never appear in resource config, the UI or the logs.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from c360 import settings
from connectors import build_client
from connectors.base import SourceClient


class SourceSystemResource(dg.ConfigurableResource):
    """One source system's API: where it is, how patiently to talk to it, and how far ahead of our
    clock its change markers may lie before a record counts as future-dated. Unset fields come from
    the settings when the client is built."""

    system: str
    base_url: str | None = None  # default: <SYSTEM>_API_URL, else the demo sources
    timeout_seconds: float | None = None  # default: C360_HTTP_TIMEOUT
    max_retries: int | None = None  # default: C360_HTTP_MAX_RETRIES
    future_tolerance_seconds: float | None = None  # default: C360_FUTURE_TOLERANCE

    @contextmanager
    def client(self):
        tolerance = (settings.future_tolerance() if self.future_tolerance_seconds is None
                     else timedelta(seconds=self.future_tolerance_seconds))
        client: SourceClient = build_client(
            self.system,
            self.base_url or settings.source_url(self.system),
            settings.SourceCredentials.from_env(),
            timeout=settings.http_timeout_seconds() if self.timeout_seconds is None else self.timeout_seconds,
            max_retries=settings.http_max_retries() if self.max_retries is None else self.max_retries,
            future_tolerance=tolerance,
        )
        try:
            yield client
        finally:
            client.close()


def source_resources() -> dict[str, SourceSystemResource]:
    return {f"{system}_api": SourceSystemResource(system=system) for system in settings.SYSTEMS}


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse; `database` unset: `C360_WAREHOUSE` (the settings), read when a step connects."""

    database: str = ""

    @contextmanager
    def get_connection(self):
        path = Path(self.database or settings.warehouse_path())
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=str(path), connection_config=self.connection_config).get_connection() as con:
            yield con


def warehouse_resource() -> WarehouseResource:
    return WarehouseResource()


ENGINE = settings.engine()  # "duckdb" or "spark": where dbt, identity's scoring and the gates run


def engine_kinds(*kinds: str) -> set[str]:
    """An asset's kinds in the UI: what it uses, and the engine its tables are in."""
    return {*kinds, ENGINE}


class SparkResource(dg.ConfigurableResource):
    """The Spark engine's session (`C360_ENGINE=spark`): local from `C360_SPARK_MASTER`, or a Spark
    Connect client of `C360_SPARK_REMOTE`, read when a step starts it. Its catalog is shared by the
    steps (`c360.spark_engine.catalog_session`). In local mode its metastore is embedded and admits one
    process at a time: the steps of a run in one process (the in-process executor) share the session,
    a dbt step ends it before dbt's own process starts (`free_metastore`), and the run ends it. On the
    DuckDB engine no step uses it."""

    @contextmanager
    def session(self):
        from c360.spark_engine import catalog_session

        yield catalog_session("c360-dagster")

    def free_metastore(self) -> None:
        from c360.spark_engine import free_embedded_metastore

        free_embedded_metastore()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.free_metastore()
