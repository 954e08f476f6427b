"""Erasure (GDPR Art. 17) of golden customers, from the same id set as the export (Art. 15).

`erase_many_in` (`erase_in` for one person) works from the queries of `c360.privacy.PERSON_IDS` (the
person's source record ids per raw table, the ones `person_ids` runs), run for every person erased at
once, and from their crosswalk rows (`_person_records`, their record keys), in ONE DuckDB transaction:

- raw record tables: the person's rows are deleted by id, and their quarantined records by
  (resource, source id);
- staging: views read raw and need nothing; staging *tables* (incremental models, set-aside records
  and checks) lose the rows derived from those ids;
- every table of `intermediate`, `marts` and `segments` with a `golden_customer_id` column or keyed
  by one of the person's `record_key`s (identity work tables, match pairs, crosswalk, id history,
  steward's labels) loses those rows, including pairs between the person and somebody else;
- retention (§147 AO, §257 HGB: ten years for accounting vouchers): accounting vouchers and payments,
  and the facts built from them (`fct_invoices`, `fct_payments`, the credit-note rows of
  `fct_refunds`), are kept: their personal fields are removed (the contact name and remark of the
  raw JSON; name, e-mail, phone, address and remark columns of staging and facts), their golden id is
  replaced by a pseudonym (`ERASED-` and part of the salted hash of the golden id), and they are
  listed in `raw._restricted_records`. Amounts, dates and voucher numbers stay: the books balance
  as before;
- `raw._suppressed_records` gets the salted hash of every erased or restricted source record id, so
  the landing (`c360.raw_store`) does not bring the person back (see `suppressed_count`);
- `raw._erasures` (the audit trail) gets one row per person with no personal data: the salted hashes
  of the golden id and of the record keys, the pseudonym, the date, the reason given and the rows
  touched per table (by the whole erasure, when several people were erased at once).

Files are handled after the commit (`erase_person`): the raw zone's Parquet files that hold the
people's records are rewritten without them (`scrub_raw_zone`; the Spark engine's tables are built
whole from the zone on its next dbt run); a new BI snapshot is published whole from the
cleaned warehouse and every older snapshot folder is deleted; validation results under
`$C360_QUALITY_DIR` that hold any of the person's values are deleted run folder by run folder (they
are reports of past runs, rewritten by the next run; editing example rows inside GX results would
leave their statistics inconsistent).

The salt (`C360_PRIVACY_SALT`) makes the hashes useless for confirming a guessed e-mail or id against
the audit and suppression tables. When it is not set, one is generated on first use and kept in the
file `<warehouse file>.privacy-salt` (mode 0600) beside the warehouse: it must be backed up with the
warehouse, as the suppression list matches nothing under another salt.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from c360 import privacy, settings, tables

RAW = "raw"
ERASURES = "raw._erasures"
SUPPRESSED = "raw._suppressed_records"
RESTRICTED = "raw._restricted_records"
# erasure requests queued for the next run (`queue_request`), e.g. while a run holds the warehouse
REQUESTS = "raw._erasure_requests"
SALT_FILE_SUFFIX = ".privacy-salt"
PSEUDONYM_PREFIX = "ERASED-"

# Kept for the retention period, personal fields removed: {raw table: JSON fields dropped}.
RETAINED_RAW: dict[str, tuple[str, ...]] = {
    "raw.accounting_vouchers": ("contactName", "remark", "address"),
    "raw.accounting_payments": ("contactName", "remark", "address"),
}
# Facts built from the retained vouchers and payments: {table: which of the person's rows are retained}.
RETAINED_FACTS: dict[str, str] = {
    "marts.fct_invoices": "true",
    "marts.fct_payments": "true",
    "marts.fct_refunds": "refund_source = 'credit_note'",
}
# Columns of retained staging and fact rows that carry personal values (ids and amounts do not).
PERSONAL_COLUMN = re.compile(r"name|e_?mail|phone|mobile|street|address|city|zip|birth|remark|note|comment")
# Identity state that lists values of all records (term frequencies): the person's values are removed.
TERM_FREQUENCIES = tables.IDENTITY_MODEL_TERM_FREQUENCIES


# --------------------------------------------------------------------------- salt and hashes


def _database_file(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    return (row[0] or "") if row else ""


def privacy_salt(con: duckdb.DuckDBPyConnection, *, create: bool = True) -> str:
    """`C360_PRIVACY_SALT`, else the salt kept beside the warehouse file (generated when `create`)."""
    configured = settings.privacy_salt()
    if configured:
        return configured
    database = _database_file(con)
    if not database:
        raise RuntimeError("an in-memory warehouse has no place for the privacy salt: set C360_PRIVACY_SALT")
    path = Path(database + SALT_FILE_SUFFIX)
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise FileNotFoundError(f"no privacy salt at {path} and C360_PRIVACY_SALT is not set")
    salt = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(salt + "\n")
    return salt


def salted_hash(salt: str, value: str) -> str:
    """sha256 of salt, a unit separator and the value, as hex: what `HASH_SQL` computes in DuckDB."""
    return hashlib.sha256(f"{salt}\x1f{value}".encode()).hexdigest()


def hash_sql(expr: str) -> str:
    """The salted hash of `expr` in DuckDB (salt as the first `?` parameter), equal to `salted_hash`."""
    return f"sha256(? || chr(31) || ({expr})::varchar)"


def ensure_privacy_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW}")
    con.execute(f"""create table if not exists {ERASURES} (
        erasure_id varchar not null, erased_at timestamptz not null, erased_on date not null,
        golden_id_hash varchar not null, record_key_hashes varchar[] not null, pseudonym varchar not null,
        reason varchar not null, rows_touched json not null)""")
    con.execute(f"""create table if not exists {SUPPRESSED} (
        source_system varchar not null, raw_table varchar not null, id_hash varchar not null,
        kind varchar not null, erasure_id varchar not null, suppressed_at timestamptz not null)""")
    con.execute(f"""create table if not exists {RESTRICTED} (
        raw_table varchar not null, source_record_id varchar not null, erasure_id varchar not null,
        restricted_at timestamptz not null)""")


def any_suppressed(con: duckdb.DuckDBPyConnection, raw_table: str) -> bool:
    """Are ids of `raw_table` on the suppression list? (No salt is read.)"""
    exists = con.execute("select count(*) from duckdb_tables() where database_name = current_database() "
                         "and schema_name = 'raw' and table_name = '_suppressed_records'").fetchone()[0]
    return bool(exists) and bool(con.execute(f"select count(*) from {SUPPRESSED} where raw_table = ?",
                                             [raw_table]).fetchone()[0])


def suppressed_count(con: duckdb.DuckDBPyConnection, raw_table: str, relation: str, id_column: str = "id") -> int:
    """Delete from `relation` (a temp table with the source id in `id_column`) the rows whose id is
    suppressed for `raw_table`; returns how many. Cheap when nothing is suppressed: no salt is read then."""
    if not any_suppressed(con, raw_table):
        return 0
    condition = (f"{id_column} is not null and "
                 f"{hash_sql(id_column)} in (select id_hash from {SUPPRESSED} where raw_table = ?)")
    values = [privacy_salt(con, create=False), raw_table]
    count = con.execute(f"select count(*) from {relation} where {condition}", values).fetchone()[0]
    if count:
        con.execute(f"delete from {relation} where {condition}", values)
    return count


def erased_records_present(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per raw table, how many records of erased people are in it again (their hashed ids on the
    suppression list as `erased`): landed by a path that bypassed the suppression list, or restored
    from a backup. Empty when there are none, or when nobody was ever erased."""
    exists = con.execute("select count(*) from duckdb_tables() where database_name = current_database() "
                         "and schema_name = 'raw' and table_name = '_suppressed_records'").fetchone()[0]
    if not exists:
        return {}
    erased = [r[0] for r in con.execute(f"select distinct raw_table from {SUPPRESSED} where kind = 'erased' "
                                        "order by 1").fetchall()]
    if not erased:
        return {}
    salt = privacy_salt(con, create=False)
    present = {}
    for table in erased:
        try:
            count = con.execute(f"""select count(*) from {table} where {hash_sql('id')} in
                                    (select id_hash from {SUPPRESSED} where raw_table = ? and kind = 'erased')""",
                                [salt, table]).fetchone()[0]
        except duckdb.CatalogException:  # a raw table dropped since
            continue
        if count:
            present[table] = count
    return present


# --------------------------------------------------------------------------- the erasure

# The people being erased (temp tables of the erasure's connection): golden ids, and the source
# record ids per raw table (`privacy.PERSON_IDS` run for all of them at once).
ERASED_GOLDEN = "_erased_golden"
ERASED_IDS = "_erased_ids"
IN_ERASED_GOLDEN = f"in (select golden_customer_id from {ERASED_GOLDEN})"


@dataclass
class ErasureResult:
    erasure_id: str
    people: list[dict]  # per golden customer: the salted hash of the golden id and the pseudonym
    deleted: dict[str, int] = field(default_factory=dict)  # rows deleted per table
    pseudonymised: dict[str, int] = field(default_factory=dict)  # rows kept with personal fields removed
    suppressed: int = 0
    files_deleted: list[str] = field(default_factory=list)
    bi_snapshot: str | None = None
    raw_zone: dict[str, int] = field(default_factory=dict)  # records removed or stripped per zone key

    def as_dict(self) -> dict:
        return {"erasure_id": self.erasure_id, "people": self.people, "deleted": self.deleted,
                "pseudonymised": self.pseudonymised, "suppressed": self.suppressed,
                "files_deleted": self.files_deleted, "bi_snapshot": self.bi_snapshot, "raw_zone": self.raw_zone}


def _base_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("""select schema_name || '.' || table_name from duckdb_tables()
                          where database_name = current_database() and not temporary""").fetchall()
    return {r[0] for r in rows}


def _delete(con, result: ErasureResult, table: str, where: str, values: list) -> None:
    count = con.execute(f"delete from {table} where {where}", values).fetchone()[0]
    if count:
        result.deleted[table] = result.deleted.get(table, 0) + count


def _personal_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if PERSONAL_COLUMN.search(c) and not c.endswith("_id") and c != "record"]


def _pseudonym_sql(expr: str) -> str:
    """The pseudonym of the golden id `expr` in DuckDB (salt as the first `?`), equal to `pseudonym`."""
    return f"'{PSEUDONYM_PREFIX}' || substr({hash_sql(expr)}, 1, 16)"


def pseudonym(salt: str, golden_id: str) -> str:
    return PSEUDONYM_PREFIX + salted_hash(salt, golden_id)[:16]


def _pseudonymise_rows(con, result: ErasureResult, table: str, columns: list[str], where: str, salt: str) -> None:
    """Null the personal columns of the rows and put the pseudonym in place of the golden id."""
    sets = [f"{c} = null" for c in _personal_columns(columns)]
    golden = [c for c in columns if c.endswith("golden_customer_id")]
    sets += [f"{c} = {_pseudonym_sql(c)}" for c in golden]
    if not sets:
        return
    count = con.execute(f"update {table} set {', '.join(sets)} where {where}", [salt] * len(golden)).fetchone()[0]
    if count:
        result.pseudonymised[table] = result.pseudonymised.get(table, 0) + count


_TABLE_NAME = re.compile(r"\b((?:raw|staging|intermediate|marts|segments)\.\w+)")


def _of_raw_table(expr: str, raw_table: str) -> str:
    return f"{expr} in (select id from {ERASED_IDS} where raw_table = '{raw_table}')"


def _collect_ids(con, golden_ids: list[str], found_elsewhere: dict[str, list[str]]) -> dict[str, int]:
    """`_erased_golden`, `_person_records` (their crosswalk rows) and `_erased_ids` (raw table, id) of
    the people, with the ids `found_elsewhere` (per raw table: where the facts are not in this
    warehouse, Spark's); returns the ids per raw table."""
    con.execute(f"create or replace temp table {ERASED_GOLDEN} as "
                "select distinct unnest(?::varchar[]) as golden_customer_id", [golden_ids])
    con.execute(f"""create or replace temp table _person_records as
                    select * from {tables.GOLDEN_CUSTOMER_SOURCES} where golden_customer_id {IN_ERASED_GOLDEN}""")
    con.execute(f"create or replace temp table {ERASED_IDS} (raw_table varchar, id varchar)")
    present = {f"{s}.{n}" for s, n in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    for raw_table, sql in privacy.PERSON_IDS.items():
        for_all = sql.replace("golden_customer_id = ?", f"golden_customer_id {IN_ERASED_GOLDEN}")
        if "?" in for_all:
            raise ValueError(f"the person ids of {raw_table} are not selected by golden_customer_id = ?: {sql}")
        # a raw table or fact mart this warehouse lacks (e.g. no objection recorded yet): nothing to
        # collect; asked beforehand, as a failed statement would abort the whole transaction
        if not set(_TABLE_NAME.findall(for_all)) <= present:
            continue
        con.execute(f"insert into {ERASED_IDS} select distinct ?, * from ({for_all})", [raw_table])
    for raw_table, ids in found_elsewhere.items():
        con.execute(f"insert into {ERASED_IDS} select distinct ?, unnest(?::varchar[])", [raw_table, ids])
    con.execute(f"delete from {ERASED_IDS} where id is null")
    return dict(con.execute(f"select raw_table, count(*) from {ERASED_IDS} group by all").fetchall())


def _personal_fields_patch(raw_table: str) -> str:
    """The JSON merge patch that removes the personal fields of a retained raw table's records."""
    return "{" + ", ".join(f'"{f}": null' for f in RETAINED_RAW[raw_table]) + "}"


def _raw_tables(con, result, columns, base, now) -> None:
    """Delete the people's raw records; strip the retained ones and list them as restricted."""
    for raw_table in sorted(t for t in privacy.PERSON_IDS if t in base):
        where = _of_raw_table("id", raw_table)
        if raw_table in RETAINED_RAW:
            drop = _personal_fields_patch(raw_table)
            count = con.execute(f"update {raw_table} set record = json_merge_patch(record, '{drop}') "
                                f"where {where}").fetchone()[0]
            if count:
                result.pseudonymised[raw_table] = count
            con.execute(f"insert into {RESTRICTED} select ?, id, ?, ? from {raw_table} where {where}",
                        [raw_table, result.erasure_id, now])
        else:
            _delete(con, result, raw_table, where, [])
    if privacy.QUARANTINE in columns:
        from connectors import ALL_RESOURCES

        resources = [[spec.key, f"{RAW}.{spec.table}"] for spec in ALL_RESOURCES]
        _delete(con, result, privacy.QUARANTINE, f"""[resource, source_id] in (
                    select [r[1], e.id] from (select unnest(?::varchar[][]) as r) join {ERASED_IDS} e
                    on e.raw_table = r[2])""", [resources])


def _staging_tables(con, result, columns, base, salt) -> None:
    """Staging tables (incremental models, set-aside records and checks): rows of the people's records."""
    for table in sorted(t for t in base if t.startswith("staging.") and t in columns and t not in privacy.NOT_PERSONAL):
        if {"source_table", "source_record_id"} <= set(columns[table]):
            _delete(con, result, table, f"""[source_table, source_record_id::varchar] in (
                        select [split_part(raw_table, '.', 2), id] from {ERASED_IDS})""", [])
            continue
        link = privacy._staging_raw_table(table, columns)
        if link is None:
            continue
        raw_table, id_expr = link
        if raw_table in RETAINED_RAW:
            _pseudonymise_rows(con, result, table, columns[table], _of_raw_table(id_expr, raw_table), salt)
        else:
            _delete(con, result, table, _of_raw_table(id_expr, raw_table), [])


def _keyed_tables(con, result, columns, base, salt) -> None:
    """intermediate, marts, segments: rows with a golden id or a record key of the people."""
    for table in sorted(t for t in base if t.split(".")[0] in ("intermediate", "marts", "segments")):
        if table not in columns or (table in privacy.NOT_PERSONAL and table != TERM_FREQUENCIES):
            continue
        golden_columns = [c for c in columns[table] if c.endswith("golden_customer_id")]
        key_columns = [c for c in columns[table] if c in privacy.RECORD_KEY_COLUMNS]
        conditions = [f"{c} {IN_ERASED_GOLDEN}" for c in golden_columns]
        conditions += [f"{c} in (select record_key from _person_records)" for c in key_columns]
        if not conditions:
            continue
        where = "(" + " or ".join(conditions) + ")"
        if table in RETAINED_FACTS:  # kept, with a pseudonym for the golden id (no longer matching `where`)
            _pseudonymise_rows(con, result, table, columns[table], f"{where} and {RETAINED_FACTS[table]}", salt)
        _delete(con, result, table, where, [])


def _term_frequencies(con, result: ErasureResult, columns: dict[str, list[str]], base: set[str]) -> None:
    """The identity model's term frequencies list values of all records (e-mails, address keys, names):
    drop the values that only the people's records hold. A value others share identifies nobody and
    keeps its frequency (the model's weights for everybody else stay as trained)."""
    if TERM_FREQUENCIES not in base or tables.CUSTOMER_RECORDS not in columns:
        return
    tf_columns = [r[0] for r in con.execute(f"select distinct tf_column from {TERM_FREQUENCIES}").fetchall()]
    for column in sorted(set(tf_columns) & set(columns[tables.CUSTOMER_RECORDS])):
        _delete(con, result, TERM_FREQUENCIES, f"""tf_column = ? and value in (
                    select {column}::varchar from {tables.CUSTOMER_RECORDS}
                    where record_key in (select record_key from _person_records)
                    except
                    select {column}::varchar from {tables.CUSTOMER_RECORDS}
                    where record_key not in (select record_key from _person_records))""", [column])


def _suppress(con, result: ErasureResult, salt: str, now: datetime) -> None:
    kinds = " ".join(f"when '{t}' then 'restricted'" for t in RETAINED_RAW)
    result.suppressed = con.execute(
        f"""insert into {SUPPRESSED}
            select split_part(split_part(raw_table, '.', 2), '_', 1), raw_table, {hash_sql('id')},
                   case raw_table {kinds} else 'erased' end, ?, ?
            from (select distinct raw_table, id from {ERASED_IDS})""", [salt, result.erasure_id, now]).fetchone()[0]


def _audit(con, result: ErasureResult, salt: str, reason: str, now: datetime) -> None:
    """One row per person, no personal data: hashes, pseudonym, and what the erasure touched in all."""
    touched = json.dumps({"people": len(result.people), "deleted": result.deleted,
                          "pseudonymised": result.pseudonymised, "suppressed": result.suppressed})
    con.execute(
        f"""insert into {ERASURES}
            select ?, ?, ?, {hash_sql('g.golden_customer_id')},
                   list_sort(coalesce(list({hash_sql('p.record_key')}) filter (where p.record_key is not null), [])),
                   {_pseudonym_sql('g.golden_customer_id')}, ?, ?::json
            from {ERASED_GOLDEN} g left join _person_records p using (golden_customer_id)
            group by g.golden_customer_id""",
        [result.erasure_id, now, now.date(), salt, salt, salt, reason, touched])


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValueError("give the reason of the erasure (the request's reference, no personal data)")


def erase_many_in(con: duckdb.DuckDBPyConnection, golden_ids: list[str], reason: str,
                  found_elsewhere: dict[str, list[str]] | None = None) -> ErasureResult:
    """Erase golden customers from the warehouse in one transaction (see the module docstring);
    `found_elsewhere`: more of their source record ids per raw table (`c360.erasure_on_spark`)."""
    _check_reason(reason)
    golden_ids = sorted(set(golden_ids))
    known = {r[0] for r in con.execute(f"select distinct golden_customer_id from {tables.GOLDEN_CUSTOMER_SOURCES} "
                                       "where golden_customer_id in (select unnest(?::varchar[]))",
                                       [golden_ids]).fetchall()}
    if not golden_ids or set(golden_ids) - known:
        unknown = ", ".join(repr(g) for g in sorted(set(golden_ids) - known)) or "(none given)"
        raise LookupError(f"no golden customer {unknown} in the crosswalk")
    columns = privacy._table_columns(con)
    salt = privacy_salt(con)
    now = datetime.now(UTC)
    people = [{"golden_id_hash": salted_hash(salt, g), "pseudonym": pseudonym(salt, g)} for g in golden_ids]
    result = ErasureResult(uuid.uuid4().hex, people)
    ensure_privacy_tables(con)
    base = _base_tables(con)
    con.execute("begin transaction")
    try:
        _collect_ids(con, golden_ids, found_elsewhere or {})
        _term_frequencies(con, result, columns, base)
        _raw_tables(con, result, columns, base, now)
        _staging_tables(con, result, columns, base, salt)
        _keyed_tables(con, result, columns, base, salt)
        _suppress(con, result, salt, now)
        _audit(con, result, salt, reason.strip(), now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


class WarehouseErasure:
    """The privacy step's erasures and retention rule on the DuckDB engine, all in the warehouse; the
    Spark engine's `c360.erasure_on_spark.SparkErasure` has the same methods."""

    def inactive(self, con: duckdb.DuckDBPyConnection, as_of, days: int) -> list[tuple]:
        from c360.retention import inactive_customers

        return inactive_customers(con, as_of, days)

    def erase_many(self, con: duckdb.DuckDBPyConnection, golden_ids: list[str], reason: str) -> ErasureResult:
        return erase_many_in(con, golden_ids, reason)

    def finish(self) -> dict[str, dict[str, int]]:
        """Tables of another engine rewritten after the erasures: none here."""
        return {}


def erase_in(con: duckdb.DuckDBPyConnection, golden_id: str, reason: str) -> ErasureResult:
    """Erase one golden customer (see `erase_many_in`)."""
    return erase_many_in(con, [golden_id], reason)


# --------------------------------------------------------------------------- files


# Paths of raw JSON fields holding identifying values (names, e-mails, phones, streets, birthdays).
PERSONAL_FIELD = re.compile(r"(^|[._])(name|first_?name|last_?name|e_?mail(addresses)?|phone(numbers)?|mobile|street|"
                            r"address[12]|birthday|birthdate|x_birthdate)($|[.\[])", re.IGNORECASE)
# The raw tables of customer records (the crosswalk's systems), whose fields name the person.
CUSTOMER_RAW_TABLES = ("raw.shop_customers", "raw.erp_partners", "raw.helpdesk_users", "raw.accounting_contacts")


def _leaves(value, path: str = ""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner, path)
    else:
        yield path, value


def personal_values(document: dict) -> set[str]:
    """The person's identifying values from an export (`privacy.export_from`): e-mails, phones, names,
    streets and birthdays of their raw records, and the identity input's forms of them (E.164 phones,
    "first last"). Short values (under six characters) are left out: they would match unrelated text."""
    values: set[str] = set()
    for system in document["systems"].values():
        for table, rows in system["raw"].items():
            for row in rows if table in CUSTOMER_RAW_TABLES else ():
                values |= {v for path, v in _leaves(row.get("record")) if isinstance(v, str)
                           and PERSONAL_FIELD.search(path)}
    for row in document["tables"].get(tables.CUSTOMER_RECORDS, []):
        values |= {v for c, v in row.items() if isinstance(v, str) and re.search(r"^email(_normalized)?$|_e164$", c)}
        if row.get("first_name") and row.get("last_name"):
            values.add(f"{row['first_name']} {row['last_name']}")
    return {v.strip() for v in values if len(v.strip()) >= 6}


def _variants(value: str) -> set[str]:
    """How a value may be written in a JSON or HTML file."""
    return {value, json.dumps(value)[1:-1], html.escape(value), html.escape(json.dumps(value)[1:-1])}


def scrub_quality_dir(quality_dir: Path, values: set[str]) -> list[str]:
    """Delete the run folders of `quality_dir` with a file naming any of `values` (case-insensitive)."""
    if not quality_dir.is_dir() or not values:
        return []
    needles = {variant.lower() for value in values for variant in _variants(value)}
    deleted = []
    for run in sorted(p for p in quality_dir.iterdir()):
        files = [run] if run.is_file() else [p for p in run.rglob("*") if p.is_file()]
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace").lower()
            if any(needle in text for needle in needles):
                shutil.rmtree(run) if run.is_dir() else run.unlink()
                deleted.append(str(run))
                break
    return deleted


def republish_bi(con: duckdb.DuckDBPyConnection, bi_path: Path, parquet_dir: Path) -> str:
    """A new BI snapshot written whole from the cleaned warehouse; every older snapshot folder deleted."""
    from c360.bi_publish import publish_snapshot

    return publish_snapshot(con, bi_path, parquet_dir, keep_snapshots=1, from_scratch=True).snapshot_id


def identifying_values(con: duckdb.DuckDBPyConnection, golden_ids: list[str]) -> set[str]:
    """E-mails, phones and full names of the golden customers' records (for scrubbing files), read in
    one query: the per-person export of an erasure request would take seconds per person."""
    rows = con.execute(f"""
        select r.email_normalized, r.phone_e164, r.first_name || ' ' || r.last_name
        from {tables.GOLDEN_CUSTOMER_SOURCES} c join {tables.CUSTOMER_RECORDS} r using (record_key)
        where c.golden_customer_id in (select unnest(?::varchar[]))""", [golden_ids]).fetchall()
    return {value.strip() for row in rows for value in row if isinstance(value, str) and len(value.strip()) >= 6}


# --------------------------------------------------------------------------- the request queue


def ensure_request_queue(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW}")
    con.execute(f"""create table if not exists {REQUESTS} (
        request_id varchar not null, requested_at timestamptz not null, golden_customer_id varchar,
        reason varchar not null, processed_at timestamptz, outcome varchar, erasure_id varchar)""")


def queue_request(con: duckdb.DuckDBPyConnection, golden_id: str, reason: str) -> str:
    """Queue an erasure for the next run's privacy step (`process_requests`); returns the request id."""
    _check_reason(reason)
    ensure_request_queue(con)
    request_id = uuid.uuid4().hex
    con.execute(f"insert into {REQUESTS} values (?, ?, ?, ?, null, null, null)",
                [request_id, datetime.now(UTC), golden_id, reason.strip()])
    return request_id


def pending_golden_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The golden ids of the requests not processed yet."""
    ensure_request_queue(con)
    return [r[0] for r in con.execute(f"select distinct golden_customer_id from {REQUESTS} "
                                      "where processed_at is null").fetchall()]


def process_requests(con: duckdb.DuckDBPyConnection, eraser=None) -> list[dict]:
    """Erase the people of the pending requests, one request at a time (each its own transaction and
    audit row); a golden id no longer in the crosswalk is closed as `unknown golden id`. The golden id
    of a processed request is cleared: the audit row keeps only its salted hash. `eraser`: the
    engine's (`WarehouseErasure` by default; `c360.erasure_on_spark.SparkErasure` on Spark)."""
    eraser = eraser or WarehouseErasure()
    ensure_request_queue(con)
    pending = con.execute(f"select request_id, golden_customer_id, reason from {REQUESTS} "
                          "where processed_at is null order by requested_at").fetchall()
    done: list[dict] = []
    for request_id, golden_id, reason in pending:
        try:
            outcome, erasure_id = "erased", eraser.erase_many(con, [golden_id], reason).erasure_id
        except LookupError:
            outcome, erasure_id = "unknown golden id", None
        con.execute(f"update {REQUESTS} set processed_at = ?, outcome = ?, erasure_id = ?, golden_customer_id = null "
                    "where request_id = ?", [datetime.now(UTC), outcome, erasure_id, request_id])
        done.append({"request_id": request_id, "outcome": outcome, "erasure_id": erasure_id})
    return done


def scrub_raw_zone(con: duckdb.DuckDBPyConnection, zone) -> dict[str, int]:
    """Rewrite the raw zone's files (`c360.raw_zone`, the Spark engine's copy of the raw records) that
    hold records of erased people, as the erasure left the raw tables: a suppressed record removed, a
    retained (restricted) one with the same fields stripped. Run after the erasure's commit, as the
    other files are; it reads the suppression list, so it also finishes an earlier erasure whose
    rewrite was interrupted. Returns the records removed or stripped per zone key."""
    from c360.raw_store import zone_keys

    ensure_privacy_tables(con)
    if not con.execute(f"select count(*) from {SUPPRESSED}").fetchone()[0]:
        return {}
    salt = privacy_salt(con, create=False)
    touched: dict[str, int] = {}
    for table, key in zone_keys().items():
        raw_table = f"{RAW}.{table}"
        if raw_table in RETAINED_RAW:
            drop = _personal_fields_patch(raw_table)
            # stripped once: a stripped record no longer has the fields, so it is not matched again
            where = (f"id in (select source_record_id from {RESTRICTED} where raw_table = ?) and "
                     f"json_merge_patch(record, '{drop}')::varchar <> record")
            params, changed = [raw_table], (f"* replace (case when {where} then json_merge_patch(record, "
                                            f"'{drop}')::varchar else record end as record)")
        else:
            where = f"id is not null and {hash_sql('id')} in (select id_hash from {SUPPRESSED} where raw_table = ?)"
            params, changed = [salt, raw_table], None
        count = sum(zone.rewrite(con, path, where, params, changed) for path in zone.files(key))
        if count:
            touched[key] = count
    return touched


def erase_person(golden_id: str, reason: str, warehouse: Path | str) -> ErasureResult:
    """Erase in the warehouse, then republish the BI snapshot and scrub the validation results (the
    files of `settings.files_of_warehouse`). The BI copy is republished only where one was published."""
    _check_reason(reason)
    bi_path, parquet_dir, quality_dir = settings.files_of_warehouse(Path(warehouse))
    with duckdb.connect(str(warehouse)) as con:
        values = personal_values(privacy.export_from(con, golden_id))
        result = erase_in(con, golden_id, reason)
        if bi_path.exists() or parquet_dir.exists():
            result.bi_snapshot = republish_bi(con, bi_path, parquet_dir)
        con.execute("checkpoint")
        from c360.raw_zone import configured_raw_zone

        raw_zone = configured_raw_zone()
        if raw_zone:
            result.raw_zone = scrub_raw_zone(con, raw_zone)
    result.files_deleted = scrub_quality_dir(quality_dir, values)
    return result
