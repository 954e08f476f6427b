"""Finding a person through the identity graph and exporting everything held about them (Art. 15),
on the session's warehouse built by the whole pipeline from a generated world.

Expected values come from direct queries of the crosswalk, the raw tables and the fact marts, never
from the export itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from c360 import privacy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def con(pipeline_warehouse):
    path, _ = pipeline_warehouse
    connection = duckdb.connect(str(path), read_only=True)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="module")
def person(con) -> dict:
    """A golden customer with records in three or more systems, found by the e-mail of one record,
    with another record that shares neither that e-mail nor a phone number with it."""
    row = con.execute(
        """
        with records as (
            select s.golden_customer_id, r.record_key, r.email_normalized as email,
                   [r.phone_e164, r.mobile_e164, r.landline_e164] as phones
            from marts.golden_customer_sources s join intermediate.int_customer_records r using (record_key)
        ),
        wide as (
            select golden_customer_id from marts.golden_customer_sources
            group by all having count(distinct source_system) >= 3
        )
        select q.golden_customer_id, q.email, q.record_key, o.record_key
        from records q join records o using (golden_customer_id)
        where q.golden_customer_id in (select golden_customer_id from wide)
          and q.email is not null
          and o.email is distinct from q.email
          and len(list_intersect(list_filter(o.phones, lambda p: p is not null), q.phones)) = 0
          -- the e-mail belongs to this golden customer only (else find returns several: tested apart)
          and (select count(distinct golden_customer_id) from records e where e.email = q.email) = 1
        order by q.golden_customer_id, q.record_key, o.record_key
        limit 1
        """
    ).fetchone()
    assert row, "the world has no person spread over three systems with a record reached only by the crosswalk"
    golden_id, email, query_record, other_record = row
    records = con.execute(
        "select source_system, source_record_id, record_key, link_rule from marts.golden_customer_sources "
        "where golden_customer_id = ? order by record_key", [golden_id]).fetchall()
    return {"golden_id": golden_id, "email": email, "query_record": query_record, "other_record": other_record,
            "records": records}


def test_find_by_email_returns_every_record_of_the_person(con, person):
    # written as a person would type it: upper case, blanks around
    found = privacy.find_in(con, privacy.PersonQuery(email=f"  {person['email'].upper()} "))
    assert [g["golden_customer_id"] for g in found["golden_customers"]] == [person["golden_id"]]
    listed = found["golden_customers"][0]["source_records"]
    assert sorted((r["system"], r["source_record_id"], r["record_key"], r["link_rule"]) for r in listed) == sorted(
        person["records"])
    assert len({r["system"] for r in listed}) >= 3
    # the record sharing no e-mail or phone with the request is there: the crosswalk found it
    assert person["other_record"] in {r["record_key"] for r in listed}


def test_find_by_phone_and_name_fold_as_the_pipeline(con):
    """A phone in national format and a name with umlauts find the records whose stored keys are in
    E.164 and transliterated (`+49151...`, `mueller`)."""
    phone_row = con.execute(
        """select s.golden_customer_id, r.mobile_e164 from intermediate.int_customer_records r
           join marts.golden_customer_sources s using (record_key)
           where r.mobile_e164 like '+49151%' order by r.record_key limit 1""").fetchone()
    national = "0" + phone_row[1][3:6] + " / " + phone_row[1][6:9] + "-" + phone_row[1][9:]
    found = privacy.find_in(con, privacy.PersonQuery(phone=national))
    assert phone_row[0] in [g["golden_customer_id"] for g in found["golden_customers"]]

    name_row = con.execute(
        """select r.first_name, r.last_name, list(distinct s.golden_customer_id order by s.golden_customer_id)
           over (partition by r.first_name_folded, r.last_name_folded)
           from intermediate.int_customer_records r join marts.golden_customer_sources s using (record_key)
           where r.last_name_folded like '%ue%' and r.first_name_folded is not null and not r.is_company
           order by r.record_key limit 1""").fetchone()
    first, last, expected = name_row
    umlauted = last.replace("ue", "ü") if "ue" in last else last
    found = privacy.find_in(con, privacy.PersonQuery(name=f"{first} {umlauted}"))
    assert set(expected) <= {g["golden_customer_id"] for g in found["golden_customers"]}


def test_find_with_nothing_valid_finds_nobody(con):
    found = privacy.find_in(con, privacy.PersonQuery(email="not an address"))
    assert found["golden_customers"] == []
    with pytest.raises(ValueError):
        privacy.find_in(con, privacy.PersonQuery())


def _expected_raw_ids(con, golden_id: str) -> dict[str, set[str]]:
    """Raw ids of the person by table, straight from the crosswalk and the fact marts."""
    crosswalk = con.execute("select source_system, source_record_id from marts.golden_customer_sources "
                            "where golden_customer_id = ?", [golden_id]).fetchall()
    customer_tables = {"shop": "raw.shop_customers", "erp": "raw.erp_partners", "helpdesk": "raw.helpdesk_users",
                       "accounting": "raw.accounting_contacts"}
    expected: dict[str, set[str]] = {}
    for system, record_id in crosswalk:
        expected.setdefault(customer_tables[system], set()).add(record_id)
    facts = {
        "raw.shop_orders": "select shop_order_id from marts.fct_orders where golden_customer_id = ?",
        "raw.erp_sale_orders": "select erp_sale_order_id from marts.fct_orders where golden_customer_id = ?",
        "raw.helpdesk_tickets": "select ticket_id from marts.fct_tickets where golden_customer_id = ?",
        "raw.accounting_vouchers": "select invoice_id from marts.fct_invoices where golden_customer_id = ?",
    }
    for table, sql in facts.items():
        expected[table] = {str(r[0]) for r in con.execute(sql, [golden_id]).fetchall() if r[0] is not None}
    return expected


def test_export_holds_every_record_of_the_person_and_no_other(con, person):
    golden_id = person["golden_id"]
    document = privacy.export_from(con, golden_id)
    exported = {table: rows for system in document["systems"].values() for table, rows in system["raw"].items()}
    exported_ids = {table: {row["id"] for row in rows} for table, rows in exported.items()}
    for table, ids in _expected_raw_ids(con, golden_id).items():
        assert ids <= exported_ids.get(table, set()), table
    # the raw record is the whole record as landed
    for table, rows in exported.items():
        for row in rows:
            landed = con.execute(f"select record from {table} where id = ?", [row["id"]]).fetchone()[0]
            assert row["record"] == json.loads(landed)
    # no record of anybody else: customer records map to this golden id in the crosswalk ...
    customer_tables = {"raw.shop_customers": "shop", "raw.erp_partners": "erp", "raw.helpdesk_users": "helpdesk",
                       "raw.accounting_contacts": "accounting"}
    for table, system in customer_tables.items():
        for record_id in exported_ids.get(table, ()):
            owner = con.execute("select golden_customer_id from marts.golden_customer_sources "
                                "where source_system = ? and source_record_id = ?", [system, record_id]).fetchone()
            assert owner == (golden_id,), (table, record_id)
    # ... and fact records to facts of this golden id only
    orders = con.execute("select list(distinct golden_customer_id) from marts.fct_orders "
                         "where shop_order_id::varchar in (select unnest(?::varchar[]))",
                         [sorted(exported_ids.get("raw.shop_orders", []))]).fetchone()[0] or []
    assert set(orders) <= {golden_id}
    tickets = con.execute("select list(distinct golden_customer_id) from marts.fct_tickets "
                          "where ticket_id::varchar in (select unnest(?::varchar[]))",
                          [sorted(exported_ids.get("raw.helpdesk_tickets", []))]).fetchone()[0] or []
    assert set(tickets) <= {golden_id}
    # every table row keyed by a golden id is this person's
    for table, rows in document["tables"].items():
        for row in rows:
            ids = {v for k, v in row.items() if k.endswith("golden_customer_id") and v is not None}
            assert not ids or golden_id in ids, table


def test_export_covers_every_personal_table_with_golden_fields_and_consent(con, person):
    golden_id = person["golden_id"]
    document = privacy.export_from(con, golden_id)
    keyed = {r[0] for r in con.execute(
        """select distinct table_schema || '.' || table_name from information_schema.columns
           where column_name = 'golden_customer_id'
             and table_schema in ('intermediate', 'marts', 'segments')""").fetchall()}
    assert keyed - set(document["coverage"]["not_personal"]) <= set(document["coverage"]["included"])
    assert document["coverage"]["not_covered"] == []
    expected_golden = con.execute("select email_source, name_source, has_email_marketing_consent "
                                  "from marts.golden_customers where golden_customer_id = ?", [golden_id]).fetchone()
    golden = document["golden"][0]
    assert (golden["email_source"], golden["name_source"], golden["has_email_marketing_consent"]) == expected_golden
    assert document["consent"]["golden"][0]["has_email_marketing_consent"] == expected_golden[2]
    kpis = con.execute("select count(*) from marts.customer_kpis where golden_customer_id = ?", [golden_id]).fetchone()
    assert len(document["tables"]["marts.customer_kpis"]) == kpis[0]
    crosswalk = sorted((r["source_system"], r["source_record_id"]) for r in document["crosswalk"])
    assert crosswalk == sorted((system, record_id) for system, record_id, _, _ in person["records"])
    # machine-readable and stable: the same text twice (apart from the time of export), dates as text
    first, second = privacy.to_json(document), privacy.to_json(privacy.export_from(con, golden_id))
    drop = lambda text: {k: v for k, v in json.loads(text).items() if k != "exported_at"}  # noqa: E731
    assert drop(first) == drop(second) and list(json.loads(first)) == sorted(json.loads(first))


def test_cli_find_and_export_end_to_end(pipeline_warehouse, person, tmp_path):
    path, _ = pipeline_warehouse
    c360 = [sys.executable, "-m", "c360_cli.main", "privacy"]
    found = subprocess.run([*c360, "find", "--email", person["email"], "--warehouse", str(path)],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    golden = json.loads(found.stdout)["golden_customers"]
    assert [g["golden_customer_id"] for g in golden] == [person["golden_id"]]
    out = tmp_path / "export.json"
    subprocess.run([*c360, "export", "--golden-id", person["golden_id"], "--out", str(out), "--warehouse", str(path)],
                   cwd=ROOT, capture_output=True, text=True, check=True)
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["golden_customer_id"] == person["golden_id"]
    assert {r["record_key"] for r in document["crosswalk"]} == {r[2] for r in person["records"]}
    unknown = subprocess.run([*c360, "export", "--golden-id", "GC-nobody", "--warehouse", str(path)],
                             cwd=ROOT, capture_output=True, text=True)
    assert unknown.returncode == 1 and "GC-nobody" in unknown.stderr
