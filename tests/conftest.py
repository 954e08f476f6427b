"""Shared fixtures: generated worlds served over real HTTP, and a fresh DuckDB warehouse per test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pytest

from c360.settings import SYSTEMS, SourceCredentials

# A fixed "today" keeps every world in the tests reproducible whatever the date of the run.
TEST_TODAY = date(2026, 11, 20)
CREDENTIALS = SourceCredentials(
    shop_token="test-shop-token",
    erp_api_key="test-erp-key",
    helpdesk_email="agent@example.com",
    helpdesk_token="test-helpdesk-token",
    accounting_api_key="test-accounting-key",
)


def make_world(persons: int = 300, seed: int = 7):
    from simulator.world import generate_world

    return generate_world(persons, seed, today=TEST_TODAY)


@contextmanager
def serving(world, faults: str = "none", fault_seed: int = 1) -> Iterator:
    from simulator.server import SourceServer

    server = SourceServer(world, port=0, faults=faults, credentials=CREDENTIALS, fault_seed=fault_seed).start()
    try:
        yield server
    finally:
        server.shutdown()


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


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        yield con
    finally:
        con.close()
