"""Fit parameters to a user's tumour sizes over time per arm (scipy least squares, or ABC-SMC with pyabc).

The data are a CSV with columns ``arm``, ``day``, ``size`` (cells of the
scenario's size variable, ``tumor_live`` by default; give ``--cells-per-unit`` to
convert, e.g. 1e6 cells per mm3), one row per measurement; repeated
measurements (several animals) are separate rows. The model is the scenario's
nominal patient in each arm named in the data.

The residuals are ``log10(model) - log10(data)`` at each measurement (sizes
floored at one cell): tumour sizes span decades and their errors are roughly
multiplicative. Parameters are fitted in log space within the catalogue's
bounds, from the scenario's values, by :func:`scipy.optimize.least_squares`
(trust-region reflective) with a central-difference Jacobian whose runs are
batched with the residual's in one engine call (:meth:`tmesim.Simulation` with
``patient_values``). Approximate 95% intervals come from the Jacobian at the
optimum (``s^2 (J^T J)^-1`` in log space).

:func:`calibrate_abc` is the Bayesian alternative (the optional extra
``tmesim[abc]``): approximate Bayesian computation by sequential Monte Carlo
(:class:`pyabc.ABCSMC`), with a uniform prior on each log parameter over
``start / prior_fold`` to ``start * prior_fold`` (within the catalogue's bounds),
the distance the root mean square of the same log10 residuals, and the
tolerance of each generation the median distance of the one before (pyabc's
default). It reports the weighted posterior median and its central 95%
credible interval, and keeps the final generation's particles and weights.

:func:`write_parameter_set` writes a set that inherits the scenario's, with
each fitted value's source ``fitted: <data file>`` and kind ``fitted``; a
scenario uses it with ``parameter_set: <path>``.
"""

from __future__ import annotations

import csv
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import InputError, SimulationError

COLUMNS = ("arm", "day", "size")
FLOOR_CELLS = 1.0
#: Step of the central differences in log parameter space (1% changes: the engine's tolerance makes
#: smaller steps noisy) and the engine tolerance used while fitting.
LOG_STEP = 0.01
FIT_RTOL = 1e-6


def read_observations(path: Path | str, cells_per_unit: float = 1.0) -> pd.DataFrame:
    """Read and check a calibration CSV; sizes are converted to cells with ``cells_per_unit``.

    Raises InputError naming the file, the row (as a spreadsheet numbers it, header = 1) and the column for
    missing columns, empty files, non-numeric, non-finite or negative days and sizes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "give the CSV of tumour sizes (columns arm, day, size)")
    if not (math.isfinite(cells_per_unit) and cells_per_unit > 0):
        raise InputError("--cells-per-unit", f"must be a positive number, got {cells_per_unit}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise InputError(f"{path}: header", f"missing column{'s' * (len(missing) > 1)} {', '.join(missing)}"
                             + (f" (found: {', '.join(header)})" if header else " (the file is empty)"),
                             "the first row must name the columns arm, day, size")
        rows = []
        for line, raw in enumerate(reader, start=2):
            rec = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            if not any(rec.values()):
                continue
            if not rec["arm"]:
                raise InputError(f"{path}: row {line}, column arm", "empty arm name", "name the arm of the measurement")
            values = {}
            for col in ("day", "size"):
                try:
                    values[col] = float(rec[col])
                except ValueError:
                    raise InputError(f"{path}: row {line}, column {col}", f"{rec[col]!r} is not a number",
                                     "write a plain number, e.g. 12 or 3.5e6") from None
                if not math.isfinite(values[col]):
                    raise InputError(f"{path}: row {line}, column {col}", f"{rec[col]!r} is not finite")
                if values[col] < 0:
                    raise InputError(f"{path}: row {line}, column {col}", f"negative {col} {values[col]:g}",
                                     "days count from the scenario's start; sizes are >= 0")
            rows.append({"arm": rec["arm"], "day": values["day"], "size": values["size"] * cells_per_unit,
                         "row": line})
    if not rows:
        raise InputError(str(path), "no measurements", "add rows of arm, day, size")
    return pd.DataFrame(rows)


@dataclass
class CalibrationResult:
    """A fit: parameter names, values and 95% intervals (internal units), the residual standard deviation
    (log10), the optimiser's status."""

    names: list[str]
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    start: np.ndarray
    residual_sd: float
    n_points: int
    cost: float
    success: bool
    message: str
    evaluations: int
    arms: list[str] = field(default_factory=list)
    #: "least squares" or "ABC-SMC"; for ABC-SMC ``lower``/``upper`` bound the 95% credible interval and
    #: ``posterior`` holds the final particles (columns ``names``, internal units, and ``weight``).
    method: str = "least squares"
    posterior: pd.DataFrame | None = None
    #: ABC-SMC: parameters whose credible interval reaches within 5% (of the prior's log width) of an edge
    #: of the prior, i.e. the prior, not the data, bounds them.
    at_prior_edge: list[str] = field(default_factory=list)


class _Model:
    """Residuals and Jacobian of log10 size, computed together in one batched engine call per point."""

    def __init__(self, scenario, data: pd.DataFrame, names: list[str], size_variable: str):
        from ..simulation import SolverOptions

        self.scenario, self.data, self.names, self.size_variable = scenario, data, names, size_variable
        self.solver = SolverOptions(rtol=FIT_RTOL)
        self.target = np.log10(np.maximum(data["size"].to_numpy(dtype=float), FLOOR_CELLS))
        self.arm_rows = {arm: np.flatnonzero(data["arm"].to_numpy() == arm) for arm in scenario_arms(scenario)}
        self._cache: tuple[bytes, np.ndarray, np.ndarray] | None = None
        self.evaluations = 0

    def _predict(self, thetas: np.ndarray) -> np.ndarray:
        """log10 size at every data point for each parameter vector (rows of log values): (vectors, points)."""
        from .. import results as R
        from ..simulation import Simulation

        values = {name: np.exp(thetas[:, j]) for j, name in enumerate(self.names)}
        ds = Simulation(self.scenario, patient_values=values, solver=self.solver).run()
        self.evaluations += 1
        bad = R.failed(ds)
        if bool(bad.any()):
            raise SimulationError(R.failure_summary(ds) + " while fitting")
        t = ds["time"].values
        size = R.variable(ds, self.size_variable)
        out = np.empty((thetas.shape[0], len(self.data)))
        days = self.data["day"].to_numpy(dtype=float)
        for arm, rows in self.arm_rows.items():
            y = np.log10(np.maximum(size.sel(arm=arm).values, FLOOR_CELLS))  # (vectors, time)
            for r in rows:
                out[:, r] = [np.interp(days[r], t, y[v]) for v in range(thetas.shape[0])]
        return out

    def evaluate(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = np.asarray(theta, dtype=float).tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        k = theta.size
        thetas = np.repeat(theta[None, :], 2 * k + 1, axis=0)
        for j in range(k):
            thetas[1 + 2 * j, j] += LOG_STEP
            thetas[2 + 2 * j, j] -= LOG_STEP
        pred = self._predict(thetas)
        residual = pred[0] - self.target
        jac = np.stack([(pred[1 + 2 * j] - pred[2 + 2 * j]) / (2 * LOG_STEP) for j in range(k)], axis=1)
        self._cache = (key, residual, jac)
        return residual, jac


def scenario_arms(scenario) -> list[str]:
    return [a.name for a in scenario.arms]


def calibration_scenario(scenario, data: pd.DataFrame):
    """The scenario restricted to the data's arms, run to the last measurement, one nominal patient."""
    names = scenario_arms(scenario)
    for arm, row in zip(data["arm"], data["row"]):
        if arm not in names:
            close = difflib.get_close_matches(arm, names, n=1)
            raise InputError(f"row {row}, column arm", f"scenario {scenario.name!r} has no arm {arm!r}",
                             f"did you mean {close[0]!r}?" if close else f"arms: {', '.join(names)}")
    arms = [a.model_dump() for a in scenario.arms if a.name in set(data["arm"])]
    days = max(float(data["day"].max()), 1.0 / 24.0)
    return scenario.with_overrides(days=days, arms=arms, cohort={"size": 1, "variability": {}})


def check_parameters(scenario, names: list[str]) -> np.ndarray:
    """Validate the parameters to fit; return their starting values (internal units)."""
    from ..params.index import CATALOGUE
    from ..params.loader import unknown_parameter

    if not names:
        raise InputError("--params", "no parameter to fit", "e.g. --params tumor_growth_rate,ctl_max_kill_rate")
    if len(set(names)) != len(names):
        raise InputError("--params", "a parameter is listed twice")
    start = []
    for name in names:
        if name not in CATALOGUE:
            raise unknown_parameter(name, "--params")
        if CATALOGUE[name].get("knob"):
            raise InputError("--params", f"{name!r} is a knob (a genetic or environmental setting), not a rate to fit")
        value = scenario.base_parameters[name]
        if not value > 0:
            raise InputError("--params", f"{name!r} is {value:g} in the scenario; it is fitted in log space and must "
                                         "start above 0", "set a positive starting value in the scenario")
        start.append(value)
    return np.array(start)


def calibrate(scenario, data: pd.DataFrame, names: list[str], size_variable: str = "tumor_live",
              max_evaluations: int = 60) -> CalibrationResult:
    """Fit ``names`` to ``data`` (see the module docstring)."""
    from scipy.optimize import least_squares

    from ..params.index import CATALOGUE

    start = check_parameters(scenario, names)
    scn = calibration_scenario(scenario, data)
    model = _Model(scn, data, names, size_variable)
    lo = np.array([math.log(CATALOGUE[n]["min"]) if CATALOGUE[n].get("min") else -np.inf for n in names])
    hi = np.array([math.log(CATALOGUE[n]["max"]) if CATALOGUE[n].get("max") is not None else np.inf for n in names])
    theta0 = np.clip(np.log(start), lo + 1e-9, hi - 1e-9)
    fit = least_squares(lambda th: model.evaluate(th)[0], theta0, jac=lambda th: model.evaluate(th)[1],
                        bounds=(lo, hi), method="trf", x_scale=1.0, max_nfev=max_evaluations)
    residual, jac = model.evaluate(fit.x)
    m, k = residual.size, len(names)
    dof = max(m - k, 1)
    s2 = float(residual @ residual) / dof
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac)
        half = 1.96 * np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        half = np.full(k, np.inf)
    return CalibrationResult(list(names), np.exp(fit.x), np.exp(fit.x - half), np.exp(fit.x + half), start,
                             math.sqrt(s2), m, float(fit.cost), bool(fit.success), str(fit.message), model.evaluations,
                             sorted(set(data["arm"])))


#: Defaults of :func:`calibrate_abc`: particles per generation, most generations, prior width (fold either
#: side of the scenario's value), and the acceptance rate below which it stops (each accepted particle
#: then costs more than 50 simulations).
ABC_POPULATION = 100
ABC_GENERATIONS = 8
ABC_PRIOR_FOLD = 10.0
ABC_MIN_ACCEPTANCE = 0.02


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """Quantiles ``q`` of samples ``x`` with weights ``w`` (the weighted empirical distribution, interpolated)."""
    order = np.argsort(x)
    x, w = x[order], w[order] / w.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return np.interp(q, cdf, x)


def check_abc_settings(population: int, generations: int, prior_fold: float) -> None:
    """Reject ABC-SMC settings that cannot run (InputError naming the option)."""
    if population < 2:
        raise InputError("--population", f"got {population}", "give at least 2 particles (100 is a usual size)")
    if generations < 1:
        raise InputError("--generations", f"got {generations}", "give at least 1")
    if not (math.isfinite(prior_fold) and prior_fold > 1.0):
        raise InputError("--prior-fold", f"got {prior_fold}", "give a number above 1 (10: a tenth to ten times the "
                                                             "scenario's value)")


def calibrate_abc(scenario, data: pd.DataFrame, names: list[str], size_variable: str = "tumor_live",
                  population: int = ABC_POPULATION, generations: int = ABC_GENERATIONS,
                  prior_fold: float = ABC_PRIOR_FOLD, seed: int = 0,
                  min_acceptance: float = ABC_MIN_ACCEPTANCE) -> CalibrationResult:
    """Fit ``names`` to ``data`` by ABC-SMC (see the module docstring).

    ``population`` particles per generation, at most ``generations`` generations (it stops earlier when the
    acceptance rate falls below ``min_acceptance``); the prior of each parameter is uniform in log space over
    its scenario value divided and multiplied by ``prior_fold`` (clipped to the catalogue's bounds). The run
    is reproducible for a given ``seed``: pyabc draws from numpy's global generator, which is seeded here and
    restored afterwards. Values in the result are in internal units.
    """
    try:
        import pyabc
    except ImportError:
        raise InputError("--method abc", "pyabc is not installed",
                         "install the extra: pip install 'tmesim[abc]'") from None
    import logging
    import tempfile

    from ..params.index import CATALOGUE

    check_abc_settings(population, generations, prior_fold)
    start = check_parameters(scenario, names)
    scn = calibration_scenario(scenario, data)
    model = _Model(scn, data, names, size_variable)
    lo = np.array([max(math.log(CATALOGUE[n]["min"]) if CATALOGUE[n].get("min") else -np.inf,
                       math.log(v / prior_fold)) for n, v in zip(names, start)])
    hi = np.array([min(math.log(CATALOGUE[n]["max"]) if CATALOGUE[n].get("max") is not None else np.inf,
                       math.log(v * prior_fold)) for n, v in zip(names, start)])
    prior = pyabc.Distribution(**{n: pyabc.RV("uniform", a, b - a) for n, a, b in zip(names, lo, hi)})

    def simulate(par) -> dict[str, np.ndarray]:
        theta = np.array([[par[n] for n in names]])
        try:
            return {"log10_size": model._predict(theta)[0]}
        except SimulationError:  # a particle the engine cannot integrate is never accepted
            return {"log10_size": np.full(model.target.size, np.nan)}

    def distance(x, x0) -> float:
        r = x["log10_size"] - x0["log10_size"]
        return float(np.sqrt(np.mean(r * r))) if np.all(np.isfinite(r)) else math.inf

    quiet = [logging.getLogger(n) for n in ("ABC", "pyabc")]
    levels = [q.level for q in quiet]
    state = np.random.get_state()
    try:
        for q in quiet:
            q.setLevel(logging.WARNING)
        np.random.seed(seed)
        abc = pyabc.ABCSMC(simulate, prior, distance, population_size=population,
                           sampler=pyabc.sampler.SingleCoreSampler())
        with tempfile.TemporaryDirectory(prefix="tmesim-abc-") as tmp:
            abc.new("sqlite:///" + str(Path(tmp) / "abc.db"), {"log10_size": model.target})
            history = abc.run(max_nr_populations=generations, min_acceptance_rate=min_acceptance)
            particles, weights = history.get_distribution(m=0, t=history.max_t)
            populations = history.get_all_populations()
            simulations = int(history.total_nr_simulations)
            history = None  # release the database before the folder goes
    finally:
        np.random.set_state(state)
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    w = np.asarray(weights, dtype=float)
    logs = np.column_stack([particles[n].to_numpy(dtype=float) for n in names])
    qs = np.array([_weighted_quantiles(logs[:, j], w, (0.025, 0.5, 0.975)) for j in range(len(names))])
    median = qs[:, 1]
    residual = model._predict(median[None])[0] - model.target
    m, k = residual.size, len(names)
    epsilon = float(populations["epsilon"].iloc[-1])
    done = int(populations["t"].max()) + 1
    margin = 0.05 * (hi - lo)
    edge = [n for j, n in enumerate(names) if qs[j, 0] - lo[j] < margin[j] or hi[j] - qs[j, 2] < margin[j]]
    posterior = pd.DataFrame(np.exp(logs), columns=names)
    posterior["weight"] = w / w.sum()
    return CalibrationResult(
        list(names), np.exp(median), np.exp(qs[:, 0]), np.exp(qs[:, 2]), start,
        math.sqrt(float(residual @ residual) / max(m - k, 1)), m, float(0.5 * residual @ residual),
        done == generations,
        f"{done} generation(s) of {population} particles, final tolerance {epsilon:.3g} log10 (root mean square), "
        f"{simulations} simulations" + ("" if done == generations else
                                        f"; stopped when acceptance fell below {min_acceptance:g}"),
        model.evaluations, sorted(set(data["arm"])), method="ABC-SMC", posterior=posterior, at_prior_edge=edge)


def write_parameter_set(result: CalibrationResult, scenario, data_path: Path | str, out: Path | str,
                        name: str | None = None) -> Path:
    """Write the fitted values as a parameter set inheriting the scenario's (see the module docstring)."""
    from ..trials.store import write_text_atomic
    from ..units import conversion_factor

    data_path, out = Path(data_path), Path(out)
    base = scenario.base_parameters
    params = {}
    for j, pname in enumerate(result.names):
        unit = base.by_name[pname].given_unit
        factor = conversion_factor(unit, base.by_name[pname].unit, pname)
        value, lo, hi = (float(v) / factor for v in (result.values[j], result.lower[j], result.upper[j]))
        params[pname] = {
            "value": float(f"{value:.6g}"), "unit": unit, "source": f"fitted: {data_path.name}", "source_kind": "fitted",
            "note": (f"tmesim calibrate: {result.method} on log10 {len(result.arms)}-arm tumour size "
                     f"({', '.join(result.arms)}; {result.n_points} points) from {float(result.start[j]) / factor:.4g}; "
                     + (f"approximate 95% interval {lo:.4g}-{hi:.4g} {unit}" if result.method == "least squares" else
                        f"posterior median; 95% credible interval {lo:.4g}-{hi:.4g} {unit} ({result.message})")
                     + f"; residual sd {result.residual_sd:.3g} log10"),
        }
    doc = {"name": name or f"{scenario.parameter_set}_fitted_{data_path.stem}",
           "description": f"{scenario.parameter_set} with {', '.join(result.names)} fitted to {data_path.name} "
                          f"(tmesim calibrate, scenario {scenario.name}).",
           "inherits": scenario.parameter_set, "parameters": params}
    if out.suffix not in (".yaml", ".yml"):
        raise InputError("--out", f"{out} does not end in .yaml", "parameter sets are YAML files")
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out, yaml.safe_dump(doc, sort_keys=False, width=110))
