"""The numba options shared by every compiled kernel of tmesim.

``error_model="numpy"`` lets a division by zero give inf/nan (which the
solver's finiteness checks report with the variable, arm and time) instead of
raising inside compiled code; it also drops the zero checks from every
division, which makes the right-hand side about 20% faster.
"""

from __future__ import annotations

import os

import numba
from numba import njit

from ._jitcache import ensure_fresh

# numba does not see changes to the functions a cached kernel calls in other modules: drop stale caches
ensure_fresh()

# numba's default OpenMP layer was up to 145x slower on 2-core machines here
# (shared/research/ecosystem.md); workqueue must be chosen before any parallel kernel runs.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

#: Decorator for a cached, compiled kernel.
kernel = njit(cache=True, error_model="numpy")

#: Decorator for a cached kernel with ``prange`` loops over rows.
parallel_kernel = njit(cache=True, parallel=True, error_model="numpy")

#: Decorator for a cell program's kernel: inlined into its caller at numba's IR level, so that an
#: engine that reads only some fields of a program's result does not pay for the rest.
program = njit(cache=True, error_model="numpy", inline="always")
