"""Landing beside dlt's REST API source into DuckDB, on the endpoints dlt's declarative source can read.

    python benchmarks/bench_dlt.py --persons 100000 [--repeat 3]

dlt (https://dlthub.com, a dev dependency for this benchmark only) is the open-source tool a data
team would otherwise point at these APIs. Its `rest_api` source is declarative: a paginator, an auth
and a data selector per endpoint. It reads here:

- helpdesk (Zendesk) users and tickets: the incremental cursor exports (`after_cursor` -> `cursor`;
  the last page's cursor is followed once more, to an empty page, where dlt stops);
- helpdesk satisfaction ratings: cursor pagination (`meta.after_cursor` -> `page[after]`, until
  `meta.has_more` is false);
- accounting (Lexware Office) contacts: page numbers from 0 (`page`, `size`, `totalPages`).

It cannot read the shop (Shopify GraphQL: the cursor travels in the POST body's variables, and bulk
operations are asynchronous), the ERP (Odoo JSON-2 / XML-RPC: POST bodies with a keyset domain) or
the Lexware voucher list (date windows of at most 10,000 results), which is why these are left out.

Per endpoint: (1) the project's connector landing into a fresh DuckDB file (`land_resource`: upsert
by id, watermark, quarantine checks, one transaction per batch), (2) a dlt pipeline writing the same
endpoint into a fresh DuckDB file (`write_disposition="replace"`, nested data kept as JSON,
`max_table_nesting=0`, so both store one row per record). Prints records/s of both and the ratio
landing / dlt (above 1.0 = the landing is faster), medians of `--repeat` alternating runs, and checks
that both landed the same number of records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_landing import free_port, start_sources  # noqa: E402

from c360.raw_store import land_resource  # noqa: E402
from c360.settings import SourceCredentials, landing_batch_records  # noqa: E402
from connectors import build_client  # noqa: E402

# Page sizes where the client chooses, as the connectors ask: Zendesk's list maximum, Lexware's page maximum.
# (The incremental exports' pages are the server's: 1,000 records.)
RATINGS_PAGE_SIZE = 100
CONTACTS_PAGE_SIZE = 250


def dlt_endpoints(credentials: SourceCredentials) -> dict[str, dict]:
    """Per `<system>/<resource>`: the dlt `rest_api` client and resource declaration of that endpoint."""
    helpdesk_auth = {"type": "http_basic", "username": f"{credentials.helpdesk_email}/token",
                     "password": credentials.helpdesk_token}
    accounting_auth = {"type": "bearer", "token": credentials.accounting_api_key}
    # an export's last page still names a cursor (`end_of_stream: true`, which dlt has no inverse path
    # for): the page after it is empty, and dlt stops there
    export = {"type": "cursor", "cursor_path": "after_cursor", "cursor_param": "cursor", "stop_after_empty_page": True}
    return {
        "helpdesk/users": {"auth": helpdesk_auth, "resource": {
            "name": "users", "endpoint": {"path": "api/v2/incremental/users/cursor.json",
                                          "params": {"start_time": 0}, "data_selector": "users",
                                          "paginator": export}}},
        "helpdesk/tickets": {"auth": helpdesk_auth, "resource": {
            "name": "tickets", "endpoint": {"path": "api/v2/incremental/tickets/cursor.json",
                                            "params": {"start_time": 0}, "data_selector": "tickets",
                                            "paginator": export}}},
        "helpdesk/satisfaction_ratings": {"auth": helpdesk_auth, "resource": {
            "name": "satisfaction_ratings", "endpoint": {
                "path": "api/v2/satisfaction_ratings", "params": {"page[size]": RATINGS_PAGE_SIZE},
                "data_selector": "satisfaction_ratings",
                "paginator": {"type": "cursor", "cursor_path": "meta.after_cursor", "cursor_param": "page[after]",
                              "has_more_path": "meta.has_more"}}}},
        "accounting/contacts": {"auth": accounting_auth, "resource": {
            "name": "contacts", "endpoint": {
                "path": "v1/contacts", "params": {"size": CONTACTS_PAGE_SIZE}, "data_selector": "content",
                "paginator": {"type": "page_number", "page_param": "page", "base_page": 0,
                              "total_path": "totalPages"}}}},
    }


def run_dlt(base_url: str, key: str, declaration: dict, workdir: Path) -> tuple[int, float]:
    """One dlt pipeline run of one endpoint into a fresh DuckDB file: (records landed, seconds)."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    system, name = key.split("/")
    source = rest_api_source({
        "client": {"base_url": f"{base_url}/{system}/", "auth": declaration["auth"]},
        "resource_defaults": {"write_disposition": "replace", "primary_key": "id"},
        "resources": [declaration["resource"]],
    }, name=system)
    source.max_table_nesting = 0
    database = workdir / f"dlt_{system}_{name}_{time.monotonic_ns()}.duckdb"
    pipeline = dlt.pipeline(pipeline_name=f"bench_{system}_{name}", pipelines_dir=str(workdir / "dlt_pipelines"),
                            destination=dlt.destinations.duckdb(str(database)), dataset_name="raw")
    started = time.perf_counter()
    pipeline.run(source, refresh="drop_sources")
    seconds = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(f"select count(*) from raw.{name}").fetchone()[0]
    return rows, seconds


def run_landing(base_url: str, key: str, credentials: SourceCredentials, workdir: Path) -> tuple[int, float]:
    """The project's landing of one endpoint into a fresh DuckDB file: (records landed, seconds)."""
    system, name = key.split("/")
    client = build_client(system, f"{base_url}/{system}", credentials)
    database = workdir / f"landing_{system}_{name}_{time.monotonic_ns()}.duckdb"
    try:
        with duckdb.connect(str(database)) as con:
            started = time.perf_counter()
            land_resource(con, client, name, batch_records=landing_batch_records())
            seconds = time.perf_counter() - started
            rows = con.execute(f"select count(*) from raw.{client.resources[name].table}").fetchone()[0]
    finally:
        client.close()
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")  # dlt's own setting: no schema-inference notices

    port = free_port()
    credentials = SourceCredentials.from_env()
    started = time.perf_counter()
    sources = start_sources(args.persons, args.seed, port)
    print(f"world of {args.persons} persons generated and served in {time.perf_counter() - started:.1f} s")
    base_url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            print(f"{'endpoint':32} {'records':>9} {'landing rec/s':>14} {'dlt rec/s':>10} {'ratio':>6}")
            for key, declaration in dlt_endpoints(credentials).items():
                landing_rates, dlt_rates = [], []
                for _ in range(args.repeat):
                    landed, landing_seconds = run_landing(base_url, key, credentials, workdir)
                    dlt_rows, dlt_seconds = run_dlt(base_url, key, declaration, workdir)
                    if dlt_rows != landed:
                        raise SystemExit(f"{key}: the landing holds {landed} records, dlt {dlt_rows}")
                    landing_rates.append(landed / landing_seconds)
                    dlt_rates.append(dlt_rows / dlt_seconds)
                landing_rate, dlt_rate = statistics.median(landing_rates), statistics.median(dlt_rates)
                print(f"{key:32} {landed:9d} {landing_rate:14.0f} {dlt_rate:10.0f} {landing_rate / dlt_rate:6.2f}")
            print(f"(medians of {args.repeat} alternating runs)")
    finally:
        sources.terminate()
        sources.wait(timeout=60)


if __name__ == "__main__":
    main()
