"""The spatial agent-based engine (docs/spatial.md).

Modules: :mod:`.config` (the scenario's ``spatial`` section), :mod:`.lattice`
(the voxel lattice), :mod:`.fields` (reaction-diffusion of cytokines, oxygen,
nutrients and drugs; docs/spatial-fields.md), :mod:`.cells` (the cell table),
:mod:`.layout` (initial geometry and vessels), :mod:`.kernels` (the compiled
sense/decide/apply phases that call the cell programs of
:mod:`tmesim.biology.programs`), :mod:`.behaviors` (hypothesis rules bound to
the engine's behaviours), :mod:`.rng` (counter-based random draws),
:mod:`.engine` (one run: steps, recruitment, dosing, recording),
:mod:`.outputs` (snapshots, checkpoints, the results contract), :mod:`.limit`
(the well-mixed limit: a spatial scenario beside its well-mixed twin), and the
benchmark's :mod:`.bench_engine`, :mod:`.bench_fields` and :mod:`.reference`
(numpy re-implementations the benchmark checks the kernels against).
"""

from __future__ import annotations

from .fields import BOUNDARIES, FACES, SPLITTINGS, FieldSolver, FieldSpec
from .lattice import Lattice

__all__ = ["BOUNDARIES", "FACES", "SPLITTINGS", "FieldSolver", "FieldSpec", "Lattice"]
