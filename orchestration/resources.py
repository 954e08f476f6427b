"""Dagster resources: the warehouse and the four source systems, configured by env vars.

Credentials are read from the environment when a client is built, inside the run, so they never
appear in resource config, the UI or the logs.
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
    clock its change markers may lie before a record counts as future-dated."""

    system: str
    base_url: str
    timeout_seconds: float = 30.0
    max_retries: int = 8
    future_tolerance_seconds: float = settings.DEFAULT_FUTURE_TOLERANCE.total_seconds()

    @contextmanager
    def client(self):
        client: SourceClient = build_client(
            self.system,
            self.base_url,
            settings.SourceCredentials.from_env(),
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
            future_tolerance=timedelta(seconds=self.future_tolerance_seconds),
        )
        try:
            yield client
        finally:
            client.close()


def source_resources() -> dict[str, SourceSystemResource]:
    return {
        f"{system}_api": SourceSystemResource(
            system=system,
            base_url=settings.source_url(system),
            timeout_seconds=settings.http_timeout_seconds(),
            max_retries=settings.http_max_retries(),
            future_tolerance_seconds=settings.future_tolerance().total_seconds(),
        )
        for system in settings.SYSTEMS
    }


def warehouse_resource() -> DuckDBResource:
    path = settings.warehouse_path()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(path))
