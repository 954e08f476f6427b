"""Erasure (Art. 17) on a copy of the session's warehouse built by the whole pipeline, with its BI
snapshot and validation results: afterwards none of the person's values is anywhere (every table and
view of the warehouse, every Parquet file and table of the BI copy, every validation file), the
accounting totals are unchanged, and landing the same source records again brings nobody back.

The person's values come from their raw customer records, read directly; each is checked to be found
before the erasure (the scan can find it) and to belong to nobody else (else finding it afterwards
would be right).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from c360 import erasure, privacy
from c360.raw_store import FILE_IMPORT_TABLES, land_resource, zone_keys
from c360.raw_zone import FILE_IMPORT_COLUMNS, ZONE_COLUMNS, ZONE_SELECT, RawZone
from c360.nps_import import import_nps_files
from connectors import ALL_RESOURCES
from tests.conftest import clients, copy_of_pipeline_folder, serving

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER_TABLES = ("raw.shop_customers", "raw.erp_partners", "raw.helpdesk_users", "raw.accounting_contacts")


@pytest.fixture(scope="module")
def copy_dir(pipeline_warehouse, tmp_path_factory) -> Path:
    """The pipeline's folder (warehouse, BI snapshot, validation results, NPS imports), copied, its BI
    snapshot published again with clear personal data (`C360_BI_PII=full`, which a retailer may choose):
    the pseudonymised default would hide the person from the scan before the erasure already."""
    from c360.bi_pii import BiPii
    from c360.bi_publish import publish_snapshot

    target = copy_of_pipeline_folder(pipeline_warehouse, tmp_path_factory, "erasure")
    with duckdb.connect(str(target / "c360.duckdb")) as con:
        publish_snapshot(con, target / "bi.duckdb", target / "bi", keep_snapshots=3, pii=BiPii("full"))
        write_raw_zone(con, RawZone(str(target / "raw_zone")))
    return target


def write_raw_zone(con, zone: RawZone) -> None:
    """The raw zone the Spark engine reads (`C360_RAW_ZONE`), as the landing and the NPS import write it:
    every raw record table's rows as files of the zone."""
    for table, key in zone_keys().items():
        columns, select = ZONE_COLUMNS, ZONE_SELECT
        if table in FILE_IMPORT_TABLES:  # no deletions, the file a row came from
            select = ZONE_SELECT.replace("_deleted_at", "null::timestamptz") + ", _source_file"
            columns = FILE_IMPORT_COLUMNS
        zone.write_batch(con, f"select {select} from raw.{table}", [], key, "landed", columns=columns)


@pytest.fixture(scope="module")
def warehouse(copy_dir) -> Path:
    return copy_dir / "c360.duckdb"


def pick_person(con) -> str:
    """A golden customer with records in all four systems, one of them sharing no e-mail with the
    others (linked through the crosswalk alone), with accounting vouchers."""
    row = con.execute(
        """
        with records as (
            select s.golden_customer_id, s.source_system, r.email_normalized as email
            from marts.golden_customer_sources s join intermediate.int_customer_records r using (record_key)
        ),
        wide as (
            select golden_customer_id from records group by all having count(distinct source_system) = 4
        ),
        apart as (  -- a record whose e-mail no other record of the person has
            select distinct a.golden_customer_id from records a
            where a.golden_customer_id in (select golden_customer_id from wide)
              and not exists (select 1 from records b where b.golden_customer_id = a.golden_customer_id
                              and b.source_system <> a.source_system and b.email = a.email)
        )
        select golden_customer_id from apart
        where golden_customer_id in (select golden_customer_id from marts.fct_invoices)
          and golden_customer_id in (select golden_customer_id from marts.fct_tickets)
        order by golden_customer_id limit 1
        """
    ).fetchone()
    assert row, "the world has no person in all four systems with a record linked through the crosswalk alone"
    return row[0]


def _strings(record: dict, *paths: str) -> list[str]:
    """Values at dotted paths of a JSON record; a list on the way is read element by element."""
    found = []
    for path in paths:
        values = [record]
        for part in path.split("."):
            values = [v.get(part) for v in values if isinstance(v, dict)]
            values = [x for v in values for x in (v if isinstance(v, list) else [v])]
        found += [v for v in values if isinstance(v, str)]
    return found


def values_of(record: dict, table: str) -> set[str]:
    """The identifying values of one raw customer record: e-mails, phones, full names, streets, birthdays."""
    if table == "raw.shop_customers":
        names = [f"{record.get('first_name')} {record.get('last_name')}"]
        return {*names, *_strings(record, "email", "phone", "default_address.address1", "birthday")}
    if table == "raw.erp_partners":
        return set(_strings(record, "name", "email", "phone", "mobile", "street", "x_birthdate"))
    if table == "raw.helpdesk_users":
        return set(_strings(record, "name", "email", "phone"))
    person = record.get("person") or {}
    return {f"{person.get('firstName')} {person.get('lastName')}",
            *_strings(record, "addresses.billing.street", "addresses.shipping.street"),
            *[v for group in (record.get("emailAddresses") or {}).values() for v in group],
            *[v for group in (record.get("phoneNumbers") or {}).values() for v in group]}


def person_values(con, golden_id: str) -> set[str]:
    """The person's values found in their raw customer records that no other person's record holds."""
    records = con.execute(
        """select s.source_system, r.record from marts.golden_customer_sources s
           join (select 'shop' as system, id, record from raw.shop_customers union all
                 select 'erp', id, record from raw.erp_partners union all
                 select 'helpdesk', id, record from raw.helpdesk_users union all
                 select 'accounting', id, record from raw.accounting_contacts) r
             on r.system = s.source_system and r.id = s.source_record_id
           where s.golden_customer_id = ?""", [golden_id]).fetchall()
    tables = {"shop": CUSTOMER_TABLES[0], "erp": CUSTOMER_TABLES[1], "helpdesk": CUSTOMER_TABLES[2],
              "accounting": CUSTOMER_TABLES[3]}
    values = set()
    for system, record in records:
        values |= {v.strip() for v in values_of(json.loads(record), tables[system])
                   if v and "None" not in v and len(v.strip()) >= 6}
    # the phones as the pipeline stores them (E.164)
    values |= {v for row in con.execute(
        """select phone_e164, mobile_e164, landline_e164 from intermediate.int_customer_records
           where record_key in (select record_key from marts.golden_customer_sources where golden_customer_id = ?)""",
        [golden_id]).fetchall() for v in row if v}
    others = " union all ".join(
        f"""select record::varchar as text from {t} where id not in (select source_record_id
            from marts.golden_customer_sources where golden_customer_id = ?)""" for t in CUSTOMER_TABLES)
    shared = {v for v in values if con.execute(
        f"select count(*) from ({others}) where contains(lower(text), lower(?))",
        [golden_id] * len(CUSTOMER_TABLES) + [v]).fetchone()[0]}
    return values - shared


def _needles(values: set[str]) -> list[str]:
    """Each value lower-cased, also as written inside JSON text (escaped)."""
    return sorted({n.lower() for v in values for n in (v, json.dumps(v)[1:-1])})


def scan_database(con, values: set[str], catalog: str | None = None) -> dict[str, list[str]]:
    """Per table or view (all columns cast to text), the values found in it."""
    needles = _needles(values)
    where = f"database_name = '{catalog}'" if catalog else "database_name = current_database()"
    relations = con.execute(
        f"""select schema_name, table_name from duckdb_tables() where {where} and not temporary
            union all select schema_name, view_name from duckdb_views() where {where} and not internal
              and not temporary""").fetchall()
    found = {}
    prefix = f"{catalog}." if catalog else ""
    for schema, name in relations:
        relation = f'{prefix}"{schema}"."{name}"'
        hits = con.execute(
            f"select distinct n from {relation} t, unnest(?::varchar[]) u(n) where contains(lower(t::varchar), n)",
            [needles]).fetchall()
        if hits:
            found[f"{schema}.{name}"] = sorted(h[0] for h in hits)
    return found


def scan_files(copy_dir: Path, values: set[str]) -> dict[str, list[str]]:
    """The BI Parquet files and the raw zone's (read as tables), the BI DuckDB file (every table) and every
    validation file."""
    needles = _needles(values)
    found: dict[str, list[str]] = {}
    with duckdb.connect() as con:
        for parquet in sorted([*(copy_dir / "bi").rglob("*.parquet"), *(copy_dir / "raw_zone").rglob("*.parquet")]):
            hits = con.execute(
                f"select distinct n from read_parquet('{parquet}') t, unnest(?::varchar[]) u(n) "
                "where contains(lower(t::varchar), n)", [needles]).fetchall()
            if hits:
                found[str(parquet)] = sorted(h[0] for h in hits)
        con.execute(f"attach '{copy_dir / 'bi.duckdb'}' as bi (read_only)")
        found.update({f"bi.duckdb:{k}": v for k, v in scan_database(con, values, catalog="bi").items()})
    for path in sorted(p for p in (copy_dir / "quality").rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace").lower()
        hits = sorted(n for n in needles if n in text)
        if hits:
            found[str(path)] = hits
    return found


def accounting_totals(con) -> tuple:
    return con.execute(
        """select (select (count(*), sum((record->>'$.totalAmount')::decimal(18, 2)),
                           sum((record->>'$.openAmount')::decimal(18, 2))) from raw.accounting_vouchers),
                  (select (count(*), sum(amount_gross), sum(open_amount)) from marts.fct_invoices),
                  (select (count(*), sum(amount)) from marts.fct_payments),
                  (select (count(*), sum(amount_gross)) from marts.fct_refunds where refund_source = 'credit_note')"""
    ).fetchone()


def plant_validation_result(copy_dir: Path, values: set[str]) -> Path:
    """A validation run whose example rows name the person (as GX writes them: JSON, non-ASCII escaped),
    beside the real runs, which name them only when one of their records failed a check."""
    run = copy_dir / "quality" / "run-with-examples"
    run.mkdir(parents=True)
    example = {"unexpected_list": sorted(values)[:2], "partial_unexpected_list": ["somebody@example.org"]}
    (run / "golden_customers.json").write_text(json.dumps({"results": [{"result": example}]}))
    (run / "golden_customers.html").write_text("<td>" + sorted(values)[0] + "</td>")
    return run


@pytest.fixture(scope="module")
def before(warehouse, copy_dir) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        golden_id = pick_person(con)
        values = person_values(con, golden_id)
        plant_validation_result(copy_dir, values)
        ids = privacy.person_ids(con, golden_id)
        return {"golden_id": golden_id, "values": values, "ids": ids, "totals": accounting_totals(con),
                "found": scan_database(con, values), "files": scan_files(copy_dir, values),
                "invoices": con.execute("select count(*) from marts.fct_invoices where golden_customer_id = ?",
                                        [golden_id]).fetchone()[0]}


@pytest.fixture(scope="module")
def erased(before, warehouse) -> dict:
    """The erasure, by the command line as an operator runs it (the BI copy and the validation results
    beside the warehouse given, as no setting names others)."""
    done = subprocess.run(
        [sys.executable, "-m", "c360_cli.main", "privacy", "erase", "--golden-id", before["golden_id"],
         "--reason", "ticket DSR-2026-0042", "--warehouse", str(warehouse)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "C360_BI_WAREHOUSE": "", "C360_BI_PARQUET_DIR": "", "C360_QUALITY_DIR": "",
             "C360_BI_PII": "full", "C360_RAW_ZONE": str(warehouse.parent / "raw_zone")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_person_is_spread_and_the_scan_finds_their_values_before(before):
    ids = before["ids"]
    assert all(ids.get(table) for table in CUSTOMER_TABLES), ids
    assert ids.get("raw.accounting_vouchers") and ids.get("raw.helpdesk_tickets")
    values = before["values"]
    assert any("@" in v for v in values) and any(" " in v and not any(c.isdigit() for c in v) for v in values)
    assert len(values) >= 5, values
    found = {v for hits in before["found"].values() for v in hits}
    assert found == set(_needles(values)) & found and all(
        any(n in found for n in _needles({v})) for v in values), "a value the scan cannot find proves nothing"
    assert any(k.startswith("bi.duckdb:") for k in before["files"]) and any(".parquet" in k for k in before["files"])
    assert any("run-with-examples" in k for k in before["files"])
    zone_files = {k.split("/raw_zone/")[1].rsplit("/", 1)[0] for k in before["files"] if "/raw_zone/" in k}
    assert {"shop/customers", "erp/res.partner", "helpdesk/users", "accounting/contacts"} <= zone_files


def test_erasure_leaves_none_of_the_persons_values_anywhere(before, erased, warehouse, copy_dir):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert scan_database(con, before["values"]) == {}
        golden = con.execute("select count(*) from marts.golden_customer_sources where golden_customer_id = ?",
                             [before["golden_id"]]).fetchone()[0]
        assert golden == 0
    assert scan_files(copy_dir, before["values"]) == {}
    assert erased["files_deleted"] == [str(copy_dir / "quality" / "run-with-examples")]
    assert any((copy_dir / "quality").iterdir()), "the runs that do not name the person stay"
    assert erased["bi_snapshot"] and len([p for p in (copy_dir / "bi").iterdir() if p.name[:1].isdigit()]) == 1


def test_accounting_is_kept_pseudonymised_with_the_same_totals(before, erased, warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert accounting_totals(con) == before["totals"]
        [person] = erased["people"]
        pseudonym = person["pseudonym"]
        assert pseudonym.startswith("ERASED-") and before["golden_id"] not in pseudonym
        kept = con.execute("select count(*) from marts.fct_invoices where golden_customer_id = ?",
                           [pseudonym]).fetchone()[0]
        assert kept == before["invoices"] > 0
        restricted = {r[0] for r in con.execute(
            "select source_record_id from raw._restricted_records where raw_table = 'raw.accounting_vouchers'"
        ).fetchall()}
        assert restricted == set(before["ids"]["raw.accounting_vouchers"])
        names = con.execute("""select count(*) from raw.accounting_vouchers where id in (select unnest(?::varchar[]))
                               and record->>'$.contactName' is not null""", [sorted(restricted)]).fetchone()[0]
        assert names == 0
        # the raw zone's copy of the vouchers: the same records, stripped the same way
        zone_files = str(warehouse.parent / "raw_zone" / "accounting" / "vouchers" / "*.parquet")
        assert con.execute("select id, record from read_parquet(?) order by id", [zone_files]).fetchall() \
            == con.execute("select id, record::varchar from raw.accounting_vouchers order by id").fetchall()
    assert erased["raw_zone"]["accounting/vouchers"] == len(restricted)
    assert all(erased["raw_zone"].get(key) for key in ("shop/customers", "erp/res.partner", "helpdesk/users"))


def test_audit_holds_hashes_and_counts_but_no_personal_data(before, erased, warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select golden_id_hash, record_key_hashes, reason, rows_touched::varchar "
                           "from raw._erasures").fetchall()
        salt = erasure.privacy_salt(con, create=False)
    assert len(rows) == 1
    golden_hash, key_hashes, reason, touched = rows[0]
    assert golden_hash == erasure.salted_hash(salt, before["golden_id"]) != before["golden_id"]
    assert len(key_hashes) == sum(len(before["ids"][t]) for t in CUSTOMER_TABLES)
    assert reason == "ticket DSR-2026-0042" and before["golden_id"] not in touched
    assert json.loads(touched)["deleted"]["raw.shop_customers"] == len(before["ids"]["raw.shop_customers"])


def test_landing_the_same_records_again_brings_nobody_back(before, erased, pipeline_warehouse, warehouse, copy_dir):
    """The sources still hold the person (the retailer has not erased them there yet): every resource
    landed again over HTTP, and the NPS export imported again."""
    _, world = pipeline_warehouse
    suppressed = 0
    with serving(world) as server, clients(server) as by_system, duckdb.connect(str(warehouse)) as con:
        for spec in ALL_RESOURCES:
            stats = land_resource(con, by_system[spec.system], spec.name)
            suppressed += stats.suppressed
        nps = import_nps_files(con, copy_dir / "imports" / "nps")
        assert scan_database(con, before["values"]) == {}
        ids = before["ids"]
        assert suppressed == sum(len(v) for k, v in ids.items() if k != "raw.nps_responses")
        assert nps.suppressed == len(ids.get("raw.nps_responses", []))


def test_the_erasure_check_fails_when_a_record_comes_back_by_another_path(before, erased, warehouse, tmp_path):
    """A raw record of the erased person written without the landing (as a restored backup would) is
    found by the check; before that, the check passes."""
    from dagster_duckdb import DuckDBResource

    from orchestration.checks.privacy import privacy_erased_absent
    from tests.conftest import land_raw_record

    copy = tmp_path / "c360.duckdb"
    shutil.copyfile(warehouse, copy)
    shutil.copyfile(str(warehouse) + erasure.SALT_FILE_SUFFIX, str(copy) + erasure.SALT_FILE_SUFFIX)
    assert privacy_erased_absent(warehouse=DuckDBResource(database=str(copy))).passed
    record_id = before["ids"]["raw.helpdesk_tickets"][0]
    with duckdb.connect(str(copy)) as con:
        land_raw_record(con, "helpdesk_tickets", {"id": int(record_id), "subject": "restored"},
                        loaded_at=datetime.now(UTC))
    result = privacy_erased_absent(warehouse=DuckDBResource(database=str(copy)))
    assert not result.passed and result.metadata["records_back"].data == {"raw.helpdesk_tickets": 1}


def test_cli_refuses_an_unknown_person_and_a_missing_reason(warehouse, erased):
    c360 = [sys.executable, "-m", "c360_cli.main", "privacy", "erase", "--warehouse", str(warehouse)]
    unknown = subprocess.run([*c360, "--golden-id", "GC-nobody", "--reason", "DSR-1"], cwd=ROOT,
                             capture_output=True, text=True)
    assert unknown.returncode == 1 and "GC-nobody" in unknown.stderr
    blank = subprocess.run([*c360, "--golden-id", "GC-nobody", "--reason", " "], cwd=ROOT,
                           capture_output=True, text=True)
    assert blank.returncode == 2 and "reason" in blank.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw._erasures").fetchone()[0] == 1, "a refused erasure wrote an audit row"


def test_cli_on_the_spark_engine_refuses_what_it_cannot_do_whole(warehouse, erased):
    """With C360_ENGINE=spark an immediate erasure would read the driver's warehouse alone, without the
    orders, tickets and KPIs Spark holds: it refuses and says what to do; nothing is written. (The export
    reads Spark's tables: `tests/spark/test_spark_pipeline.py`.)"""
    spark_env = {**os.environ, "C360_ENGINE": "spark"}
    c360 = [sys.executable, "-m", "c360_cli.main", "privacy"]
    with duckdb.connect(str(warehouse), read_only=True) as con:  # somebody still there
        golden_id = con.execute("select min(golden_customer_id) from marts.golden_customer_sources").fetchone()[0]
    erase = subprocess.run([*c360, "erase", "--warehouse", str(warehouse), "--golden-id", golden_id,
                            "--reason", "DSR-2"], cwd=ROOT, capture_output=True, text=True, env=spark_env)
    assert erase.returncode == 2 and "--queue" in erase.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw._erasures").fetchone()[0] == 1, "a refused erasure wrote an audit row"
