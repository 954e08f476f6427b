"""The BI snapshot of the session warehouse carries no clear personal data unless told to.

Every column of every published Parquet file and of the snapshot DuckDB file is scanned for the clear
values the warehouse's golden customers hold; the pseudonyms are checked against a hash computed here
with the key (not by the code under test), across tables and across publishes.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import duckdb
import pytest

from c360 import bi_pii
from c360.bi_publish import bi_tables, current_snapshot_folder, publish_snapshot, read_manifest
from tests.conftest import copy_of_pipeline_warehouse

EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.IGNORECASE)
PHONE = re.compile(r"\+\d{8,}")
KEY = "f" * 8 + "0123456789abcdef" * 3 + "e" * 8  # a fixed key, so that the test can hash by itself


def expected_hash(value: str, key: str = KEY) -> str:
    return hashlib.sha256(f"{key}{value}".encode()).hexdigest()[: bi_pii.HASH_HEX_DIGITS]


@pytest.fixture(scope="module")
def live(pipeline_warehouse, tmp_path_factory) -> Path:
    """A copy of the session warehouse (publishing attaches files to the connection)."""
    return copy_of_pipeline_warehouse(pipeline_warehouse, tmp_path_factory, "bi_pii")


@pytest.fixture(scope="module")
def clear(live) -> dict[str, set[str]]:
    """The golden customers' clear values, by kind, as text."""
    with duckdb.connect(str(live), read_only=True) as con:
        rows = con.execute("""
            select list(distinct email) filter (where email is not null),
                   list(distinct phone) filter (where phone is not null),
                   list(distinct first_name || ' ' || last_name) filter (where last_name is not null),
                   list(distinct street) filter (where street is not null),
                   list(distinct cast(birthday as varchar)) filter (where birthday is not null)
            from marts.golden_customers
        """).fetchone()
    values = dict(zip(("email", "phone", "full_name", "street", "birthday"), (set(r) for r in rows)))
    assert all(len(v) > 100 for v in values.values()), {k: len(v) for k, v in values.items()}
    return values


def publish(live: Path, folder: Path, pii: bi_pii.BiPii | None = None):
    with duckdb.connect(str(live)) as con:
        return publish_snapshot(con, folder / "bi.duckdb", folder / "bi", keep_snapshots=2, pii=pii)


def published_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [row[0] for row in con.execute(f"describe select * from {relation}").fetchall()]


def clear_values_found(folder: Path, clear: dict[str, set[str]]) -> dict[str, int]:
    """Per `<file>:<table>.<column>`, the rows holding a clear value (exactly, or an e-mail address or
    E.164 phone number inside text), over every column of every Parquet file and of bi.duckdb."""
    relations = {f"parquet:{p.stem}": f"read_parquet('{p}')"
                 for p in sorted(current_snapshot_folder(folder / "bi").glob("*.parquet"))}
    found = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{folder / 'bi.duckdb'}' as bi (read_only)")
        relations |= {f"duckdb:{schema}.{name}": f"bi.{schema}.{name}" for schema, name in
                      con.execute("select schema_name, table_name from duckdb_tables() where database_name = 'bi'")
                      .fetchall()}
        con.execute("create temp table clear_values (value varchar)")
        con.executemany("insert into clear_values values (?)", [[v] for vs in clear.values() for v in vs])
        for label, relation in relations.items():
            for column in published_columns(con, relation):
                hits = con.execute(
                    f"""select count(*) from (select cast("{column}" as varchar) as v from {relation})
                        where v in (select value from clear_values)
                           or regexp_matches(v, ?) or regexp_matches(v, ?)""",
                    [EMAIL.pattern, PHONE.pattern],
                ).fetchone()[0]
                if hits:
                    found[f"{label}.{column}"] = hits
    assert len(relations) > 30, "fewer tables than published: the scan proves nothing"
    return found


def test_every_published_column_that_looks_personal_is_declared(live):
    with duckdb.connect(str(live), read_only=True) as con:
        columns = {f"{s}.{n}": [c for c, _ in bi_pii.table_columns(con, s, n)] for s, n in bi_tables(con)}
    assert bi_pii.undeclared_columns(columns) == {}
    # the scan would notice a new one
    assert bi_pii.undeclared_columns({"marts.x": ["golden_customer_id", "billing_street", "mobile"]}) == {
        "marts.x": ["billing_street", "mobile"]
    }
    published = {c for names in columns.values() for c in names}
    assert {"email", "phone", "first_name", "street", "birthday", "subject"} <= published


def test_default_publishes_no_clear_personal_value(live, clear, tmp_path, monkeypatch):
    monkeypatch.setenv("C360_WAREHOUSE", str(live))
    monkeypatch.delenv("C360_BI_PII", raising=False)
    monkeypatch.delenv("C360_BI_PII_KEY", raising=False)
    publish(live, tmp_path)
    assert clear_values_found(tmp_path, clear) == {}

    key_file = live.parent / "bi_pii.key"  # generated beside the live warehouse, readable by its owner only
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) == 64
    for path in [tmp_path / "bi.duckdb", *(tmp_path / "bi").rglob("*")]:
        assert path.is_dir() or key.encode() not in path.read_bytes(), path
    with duckdb.connect(str(tmp_path / "bi.duckdb"), read_only=True) as bi, \
            duckdb.connect(str(live), read_only=True) as wh:
        golden = dict(wh.execute("select golden_customer_id, email from marts.golden_customers "
                                 "where email is not null").fetchall())
        hashed = dict(bi.execute("select golden_customer_id, email from marts.golden_customers "
                                 "where email is not null").fetchall())
    assert hashed == {g: expected_hash(e, key) for g, e in golden.items()}


def test_pseudonyms_join_across_tables_and_publishes(live, tmp_path):
    pii = bi_pii.BiPii("pseudonymised", key=KEY)
    publish(live, tmp_path / "first", pii)
    publish(live, tmp_path / "second", bi_pii.BiPii("pseudonymised", key=KEY))  # written anew, not linked
    with duckdb.connect(str(live), read_only=True) as wh:
        golden = wh.execute("""select golden_customer_id, email, phone, first_name, last_name, street,
                                      postcode, year(birthday) from marts.golden_customers
                               order by 1""").fetchall()
        responses = wh.execute("""select r.survey_response_id, g.golden_customer_id
                                  from marts.fct_survey_responses r
                                  join marts.golden_customers g on g.email = r.respondent_email
                                  order by 1""").fetchall()
    assert len(responses) > 10
    expected = [
        (g, *(None if v is None else expected_hash(v) for v in (email, phone, first, last, street)),
         None if postcode is None else postcode[:2], year)
        for g, email, phone, first, last, street, postcode, year in golden
    ]
    for folder in ("first", "second"):
        with duckdb.connect(str(tmp_path / folder / "bi.duckdb"), read_only=True) as bi:
            assert bi.execute("""select golden_customer_id, email, phone, first_name, last_name, street,
                                        postcode, birthday from marts.golden_customers order by 1""").fetchall() \
                == expected
            # the same person has the same pseudonym in every table that names them
            for table in ("segments.customer_segments", "segments.treue_kunden"):
                mismatched = bi.execute(f"""select count(*) from {table} s join marts.golden_customers g
                                            using (golden_customer_id)
                                            where s.email is distinct from g.email
                                               or s.last_name is distinct from g.last_name""").fetchone()[0]
                assert mismatched == 0, table
            # an NPS answer joins its golden customer by the pseudonymised e-mail
            joined = bi.execute("""select r.survey_response_id, g.golden_customer_id
                                   from marts.fct_survey_responses r
                                   join marts.golden_customers g on g.email = r.respondent_email
                                   order by 1""").fetchall()
            assert joined == responses
        parquet = current_snapshot_folder(tmp_path / folder / "bi") / "marts.golden_customers.parquet"
        with duckdb.connect() as con:
            assert con.execute(f"""select golden_customer_id, email, phone, first_name, last_name, street,
                                          postcode, birthday from '{parquet}' order by 1""").fetchall() == expected


def test_full_carries_the_clear_values_and_none_carries_neither(live, clear, tmp_path):
    folder = tmp_path / "bi_out"
    publish(live, folder, bi_pii.BiPii("pseudonymised", key=KEY))
    first = read_manifest(current_snapshot_folder(folder / "bi"))
    full = publish(live, folder, bi_pii.BiPii("full"))
    # switching the mode republishes exactly the tables with personal columns
    with duckdb.connect(str(live), read_only=True) as wh:
        personal = {t for s, n in bi_tables(wh) if any(c in bi_pii.PERSONAL_COLUMNS
                                                        for c, _ in bi_pii.table_columns(wh, s, n))
                    for t in [f"{s}.{n}"]}
    assert {"marts.golden_customers", "segments.customer_segments", "marts.fct_tickets"} <= personal
    rewritten = {t.table for t in full.tables if t.written_in == full.snapshot_id}
    assert rewritten == personal
    assert {t["table"] for t in first["tables"]} - personal == {t.table for t in full.unchanged}
    found = clear_values_found(folder, clear)
    with duckdb.connect(str(folder / "bi.duckdb"), read_only=True) as bi:
        emails = {r[0] for r in bi.execute("select email from marts.golden_customers").fetchall()}
        names = {r[0] for r in bi.execute("select first_name || ' ' || last_name from marts.golden_customers")
                 .fetchall()}
    assert clear["email"] <= emails and clear["full_name"] <= names
    assert found["duckdb:marts.golden_customers.street"] > 0 and found["parquet:marts.golden_customers.phone"] > 0

    publish(live, folder, bi_pii.BiPii("none"))
    assert clear_values_found(folder, clear) == {}
    with duckdb.connect(str(folder / "bi.duckdb"), read_only=True) as bi:
        for table in sorted(personal):
            columns = [c for c in published_columns(bi, table) if c in bi_pii.PERSONAL_COLUMNS]
            held = bi.execute(f"select count(*) from {table} where "
                              + " or ".join(f'"{c}" is not null' for c in columns)).fetchone()[0]
            assert held == 0, table


def test_a_key_is_made_once_and_an_empty_key_file_is_an_error(tmp_path):
    path = tmp_path / "state" / "bi_pii.key"
    key = bi_pii.load_or_create_key(path)
    assert bi_pii.load_or_create_key(path) == key and len(key) == 64
    assert [p.name for p in path.parent.iterdir()] == ["bi_pii.key"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "redacted" in repr(bi_pii.BiPii("pseudonymised", key=key)) and key not in repr(bi_pii.BiPii(
        "pseudonymised", key=key))
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        bi_pii.load_or_create_key(path)
    with pytest.raises(ValueError, match="use one of"):
        bi_pii.BiPii("hashed")
