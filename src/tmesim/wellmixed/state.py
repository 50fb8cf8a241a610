"""The well-mixed model's state vector: the reported variables (:mod:`tmesim.variables`) in order,
with the integrator's tolerances.

Each entry is ``(name, units, long_name, group, atol)``. The position in the
list is the index in the state vector; module attributes with the entry's name
hold that index so compiled code reads ``S.tumor_antigen_positive`` as a constant.
State variables come first (``core``, integrated implicitly), then cumulative
counters (``quad``: they feed nothing back and are integrated explicitly).
``atol`` is the absolute tolerance of the integrator in the entry's unit;
for cytokines 1e-4 pM is far below any receptor's affinity (pM range) and
lets the first hours, when cytokines rise from zero, take longer steps. The
tumour's mean intracellular states take 1e-5 of their unit (of the death
threshold for lipid peroxide, 10 nM of glutathione against millimolar
levels): it binds only where a state is below about 0.1, and there the
steps under daily IKE were set by lipid-peroxide digits with no biological
meaning (1e-7 took 8% more steps; 1e-4 let the accuracy test's glutathione
error reach 1.2e-3 at rtol 1e-4).
"""

from __future__ import annotations

import sys

from .. import variables as V
from ..biology.programs.t_cell import AXIS
from ..biology.programs.tumor import STATE as TUMOR_STATE
from ..variables import CAR_POOLS, HOST_POOLS, T_CELL_POOLS  # noqa: F401  (re-exported)

#: Absolute tolerance by variable group (populations and counters by name where they differ).
_ATOL_GROUP = {"tumor": 1.0, "tumor_signalling": 1e-5, "tumor_ferroptosis": 1e-5, "t_cells": 1e-3,
               "car_t_cells": 1e-3, "innate": 1e-3, "exhaustion_axis": 1e-6, "cytokines": 1e-4, "deaths": 1.0}
_ATOL_NAME = {"t_cell_ferroptosis": 1e-3}


def _with_atol(entries):
    return [(*e, _ATOL_NAME.get(e[0], _ATOL_GROUP[e[3]])) for e in entries]


CORE = _with_atol(V.STATE)
QUAD = _with_atol(V.COUNTERS)
AUX = list(V.DERIVED)

NAMES = [e[0] for e in CORE + QUAD]
AUX_NAMES = [e[0] for e in AUX]
N_CORE = len(CORE)
N_STATE = len(CORE) + len(QUAD)
N_AUX_BASE = len(AUX)

_mod = sys.modules[__name__]
for _i, _n in enumerate(NAMES):
    setattr(_mod, _n, _i)
AXIS_LEN = len(AXIS)
TUMOR_STATE_LEN = len(TUMOR_STATE)


# Derived outputs: ``S.aux_oxygen`` etc. index the aux vector; drug
# concentrations follow the named entries (see protocols.drugs).
for _i, _n in enumerate(AUX_NAMES):
    setattr(_mod, "aux_" + _n, _i)


def atol() -> "list[float]":
    """Absolute tolerance of each state variable, in its own unit."""
    return [e[4] for e in CORE + QUAD]


def info(name: str) -> tuple[str, str, str]:
    """``(units, long_name, group)`` of a state variable or derived output."""
    for e in CORE + QUAD + AUX:
        if e[0] == name:
            return e[1], e[2], e[3]
    raise KeyError(name)
