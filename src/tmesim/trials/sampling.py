"""Drawing a cohort's virtual patients.

Patient ``i`` of a cohort with seed ``s`` draws from its own generator,
``numpy.random.default_rng(SeedSequence(s, spawn_key=(i,)))``: the ``i``-th
child that ``SeedSequence(s).spawn(n)`` would give. Its draws therefore depend
on the seed and on ``i`` alone, never on the number of patients, the batch it
runs in, the executor or the number of workers: patient 7 of a 100-patient
trial is patient 7 of a 10,000-patient trial.

Each patient draws ``k`` independent standard normal scores (one per drawn
parameter, parameters sorted by name), correlates them with the cohort's
Cholesky factor (the Gaussian copula) and maps each through its parameter's
quantile function (:mod:`.distributions`).

A patient of a spatial cohort also gets its own run seed (the seed of its
lattice runs, the same in every arm): :func:`patient_run_seed`, from the first
child of the patient's SeedSequence, ``SeedSequence(s, spawn_key=(i, 0))``.
It too depends on ``s`` and ``i`` alone, and its stream is independent of the
patient's draws.
"""

from __future__ import annotations

import numpy as np

from .cohort import Cohort


def patient_seed_sequence(seed: int, patient: int) -> np.random.SeedSequence:
    """The SeedSequence of one patient: child ``patient`` of ``SeedSequence(seed)``."""
    return np.random.SeedSequence(seed, spawn_key=(int(patient),))


def patient_run_seed(seed: int, patient: int) -> int:
    """The run seed of one patient of a spatial cohort (an int in [0, 2**63)): from child 0 of the patient's
    SeedSequence, as :func:`tmesim.spatial.engine.run_seed` turns a SeedSequence into a seed."""
    from ..spatial.engine import run_seed

    return run_seed(np.random.SeedSequence(seed, spawn_key=(int(patient), 0)))


def run_seeds(cohort: Cohort, patients) -> np.ndarray | None:
    """The run seeds of ``patients`` (ids) of a spatial cohort (int64), None for a well-mixed one (its engine
    draws nothing per patient)."""
    if cohort.scenario.scale != "spatial":
        return None
    return np.array([patient_run_seed(cohort.seed, p) for p in np.asarray(patients).reshape(-1)], dtype=np.int64)


def normal_scores(cohort: Cohort, patients) -> np.ndarray:
    """Correlated standard normal scores, (patients, drawn parameters), parameters in ``cohort.draws`` order."""
    patients = np.asarray(patients, dtype=np.int64).reshape(-1)
    k = len(cohort.draws)
    z = np.empty((patients.size, k))
    for row, patient in enumerate(patients):
        z[row] = np.random.default_rng(patient_seed_sequence(cohort.seed, patient)).standard_normal(k)
    return z @ cohort.cholesky.T


def draw_patients(cohort: Cohort, patients) -> dict[str, np.ndarray]:
    """Each drawn parameter's values for ``patients`` (ids), in the unit the cohort states."""
    z = normal_scores(cohort, patients)
    return {d.name: d.sample(z[:, j]) for j, d in enumerate(cohort.draws)}


def to_internal(cohort: Cohort, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drawn values converted to the catalogue's internal units (what :class:`tmesim.Simulation` takes)."""
    factor = {d.name: d.factor for d in cohort.draws}
    return {name: np.asarray(v, dtype=float) * factor[name] for name, v in values.items()}
