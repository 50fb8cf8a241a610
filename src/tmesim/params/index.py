"""Positions of the parameters in the compiled parameter vector.

Built from ``catalogue.yaml`` at import: ``index.tumor_growth_rate`` is an int
that numba reads as a compile-time constant.
"""

from __future__ import annotations

import sys
from importlib import resources

import yaml

from ..protocols.drugs import DRUGS

CATALOGUE: dict = yaml.safe_load(resources.files("tmesim.params").joinpath("catalogue.yaml").read_text())
NAMES: tuple[str, ...] = tuple(CATALOGUE)
N_PARAMS = len(NAMES)

_mod = sys.modules[__name__]
for _i, _n in enumerate(NAMES):
    setattr(_mod, _n, _i)

# The model reads a drug's ec50/emax at fixed offsets from its half-life.
_first = NAMES.index(DRUGS[0].param("half_life"))
for _k, _d in enumerate(DRUGS):
    for _j, _what in enumerate(("half_life", "volume", "ec50", "emax")):
        assert NAMES[_first + 4 * _k + _j] == _d.param(_what), f"catalogue order broken at {_d.param(_what)}"
