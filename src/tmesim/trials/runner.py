"""Run a virtual trial: draw the cohort, run its batches on an executor, record, analyse.

:func:`run_trial` is what ``tmesim trial`` calls::

    from tmesim.trials import load_cohort, run_trial
    result = run_trial(load_cohort("b16_anti_pd1_ferroptosis", patients=200), "runs/my-trial")
    result.patients        # pandas.DataFrame, one row per patient and arm
    result.arms            # pandas.DataFrame, one row per arm

Failed integrations are rows with a nonzero ``status`` and the solver's message; a
batch that raises (a worker that died) is not recorded, the others go on, and the
run ends with :class:`~tmesim.errors.SimulationError` naming it: rerunning into the
same folder retries only the unrecorded patients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, SimulationError
from .batch import BatchSpec, known_series, run_batch
from .cohort import Cohort
from .sampling import draw_patients, run_seeds, to_internal
from .store import ARMS_FILE, PATIENTS_FILE, TrialStore, write_atomic

Progress = Callable[[int, int], None]


@dataclass
class TrialResult:
    """A finished trial: its folder, per-patient and per-arm tables, and how long the parts took."""

    folder: Path
    patients: pd.DataFrame
    arms: pd.DataFrame
    n_run: int
    n_skipped: int
    timings: dict = field(default_factory=dict)
    files: list = field(default_factory=list)


def check_names(cohort: Cohort) -> None:
    """Run one patient for a moment and check the cohort's size variable, biomarkers and time series
    against the results (InputError naming the field); this also loads the compiled engine."""
    from ..simulation import Simulation

    import warnings

    from ..scenario import ScenarioWarning

    probe = cohort.scenario.with_overrides(days=min(cohort.spec.days, 0.5), output_interval_hours=6.0)
    with warnings.catch_warnings():  # the probe is cut short on purpose: its late doses are not news
        warnings.simplefilter("ignore", ScenarioWarning)
        ds = Simulation(probe).run()
    known = known_series(ds)
    import difflib

    fields = [("endpoints.size_variable", [cohort.endpoints.size_variable])]
    fields += [("biomarkers", list(cohort.spec.biomarkers)), ("timeseries", list(cohort.spec.timeseries))]
    for where, names in fields:
        for i, name in enumerate(names):
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                at = where if where.startswith("endpoints") else f"{where}[{i}]"
                raise InputError(at, f"unknown variable {name!r}",
                                 f"did you mean {close[0]!r}?" if close else "see docs/architecture.md for the names")


def batch_specs(cohort: Cohort, patients: np.ndarray, batch_size: int, numba_threads: int | None) -> list[BatchSpec]:
    """Batches of ``batch_size`` patients (ids in order) with their drawn values in internal units (and, for a
    spatial cohort, their run seeds)."""
    scenario = cohort.scenario.model_dump(mode="json")
    if cohort.scenario.scale != "spatial":  # the cohort size is the batch's, so Simulation does not rebuild it
        scenario["cohort"] = {"size": min(batch_size, len(patients)) or 1, "variability": {}}
    units = {d.name: (d.unit, d.factor) for d in cohort.draws}
    kept = tuple(dict.fromkeys([cohort.endpoints.size_variable, *cohort.spec.timeseries]))
    specs = []
    for index, start in enumerate(range(0, len(patients), batch_size)):
        ids = np.asarray(patients[start:start + batch_size], dtype=np.int64)
        values = to_internal(cohort, draw_patients(cohort, ids))
        specs.append(BatchSpec(index=index, scenario=scenario, patients=ids, values=values, units=units,
                               endpoints=cohort.endpoints.model_dump(), baseline_day=cohort.baseline_day,
                               biomarkers=tuple(cohort.spec.biomarkers), timeseries=kept,
                               numba_threads=numba_threads, solver=dict(cohort.spec.solver),
                               seeds=run_seeds(cohort, ids)))
    return specs


def run_batches(cohort: Cohort, store: TrialStore, executor, progress: Progress | None = None) -> tuple[int, int, dict]:
    """Run the patients ``store`` has not recorded; return (run, skipped, timings)."""
    done = store.finished_patients()
    all_ids = np.arange(cohort.n_patients, dtype=np.int64)
    todo = np.setdiff1d(all_ids, done)
    timings = {"engine_s_in_workers": 0.0}
    if progress is not None:
        progress(len(done), cohort.n_patients)
    if todo.size == 0:
        return 0, int(done.size), timings
    t = time.perf_counter()
    failures = []
    finished = int(done.size)
    with executor:
        timings["executor_start_s"] = time.perf_counter() - t
        t = time.perf_counter()
        specs = batch_specs(cohort, todo, cohort.batch_size, executor.numba_threads())
        timings["draw_s"] = time.perf_counter() - t
        t = time.perf_counter()
        for spec, result in executor.run(run_batch, specs):
            if isinstance(result, BaseException):
                failures.append((spec, result))
                continue
            store.write_batch(result)
            timings["engine_s_in_workers"] += result.engine_s
            finished += len(spec.patients)
            if progress is not None:
                progress(finished, cohort.n_patients)
        timings["batches_s"] = time.perf_counter() - t
    if failures:
        spec, exc = failures[0]
        n = sum(len(s.patients) for s, _ in failures)
        raise SimulationError(f"{len(failures)} batch(es) of {len(specs)} raised ({n} patients not recorded); first, "
                              f"patients {int(spec.patients[0])}-{int(spec.patients[-1])}: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:300]}; {finished} of {cohort.n_patients} patients are "
                              f"recorded in {store.folder}: rerun with the same --out to retry the rest")
    return int(todo.size), int(done.size), timings


def run_trial(cohort: Cohort, out: Path | str, executor=None, progress: Progress | None = None,
              figures: bool = True, report: bool = True) -> TrialResult:
    """Run ``cohort`` into the folder ``out`` (resuming what it holds) and write the trial's outputs.

    ``executor`` defaults to :class:`~.executors.LocalExecutor` with one process per core.
    ``progress(done, total)`` is called as patients finish.
    """
    from .executors import LocalExecutor

    timings = {}
    t0 = time.perf_counter()
    store = TrialStore(Path(out), cohort).open()
    t = time.perf_counter()
    check_names(cohort)
    timings["probe_s"] = time.perf_counter() - t
    n_run, n_skipped, batch_timings = run_batches(cohort, store, executor or LocalExecutor(), progress)
    timings.update(batch_timings)
    t = time.perf_counter()
    result = assemble(cohort, store, figures=figures, report=report)
    timings["assemble_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    result.n_run, result.n_skipped, result.timings = n_run, n_skipped, timings
    return result


def assemble(cohort: Cohort, store: TrialStore, figures: bool = True, report: bool = True) -> TrialResult:
    """Write ``patients.parquet``, ``arms.csv``, the figures and ``report.html`` from the recorded partitions."""
    from ..analysis.trial_summary import arm_table, biomarker_table, comparison_table

    patients = store.read_patients()
    expected = cohort.n_patients * len(cohort.arms)
    if len(patients) != expected:
        raise SimulationError(f"{len(patients)} rows recorded, {expected} expected; rerun with the same --out")
    folder = store.folder
    files = [write_atomic(folder / PATIENTS_FILE,
                          lambda tmp: patients.to_parquet(tmp, index=False, compression="zstd"))]
    arms = arm_table(patients, cohort)
    comparisons = comparison_table(patients, cohort)
    biomarkers = biomarker_table(patients, cohort)
    files.append(write_atomic(folder / ARMS_FILE, lambda tmp: arms.to_csv(tmp, index=False)))
    figure_files = []
    if figures:
        from ..analysis.trial_plots import plot_trial

        figure_files = plot_trial(patients, cohort, folder)
        files += figure_files
    if report:
        from ..analysis.report import write_report

        files.append(write_report(folder, cohort, patients, arms, comparisons, biomarkers, figure_files))
    return TrialResult(folder, patients, arms, 0, 0, files=files)


def run_values(cohort: Cohort, values: dict[str, np.ndarray], executor=None, progress: Progress | None = None,
               batch_size: int | None = None) -> pd.DataFrame:
    """Run the cohort's arms for explicit parameter values (``{name: one value per row}``, in the units the
    cohort states for drawn parameters) instead of draws, and return the per-row table (rows numbered
    0..n-1 in ``patient``), in memory: what sensitivity analysis needs. A batch that raises raises."""
    from .executors import LocalExecutor

    sizes = {len(v) for v in values.values()}
    if len(sizes) != 1:
        raise InputError("values", f"parameters have different numbers of rows: {sorted(sizes)}")
    n = sizes.pop()
    factor = {d.name: (d.unit, d.factor) for d in cohort.draws}
    internal = {name: np.asarray(v, dtype=float) * factor[name][1] for name, v in values.items()}
    executor = executor or LocalExecutor()
    size = batch_size or cohort.batch_size
    scenario = cohort.scenario.model_dump(mode="json")
    tables, done = [], 0
    with executor:
        specs = [BatchSpec(index=i, scenario=scenario, patients=np.arange(s, min(s + size, n), dtype=np.int64),
                           values={k: v[s:s + size] for k, v in internal.items()},
                           units={k: factor[k] for k in values}, endpoints=cohort.endpoints.model_dump(),
                           baseline_day=cohort.baseline_day, timeseries=(), numba_threads=executor.numba_threads(),
                           solver=dict(cohort.spec.solver), seeds=run_seeds(cohort, np.arange(s, min(s + size, n))))
                 for i, s in enumerate(range(0, n, size))]
        for spec, result in executor.run(run_batch, specs):
            if isinstance(result, BaseException):
                raise SimulationError(f"a batch raised: {type(result).__name__}: {' '.join(str(result).split())[:300]}")
            tables.append(result.table)
            done += len(spec.patients)
            if progress is not None:
                progress(done, n)
    order = {arm: i for i, arm in enumerate(cohort.arms)}
    table = pd.concat(tables, ignore_index=True)
    return table.sort_values(["patient", "arm"], key=lambda c: c.map(order) if c.name == "arm" else c,
                             kind="stable").reset_index(drop=True)
