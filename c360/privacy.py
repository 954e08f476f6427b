"""Privacy requests through the identity graph: find a person, export what is held about them.

`find_person` matches a request (e-mail, phone, name or golden id) against the identity input
(`intermediate.int_customer_records`) with the pipeline's own normalisation (the dbt macros
`normalize_email`, `normalize_phone_de`, `split_name` and `fold_name`, rendered from
`dbt_project/macros`, so a request is folded exactly as the records were), then expands through the
crosswalk (`marts.golden_customer_sources`): a person's records that share no key with the request
are found through the golden customer they belong to.

`export_person` (GDPR Art. 15, access) gathers everything held about one golden customer:

- the person's record ids per raw table (`person_ids`): their customer records from the crosswalk,
  and the source records behind their facts (orders, order lines, tickets, vouchers, ...), read
  from the fact marts, which hold the pipeline's decision of whose a fact is;
- raw records as received (the whole JSON per id), and the staging rows derived from them;
- every table of `intermediate`, `marts` and `segments` with a `golden_customer_id` column
  (discovered from information_schema, so a new mart is included without a change here), and the
  identity tables keyed by the person's `record_key`s;
- a `coverage` section naming each table read, how it was linked and its row count, the tables
  left out as holding no personal rows (aggregates, products, state), and any table of the
  warehouse that is neither (`not_covered`: a new source table nobody has linked yet).

The id set (`person_ids`, from the queries of `PERSON_IDS`) is the unit erasure (`c360.erasure`) works
from: it names every row to delete or redact.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import duckdb

from c360 import tables

MACRO_FILES = ("normalize_email.sql", "normalize_phone_de.sql", "fold_name.sql", "split_name.sql")
PERSONAL_SCHEMAS = ("raw", "staging", "intermediate", "marts", "segments")
RECORD_KEY_COLUMNS = ("record_key", "record_key_l", "record_key_r")
GOLDEN_CUSTOMERS = "marts.golden_customers"
QUARANTINE = "raw._quarantine"

# Where the person's source record ids of each raw table come from (SQL over `_person_records`,
# the crosswalk rows of the person, and the fact marts, `?` = golden id). Customer records come
# from the crosswalk, fact records from the facts the pipeline attributed to the person.
PERSON_IDS: dict[str, str] = {
    "raw.shop_customers": "select source_record_id from _person_records where source_system = 'shop'",
    "raw.erp_partners": "select source_record_id from _person_records where source_system = 'erp'",
    "raw.helpdesk_users": "select source_record_id from _person_records where source_system = 'helpdesk'",
    "raw.accounting_contacts": "select source_record_id from _person_records where source_system = 'accounting'",
    "raw.shop_orders": "select shop_order_id::varchar from marts.fct_orders where golden_customer_id = ? and shop_order_id is not null",
    "raw.erp_sale_orders": "select erp_sale_order_id::varchar from marts.fct_orders where golden_customer_id = ? and erp_sale_order_id is not null",
    "raw.erp_sale_order_lines": "select substr(order_line_key, 5) from marts.fct_order_lines where golden_customer_id = ? and line_source = 'erp'",
    "raw.shop_checkouts": "select checkout_id::varchar from marts.fct_checkouts where golden_customer_id = ?",
    "raw.helpdesk_tickets": "select ticket_id::varchar from marts.fct_tickets where golden_customer_id = ?",
    "raw.helpdesk_satisfaction_ratings": "select survey_response_id::varchar from marts.fct_survey_responses where golden_customer_id = ? and survey_type = 'csat'",
    "raw.helpdesk_csat_survey_responses": "select survey_response_id::varchar from marts.fct_survey_responses where golden_customer_id = ? and survey_type = 'csat'",
    "raw.nps_responses": "select survey_response_id::varchar from marts.fct_survey_responses where golden_customer_id = ? and survey_type = 'nps'",
    # an ERP credit note and its lines belong to the partner it was issued to
    "raw.erp_credit_notes": (
        "select source_record_id from staging.stg_erp__credit_notes where partner_id::varchar in "
        "(select source_record_id from _person_records where source_system = 'erp')"
    ),
    "raw.erp_credit_note_lines": (
        "select l.source_record_id from staging.stg_erp__credit_note_lines l "
        "join staging.stg_erp__credit_notes n on n.credit_note_id = l.credit_note_id "
        "where n.partner_id::varchar in (select source_record_id from _person_records where source_system = 'erp')"
    ),
    "raw.accounting_vouchers": (
        "select invoice_id::varchar from marts.fct_invoices where golden_customer_id = ? union "
        "select source_record_id from marts.fct_refunds where golden_customer_id = ? and refund_source = 'credit_note'"
    ),
    "raw.accounting_payments": "select split_part(payment_id, '/', 1) from marts.fct_payments where golden_customer_id = ?",
    # objections to direct marketing, entered per source record (c360/consent.py)
    "raw.privacy_objections": "select id from raw.privacy_objections where record_key in (select record_key from _person_records)",
}

# Staging models whose rows come from another raw table than their name says, or whose raw id is
# another column than `source_record_id` (the shop's order lines and refunds live inside orders).
STAGING_RAW: dict[str, tuple[str, str]] = {
    "staging.stg_shop__order_lines": ("raw.shop_orders", "order_id::varchar"),
    "staging.stg_shop__refunds": ("raw.shop_orders", "order_id::varchar"),
    "staging.stg_shop__refund_lines": ("raw.shop_orders", "order_id::varchar"),
    "staging.stg_privacy__objections": ("raw.privacy_objections", "objection_record_id"),
}

# Tables holding no row about one person: product master data, aggregates, landing and model state.
NOT_PERSONAL = {
    "raw.erp_products", "raw._sync_state", "raw._syncs", "raw._reconciliations", "staging.stg_erp__products",
    # returned quantities per ERP order line (the person's lines, with their returns, are in fct_order_lines)
    "intermediate.int_erp_order_line_returns",
    "staging.stg_set_aside_shares", "staging._tests_passed", "marts.kpi_daily", "marts.kpi_monthly",
    "marts.kpi_daily_booked", "marts.kpi_monthly_booked", "marts.unresolved_facts", "intermediate.int_company_kpis",
    tables.IDENTITY_MODEL,
    tables.IDENTITY_MODEL_TERM_FREQUENCIES, tables.IDENTITY_MATCH_RUNS, tables.IDENTITY_RESOLUTION_STATE,
    tables.CLV_MODEL_FITS,
    # the erasures' bookkeeping (c360.erasure): salted hashes, pseudonyms and request ids, no personal data;
    # the request queue holds a golden id only until the request is processed
    "raw._erasures", "raw._suppressed_records", "raw._restricted_records", "raw._erasure_requests",
    # the quality gates' bookkeeping in a gated asset's schema (`c360.quality.scope.PASSED_TABLE`): suite,
    # arrival time validated through, row count
    *(f"{schema}._gates_passed" for schema in PERSONAL_SCHEMAS),
}


@dataclass(frozen=True)
class PersonQuery:
    """What a data subject gave us to find them by (any one or more)."""

    email: str | None = None
    phone: str | None = None
    name: str | None = None
    golden_id: str | None = None

    def is_empty(self) -> bool:
        return not any((self.email, self.phone, self.name, self.golden_id))


# --------------------------------------------------------------------------- the pipeline's folding


def _macros():
    """The project's dbt macros as a Jinja module: `.normalize_email(expr)` is the models' SQL."""
    from c360.dbt_macros import project_macros

    return project_macros(*MACRO_FILES)


def normalize_query(con: duckdb.DuckDBPyConnection, query: PersonQuery) -> dict:
    """The request's values as the matching keys of `int_customer_records` (null where not given
    or not valid: an e-mail that is no address finds nobody rather than everybody)."""
    m = _macros()
    row = con.execute(
        f"""
        with given as (select ?::varchar as email, ?::varchar as phone, ?::varchar as name),
        split as (select *, {m.split_name('name', prefix='q_')} from given)
        select {m.normalize_email('email')} as email_normalized,
               {m.normalize_phone_de('phone')} as phone_e164,
               nullif(rtrim({m.fold_name('q_first_name')}, '.'), '') as first_name_folded,
               {m.fold_name('q_last_name')} as last_name_folded
        from split
        """,
        [query.email, query.phone, query.name],
    ).fetchone()
    return dict(zip(("email_normalized", "phone_e164", "first_name_folded", "last_name_folded"), row))


# --------------------------------------------------------------------------- find


def _matching_golden_ids(con: duckdb.DuckDBPyConnection, query: PersonQuery, keys: dict) -> dict[str, list[str]]:
    """Golden ids whose records match the request, each with the ways it matched."""
    matched: dict[str, set[str]] = {}
    conditions = []
    if query.email:
        conditions.append(("email", "r.email_normalized = ?", [keys["email_normalized"]]))
    if query.phone:
        conditions.append(("phone", "? in (r.phone_e164, r.mobile_e164, r.landline_e164)", [keys["phone_e164"]]))
    if query.name:
        if keys["first_name_folded"] is not None:
            conditions.append(("name", "r.first_name_folded = ? and r.last_name_folded = ?",
                               [keys["first_name_folded"], keys["last_name_folded"]]))
        else:  # one word (or a company name): the last name alone
            conditions.append(("name", "r.last_name_folded = ?", [keys["last_name_folded"]]))
    for how, condition, values in conditions:
        if any(value is None for value in values):
            continue
        rows = con.execute(
            f"""select distinct s.golden_customer_id from {tables.CUSTOMER_RECORDS} r
                join {tables.GOLDEN_CUSTOMER_SOURCES} s using (record_key) where {condition}""",
            values,
        ).fetchall()
        for (golden_id,) in rows:
            matched.setdefault(golden_id, set()).add(how)
    if query.golden_id:
        rows = con.execute(f"select distinct golden_customer_id from {tables.GOLDEN_CUSTOMER_SOURCES} "
                           "where golden_customer_id = ?", [query.golden_id]).fetchall()
        for (golden_id,) in rows:
            matched.setdefault(golden_id, set()).add("golden_id")
    return {golden_id: sorted(ways) for golden_id, ways in matched.items()}


def find_in(con: duckdb.DuckDBPyConnection, query: PersonQuery) -> dict:
    """The golden customers the request finds, with every source record the crosswalk maps to them
    (including records that share no key with the request)."""
    if query.is_empty():
        raise ValueError("give an e-mail, a phone number, a name or a golden id")
    keys = normalize_query(con, query)
    matched = _matching_golden_ids(con, query, keys)
    rows = con.execute(
        f"""select golden_customer_id, source_system, source_record_id, record_key, link_rule
            from {tables.GOLDEN_CUSTOMER_SOURCES} where golden_customer_id in (select unnest(?::varchar[]))
            order by golden_customer_id, source_system, source_record_id""",
        [sorted(matched)],
    ).fetchall()
    records: dict[str, list[dict]] = {golden_id: [] for golden_id in sorted(matched)}
    for golden_id, system, record_id, record_key, link_rule in rows:
        records[golden_id].append({"system": system, "source_record_id": record_id, "record_key": record_key,
                                   "link_rule": link_rule})
    request = {k: v for k, v in (("email", query.email), ("phone", query.phone), ("name", query.name),
                                 ("golden_id", query.golden_id)) if v}
    return {
        "request": request,
        "normalized": {k: v for k, v in keys.items() if v is not None},
        "golden_customers": [
            {"golden_customer_id": golden_id, "matched_by": matched[golden_id], "source_records": records[golden_id]}
            for golden_id in records
        ],
    }


def find_person(query: PersonQuery, warehouse: Path | str) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return find_in(con, query)


# --------------------------------------------------------------------------- the person's ids


def _table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every table and view of the personal schemas with its columns, in column order (of the current
    database: not of another one attached, as `c360.privacy_on_spark` attaches the driver's)."""
    rows = con.execute(
        """select table_schema || '.' || table_name, list(column_name order by ordinal_position)
           from information_schema.columns where table_schema in (select unnest(?::varchar[]))
           and table_catalog = current_database()
           group by all order by 1""",
        [list(PERSONAL_SCHEMAS)],
    ).fetchall()
    return dict(rows)


def person_ids(con: duckdb.DuckDBPyConnection, golden_id: str) -> dict[str, list[str]]:
    """The person's source record ids per raw table (customer records and the records behind their
    facts); a raw table or fact mart this warehouse lacks is left out. Leaves the temp table
    `_person_records` (their crosswalk rows) on the connection."""
    con.execute(
        f"""create or replace temp table _person_records as
            select * from {tables.GOLDEN_CUSTOMER_SOURCES} where golden_customer_id = ?""",
        [golden_id],
    )
    ids: dict[str, list[str]] = {}
    for raw_table, sql in PERSON_IDS.items():
        try:
            found = con.execute(f"select distinct * from ({sql}) order by 1", [golden_id] * sql.count("?")).fetchall()
        except duckdb.CatalogException:
            continue
        ids[raw_table] = [str(row[0]) for row in found if row[0] is not None]
    return ids


# --------------------------------------------------------------------------- export


def _plain(value):
    """A value as JSON: dates and times as ISO strings, decimals as numbers, JSON text parsed."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _in_list(expr: str, values: list) -> tuple[str, list]:
    """`expr in (?, ?, ...)`: a list of constants, which DuckDB pushes down through the staging views
    to the raw table's id (a semi-join on a list parameter parses every raw record's JSON first)."""
    if not values:
        return "false", []
    return f"{expr} in ({', '.join('?' * len(values))})", list(values)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, values: list) -> list[dict]:
    cursor = con.execute(sql, values)
    columns = [d[0] for d in cursor.description]
    return [{c: _plain(v) for c, v in zip(columns, row)} for row in cursor.fetchall()]


def _raw_section(con, ids: dict[str, list[str]], columns: dict[str, list[str]]) -> tuple[dict, dict]:
    """Raw records as received, per system and table, with the landing's bookkeeping."""
    section: dict[str, dict] = {}
    coverage: dict[str, dict] = {}
    for raw_table in sorted(ids):
        if raw_table not in columns:
            continue
        where, values = _in_list("id", ids[raw_table])
        rows = _rows(con, f"select * from {raw_table} where {where} order by id", values)
        for row in rows:
            if isinstance(row.get("record"), str):  # a landed record (entered requests have columns only)
                row["record"] = json.loads(row["record"])
        system = raw_table.split(".")[1].split("_")[0]
        section.setdefault(system, {})[raw_table] = rows
        coverage[raw_table] = {"linked_by": "id (the person's source record ids)", "rows": len(rows)}
    return section, coverage


def _quarantine_section(con, ids: dict[str, list[str]], columns: dict[str, list[str]]) -> tuple[list, dict]:
    """Records of the person the landing could not parse (kept with their payload) by resource and id."""
    if QUARANTINE not in columns:
        return [], {}
    from connectors import ALL_RESOURCES

    table_of = {spec.key: f"raw.{spec.table}" for spec in ALL_RESOURCES}
    pairs = [[key, record_id] for key, table in table_of.items() for record_id in ids.get(table, [])]
    where, values = _in_list("source_id", sorted({record_id for _, record_id in pairs}))
    rows = _rows(con, f"""select * from {QUARANTINE} where {where} and [resource, source_id]
                          in (select unnest(?::varchar[][])) order by all""", [*values, pairs])
    return rows, {QUARANTINE: {"linked_by": "resource, source_id", "rows": len(rows)}}


def _staging_raw_table(staging_table: str, columns: dict[str, list[str]]) -> tuple[str, str] | None:
    """(raw table, raw id expression) a staging model reads, by its name `stg_<system>__<resource>`."""
    if staging_table in STAGING_RAW:
        return STAGING_RAW[staging_table]
    name = staging_table.split(".")[1]
    if not name.startswith("stg_") or "__" not in name or "source_record_id" not in columns[staging_table]:
        return None
    system, resource = name[len("stg_"):].split("__", 1)
    raw_table = f"raw.{system}_{resource}"
    return (raw_table, "source_record_id") if raw_table in columns else None


def _staging_section(con, ids: dict[str, list[str]], columns: dict[str, list[str]]) -> tuple[dict, dict]:
    """Staging rows derived from the person's raw records, and set-aside records among them."""
    section: dict[str, dict] = {}
    coverage: dict[str, dict] = {}
    for table in sorted(t for t in columns if t.startswith("staging.") and t not in NOT_PERSONAL):
        if {"source_table", "source_record_id"} <= set(columns[table]):  # set-aside records and checks
            pairs = [[raw.split(".")[1], record_id] for raw, record_ids in ids.items() for record_id in record_ids]
            where, values = _in_list("source_record_id", sorted({record_id for _, record_id in pairs}))
            rows = _rows(con, f"""select * from {table} where {where} and [source_table, source_record_id::varchar]
                                  in (select unnest(?::varchar[][])) order by all""", [*values, pairs])
            linked_by = "source_table, source_record_id"
        elif (link := _staging_raw_table(table, columns)) is not None:
            raw_table, id_expr = link
            where, values = _in_list(id_expr, ids.get(raw_table, []))
            rows = _rows(con, f"select * from {table} where {where} order by all", values)
            linked_by = f"{id_expr} = {raw_table}.id"
        else:
            continue
        # checks and set-aside records span the systems (`source_table` names the raw table)
        system = table.split("stg_")[1].split("__")[0] if "__" in table else "all_systems"
        section.setdefault(system, {})[table] = rows
        coverage[table] = {"linked_by": linked_by, "rows": len(rows)}
    return section, coverage


def _keyed_tables_section(con, golden_id: str, columns: dict[str, list[str]]) -> tuple[dict, dict]:
    """Every intermediate/marts/segments table with a golden id column or record keys of the person."""
    section: dict[str, list] = {}
    coverage: dict[str, dict] = {}
    for table, table_columns in columns.items():
        if table.split(".")[0] in ("raw", "staging") or table in NOT_PERSONAL:
            continue
        golden_columns = [c for c in table_columns if c.endswith("golden_customer_id")]
        key_columns = [c for c in table_columns if c in RECORD_KEY_COLUMNS]
        if golden_columns:
            where = " or ".join(f"{c} = ?" for c in golden_columns)
            values = [golden_id] * len(golden_columns)
            linked_by = ", ".join(golden_columns)
        elif key_columns:  # identity tables: only links between the person's own records
            where = " and ".join(f"{c} in (select record_key from _person_records)" for c in key_columns)
            values, linked_by = [], ", ".join(key_columns)
        else:
            continue
        section[table] = _rows(con, f"select * from {table} where {where} order by all", values)
        coverage[table] = {"linked_by": linked_by, "rows": len(section[table])}
    return section, coverage


def _consent(tables_section: dict, staging: dict) -> dict:
    """The person's marketing consent as the golden record has it, and as each shop record says."""
    golden = tables_section.get(GOLDEN_CUSTOMERS, [])
    consent_fields = ("email_marketing_consent_state", "has_email_marketing_consent",
                      "email_marketing_opt_in_level", "email_marketing_consent_updated_at")
    per_record = [
        {"system": "shop", "source_record_id": row["source_record_id"],
         **{f: row.get(f) for f in consent_fields if f in row}}
        for row in staging.get("shop", {}).get("staging.stg_shop__customers", [])
    ]
    return {
        "golden": [{f: row.get(f) for f in consent_fields if f in row} for row in golden],
        "source_records": per_record,
    }


def export_from(con: duckdb.DuckDBPyConnection, golden_id: str) -> dict:
    """Everything held about one golden customer, as one JSON-ready document (see the module doc)."""
    columns = _table_columns(con)
    known = con.execute(f"select count(*) from {tables.GOLDEN_CUSTOMER_SOURCES} where golden_customer_id = ?",
                        [golden_id]).fetchone()[0]
    if not known:
        raise LookupError(f"no golden customer {golden_id!r} in the crosswalk")
    ids = person_ids(con, golden_id)
    raw, raw_coverage = _raw_section(con, ids, columns)
    quarantined, quarantine_coverage = _quarantine_section(con, ids, columns)
    staging, staging_coverage = _staging_section(con, ids, columns)
    keyed, keyed_coverage = _keyed_tables_section(con, golden_id, columns)
    included = {**raw_coverage, **quarantine_coverage, **staging_coverage, **keyed_coverage}
    systems = {system: {"raw": raw.get(system, {}), "staging": staging.get(system, {})}
               for system in sorted(set(raw) | set(staging))}
    return {
        "golden_customer_id": golden_id,
        "exported_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "golden": keyed.get(GOLDEN_CUSTOMERS, []),
        "consent": _consent(keyed, staging),
        "crosswalk": keyed.get(tables.GOLDEN_CUSTOMER_SOURCES, []),
        "id_history": keyed.get(tables.GOLDEN_CUSTOMER_ID_HISTORY, []),
        "source_record_ids": {table: ids[table] for table in sorted(ids)},
        "quarantined": quarantined,
        "systems": systems,
        "tables": {table: keyed[table] for table in sorted(keyed)},
        "coverage": {
            "included": {table: included[table] for table in sorted(included)},
            "not_personal": sorted(t for t in NOT_PERSONAL if t in columns),
            "not_covered": sorted(t for t in columns if t not in included and t not in NOT_PERSONAL),
        },
    }


def export_person(golden_id: str, warehouse: Path | str) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return export_from(con, golden_id)


def to_json(document: dict) -> str:
    """Stable text: keys sorted, two-space indent, non-ASCII kept (names are not mangled)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str)
