"""Unit tests of the pure identity pieces: guards, clustering, stable ids, evaluation metrics."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from c360.identity.clustering import CERTAIN_WEIGHT, cluster
from c360.identity.evaluate import household_metrics, pairwise_metrics
from c360.identity.guards import (
    GuardConfig,
    apply_guards,
    first_name_conflict_sql,
    first_names_compatible,
    groups_compatible,
    guard_records,
    records_conflict,
    veto_links,
)
from c360.identity.stable_ids import assign_stable_ids, format_id


# --- guards ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "a,b,ok",
    [
        ("anna", "anna", True),
        ("anna", None, True),
        ("anna", "a", True),
        ("anna", "a.", True),
        ("anna", "b", False),
        ("anna", "anan", True),  # typo: swap
        ("sebastian", "sebastien", True),  # typo: replace
        ("matthias", "mathias", True),  # typo: drop
        ("anna", "andreas", False),  # household
        ("lukas", "lena", False),
        ("juergen", "jurgen", True),  # transliteration folded one way, typo the other
    ],
)
def test_first_names_compatible(a, b, ok):
    assert first_names_compatible(a, b) is ok


def test_sql_rule_agrees_with_python_rule():
    pairs = [("anna", "anna"), ("anna", "a"), ("anna", "b"), ("anna", "anan"), ("anna", "andreas"),
             ("sebastian", "sebastien"), ("lukas", "lena"), ("anna", None), ("matthias", "mathias")]
    con = duckdb.connect()
    for a, b in pairs:
        sql = first_name_conflict_sql("a", "b")
        conflict = con.execute(f"select coalesce({sql}, false) from (select ?::varchar as a, ?::varchar as b)", [a, b]).fetchall()[0][0]
        assert conflict is (not first_names_compatible(a, b)), (a, b)


def test_groups_compatible_blocks_chains_and_birthdays():
    assert groups_compatible({"anna", "a"}, {"anan"}, {date(1985, 4, 12)}, set())
    assert not groups_compatible({"anna", "a"}, {"andreas"}, set(), set())
    assert not groups_compatible({"anna"}, {"anna"}, {date(1985, 4, 12)}, {date(1990, 1, 1)})


def _records(con, rows, last_name="mueller"):
    con.execute(
        "create table recs (record_key varchar, first_name_folded varchar, birthday date, "
        "email_normalized varchar, phone_e164 varchar, street_normalized varchar, postcode varchar, "
        "last_name_folded varchar)"
    )
    con.executemany("insert into recs values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [row + (last_name,) if len(row) == 7 else row for row in rows])


def test_apply_guards_vetoes_and_caps():
    con = duckdb.connect()
    family = "familie@web.de"
    _records(con, [
        ("a1", "anna", "1985-04-12", family, "+4930111", "hauptstrasse 5", "10115"),
        ("a2", "anna", None, family, "+4930111", "hauptstrasse 5", "10115"),
        ("b1", "andreas", "1983-01-02", family, "+4930111", "hauptstrasse 5", "10115"),
        ("c1", "clara", "2010-06-01", family, "+4930111", "hauptstrasse 5", "10115"),
        ("x1", "a", None, family, None, None, None),
        ("d1", "dieter", "1950-01-01", "dieter@gmx.de", None, None, None),
        ("d2", "dieter", "1976-08-23", "dieter@gmx.de", None, None, None),  # father and son, not one typo
    ])
    con.execute("create table edges (record_key_l varchar, record_key_r varchar, rule varchar, match_probability double)")
    con.executemany("insert into edges values (?, ?, ?, ?)", [
        ("a1", "a2", "splink", 0.99),  # same first name: allowed even through the shared e-mail
        ("a1", "b1", "splink", 0.95),  # first name conflict
        ("a2", "x1", "splink", 0.9),  # initial through an e-mail with 3 first names: capped
        ("d1", "d2", "splink", 0.99),  # birthday conflict
        ("x1", "b1", "erp_number", None),  # certain link: not capped ('a' vs 'andreas' compatible)
    ])
    vetoes = apply_guards(con, "edges", "recs", "kept", GuardConfig(email_cap=2))
    kept = {tuple(r) for r in con.execute("select record_key_l, record_key_r from kept").fetchall()}
    assert kept == {("a1", "a2"), ("x1", "b1")}
    assert vetoes == {"first_name_conflict": 1, "shared_email_cap": 1, "birthday_conflict": 1}


def test_address_cap_passes_one_name_mistyped_but_not_its_other_gender_form():
    """Jackson's three records (one mistyped `jacison`, one with first and last name swapped) put three
    first names on his address and trip its cap; a typo of his own name must not cut him in two. At a
    household's address a name's other-gender form (daniel / daniela, alexander / alexandra) is
    another person, and the cap still keeps those links apart."""
    con = duckdb.connect()
    _records(con, [
        ("j1", "jackson", None, None, None, "slight place 12", "3219"),
        ("j2", "jacison", None, None, None, "slight place 12", "3219"),
        ("j3", "spratt", None, None, None, "slight place 12", "3219"),
        ("d1", "daniel", None, None, None, "hauptstrasse 5", "10115"),
        ("d2", "daniela", None, None, None, "hauptstrasse 5", "10115"),
        ("d3", "alexander", None, None, None, "hauptstrasse 5", "10115"),
        ("d4", "alexandra", None, None, None, "hauptstrasse 5", "10115"),
    ], last_name="spratt")
    con.execute("create table edges (record_key_l varchar, record_key_r varchar, rule varchar, "
                "match_probability double)")
    con.executemany("insert into edges values (?, ?, ?, ?)",
                    [("j1", "j2", "splink", 0.99), ("d1", "d2", "splink", 0.95), ("d3", "d4", "splink", 0.95)])
    vetoes = apply_guards(con, "edges", "recs", "kept", GuardConfig(address_cap=2))
    kept = {tuple(r) for r in con.execute("select record_key_l, record_key_r from kept").fetchall()}
    assert kept == {("j1", "j2")}
    assert vetoes == {"shared_address_cap": 2}
# (first name, last name, birthday, street, postcode) of two records, and whether a link between them is vetoed
FORGIVENESS_CASES = [
    # a household: same address and last name, other first names and birthdays
    (("anna", "mueller", "1985-04-12", "hauptstrasse 5", "10115"),
     ("andreas", "mueller", "1983-01-02", "hauptstrasse 5", "10115"), "first_name_conflict"),
    # a household member without birthday: the first names still decide
    (("anna", "mueller", "1985-04-12", "hauptstrasse 5", "10115"),
     ("andreas", "mueller", None, "hauptstrasse 5", "10115"), "first_name_conflict"),
    # first and last name swapped
    (("robbie", "lowe", "1968-04-28", "woolnough street 27", "4558"),
     ("lowe", "robbie", "1968-04-28", "ambalindum street 27", "4558"), None),
    # swapped, but birthdays far apart: still two people
    (("robbie", "lowe", "1968-04-28", "woolnough street 27", "4558"),
     ("lowe", "robbie", "1990-11-02", "woolnough street 27", "4558"), "birthday_conflict"),
    # another first name, same birthday and last name (a typed-over name; also what twins look like)
    (("april", "campbell", "1989-05-01", "clive steele avenue 101", "2913"),
     ("isabella", "campbell", "1989-05-01", "clive steele avenue 101", "2913"), None),
    # one typo in the birthday: a digit, neighbours swapped, day and month swapped
    (("nicholas", "rees", "1935-03-08", "murrell place 93", "5162"),
     ("nichohlas", "rees", "1935-04-08", "murrell place 24", "5162"), None),
    (("dominic", "elwan", "1989-08-12", None, None), ("dominic", "elwan", "1989-08-21", None, None), None),
    (("dominic", "elwan", "1989-08-15", None, None), ("dominic", "elwan", "1989-05-12", None, None),
     "birthday_conflict"),
    (("dominic", "elwan", "1989-08-12", None, None), ("dominic", "elwan", "1989-12-08", None, None), None),
    # another birthday, but the same first name, last name and address (a typed-over date; or father and son)
    (("charlotte", "maier", "1982-03-25", "mountain creek road 30", "4160"),
     ("charlotte", "maier", "1945-11-23", "mountain creek road 30", "4160"), None),
    # ... not at another address
    (("charlotte", "maier", "1982-03-25", "mountain creek road 30", "4160"),
     ("charlotte", "maier", "1945-11-23", "kevin street 8", "6450"), "birthday_conflict"),
    # ... and not with a similar first name only (jan and jana at one address)
    (("jan", "maier", "1982-03-25", "mountain creek road 30", "4160"),
     ("jana", "maier", "1985-11-23", "mountain creek road 30", "4160"), "birthday_conflict"),
]


def test_forgiven_typos_sql_and_python_agree():
    """The SQL guard (`veto_links`) and its Python twin (`records_conflict`, used by the cluster check)
    give the expected veto on each case."""
    con = duckdb.connect()
    rows, edges = [], []
    for i, (a, b, _) in enumerate(FORGIVENESS_CASES):
        for side, (first, last, bday, street, postcode) in (("l", a), ("r", b)):
            rows.append((f"{i}{side}", first, bday, None, None, street, postcode, last))
        edges.append((f"{i}l", f"{i}r", "splink", 0.99))
    _records(con, rows)
    con.execute("create table edges (record_key_l varchar, record_key_r varchar, rule varchar, match_probability double)")
    con.executemany("insert into edges values (?, ?, ?, ?)", edges)
    guard_records(con, "recs", "g", GuardConfig())
    veto_links(con, "edges", "g", "v")
    sql = dict(con.execute("select record_key_l, veto from v").fetchall())
    for i, (a, b, expected) in enumerate(FORGIVENESS_CASES):
        views = [{"first_name_folded": r[0], "last_name_folded": r[1],
                  "birthday": date.fromisoformat(r[2]) if r[2] else None, "street_normalized": r[3],
                  "postcode": r[4]} for r in (a, b)]
        assert sql[f"{i}l"] == expected, (a, b, sql[f"{i}l"])
        assert records_conflict(*views) == expected, (a, b)


def test_cluster_keeps_mistyped_copies_together_through_the_original():
    """Two copies of one record, mistyped in different fields, conflict with each other (another first
    name; another birthday) but not with the original: one cluster. Anna -phone- A. -email-
    Andreas stays apart: an initial is no bridge."""
    bday = np.array([date(1950, 3, 12), date(1950, 3, 12), date(1975, 7, 30)], dtype=object)
    others = {"last_name_folded": np.array(["hobson"] * 3, dtype=object),
              "street_normalized": np.array(["limestone avenue 10"] * 3, dtype=object),
              "postcode": np.array(["2614"] * 3, dtype=object)}
    res = cluster(3, [0, 0, 1], [1, 2, 2], [0.99, 0.98, 0.95], ["henry", "casey", "henry"], bday, others=others)
    assert _clusters(res.labels) == [[0, 1, 2]]
    chain = cluster(3, [0, 1], [1, 2], [0.99, 0.95], ["anna", "a", "andreas"], [None] * 3, others={
        "last_name_folded": np.array(["mueller"] * 3, dtype=object)})
    assert len(_clusters(chain.labels)) == 2


# --- clustering -----------------------------------------------------------------------------------

def _clusters(labels):
    groups = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, set()).add(i)
    return sorted(sorted(g) for g in groups.values())


def test_clustering_connected_components():
    res = cluster(5, [0, 1, 3], [1, 2, 4], [0.99, 0.98, CERTAIN_WEIGHT], [None] * 5, [None] * 5)
    assert _clusters(res.labels) == [[0, 1, 2], [3, 4]]
    assert res.split_components == 0


def test_clustering_breaks_a_chain_of_conflicting_names_at_the_weakest_link():
    names = ["anna", "a", "andreas"]
    # anna -0.99- a -0.95- andreas: the chain joins anna and andreas; the weaker link goes
    res = cluster(3, [0, 1], [1, 2], [0.99, 0.95], names, [None] * 3)
    assert _clusters(res.labels) == [[0, 1], [2]]
    assert res.split_components == 1 and res.dropped_edges == 1


def test_clustering_certain_links_win_over_probable_ones():
    names = ["anna", "a", "andreas"]
    res = cluster(3, [0, 1], [1, 2], [0.99, CERTAIN_WEIGHT], names, [None] * 3)
    assert _clusters(res.labels) == [[0], [1, 2]]


def test_clustering_size_cap_drops_weakest_edges():
    # a path of 6 records, weakest link in the middle: cap 3 splits it there
    w = [0.99, 0.98, 0.80, 0.97, 0.96]
    res = cluster(6, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], w, [None] * 6, [None] * 6, max_cluster_size=3)
    assert _clusters(res.labels) == [[0, 1, 2], [3, 4, 5]]
    assert max(np.bincount(res.labels)) <= 3


def test_clustering_birthday_conflict_splits():
    bdays = [date(1980, 1, 1), None, date(1990, 1, 1)]
    res = cluster(3, [0, 1], [1, 2], [0.9, 0.95], ["tom"] * 3, bdays)
    assert _clusters(res.labels) == [[0], [1, 2]]


# --- stable ids -----------------------------------------------------------------------------------

def _assign(clusters: dict, previous: dict | None, day=date(2026, 11, 21)):
    cl = pd.DataFrame([(k, c) for c, keys in clusters.items() for k in keys], columns=["record_key", "cluster"])
    prev = None
    if previous:
        prev = pd.DataFrame([(k, g) for g, keys in previous.items() for k in keys],
                            columns=["record_key", "golden_customer_id"])
    res = assign_stable_ids(cl, prev, day)
    ids = dict(zip(res.crosswalk["record_key"], res.crosswalk["golden_customer_id"]))
    return res, ids


def test_first_run_numbers_clusters_in_key_order():
    res, ids = _assign({"x": ["b1", "b2"], "y": ["a1"]}, None)
    assert ids == {"a1": format_id(1), "b1": format_id(2), "b2": format_id(2)}
    assert res.history.empty


def test_ids_are_kept_and_new_records_join():
    prev = {format_id(1): ["a1", "a2"], format_id(2): ["b1"]}
    res, ids = _assign({0: ["a1", "a2", "a3"], 1: ["b1"], 2: ["c1"]}, prev)
    assert ids["a3"] == format_id(1) and ids["b1"] == format_id(2)
    assert ids["c1"] == format_id(3)
    assert res.history.empty and res.stats["ids_kept"] == 2


def test_merge_keeps_the_older_id_and_records_the_other():
    prev = {format_id(1): ["a1"], format_id(2): ["a2", "a3"]}
    res, ids = _assign({0: ["a1", "a2", "a3"]}, prev)
    assert set(ids.values()) == {format_id(1)}
    h = res.history
    assert list(h["event_type"]) == ["merged"]
    assert h.iloc[0]["golden_customer_id"] == format_id(1)
    assert h.iloc[0]["related_golden_customer_id"] == format_id(2)
    assert h.iloc[0]["event_date"] == date(2026, 11, 21)


def test_split_gives_a_new_id_and_records_it():
    prev = {format_id(5): ["a1", "a2", "b1"]}
    res, ids = _assign({0: ["a1", "a2"], 1: ["b1"]}, prev)
    assert ids["a1"] == ids["a2"] == format_id(5)
    assert ids["b1"] == format_id(6)
    h = res.history
    assert list(h["event_type"]) == ["split"]
    assert (h.iloc[0]["golden_customer_id"], h.iloc[0]["related_golden_customer_id"]) == (format_id(6), format_id(5))


def test_retired_ids_are_never_reused():
    prev = {format_id(1): ["a1"]}
    cl = pd.DataFrame({"record_key": ["a1", "b1"], "cluster": [0, 1]})
    res = assign_stable_ids(cl, pd.DataFrame({"record_key": ["a1"], "golden_customer_id": [format_id(1)]}),
                            date(2026, 1, 1), last_id_number=9)
    assert dict(zip(res.crosswalk["record_key"], res.crosswalk["golden_customer_id"]))["b1"] == format_id(10)


# --- evaluation -----------------------------------------------------------------------------------

def _xw(rows, col):
    return pd.DataFrame(rows, columns=["source_system", "source_record_id", col])


def test_pairwise_metrics_on_hand_made_truth():
    truth = _xw([("shop", "1", "p1"), ("erp", "1", "p1"), ("helpdesk", "1", "p1"),
                 ("shop", "2", "p2"), ("shop", "3", "p2"), ("shop", "4", "p3")], "person_id")
    # p1 split in two (lose 2 of 3 pairs), p2 correct, p3 wrongly merged into p2 (2 false pairs)
    pred = _xw([("shop", "1", "g1"), ("erp", "1", "g1"), ("helpdesk", "1", "g9"),
                ("shop", "2", "g2"), ("shop", "3", "g2"), ("shop", "4", "g2")], "golden_customer_id")
    m = pairwise_metrics(pred, truth)
    # predicted pairs: g1 1 + g2 3 = 4; true pairs: p1 3 + p2 1 = 4; correct: 1 + 1 = 2
    assert (m["predicted_pairs"], m["true_pairs"], m["correct_pairs"]) == (4, 4, 2)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["exact_person_share"] == 0.0
    perfect = pairwise_metrics(truth.rename(columns={"person_id": "golden_customer_id"}), truth)
    assert perfect["precision"] == perfect["recall"] == perfect["exact_person_share"] == 1.0


def test_household_metrics():
    truth = _xw([("shop", "1", "p1"), ("shop", "2", "p1"), ("shop", "3", "p2"), ("shop", "4", "p3")], "person_id")
    pred = _xw([("shop", "1", "g1"), ("shop", "2", "g1"), ("shop", "3", "g1"), ("shop", "4", "g4")],
               "golden_customer_id")
    records = pd.DataFrame({
        "source_system": ["shop"] * 4, "source_record_id": ["1", "2", "3", "4"],
        "phone_e164": ["+49301"] * 4, "street_normalized": ["hauptstrasse 5"] * 4, "postcode": ["10115"] * 4,
    })
    m = household_metrics(pred, truth, records)
    assert m["household_pairs"] == 6
    assert m["household_pairs_different_people"] == 5
    assert m["household_pairs_wrongly_merged"] == 2  # 1-3, 2-3
    assert m["household_precision"] == round(1 / 3, 6)


def test_fallback_m_fills_unseen_levels_and_trained_m_keep_what_is_left():
    """EM saw only disagreeing birthdays (m(else) = 1.0 over the levels it saw): with the fallback's m
    for the three levels it did not see, a comparison's m sum to 1, and a disagreeing birthday is
    evidence against a match again. A comparison EM saw in full keeps its trained m; one it did not
    see takes the fallback's."""
    from c360.identity.matching import FALLBACK_M_U, settings, with_fallback_m_u

    model = settings()
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if comparison["output_column_name"] == "birthday" and level["label_for_charts"] == "else":
                level["m_probability"], level["u_probability"] = 1.0, 0.98
            if comparison["output_column_name"] == "email" and not level.get("is_null_level"):
                level["m_probability"] = {"exact": 0.9, "else": 0.1}[level["label_for_charts"]]
    filled = {c["output_column_name"]: {lv["label_for_charts"]: lv.get("m_probability")
                                        for lv in c["comparison_levels"] if not lv.get("is_null_level")}
              for c in with_fallback_m_u(model)["comparisons"]}
    birthday = filled["birthday"]
    fallback = FALLBACK_M_U["birthday"]
    assert birthday["exact"] == fallback["exact"][0] and birthday["one typo"] == fallback["one typo"][0]
    assert sum(birthday.values()) == pytest.approx(1.0)
    unseen = fallback["exact"][0] + fallback["one typo"][0] + fallback["same year"][0]
    assert birthday["else"] == pytest.approx(1 - unseen)
    assert birthday["else"] < 0.98  # m < u: a disagreeing birthday lowers the match weight
    assert filled["email"] == {"exact": 0.9, "else": 0.1}
    # a comparison EM did not see at all takes the fallback's own m, not another comparison's
    assert filled["mobile"] == {label: m for label, (m, _) in FALLBACK_M_U["mobile"].items()}
