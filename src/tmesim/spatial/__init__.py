"""The spatial engine's building blocks (the engine itself comes later).

So far: :mod:`.lattice` (the voxel lattice) and :mod:`.fields` (the
reaction-diffusion solver for cytokines, oxygen and nutrients, with per-voxel
secretion and uptake). See docs/spatial-fields.md.
"""

from __future__ import annotations

from .fields import BOUNDARIES, FACES, SPLITTINGS, FieldSolver, FieldSpec
from .lattice import Lattice

__all__ = ["BOUNDARIES", "FACES", "SPLITTINGS", "FieldSolver", "FieldSpec", "Lattice"]
