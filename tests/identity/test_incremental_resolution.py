"""Re-resolving only what changed gives what a full resolution gives, row for row.

Random record graphs with households (shared e-mails, phones, addresses), conflicting first names and
birthdays, certain and probable links; a second day changes, adds and deletes records, adds and
removes links and moves probabilities. Day two is resolved twice from the same day-one state: the
incremental way and with `full=True`. The crosswalk (ids, rules, probabilities) and the day's history
events must be equal, and the incremental run must have re-resolved fewer records than there are.
"""

from __future__ import annotations

import random
from datetime import date

import duckdb
import pandas as pd
import pytest

from c360.identity.guards import GuardConfig
from c360.identity.resolve import resolve

DAY1, DAY2 = date(2026, 5, 4), date(2026, 5, 5)
NAMES = ["anna", "andreas", "anan", "a", "lena", "lukas", "maria", "marie", None]
EMAILS = [f"m{i}@example.org" for i in range(40)] + [None] * 20
PHONES = [f"+4930{i:04d}" for i in range(40)] + [None] * 30
STREETS = [("hauptstr 1", "10115"), ("hauptstr 1", "80331"), ("ringweg 7", "10115"), (None, None)]
# 1985-04-12 / 1985-04-21 and 1980-01-01 / 1980-10-01 are one typo apart: links the guards may forgive
BIRTHDAYS = [date(1980, 1, 1), date(1985, 4, 12), date(1990, 6, 30), date(1985, 4, 21), date(1980, 10, 1), None, None]
LAST_NAMES = ["mueller", "muller", "schmidt", "anna", None]
RECORD_COLUMNS = ("record_key varchar, source_system varchar, source_record_id varchar, first_name_folded varchar, "
                  "birthday date, email_normalized varchar, phone_e164 varchar, street_normalized varchar, "
                  "postcode varchar, last_name_folded varchar")


def _record(rng: random.Random, key: int) -> dict:
    street, postcode = rng.choice(STREETS)
    system = rng.choice(["shop", "erp", "helpdesk", "accounting"])
    return {"record_key": f"{system}:{key:05d}", "source_system": system, "source_record_id": f"{key}",
            "first_name_folded": rng.choice(NAMES), "birthday": rng.choice(BIRTHDAYS),
            "email_normalized": rng.choice(EMAILS), "phone_e164": rng.choice(PHONES),
            "street_normalized": street, "postcode": postcode, "last_name_folded": rng.choice(LAST_NAMES)}


def _links(rng: random.Random, keys: list[str], n: int) -> tuple[list[tuple], list[tuple]]:
    """(certain links (l, r, rule), probable pairs (l, r, probability))."""
    certain, probable = set(), {}
    for _ in range(n):
        left, right = rng.sample(keys, 2)
        if rng.random() < 0.4:
            certain.add((left, right, rng.choice(["same_email", "shop_erp_link"])))
        else:
            probable[(min(left, right), max(left, right))] = round(rng.uniform(0.9, 1.0), 6)
    return sorted(certain), sorted((left, right, p) for (left, right), p in probable.items())


def _write_day(con: duckdb.DuckDBPyConnection, records: list[dict], certain: list[tuple], probable: list[tuple]):
    con.execute("create schema if not exists intermediate; create schema if not exists marts")
    con.execute(f"create or replace table intermediate.int_customer_records ({RECORD_COLUMNS})")
    if records:
        con.executemany("insert into intermediate.int_customer_records values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [list(r.values()) for r in records])
    con.execute("create or replace table intermediate.int_identity_certain_links "
                "(record_key_l varchar, record_key_r varchar, link_rule varchar)")
    if certain:
        con.executemany("insert into intermediate.int_identity_certain_links values (?, ?, ?)", certain)
    con.execute("create or replace table intermediate.identity_match_pairs "
                "(record_key_l varchar, record_key_r varchar, match_probability double, match_weight double)")
    if probable:
        con.executemany("insert into intermediate.identity_match_pairs values (?, ?, ?, 0)", probable)


def _next_day(rng: random.Random, records: list[dict], certain: list[tuple], probable: list[tuple], next_key: int):
    """Change 8 % of the records, delete 3 %, add 5 %; add and drop links, move some probabilities."""
    kept = [dict(r) for r in records if rng.random() > 0.03]
    for record in kept:
        if rng.random() < 0.08:
            field = rng.choice(["first_name_folded", "birthday", "email_normalized", "phone_e164", "last_name_folded"])
            record[field] = _record(rng, 0)[field]
    kept += [_record(rng, next_key + i) for i in range(max(1, len(records) // 20))]
    keys = {r["record_key"] for r in kept}
    certain = [c for c in certain if c[0] in keys and c[1] in keys and rng.random() > 0.03]
    probable = [(left, right, round(min(1.0, p + rng.choice([0, 0, 0, 0.01, -0.01])), 6))
                for left, right, p in probable if left in keys and right in keys and rng.random() > 0.03]
    new_certain, new_probable = _links(rng, sorted(keys), len(kept) // 10)
    seen = {(left, right) for left, right, _ in probable}
    probable += [p for p in new_probable if (p[0], p[1]) not in seen]
    return kept, sorted(set(certain + new_certain)), sorted(probable)


def _crosswalk(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("select source_system, source_record_id, record_key, golden_customer_id, link_rule, "
                       "match_probability from marts.golden_customer_sources order by record_key").df()


def _history(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    return con.execute("select * exclude (recorded_at) from marts.golden_customer_id_history where event_date = ? "
                       "order by all", [day]).df()


@pytest.mark.parametrize("seed", range(12))
def test_incremental_resolution_equals_full(seed):
    rng = random.Random(seed)
    records = [_record(rng, k) for k in range(400)]
    certain, probable = _links(rng, [r["record_key"] for r in records], 500)
    guards = GuardConfig(email_cap=2, phone_cap=2, address_cap=2, max_cluster_size=12)
    con = duckdb.connect()
    _write_day(con, records, certain, probable)
    assert resolve(con, DAY1, guard_config=guards).stats["resolution"] == "full"
    con.execute("create table day1_crosswalk as from marts.golden_customer_sources; "
                "create table day1_history as from marts.golden_customer_id_history")
    _write_day(con, *_next_day(rng, records, certain, probable, 1000))

    incremental = resolve(con, DAY2, guard_config=guards).stats
    incremental_crosswalk, incremental_history = _crosswalk(con), _history(con, DAY2)
    con.execute("create or replace table marts.golden_customer_sources as from day1_crosswalk; "
                "create or replace table marts.golden_customer_id_history as from day1_history")
    full = resolve(con, DAY2, guard_config=guards, full=True).stats

    assert incremental["resolution"] == "incremental" and full["resolution"] == "full"
    assert 0 < incremental["records_reresolved"] < full["records_reresolved"] == full["records"]
    pd.testing.assert_frame_equal(incremental_crosswalk, _crosswalk(con))
    pd.testing.assert_frame_equal(incremental_history, _history(con, DAY2))
    assert incremental["vetoed_links"] == full["vetoed_links"]
    assert (incremental["records"], incremental["clusters"]) == (full["records"], full["clusters"])


def test_unchanged_input_reresolves_nothing_and_changed_settings_resolve_everything():
    rng = random.Random(99)
    records = [_record(rng, k) for k in range(200)]
    con = duckdb.connect()
    _write_day(con, records, *_links(rng, [r["record_key"] for r in records], 200))
    resolve(con, DAY1)
    before = _crosswalk(con)
    again = resolve(con, DAY2).stats
    assert again["resolution"] == "incremental" and again["records_reresolved"] == 0
    pd.testing.assert_frame_equal(before, _crosswalk(con))
    other_caps = resolve(con, DAY2, guard_config=GuardConfig(email_cap=5)).stats
    assert other_caps["resolution"] == "full"
