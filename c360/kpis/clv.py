"""Predicted customer lifetime value: BG/NBD for purchase counts and Gamma-Gamma for spend.

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): a customer buys at a
  Poisson rate lambda ~ Gamma(r, alpha) while alive and drops out after any purchase with probability
  p ~ Beta(a, b). Input per customer: frequency x (repeat purchases), recency t_x (time of the last
  purchase since the first) and age T (time since the first purchase), all in one time unit.
- Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"): the mean spend per
  transaction of a customer with x repeat purchases of average value m_x; fitted on customers with
  x > 0.
- Predicted CLV over a horizon: the expected purchases of each month of the horizon (BG/NBD, in the
  model's time unit) times the expected spend (Gamma-Gamma), discounted monthly.
- Predicted margin CLV: the same expected purchases times the expected contribution margin of an
  order, from a second Gamma-Gamma fit on the mean margins where they are positive
  (`expected_order_margin` says what happens to the others).

Only numpy and scipy; parameters are fitted on the log scale with `scipy.optimize.minimize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-12


def _as_arrays(*values) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


# ---------------------------------------------------------------------------------------------- BG/NBD

@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


def bgnbd_log_likelihood(params, x, t_x, T) -> np.ndarray:
    """FHL 2005 eq. 6: L = B(a,b+x)/B(a,b) * G(r+x)a^r/(G(r)(a+T)^(r+x))
    + delta(x>0) * B(a+1,b+x-1)/B(a,b) * G(r+x)a^r/(G(r)(a+t_x)^(r+x))."""
    from scipy.special import betaln, gammaln  # scipy is imported by the steps that fit, not with the code location

    r, alpha, a, b = params
    x, t_x, T = _as_arrays(x, t_x, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    term1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        term2 = np.where(
            x > 0,
            betaln(a + 1, np.maximum(b + x - 1, _EPS)) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(term1, term2)


def fit_bgnbd(x, t_x, T, initial=(1.0, 1.0, 1.0, 1.0), penalizer: float = 0.0) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters (L-BFGS-B on the log scale, bounded)."""
    from scipy.optimize import minimize  # scipy is imported by the steps that fit, not with the code location

    x, t_x, T = _as_arrays(x, t_x, T)
    if len(x) == 0:
        raise ValueError("BG/NBD needs at least one customer")
    scale = max(float(T.max()), 1e-9) / 10.0  # fit alpha on a scale near 1, then scale back
    # customers with the same (x, t_x, T) share one likelihood term: fit on the distinct rows, weighted
    rows, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, ut_x, uT = rows[:, 0], rows[:, 1] / scale, rows[:, 2] / scale
    n = float(weights.sum())

    def neg_ll(log_params):
        r, alpha, a, b = np.exp(log_params)
        # rescaling time only shifts the log-likelihood by the constant -sum(x) * log(scale)
        ll = (weights * bgnbd_log_likelihood((r, alpha, a, b), ux, ut_x, uT)).sum()
        return -ll / n + penalizer * float(np.sum(np.exp(log_params) ** 2))

    start = np.log(np.asarray(initial, dtype=float))
    # When every customer drops out with nearly the same probability, the likelihood rises along a
    # ridge a, b -> infinity (a / (a + b) fixed); bounding them ends the walk without changing what
    # the model predicts.
    bounds = [(np.log(1e-6), np.log(1e6))] * 2 + [(np.log(1e-6), np.log(1e4))] * 2
    # L-BFGS-B needs a few hundred evaluations where Nelder-Mead needs thousands (minutes at 1M
    # customers); Nelder-Mead only when it does not converge.
    res = minimize(neg_ll, start, method="L-BFGS-B", bounds=bounds)
    if not res.success:
        res = minimize(neg_ll, res.x, method="Nelder-Mead", bounds=bounds,
                       options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12})
    r, alpha, a, b = np.exp(res.x)
    return BgNbdParams(r=float(r), alpha=float(alpha * scale), a=float(a), b=float(b))


def bgnbd_p_alive(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """P(alive | x, t_x, T) (FHL 2005, eq. 12); 1 for customers without repeat purchases."""
    x, t_x, T = _as_arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_ratio = np.log(a) - np.log(np.maximum(b + x - 1, _EPS)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        p = 1.0 / (1.0 + np.exp(ln_ratio))
    return np.where(x > 0, p, 1.0)


def bgnbd_expected_purchases(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t time units (FHL 2005, eq. 10)."""
    from scipy.special import hyp2f1  # scipy is imported by the steps that fit, not with the code location

    x, t_x, T = _as_arrays(x, t_x, T)
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
    numer = (a + b + x - 1) / (a - 1) * (1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 + np.where(x > 0, a / np.maximum(b + x - 1, _EPS) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return numer / denom


# -------------------------------------------------------------------------------------------- Gamma-Gamma

@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float


def gamma_gamma_log_likelihood(params, x, m) -> np.ndarray:
    """Fader & Hardie 2013, eq. 5 (log of the marginal density of the mean spend m_x given x)."""
    from scipy.special import gammaln  # scipy is imported by the steps that fit, not with the code location

    p, q, g = params
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


def fit_gamma_gamma(x, m, initial=(1.0, 1.0, 1.0), penalizer: float = 0.0) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from customers with x > 0 and m > 0 (others ignored)."""
    from scipy.optimize import minimize  # scipy is imported by the steps that fit, not with the code location

    x, m = _as_arrays(x, m)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) == 0:
        raise ValueError("Gamma-Gamma needs at least one customer with a repeat purchase")
    scale = float(np.mean(m))

    def neg_ll(log_params):
        p, q, g = np.exp(log_params)
        # rescaling money only shifts the log-likelihood by a constant
        ll = gamma_gamma_log_likelihood((p, q, g), x, m / scale).sum()
        return -ll / len(x) + penalizer * float(np.sum(np.exp(log_params) ** 2))

    res = minimize(neg_ll, np.log(np.asarray(initial, dtype=float)), method="Nelder-Mead",
                   options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12})
    res = minimize(neg_ll, res.x, method="L-BFGS-B")
    p, q, g = np.exp(res.x)
    return GammaGammaParams(p=float(p), q=float(q), gamma=float(g * scale))


def gamma_gamma_expected_spend(params: GammaGammaParams, x, m) -> np.ndarray:
    """E[M | x, m_x] (Fader & Hardie 2013, eq. 6); the population mean p*gamma/(q-1) for x = 0."""
    x, m = _as_arrays(x, m)
    p, q, g = params.p, params.q, params.gamma
    population = p * g / (q - 1) if q > 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        individual = p * (g + x * m) / (p * x + q - 1)
    return np.where(x > 0, individual, population)


# ---------------------------------------------------------------------------------------------- CLV

def predicted_clv(bgnbd: BgNbdParams, gg: GammaGammaParams, x, t_x, T, m, *, horizon_months: int = 12,
                  monthly_discount_rate: float = 0.01, days_per_unit: float = 7.0, spend=None) -> np.ndarray:
    """Discounted expected revenue over `horizon_months`: sum over months i of
    (E[Y(t_i)] - E[Y(t_{i-1})]) * E[M] / (1 + d)^i, with t in the BG/NBD time unit (`days_per_unit`
    days, e.g. 7 for weeks). `spend` overrides the Gamma-Gamma expected spend per customer."""
    x, t_x, T, m = _as_arrays(x, t_x, T, m)
    spend = gamma_gamma_expected_spend(gg, x, m) if spend is None else np.asarray(spend, dtype=float)
    units_per_month = 365.25 / 12 / days_per_unit
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for month in range(1, horizon_months + 1):
        cumulative = bgnbd_expected_purchases(bgnbd, month * units_per_month, x, t_x, T)
        total += (cumulative - previous) * spend / (1 + monthly_discount_rate) ** month
        previous = cumulative
    return total


# ------------------------------------------------------------------------------------ from transactions

def rfm_summary(transactions, customer_col: str, date_col: str, value_col: str, as_of, days_per_unit: float = 7.0,
                margin_col: str | None = None):
    """Per customer the BG/NBD / Gamma-Gamma inputs from a transaction list (one row per order):
    purchases on the same day are one transaction; `frequency` = transaction days - 1, `recency` =
    last - first day, `T` = as_of - first day (in units of `days_per_unit` days), `monetary_value`
    = mean value of the repeat transaction days (0 without repeats); with `margin_col`, also
    `monetary_margin`, the mean margin of the same repeat days (may be 0 or negative)."""
    import pandas as pd

    values = [value_col] + ([margin_col] if margin_col else [])
    df = transactions[[customer_col, date_col, *values]].copy()
    df[date_col] = pd.to_datetime(df[date_col])
    daily = df.groupby([customer_col, date_col], as_index=False)[values].sum().sort_values([customer_col, date_col])
    daily["_rank"] = daily.groupby(customer_col).cumcount()
    grouped = daily.groupby(customer_col)
    first, last = grouped[date_col].min(), grouped[date_col].max()
    repeat = daily[daily["_rank"] > 0].groupby(customer_col)[values].mean().reindex(first.index).fillna(0.0)
    as_of = pd.Timestamp(as_of)
    out = pd.DataFrame({
        "frequency": grouped.size() - 1,
        "recency": (last - first).dt.days / days_per_unit,
        "T": (as_of - first).dt.days / days_per_unit,
        "monetary_value": repeat[value_col].astype(float),
        "first_purchase_date": first.dt.date,
        "last_purchase_date": last.dt.date,
    })
    if margin_col:
        out["monetary_margin"] = repeat[margin_col].astype(float)
    out.index.name = customer_col
    return out


@dataclass(frozen=True)
class ClvFit:
    bgnbd: BgNbdParams | None
    gamma_gamma: GammaGammaParams | None
    # Gamma-Gamma on the repeat customers' mean margin where it is positive (None without margins)
    gamma_gamma_margin: GammaGammaParams | None = None


def _enough_for_gamma_gamma(x: np.ndarray, m: np.ndarray) -> bool:
    return int(((x > 0) & (m > 0)).sum()) >= 3


def fit_models(summary, *, penalizer: float = 0.0) -> ClvFit:
    """Fit the models on an `rfm_summary`; a model without enough data (fewer than 10 customers or 3
    with repeat purchases, 3 with a positive mean value or margin for Gamma-Gamma) is None. The margin
    model is fitted only when the summary has `monetary_margin`."""
    x, t_x, T, m = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    bg = gg = gg_margin = None
    if len(summary) >= 10 and (x > 0).sum() >= 3:
        bg = fit_bgnbd(x, t_x, T, penalizer=penalizer)
    if _enough_for_gamma_gamma(x, m):
        gg = fit_gamma_gamma(x, m, penalizer=penalizer)
    if "monetary_margin" in summary and _enough_for_gamma_gamma(x, margin := summary["monetary_margin"].to_numpy(float)):
        gg_margin = fit_gamma_gamma(x, margin, penalizer=penalizer)
    return ClvFit(bg, gg, gg_margin)


def margin_model_expected(summary) -> bool:
    """Whether `fit_models` fits the margin model on this summary (a stored fit without it is incomplete)."""
    return "monetary_margin" in summary and _enough_for_gamma_gamma(
        summary["frequency"].to_numpy(float), summary["monetary_margin"].to_numpy(float))


def expected_order_margin(params: GammaGammaParams, x, margin) -> np.ndarray:
    """Expected contribution margin of one future order.

    Gamma-Gamma models positive amounts only, and a customer's margin can be negative (returns, fees).
    So: a repeat customer with a positive mean margin gets the Gamma-Gamma conditional expectation
    (shrunk towards the population, as for revenue); a repeat customer whose mean margin is zero or
    negative keeps that observed mean (no model of losses, no shrinkage: a customer who costs money is
    not assumed to turn profitable); a customer without a repeat purchase gets the population mean of
    all repeat customers: the Gamma-Gamma mean p*gamma/(q-1) weighted by the share with a positive
    mean margin, plus the mean of the others' margins weighted by their share.
    """
    x, margin = _as_arrays(x, margin)
    repeat = x > 0
    positive = repeat & (margin > 0)
    modelled = gamma_gamma_expected_spend(params, np.where(positive, x, 0.0), np.where(positive, margin, 0.0))
    losing = repeat & ~positive
    population = np.nan
    if repeat.any():
        share_positive = positive.sum() / repeat.sum()
        modelled_mean = params.p * params.gamma / (params.q - 1) if params.q > 1 else np.nan
        population = share_positive * modelled_mean
        if losing.any():
            population += (1 - share_positive) * float(margin[losing].mean())
    return np.where(positive, modelled, np.where(losing, margin, population))


def predict(summary, fit: ClvFit, *, horizon_months: int = 12, monthly_discount_rate: float = 0.01,
            days_per_unit: float = 7.0):
    """Add p_alive, expected purchases and predicted CLV over the horizon to an `rfm_summary`, from
    parameters fitted now or earlier (closed forms only: milliseconds where a fit takes seconds).
    With `monetary_margin` in the summary, also the expected order margin and the predicted margin CLV
    (`expected_order_margin`). The outputs of a model that `fit` lacks are null."""
    out = summary.copy()
    x, t_x, T, m = (out[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    bg, gg, gg_margin = fit.bgnbd, fit.gamma_gamma, fit.gamma_gamma_margin
    horizon_units = horizon_months * 365.25 / 12 / days_per_unit
    out["p_alive"] = bgnbd_p_alive(bg, x, t_x, T) if bg else np.nan
    out["expected_purchases"] = bgnbd_expected_purchases(bg, horizon_units, x, t_x, T) if bg else np.nan
    m_used = np.where(m > 0, m, 0.0)
    x_used = np.where(m > 0, x, 0.0)
    spend = gamma_gamma_expected_spend(gg, x_used, m_used) if gg else np.full(len(out), np.nan)
    out["expected_order_value"] = spend
    horizon = {"horizon_months": horizon_months, "monthly_discount_rate": monthly_discount_rate,
               "days_per_unit": days_per_unit}
    out["predicted_clv"] = predicted_clv(bg, gg, x, t_x, T, m, spend=spend, **horizon) if bg and gg else np.nan
    if "monetary_margin" in out:
        margin = (expected_order_margin(gg_margin, x, out["monetary_margin"].to_numpy(float)) if gg_margin
                  else np.full(len(out), np.nan))
        out["expected_order_margin"] = margin
        out["predicted_margin_clv"] = (predicted_clv(bg, gg_margin, x, t_x, T, m, spend=margin, **horizon)
                                       if bg and gg_margin else np.nan)
    return out


def fit_and_predict(summary, *, horizon_months: int = 12, monthly_discount_rate: float = 0.01,
                    days_per_unit: float = 7.0, penalizer: float = 0.0):
    """Fit both models on an `rfm_summary` and predict with them (`fit_models`, then `predict`)."""
    fit = fit_models(summary, penalizer=penalizer)
    return predict(summary, fit, horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
                   days_per_unit=days_per_unit), fit
