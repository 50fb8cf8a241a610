"""The well-mixed engine: compile a simulation's rows, integrate them, return the results contract.

Every (arm, patient) row integrates in one compiled, parallel call of the
batched Rosenbrock-W solver (:mod:`.solver`), in chunks of output times so a
progress callback can report. :func:`run` is what
:meth:`tmesim.Simulation.run` calls for ``scale: wellmixed``; the Dataset it
returns is assembled by :func:`tmesim.results.assemble` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from ..params.index import CATALOGUE, NAMES
from ..protocols import drugs
from ..protocols.schedule import MIN_PER_DAY, Batch, compile_batch
from ..results import assemble
from ..status import SolverStatus
from . import model as M
from . import solver
from . import state as S
from .layout import ROW

ENGINE = "wellmixed"


def compile_rows(simulation) -> Batch:
    """The rows of ``simulation``'s scenario: parameter values, resolved rows and event tables."""
    return compile_batch(simulation.scenario, ROW, simulation.seed_sequence, simulation.patient_values)


def integrate(batch: Batch, out_times: np.ndarray, options, progress: Callable[[float], None] | None = None):
    """Integrate every row of ``batch`` through ``out_times`` (min) with the solver ``options``
    (:class:`tmesim.simulation.SolverOptions`).

    Returns ``(out_y, out_aux, status, fail_var, fail_time, n_steps)``: states and stored derived
    outputs on (row, time, variable), and per row the :class:`~tmesim.status.SolverStatus` value, the
    limiting or offending variable, the failure time (min) and the steps taken.
    """
    R = batch.n_rows
    y = np.array([M.initial_state(p) for p in batch.params])
    K = out_times.size
    out_y = np.full((R, K, S.N_STATE), np.nan)
    out_aux = np.full((R, K, M.N_AUX_OUT), np.nan)
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
    bounds = np.unique(np.linspace(0, K, min(options.progress_chunks, K) + 1).astype(int))
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        solver.integrate(y, tcur, hcur, batch.params, c0, t0, batch.ev_time, batch.ev_kind, batch.ev_payload,
                         batch.n_ev, ev_ptr, out_times, int(k0), int(k1), options.rtol, atol,
                         options.max_step_days * MIN_PER_DAY, options.max_steps, options.jacobian_every,
                         solver.METHODS[options.method], out_y, out_aux, status, fail_var, fail_time, n_steps)
        if progress is not None:
            progress(k1 / K)
    return out_y, out_aux, status, fail_var, fail_time, n_steps


def failure_messages(status, fail_var, fail_time) -> np.ndarray:
    """Per row: ``"ok"``, or the status's message naming the variable and time of the failure."""
    out = np.full(status.shape, SolverStatus.OK.message, dtype=object)
    for r in np.flatnonzero(status):
        var = S.NAMES[fail_var[r]] if fail_var[r] >= 0 else "unknown variable"  # limiting or offending variable
        out[r] = f"{SolverStatus(int(status[r])).message}; variable {var} at t = {fail_time[r] / MIN_PER_DAY:.3f} d"
    return out


def run(simulation, progress: Callable[[float], None] | None = None) -> xr.Dataset:
    """Integrate every arm and patient of ``simulation`` (:class:`tmesim.Simulation`) and return its Dataset."""
    batch = compile_rows(simulation)
    days = simulation.output_days()
    out_y, out_aux, status, fail_var, fail_time, n_steps = integrate(batch, days * MIN_PER_DAY, simulation.solver,
                                                                     progress)
    return to_dataset(simulation, batch, days, out_y, out_aux, status, fail_var, fail_time, n_steps)


def to_dataset(simulation, batch: Batch, days, out_y, out_aux, status, fail_var, fail_time, n_steps) -> xr.Dataset:
    """The results contract of an integrated batch (see :func:`tmesim.results.assemble`)."""
    A, Np = len(batch.arms), batch.n_patients
    shape = (A, Np, days.size)
    variables = {}
    pools = [name for name in S.NAMES if name in S.T_CELL_POOLS]
    for i, name in enumerate(S.NAMES):
        if name in S.T_CELL_POOLS:
            continue
        units, long_name, group = S.info(name)
        variables[name] = (out_y[:, :, i].reshape(shape), {"units": units, "long_name": long_name, "group": group,
                                                            "role": "state"})
    for i, name in enumerate(S.AUX_NAMES):
        units, long_name, group = S.info(name)
        variables[name] = (out_aux[:, :, i].reshape(shape), {"units": units, "long_name": long_name, "group": group,
                                                              "role": "derived"})
    for d, drug in enumerate(drugs.DRUGS):
        variables[f"drug_{drug.name}"] = (out_aux[:, :, S.N_AUX_BASE + d].reshape(shape),
                                          {"units": "mg/L", "long_name": f"{drug.name} concentration", "group": "drugs",
                                           "role": "derived"})
    kills = [n for n in S.NAMES if n.startswith("kills_")]
    # contact killing only: IFN-gamma-induced apoptosis is its own mode (deaths_ifng_apoptosis)
    variables["deaths_killing"] = (sum(variables[n][0] for n in kills),
                                   {"units": "cell", "long_name": "tumor cells killed by immune contact (cumulative)",
                                    "group": "deaths", "role": "derived"})
    index = [S.NAMES.index(name) for name in pools]
    t_cells = out_y[:, :, index].reshape(shape + (len(pools),))
    t_pools = [(name, *S.T_CELL_POOLS[name], S.info(name)[1]) for name in pools]
    return assemble(
        simulation.scenario, engine=ENGINE, days=days, arms=batch.arms, variables=variables, t_cells=t_cells,
        t_pools=t_pools, status=status.reshape(A, Np), messages=failure_messages(status, fail_var, fail_time).reshape(A, Np),
        steps=n_steps.reshape(A, Np), parameter_values=batch.values.reshape(A, Np, len(NAMES)), parameter_names=NAMES,
        parameter_units=[CATALOGUE[n]["unit"] for n in NAMES],
        events=[[e for e in ev if e.day <= days[-1] + 1e-9] for ev in batch.events],  # those the run reached
        extra_attrs={"solver": simulation.solver.describe()},
    )
