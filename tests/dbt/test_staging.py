"""dbt staging on a small warehouse: every raw record reaches its staging model, typed and normalised.

One warehouse is built per module: a generated world (300 persons) plus a few hand-written records in
the contract's shapes that carry every phone format and soft delete, landed in the raw layout of
`c360/raw_store.py`; then a single `dbt build` of the staging models (unit tests, views and
incremental tables, data tests). The assertions compare the staging models with independent
computations from the same records.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from connectors import ALL_RESOURCES
from connectors.base import MalformedRecord
from c360.raw_store import ensure_raw_schema, raw_row, replace_rows
from tests.conftest import make_world, serving, using_warehouse

SPECS = {spec.key: spec for spec in ALL_RESOURCES}

# staging model per raw table (one row per record)
RECORD_MODELS = {
    "shop_customers": "stg_shop__customers",
    "shop_orders": "stg_shop__orders",
    "shop_checkouts": "stg_shop__checkouts",
    "erp_partners": "stg_erp__partners",
    "erp_sale_orders": "stg_erp__sale_orders",
    "erp_sale_order_lines": "stg_erp__sale_order_lines",
    "erp_products": "stg_erp__products",
    "erp_credit_notes": "stg_erp__credit_notes",
    "erp_credit_note_lines": "stg_erp__credit_note_lines",
    "helpdesk_users": "stg_helpdesk__users",
    "helpdesk_tickets": "stg_helpdesk__tickets",
    "helpdesk_satisfaction_ratings": "stg_helpdesk__satisfaction_ratings",
    "accounting_contacts": "stg_accounting__contacts",
    "accounting_vouchers": "stg_accounting__vouchers",
    "nps_responses": "stg_nps__responses",  # the survey tool's CSV export (c360/nps_import.py)
}
# the payment state of a voucher (one raw record) is one staging row per payment item
ITEM_MODELS = {"accounting_payments": ("stg_accounting__payments", "paymentItems")}

# every notation of the contract and the demo sources, with the E.164 a person would write down
PHONE_FORMATS = {
    "030 1234567": "+49301234567",
    "+49301234567": "+49301234567",
    "+49 30 1234567": "+49301234567",
    "0049 30 1234567": "+49301234567",
    "0049301234567": "+49301234567",
    "030/1234567": "+49301234567",
    "030-1234567": "+49301234567",
    "0301234567": "+49301234567",
    "(030) 1234567": "+49301234567",
    "+49 (30) 123-4567": "+49301234567",
    "+49 (0)30 1234567": "+49301234567",
    "030 123 4567": "+49301234567",
    "0151 23456789": "+4915123456789",
    "0151/23456789": "+4915123456789",
    "+49 151 23456789": "+4915123456789",
    "+4915123456789": "+4915123456789",
    "unbekannt": None,
    "15123456789": None,
}


# ------------------------------------------------------------------ independent reference implementations

def phone_e164(raw) -> str | None:
    """German phone number -> E.164, written from DOMAIN.md independently of the dbt macro."""
    if not isinstance(raw, str):
        return None
    compact = re.sub(r"[\s\u00a0/\-().]", "", unicodedata.normalize("NFC", raw))
    if not re.fullmatch(r"\+?\d+", compact):
        return None
    for prefix in ("+49", "0049"):
        if compact.startswith(prefix):
            national = compact[len(prefix):]
            national = national[1:] if national.startswith("0") else national
            break
    else:
        if compact.startswith("+") or compact.startswith("00"):
            international = compact[1:] if compact.startswith("+") else compact[2:]
            ok = re.fullmatch(r"[1-9]\d{7,14}", international) and not international.startswith("49")
            return "+" + international if ok else None
        if not compact.startswith("0"):
            return None
        national = compact[1:]
    return "+49" + national if re.fullmatch(r"[1-9]\d{5,12}", national) else None


def erp_value(value):
    return None if value is False else value


def first(mapping: dict, *keys):
    for key in keys:
        values = (mapping or {}).get(key) or []
        if values:
            return values[0]
    return None


# record -> (raw phone values by staging column, is_deleted)
CUSTOMER_MODELS = {
    # Shopify's `state` is the account (disabled = none), never a deletion
    "shop_customers": lambda r: ({"phone_e164": r.get("phone")}, False),
    "erp_partners": lambda r: (
        {"phone_e164": erp_value(r.get("phone")), "mobile_e164": erp_value(r.get("mobile"))},
        r.get("active") is False,
    ),
    "helpdesk_users": lambda r: ({"phone_e164": r.get("phone")}, r.get("active") is False),
    "accounting_contacts": lambda r: (
        {"phone_e164": first(r.get("phoneNumbers"), "mobile", "private", "business", "office", "other")},
        r.get("archived") is True,
    ),
}
DELETED = {
    "helpdesk_tickets": lambda r: r.get("status") == "deleted",
    "erp_products": lambda r: r.get("active") is False,
}


# ------------------------------------------------------------------ hand-written records (ids far from the world's)

def hand_written_records() -> dict[str, list[dict]]:
    shop_ts, erp_ts, hd_ts, acc_ts = (
        "2026-11-01T10:00:00+01:00", "2026-11-01 09:00:00", "2026-11-01T09:00:00Z", "2026-11-01T10:00:00.000+01:00")
    customers, partners, users, contacts = [], [], [], []
    for k, phone in enumerate(PHONE_FORMATS):
        customers.append({
            "id": 990_000_000 + k, "email": f" Person{k}@Example.de ", "first_name": "Anna", "last_name": "Müller",
            "phone": phone, "state": ("enabled", "disabled", "invited")[k % 3], "guest": k % 2 == 0,
            "verified_email": True, "tags": f"erp:K-9{k:05d}, newsletter", "birthday": "1985-02-30" if k == 1 else None,
            "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": None},
            "created_at": shop_ts, "updated_at": shop_ts,
            "default_address": {"address1": "Hauptstr. 5", "address2": None, "zip": "1067", "city": "Dresden",
                                "country_code": "DE", "company": None},
        })
        partners.append({
            "id": 990_000 + k, "name": ("Anna Müller", "Mueller, Anna", "A. Müller")[k % 3], "is_company": False,
            "ref": f"K-9{k:05d}", "email": False, "phone": phone, "mobile": False if k % 2 else phone,
            "street": "Hauptstrasse 5", "street2": False, "zip": "10115", "city": "Berlin", "country_id": [57, "Deutschland"],
            "vat": False, "x_birthdate": False, "active": k % 4 != 0, "create_date": erp_ts, "write_date": erp_ts,
        })
        users.append({
            "id": 990_000_000 + k, "name": ("Anna Müller", "Mueller, Anna", "A. Müller")[k % 3], "email": None,
            "phone": phone, "external_id": str(990_000_000 + k) if k % 2 else None, "role": "end-user",
            "active": k % 5 != 0, "created_at": hd_ts, "updated_at": hd_ts,
        })
        contacts.append({
            "id": f"99999999-0000-4000-8000-{k:012d}", "version": 1, "roles": {"customer": {"number": 99000 + k}},
            "person": {"salutation": "Frau", "firstName": "Anna", "lastName": "Müller"},
            "addresses": {"billing": [{"street": "Hauptstraße 5", "zip": "10115", "city": "Berlin", "countryCode": "DE"}]},
            "emailAddresses": {"private": ["anna@example.de"]}, "phoneNumbers": {"mobile": [phone]},
            "note": f"ERP K-9{k:05d}", "archived": k % 6 == 0,
        })
    order = {
        "id": 990_000_001, "name": "#99001", "order_number": 99001, "email": "anna@example.de",
        "customer": {"id": 990_000_000}, "created_at": shop_ts, "updated_at": shop_ts, "cancelled_at": None, "test": False,
        "financial_status": "partially_refunded", "currency": "EUR", "total_price": "89.85", "subtotal_price": "84.90",
        "total_tax": "14.35", "total_discounts": "0.00", "shipping_price": "4.95", "payment_gateway_names": ["invoice"],
        "line_items": [{"id": 1, "sku": "SKU-1", "title": "A", "quantity": 2, "price": "29.95", "product_id": 1},
                       {"id": 2, "sku": "SKU-2", "title": "B", "quantity": 1, "price": "25.00", "product_id": 2}],
        "refunds": [{"id": 1, "created_at": shop_ts,
                     "refund_line_items": [{"line_item_id": 1, "quantity": 1, "subtotal": "29.95"}],
                     "transactions": [{"amount": "29.95", "kind": "refund", "status": "success"}]}],
        "billing_address": None, "shipping_address": None,
    }
    sale_orders = [
        {"id": 990_000 + k, "name": f"S99{k:03d}", "partner_id": [990_000, "Anna Müller"], "client_order_ref": ref,
         "team_id": [1, "Webshop"], "date_order": erp_ts, "state": "sale", "amount_untaxed": 75.5, "amount_tax": 14.35,
         "amount_total": 89.85, "write_date": erp_ts}
        for k, ref in enumerate(["#99001", "99001", "Shop 99001", False])
    ]
    lines = [{"id": 990_000 + k, "order_id": [990_000 + k, f"S99{k:03d}"], "product_id": [1, "[SKU-1] A"],
              "product_uom_qty": 1.0, "qty_delivered": 1.0, "x_qty_returned": 0.0, "price_unit": 29.95,
              "price_subtotal": 25.17, "write_date": erp_ts} for k in range(4)]
    tickets = [{"id": 990_000_000 + k, "requester_id": 990_000_000, "subject": "Frage", "via": {"channel": "voice"},
                "status": status, "created_at": hd_ts, "updated_at": hd_ts, "solved_at": None,
                "custom_fields": [{"id": 360001, "value": "Bestellung 99001, Lieferung fehlt"}],
                "satisfaction_rating": {"score": "unoffered"}, "tags": []}
               for k, status in enumerate(["open", "deleted", "solved"])]
    vouchers = [{"id": "99999999-1111-4000-8000-000000000001", "voucherType": "salesinvoice", "voucherStatus": "open",
                 "voucherNumber": "RE-2026-099001", "voucherDate": acc_ts, "dueDate": acc_ts, "createdDate": acc_ts,
                 "updatedDate": acc_ts, "contactId": None, "contactName": "Sammelkunde", "totalAmount": 89.85,
                 "openAmount": 89.85, "currency": "EUR", "remark": "Bestellung #99001", "dunningLevel": 0}]
    return {
        "shop/customers": customers, "shop/orders": [order], "erp/res.partner": partners, "erp/sale.order": sale_orders,
        "erp/sale.order.line": lines, "helpdesk/users": users, "helpdesk/tickets": tickets,
        "accounting/contacts": contacts, "accounting/vouchers": vouchers,
    }


# ------------------------------------------------------------------ the warehouse, built once

def land_records(con: duckdb.DuckDBPyConnection, records: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """Write records in the raw landing layout (one row per id, latest version); returns them by table and id."""
    ensure_raw_schema(con, list(SPECS.values()))
    loaded_at = datetime.now(UTC)
    landed: dict[str, dict[str, dict]] = {}
    for key, spec in SPECS.items():
        by_id: dict[str, tuple[tuple, dict]] = {}
        for record in records.get(key, []):
            try:
                row = raw_row(spec, record)
            except MalformedRecord:
                continue  # landing quarantines it
            if row[0] not in by_id or row[2] >= by_id[row[0]][0][2]:
                by_id[row[0]] = (row, record)
        replace_rows(con, spec.table, [row for row, _ in by_id.values()], sync_id="test-sync", loaded_at=loaded_at)
        landed[spec.table] = {rid: rec for rid, (_, rec) in by_id.items()}
    return landed


def land_nps(con: duckdb.DuckDBPyConnection, world, directory: Path) -> dict[str, dict]:
    """The world's NPS export written and imported the pipeline's way; returns the landed rows by id."""
    from demo_sources.testing.world_loader import load_nps

    load_nps(con, world, directory)
    return {rid: json.loads(record) for rid, record in con.execute("select id, record from raw.nps_responses").fetchall()}


def land_world(path: Path, persons: int, seed: int) -> dict[str, list[dict]]:
    """A generated world's records, as served, landed into a new warehouse at `path` (and its NPS export
    imported); returns them by resource."""
    world = make_world(persons=persons, seed=seed)
    with serving(world) as server:
        records = {key: list(server.served(key)) for key in SPECS}
    with duckdb.connect(str(path)) as con:
        land_records(con, records)
        land_nps(con, world, path.parent / "nps")
    return records


def build_staging_models(path: Path, *extra_args: str) -> dict:
    """`dbt build` of the staging models on the warehouse at `path`; dbt's run results."""
    from orchestration.assets.dbt_models import dbt_resource

    with using_warehouse(path):
        invocation = dbt_resource().cli(["build", "--select", "path:models/staging", *extra_args],
                                        raise_on_error=False).wait()
    return invocation.get_artifact("run_results.json")


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """(connection to the built warehouse, raw records by table and id, dbt run results)."""
    world = make_world(persons=300, seed=21)
    with serving(world) as server:
        records = {key: list(server.served(key)) for key in SPECS}
    extra = hand_written_records()
    for key, more in extra.items():
        ids = {str(r.get("id")) for r in records[key]}
        assert not ids & {str(r["id"]) for r in more}, f"{key}: a hand-written id collides with the world"
        records[key] = records[key] + more

    path = tmp_path_factory.mktemp("dbt") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    landed = land_records(con, records)
    landed["nps_responses"] = land_nps(con, world, path.parent / "nps")
    con.close()

    run_results = build_staging_models(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con, landed, run_results
    finally:
        con.close()


def frame(con, model: str):
    return con.execute(f"select * from staging.{model}").df()


def value(x):
    """A pandas cell as a plain value: NaN / None / NA -> None."""
    return None if pd.isna(x) else x


# ------------------------------------------------------------------ tests

def test_dbt_build_of_staging_passes_every_unit_test_model_and_data_test(staged):
    _, _, run_results = staged
    results = run_results["results"]
    failed = [(r["unique_id"], r["status"], r.get("message")) for r in results if r["status"] in ("error", "fail")]
    assert not failed, failed
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test", "unit_test"} <= kinds
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert set(RECORD_MODELS.values()) | {"stg_shop__order_lines", "stg_shop__refunds", "stg_shop__refund_lines"} <= built


@pytest.mark.parametrize("table", sorted(RECORD_MODELS))
def test_every_raw_record_is_one_staging_row(staged, table):
    con, landed, _ = staged
    df = frame(con, RECORD_MODELS[table])
    assert landed[table], f"raw.{table} is empty: the test would prove nothing"
    assert len(df) == len(landed[table])
    assert sorted(df["source_record_id"]) == sorted(landed[table])
    assert df["source_system"].eq(table.split("_")[0]).all()


@pytest.mark.parametrize("table", sorted(ITEM_MODELS))
def test_every_raw_item_is_one_staging_row(staged, table):
    con, landed, _ = staged
    model, items = ITEM_MODELS[table]
    df = frame(con, model)
    assert landed[table], f"raw.{table} is empty: the test would prove nothing"
    expected = sorted((rid, n) for rid, rec in landed[table].items() for n in range(len(rec.get(items) or [])))
    assert sorted(zip(df["source_record_id"], df["payment_id"].str.rsplit("/", n=1).str[1].astype(int))) == expected
    assert df["source_system"].eq(table.split("_")[0]).all()


def test_nested_shop_records_are_unnested_completely(staged):
    con, landed, _ = staged
    orders = landed["shop_orders"].values()
    lines = frame(con, "stg_shop__order_lines")
    refunds = frame(con, "stg_shop__refunds")
    refund_lines = frame(con, "stg_shop__refund_lines")
    assert len(lines) == sum(len(o.get("line_items") or []) for o in orders) > 0
    assert len(refunds) == sum(len(o.get("refunds") or []) for o in orders) > 0
    assert len(refund_lines) == sum(
        len(r.get("refund_line_items") or []) for o in orders for r in (o.get("refunds") or [])) > 0
    expected_units = sum(int(li["quantity"]) for o in orders for li in o.get("line_items") or [])
    assert int(lines["quantity"].sum()) == expected_units


def test_every_contract_phone_format_is_the_e164_of_the_reference(staged):
    """The reference implementation first agrees with the formats table, then with dbt on every record."""
    for raw, expected in PHONE_FORMATS.items():
        assert phone_e164(raw) == expected, raw
    con, landed, _ = staged
    compared = 0
    for table, extract in CUSTOMER_MODELS.items():
        df = frame(con, RECORD_MODELS[table]).set_index("source_record_id")
        for record_id, record in landed[table].items():
            raw_phones, _ = extract(record)
            for column, raw in raw_phones.items():
                got = value(df.at[record_id, column])
                assert got == phone_e164(raw), (table, record_id, raw, got)
                compared += raw is not None
    assert compared >= 4 * len(PHONE_FORMATS)


def test_hand_written_phone_formats_reach_staging_as_expected(staged):
    con, _, _ = staged
    rows = con.execute(
        "select phone, phone_e164 from staging.stg_shop__customers where customer_id between 990000000 and 990000999"
    ).fetchall()
    assert {phone: e164 for phone, e164 in rows} == PHONE_FORMATS


@pytest.mark.parametrize("table", sorted({**CUSTOMER_MODELS, **DELETED}))
def test_soft_deletes_are_flagged_and_kept(staged, table):
    con, landed, _ = staged
    df = frame(con, RECORD_MODELS[table]).set_index("source_record_id")
    flag = (lambda r: CUSTOMER_MODELS[table](r)[1]) if table in CUSTOMER_MODELS else DELETED[table]
    expected = {rid: flag(record) for rid, record in landed[table].items()}
    assert df["is_deleted"].to_dict() == expected
    if table not in ("erp_products", "shop_customers"):  # products have no archive flag; Shopify deletes outright
        assert any(expected.values()), f"no soft-deleted {table} record: the test would prove nothing"


def test_link_keys_are_extracted(staged):
    con, landed, _ = staged
    customers = frame(con, "stg_shop__customers").set_index("source_record_id")
    for rid, record in landed["shop_customers"].items():
        match = re.search(r"erp:\s*(K-?\d+)", record.get("tags") or "", re.IGNORECASE)
        assert value(customers.at[rid, "erp_customer_ref"]) == (match.group(1).upper() if match else None)
    sale_orders = frame(con, "stg_erp__sale_orders").set_index("source_record_id")
    for rid, record in landed["erp_sale_orders"].items():
        ref = erp_value(record.get("client_order_ref"))
        match = re.fullmatch(r"\s*(?:shop\s*)?#?\s*(\d+)\s*", ref or "", re.IGNORECASE)
        got = value(sale_orders.at[rid, "shop_order_number"])
        assert (None if got is None else int(got)) == (int(match.group(1)) if match else None), ref
    emails = frame(con, "stg_shop__customers").set_index("source_record_id")["email_normalized"].to_dict()
    for rid, record in landed["shop_customers"].items():
        expected = (record.get("email") or "").strip().lower() or None
        assert value(emails[rid]) == expected


def test_nps_responses_keep_the_export_and_find_the_respondent_by_email_or_reference(staged):
    """Each imported NPS row: its score and time as exported, the e-mail trimmed and lower case (the
    form every system's e-mails take for matching) and the customer reference as the shop customer id."""
    con, landed, _ = staged
    df = frame(con, "stg_nps__responses").set_index("survey_response_id")
    assert set(df.index) == set(landed["nps_responses"])
    for rid, record in landed["nps_responses"].items():
        row = df.loc[rid]
        assert row["score"] == record["score"] and row["is_score_in_range"]
        assert row["responded_at"] == pd.Timestamp(record["responded_at"])
        assert value(row["email_normalized"]) == ((record["email"] or "").strip().lower() or None)
        reference = record["customer_reference"]
        assert value(row["shop_customer_id"]) == (int(reference) if reference else None)
    assert df["shop_customer_id"].notna().any() and df["shop_customer_id"].isna().any()


def test_credit_notes_and_lines_are_typed_from_the_records(staged):
    """Customer credit notes and their product lines: each staged value read again from its raw record."""
    con, landed, _ = staged
    notes = frame(con, "stg_erp__credit_notes").set_index("source_record_id")
    assert set(landed["erp_credit_notes"]) == set(notes.index)
    for rid, rec in landed["erp_credit_notes"].items():
        row = notes.loc[rid]
        assert (row["credit_note_id"], row["credit_note_name"], row["invoice_origin"]) == \
            (rec["id"], rec["name"], rec["invoice_origin"])
        assert bool(row["is_posted"]) == (rec["state"] == "posted")
        assert row["partner_id"] == rec["partner_id"][0] and str(row["invoice_date"])[:10] == rec["invoice_date"]
        assert float(row["amount_total"]) == rec["amount_total"] and value(row["reversed_invoice_id"]) is None
    lines = frame(con, "stg_erp__credit_note_lines").set_index("source_record_id")
    assert set(landed["erp_credit_note_lines"]) == set(lines.index)
    for rid, rec in landed["erp_credit_note_lines"].items():
        row = lines.loc[rid]
        assert (row["credit_note_id"], row["sale_order_line_id"], row["product_id"]) == \
            (rec["move_id"][0], rec["sale_line_ids"][0], rec["product_id"][0])
        assert float(row["quantity"]) == rec["quantity"] and float(row["price_subtotal_net"]) == rec["price_subtotal"]
        assert row["sku"] == rec["product_id"][1][1:].split("]")[0] and row["display_type"] == "product"
