"""Predicted CLV as contribution margin (c360/kpis/clv.py `expected_order_margin`, stored by clv_store).

The margin model is a second Gamma-Gamma fit on the repeat customers' mean margin. The tests check it
against properties the model must have and figures computed here from the orders: a margin that is a
fixed share of the value predicts that share of the CLV; a customer whose repeat orders lose money keeps
their own mean margin; a one-time buyer gets the population mean of the repeat customers; a fit stored
before the margin model existed is refitted.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from c360.kpis.clv_store import FITS_TABLE, PREDICTIONS_TABLE, latest_fit, write_predictions
from tests.kpis.test_clv_refit import AS_OF, WEEKLY, simulated_orders, write_orders


def predictions(con) -> pd.DataFrame:
    return con.execute(f"select * from {PREDICTIONS_TABLE}").df().set_index("golden_customer_id").sort_index()


def mean_repeat_margin(orders: pd.DataFrame) -> pd.Series:
    """Per customer the mean margin of the order days after the first (orders of one day are one purchase)."""
    daily = orders.groupby(["golden_customer_id", "order_date"], as_index=False)["margin"].sum()
    daily = daily.sort_values(["golden_customer_id", "order_date"])
    repeat = daily[daily.groupby("golden_customer_id").cumcount() > 0]
    return repeat.groupby("golden_customer_id")["margin"].mean()


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "c360.duckdb")) as connection:
        yield connection


def test_a_margin_that_is_a_fixed_share_of_the_value_predicts_that_share_of_the_clv(con):
    orders = simulated_orders(400, seed=5)
    write_orders(con, orders.assign(margin=orders["net_value"] * 0.25))
    write_predictions(con, AS_OF, **WEEKLY)
    out = predictions(con)
    assert out["predicted_clv"].gt(0).all()
    # Gamma-Gamma is equivariant in the currency unit: the same fit, a quarter of every amount
    np.testing.assert_allclose(out["expected_order_margin"], 0.25 * out["expected_order_value"], rtol=1e-6)
    np.testing.assert_allclose(out["predicted_margin_clv"], 0.25 * out["predicted_clv"], rtol=1e-6)


def test_losing_customers_keep_their_mean_margin_and_one_time_buyers_get_the_population_mean(con):
    orders = simulated_orders(600, seed=6)
    rng = np.random.default_rng(6)
    # a fifth of the customers lose money on every order (returns, fees); the rest earn 10-40 % of the value
    losing_ids = set(rng.choice(orders["golden_customer_id"].unique(), size=120, replace=False))
    share = np.where(orders["golden_customer_id"].isin(losing_ids), -0.15, rng.uniform(0.1, 0.4, len(orders)))
    orders = orders.assign(margin=(orders["net_value"] * share).round(2))
    write_orders(con, orders)
    write_predictions(con, AS_OF, **WEEKLY)
    out = predictions(con)
    params = latest_fit(con).fit.gamma_gamma_margin

    means = mean_repeat_margin(orders)
    losing = means[means <= 0]
    assert len(losing) > 20
    np.testing.assert_allclose(out.loc[losing.index, "expected_order_margin"], losing, rtol=1e-9)
    assert out.loc[losing.index, "predicted_margin_clv"].lt(0).all()

    positive = means[means > 0]
    population = (len(positive) / len(means) * params.p * params.gamma / (params.q - 1)
                  + len(losing) / len(means) * losing.mean())
    one_time = out.index.difference(means.index)
    assert len(one_time) > 50
    np.testing.assert_allclose(out.loc[one_time, "expected_order_margin"], population, rtol=1e-9)

    # a positive repeat customer: the Gamma-Gamma conditional mean (Fader & Hardie 2013, eq. 6), by hand
    x = out.loc[positive.index, "frequency"]
    by_hand = params.p * (params.gamma + x * positive) / (params.p * x + params.q - 1)
    np.testing.assert_allclose(out.loc[positive.index, "expected_order_margin"], by_hand, rtol=1e-9)
    # the same expected purchases carry both figures
    ratio_clv = out["predicted_margin_clv"] / out["predicted_clv"]
    ratio_order = out["expected_order_margin"] / out["expected_order_value"]
    np.testing.assert_allclose(ratio_clv, ratio_order, rtol=1e-9)


def test_a_fit_stored_before_the_margin_model_is_refitted(con):
    write_orders(con, simulated_orders(300, seed=7))
    # the table as the version before the margin model wrote it, with a fit of yesterday
    con.execute(f"""
        create table {FITS_TABLE} (
            fitted_at timestamptz not null, as_of_date date not null, customers integer not null,
            penalizer double not null, fit_seconds double, reason varchar,
            r double, alpha double, a double, b double, p double, q double, gamma double)""")
    con.execute(f"insert into {FITS_TABLE} values (now(), ?, 300, 0.0, 1.0, 'no stored fit', "
                "0.5, 10.0, 0.7, 2.5, 5.0, 3.0, 15.0)", [date.fromordinal(AS_OF.toordinal() - 1)])
    stats = write_predictions(con, AS_OF, **WEEKLY)
    assert stats["refitted"] and "margin model" in stats["fit_reason"]
    assert latest_fit(con).fit.gamma_gamma_margin is not None
    assert predictions(con)["predicted_margin_clv"].notna().all()
    # and the next day predicts with it
    assert not write_predictions(con, date.fromordinal(AS_OF.toordinal() + 1), **WEEKLY)["refitted"]
