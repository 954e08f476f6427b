"""The quality suites on small DataFrames: a good frame passes; each defect fails with the right
expectation named and example rows. No warehouse, no Dagster: `c360.quality.validate` only."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from c360.quality import get_suite, load_suites, validate
from c360.quality.docs import write_validation
from c360.quality.sql import validate_sql
from c360.quality.suites import suite_from_dict


def shop_customers(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [str(7000000000 + i) for i in range(n)],
        "email": [f"person{i}@example.de" if i % 4 else None for i in range(n)],
        "state": ["enabled"] * n,
        "consent_state": ["subscribed", "not_subscribed"] * (n // 2),
        "created_at": ["2025-01-01T10:00:00+01:00"] * n,
        "updated_at": ["2025-02-01T10:00:00+01:00"] * n,
    })


def test_every_suite_loads_and_names_known_expectations():
    suites = load_suites()
    assert {s.layer for s in suites} == {"raw", "staging", "golden", "kpis"}
    import great_expectations as gx

    for suite in suites:
        assert suite.expectations, suite.name
        for e in suite.expectations:
            assert hasattr(gx.expectations, "".join(p.capitalize() for p in e.type.split("_"))), e.type


def test_good_shop_customers_pass():
    result = validate(shop_customers(), get_suite("raw_shop_customers"))
    assert result.success, [f.summary() for f in result.failures]
    assert result.failures == [] and result.rows == 40


def test_invalid_emails_fail_with_examples():
    df = shop_customers(50)
    bad = df.index[df.email.notna()][:10]  # 10 of 37 present addresses: 27 %
    df.loc[bad, "email"] = "kein-at-zeichen.de"
    result = validate(df, get_suite("raw_shop_customers"))
    assert not result.success
    assert result.failed_expectations == ["expect_column_values_to_match_regex"]
    failure = result.failure("expect_column_values_to_match_regex", "email")
    assert failure.unexpected_count == 10
    assert failure.examples and all(row["email"] == "kein-at-zeichen.de" for row in failure.examples)
    assert {"id", "email"} <= set(failure.examples[0])


@pytest.mark.parametrize("column, value", [("state", "suspended"), ("consent_state", "maybe")])
def test_a_new_value_of_an_open_set_warns_and_passes(column, value):
    """A Shopify customer state or consent state not seen before: a warning naming the value and its
    count; the suite passes."""
    df = shop_customers()
    df.loc[[3, 5, 8], column] = value
    result = validate(df, get_suite("raw_shop_customers"))
    assert result.success and result.failures == []
    warning = result.warning("expect_column_values_to_be_in_set", column)
    assert warning is not None and warning.severity == "warn"
    assert warning.unexpected_count == 3 and warning.unexpected_values == [{"value": value, "count": 3}]
    assert f"{value!r} x3" in warning.summary()


def test_open_sets_warn_and_structure_blocks():
    """Which raw expectations only warn: the in-set checks of vendor enums (states, channels, roles,
    types); the ones of structure (the survey's own types, score scales, JSON shapes, the ERP
    domain's fixed values) and every not-null, unique, regex and range check block. Beyond raw only
    the golden customers' typo birthdays warn."""
    warned = {(s.name, e.column) for s in load_suites() if s.layer == "raw" for e in s.expectations
              if not e.blocking}
    assert warned == {
        ("raw_shop_customers", "state"), ("raw_shop_customers", "consent_state"),
        ("raw_shop_orders", "financial_status"), ("raw_erp_sale_orders", "state"), ("raw_erp_credit_notes", "state"),
        ("raw_helpdesk_users", "role"), ("raw_helpdesk_tickets", "channel"), ("raw_helpdesk_tickets", "status"),
        ("raw_helpdesk_tickets", "rating"), ("raw_helpdesk_satisfaction_ratings", "score"),
        ("raw_helpdesk_csat_survey_responses", "rating_category"),
        ("raw_accounting_vouchers", "voucher_type"), ("raw_accounting_vouchers", "voucher_status")}
    # beyond raw, two warnings: golden customers holding birthdays one typo apart, or far apart where name and
    # address agree (the guards merge both)
    assert {(s.name, e.type, e.column) for s in load_suites() for e in s.expectations
            if not e.blocking and s.layer != "raw"} == {
        ("golden_clusters", "expect_column_values_to_be_between", "distinct_birthdays"),
        ("golden_clusters", "expect_column_values_to_be_between", "birthdays_far_apart_allowed")}
    assert all(e.type == "expect_column_values_to_be_in_set" for s in load_suites() if s.layer == "raw"
               for e in s.expectations if not e.blocking)


def test_a_warning_beside_a_blocking_failure_still_fails():
    df = shop_customers()
    df.loc[3, "state"] = "suspended"
    df.loc[4, "id"] = None
    result = validate(df, get_suite("raw_shop_customers"))
    assert not result.success
    assert result.failed_expectations == ["expect_column_values_to_not_be_null"]
    assert result.warning("expect_column_values_to_be_in_set", "state").unexpected_values == \
        [{"value": "suspended", "count": 1}]


def test_an_unknown_severity_is_refused():
    with pytest.raises(ValueError, match="severity"):
        suite_from_dict({"name": "x", "asset": ["raw", "x"], "query": "select 1",
                         "expectations": [{"type": "expect_column_values_to_be_unique", "column": "id",
                                           "severity": "info"}]})


def test_a_few_dirty_emails_are_tolerated():
    df = shop_customers(100)
    df.loc[1, "email"] = "dirty@@example"  # 1 of 75: under the 5 % tolerance
    df.loc[2, "email"] = "  Padded@Example.DE\t"  # surrounding blanks are tolerated
    assert validate(df, get_suite("raw_shop_customers")).success


@pytest.mark.parametrize("column, value, expectation", [
    ("id", None, "expect_column_values_to_not_be_null"),
    ("created_at", None, "expect_column_values_to_not_be_null"),
])
def test_each_shop_customer_defect_is_named(column, value, expectation):
    df = shop_customers()
    df.loc[3, column] = value
    result = validate(df, get_suite("raw_shop_customers"))
    assert not result.success
    failure = result.failure(expectation, column)
    assert failure is not None, [f.label for f in result.failures]
    assert failure.unexpected_count == 1
    assert failure.examples, failure


def test_duplicate_id_fails_uniqueness_with_both_rows():
    df = shop_customers()
    df.loc[5, "id"] = df.loc[4, "id"]
    result = validate(df, get_suite("raw_shop_customers"))
    failure = result.failure("expect_column_values_to_be_unique", "id")
    assert failure is not None and failure.unexpected_count == 2
    assert {row["id"] for row in failure.examples} == {df.loc[4, "id"]}


def shop_orders() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["1", "2", "3"], "financial_status": ["paid", "refunded", "pending"], "currency": ["EUR"] * 3,
        "total_price": [10.0, 20.0, 0.0], "created_at": ["2025-01-01"] * 3,
    })


def test_shop_financial_status_value_set():
    assert validate(shop_orders(), get_suite("raw_shop_orders")).success
    df = shop_orders()
    df.loc[1, "financial_status"] = "stolen"
    df.loc[2, "total_price"] = -5.0
    result = validate(df, get_suite("raw_shop_orders"))
    assert {f.label for f in result.failures} == {"expect_column_values_to_be_between(total_price)"}
    assert {f.label for f in result.warnings} == {"expect_column_values_to_be_in_set(financial_status)"}
    assert result.warning("expect_column_values_to_be_in_set").examples == [
        {"id": "2", "financial_status": "stolen"}]


def test_erp_state_and_helpdesk_channel_value_sets():
    erp = pd.DataFrame({"id": ["1", "2"], "state": ["done", "shipped"], "partner_id": ["7", "8"],
                        "amount_total": [1.0, 2.0], "amount_untaxed": [1.0, 2.0]})
    result = validate(erp, get_suite("raw_erp_sale_orders"))
    assert result.success and result.failed_expectations == []
    assert result.warnings[0].examples[0]["state"] == "shipped"
    tickets = pd.DataFrame({"id": ["1", "2"], "requester_id": ["5", "6"], "channel": ["email", "pigeon"],
                            "status": ["open", "solved"], "rating": ["good", "bad"]})
    result = validate(tickets, get_suite("raw_helpdesk_tickets"))
    assert result.success
    assert result.warning("expect_column_values_to_be_in_set", "channel").examples[0]["channel"] == "pigeon"
    tickets.loc[0, "requester_id"] = None  # invalid, not merely new: blocks
    assert not validate(tickets, get_suite("raw_helpdesk_tickets")).success


def clusters() -> pd.DataFrame:
    return pd.DataFrame({
        "golden_customer_id": ["g1", "g2", "g3"], "records": [3, 1, 2], "distinct_birthdays": [1, 0, 1],
        "birthdays_far_apart": [0, 0, 0], "birthdays_far_apart_allowed": [0, 0, 0],
        "birthdays": ["1980-01-01", None, "1975-05-05"], "source_records": ["shop:1, erp:2, helpdesk:3", "shop:4", "shop:5, erp:6"],
    })


def test_golden_clusters_two_birthdays_and_oversized_cluster():
    suite = get_suite("golden_clusters")
    assert validate(clusters(), suite).success
    df = clusters()
    df.loc[0, ["distinct_birthdays", "birthdays_far_apart", "birthdays"]] = [2, 1, "1980-01-01, 1991-09-09"]
    df.loc[2, "records"] = 41
    result = validate(df, suite)
    birthdays = result.failure("expect_column_values_to_be_between", "birthdays_far_apart")
    assert birthdays.examples[0]["golden_customer_id"] == "g1"
    sizes = result.failure("expect_column_values_to_be_between", "records")
    assert sizes.examples[0]["golden_customer_id"] == "g3"


def test_golden_clusters_a_typo_birthday_warns_and_far_apart_ones_block_past_a_share():
    """One person's birthday typed over (one digit) is a warning; two birthdays far apart in one golden
    customer block only past 1 in 2,000 (a guard's rare, documented merge vs a broken guard)."""
    suite = get_suite("golden_clusters")
    many = pd.DataFrame({"golden_customer_id": [f"g{i}" for i in range(4000)], "records": 2,
                         "distinct_birthdays": 1, "birthdays_far_apart": 0, "birthdays_far_apart_allowed": 0,
                         "birthdays": "1980-01-01",
                         "source_records": "shop:1, erp:2"})
    typo = many.copy()
    typo.loc[0, ["distinct_birthdays", "birthdays"]] = [2, "1980-01-01, 1980-01-07"]
    result = validate(typo, suite)
    assert result.success
    assert result.warning("expect_column_values_to_be_between", "distinct_birthdays").examples[0]["golden_customer_id"] == "g0"
    one_far = typo.copy()
    one_far.loc[1, ["distinct_birthdays", "birthdays_far_apart"]] = [2, 1]
    assert validate(one_far, suite).success  # 1 in 4,000
    three_far = one_far.copy()
    three_far.loc[[2, 3], ["distinct_birthdays", "birthdays_far_apart"]] = [2, 1]
    assert not validate(three_far, suite).success  # 3 in 4,000


def test_golden_clusters_query_tells_typos_from_far_apart_birthdays():
    """The suite's SQL on a tiny crosswalk: a one-digit typo, a day/month swap and a neighbour swap are
    near; a birthday in another year is far."""
    import duckdb

    con = duckdb.connect()
    con.execute("create schema marts; create schema intermediate")
    rows = [("g1", "a", "1980-01-01"), ("g1", "b", "1980-01-07"),  # one digit
            ("g2", "c", "1980-03-04"), ("g2", "d", "1980-04-03"),  # day and month swapped
            ("g3", "e", "1980-12-01"), ("g3", "f", "1980-12-01"),  # the same
            ("g4", "g", "1980-01-12"), ("g4", "h", "1980-01-21"),  # neighbours swapped
            ("g5", "i", "1980-01-01"), ("g5", "j", "1991-09-09"), ("g5", "k", "1980-01-02")]  # far + near
    # far apart, as the guards allow: the same first name, a last name one typo away, one address (a
    # postcode typo); then the same with another first name, and with another street
    person = ("joel", "bowran", "port arthur street 16", "3927")
    allowed = [("g6", "l", "1936-01-17", person), ("g6", "m", "1967-04-12", ("joel", "bowran", "port arthur street 16", "3972"))]
    broken = [("g7", "n", "1936-01-17", person), ("g7", "o", "1967-04-12", ("jane", "bowran", "port arthur street 16", "3927")),
              ("g8", "p", "1936-01-17", person), ("g8", "q", "1967-04-12", ("joel", "bowren", "kosciusko avenue 2", "3927"))]
    con.execute("create table marts.golden_customer_sources (golden_customer_id varchar, record_key varchar, "
                "source_system varchar, source_record_id varchar)")
    con.execute("create table intermediate.int_customer_records (record_key varchar, birthday date, first_name_folded varchar, "
                "last_name_folded varchar, street_normalized varchar, postcode varchar)")
    for golden_id, key, birthday, fields in [(*row, (None,) * 4) for row in rows] + allowed + broken:
        con.execute("insert into marts.golden_customer_sources values (?, ?, 'shop', ?)", [golden_id, key, key])
        con.execute("insert into intermediate.int_customer_records values (?, ?, ?, ?, ?, ?)", [key, birthday, *fields])
    got = {g: (far, allowed_far) for g, far, allowed_far in con.execute(
        f"select golden_customer_id, birthdays_far_apart, birthdays_far_apart_allowed "
        f"from ({get_suite('golden_clusters').query})").fetchall()}
    assert got == {"g1": (0, 0), "g2": (0, 0), "g3": (0, 0), "g4": (0, 0), "g5": (2, 0), "g6": (0, 1), "g7": (1, 0),
                   "g8": (1, 0)}


def test_crosswalk_records_mapped_exactly_once():
    suite = get_suite("golden_crosswalk_records")
    good = pd.DataFrame({"record_key": ["shop:1", "erp:2"], "source_system": ["shop", "erp"], "golden_ids": [1, 1]})
    assert validate(good, suite).success
    bad = good.copy()
    bad.loc[1, "golden_ids"] = 0  # an unmapped record
    failure = validate(bad, suite).failure("expect_column_values_to_be_between", "golden_ids")
    assert failure.examples == [{"record_key": "erp:2", "golden_ids": 0}]


def test_linked_share_bounds():
    suite = get_suite("golden_linked_share")
    assert validate(pd.DataFrame({"linked_share": [0.7], "golden_per_record": [0.4]}), suite).success
    result = validate(pd.DataFrame({"linked_share": [0.05], "golden_per_record": [0.97]}), suite)
    assert result.failed_expectations == ["expect_column_values_to_be_between"]
    # every person in two systems, each record linked to its twin: no over-merging
    assert validate(pd.DataFrame({"linked_share": [1.0], "golden_per_record": [0.5]}), suite).success
    merged = validate(pd.DataFrame({"linked_share": [0.995], "golden_per_record": [0.04]}), suite)
    assert merged.failure("expect_column_values_to_be_between", "golden_per_record") is not None


def test_kpi_ranges():
    suite = get_suite("kpi_daily_ranges")
    good = pd.DataFrame({"period_start": ["2026-01-01", "2026-01-02"], "nps": [35.0, -100.0], "nps_n": [40, 3],
                         "nps_ci_low": [20.0, -100.0], "nps_ci_high": [50.0, -100.0],
                         "csat": [80.0, None], "csat_ci_low": [70.0, None], "csat_ci_high": [88.0, None],
                         "csat_n": [40, 0], "helpdesk_good_rating_pct": [70.0, 50.0],
                         "retention_rate_pct": [12.0, None], "churn_rate_pct": [3.0, None], "customers_reactivated": [2, 0],
                         "repeat_purchase_rate_pct": [30.0, 30.0], "cart_abandonment_rate_pct": [10.0, 0.0],
                         "return_rate_pct": [5.0, 0.0], "invoice_share_pct": [20.0, 21.0],
                         # paid at checkout before midnight, invoiced after it: legitimate, must not stop segments
                         "median_days_to_pay": [3, -1]})
    assert validate(good, suite).success
    bad = good.copy()
    bad.loc[1, "nps"] = 140.0
    bad.loc[0, "nps_n"] = -1
    bad.loc[0, "median_days_to_pay"] = -400  # a date mix-up, not a prepayment
    bad.loc[0, "csat_ci_high"] = 100.5  # an interval outside the scale
    bad.loc[0, "retention_rate_pct"] = 101.0  # the old (E - N) / S counted reactivated customers as retained
    result = validate(bad, suite)
    assert {f.label for f in result.failures} == {"expect_column_values_to_be_between(nps)",
                                                  "expect_column_values_to_be_between(nps_n)",
                                                  "expect_column_values_to_be_between(csat_ci_high)",
                                                  "expect_column_values_to_be_between(retention_rate_pct)",
                                                  "expect_column_values_to_be_between(median_days_to_pay)"}
    assert result.failure("expect_column_values_to_be_between", "nps").examples[0]["nps"] == 140.0


def test_revenue_reconciliation():
    suite = get_suite("kpi_customer_revenue_reconciles")
    df = pd.DataFrame({"golden_customer_id": ["g1", "g2"], "orders_net_difference": [0.0, 0.0],
                       "orders_count_difference": [0, 0], "net_revenue_above_orders_net": [-10.0, 0.0]})
    assert validate(df, suite).success
    df.loc[1, "orders_net_difference"] = 25.5
    failure = validate(df, suite).failure("expect_column_values_to_be_between", "orders_net_difference")
    assert failure.examples[0]["golden_customer_id"] == "g2"


def test_booked_revenue_reconciliation():
    suite = get_suite("kpi_booked_revenue_reconciles")
    df = pd.DataFrame({"period_start": ["2026-01-01", "2026-02-01"], "booked_difference": [0.0, 0.0],
                       "is_in_kpi_table": [1, 1]})
    assert validate(df, suite).success
    df.loc[1, "booked_difference"] = -0.01  # a cent lost between the vouchers and the month
    df.loc[0, "is_in_kpi_table"] = 0  # a booked month without its row
    result = validate(df, suite)
    assert result.failure("expect_column_values_to_be_between", "booked_difference").examples[0]["period_start"] == "2026-02-01"
    assert result.failure("expect_column_values_to_be_between", "is_in_kpi_table").examples[0]["period_start"] == "2026-01-01"


def test_results_are_kept_as_json_and_html(tmp_path):
    suite = get_suite("raw_shop_customers")
    df = shop_customers()
    df.loc[0:9, "email"] = "broken"
    result = validate(df, suite)
    json_path, html_path = write_validation(result, suite, run_id="run-1", directory=tmp_path / "run-1")
    payload = json.loads(json_path.read_text())
    assert payload["success"] is False and payload["c360"]["failed"] == ["expect_column_values_to_match_regex(email)"]
    assert payload["results"], "the GX result is kept"
    page = html_path.read_text()
    assert "FAILED" in page and "broken" in page and "expect_column_values_to_match_regex" in page
    assert (tmp_path / "run-1" / "index.html").read_text().count("raw_shop_customers") >= 1


def test_plain_sql_twin_agrees_with_gx():
    """The plain-SQL version of a suite (benchmark) finds the same failing expectations."""
    import duckdb

    df = shop_customers(60)
    df.loc[0:15, "email"] = "broken"
    df.loc[20, "state"] = "zombie"
    suite = suite_from_dict({
        "name": "t", "asset": ["raw", "t"], "query": "select * from t", "id_columns": ["id"],
        "expectations": [dict(type=e.type, **e.kwargs) for e in get_suite("raw_shop_customers").expectations],
    })
    con = duckdb.connect()
    con.register("t", df)
    sql_failed = {label for label, ok in validate_sql(con, suite).items() if not ok}
    gx_failed = {f.label for f in validate(df, suite).failures}
    assert sql_failed == gx_failed == {"expect_column_values_to_match_regex(email)",
                                       "expect_column_values_to_be_in_set(state)"}
