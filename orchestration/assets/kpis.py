"""Customer predictions as a Dagster asset, between the dbt fact models and `customer_kpis`.

    dbt intermediate.int_order_values ─> marts/customer_clv_predictions (BG/NBD + Gamma-Gamma)
        ─> dbt marts.customer_kpis

The models live in `c360.kpis.clv`, their stored fits and the predictions table in
`c360.kpis.clv_store`; this asset only calls `write_predictions` and reports what it did. dbt declares
the table as a source with `meta.dagster.asset_key`, so `customer_kpis` runs after it in one graph.
"""


import dagster as dg
from dagster_duckdb import DuckDBResource

from c360 import settings, tables
from c360.kpis.clv_store import FITS_TABLE, write_predictions, write_predictions_on_spark
from orchestration.assets.raw_landing import WAREHOUSE_POOL
from orchestration.keys import OWNERS, asset_key
from orchestration.resources import ENGINE, SparkResource, engine_kinds

PREDICTIONS_KEY = asset_key(tables.CLV_PREDICTIONS)
ORDER_VALUES_KEY = asset_key(tables.ORDER_VALUES)


class PredictionConfig(dg.Config):
    horizon_months: int = 12  # predicted CLV and expected purchases over this many months
    monthly_discount_rate: float = 0.01
    penalizer: float = 0.0  # L2 penalty on the model parameters (0 = plain maximum likelihood)
    as_of: str = ""  # default: $C360_AS_OF, else today (UTC), as the dbt var kpi_as_of
    refit: bool = False  # refit the models now instead of predicting with the stored parameters


@dg.asset(
    key=PREDICTIONS_KEY,
    deps=[ORDER_VALUES_KEY],
    group_name="marts",
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    kinds=engine_kinds("scipy", "duckdb"),
    description="Predicted CLV and P(alive) per golden customer: BG/NBD (Fader, Hardie & Lee 2005) and "
    "Gamma-Gamma (Fader & Hardie 2013) on the counted orders (package `c360.kpis`), with the parameters stored "
    f"in {FITS_TABLE}: refitted weekly (C360_CLV_REFIT_DAYS), when the customers grew by more than "
    "C360_CLV_REFIT_GROWTH, or on demand (run config `refit: true`).",
)
def customer_clv_predictions(context: dg.AssetExecutionContext, config: PredictionConfig,
                             warehouse: DuckDBResource, spark: SparkResource) -> dg.MaterializeResult:
    as_of = settings.as_of_date(config.as_of)
    options = dict(horizon_months=config.horizon_months, monthly_discount_rate=config.monthly_discount_rate,
                   penalizer=config.penalizer, refit=config.refit)
    with warehouse.get_connection() as con:
        if ENGINE == "spark":  # fitted on the driver from Spark's counted orders, predictions written back
            with spark.session() as session:
                stats = write_predictions_on_spark(session, con, as_of, **options)
        else:
            stats = write_predictions(con, as_of, **options)
    context.log.info(f"predictions: {stats}")
    fit = stats["fit"]
    return dg.MaterializeResult(metadata={
        "as_of": as_of.isoformat(),
        "customers": stats["customers"],
        "orders": stats["orders"],
        "refitted": stats["refitted"],
        "fit_reason": stats["fit_reason"],
        "fit_as_of": fit.get("as_of", ""),
        "fitted_at": fit.get("fitted_at", ""),
        "fit_customers": fit.get("customers", 0),
        "parameters": dg.MetadataValue.json(stats["params"]),
        "fit_seconds": stats["fit_seconds"],
        "seconds": stats["seconds"],
    })


kpi_assets = [customer_clv_predictions]
