"""The ERP connector against the demo ERP over both Odoo protocols: JSON-2 (19+) and XML-RPC (16-18)
give the same records; database, login and key are checked as Odoo does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from c360.settings import ErpOptions
from connectors import SourceAuthError, SourceRequestError
from connectors.erp import RESOURCES, STANDARD_FIELDS, ErpClient
from demo_sources.erp import DEMO_ERP_DATABASE
from demo_sources.testing import CREDENTIALS
from tests.conftest import make_world, serving

CUSTOM = dict(birthday_field="x_birthdate", returned_qty_field="x_qty_returned")


@pytest.fixture(scope="module")
def server():
    with serving(make_world(persons=120, seed=5)) as srv:
        yield srv


def _client(server, protocol: str, *, page_size: int = 37, creds=CREDENTIALS, **kw) -> ErpClient:
    options = ErpOptions(**{"protocol": protocol, "database": DEMO_ERP_DATABASE, "login": "api@example.com",
                            **CUSTOM, **kw})
    return ErpClient(server.url("erp"), creds, options=options, page_size=page_size, max_retries=0, timeout=10)


def _all(client: ErpClient, resource: str):
    pages = list(client.fetch(resource, None))
    return [r for p in pages for r in p.records], pages[-1].watermark if pages else None


def test_json2_and_xmlrpc_read_the_same_records(server):
    for resource in RESOURCES:
        json2, xmlrpc = _client(server, "json2"), _client(server, "xmlrpc")
        got_json2, wm_json2 = _all(json2, resource)
        got_xmlrpc, wm_xmlrpc = _all(xmlrpc, resource)
        json2.close(), xmlrpc.close()
        read = set(json2.fields_for(resource)) | {"id"}  # a field not asked for (move_type of a line) stays out
        served = {r["id"]: {k: v for k, v in r.items() if k in read} for r in server.served(f"erp/{resource}")}
        assert got_json2 == got_xmlrpc, resource
        assert {r["id"]: r for r in got_json2} == served, resource
        assert wm_json2 == wm_xmlrpc
        assert xmlrpc.stats.requests == json2.stats.requests + 1  # + authenticate


def test_only_customer_credit_notes_and_their_product_lines():
    """The fixed domain terms: an invoice and a credit note's tax line are not read (Odoo filters them)."""
    with serving(make_world(persons=120, seed=5)) as server:
        moves, lines = server.served("erp/account.move"), server.served("erp/account.move.line")
        assert moves and lines
        invoice = dict(moves[0], id=990_001, move_type="out_invoice", name="INV/2026/00001")
        tax_line = dict(lines[0], id=990_002, display_type="tax", product_id=False, quantity=False)
        server.upsert("erp/account.move", [invoice])
        server.upsert("erp/account.move.line", [tax_line])
        for protocol in ("json2", "xmlrpc"):
            client = _client(server, protocol)
            got_moves, _ = _all(client, "account.move")
            got_lines, _ = _all(client, "account.move.line")
            client.close()
            assert {m["id"] for m in got_moves} == {m["id"] for m in moves}
            assert {ln["id"] for ln in got_lines} == {ln["id"] for ln in lines}
            assert all(ln["display_type"] == "product" and ln["sale_line_ids"] for ln in got_lines)


def test_archived_partners_land(server):
    client = _client(server, "xmlrpc")
    partners, _ = _all(client, "res.partner")
    client.close()
    assert any(p["active"] is False for p in partners)


def test_only_standard_fields_unless_custom_fields_are_named(server):
    client = _client(server, "json2", birthday_field="", returned_qty_field="")
    partners, _ = _all(client, "res.partner")
    lines, _ = _all(client, "sale.order.line")
    client.close()
    assert not any("x_birthdate" in p for p in partners) and not any("x_qty_returned" in ln for ln in lines)
    assert set(client.fields_for("res.partner")) <= set(STANDARD_FIELDS["res.partner"])
    assert "mobile" in client.fields_for("res.partner")  # this install has it (fields_get)
    assert "parent_id" not in client.fields_for("res.partner")  # ... and not this one


def test_wrong_database_login_or_key(server):
    bad_key = replace(CREDENTIALS, erp_api_key="nope")
    with pytest.raises(SourceAuthError, match="authenticate") as err:
        _all(_client(server, "xmlrpc", creds=bad_key), "res.partner")
    assert "nope" not in str(err.value)
    with pytest.raises(SourceRequestError, match="does not exist"):
        _all(_client(server, "xmlrpc", database="other"), "res.partner")
    with pytest.raises(SourceRequestError, match="404"):
        _all(_client(server, "json2", database="other"), "res.partner")
    with pytest.raises(SourceAuthError, match="401"):
        _all(_client(server, "json2", creds=bad_key), "res.partner")
    with pytest.raises(ValueError, match="C360_ERP_DATABASE"):
        _client(server, "xmlrpc", database="")


def test_xmlrpc_fault_after_authentication_is_an_auth_error(server):
    client = _client(server, "xmlrpc")
    _all(client, "product.product")
    client.xmlrpc_auth.api_key = "changed"  # the key was revoked mid-run
    with pytest.raises(SourceAuthError, match="fault 3"):
        _all(client, "product.product")
    client.close()
