"""What the contract tests share: the vendors' published payloads, a stand-in for a vendor's API on a
real HTTP server answering with them, and the way from a connector through raw landing to staging."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb

PAYLOADS = Path(__file__).parent / "payloads"


def load_payload(system: str, name: str):
    """A published sample of `tests/contract/payloads/<system>/` (its source is in the README there)."""
    return json.loads((PAYLOADS / system / name).read_text())


class VendorHandler(BaseHTTPRequestHandler):
    """A vendor's endpoints answering with published samples; subclasses implement `do_GET`/`do_POST`."""

    content_type = "application/json"

    def log_message(self, *args) -> None:
        pass

    def send_json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """The handler on a free local port for the duration; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def land_and_stage(path: Path, client, resources: tuple[str, ...], system: str):
    """Land `resources` through `client` into a new warehouse at `path`, then dbt-build the system's
    staging models; (landing stats per resource, dbt run results). Closes the client."""
    from c360.raw_store import ensure_raw_schema, land_resource
    from connectors import ALL_RESOURCES
    from tests.dbt.test_staging import build_staging_models

    try:
        with duckdb.connect(str(path)) as con:
            ensure_raw_schema(con, ALL_RESOURCES)
            stats = {name: land_resource(con, client, name) for name in resources}
    finally:
        client.close()
    return stats, build_staging_models(path, "--select", f"path:models/staging/{system}")
