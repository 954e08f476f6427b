"""A data steward's review loop: the uncertain pairs go to a person, their decisions back to resolution.

Matching links pairs at or above the threshold (0.9) and keeps the pairs of the band below it
(`REVIEW_THRESHOLD` <= p < threshold) in `intermediate.identity_review_pairs`
(`c360.identity.match_run`). Here:

- `build_review_queue` writes `marts.identity_review_queue`: every band pair not labelled yet, both
  records side by side (the identity fields of `int_customer_records`) with the evidence per field
  (`agree`, `disagree`, `missing`) and the golden ids the two records have now, most probable first;
- `export_queue` writes it to CSV with empty `decision`, `decided_by` and `note` columns to fill in;
- `import_decisions` reads such a file (or any CSV with `record_key_l`, `record_key_r`, `decision`)
  into `intermediate.identity_labels`, one row per pair, the latest decision winning.

The labels table is created here and by nothing else, and never dropped: a full rebuild of the
warehouse's models or a `resolve(full=True)` keeps it. `c360.identity.resolve` reads it as links
(`steward_match` joins the two records, `steward_no_match` keeps them apart) at its next run.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from c360.identity.schema import CROSSWALK_TABLE, LABELS_TABLE, RECORDS_TABLE, REVIEW_PAIRS_TABLE, REVIEW_QUEUE_TABLE

DECISIONS = ("match", "no_match")
# the fields a steward compares, when the records table has them
IDENTITY_FIELDS = ["first_name_folded", "last_name_folded", "birthday", "email_normalized", "phone_e164",
                   "street_normalized", "postcode", "source_system", "source_record_id"]
# fields shown side by side without an evidence column (they differ by design)
NO_EVIDENCE = {"source_system", "source_record_id"}


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, name]).fetchone()[0])


def ensure_labels(con: duckdb.DuckDBPyConnection, table: str = LABELS_TABLE) -> None:
    """Create the labels table if it is missing (never replaced: the decisions are kept)."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.execute(
        f"""create table if not exists {table} (
            record_key_l varchar not null, record_key_r varchar not null, decision varchar not null,
            decided_by varchar, decided_at timestamptz not null, note varchar,
            check (record_key_l < record_key_r), check (decision in ('match', 'no_match')))"""
    )


def build_review_queue(con: duckdb.DuckDBPyConnection, *, records_table: str = RECORDS_TABLE,
                       review_pairs_table: str = REVIEW_PAIRS_TABLE, labels_table: str = LABELS_TABLE,
                       crosswalk_table: str = CROSSWALK_TABLE, target: str = REVIEW_QUEUE_TABLE) -> int:
    """Write the review queue (module docstring); returns its number of pairs."""
    ensure_labels(con, labels_table)
    con.execute(f"create schema if not exists {target.split('.')[0]}")
    present = {row[0] for row in con.execute(f"select column_name from (describe {records_table})").fetchall()}
    fields = [f for f in IDENTITY_FIELDS if f in present]
    columns = []
    for field in fields:
        columns += [f"l.{field} as {field}_l", f"r.{field} as {field}_r"]
        if field not in NO_EVIDENCE:
            columns.append(f"case when l.{field} is null or r.{field} is null then 'missing' "
                           f"when l.{field} = r.{field} then 'agree' else 'disagree' end as {field}_evidence")
    if _exists(con, crosswalk_table):
        ids = (f"left join {crosswalk_table} cl on cl.record_key = p.record_key_l "
               f"left join {crosswalk_table} cr on cr.record_key = p.record_key_r")
        id_columns = "cl.golden_customer_id as golden_customer_id_l, cr.golden_customer_id as golden_customer_id_r"
    else:
        ids, id_columns = "", "null::varchar as golden_customer_id_l, null::varchar as golden_customer_id_r"
    pairs = review_pairs_table if _exists(con, review_pairs_table) else (
        "(select null::varchar as record_key_l, null::varchar as record_key_r, null::double as match_probability, "
        "null::double as match_weight where false)")
    con.execute(
        f"""
        create or replace table {target} as
        select least(p.record_key_l, p.record_key_r) as record_key_l,
               greatest(p.record_key_l, p.record_key_r) as record_key_r,
               p.match_probability, p.match_weight, {id_columns}, {', '.join(columns)}
        from {pairs} p
        join {records_table} l on l.record_key = p.record_key_l
        join {records_table} r on r.record_key = p.record_key_r
        {ids}
        anti join {labels_table} d
            on d.record_key_l = least(p.record_key_l, p.record_key_r)
           and d.record_key_r = greatest(p.record_key_l, p.record_key_r)
        order by p.match_probability desc, record_key_l, record_key_r
        """
    )
    return con.execute(f"select count(*) from {target}").fetchone()[0]


def export_queue(con: duckdb.DuckDBPyConnection, path: str | Path, **tables) -> int:
    """Build the queue and write it to `path` (CSV) with empty `decision`, `decided_by`, `note` columns."""
    n = build_review_queue(con, **tables)
    target = tables.get("target", REVIEW_QUEUE_TABLE)
    con.execute(f"copy (select null::varchar as decision, null::varchar as decided_by, null::varchar as note, * "
                f"from {target}) to '{Path(path).as_posix()}' (header, delimiter ',')")
    return n


def read_decisions(path: str | Path) -> list[dict]:
    """The decided rows of a CSV (rows with an empty `decision` are skipped); raises ValueError on a
    missing column, an unknown decision or a pair of a record with itself."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"record_key_l", "record_key_r", "decision"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows, errors = [], []
        for line, row in enumerate(reader, start=2):
            decision = (row.get("decision") or "").strip().lower()
            if not decision:
                continue
            left, right = (row["record_key_l"] or "").strip(), (row["record_key_r"] or "").strip()
            if decision not in DECISIONS:
                errors.append(f"line {line}: decision {decision!r} is not one of {', '.join(DECISIONS)}")
            elif not left or not right or left == right:
                errors.append(f"line {line}: two different record keys are needed")
            else:
                rows.append({"record_key_l": min(left, right), "record_key_r": max(left, right),
                             "decision": decision, "decided_by": (row.get("decided_by") or "").strip() or None,
                             "note": (row.get("note") or "").strip() or None})
    if errors:
        raise ValueError(f"{path}: " + "; ".join(errors))
    return rows


def import_decisions(con: duckdb.DuckDBPyConnection, path: str | Path, decided_by: str | None = None,
                     table: str = LABELS_TABLE, records_table: str = RECORDS_TABLE) -> dict:
    """Store the decisions of a CSV (`read_decisions`): one label per pair, a new decision replacing
    the old. Returns counts: `imported`, `match`, `no_match`, `unknown_records` (keys not in the records
    table: kept, they take effect if the record comes back)."""
    rows = read_decisions(path)
    by_pair = {(r["record_key_l"], r["record_key_r"]): r for r in rows}  # the file's last decision wins
    decided_at = datetime.now(timezone.utc)
    ensure_labels(con, table)
    con.begin()
    try:
        for (left, right), row in by_pair.items():
            con.execute(f"delete from {table} where record_key_l = ? and record_key_r = ?", [left, right])
            con.execute(f"insert into {table} values (?, ?, ?, ?, ?, ?)",
                        [left, right, row["decision"], row["decided_by"] or decided_by, decided_at, row["note"]])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    keys = sorted({k for pair in by_pair for k in pair})
    unknown = len(keys)
    if keys and _exists(con, records_table):
        known = con.execute(f"select count(*) from {records_table} where record_key in "
                            f"(select unnest(?::varchar[]))", [keys]).fetchone()[0]
        unknown = len(keys) - known
    decisions = [r["decision"] for r in by_pair.values()]
    return {"imported": len(by_pair), "match": decisions.count("match"), "no_match": decisions.count("no_match"),
            "unknown_records": unknown}
