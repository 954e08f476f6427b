"""BG/NBD and Gamma-Gamma reproduce the published CDNOW parameters (c360.kpis.clv)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from c360.kpis.clv import (
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_and_predict,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_expected_spend,
    predicted_clv,
    rfm_summary,
)

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow_customers_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    data = pd.read_csv(CDNOW)
    assert len(data) == 2357
    return data


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow):
    params = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    for fitted, published in ((params.r, 0.243), (params.alpha, 4.414), (params.a, 0.793), (params.b, 2.426)):
        assert fitted == pytest.approx(published, rel=0.01)
    # the paper's log-likelihood at the optimum
    ll = bgnbd_log_likelihood((params.r, params.alpha, params.a, params.b), cdnow["x"], cdnow["t_x"], cdnow["T"]).sum()
    assert ll == pytest.approx(-9582.4, abs=0.5)


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow):
    repeat = cdnow[cdnow["x"] > 0]
    assert len(repeat) == 946
    params = fit_gamma_gamma(repeat["x"], repeat["zbar"])
    for fitted, published in ((params.p, 6.25), (params.q, 3.74), (params.gamma, 15.44)):
        assert fitted == pytest.approx(published, rel=0.01)


def test_predictions_behave(cdnow):
    params = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    gg = fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    x, t_x, T = np.array([0, 2, 2]), np.array([0.0, 30.43, 5.0]), np.array([38.86, 38.86, 38.86])
    alive = bgnbd_p_alive(params, x, t_x, T)
    assert alive[0] == 1.0 and 0 < alive[2] < alive[1] < 1  # a recent buyer is more likely alive
    expected = bgnbd_expected_purchases(params, 39, x, t_x, T)
    assert np.all(expected >= 0) and expected[1] > expected[2]
    # the population mean spend for customers without repeat purchases
    spend = gamma_gamma_expected_spend(gg, np.array([0, 5]), np.array([0.0, 30.0]))
    assert spend[0] == pytest.approx(gg.p * gg.gamma / (gg.q - 1))
    clv = predicted_clv(params, gg, x, t_x, T, np.array([0.0, 20.0, 20.0]), horizon_months=12,
                        monthly_discount_rate=0.01, days_per_unit=7)
    undiscounted = predicted_clv(params, gg, x, t_x, T, np.array([0.0, 20.0, 20.0]), horizon_months=12,
                                 monthly_discount_rate=0.0, days_per_unit=7)
    assert np.all(clv > 0) and np.all(clv < undiscounted)


def test_rfm_summary_from_orders():
    orders = pd.DataFrame({
        "customer": ["a", "a", "a", "b"],
        "day": ["2026-01-01", "2026-01-01", "2026-01-15", "2026-01-08"],
        "value": [10.0, 5.0, 20.0, 7.0],
    })
    summary = rfm_summary(orders, "customer", "day", "value", "2026-01-29")
    assert summary.loc["a", "frequency"] == 1  # two orders on one day are one transaction
    assert summary.loc["a", "recency"] == pytest.approx(2.0)
    assert summary.loc["a", "T"] == pytest.approx(4.0)
    assert summary.loc["a", "monetary_value"] == pytest.approx(20.0)
    assert summary.loc["b", "frequency"] == 0 and summary.loc["b", "monetary_value"] == 0
    predicted, fit = fit_and_predict(summary)
    assert fit.bgnbd is None and predicted["p_alive"].isna().all()  # too little data: null, no error
