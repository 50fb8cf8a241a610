"""Survival and response statistics of virtual trial arms (lifelines, scipy).

Plain functions of arrays: times (days), events (bool), successes. Each returns
NaN where the statistic does not exist (no patients, no events, a median not
reached is ``inf``).

* :func:`response_rate`: share with its exact (Clopper-Pearson) 95% interval;
* :func:`kaplan_meier`: the Kaplan-Meier fit (lifelines), its median and the 95%
  interval of the median (from the pointwise interval of the curve, lifelines'
  exponential Greenwood bands);
* :func:`logrank`: log-rank test of two arms;
* :func:`cox_hazard_ratio`: Cox proportional-hazards ratio of an arm against the
  reference, with its 95% interval and Wald p (Efron ties, lifelines' default).

Virtual arms hold the same patients (paired design): these tests treat the arms
as independent samples, as a parallel-group trial would; with positively
correlated arms they are conservative.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

ALPHA = 0.05


def response_rate(successes: int, n: int, alpha: float = ALPHA) -> tuple[float, float, float]:
    """``(rate, lower, upper)``: the share and its exact Clopper-Pearson interval (NaNs when ``n`` is 0)."""
    if n == 0:
        return math.nan, math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=1 - alpha, method="exact")
    return successes / n, float(ci.low), float(ci.high)


def _clean(times, events):
    t = np.asarray(times, dtype=float)
    e = np.asarray(events, dtype=bool)
    ok = np.isfinite(t)
    return t[ok], e[ok]


def kaplan_meier(times, events, label: str = "", alpha: float = ALPHA):
    """The lifelines :class:`~lifelines.KaplanMeierFitter` of ``times`` (days) and ``events``, or None
    without data."""
    t, e = _clean(times, events)
    if t.size == 0:
        return None
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=alpha).fit(t, e, label=label or None)


def median_survival(times, events, alpha: float = ALPHA) -> tuple[float, float, float]:
    """``(median, lower, upper)`` of the Kaplan-Meier curve in days (``inf``: not reached; NaN: no data)."""
    kmf = kaplan_meier(times, events, alpha=alpha)
    if kmf is None:
        return math.nan, math.nan, math.nan
    from lifelines.utils import median_survival_times

    ci = median_survival_times(kmf.confidence_interval_)
    return float(kmf.median_survival_time_), float(ci.iloc[0, 0]), float(ci.iloc[0, 1])


def survival_at(times, events, day: float) -> float:
    """Kaplan-Meier survival probability at ``day`` (NaN without data)."""
    kmf = kaplan_meier(times, events)
    return math.nan if kmf is None else float(kmf.predict(day))


def logrank(times_a, events_a, times_b, events_b) -> tuple[float, float]:
    """``(statistic, p)`` of the log-rank test of two arms (NaNs without data or events)."""
    ta, ea = _clean(times_a, events_a)
    tb, eb = _clean(times_b, events_b)
    if ta.size == 0 or tb.size == 0 or not (ea.any() or eb.any()):
        return math.nan, math.nan
    from lifelines.statistics import logrank_test

    res = logrank_test(ta, tb, event_observed_A=ea, event_observed_B=eb)
    return float(res.test_statistic), float(res.p_value)


def cox_hazard_ratio(times_ref, events_ref, times_arm, events_arm, alpha: float = ALPHA) -> tuple[float, float, float, float]:
    """``(hazard ratio, lower, upper, p)`` of ``arm`` against ``ref`` (Cox model with one indicator);
    NaNs without events or when the fit does not converge (e.g. every event in one arm)."""
    tr, er = _clean(times_ref, events_ref)
    ta, ea = _clean(times_arm, events_arm)
    nan = (math.nan,) * 4
    if tr.size == 0 or ta.size == 0 or not (er.any() or ea.any()):
        return nan
    import pandas as pd
    from lifelines import CoxPHFitter

    df = pd.DataFrame({"t": np.concatenate([tr, ta]), "e": np.concatenate([er, ea]),
                       "arm": np.concatenate([np.zeros(tr.size), np.ones(ta.size)])})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(alpha=alpha).fit(df, duration_col="t", event_col="e")
    except Exception:  # lifelines' ConvergenceError and numerical failures of a degenerate design
        return nan
    hr = float(cph.hazard_ratios_["arm"])
    with np.errstate(over="ignore"):
        lo, hi = np.exp(cph.confidence_intervals_.loc["arm"].to_numpy(dtype=float))
    p = float(cph.summary.loc["arm", "p"])
    if not (math.isfinite(hr) and math.isfinite(lo) and math.isfinite(hi)) or hi / max(lo, 1e-300) > 1e6:
        return nan  # separation: the estimate runs off to 0 or infinity
    return hr, float(lo), float(hi), p
