"""The CLV models' stored fits and their predictions in the warehouse (the asset in
`orchestration/assets/kpis.py` runs `write_predictions`).

    intermediate.int_order_values -> marts.customer_clv_predictions (BG/NBD + Gamma-Gamma on the value
                                      kept, and on the contribution margin II)

The fit (20 s of a daily run at 1M persons) is not repeated every day: how a customer base buys moves
slowly, so each fit's parameters are kept in `intermediate.clv_model_fits` and a run predicts with the
latest of them. It refits when there is none, when it is `C360_CLV_REFIT_DAYS` days older than the
as-of date, when the customers with orders grew by more than `C360_CLV_REFIT_GROWTH` since, or when the
caller asks for it. The table is outside `marts`, so it is neither a BI table nor published.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from c360 import settings
from c360.kpis.clv import (BgNbdParams, ClvFit, GammaGammaParams, fit_models, margin_model_expected, predict,
                           rfm_summary)
from c360.tables import CLV_MODEL_FITS, CLV_PREDICTIONS, ORDER_VALUES

PREDICTIONS_TABLE = CLV_PREDICTIONS
FITS_TABLE = CLV_MODEL_FITS
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")
MARGIN_PARAMS = ("p_margin", "q_margin", "gamma_margin")  # the Gamma-Gamma fit on order margins

# one row per counted order of a resolved customer, its value kept after refunds (net of VAT) and its
# contribution margin II, as dbt defines them once for every KPI
ORDERS_SQL = f"""
select golden_customer_id, order_date, cast(net_value_kept as double) as net_value,
       cast(contribution_margin_2 as double) as margin
from {ORDER_VALUES}
where golden_customer_id is not null and order_date <= ?
"""


@dataclass(frozen=True)
class StoredFit:
    """One row of `intermediate.clv_model_fits`: the parameters and what they were fitted on."""

    fit: ClvFit
    fitted_at: datetime
    as_of_date: date
    customers: int
    penalizer: float

    def describe(self) -> dict:
        params = {}
        for model in (self.fit.bgnbd, self.fit.gamma_gamma):
            params.update({k: round(v, 4) for k, v in vars(model).items()} if model else {})
        if self.fit.gamma_gamma_margin:
            params.update({f"{k}_margin": round(v, 4) for k, v in vars(self.fit.gamma_gamma_margin).items()})
        return {"fitted_at": self.fitted_at.isoformat(), "as_of": self.as_of_date.isoformat(),
                "customers": self.customers, "params": params}


def ensure_fits_table(con) -> None:
    con.execute("create schema if not exists intermediate")
    con.execute(f"""
        create table if not exists {FITS_TABLE} (
            fitted_at timestamptz not null, as_of_date date not null, customers integer not null,
            penalizer double not null, fit_seconds double, reason varchar,
            r double, alpha double, a double, b double, p double, q double, gamma double
        )
    """)
    for column in MARGIN_PARAMS:  # fits stored before the margin model have none
        con.execute(f"alter table {FITS_TABLE} add column if not exists {column} double")


def latest_fit(con) -> StoredFit | None:
    """The newest stored fit, or None before the first one."""
    ensure_fits_table(con)
    columns = ("fitted_at", "as_of_date", "customers", "penalizer", *BGNBD_PARAMS, *GAMMA_GAMMA_PARAMS,
               *MARGIN_PARAMS)
    row = con.execute(f"select {', '.join(columns)} from {FITS_TABLE} order by fitted_at desc limit 1").fetchone()
    if row is None:
        return None
    values = dict(zip(columns, row))
    bg = [values[k] for k in BGNBD_PARAMS]
    gg = [values[k] for k in GAMMA_GAMMA_PARAMS]
    gg_margin = [values[k] for k in MARGIN_PARAMS]
    fit = ClvFit(BgNbdParams(*bg) if None not in bg else None, GammaGammaParams(*gg) if None not in gg else None,
                 GammaGammaParams(*gg_margin) if None not in gg_margin else None)
    return StoredFit(fit, values["fitted_at"], values["as_of_date"], values["customers"], values["penalizer"])


def store_fit(con, stored: StoredFit, *, fit_seconds: float, reason: str) -> None:
    bg, gg, gg_margin = stored.fit.bgnbd, stored.fit.gamma_gamma, stored.fit.gamma_gamma_margin
    params = ([getattr(bg, k) if bg else None for k in BGNBD_PARAMS]
              + [getattr(gg, k) if gg else None for k in GAMMA_GAMMA_PARAMS]
              + [getattr(gg_margin, k.removesuffix("_margin")) if gg_margin else None for k in MARGIN_PARAMS])
    columns = ("fitted_at", "as_of_date", "customers", "penalizer", "fit_seconds", "reason", *BGNBD_PARAMS,
               *GAMMA_GAMMA_PARAMS, *MARGIN_PARAMS)
    con.execute(f"insert into {FITS_TABLE} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
                [stored.fitted_at, stored.as_of_date, stored.customers, stored.penalizer, fit_seconds, reason,
                 *params])


def refit_reason(last: StoredFit | None, *, as_of: date, customers: int, penalizer: float, requested: bool,
                 refit_days: int, refit_growth: float, margin_expected: bool = False) -> str | None:
    """Why the models must be fitted again now, or None when the stored fit still serves."""
    if requested:
        return "requested by the run config (refit: true)"
    if last is None:
        return "no stored fit"
    if last.fit.bgnbd is None or last.fit.gamma_gamma is None:
        return "the stored fit lacks a model (too little data then)"
    if margin_expected and last.fit.gamma_gamma_margin is None:
        return "the stored fit lacks the margin model (fitted before it existed, or too few margins then)"
    if last.penalizer != penalizer:
        return f"penalizer changed from {last.penalizer} to {penalizer}"
    age = (as_of - last.as_of_date).days
    if age < 0:
        return f"as-of date {as_of} is before the stored fit's {last.as_of_date}"
    if age >= refit_days:
        return f"stored fit is {age} days old (refit every {refit_days})"
    if customers > last.customers * (1 + refit_growth):
        return (f"customers grew from {last.customers} to {customers}, "
                f"more than {refit_growth:.0%} since the stored fit")
    return None


def current_fit(con, summary, as_of: date, *, penalizer: float, refit: bool, refit_days: int | None,
                refit_growth: float | None) -> tuple[StoredFit, str | None, float]:
    """(the fit to predict with, why it was fitted now or None when it was stored before, fit seconds).
    `refit_days` and `refit_growth` default to the settings."""
    stored = latest_fit(con)
    reason = refit_reason(
        stored, as_of=as_of, customers=len(summary), penalizer=penalizer, requested=refit,
        refit_days=settings.clv_refit_days() if refit_days is None else refit_days,
        refit_growth=settings.clv_refit_growth() if refit_growth is None else refit_growth,
        margin_expected=margin_model_expected(summary))
    if reason is None:
        return stored, None, 0.0
    started = time.perf_counter()
    fit = fit_models(summary, penalizer=penalizer)
    fit_seconds = round(time.perf_counter() - started, 2)
    fresh = StoredFit(fit, datetime.now(UTC), as_of, len(summary), penalizer)
    store_fit(con, fresh, fit_seconds=fit_seconds, reason=reason)
    return fresh, reason, fit_seconds


def write_predictions(con, as_of: date, *, horizon_months: int = 12, monthly_discount_rate: float = 0.01,
                      penalizer: float = 0.0, refit: bool = False, refit_days: int | None = None,
                      refit_growth: float | None = None) -> dict:
    """Predict from the warehouse's counted orders with the latest stored fit, refitting first when
    `refit_reason` says so, and (re)write `marts.customer_clv_predictions`."""
    orders = con.execute(ORDERS_SQL, [as_of]).df()
    started = time.perf_counter()
    used, reason, fit_seconds = None, None, 0.0
    if len(orders):
        summary = rfm_summary(orders, "golden_customer_id", "order_date", "net_value", as_of, margin_col="margin")
        used, reason, fit_seconds = current_fit(con, summary, as_of, penalizer=penalizer, refit=refit,
                                                refit_days=refit_days, refit_growth=refit_growth)
        predicted = predict(summary, used.fit, horizon_months=horizon_months,
                            monthly_discount_rate=monthly_discount_rate).reset_index()
    else:
        import pandas as pd
        predicted = pd.DataFrame(columns=["golden_customer_id", "frequency", "recency", "T", "monetary_value",
                                          "first_purchase_date", "last_purchase_date", "p_alive",
                                          "expected_purchases", "expected_order_value", "predicted_clv",
                                          "monetary_margin", "expected_order_margin", "predicted_margin_clv"])
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
            cast(monetary_margin as double) as monetary_margin,
            cast(expected_order_margin as double) as expected_order_margin,
            cast(predicted_margin_clv as double) as predicted_margin_clv,
            cast(horizon_months as integer) as horizon_months,
            cast(monthly_discount_rate as double) as monthly_discount_rate
        from __predictions
    """)
    con.unregister("__predictions")
    fit = used.describe() if used else {"params": {}}
    return {"customers": len(predicted), "orders": len(orders), "params": fit.pop("params"),
            "refitted": reason is not None, "fit_reason": reason or "stored fit still current", "fit": fit,
            "fit_seconds": fit_seconds, "seconds": round(time.perf_counter() - started, 2)}


def write_predictions_on_spark(spark, con, as_of: date, **options) -> dict:
    """The CLV of the Spark engine: the counted orders dbt-spark built, copied to the driver's DuckDB
    warehouse `con`, fitted and predicted there as `write_predictions` does on the DuckDB engine, and the
    predictions written to Spark's catalog, where `customer_kpis` reads them. The fit's input is one row
    per customer with orders (the RFM summary), in the driver's memory."""
    from c360.spark_engine import copy_to_driver, publish_from_driver

    copy_to_driver(spark, con, ORDER_VALUES)
    stats = write_predictions(con, as_of, **options)
    publish_from_driver(spark, con, PREDICTIONS_TABLE)
    return stats
