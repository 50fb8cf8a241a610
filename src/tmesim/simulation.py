"""The orchestrator: one scenario, one engine, one seed, one clock, one results contract.

:class:`Simulation` joins a :class:`~tmesim.scenario.Scenario` (tumour model,
parameter set, arms, scale) with :class:`SolverOptions` and owns the run's
root :class:`numpy.random.SeedSequence` (every random stream of the run is
derived from it, keyed by what it is for, so the same scenario and seed give
the same results whatever the number of workers) and its clock (the output
times). ``Simulation(scenario).run()`` runs the engine the scenario's
``scale`` names and returns the Dataset of :mod:`tmesim.results`;
:func:`simulate` is the one-line form::

    from tmesim import Simulation, SolverOptions, load_scenario
    sim = Simulation(load_scenario("b16_icb_ferroptosis"), solver=SolverOptions(rtol=1e-5))
    ds = sim.run()
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

#: Integration methods of the well-mixed engine (see :mod:`tmesim.wellmixed.solver`).
METHODS = ("ros34pw2", "ros2")
#: Copies of the output arrays a run holds at its peak (the engine's arrays, the Dataset, the copy
#: written to netCDF, the summary's and figures' selections), measured on the flagship: ~3.
MEMORY_COPIES = 3.0


class SimulationWarning(RuntimeWarning):
    """Some rows of a run failed to integrate; their values are NaN (see ``solver_status``)."""


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class SolverOptions:
    """How the engine integrates: immutable, checked when made.

    Parameters
    ----------
    rtol : relative tolerance (absolute tolerances are per variable, in the engine's state catalogue).
    method : Rosenbrock-W scheme, ``"ros34pw2"`` (order 3, default) or ``"ros2"`` (order 2).
    max_steps : step budget per row and progress chunk before the row fails.
    max_step_days : longest step (days).
    jacobian_every : accepted steps between Jacobian refreshes.
    progress_chunks : how many times a run reports progress (the integration is split at output times).
    """

    rtol: float = 1e-4
    method: str = "ros34pw2"
    max_steps: int = 200_000
    max_step_days: float = 1.0
    jacobian_every: int = 20
    progress_chunks: int = 20

    def __post_init__(self):
        for name in ("rtol", "max_step_days"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
                raise InputError(f"solver.{name}", f"must be a positive number, got {value!r}")
        if self.rtol >= 1.0:
            raise InputError("solver.rtol", f"must be below 1, got {self.rtol!r}", "e.g. 1e-4")
        for name in ("max_steps", "jacobian_every", "progress_chunks"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise InputError(f"solver.{name}", f"must be a positive integer, got {value!r}")
        if self.method not in METHODS:
            raise InputError("solver.method", f"unknown method {self.method!r}", f"use one of {', '.join(METHODS)}")

    def describe(self) -> str:
        """The options as one line of ``name=value`` (recorded in the results' attributes)."""
        return ", ".join(f"{k}={v}" for k, v in asdict(self).items())


class Simulation:
    """A scenario ready to run: engine, solver options, root seed and clock.

    Parameters
    ----------
    scenario : a :class:`~tmesim.scenario.Scenario`, or a shipped scenario's name or a YAML path.
    solver : :class:`SolverOptions` (defaults if None).
    seed : replaces the scenario's seed when given.
    patient_values : per-patient values of some parameters, ``{name: one value per patient}`` in
        internal units (the catalogue's), as a virtual trial draws them; their number sets the cohort
        size (spatial: the number of runs per arm). They replace the parameter set's values (an arm's
        knobs and parameter changes still override them); the scenario's own cohort variability applies
        to the other parameters.
    patient_seeds : spatial scenarios only: one run seed (an integer in [0, 2**63)) per patient,
        replacing the replicate seeds spawned from the scenario's seed, as a virtual trial gives each
        patient its own; their number sets the number of runs per arm (with ``patient_values``, the
        same number). With either, the scenario's ``spatial.replicates`` must be 1.
    """

    def __init__(self, scenario, *, solver: SolverOptions | None = None, seed: int | None = None,
                 patient_values=None, patient_seeds=None):
        from .scenario import Scenario, load_scenario

        if isinstance(scenario, (str, Path)):
            scenario = load_scenario(scenario)
        elif not isinstance(scenario, Scenario):
            raise InputError("scenario", f"expected a Scenario, a scenario name or a YAML path, got {type(scenario).__name__}")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise InputError("seed", f"expected a non-negative integer, got {seed!r}")
            scenario = scenario.with_overrides(seed=int(seed))
        if patient_values:
            if not isinstance(patient_values, dict):
                raise InputError("patient_values", f"expected a mapping of name -> values, got {type(patient_values).__name__}")
            sizes = {np.size(v) for v in patient_values.values()}
            if len(sizes) != 1:
                raise InputError("patient_values", f"parameters have different numbers of patients: {sorted(sizes)}",
                                 "give every parameter one value per patient")
            n = sizes.pop()
            if n < 1:
                raise InputError("patient_values", "no patients", "give at least one value per parameter")
        else:
            n = None
        self.patient_seeds = None if patient_seeds is None else _check_seeds(patient_seeds, n, scenario.scale)
        n = len(self.patient_seeds) if self.patient_seeds is not None else n
        if n is not None and scenario.scale == "spatial" and scenario.spatial.replicates != 1:
            raise InputError("spatial.replicates", f"scenario {scenario.name!r} runs {scenario.spatial.replicates} "
                                                   "replicates per arm, but per-patient values or seeds give each "
                                                   "patient one run per arm", "set spatial.replicates: 1")
        if n is not None and scenario.scale != "spatial" and n != scenario.cohort.size:
            scenario = scenario.with_overrides(cohort={**scenario.cohort.model_dump(), "size": n})
        #: The number of patients ``patient_values`` or ``patient_seeds`` give; None when neither is given.
        self.n_patients = n
        self.patient_values = dict(patient_values or {})
        for name, values in self.patient_values.items():
            try:
                array = np.asarray(values, dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"patient_values.{name}", "values must be numbers") from None
            if not np.all(np.isfinite(array)):
                raise InputError(f"patient_values.{name}", "values must be finite (a NaN or inf was given)")
        if solver is not None and not isinstance(solver, SolverOptions):
            raise InputError("solver", f"expected SolverOptions, got {type(solver).__name__}",
                             "e.g. solver=SolverOptions(rtol=1e-5)")
        self.scenario = scenario
        self.solver = solver or SolverOptions()
        #: The run's root SeedSequence: every random stream derives from it.
        self.seed_sequence = np.random.SeedSequence(scenario.seed)
        self.check_memory()
        from .scenario import warn_late_doses

        warn_late_doses(scenario, stacklevel=3)

    def memory_bytes(self) -> dict[str, float]:
        """Estimated peak memory of the run (bytes), by part: ``outputs`` (time points x rows x
        variables, :data:`MEMORY_COPIES` copies) and ``events`` (rows x events x payload), with the
        sizes they come from (``time_points``, ``rows``, ``variables``, ``events``)."""
        from .protocols.drugs import N_DRUGS
        from .protocols.schedule import PAYLOAD
        from .wellmixed import state as S

        scn = self.scenario
        step_days = scn.output_interval_hours / 24.0
        n_times = math.floor(scn.days / step_days + 1e-9) + 2
        rows = len(scn.arms) * scn.cohort.size
        n_vars = S.N_STATE + S.N_AUX_BASE + N_DRUGS
        n_events = max([sum(d.count for d in arm.doses) + len(arm.products) for arm in scn.arms] + [1])
        return {"outputs": 8.0 * n_times * rows * n_vars * MEMORY_COPIES,
                "events": 8.0 * rows * n_events * (PAYLOAD + 2) * 2,
                "time_points": n_times, "rows": rows, "variables": n_vars, "events_per_row": n_events}

    def check_memory(self, available: int | None = None) -> None:
        """Raise :class:`InputError` naming what to change when the run would need more memory than
        is available (``available`` bytes; :func:`available_memory` by default), before anything runs."""
        est = self.memory_bytes()
        need = est["outputs"] + est["events"]
        available = available_memory() if available is None else available
        if available is None or need <= 0.8 * available:
            return
        scn = self.scenario
        if est["events"] > est["outputs"]:
            field, fix = "arms[].doses[].count", "give fewer doses (count)"
        elif est["time_points"] > 20 * est["rows"]:
            field, fix = "output_interval_hours", f"store outputs less often than every {scn.output_interval_hours:g} h"
        else:
            field, fix = "cohort.size", f"run fewer than {scn.cohort.size} patients (or fewer arms)"
        raise InputError(field, f"the run would need about {need / 2**30:.3g} GiB ({est['time_points']:,} time points "
                         f"x {est['rows']:,} arm-patients x {est['variables']} variables, "
                         f"{est['events_per_row']:,} events per row), more than the {available / 2**30:.3g} GiB "
                         "of memory available", fix)

    def __repr__(self) -> str:
        return (f"Simulation({self.scenario.name!r}, scale={self.scenario.scale!r}, seed={self.scenario.seed}, "
                f"{len(self.scenario.arms)} arms x {self.scenario.cohort.size} patients, {self.scenario.days:g} days)")

    def output_days(self) -> np.ndarray:
        """The clock: output times (days), every ``output_interval_hours`` from 0, and the end."""
        step_days = self.scenario.output_interval_hours / 24.0
        n_out = int(np.floor(self.scenario.days / step_days + 1e-9)) + 1
        days = np.arange(n_out) * step_days
        if days[-1] < self.scenario.days - 1e-9:
            days = np.append(days, self.scenario.days)
        return days

    def events(self) -> dict[str, list]:
        """Each arm's protocol as an engine-neutral event list (:mod:`tmesim.protocols.events`)."""
        from .protocols.events import arm_events

        return {arm.name: arm_events(self.scenario, i) for i, arm in enumerate(self.scenario.arms)}

    def _engine(self):
        if self.scenario.scale == "wellmixed":
            from .wellmixed import engine
            return engine
        if self.scenario.scale == "spatial":
            from .spatial import engine
            return engine
        raise InputError("scale", f"no engine for scale {self.scenario.scale!r}")

    def compile(self):
        """The engine's compiled rows of this simulation (for the well-mixed engine a
        :class:`~tmesim.protocols.schedule.Batch`: parameter values, resolved rows, event tables)."""
        return self._engine().compile_rows(self)

    def run(self, progress: Callable[[float], None] | None = None, *, raise_on_failure: bool = False, recorder=None):
        """Run every arm and patient; return the results Dataset (see :mod:`tmesim.results`).

        ``progress`` is called with the fraction done (0..1). A row whose
        integration fails is reported in ``solver_status``/``solver_message``
        and the others go on; ``raise_on_failure`` raises
        :class:`~tmesim.errors.SimulationError` instead. ``recorder``
        (spatial runs: :class:`tmesim.spatial.outputs.Recorder`) writes
        snapshots and checkpoints, and resumes from its folder's checkpoint.
        """
        if progress is not None and not callable(progress):
            raise InputError("progress", f"expected a function of the fraction done, got {type(progress).__name__}")
        engine = self._engine()
        if recorder is not None:
            if self.scenario.scale != "spatial":
                raise InputError("recorder", "only spatial runs write snapshots and checkpoints")
            if self.n_patients is not None:
                raise InputError("recorder", "a run with per-patient values or seeds writes no snapshots or "
                                             "checkpoints", "run without patient_values and patient_seeds")
            ds = engine.run(self, progress, recorder=recorder)
        else:
            ds = engine.run(self, progress)
        if raise_on_failure:
            from .results import raise_on_failure as check

            check(ds)
        else:
            from .results import failure_summary

            line = failure_summary(ds)
            if line is not None:
                warnings.warn(f"{line}; those rows are NaN in the results (solver_status says which)",
                              SimulationWarning, stacklevel=2)
        return ds


def _check_seeds(seeds, n: int | None, scale: str) -> tuple[int, ...]:
    """``patient_seeds`` checked (see :class:`Simulation`): non-negative integers below 2**63, ``n`` of them
    when ``n`` is given, for a spatial scenario."""
    if scale != "spatial":
        raise InputError("patient_seeds", "only the spatial engine draws random numbers per run",
                         "give patient_seeds to a spatial scenario only")
    array = np.asarray(seeds).reshape(-1)
    if array.size == 0 or array.dtype.kind not in "iu":
        raise InputError("patient_seeds", "expected integers, one per patient", "e.g. patient_seeds=[11, 12, 13]")
    out = tuple(int(s) for s in array)
    if any(s < 0 or s >= 2**63 for s in out):
        raise InputError("patient_seeds", "seeds must lie in [0, 2**63)")
    if n is not None and len(out) != n:
        raise InputError("patient_seeds", f"{len(out)} seeds for {n} patients of patient_values",
                         "give one seed per patient")
    return out


def simulate(scenario, *, solver: SolverOptions | None = None, progress: Callable[[float], None] | None = None,
             seed: int | None = None, raise_on_failure: bool = False):
    """Run ``scenario`` and return its Dataset: ``Simulation(scenario, solver=..., seed=...).run(progress)``."""
    return Simulation(scenario, solver=solver, seed=seed).run(progress, raise_on_failure=raise_on_failure)
