"""Record ids and change markers of every resource: parsing, time zones, reasons of MalformedRecord."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors import ALL_RESOURCES, MalformedRecord
from connectors.accounting import berlin_day

SPECS = {s.key: s for s in ALL_RESOURCES}
UTC = timezone.utc


def test_all_sixteen_resources():
    """The API resources of the four systems; NPS answers are a file import (c360.nps_import), not one."""
    assert len(ALL_RESOURCES) == 16
    assert {s.table for s in ALL_RESOURCES} == {
        "shop_customers", "shop_orders", "shop_checkouts", "erp_partners", "erp_sale_orders",
        "erp_sale_order_lines", "erp_products", "erp_credit_notes", "erp_credit_note_lines", "helpdesk_users",
        "helpdesk_tickets", "helpdesk_satisfaction_ratings", "helpdesk_csat_survey_responses", "accounting_contacts", "accounting_vouchers",
        "accounting_payments"}
    for s in ALL_RESOURCES:
        assert s.key == f"{s.system}/{s.name}"
        assert s.id_field == "id"


@pytest.mark.parametrize("value, expected", [
    ("2026-03-02T10:15:00+01:00", datetime(2026, 3, 2, 9, 15, tzinfo=UTC)),  # winter time
    ("2026-05-01T10:15:00+02:00", datetime(2026, 5, 1, 8, 15, tzinfo=UTC)),  # summer time
    ("2026-10-25T02:30:00+02:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # first 02:30 of the DST end
    ("2026-10-25T02:30:00+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),  # the repeated hour
])
def test_shop_berlin_offsets(value, expected):
    got = SPECS["shop/customers"].record_version({"id": 1, "updated_at": value})
    assert got == expected and got.tzinfo == UTC


def test_erp_naive_utc():
    got = SPECS["erp/res.partner"].record_version({"id": 1, "write_date": "2026-05-01 13:45:10"})
    assert got == datetime(2026, 5, 1, 13, 45, 10, tzinfo=UTC) and got.utcoffset().total_seconds() == 0


def test_helpdesk_z():
    got = SPECS["helpdesk/tickets"].record_version({"id": 1, "updated_at": "2026-05-01T13:45:10Z"})
    assert got == datetime(2026, 5, 1, 13, 45, 10, tzinfo=UTC)


def test_accounting_milliseconds_and_berlin_day():
    spec = SPECS["accounting/vouchers"]
    got = spec.record_version({"id": "0b8e9a3c-1f2d-4e5a-9b6c-7d8e9f0a1b2c", "updatedDate": "2026-05-01T00:00:00.250+02:00"})
    assert got == datetime(2026, 4, 30, 22, 0, 0, 250000, tzinfo=UTC)
    # the Berlin day, not the UTC day, is what the date filter of the API means
    assert berlin_day("2026-05-01T00:30:00.000+02:00").isoformat() == "2026-05-01"
    assert berlin_day("2026-04-30T22:30:00.000Z").isoformat() == "2026-05-01"


def test_accounting_contact_version_is_int():
    spec = SPECS["accounting/contacts"]
    assert spec.record_version({"id": "0b8e9a3c-1f2d-4e5a-9b6c-7d8e9f0a1b2c", "version": 3}) == 3


def test_ids():
    assert SPECS["shop/orders"].record_id({"id": 5501234}) == "5501234"  # REST/webhook shape
    assert SPECS["shop/orders"].record_id({"id": "gid://shopify/Order/5501234"}) == "5501234"  # GraphQL
    assert SPECS["erp/sale.order"].record_id({"id": 42}) == "42"
    assert SPECS["helpdesk/users"].record_id({"id": 3812345}) == "3812345"
    uid = "0B8E9A3C-1f2d-4e5a-9b6c-7d8e9f0a1b2c"
    assert SPECS["accounting/contacts"].record_id({"id": uid}) == uid


@pytest.mark.parametrize("key, record, words", [
    ("shop/customers", {"updated_at": "2026-03-02T10:15:00+01:00"}, ["id", "missing"]),
    ("shop/customers", {"id": "7012345678"}, ["id", "gid://shopify"]),
    ("shop/customers", {"id": "gid://shopify/Customer/"}, ["id", "gid://shopify"]),
    ("shop/customers", {"id": True}, ["id", "integer"]),
    ("shop/customers", {"id": None}, ["id", "null"]),
    ("erp/res.partner", {"id": 4.5}, ["id", "integer"]),
    ("accounting/contacts", {"id": 17}, ["id", "UUID"]),
    ("accounting/vouchers", {"id": "not-a-uuid"}, ["id", "UUID"]),
])
def test_malformed_ids(key, record, words):
    with pytest.raises(MalformedRecord) as err:
        SPECS[key].record_id(record)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("key, value, words", [
    ("shop/customers", None, ["updatedAt", "null"]),
    ("shop/customers", "2026-03-02T10:15:00", ["updatedAt", "offset"]),  # naive: ambiguous
    ("shop/customers", "2026-03-02", ["updatedAt", "date-time"]),
    ("shop/orders", "yesterday", ["updatedAt", "date-time"]),
    ("shop/orders", 1767225600, ["updatedAt", "1767225600"]),
    ("erp/res.partner", False, ["write_date", "empty"]),
    ("erp/sale.order", "2026-05-01T13:45:10", ["write_date", "YYYY-MM-DD HH:MM:SS"]),
    ("erp/sale.order", "2026-02-30 10:00:00", ["write_date", "valid"]),
    ("helpdesk/users", "", ["updated_at", "date-time"]),
    ("helpdesk/tickets", "2026-13-01T00:00:00Z", ["updated_at", "date-time"]),
    ("accounting/vouchers", "01.05.2026", ["updatedDate"]),
    ("accounting/contacts", "3", ["version", "integer"]),
    ("accounting/contacts", True, ["version", "integer"]),
    ("accounting/contacts", -1, ["version", "non-negative"]),
])
def test_malformed_markers(key, value, words):
    spec = SPECS[key]
    with pytest.raises(MalformedRecord) as err:
        spec.record_version({"id": 1, spec.version_field: value})
    for w in words:
        assert w in str(err.value)


def test_missing_marker_and_non_object():
    spec = SPECS["helpdesk/satisfaction_ratings"]
    with pytest.raises(MalformedRecord, match="updated_at is missing"):
        spec.record_version({"id": 1})
    with pytest.raises(MalformedRecord, match="JSON object"):
        spec.record_version(["not", "a", "record"])
    assert issubclass(MalformedRecord, ValueError)


def test_shop_rest_shaped_records_keep_their_marker():
    spec = SPECS["shop/orders"]
    rest = {"id": 5501234, "updated_at": "2026-03-02T10:15:00+01:00"}
    assert spec.record_version(rest) == datetime(2026, 3, 2, 9, 15, tzinfo=timezone.utc)
    with pytest.raises(MalformedRecord, match="updatedAt is missing"):
        spec.record_version({"id": 5501234})
