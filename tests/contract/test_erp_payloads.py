"""Odoo's published payloads (tests/contract/payloads/erp/, sources in its README) through the ERP
connector over both protocols (JSON-2 and XML-RPC), the raw landing and the dbt staging.

A tiny real HTTP server answers as Odoo does: JSON-2 `POST /json/2/<model>/<method>` (bare JSON array,
the published 401 error body for a wrong key) and XML-RPC `/xmlrpc/2/common` + `/xmlrpc/2/object`
(marshalled by the standard library, faults with HTTP 200). It serves the published records verbatim.
The documentation's calls did not ask for `write_date`, which the connector always asks (its change
marker); the landing test therefore gives each published record a `write_date` and nothing else.
"""

from __future__ import annotations

import json
import threading
import xmlrpc.client
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from c360.raw_store import ensure_raw_schema, land_resource
from c360.settings import ErpOptions, SourceCredentials
from connectors import ALL_RESOURCES, SourceAuthError
from connectors.erp import ErpClient
from tests.conftest import using_warehouse

PAYLOADS = Path(__file__).parent / "payloads" / "erp"
KEY = "contract-erp-key"
DB = "contract-db"
CREDS = SourceCredentials("s", KEY, "agent@example.com", "h", "a")
MARKER = "2025-01-15 10:00:00"


def _load(name: str):
    return json.loads((PAYLOADS / name).read_text())


PARTNERS = _load("res_partner_search_read_xmlrpc.json") + _load("json2_search_read_response.json")


class _Odoo(BaseHTTPRequestHandler):
    records: dict[str, list[dict]] = {}
    seen: list[tuple[str, dict, object]] = []

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, model: str, method: str, kwargs: dict):
        if method == "fields_get":
            return {}  # an install reporting nothing: the connector keeps its field list
        return self.records.get(model, [])[kwargs.get("offset", 0):][: kwargs.get("limit") or None]

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["json", "2"]:
            kwargs = json.loads(body or b"{}")
            self.seen.append((self.path, dict(self.headers), kwargs))
            if self.headers.get("Authorization") != f"bearer {KEY}":
                return self._send(401, (PAYLOADS / "json2_error_401.json").read_bytes(), "application/json")
            return self._send(200, json.dumps(self._answer(parts[2], parts[3], kwargs)).encode(), "application/json")
        params, name = xmlrpc.client.loads(body)
        self.seen.append((self.path, dict(self.headers), params))
        if parts[-1] == "common":
            value = 2 if params[:3] == (DB, "api-user", KEY) else False
        elif params[:3] != (DB, 2, KEY):
            return self._send(200, xmlrpc.client.dumps(xmlrpc.client.Fault(3, "Access Denied"),
                                                       methodresponse=True).encode(), "text/xml")
        else:
            db, uid, key, model, method, args, kwargs = params
            value = self._answer(model, method, kwargs)
        self._send(200, xmlrpc.client.dumps((value,), methodresponse=True, allow_none=False).encode(), "text/xml")


@pytest.fixture()
def odoo():
    _Odoo.seen = []
    _Odoo.records = {"res.partner": PARTNERS}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odoo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client(url: str, protocol: str, creds=CREDS, **kw) -> ErpClient:
    options = ErpOptions(protocol=protocol, database=DB, login="api-user", **kw)
    return ErpClient(url, creds, options=options, max_retries=0, timeout=5)


def _fetch(url: str, protocol: str, model: str = "res.partner") -> list[dict]:
    client = _client(url, protocol)
    try:
        return [r for page in client.fetch(model, None) for r in page.records]
    finally:
        client.close()


@pytest.mark.parametrize("protocol", ["json2", "xmlrpc"])
def test_published_partners_arrive_intact_over_both_protocols(odoo, protocol):
    assert _fetch(odoo, protocol) == PARTNERS  # `false`, many2one pairs and foreign countries untouched
    path, headers, args = _Odoo.seen[-1]
    if protocol == "json2":
        assert path == "/json/2/res.partner/search_read"
        assert headers["Authorization"] == f"bearer {KEY}" and headers["X-Odoo-Database"] == DB
        kwargs = args
    else:
        assert path == "/xmlrpc/2/object" and headers["Content-Type"] == "text/xml"
        db, uid, key, model, method, positional, kwargs = args
        assert (db, uid, model, method) == (DB, 2, "res.partner", "search_read") and positional == [[]]
        assert _Odoo.seen[0][0] == "/xmlrpc/2/common" and _Odoo.seen[0][2] == (DB, "api-user", KEY, {})
    assert kwargs["order"] == "write_date asc, id asc" and kwargs["context"] == {"active_test": False}
    assert "comment" in kwargs["fields"] and "write_date" in kwargs["fields"]
    assert "x_birthdate" not in kwargs["fields"]  # no custom field unless configured by name


def test_both_protocols_give_identical_raw_records(odoo):
    assert json.dumps(_fetch(odoo, "json2"), sort_keys=True) == json.dumps(_fetch(odoo, "xmlrpc"), sort_keys=True)


def test_published_401_and_xmlrpc_refusals_are_auth_errors(odoo):
    bad = SourceCredentials("s", "wrong", "agent@example.com", "h", "a")
    for protocol in ("json2", "xmlrpc"):
        client = _client(odoo, protocol, creds=bad)
        with pytest.raises(SourceAuthError) as err:
            list(client.fetch("res.partner", None))
        client.close()
        assert "wrong" not in str(err.value)
        if protocol == "json2":
            assert err.value.status == 401 and "Invalid apikey" in str(err.value)
        else:
            assert "authenticate" in str(err.value)


def test_configured_custom_field_is_asked_by_name(odoo):
    _fetch(odoo, "json2")
    assert "x_studio_birthday" not in _Odoo.seen[-1][2]["fields"]
    client = _client(odoo, "json2", birthday_field="x_studio_birthday")
    list(client.fetch("res.partner", None))
    client.close()
    assert _Odoo.seen[-1][2]["fields"][-1] == "x_studio_birthday"


@pytest.mark.parametrize("protocol", ["json2", "xmlrpc"])
def test_published_partners_reach_staging_intact(odoo, protocol, tmp_path):
    from orchestration.assets.dbt_models import dbt_resource

    _Odoo.records = {"res.partner": [dict(r, write_date=MARKER) for r in PARTNERS]}
    warehouse = tmp_path / "c360.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con, ALL_RESOURCES)
        client = _client(odoo, protocol)
        stats = land_resource(con, client, "res.partner")
        client.close()
        assert (stats.new, stats.quarantined, stats.watermark_after) == (len(PARTNERS), 0, MARKER)
        raw = {r[0]: json.loads(r[1]) for r in con.execute("select id, record from raw.erp_partners").fetchall()}
    assert raw == {str(r["id"]): dict(r, write_date=MARKER) for r in PARTNERS}
    with using_warehouse(warehouse):
        dbt_resource().cli(["build", "--select", "stg_erp__partners"], raise_on_error=True).wait()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select partner_id, name, country_id, country_name, is_active, is_deleted, updated_at "
                           "from staging.stg_erp__partners order by partner_id").fetchall()
    expected = sorted((r["id"], r["name"], r["country_id"][0] if r.get("country_id") else None,
                       r["country_id"][1] if r.get("country_id") else None) for r in PARTNERS)
    assert [row[:4] for row in rows] == expected
    assert all(row[4] is True and row[5] is False for row in rows)
    assert {row[6] for row in rows} == {datetime(2025, 1, 15, 10, tzinfo=UTC)}
