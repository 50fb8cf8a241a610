"""One batch of a trial: what an executor runs in a worker process.

:func:`run_batch` takes a :class:`BatchSpec` (plain data: the trial's scenario as a
mapping, the patients' ids and parameter values in internal units, the endpoint
settings and the time series to keep), runs every arm for those patients in one
:class:`tmesim.Simulation` call, and returns a :class:`BatchResult`: the per-patient
table (endpoints, status, baseline biomarkers, the parameter values the engine used)
and the kept time series. It reads nothing from disk and writes nothing, so it runs
the same in a local process or on a Dask worker on another machine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .. import results as R

#: numba's workqueue threading layer must not be entered from two threads at once
#: (shared/research/ecosystem.md, 3c): a Dask worker with several threads runs one batch at a time.
_ENGINE_LOCK = threading.Lock()
PARAM_PREFIX = "param."
BASELINE_PREFIX = "baseline."
T_CELLS_PREFIX = "t_cells_"


@dataclass(frozen=True)
class BatchSpec:
    """Inputs of one batch (picklable plain data)."""

    index: int
    scenario: dict
    patients: np.ndarray
    values: dict[str, np.ndarray]  # internal units, one per patient
    units: dict[str, tuple[str, float]]  # drawn parameter -> (stated unit, factor to internal)
    endpoints: dict
    baseline_day: float
    biomarkers: tuple[str, ...] = ()
    timeseries: tuple[str, ...] = ()
    numba_threads: int | None = None
    solver: dict = field(default_factory=dict)
    seeds: np.ndarray | None = None  # spatial: each patient's run seed (the same in every arm)


@dataclass
class BatchResult:
    """Outputs of one batch: ``table`` (one row per arm and patient) and ``timeseries`` (arm, patient, time)."""

    index: int
    patients: np.ndarray
    table: pd.DataFrame
    timeseries: xr.Dataset
    engine_s: float = 0.0


def series(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A kept time series: a variable or T cell pool of ``ds``, or ``t_cells_<lineage>`` (all states summed)."""
    if name.startswith(T_CELLS_PREFIX) and name not in ds and name.removeprefix(T_CELLS_PREFIX) in R.T_CELL_LINEAGES:
        da = R.t_cell_count(ds, lineage=name.removeprefix(T_CELLS_PREFIX))
        da.attrs = {"units": "cell", "long_name": f"{name.removeprefix(T_CELLS_PREFIX).replace('_', ' ').upper()} "
                                                  "T cells (all states)"}
        return da
    return R.variable(ds, name)


def known_series(ds: xr.Dataset) -> list[str]:
    """Names :func:`series` accepts for ``ds`` (variables on arm, patient and time; pools; lineage totals)."""
    names = [str(n) for n, v in ds.data_vars.items() if v.dims == ("arm", "patient", "time")]
    names += [str(p) for p in ds["t_pool"].values] if "t_pool" in ds.coords else []
    return names + [T_CELLS_PREFIX + lin for lin in R.T_CELL_LINEAGES]


def _set_threads(n: int | None) -> None:
    if n is None:
        return
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


_SCENARIOS: dict[str, object] = {}


def _scenario(data: dict):
    """The validated scenario of a batch, built once per worker process (its parameters resolve once)."""
    import json

    from ..scenario import build_scenario

    key = json.dumps(data, sort_keys=True)
    if key not in _SCENARIOS:
        _SCENARIOS.clear()
        _SCENARIOS[key] = build_scenario(data, "trial scenario")
    return _SCENARIOS[key]


def simulate_batch(spec: BatchSpec) -> xr.Dataset:
    """The batch's Dataset: every arm of the trial's scenario for the batch's patients."""
    from ..simulation import Simulation, SolverOptions

    scenario = _scenario(spec.scenario)
    with _ENGINE_LOCK:
        _set_threads(spec.numba_threads)
        ds = Simulation(scenario, patient_values=spec.values, patient_seeds=spec.seeds,
                        solver=SolverOptions(**spec.solver)).run()
    # the one place where the engine's patient axis (well-mixed rows, spatial replicates) becomes the trial's ids
    return ds.assign_coords(patient=np.asarray(spec.patients, dtype=np.int64))


def run_batch(spec: BatchSpec) -> BatchResult:
    """Run one batch and compute its per-patient table and kept time series."""
    import time

    from .cohort import LeukemiaEndpoints, SolidEndpoints
    from .endpoints import patient_endpoints

    t0 = time.perf_counter()
    ds = simulate_batch(spec)
    engine_s = time.perf_counter() - t0
    cfg = (SolidEndpoints if spec.endpoints["type"] == "solid" else LeukemiaEndpoints).model_validate(spec.endpoints)
    table = patient_endpoints(ds, cfg, spec.baseline_day)
    if spec.seeds is not None:
        table.insert(2, "run_seed", np.tile(np.asarray(spec.seeds, dtype=np.int64), ds.sizes["arm"]))
    # the parameter values the engine used, in the cohort's units (an arm's own knobs and parameter
    # changes replace a patient's drawn value in that arm)
    for name, (unit, factor) in spec.units.items():
        used = R.parameter(ds, name).transpose("arm", "patient").values.reshape(-1) / factor
        table[PARAM_PREFIX + name] = used
    if spec.biomarkers:
        t = ds["time"].values
        for name in spec.biomarkers:
            da = series(ds, name).transpose("arm", "patient", "time").values.reshape(-1, t.size)
            j = int(np.clip(np.searchsorted(t, spec.baseline_day - 1e-9), 0, t.size - 1))
            table[BASELINE_PREFIX + name] = da[:, j]
    kept = {}
    for name in spec.timeseries:
        da = series(ds, name)
        kept[name] = da.astype(np.float32).transpose("arm", "patient", "time").drop_vars(
            [c for c in da.coords if c not in ("arm", "patient", "time")])
        kept[name].attrs = {k: v for k, v in da.attrs.items() if k in ("units", "long_name")}
    timeseries = xr.Dataset(kept, coords={"arm": ds["arm"].values, "patient": ds["patient"].values,
                                          "time": ds["time"]})
    timeseries["solver_status"] = ds["solver_status"]
    return BatchResult(spec.index, np.asarray(spec.patients), table, timeseries, engine_s)
