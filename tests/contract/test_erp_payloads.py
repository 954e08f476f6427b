"""Odoo's published payloads (tests/contract/payloads/erp/, sources in its README) through the ERP
connector over both protocols (JSON-2 and XML-RPC), the raw landing and the dbt staging.

A tiny real HTTP server answers as Odoo does: JSON-2 `POST /json/2/<model>/<method>` (bare JSON array,
the published 401 error body for a wrong key) and XML-RPC `/xmlrpc/2/common` + `/xmlrpc/2/object`
(marshalled by the standard library, faults with HTTP 200). It serves the published records verbatim.
The documentation's calls did not ask for `write_date`, which the connector always asks (its change
marker); the landing test therefore gives each published record a `write_date` and nothing else.

Customer credit notes: Odoo's own test fixture of a customer credit note (`out_refund` with two
product lines, two tax lines and a payment-term line; transcribed, see the README) is served as
`account.move` / `account.move.line`. The server applies the equality terms of the domain the
connector sends to the fields a record has, as Odoo would: only the product lines come back.
"""

from __future__ import annotations

import json
import threading
import xmlrpc.client
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from c360.raw_store import ensure_raw_schema, land_resource
from c360.settings import ErpOptions, SourceCredentials
from connectors import ALL_RESOURCES, SourceAuthError
from connectors.erp import BASE_DOMAINS, ErpClient
from tests.conftest import using_warehouse
from tests.contract.conftest import VendorHandler, land_and_stage, load_payload

PAYLOADS = Path(__file__).parent / "payloads" / "erp"
KEY = "contract-erp-key"
DB = "contract-db"
CREDS = SourceCredentials("s", KEY, "agent@example.com", "h", "a")
MARKER = "2025-01-15 10:00:00"


def _load(name: str):
    return json.loads((PAYLOADS / name).read_text())


PARTNERS = _load("res_partner_search_read_xmlrpc.json") + _load("json2_search_read_response.json")
CREDIT_NOTES = load_payload("erp", "account_move_out_refund_fixture.json")
CREDIT_NOTE_LINES = load_payload("erp", "account_move_line_out_refund_fixture.json")


def _matches(record: dict, domain: list) -> bool:
    """The domain's `[field, "=", value]` terms on the fields the record has (the keyset terms on
    write_date and id are left to paging: the samples fit one page)."""
    return all(record[t[0]] == t[2] for t in domain
               if isinstance(t, list) and len(t) == 3 and t[1] == "=" and t[0] in record and t[0] not in ("write_date", "id"))


class _Odoo(VendorHandler):
    records: dict[str, list[dict]] = {}
    seen: list[tuple[str, dict, object]] = []

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, model: str, method: str, kwargs: dict, domain: list):
        if method == "fields_get":
            return {}  # an install reporting nothing: the connector keeps its field list
        found = [r for r in self.records.get(model, []) if _matches(r, domain)]
        return found[kwargs.get("offset", 0):][: kwargs.get("limit") or None]

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["json", "2"]:
            kwargs = json.loads(body or b"{}")
            self.seen.append((self.path, dict(self.headers), kwargs))
            if self.headers.get("Authorization") != f"bearer {KEY}":
                return self._send(401, (PAYLOADS / "json2_error_401.json").read_bytes(), "application/json")
            answer = self._answer(parts[2], parts[3], kwargs, kwargs.get("domain") or [])
            return self._send(200, json.dumps(answer).encode(), "application/json")
        params, name = xmlrpc.client.loads(body)
        self.seen.append((self.path, dict(self.headers), params))
        if parts[-1] == "common":
            value = 2 if params[:3] == (DB, "api-user", KEY) else False
        elif params[:3] != (DB, 2, KEY):
            return self._send(200, xmlrpc.client.dumps(xmlrpc.client.Fault(3, "Access Denied"),
                                                       methodresponse=True).encode(), "text/xml")
        else:
            db, uid, key, model, method, args, kwargs = params
            value = self._answer(model, method, kwargs, args[0] if args else [])
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


@pytest.mark.parametrize("protocol", ["json2", "xmlrpc"])
def test_published_credit_note_reaches_staging_intact(odoo, protocol, tmp_path):
    """Odoo's customer credit note fixture over both protocols: the connector asks for customer credit
    notes and their product lines only, lands them as served, and staging types every value."""
    _Odoo.records = {"account.move": [dict(r, write_date=MARKER) for r in CREDIT_NOTES],
                     "account.move.line": [dict(r, write_date=MARKER) for r in CREDIT_NOTE_LINES]}
    product_lines = [r for r in CREDIT_NOTE_LINES if r["display_type"] == "product"]
    stats, run_results = land_and_stage(tmp_path / "c360.duckdb", _client(odoo, protocol),
                                        ("account.move", "account.move.line"), "erp")
    assert [(s.new, s.quarantined) for s in stats.values()] == [(1, 0), (len(product_lines), 0)]
    asked = [args for path, _, args in _Odoo.seen if "account.move" in str(args) or "account.move" in path]
    domains = [a.get("domain") if isinstance(a, dict) else a[5][0] for a in asked
               if (isinstance(a, dict) and "domain" in a) or (isinstance(a, tuple) and a[4] == "search_read")]
    assert [["move_type", "=", "out_refund"]] in [d[:1] for d in domains]
    assert any(d[:2] == [list(t) for t in BASE_DOMAINS["account.move.line"]] for d in domains)
    failed = [r["unique_id"] for r in run_results["results"] if r["status"] in ("error", "fail")]
    assert not failed, failed
    with duckdb.connect(str(tmp_path / "c360.duckdb"), read_only=True) as con:
        notes = con.execute("select credit_note_id, credit_note_name, move_type, state, partner_id, partner_name, "
                            "invoice_date, amount_untaxed, amount_tax, amount_total, is_posted, invoice_origin, "
                            "updated_at from staging.stg_erp__credit_notes").fetchall()
        lines = con.execute("select credit_note_line_id, credit_note_id, display_type, product_id, product_display_name, "
                            "label, quantity, discount_percent, price_unit, price_subtotal_net, price_total_gross, "
                            "sale_order_line_id from staging.stg_erp__credit_note_lines "
                            "order by credit_note_line_id").fetchall()
    (note,) = CREDIT_NOTES
    assert notes == [(note["id"], note["name"], note["move_type"], note["state"], *note["partner_id"],
                      date.fromisoformat(note["invoice_date"]), *(Decimal(str(note[k])) for k in
                      ("amount_untaxed", "amount_tax", "amount_total")), False, None,
                      datetime(2025, 1, 15, 10, tzinfo=UTC))]  # a draft: it refunds nothing yet
    assert lines == [(r["id"], r["move_id"][0], "product", *r["product_id"], r["name"],
                      *(Decimal(str(r[k])) for k in ("quantity", "discount", "price_unit", "price_subtotal",
                                                     "price_total")), None) for r in product_lines]
