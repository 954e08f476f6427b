"""Storage limitation (GDPR Art. 5(1)(e)): customers inactive for longer than the retention period
are erased by the daily run, through the same path as an erasure request (`c360.erasure`).

A golden customer's last activity is the latest of: an order (`fct_orders.order_date`), a ticket
(`fct_tickets.created_date`), a survey answer (`fct_survey_responses.response_date`), a checkout
(`fct_checkouts.checkout_date`), an invoice (`fct_invoices.invoice_date`) and the creation of one of
their customer records in a source system (`int_customer_records.created_at`: a new account or
contact is a contact). A record's `updated_at` does not count: source systems touch records for their
own housekeeping. A customer with no dated activity at all is never erased by this rule (nothing says
how old they are). Those whose last activity lies more than `C360_PRIVACY_RETENTION_DAYS` (default
1095, three years, the regular limitation period of § 195 BGB within which claims from a purchase
can still arise) before the as-of date are erased as one request; their accounting vouchers and
payments are kept pseudonymised as `c360.erasure` keeps them (§ 147 AO, § 257 HGB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from c360 import tables

# (table, date expression) of every dated activity of a golden customer
ACTIVITY_DATES: tuple[tuple[str, str], ...] = (
    ("marts.fct_orders", "order_date"),
    ("marts.fct_tickets", "created_date"),
    ("marts.fct_survey_responses", "response_date"),
    ("marts.fct_checkouts", "checkout_date"),
    ("marts.fct_invoices", "invoice_date"),
)


@dataclass(frozen=True)
class RetentionResult:
    cutoff: date
    erased: int  # golden customers whose last activity was before the cutoff
    erasure_id: str | None
    oldest_activity: date | None
    identifying_values: frozenset[str] = frozenset()  # theirs, to scrub from files after the erasure


def _present(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{n}" for s, n in con.execute("select table_schema, table_name from information_schema.tables").fetchall()}


def last_activity_sql(present: set[str]) -> str:
    """SQL (DuckDB's dialect) of (golden_customer_id, last_activity) over the activity tables `present`
    (`schema.name`) lists."""
    parts = [f"select golden_customer_id, max({column})::date as activity from {table} "
             f"where golden_customer_id is not null group by all"
             for table, column in ACTIVITY_DATES if table in present]
    if tables.CUSTOMER_RECORDS in present and tables.GOLDEN_CUSTOMER_SOURCES in present:
        parts.append(f"select c.golden_customer_id, max(r.created_at)::date as activity "
                     f"from {tables.GOLDEN_CUSTOMER_SOURCES} c join {tables.CUSTOMER_RECORDS} r using (record_key) "
                     f"group by all")
    if not parts or tables.GOLDEN_CUSTOMER_SOURCES not in present:
        return "select null::varchar as golden_customer_id, null::date as last_activity where false"
    # only golden customers of the crosswalk: the retained invoices of people erased carry pseudonyms
    return (f"select golden_customer_id, max(activity) as last_activity from ({' union all '.join(parts)}) "
            f"where activity is not null and golden_customer_id in "
            f"(select golden_customer_id from {tables.GOLDEN_CUSTOMER_SOURCES}) group by all")


def inactive_customers_sql(present: set[str], cutoff: date) -> str:
    """SQL (DuckDB's dialect) of (golden id, last activity) of the customers inactive since before `cutoff`."""
    return (f"select golden_customer_id, last_activity from ({last_activity_sql(present)}) "
            f"where last_activity < date '{cutoff.isoformat()}' order by golden_customer_id")


def inactive_customers(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> list[tuple[str, date]]:
    """(golden id, last activity) of the customers inactive for more than `days` before `as_of`."""
    return con.execute(inactive_customers_sql(_present(con), as_of - timedelta(days=days))).fetchall()


def erase_inactive(con: duckdb.DuckDBPyConnection, as_of: date, days: int, eraser=None) -> RetentionResult:
    """Erase the customers inactive for more than `days` (one erasure, one audit row per person), with
    the engine's `eraser` (by default `c360.erasure.WarehouseErasure`, all in the DuckDB warehouse; the
    Spark engine's is `c360.erasure_on_spark.SparkErasure`)."""
    from c360.erasure import WarehouseErasure, identifying_values

    eraser = eraser or WarehouseErasure()
    cutoff = as_of - timedelta(days=days)
    inactive = eraser.inactive(con, as_of, days)
    if not inactive:
        return RetentionResult(cutoff, 0, None, None)
    golden_ids = [golden_id for golden_id, _ in inactive]
    values = identifying_values(con, golden_ids)
    reason = f"retention: no activity since before {cutoff.isoformat()} ({days} days)"
    result = eraser.erase_many(con, golden_ids, reason)
    return RetentionResult(cutoff, len(inactive), result.erasure_id, min(activity for _, activity in inactive),
                           frozenset(values))
