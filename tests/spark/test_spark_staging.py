"""The same dbt models on dbt-spark and on dbt-duckdb give the same rows.

The raw records are those of the DuckDB staging test (a generated world plus hand-written records with
every phone notation, name form, soft delete and link key of the contract), landed into a DuckDB raw
layer and copied into a raw zone; each engine builds the staging models and identity's inputs from
its own copy, resolves identity (Splink on DuckDB; Splink's Spark backend scoring the pairs with the
model trained on the driver, `c360.identity.on_spark`), then builds the facts on its own crosswalk;
every row must agree, column by column.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from c360.identity.on_spark import resolve_on_spark
from c360.kpis.clv_store import write_predictions, write_predictions_on_spark
from c360.nps_import import import_nps_files
from c360.quality.runner import validate
from c360.quality.scope import validate_on_spark
from c360.quality.suites import load_suites, suite_from_dict
from c360.raw_zone import ZONE_SELECT, RawZone
from c360.spark_dbt import nfc_normalize, prepare_session, strip_accents
from demo_sources.nps_export import write_export
from tests.conftest import make_world_serving_every_resource, serving, using_warehouse
from tests.dbt.test_staging import SPECS, hand_written_records, land_records

# the staging models built on both engines, with the raw table each reads
PORTED_MODELS = {
    # the customer records of the four systems, which identity resolution reads
    "stg_shop__customers": "shop_customers",
    "stg_helpdesk__users": "helpdesk_users",
    "stg_accounting__contacts": "accounting_contacts",
    "stg_erp__partners": "erp_partners",
    # the ERP's orders, products and credit notes (incremental models on DuckDB)
    "stg_erp__sale_orders": "erp_sale_orders",
    "stg_erp__sale_order_lines": "erp_sale_order_lines",
    "stg_erp__products": "erp_products",
    "stg_erp__credit_notes": "erp_credit_notes",
    "stg_erp__credit_note_lines": "erp_credit_note_lines",
    # ratings, vouchers (their Berlin days), NPS answers, abandoned checkouts
    "stg_helpdesk__satisfaction_ratings": "helpdesk_satisfaction_ratings",
    "stg_accounting__vouchers": "accounting_vouchers",
    "stg_shop__checkouts": "shop_checkouts",
    # one row per element of a JSON array: a voucher's payment items
    "stg_accounting__payments": "accounting_payments",
    "stg_helpdesk__csat_survey_responses": "helpdesk_csat_survey_responses",
    # lists of a record: the tickets' tags and custom fields (the order named by an agent)
    "stg_helpdesk__tickets": "helpdesk_tickets",
    # the shop's orders and what is nested in them: line items, refunds and their lines (list sums)
    "stg_shop__orders": "shop_orders",
    "stg_shop__order_lines": "shop_orders",
    "stg_shop__refunds": "shop_orders",
    "stg_shop__refund_lines": "shop_orders",
    # the NPS answers of the survey tool's export, imported from a file into the raw zone as well
    "stg_nps__responses": "nps_responses",
    # objections to direct marketing (none recorded: the model's columns without rows)
    "stg_privacy__objections": None,
    # identity's inputs: every customer record in one shape, and the links certain from shared keys
    "int_customer_records": None,
    "int_identity_certain_links": None,
    # a business fact from staging alone: units returned per ERP order line, from posted credit notes
    "int_erp_order_line_returns": None,
    # the set-aside verdict on every landed record of every raw table, and the shares the gate reads
    "stg_record_checks": None,
    "stg_set_aside_records": None,
    "stg_set_aside_shares": None,
}
RAW_TABLES = tuple(sorted(set(PORTED_MODELS.values()) - {None}))
# The facts of the golden customers and the orders' economics, built by each engine on its own crosswalk,
# with the columns that order their rows.
FACT_MODELS = {
    "fct_orders": ("order_key",), "fct_order_lines": ("order_line_key",), "fct_refunds": ("refund_key",),
    "fct_invoices": ("invoice_id",), "fct_payments": ("payment_id",), "fct_tickets": ("ticket_id",),
    "fct_survey_responses": ("survey_type", "survey_response_id"), "fct_checkouts": ("checkout_id",),
    "unresolved_facts": ("fact_table",), "int_order_values": ("order_key",),
    # the golden customer table, consent events and the company KPIs (as of one day, C360_AS_OF)
    "golden_customers": ("golden_customer_id",), "int_marketing_objections": ("golden_customer_id",),
    "consent_history": ("golden_customer_id", "event_at", "event", "record_key", "request_id"),
    "int_company_kpis": ("grain", "period_start"), "kpi_daily": ("period_start",), "kpi_monthly": ("period_start",),
    "kpi_daily_booked": ("period_start",), "kpi_monthly_booked": ("period_start",),
}
# the customer KPIs, built by each engine after the CLV fit on the driver from its own counted orders,
# and the segments from them
KPI_MODELS = {"customer_kpis": ("golden_customer_id",), "customer_segments": ("golden_customer_id",),
              **{segment: ("golden_customer_id",) for segment in (
                  "besonders_profitabel", "treue_kunden", "abwanderungsgefaehrdet", "loyal_low_revenue",
                  "unprofitabel", "nach_schlechter_erfahrung")}}
# columns that say when identity ran, not what it found (each engine resolved in its own run)
RUN_TIME_COLUMNS = {"resolved_at"}
MIN_ROWS = {"stg_nps__responses": 15, "unresolved_facts": 8,
            "stg_erp__products": 20, "stg_erp__credit_notes": 5, "stg_erp__credit_note_lines": 5,
            "stg_helpdesk__satisfaction_ratings": 30, "stg_shop__checkouts": 30,
            "stg_set_aside_records": 3, "stg_set_aside_shares": 10, "stg_helpdesk__csat_survey_responses": 30,
            "stg_shop__refunds": 10, "stg_shop__refund_lines": 10,
            "stg_privacy__objections": 0, "int_identity_certain_links": 5, "int_erp_order_line_returns": 3,
            "kpi_monthly": 20, "kpi_monthly_booked": 20, "int_marketing_objections": 0,
            **dict.fromkeys(("besonders_profitabel", "treue_kunden", "abwanderungsgefaehrdet",
                             "unprofitabel", "nach_schlechter_erfahrung"), 1),
            # nobody of this world is loyal with low revenue: customer_segments compares the flag
            "loyal_low_revenue": 0}
# models with several rows per record: the order that makes their rows comparable
ORDER_BY = {"stg_accounting__payments": ("payment_id",),
            "int_customer_records": ("record_key",),
            "int_identity_certain_links": ("record_key_l", "record_key_r", "link_rule"),
            "int_erp_order_line_returns": ("sale_order_line_id",),
            "stg_privacy__objections": ("objection_record_id",),
            "stg_record_checks": ("source_table", "source_record_id"),
            "stg_set_aside_records": ("source_table", "source_record_id"),
            "stg_set_aside_shares": ("source_table",)}
RUN_DATE = date(2026, 12, 1)
DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
# NPS answers beside the world's: Berlin local times without an offset in winter and summer, an offset,
# an e-mail in capitals with blanks, a customer reference alone, text with commas and umlauts
HAND_WRITTEN_NPS = """response_id;responded_at;email;customer_reference;score;comment;survey
h-1;2026-01-15 23:30:00; Anna.MUELLER@Web.DE ;;10;"Schnell, gut";NPS
h-2;2026-07-01T00:15:00;;7000000123;0;Nie wieder: Lieferung fehlte;NPS Q3
h-3;2026-03-29T02:30:00+02:00;jörg@beispiel.de;;7;;
"""


def comparable(value):
    """A cell as both engines hand it to Python: instants as naive UTC, decimals and floats rounded."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, float) and not math.isnan(value):
        return round(value, 9)
    if isinstance(value, Decimal):
        return round(float(value), 9)
    return value


def records_to_set_aside(records: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Copies of served records that landing accepts and staging sets aside: an id beyond 64 bits,
    business dates outside the plausible window."""
    def copy(key: str, **changes) -> dict:
        return {**records[key][0], **changes}

    return {
        "helpdesk/users": [copy("helpdesk/users", id=2**63), copy("helpdesk/users", id=2**63 + 1)],
        "accounting/vouchers": [copy("accounting/vouchers", id="00000000-0000-4000-8000-000000000001",
                                     voucherDate="1999-12-31T00:00:00.000+01:00")],
        "erp/sale.order": [copy("erp/sale.order", id=999_999_001, date_order="2099-01-01 00:00:00")],
    }


@pytest.fixture(scope="module")
def both_engines(spark, tmp_path_factory):
    """A DuckDB connection to the warehouse with the models built, the raw zone of the same records, and
    the statistics of identity on Spark; the same models built on `spark`, both as of the same day."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C360_AS_OF", date.today().isoformat())
        yield from _build_on_both_engines(spark, tmp_path_factory)


def _build_on_both_engines(spark, tmp_path_factory):
    from orchestration.assets.dbt_models import dbt_resource

    world = make_world_serving_every_resource(persons=200, seed=23)
    with serving(world) as server:
        records = {key: list(server.served(key)) for key in SPECS}
    for key, more in hand_written_records().items():
        records[key] = records[key] + more
    for key, more in records_to_set_aside(records).items():
        records[key] = records[key] + more
    folder = tmp_path_factory.mktemp("spark_staging")
    path = folder / "warehouse.duckdb"
    zone = RawZone(str(folder / "raw_zone"))
    with duckdb.connect(str(path)) as con:
        land_records(con, {key: rows for key, rows in records.items() if SPECS[key].table in RAW_TABLES})
        for table in RAW_TABLES:
            key = next((spec.key for spec in SPECS.values() if spec.table == table), None)
            if key is not None:  # an API resource's records; the NPS import writes its own file
                zone.write_batch(con, f"select {ZONE_SELECT} from raw.{table}", [], key, "landed")
        exports = write_export(world, folder / "nps").parent
        (exports / "hand-written.csv").write_text(HAND_WRITTEN_NPS, encoding="utf-8")
        imported = import_nps_files(con, exports, raw_zone=zone)
    assert imported.new >= 15 and list((Path(zone.root) / "nps" / "responses").glob("*.parquet"))
    with using_warehouse(path):
        duckdb_run = dbt_resource().cli(["run", "--select", " ".join(PORTED_MODELS)], raise_on_error=False).wait()
    assert duckdb_run.is_successful()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C360_RAW_ZONE", zone.root)
        assert sorted(prepare_session(spark)) == sorted(RAW_TABLES)
    run_on_spark(PORTED_MODELS, folder)
    as_of = date.fromisoformat(os.environ["C360_AS_OF"])
    with using_warehouse(path):
        resolve_on_duckdb(path)
        run_on_duckdb(FACT_MODELS)
        with duckdb.connect(str(path)) as con:
            write_predictions(con, as_of)
        run_on_duckdb(KPI_MODELS)
    # the Spark engine's driver: a warehouse of its own for identity's state and the CLV fits
    with duckdb.connect(str(folder / "spark_driver.duckdb")) as driver:
        identity = resolve_on_spark(spark, driver, RUN_DATE, threads=2) | {"driver": folder / "spark_driver.duckdb"}
        run_on_spark(FACT_MODELS, folder)
        write_predictions_on_spark(spark, driver, as_of)
        run_on_spark(KPI_MODELS, folder)
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con, zone, identity
    finally:
        con.close()


def run_on_duckdb(models) -> None:
    from orchestration.assets.dbt_models import dbt_resource

    run = dbt_resource().cli(["run", "--select", " ".join(models)], raise_on_error=False).wait()
    assert run.is_successful()


def run_on_spark(models, folder: Path) -> None:
    from dbt.cli.main import dbtRunner

    run = dbtRunner().invoke(["run", "--target", "spark", "--select", *models,
                              "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
                              "--target-path", str(folder / "spark_target")])
    failures = [f"{r.node.name}: {r.message}" for r in run.result or [] if str(r.status) not in ("success", "pass")]
    assert run.success, run.exception or failures


def resolve_on_duckdb(path: Path) -> None:
    """Identity resolution as the DuckDB engine runs it, on the identity input built on DuckDB."""
    from c360.identity.match_run import match_records
    from c360.identity.resolve import resolve

    with duckdb.connect(str(path)) as con:
        match_records(con, RUN_DATE, threads=2)
        resolve(con, RUN_DATE, full=True)


@pytest.mark.parametrize("model", [*PORTED_MODELS, *FACT_MODELS, *KPI_MODELS])
def test_spark_builds_the_rows_duckdb_builds(both_engines, spark, model):
    con, _, _ = both_engines
    assert_same_rows(con, spark, model)


def assert_same_rows(con, spark, model: str) -> None:
    """The model's table on Spark holds the rows of the DuckDB warehouse `con`'s, column by column."""
    # nulls placed alike: DuckDB sorts them last by default, Spark first
    keys = FACT_MODELS.get(model) or KPI_MODELS.get(model) or ORDER_BY.get(model, ("source_record_id",))
    order = ", ".join(f"{column} nulls first" for column in keys)
    schema = ("intermediate" if model.startswith("int_") else "staging" if model.startswith("stg_")
              else "segments" if model in KPI_MODELS and model != "customer_kpis" else "marts")
    columns = [c for (c,) in con.execute(f"select column_name from (describe {schema}.{model})").fetchall()
               if c not in RUN_TIME_COLUMNS]
    on_duckdb = con.execute(f"select {', '.join(columns)} from {schema}.{model} order by {order}")
    expected = [tuple(comparable(v) for v in row) for row in on_duckdb.fetchall()]
    got = [tuple(comparable(v) for v in row) for row in
           spark.sql(f"select {', '.join(columns)} from {schema}.{model} order by {order}").collect()]
    assert len(expected) >= MIN_ROWS.get(model, 50), f"{model}: too few rows for the comparison to prove anything"
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        differing = {c: (w, h) for c, w, h in zip(columns, want, have) if w != h}
        assert not differing, f"{model} {want[0]}: DuckDB vs Spark {differing}"


def _same_customer_pairs(rows) -> set[tuple[str, str]]:
    """The pairs of records that a crosswalk (record key, golden id) puts in one golden customer."""
    members: dict[str, list[str]] = {}
    for record_key, golden_id in rows:
        members.setdefault(golden_id, []).append(record_key)
    return {(a, b) for keys in members.values() for a in keys for b in keys if a < b}


def test_identity_on_spark_resolves_the_customers_duckdb_resolves(both_engines, spark):
    """The issue's bar: pairwise F1 between the engines' crosswalks at least 0.999 (here they agree on
    every record, which the facts' row-for-row comparison above relies on)."""
    con, _, identity = both_engines
    on_duckdb = con.execute("select record_key, golden_customer_id from marts.golden_customer_sources").fetchall()
    on_spark = [tuple(row) for row in
                spark.sql("select record_key, golden_customer_id from marts.golden_customer_sources").collect()]
    assert identity["matching"]["path"] == "trained" and identity["copied"]["intermediate.int_customer_records"] \
        == len(on_duckdb) == len(on_spark) > 300
    duckdb_pairs, spark_pairs = _same_customer_pairs(on_duckdb), _same_customer_pairs(on_spark)
    f1 = 2 * len(duckdb_pairs & spark_pairs) / (len(duckdb_pairs) + len(spark_pairs))
    assert len(duckdb_pairs) > 100 and f1 >= 0.999
    assert sorted(on_duckdb) == sorted(on_spark)


def _pairs(table) -> dict[tuple[str, str], float]:
    return {(row["record_key_l"], row["record_key_r"]): row["match_probability"] for row in table.to_pylist()}


def test_spark_scores_the_pairs_duckdb_scores_all_or_only_the_changed(both_engines, spark):
    """Splink on Spark with the model trained on DuckDB finds the same pairs, all of them or those of a
    few changed records; a probability may differ slightly (the engines' Jaro-Winkler, on_spark's
    docstring), never across the review threshold."""
    import pyarrow as pa

    from c360.identity.match_run import MATCH_INPUT, load_model
    from c360.identity.matching import REVIEW_THRESHOLD, score_pairs
    from c360.identity.on_spark import score_pairs_on_spark
    from c360.identity.schema import MATCH_PAIRS_TABLE, REVIEW_PAIRS_TABLE

    con, _, identity = both_engines
    model = load_model(con).model
    spark_input = spark.table("intermediate.int_customer_records").where("not is_collective_contact")
    changed = pa.table({"record_key": [key for (key,) in con.execute(
        f"select record_key from {MATCH_INPUT} order by hash(record_key) limit 40").fetchall()]})
    for changed_keys in (None, changed):
        on_duckdb = _pairs(score_pairs(MATCH_INPUT, model, con, REVIEW_THRESHOLD, changed_keys).pairs)
        on_spark = _pairs(score_pairs_on_spark(spark, spark_input, model, REVIEW_THRESHOLD, changed_keys).pairs)
        assert set(on_spark) == set(on_duckdb) and len(on_duckdb) > (20 if changed_keys else 300)
        differing = [pair for pair in on_duckdb if abs(on_duckdb[pair] - on_spark[pair]) > 1e-9]
        assert len(differing) <= 0.01 * len(on_duckdb), differing
    # the Spark engine's identity run wrote Spark's pairs (links and review band), not the driver's scoring
    with duckdb.connect(str(identity["driver"]), read_only=True) as driver:
        written = {(left, right): probability for left, right, probability in driver.execute(
            f"select record_key_l, record_key_r, match_probability from {MATCH_PAIRS_TABLE} union all "
            f"select record_key_l, record_key_r, match_probability from {REVIEW_PAIRS_TABLE}").fetchall()}
        driver_model = load_model(driver).model
    all_on_spark = _pairs(score_pairs_on_spark(spark, spark_input, driver_model, REVIEW_THRESHOLD).pairs)
    assert written.keys() == all_on_spark.keys()
    assert all(abs(written[pair] - all_on_spark[pair]) <= 1e-12 for pair in written)


@pytest.mark.parametrize("text", ["Müller", "Mu\u0308ller", "Čapek", "Ørsted", "Ａnna", "", None])
def test_the_registered_text_functions_do_what_duckdb_does(text):
    with duckdb.connect() as con:
        assert nfc_normalize(text) == con.execute("select nfc_normalize(?)", [text]).fetchone()[0]
        assert strip_accents(text) == con.execute("select strip_accents(?)", [text]).fetchone()[0]


# the gates on what dbt and identity build (the raw gates validate the landing's DuckDB tables on either engine)
BUILT_TABLE_SUITES = [suite for suite in load_suites() if not suite.arrival_column]


def _verdict(result) -> dict:
    return {"success": result.success, "rows": result.rows,
            **{f"{f.severity} {f.label}": f.unexpected_count for f in [*result.failures, *result.warnings]}}


@pytest.mark.parametrize("suite", BUILT_TABLE_SUITES, ids=lambda suite: suite.name)
def test_a_gate_on_spark_gives_the_verdict_it_gives_on_duckdb(both_engines, spark, suite):
    """Each gate's query run by Spark over Spark's tables and validated by GX's Spark data source: the
    same rows, the same expectations failed or warned, as many rows failing each, as on DuckDB."""
    con, _, _ = both_engines
    on_duckdb = validate(con.execute(suite.query).df(), suite)
    on_spark, scope = validate_on_spark(spark, suite)
    assert on_duckdb.rows > 0 and scope.arrived_after is None
    assert _verdict(on_spark) == _verdict(on_duckdb)


def test_a_failing_gate_on_spark_shows_failing_rows_and_new_values(both_engines, spark):
    """A gate that fails on Spark: the failing rows it shows are rows that fail (found by their ids
    in Spark), and a warned open set lists every new value with its count, as on DuckDB."""
    con, _, _ = both_engines
    suite = suite_from_dict({
        "name": "spark_examples", "asset": ["marts", "golden_customers"], "id_columns": ["golden_customer_id"],
        "query": "select golden_customer_id, email, name_source from marts.golden_customers",
        "expectations": [
            {"type": "expect_column_values_to_match_regex", "column": "email", "regex": "^[a-k]"},
            {"type": "expect_column_values_to_be_in_set", "column": "name_source", "severity": "warn",
             "value_set": ["shop"]},
        ]})
    on_spark, _ = validate_on_spark(spark, suite)
    on_duckdb = validate(con.execute(suite.query).df(), suite)
    assert not on_spark.success and _verdict(on_spark) == _verdict(on_duckdb)
    failure = on_spark.failures[0]
    emails = dict(con.execute("select golden_customer_id, email from marts.golden_customers").fetchall())
    assert len(failure.examples) == min(5, failure.unexpected_count) > 0
    for row in failure.examples:
        assert row["email"] == emails[row["golden_customer_id"]] and not row["email"][0] in "abcdefghijk"
    warning, = on_spark.warnings
    assert warning.unexpected_values == on_duckdb.warnings[0].unexpected_values != []


def _comparable_document(value):
    """An export as both engines give it: floats rounded, run-time columns and the export's time left out."""
    if isinstance(value, dict):
        return {k: _comparable_document(v) for k, v in value.items()
                if k not in RUN_TIME_COLUMNS and k != "exported_at"}
    if isinstance(value, list):
        return [_comparable_document(v) for v in value]
    return round(value, 6) if isinstance(value, float) else value


def test_an_export_on_spark_holds_what_the_export_on_duckdb_holds(both_engines, spark, tmp_path):
    """Art. 15 on Spark (`c360.privacy_on_spark`: Spark's tables and the driver's warehouse) gives one
    person with orders, invoices and tickets the document `c360.privacy.export_from` gives on the DuckDB
    warehouse built from the same records: the same golden row, source record ids, raw records,
    staging rows and rows of every table both engines hold. The driver holds the raw tables, as the
    landing writes them there on either engine (copied here into a copy of the module's driver)."""
    from c360.privacy import export_from
    from c360.privacy_on_spark import export_on_spark

    con, _, identity = both_engines
    driver = tmp_path / "driver.duckdb"
    shutil.copy(identity["driver"], driver)
    database = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()[0]
    with duckdb.connect(str(driver)) as copy:
        copy.execute(f"attach '{database}' as built (read_only)")
        copy.execute("create schema if not exists raw")
        for (table,) in copy.execute("select table_name from information_schema.tables where table_catalog = 'built' "
                                     "and table_schema = 'raw' and table_type = 'BASE TABLE'").fetchall():
            copy.execute(f"create or replace table raw.{table} as select * from built.raw.{table}")
    golden_id = con.execute("""
        select o.golden_customer_id from marts.fct_orders o
        join marts.fct_invoices i using (golden_customer_id) join marts.fct_tickets t using (golden_customer_id)
        group by all order by count(*) desc, 1 limit 1""").fetchone()[0]
    on_duckdb = _comparable_document(export_from(con, golden_id))
    on_spark = _comparable_document(export_on_spark(spark, driver, golden_id))

    assert on_spark["golden"] == on_duckdb["golden"] and len(on_duckdb["golden"]) == 1
    assert on_spark["source_record_ids"] == on_duckdb["source_record_ids"]
    ids = on_duckdb["source_record_ids"]
    assert ids["raw.shop_orders"] and ids["raw.helpdesk_tickets"] and ids["raw.accounting_vouchers"]
    assert on_spark["systems"] == on_duckdb["systems"]
    both = set(on_duckdb["tables"]) & set(on_spark["tables"])
    assert {"marts.fct_orders", "marts.fct_invoices", "marts.fct_tickets", "marts.customer_kpis"} <= both
    differing = [t for t in sorted(both) if on_spark["tables"][t] != on_duckdb["tables"][t]]
    assert not differing, {t: (on_duckdb["tables"][t][:1], on_spark["tables"][t][:1]) for t in differing}
    assert on_spark["coverage"]["not_covered"] == []


def test_an_erasure_on_spark_leaves_the_rows_an_erasure_on_duckdb_leaves(both_engines, spark, tmp_path, monkeypatch):
    """The same people erased on both engines, `c360.erasure.erase_many_in` on a copy of the DuckDB
    warehouse and `c360.erasure_on_spark` on Spark and its driver: every model compared above holds
    the same rows on both after; the people are in no golden, fact, KPI or segment table of Spark nor
    in its crosswalks; their invoices stay under the pseudonym computed here, and the books balance as
    before. Last in the module: it erases people from the tables the tests above compare."""
    from c360.erasure import erase_many_in
    from c360.erasure_on_spark import SparkErasure

    con, _, identity = both_engines
    salt = "the salt of both engines"
    monkeypatch.setenv("C360_PRIVACY_SALT", salt)
    database = Path(con.execute("select path from duckdb_databases() where database_name = current_database()"
                                ).fetchone()[0])
    copy = tmp_path / "erased.duckdb"
    shutil.copy(database, copy)
    if database.with_name(database.name + ".wal").exists():
        shutil.copy(database.with_name(database.name + ".wal"), tmp_path / "erased.duckdb.wal")
    # two people with orders and invoices (their vouchers are kept, pseudonymised), one with a ticket
    people = [g for (g,) in con.execute("""
        select golden_customer_id from marts.fct_invoices
        where golden_customer_id in (select golden_customer_id from marts.fct_orders)
        group by all order by count(*) desc, golden_customer_id limit 2""").fetchall()]
    people += [g for (g,) in con.execute("""select min(golden_customer_id) from marts.fct_tickets
                                            where golden_customer_id not in (select unnest(?::varchar[]))""",
                                         [people]).fetchall()]
    invoices = "select count(*), sum(amount_gross), sum(open_amount) from marts.fct_invoices"
    books_before = tuple(spark.sql(invoices).first())
    theirs = {g: spark.sql(f"select count(*) from marts.fct_invoices where golden_customer_id = '{g}'").first()[0]
              for g in people}
    assert len(people) == 3 and sum(theirs.values()) >= 2

    with duckdb.connect(str(copy)) as erased_on_duckdb:
        erase_many_in(erased_on_duckdb, people, "test request")
    with duckdb.connect(str(identity["driver"])) as driver:
        eraser = SparkErasure(spark)
        eraser.erase_many(driver, people[:1], "one request")
        eraser.erase_many(driver, people[1:], "another request")
        rewritten = eraser.finish()
        assert not driver.execute(f"select count(*) from marts.golden_customer_sources "
                                  f"where golden_customer_id in (select unnest(?::varchar[]))", [people]).fetchone()[0]
    with duckdb.connect(str(copy), read_only=True) as erased_on_duckdb:
        differing = {}
        # the landed records per raw table: a view of nobody's data on DuckDB, which counts again after the
        # erasure, a table on Spark (staging models are tables there), counted again by the next dbt build
        for model in [m for m in [*PORTED_MODELS, *FACT_MODELS, *KPI_MODELS] if m != "stg_set_aside_shares"]:
            try:
                assert_same_rows(erased_on_duckdb, spark, model)
            except AssertionError as failure:
                differing[model] = str(failure).splitlines()[0]
        assert not differing

    listed = ", ".join(f"'{g}'" for g in people)
    for table in ("marts.golden_customers", "marts.golden_customer_sources", "marts.fct_orders", "marts.fct_tickets",
                  "marts.customer_kpis", "segments.customer_segments"):
        assert not spark.sql(f"select count(*) from {table} where golden_customer_id in ({listed})").first()[0], table
    assert tuple(spark.sql(invoices).first()) == books_before
    for golden_id, invoice_count in theirs.items():
        kept_as = "ERASED-" + hashlib.sha256(f"{salt}\x1f{golden_id}".encode()).hexdigest()[:16]
        assert spark.sql(f"select count(*) from marts.fct_invoices where golden_customer_id = '{kept_as}'"
                         ).first()[0] == invoice_count
    assert rewritten["marts.golden_customers"] == {"deleted": 3, "pseudonymised": 0}
    assert rewritten["marts.fct_invoices"] == {"deleted": 0, "pseudonymised": sum(theirs.values())}
