"""A data steward's review loop: the band's pairs reach a queue, decisions come back as labels, and the
next resolution follows them (merging, splitting, recording it in the id history).

Small synthetic warehouses (the tables `resolve` reads), real DuckDB; the expected clusters follow
from the links and labels written by each test, not from the program's output.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.evaluate import evaluate_labels
from c360.identity.guards import GuardConfig
from c360.identity.match_run import _split
from c360.identity.resolve import resolve
from c360.identity.review import build_review_queue, export_queue, import_decisions
from tests.identity.test_incremental_resolution import _crosswalk, _history, _links, _next_day, _record

DAY1, DAY2, DAY3 = date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["record_key", "source_system", "source_record_id", "first_name_folded", "last_name_folded", "birthday",
           "email_normalized", "phone_e164", "street_normalized", "postcode"]


def _rec(key: str, first: str | None, last: str | None, birthday: date | None, email: str | None,
         phone: str | None = None) -> tuple:
    system, rid = key.split(":")
    return (key, system, rid, first, last, birthday, email, phone, "hauptstr 1", "10115")


def _warehouse(con: duckdb.DuckDBPyConnection, records: list[tuple], certain=(), probable=(), band=()) -> None:
    con.execute("create schema if not exists intermediate; create schema if not exists marts")
    con.execute("create or replace table intermediate.int_customer_records (record_key varchar, source_system varchar, "
                "source_record_id varchar, first_name_folded varchar, last_name_folded varchar, birthday date, "
                "email_normalized varchar, phone_e164 varchar, street_normalized varchar, postcode varchar)")
    con.executemany("insert into intermediate.int_customer_records values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records)
    con.execute("create or replace table intermediate.int_identity_certain_links "
                "(record_key_l varchar, record_key_r varchar, link_rule varchar)")
    for row in certain:
        con.execute("insert into intermediate.int_identity_certain_links values (?, ?, ?)", row)
    for table, rows in (("identity_match_pairs", probable), ("identity_review_pairs", band)):
        con.execute(f"create or replace table intermediate.{table} "
                    "(record_key_l varchar, record_key_r varchar, match_probability double, match_weight double)")
        for row in rows:
            con.execute(f"insert into intermediate.{table} values (?, ?, ?, 0)", row)


def _decide(tmp_path: Path, rows: list[tuple], name: str = "decisions.csv") -> Path:
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_key_l", "record_key_r", "decision", "note"])
        writer.writerows(rows)
    return path


def _ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("select record_key, golden_customer_id from marts.golden_customer_sources").fetchall())


def _events(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple]:
    return con.execute("select event_type, golden_customer_id, related_golden_customer_id, records "
                       "from marts.golden_customer_id_history where event_date = ? order by all", [day]).fetchall()


def test_matching_keeps_the_band_apart_from_the_links():
    pairs = pa.table({"record_key_l": ["a", "b", "c", "d"], "record_key_r": ["x", "y", "z", "w"],
                      "match_probability": [0.95, 0.9, 0.89, 0.5], "match_weight": [1.0, 1.0, 1.0, 1.0]})
    links, band = _split(pairs, 0.9)
    assert links["record_key_l"].to_pylist() == ["a", "b"]
    assert band["record_key_l"].to_pylist() == ["c", "d"]


def test_band_pair_is_queued_with_both_records_and_evidence_until_labelled(tmp_path):
    con = duckdb.connect()
    anna = _rec("shop:1", "anna", "mueller", date(1980, 1, 1), "anna@example.org", "+49301")
    anna2 = _rec("erp:7", "anna", "muller", None, "a.mueller@example.org", "+49301")
    other = _rec("helpdesk:3", "lena", "schmidt", None, None)
    _warehouse(con, [anna, anna2, other], band=[("erp:7", "shop:1", 0.72), ("helpdesk:3", "shop:1", 0.55)])
    resolve(con, DAY1)
    assert build_review_queue(con) == 2
    row = con.execute("select * from marts.identity_review_queue where record_key_r = 'shop:1' "
                      "and record_key_l = 'erp:7'").df().iloc[0]
    assert row["match_probability"] == 0.72
    assert (row["first_name_folded_l"], row["first_name_folded_r"], row["first_name_folded_evidence"]) == (
        "anna", "anna", "agree")
    assert (row["last_name_folded_l"], row["last_name_folded_r"], row["last_name_folded_evidence"]) == (
        "muller", "mueller", "disagree")
    assert row["email_normalized_evidence"] == "disagree" and row["phone_e164_evidence"] == "agree"
    assert row["birthday_evidence"] == "missing"
    assert row["golden_customer_id_l"] != row["golden_customer_id_r"]  # apart: nothing links them
    # the most probable pair first
    order = con.execute("select match_probability from marts.identity_review_queue").fetchall()
    assert order == [(0.72,), (0.55,)]

    import_decisions(con, _decide(tmp_path, [("shop:1", "helpdesk:3", "no_match", "other person")]))
    assert build_review_queue(con) == 1  # labelled pairs leave the queue
    assert con.execute("select record_key_l, record_key_r from marts.identity_review_queue").fetchall() == [
        ("erp:7", "shop:1")]


def test_match_label_merges_two_records_and_the_history_shows_it(tmp_path):
    con = duckdb.connect()
    # a conflicting birthday: the guards alone would never join them; the steward has seen both
    records = [_rec("shop:1", "anna", "mueller", date(1980, 1, 1), "anna@example.org"),
               _rec("erp:7", "anna", "mueller", date(1980, 1, 10), "a.mueller@example.org"),
               _rec("erp:8", "anna", "mueller", None, "anna@example.org")]
    _warehouse(con, records, certain=[("shop:1", "erp:8", "same_email")], band=[("erp:7", "shop:1", 0.8)])
    resolve(con, DAY1)
    before = _ids(con)
    assert before["shop:1"] == before["erp:8"] != before["erp:7"]

    counts = import_decisions(con, _decide(tmp_path, [("shop:1", "erp:7", "match", "same person, typo")]),
                              decided_by="steward@example.org")
    assert counts == {"imported": 1, "match": 1, "no_match": 0, "unknown_records": 0}
    stats = resolve(con, DAY2).stats
    assert stats["resolution"] == "incremental" and stats["steward_labels"] == 1
    after = _ids(con)
    assert after["shop:1"] == after["erp:7"] == after["erp:8"]
    survivor, absorbed = sorted([before["shop:1"], before["erp:7"]])  # the older id survives
    assert after["shop:1"] == survivor
    # the absorbed id's records all moved into the survivor
    assert _events(con, DAY2) == [("merged", survivor, absorbed, list(before.values()).count(absorbed))]
    rule = con.execute("select link_rule from marts.golden_customer_sources where record_key = 'erp:7'").fetchone()
    assert rule == ("steward_match",)


def test_no_match_label_splits_records_joined_through_others(tmp_path):
    con = duckdb.connect()
    records = [_rec("shop:1", "anna", "mueller", None, "anna@example.org"),
               _rec("erp:2", "anna", "mueller", None, "anna@example.org", "+49302"),
               _rec("helpdesk:3", "anna", "mueller", None, None, "+49302")]
    # shop:1 - erp:2 probable, erp:2 - helpdesk:3 certain, shop:1 - helpdesk:3 probable and direct
    _warehouse(con, records, certain=[("erp:2", "helpdesk:3", "same_phone")],
               probable=[("erp:2", "shop:1", 0.97), ("helpdesk:3", "shop:1", 0.93)])
    resolve(con, DAY1)
    before = _ids(con)
    assert len(set(before.values())) == 1
    old_id = before["shop:1"]

    import_decisions(con, _decide(tmp_path, [("helpdesk:3", "shop:1", "no_match", "")]))
    stats = resolve(con, DAY2).stats
    assert stats["vetoed_links"].get("steward_no_match") == 2  # the label and the direct probable link
    after = _ids(con)
    # the certain link is the strongest: erp:2 stays with helpdesk:3 and keeps the id; shop:1 leaves
    assert after["erp:2"] == after["helpdesk:3"] == old_id != after["shop:1"]
    assert _events(con, DAY2) == [("split", after["shop:1"], old_id, 1)]

    # the label survives a rebuild of the models and a full resolution
    _warehouse(con, records, certain=[("erp:2", "helpdesk:3", "same_phone")],
               probable=[("erp:2", "shop:1", 0.97), ("helpdesk:3", "shop:1", 0.93)])
    assert resolve(con, DAY3, full=True).stats["resolution"] == "full"
    assert _ids(con) == after
    assert con.execute("select record_key_l, record_key_r, decision from intermediate.identity_labels").fetchall() == [
        ("helpdesk:3", "shop:1", "no_match")]

    # changing the decision joins them again
    import_decisions(con, _decide(tmp_path, [("shop:1", "helpdesk:3", "match", "")]))
    resolve(con, DAY3)
    assert len(set(_ids(con).values())) == 1


@pytest.mark.parametrize("seed", range(4))
def test_incremental_resolution_with_labels_equals_full(seed, tmp_path):
    """Labels added and changed between two days: the incremental run gives what a full one gives."""
    from tests.identity.test_incremental_resolution import _write_day

    rng = random.Random(seed)
    records = [_record(rng, k) for k in range(300)]
    certain, probable = _links(rng, [r["record_key"] for r in records], 380)
    guards = GuardConfig(max_cluster_size=12)
    con = duckdb.connect()
    _write_day(con, records, certain, probable)
    keys = [r["record_key"] for r in records]
    day1_labels = [(*rng.sample(keys, 2), rng.choice(["match", "no_match"]), "") for _ in range(15)]
    import_decisions(con, _decide(tmp_path, day1_labels, "day1.csv"))
    resolve(con, DAY1, guard_config=guards)
    con.execute("create table day1_crosswalk as from marts.golden_customer_sources; "
                "create table day1_history as from marts.golden_customer_id_history")
    records, certain, probable = _next_day(rng, records, certain, probable, 1000)
    _write_day(con, records, certain, probable)
    keys = [r["record_key"] for r in records]
    day2_labels = [(*rng.sample(keys, 2), rng.choice(["match", "no_match"]), "") for _ in range(15)]
    day2_labels += [(left, right, "match" if d == "no_match" else "no_match", "") for left, right, d, _ in day1_labels[:5]]
    import_decisions(con, _decide(tmp_path, day2_labels, "day2.csv"))

    incremental = resolve(con, DAY2, guard_config=guards).stats
    incremental_crosswalk, incremental_history = _crosswalk(con), _history(con, DAY2)
    con.execute("create or replace table marts.golden_customer_sources as from day1_crosswalk; "
                "create or replace table marts.golden_customer_id_history as from day1_history")
    full = resolve(con, DAY2, guard_config=guards, full=True).stats
    assert incremental["resolution"] == "incremental" and full["resolution"] == "full"
    assert incremental["records_reresolved"] < full["records_reresolved"]
    pd.testing.assert_frame_equal(incremental_crosswalk, _crosswalk(con))
    pd.testing.assert_frame_equal(incremental_history, _history(con, DAY2))
    # every no_match pair of two present records ends in two golden customers
    apart = con.execute("""select count(*) from intermediate.identity_labels d
                           join marts.golden_customer_sources l on l.record_key = d.record_key_l
                           join marts.golden_customer_sources r on r.record_key = d.record_key_r
                           where d.decision = 'no_match' and l.golden_customer_id = r.golden_customer_id""")
    assert apart.fetchone()[0] == 0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "c360_cli.main", "identity", "review", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_export_then_import_round_trip(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _warehouse(con, [_rec("shop:1", "anna", "mueller", None, "anna@example.org"),
                         _rec("erp:7", "anna", "muller", None, "anna@example.org"),
                         _rec("erp:9", "lena", "schmidt", None, None)],
                   band=[("erp:7", "shop:1", 0.7), ("erp:9", "shop:1", 0.6)])
        resolve(con, DAY1)
    queue = tmp_path / "queue.csv"
    done = _cli("--export", str(queue), "--warehouse", str(warehouse))
    assert done.returncode == 0, done.stderr
    with open(queue, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["record_key_l"], r["record_key_r"]) for r in rows] == [("erp:7", "shop:1"), ("erp:9", "shop:1")]
    assert rows[0]["first_name_folded_l"] == rows[0]["first_name_folded_r"] == "anna"
    rows[0]["decision"], rows[0]["note"] = "match", "checked the order history"
    with open(queue, "w", newline="", encoding="utf-8") as handle:  # the steward fills in one row
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = _cli("--import", str(queue), "--decided-by", "steward@example.org", "--warehouse", str(warehouse))
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(warehouse)) as con:
        labels = con.execute("select record_key_l, record_key_r, decision, decided_by, note "
                             "from intermediate.identity_labels").fetchall()
        assert labels == [("erp:7", "shop:1", "match", "steward@example.org", "checked the order history")]
        resolve(con, DAY2)
        assert build_review_queue(con) == 1
        ids = _ids(con)
        assert ids["erp:7"] == ids["shop:1"] != ids["erp:9"]
    bad = _decide(tmp_path, [("shop:1", "erp:9", "maybe", "")], "bad.csv")
    done = _cli("--import", str(bad), "--warehouse", str(warehouse))
    assert done.returncode == 1 and "maybe" in done.stderr


def test_evaluate_labels_reports_the_crosswalk_and_the_model_against_the_steward(tmp_path):
    """`c360 evaluate --labels`: four labelled pairs, whose expected confusion follows from the links
    written here (before the run that applies the labels, and after it)."""
    warehouse = tmp_path / "warehouse.duckdb"
    records = [_rec("shop:1", "anna", "mueller", date(1980, 1, 1), "anna@example.org"),
               _rec("erp:7", "anna", "mueller", date(1980, 1, 10), "a.mueller@example.org"),  # band 0.8
               _rec("helpdesk:3", "lena", "schmidt", None, None),  # band 0.55
               _rec("erp:8", "anna", "mueller", None, "anna@example.org"),  # linked at 0.95
               _rec("erp:9", "anna", "mueller", None, None)]  # never scored
    with duckdb.connect(str(warehouse)) as con:
        _warehouse(con, records, probable=[("erp:8", "shop:1", 0.95)],
                   band=[("erp:7", "shop:1", 0.8), ("helpdesk:3", "shop:1", 0.55)])
        resolve(con, DAY1)
        import_decisions(con, _decide(tmp_path, [("erp:7", "shop:1", "match", ""), ("helpdesk:3", "shop:1", "no_match", ""),
                                                 ("erp:8", "shop:1", "no_match", ""), ("erp:9", "shop:1", "match", "")]))
    run = subprocess.run([sys.executable, "-m", "c360_cli.main", "evaluate", "--labels", "--warehouse", str(warehouse)],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    before = json.loads(run.stdout)
    assert (before["labels"], before["match"], before["no_match"], before["records_gone"]) == (4, 2, 2, 0)
    # labels not applied yet: erp:8 is with shop:1 against the label, erp:7 and erp:9 apart against theirs
    expected = {"true_positive": 0, "false_positive": 1, "false_negative": 2, "true_negative": 1,
                "precision": 0.0, "recall": 0.0}
    assert before["crosswalk"] == expected
    assert before["model"] == {"threshold": 0.9, **expected}  # the model decided the same way at 0.9
    bands = {b["band"]: (b["match"], b["no_match"]) for b in before["bands"]}
    assert bands == {"not scored": (1, 0), "[0, 0.5)": (0, 0), "[0.5, 0.6)": (0, 1), "[0.6, 0.7)": (0, 0),
                     "[0.7, 0.8)": (0, 0), "[0.8, 0.9)": (1, 0), "[0.9, 1]": (0, 1)}
    # at 0.75 the model would have taken erp:7 too
    with duckdb.connect(str(warehouse)) as con:
        from c360.identity.evaluate import label_metrics, labelled_pairs

        assert label_metrics(labelled_pairs(con), 0.75)["model"]["true_positive"] == 1
        resolve(con, DAY2)  # the next run follows the labels
    after = evaluate_labels(warehouse)
    assert after["crosswalk"] == {"true_positive": 2, "false_positive": 0, "false_negative": 0, "true_negative": 2,
                                  "precision": 1.0, "recall": 1.0}
    assert after["model"] == before["model"]  # the scores did not change, only the crosswalk


def test_evaluate_labels_without_any_label_says_so(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _warehouse(con, [_rec("shop:1", "anna", "mueller", None, "anna@example.org")])
        resolve(con, DAY1)
        con.execute("drop table if exists intermediate.identity_labels")
    result = evaluate_labels(warehouse)
    assert (result["labels"], result["crosswalk"]["precision"], result["model"]["recall"]) == (0, None, None)
