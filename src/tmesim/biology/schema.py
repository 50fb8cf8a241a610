"""State schemas: the intracellular state each cell type carries.

A :class:`StateSchema` names a cell type's state variables in order, with
their unit, meaning and resting value. Engines lay their state out from it
(the well-mixed engine keeps one mean state per population, prefixed
``tumor_``, ``host_t_``, ``car_t_``; the spatial engine one column per cell),
CAR T cell manufacturing integrates the T cell axis in it, and compiled
kernels read a variable as ``x[off + AXIS.bach2]`` through the schema's
index, a namedtuple of ints that numba folds into constants.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StateVariable:
    """One intracellular state variable: name, unit, meaning, resting value (NaN: set by the program)."""

    name: str
    unit: str
    long_name: str
    rest: float = float("nan")


class StateSchema:
    """An ordered set of :class:`StateVariable` with constant indices.

    ``schema.index.<name>`` is the variable's position (a namedtuple usable
    in compiled code), ``schema.names`` the names in order and
    ``schema.rest`` the resting values as an array.
    """

    def __init__(self, name: str, variables: tuple[StateVariable, ...]):
        self.name = name
        self.variables = tuple(variables)
        self.names = tuple(v.name for v in self.variables)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"schema {name}: repeated variable names")
        self.index = namedtuple(f"{name.title().replace('_', '')}Index", self.names)(*range(len(self.names)))
        self.rest = np.array([v.rest for v in self.variables])

    def __len__(self) -> int:
        return len(self.variables)

    def __iter__(self):
        return iter(self.variables)

    def __repr__(self) -> str:
        return f"StateSchema({self.name!r}, {', '.join(self.names)})"
