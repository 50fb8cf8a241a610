"""FROZEN copy (7bd9782), do not edit. The numba options shared by every compiled kernel of tmesim.

``error_model="numpy"`` lets a division by zero give inf/nan (which the
solver's finiteness checks report with the variable, arm and time) instead of
raising inside compiled code; it also drops the zero checks from every
division, which makes the right-hand side about 20% faster.
"""

from __future__ import annotations

from pathlib import Path

from numba import njit

from tmesim._jitcache import ensure_fresh

# Not frozen: the twin's kernels compile in its index constants, so its numba cache is dropped when any of
# its files changes (numba itself only notices a change to the kernel's own file).
ensure_fresh(Path(__file__).resolve().parent, ("*.py",), "basic-model-jit.sha256")

#: Decorator for a cached, compiled kernel.
kernel = njit(cache=True, error_model="numpy")

#: Decorator for a cached kernel with ``prange`` loops over rows.
parallel_kernel = njit(cache=True, parallel=True, error_model="numpy")
