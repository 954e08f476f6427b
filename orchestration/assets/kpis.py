"""Customer predictions as a Dagster asset, between the dbt fact models and `customer_kpis`.

    dbt marts.fct_orders + marts.fct_refunds ─> marts/customer_clv_predictions (BG/NBD + Gamma-Gamma)
        ─> dbt marts.customer_kpis

The models live in the `kpis` package (`kpis.clv`); this asset reads the counted orders, fits and
writes one row per golden customer with an order. dbt declares the table as a source with
`meta.dagster.asset_key`, so `customer_kpis` runs after it in one graph.
"""


import os
import time
from datetime import UTC, date, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from kpis.clv import fit_and_predict, rfm_summary
from orchestration.assets.raw_landing import WAREHOUSE_POOL

PREDICTIONS_KEY = dg.AssetKey(["marts", "customer_clv_predictions"])
PREDICTIONS_TABLE = "marts.customer_clv_predictions"
ORDERS_KEY = dg.AssetKey(["marts", "fct_orders"])
REFUNDS_KEY = dg.AssetKey(["marts", "fct_refunds"])

# one row per counted order of a resolved customer, its value net of VAT and of counted refunds
ORDERS_SQL = """
select
    o.golden_customer_id,
    o.order_date,
    cast(o.amount_net - coalesce(r.refunded_net, 0) as double) as net_value
from marts.fct_orders o
left join (
    select order_key, sum(amount_net) as refunded_net
    from marts.fct_refunds
    where is_counted and order_key is not null
    group by order_key
) r on r.order_key = o.order_key
where o.is_counted and o.golden_customer_id is not null and o.order_date <= ?
"""


class PredictionConfig(dg.Config):
    horizon_months: int = 12  # predicted CLV and expected purchases over this many months
    monthly_discount_rate: float = 0.01
    penalizer: float = 0.0  # L2 penalty on the model parameters (0 = plain maximum likelihood)
    as_of: str = ""  # default: $C360_AS_OF, else today (UTC), as the dbt var kpi_as_of


def resolve_as_of(value: str = "") -> date:
    value = value or os.environ.get("C360_AS_OF", "")
    return date.fromisoformat(value) if value.strip() else datetime.now(UTC).date()


def write_predictions(con, as_of: date, *, horizon_months: int = 12, monthly_discount_rate: float = 0.01,
                      penalizer: float = 0.0) -> dict:
    """Fit on the warehouse's counted orders and (re)write `marts.customer_clv_predictions`."""
    orders = con.execute(ORDERS_SQL, [as_of]).df()
    started = time.perf_counter()
    if len(orders):
        summary = rfm_summary(orders, "golden_customer_id", "order_date", "net_value", as_of)
        predicted, fit = fit_and_predict(summary, horizon_months=horizon_months,
                                         monthly_discount_rate=monthly_discount_rate, penalizer=penalizer)
        predicted = predicted.reset_index()
    else:
        import pandas as pd
        predicted, fit = pd.DataFrame(columns=["golden_customer_id", "frequency", "recency", "T", "monetary_value",
                                               "first_purchase_date", "last_purchase_date", "p_alive",
                                               "expected_purchases", "expected_order_value", "predicted_clv"]), None
    predicted["as_of_date"] = as_of
    predicted["horizon_months"] = horizon_months
    predicted["monthly_discount_rate"] = monthly_discount_rate
    con.execute("create schema if not exists marts")
    con.register("__predictions", predicted)
    con.execute(f"""
        create or replace table {PREDICTIONS_TABLE} as
        select
            cast(golden_customer_id as varchar) as golden_customer_id,
            cast(as_of_date as date) as as_of_date,
            cast(frequency as integer) as frequency,
            cast(recency as double) as recency_weeks,
            cast("T" as double) as age_weeks,
            cast(monetary_value as double) as monetary_value,
            cast(p_alive as double) as p_alive,
            cast(expected_purchases as double) as expected_purchases,
            cast(expected_order_value as double) as expected_order_value,
            cast(predicted_clv as double) as predicted_clv,
            cast(horizon_months as integer) as horizon_months,
            cast(monthly_discount_rate as double) as monthly_discount_rate
        from __predictions
    """)
    con.unregister("__predictions")
    params = {}
    if fit and fit.bgnbd:
        params.update({k: round(v, 4) for k, v in vars(fit.bgnbd).items()})
    if fit and fit.gamma_gamma:
        params.update({k: round(v, 4) for k, v in vars(fit.gamma_gamma).items()})
    return {"customers": len(predicted), "orders": len(orders), "params": params,
            "fit_seconds": round(time.perf_counter() - started, 2)}


@dg.asset(
    key=PREDICTIONS_KEY,
    deps=[ORDERS_KEY, REFUNDS_KEY],
    group_name="marts",
    pool=WAREHOUSE_POOL,
    kinds={"scipy", "duckdb"},
    description="Predicted CLV and P(alive) per golden customer: BG/NBD (Fader, Hardie & Lee 2005) and "
    "Gamma-Gamma (Fader & Hardie 2013) fitted on the counted orders (package `kpis`).",
)
def customer_clv_predictions(context: dg.AssetExecutionContext, config: PredictionConfig,
                             warehouse: DuckDBResource) -> dg.MaterializeResult:
    as_of = resolve_as_of(config.as_of)
    with warehouse.get_connection() as con:
        stats = write_predictions(con, as_of, horizon_months=config.horizon_months,
                                  monthly_discount_rate=config.monthly_discount_rate, penalizer=config.penalizer)
    context.log.info(f"predictions: {stats}")
    return dg.MaterializeResult(metadata={
        "as_of": as_of.isoformat(),
        "customers": stats["customers"],
        "orders": stats["orders"],
        "parameters": dg.MetadataValue.json(stats["params"]),
        "fit_seconds": stats["fit_seconds"],
    })


kpi_assets = [customer_clv_predictions]
