"""Global sensitivity of a trial endpoint to a cohort's parameters (SALib: Morris screening, Sobol indices).

The inputs are the cohort's drawn parameters, each varied over its own
distribution: SALib samples the unit hypercube, and each coordinate ``u`` is a
quantile, mapped to a value through the parameter's (truncated) quantile
function, so the analysis asks how much of the endpoint's spread across the
cohort's patients each parameter carries. Quantiles are kept within
[:data:`U_MIN`, 1 - :data:`U_MIN`] so that unbounded laws give finite values.
Parameters not analysed are held at their medians (drawn ones) or at the
scenario's values; the copula's correlations are ignored (Sobol and Morris
assume independent inputs).

* Morris (``method="morris"``): ``samples`` trajectories of ``k + 1`` runs; mu*
  (mean absolute elementary effect, with its bootstrap 95% interval) and sigma.
* Sobol (``method="sobol"``): Saltelli's scheme, ``samples * (k + 2)`` runs
  (``samples`` a power of 2); first-order S1 and total ST with bootstrap 95%
  intervals.

Elementary effects are per unit of quantile (u in [0, 1]), comparable across
parameters. Time-to-event endpoints enter as observed times (censored ones at
the horizon).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.special import ndtri

from ..errors import InputError, SimulationError
from ..trials.endpoints import NUMERIC

METHODS = ("morris", "sobol")
U_MIN = 1e-4
CONF_LEVEL = 0.95
RESAMPLES = 1000


@dataclass
class SensitivityResult:
    """``table``: one row per arm and parameter; ``runs``: the per-row endpoint table; ``samples``: the
    unit-hypercube sample (rows x parameters)."""

    method: str
    endpoint: str
    parameters: list[str]
    table: pd.DataFrame
    runs: pd.DataFrame
    samples: np.ndarray


def check_request(cohort, params: list[str] | None, endpoint: str, method: str, samples: int) -> list[str]:
    """Validate the request; return the parameters (default: every drawn parameter)."""
    if method not in METHODS:
        raise InputError("--method", f"unknown method {method!r}", f"use {' or '.join(METHODS)}")
    drawn = [d.name for d in cohort.draws]
    if not drawn:
        raise InputError("parameters", "the cohort draws no parameter", "add distributions under 'parameters:'")
    names = list(params) if params else drawn
    for name in names:
        if name not in drawn:
            close = difflib.get_close_matches(name, drawn, n=1)
            raise InputError("--params", f"{name!r} is not a drawn parameter of cohort {cohort.name!r}",
                             f"did you mean {close[0]!r}?" if close else f"drawn: {', '.join(drawn)}")
    if len(set(names)) != len(names):
        raise InputError("--params", "a parameter is listed twice")
    if len(names) < 2 and method == "sobol":
        raise InputError("--params", "Sobol indices need at least two parameters")
    known = NUMERIC[cohort.endpoints.type]
    if endpoint not in known:
        close = difflib.get_close_matches(endpoint, known, n=1)
        raise InputError("--endpoint", f"unknown endpoint {endpoint!r} for {cohort.endpoints.type} tumours",
                         f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(known)}")
    if not isinstance(samples, int) or samples < 2:
        raise InputError("--samples", f"must be an integer >= 2, got {samples!r}")
    if method == "sobol" and samples & (samples - 1):
        raise InputError("--samples", f"Sobol sampling needs a power of 2, got {samples}",
                         f"e.g. {1 << (samples.bit_length() - 1)} or {1 << samples.bit_length()}")
    return names


def design(cohort, names: list[str], method: str, samples: int, seed: int) -> tuple[dict, np.ndarray, dict]:
    """The SALib problem, the unit-hypercube sample and the parameter values (cohort units) of each run."""
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    if method == "morris":
        from SALib.sample import morris

        u = morris.sample(problem, samples, num_levels=4, seed=seed)
    else:
        from SALib.sample import sobol

        u = sobol.sample(problem, samples, calc_second_order=False, seed=seed)
    draws = {d.name: d for d in cohort.draws}
    z = ndtri(np.clip(u, U_MIN, 1.0 - U_MIN))
    values = {name: draws[name].sample(z[:, j]) for j, name in enumerate(names)}
    for d in cohort.draws:
        if d.name not in values:
            values[d.name] = np.full(u.shape[0], d.median())
    return problem, u, values


def run_sensitivity(cohort, params: list[str] | None, endpoint: str, method: str = "sobol", samples: int = 64,
                    executor=None, progress=None, seed: int | None = None) -> SensitivityResult:
    """Sample, run every arm for every sample (on ``executor``), analyse per arm."""
    from ..trials.runner import run_values

    names = check_request(cohort, params, endpoint, method, samples)
    seed = cohort.seed if seed is None else seed
    problem, u, values = design(cohort, names, method, samples, seed)
    runs = run_values(cohort, values, executor, progress)
    failed = runs[runs["status"] != 0]
    if len(failed):
        first = failed.iloc[0]
        raise SimulationError(f"{len(failed)} of {len(runs)} sensitivity runs failed to integrate (first: arm "
                              f"{first['arm']!r}, sample {int(first['patient'])}: {first['message']}); Sobol and "
                              "Morris need every run")
    rows = []
    for arm in cohort.arms:
        y = runs.loc[runs["arm"] == arm, endpoint].to_numpy(dtype=float)
        bad = ~np.isfinite(y)
        if bad.any():
            raise InputError("--endpoint", f"{endpoint} is undefined for {int(bad.sum())} of {y.size} runs of arm "
                                           f"{arm!r} (e.g. a duration of response without a response)",
                             "choose an endpoint every patient has, e.g. "
                             + ("best_change_pct" if cohort.endpoints.type == "solid" else "log10_burden_mean"))
        rows += analyse(problem, u, y, method, seed, arm)
    table = pd.DataFrame(rows)
    return SensitivityResult(method, endpoint, names, table, runs, u)


def analyse(problem: dict, u: np.ndarray, y: np.ndarray, method: str, seed: int, arm: str) -> list[dict]:
    """SALib's analysis of one arm's outputs ``y``: one dict per parameter."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant outputs give 0/0 in SALib
        if method == "morris":
            from SALib.analyze import morris

            res = morris.analyze(problem, u, y, num_resamples=RESAMPLES, conf_level=CONF_LEVEL, num_levels=4, seed=seed)
            return [{"arm": arm, "parameter": name, "mu": float(res["mu"][j]), "mu_star": float(res["mu_star"][j]),
                     "mu_star_conf": float(res["mu_star_conf"][j]), "sigma": float(res["sigma"][j])}
                    for j, name in enumerate(problem["names"])]
        from SALib.analyze import sobol

        res = sobol.analyze(problem, y, calc_second_order=False, num_resamples=RESAMPLES, conf_level=CONF_LEVEL,
                            seed=seed)
        return [{"arm": arm, "parameter": name, "S1": float(res["S1"][j]), "S1_conf": float(res["S1_conf"][j]),
                 "ST": float(res["ST"][j]), "ST_conf": float(res["ST_conf"][j])}
                for j, name in enumerate(problem["names"])]


def figure_sensitivity(result: SensitivityResult) -> Figure:
    """Per arm, horizontal bars: Sobol S1 and ST, or Morris mu* (with sigma), with their 95% intervals."""
    arms = list(dict.fromkeys(result.table["arm"]))
    k = len(result.parameters)
    fig = Figure(figsize=(5.0 * len(arms), 0.45 * k + 1.6), layout="constrained")
    axes = fig.subplots(1, len(arms), squeeze=False)[0]
    y = np.arange(k)
    for ax, arm in zip(axes, arms):
        sub = result.table[result.table["arm"] == arm].set_index("parameter").loc[result.parameters]
        if result.method == "sobol":
            ax.barh(y - 0.2, sub["S1"], 0.4, xerr=sub["S1_conf"], label="first order S1", color="#4575b4")
            ax.barh(y + 0.2, sub["ST"], 0.4, xerr=sub["ST_conf"], label="total ST", color="#d73027")
            ax.set_xlabel("Sobol index (95% interval)")
        else:
            ax.barh(y - 0.2, sub["mu_star"], 0.4, xerr=sub["mu_star_conf"], label="mu*", color="#4575b4")
            ax.barh(y + 0.2, sub["sigma"], 0.4, label="sigma", color="#fdae61")
            ax.set_xlabel("mu*, sigma: effect per unit quantile")
        ax.set_yticks(y, result.parameters, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(arm, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"{result.method.capitalize()} sensitivity of {result.endpoint}")
    return fig


def write_sensitivity(result: SensitivityResult, folder: Path) -> list[Path]:
    """Write ``sensitivity.csv``, ``sensitivity_runs.parquet`` and ``sensitivity.png`` into ``folder``."""
    from ..trials.store import write_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fig = figure_sensitivity(result)
    return [write_atomic(folder / "sensitivity.csv", lambda tmp: result.table.to_csv(tmp, index=False)),
            write_atomic(folder / "sensitivity_runs.parquet", lambda tmp: result.runs.to_parquet(tmp, index=False)),
            write_atomic(folder / "sensitivity.png", lambda tmp: fig.savefig(tmp, dpi=120, format="png"))]
