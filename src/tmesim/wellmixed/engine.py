"""Run a scenario with the well-mixed engine and return an xarray Dataset.

Every (arm, patient) row integrates in one compiled, parallel call of the
batched Rosenbrock-W solver (:mod:`.solver`), in chunks of output times so a
progress callback can report. See docs/architecture.md for the Dataset
contract.
"""

from __future__ import annotations

import json
import os
from typing import Callable

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import SimulationError
from ..protocols import drugs
from ..protocols.schedule import MIN_PER_DAY, Batch, compile_batch
from . import state as S

# numba's default OpenMP layer was up to 145x slower on 2-core machines here
# (shared/research/ecosystem.md); workqueue must be chosen before compiling.
if "NUMBA_THREADING_LAYER" not in os.environ:
    import numba

    numba.config.THREADING_LAYER = "workqueue"

from . import model as M  # noqa: E402
from . import solver  # noqa: E402

DEFAULT_RTOL = 1e-4
DEFAULT_METHOD = "ros34pw2"


def _solve(batch: Batch, out_times: np.ndarray, rtol: float, progress: Callable[[float], None] | None,
           chunks: int, max_steps: int, hmax: float, jac_every: int, method: int):
    R = batch.n_rows
    y = np.array([M.initial_state(p) for p in batch.p])
    K = out_times.size
    out_y = np.full((R, K, S.N_STATE), np.nan)
    out_aux = np.full((R, K, M.N_AUX), np.nan)
    tcur = np.zeros(R)
    hcur = np.full(R, 1.0)
    c0 = np.zeros((R, drugs.N_DRUGS))
    t0 = np.zeros((R, drugs.N_DRUGS))
    ev_ptr = np.zeros(R, dtype=np.int64)
    status = np.zeros(R, dtype=np.int64)
    fail_var = np.full(R, -1, dtype=np.int64)
    fail_time = np.full(R, np.nan)
    n_steps = np.zeros(R, dtype=np.int64)
    atol = np.array(S.atol())
    bounds = np.unique(np.linspace(0, K, min(chunks, K) + 1).astype(int))
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        solver.integrate(y, tcur, hcur, batch.p, c0, t0, batch.ev_time, batch.ev_kind, batch.ev_payload, batch.n_ev,
                         ev_ptr, out_times, int(k0), int(k1), rtol, atol, hmax, max_steps, jac_every,
                         method, out_y, out_aux, status, fail_var, fail_time, n_steps)
        if progress is not None:
            progress(k1 / K)
    return out_y, out_aux, status, fail_var, fail_time, n_steps


def simulate(scenario, *, progress: Callable[[float], None] | None = None, rtol: float = DEFAULT_RTOL,
             chunks: int = 20, max_steps: int = 200_000, hmax_min: float = 1440.0, jac_every: int = 20,
             method: str = DEFAULT_METHOD, raise_on_failure: bool = False) -> xr.Dataset:
    """Integrate every arm and patient of ``scenario``.

    Parameters
    ----------
    scenario : tmesim.scenario.Scenario
    progress : called with the fraction done (0..1) after each chunk.
    rtol : relative tolerance of the integrator (absolute tolerances per
        variable are in :mod:`.state`).
    chunks : number of progress chunks.
    max_steps : step budget per row and chunk before the row fails.
    hmax_min : largest step (min).
    jac_every : accepted steps between Jacobian refreshes.
    method : Rosenbrock-W scheme, ``"ros34pw2"`` (order 3, the default) or
        ``"ros2"`` (order 2); see :mod:`.solver`.
    raise_on_failure : raise :class:`SimulationError` if any row fails
        instead of reporting it in ``solver_status``.

    Returns
    -------
    xarray.Dataset on (arm, patient, time[days]); see docs/architecture.md.
    """
    if method not in solver.METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(solver.METHODS)}")
    batch = compile_batch(scenario)
    step_days = scenario.output_interval_hours / 24.0
    n_out = int(np.floor(scenario.days / step_days + 1e-9)) + 1
    days = np.arange(n_out) * step_days
    if days[-1] < scenario.days - 1e-9:
        days = np.append(days, scenario.days)
    out_times = days * MIN_PER_DAY
    out_y, out_aux, status, fail_var, fail_time, n_steps = _solve(batch, out_times, rtol, progress, chunks, max_steps, hmax_min, jac_every,
                                                                    solver.METHODS[method])
    ds = _to_dataset(scenario, batch, days, out_y, out_aux, status, fail_var, fail_time, n_steps)
    if raise_on_failure:
        check(ds)
    return ds


def failure_messages(batch: Batch, status, fail_var, fail_time) -> list[dict]:
    """One record per failed row: arm, patient, status, and a message naming
    the variable and time."""
    out = []
    for r in np.flatnonzero(status):
        arm = batch.arms[r // batch.n_patients]
        pat = int(r % batch.n_patients)
        var = S.NAMES[fail_var[r]] if fail_var[r] >= 0 else "unknown variable"  # limiting or offending variable
        msg = f"{solver.STATUS_MESSAGES[int(status[r])]}; variable {var} at t = {fail_time[r] / MIN_PER_DAY:.3f} d"
        out.append({"arm": arm, "patient": pat, "status": int(status[r]), "message": msg})
    return out


def check(ds: xr.Dataset) -> None:
    """Raise :class:`SimulationError` naming arm, patient, variable and time
    if any row failed or any output is non-finite or negative."""
    msgs = json.loads(ds.attrs.get("solver_messages", "[]"))
    if msgs:
        m = msgs[0]
        more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
        raise SimulationError(f"arm {m['arm']!r}, patient {m['patient']}: {m['message']}{more}")
    for name in S.NAMES:
        v = ds[name]
        bad = ~np.isfinite(v) | (v < 0)
        if bool(bad.any()):
            idx = np.argwhere(bad.values)[0]
            raise SimulationError(f"variable {name} is {float(v.values[tuple(idx)])} in arm {ds.arm.values[idx[0]]!r}, "
                                  f"patient {idx[1]}, t = {float(ds.time.values[idx[2]]):.3f} d")


def _to_dataset(scenario, batch: Batch, days, out_y, out_aux, status, fail_var, fail_time, n_steps) -> xr.Dataset:
    A, Np = len(batch.arms), batch.n_patients
    shape = (A, Np, days.size)
    data = {}
    for i, name in enumerate(S.NAMES):
        units, long_name, group = S.info(name)
        data[name] = (("arm", "patient", "time"), out_y[:, :, i].reshape(shape), {"units": units, "long_name": long_name, "group": group})
    for i, name in enumerate(S.AUX_NAMES):
        units, long_name, group = S.info(name)
        data[name] = (("arm", "patient", "time"), out_aux[:, :, i].reshape(shape), {"units": units, "long_name": long_name, "group": group})
    for d, drug in enumerate(drugs.DRUGS):
        data[f"drug_{drug.name}"] = (("arm", "patient", "time"), out_aux[:, :, S.N_AUX_BASE + d].reshape(shape),
                                     {"units": "mg/L", "long_name": f"{drug.name} concentration", "group": "drugs"})
    kills = [n for n in S.NAMES if n.startswith("kills_")]
    # contact killing only: IFN-gamma-induced apoptosis is its own mode (deaths_ifng_apoptosis)
    data["deaths_killing"] = (("arm", "patient", "time"), sum(data[n][1] for n in kills),
                              {"units": "cell", "long_name": "tumor cells killed by immune contact (cumulative)", "group": "deaths"})
    data["solver_status"] = (("arm", "patient"), status.reshape(A, Np), {"long_name": "integrator status (0 = ok)"})
    data["solver_steps"] = (("arm", "patient"), n_steps.reshape(A, Np), {"long_name": "integrator steps"})
    ds = xr.Dataset(
        data,
        coords={
            "arm": ("arm", batch.arms),
            "patient": ("patient", np.arange(Np)),
            "time": ("time", days, {"units": "day", "long_name": "time since start"}),
        },
    )
    per_arm = {}
    base = scenario.base_parameters.to_dict()
    for arm in scenario.arms:
        diff = {k: v for k, v in scenario.arm_parameters(arm).to_dict().items() if v["value"] != base[k]["value"]}
        if diff:
            per_arm[arm.name] = diff
    ds.attrs.update(
        engine="wellmixed",
        tmesim_version=__version__,
        scenario=scenario.to_yaml(),
        seed=int(scenario.seed),
        parameter_set=scenario.parameter_set,
        parameters=json.dumps(base),
        arm_parameters=json.dumps(per_arm),
        solver_messages=json.dumps(failure_messages(batch, status, fail_var, fail_time)),
    )
    return ds
