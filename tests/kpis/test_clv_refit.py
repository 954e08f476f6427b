"""The CLV asset refits weekly and predicts daily with the stored parameters (c360/kpis/clv_store.py).

A daily refit cost 20 s at 1M persons for parameters that barely move from one day to the next; these
tests prove that a run within the refit interval predicts with the stored parameters and fits nothing,
and that an old fit, a requested refit or a grown customer base fits again.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from c360.kpis.clv import fit_models, predict, rfm_summary
from c360.kpis import clv_store
from c360.kpis.clv_store import FITS_TABLE, ORDERS_SQL, PREDICTIONS_TABLE, latest_fit, write_predictions
from orchestration.assets.kpis import customer_clv_predictions
from orchestration.resources import SparkResource

AS_OF = date(2026, 6, 1)
WEEKLY = {"refit_days": 7, "refit_growth": 0.10}


def simulated_orders(customers: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """BG/NBD-like buyers: a Poisson rate per customer, dropping out after each purchase with p = 0.3."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(first_id, first_id + customers):
        day = AS_OF - timedelta(days=int(rng.integers(30, 700)))
        gap = float(rng.gamma(2.0, 25.0))
        while day <= AS_OF:
            rows.append((f"g{customer}", day, round(float(rng.gamma(4.0, 12.0)), 2)))
            if rng.random() < 0.3:
                break
            day += timedelta(days=max(1, int(rng.exponential(gap))))
    return pd.DataFrame(rows, columns=["golden_customer_id", "order_date", "net_value"])


def write_orders(con: duckdb.DuckDBPyConnection, orders: pd.DataFrame) -> None:
    """`intermediate.int_order_values` (the counted orders with their value kept and contribution margin II)
    as the asset reads it; without a `margin` column, the margin is 30 % of the value kept."""
    con.execute("create schema if not exists intermediate")
    if "margin" not in orders:
        orders = orders.assign(margin=(orders["net_value"] * 0.3).round(2))
    con.register("__orders", orders)
    con.execute("""
        create or replace table intermediate.int_order_values as
        select 'o' || row_number() over () as order_key, golden_customer_id, order_date::date as order_date,
               net_value as net_value_kept, margin as contribution_margin_2
        from __orders
    """)
    con.unregister("__orders")


def fits(con) -> list[tuple]:
    return con.execute(f"select fitted_at, as_of_date, customers, reason from {FITS_TABLE} "
                       "order by fitted_at").fetchall()


def closed_form_predictions(con, as_of: date) -> pd.DataFrame:
    """What the stored parameters predict for today's orders, computed here from the closed forms."""
    orders = con.execute(ORDERS_SQL, [as_of]).df()
    summary = rfm_summary(orders, "golden_customer_id", "order_date", "net_value", as_of, margin_col="margin")
    return predict(summary, latest_fit(con).fit).sort_index()


PREDICTED = ("p_alive", "expected_purchases", "expected_order_value", "predicted_clv", "expected_order_margin",
             "predicted_margin_clv")


def written_predictions(con) -> pd.DataFrame:
    return (con.execute(f"select golden_customer_id, {', '.join(PREDICTED)} from {PREDICTIONS_TABLE}").df()
            .set_index("golden_customer_id").sort_index())


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "c360.duckdb")) as connection:
        write_orders(connection, simulated_orders(400, seed=1))
        yield connection


def test_a_run_within_the_interval_predicts_with_the_stored_fit_and_fits_nothing(con, monkeypatch):
    first = write_predictions(con, AS_OF, **WEEKLY)
    assert first["refitted"] and first["fit_reason"] == "no stored fit"
    stored = fits(con)
    assert len(stored) == 1 and stored[0][2] == 400

    # three days later: a few more orders (same customers, so no growth), and fitting is forbidden
    orders = simulated_orders(400, seed=1)
    extra = orders.groupby("golden_customer_id").head(1).head(60).assign(order_date=AS_OF + timedelta(days=2))
    write_orders(con, pd.concat([orders, extra]))
    monkeypatch.setattr(clv_store, "fit_models", lambda *a, **k: pytest.fail("the models were refitted"))
    later = AS_OF + timedelta(days=3)
    second = write_predictions(con, later, **WEEKLY)

    assert not second["refitted"] and second["fit"]["as_of"] == AS_OF.isoformat()
    assert fits(con) == stored
    expected = closed_form_predictions(con, later)
    written = written_predictions(con)
    assert list(written.index) == list(expected.index)
    for column in PREDICTED:
        np.testing.assert_array_equal(written[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    # a fresh fit on the new data would have moved the parameters: the reuse is what the test saw
    orders_now = con.execute(ORDERS_SQL, [later]).df()
    refitted = fit_models(rfm_summary(orders_now, "golden_customer_id", "order_date", "net_value", later))
    assert refitted.bgnbd != latest_fit(con).fit.bgnbd


def test_an_old_fit_or_a_requested_refit_fits_again(con):
    write_predictions(con, AS_OF, **WEEKLY)
    assert not write_predictions(con, AS_OF + timedelta(days=6), **WEEKLY)["refitted"]
    week_later = AS_OF + timedelta(days=7)
    aged = write_predictions(con, week_later, **WEEKLY)
    assert aged["refitted"] and aged["fit_reason"] == "stored fit is 7 days old (refit every 7)"
    requested = write_predictions(con, week_later, refit=True, **WEEKLY)
    assert requested["refitted"] and "requested" in requested["fit_reason"]
    assert [row[1] for row in fits(con)] == [AS_OF, week_later, week_later]
    # every run predicts with the newest fit
    expected = closed_form_predictions(con, week_later)
    np.testing.assert_array_equal(written_predictions(con)["predicted_clv"].to_numpy(),
                                  expected["predicted_clv"].to_numpy())


def test_growth_past_the_threshold_fits_again(con):
    write_predictions(con, AS_OF, **WEEKLY)
    base = simulated_orders(400, seed=1)
    write_orders(con, pd.concat([base, simulated_orders(40, seed=2, first_id=1000)]))  # +10 %: not more
    assert not write_predictions(con, AS_OF, **WEEKLY)["refitted"]
    write_orders(con, pd.concat([base, simulated_orders(41, seed=2, first_id=1000)]))  # +10.25 %
    grown = write_predictions(con, AS_OF, **WEEKLY)
    assert grown["refitted"] and grown["fit_reason"].startswith("customers grew from 400 to 441")
    assert [row[2] for row in fits(con)] == [400, 441]


def test_the_asset_reports_whether_it_refitted(tmp_path, monkeypatch):
    path = tmp_path / "c360.duckdb"
    with duckdb.connect(str(path)) as con:
        write_orders(con, simulated_orders(200, seed=3))
    monkeypatch.setenv("C360_AS_OF", AS_OF.isoformat())
    monkeypatch.delenv("C360_CLV_REFIT_DAYS", raising=False)
    resources = {"warehouse": DuckDBResource(database=str(path)), "spark": SparkResource()}

    def materialize(refit: bool) -> dict:
        config = {"ops": {"marts__customer_clv_predictions": {"config": {"refit": refit}}}}
        result = dg.materialize([customer_clv_predictions], resources=resources, run_config=config)
        return result.asset_materializations_for_node("marts__customer_clv_predictions")[0].metadata

    first, reused, requested = materialize(False), materialize(False), materialize(True)
    assert first["refitted"].value and first["fit_reason"].value == "no stored fit"
    assert not reused["refitted"].value and reused["fit_seconds"].value == 0
    assert reused["fitted_at"].value == first["fitted_at"].value and reused["fit_as_of"].value == AS_OF.isoformat()
    assert set(reused["parameters"].value) == {"r", "alpha", "a", "b", "p", "q", "gamma", "p_margin", "q_margin",
                                               "gamma_margin"}
    assert reused["parameters"].value == first["parameters"].value
    assert requested["refitted"].value and requested["fitted_at"].value > first["fitted_at"].value


def test_refit_settings(monkeypatch):
    from c360 import settings

    monkeypatch.delenv("C360_CLV_REFIT_DAYS", raising=False)
    monkeypatch.delenv("C360_CLV_REFIT_GROWTH", raising=False)
    assert (settings.clv_refit_days(), settings.clv_refit_growth()) == (7, 0.10)
    monkeypatch.setenv("C360_CLV_REFIT_DAYS", "0")
    monkeypatch.setenv("C360_CLV_REFIT_GROWTH", "0.25")
    assert (settings.clv_refit_days(), settings.clv_refit_growth()) == (0, 0.25)
    monkeypatch.setenv("C360_CLV_REFIT_DAYS", "-1")
    with pytest.raises(ValueError, match="C360_CLV_REFIT_DAYS"):
        settings.clv_refit_days()
