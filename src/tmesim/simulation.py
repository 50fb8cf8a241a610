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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

#: Integration methods of the well-mixed engine (see :mod:`tmesim.wellmixed.solver`).
METHODS = ("ros34pw2", "ros2")


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
        size. They replace the parameter set's values (an arm's knobs and parameter changes still
        override them); the scenario's own cohort variability applies to the other parameters.
    """

    def __init__(self, scenario, *, solver: SolverOptions | None = None, seed: int | None = None,
                 patient_values=None):
        from .scenario import Scenario, load_scenario

        if isinstance(scenario, (str, Path)):
            scenario = load_scenario(scenario)
        elif not isinstance(scenario, Scenario):
            raise InputError("scenario", f"expected a Scenario, a scenario name or a YAML path, got {type(scenario).__name__}")
        if seed is not None:
            scenario = scenario.with_overrides(seed=seed)
        if patient_values:
            sizes = {len(v) for v in patient_values.values()}
            if len(sizes) != 1:
                raise InputError("patient_values", f"parameters have different numbers of patients: {sorted(sizes)}",
                                 "give every parameter one value per patient")
            n = sizes.pop()
            if n < 1:
                raise InputError("patient_values", "no patients", "give at least one value per parameter")
            if n != scenario.cohort.size:
                scenario = scenario.with_overrides(cohort={**scenario.cohort.model_dump(), "size": n})
        self.patient_values = dict(patient_values or {})
        if solver is not None and not isinstance(solver, SolverOptions):
            raise InputError("solver", f"expected SolverOptions, got {type(solver).__name__}",
                             "e.g. solver=SolverOptions(rtol=1e-5)")
        self.scenario = scenario
        self.solver = solver or SolverOptions()
        #: The run's root SeedSequence: every random stream derives from it.
        self.seed_sequence = np.random.SeedSequence(scenario.seed)

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
            if self.patient_values:
                raise InputError("patient_values", "a spatial scenario runs replicates of one parameter set",
                                 "run a virtual cohort at the well-mixed scale")
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
        engine = self._engine()
        if recorder is not None:
            if self.scenario.scale != "spatial":
                raise InputError("recorder", "only spatial runs write snapshots and checkpoints")
            ds = engine.run(self, progress, recorder=recorder)
        else:
            ds = engine.run(self, progress)
        if raise_on_failure:
            from .results import raise_on_failure as check

            check(ds)
        return ds


def simulate(scenario, *, solver: SolverOptions | None = None, progress: Callable[[float], None] | None = None,
             seed: int | None = None, raise_on_failure: bool = False):
    """Run ``scenario`` and return its Dataset: ``Simulation(scenario, solver=..., seed=...).run(progress)``."""
    return Simulation(scenario, solver=solver, seed=seed).run(progress, raise_on_failure=raise_on_failure)
