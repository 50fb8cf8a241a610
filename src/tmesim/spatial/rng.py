"""Counter-based random numbers: a uniform draw is a pure function of (seed, step, cell, event).

No generator state is carried between draws, so a draw does not depend on
which thread computes it or in which order cells are visited: a spatial run
is bit-identical whatever the number of threads, and a run resumed from a
checkpoint draws exactly what the uninterrupted run would have. The mixing
function is splitmix64's finaliser (Steele, Lea & Flood 2014), applied to
the key's words in turn; a uniform in [0, 1) takes the top 53 bits.
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

#: Event keys: which decision of a cell a draw is for. Derived keys in use: ``DAUGHTER + 1``, ``DAUGHTER + 32``
#: (T cell daughters and transitions) and ``REPAIR * 16 + h`` (one per sub-lethal hit, h < 128); the keys from
#: TRANSFORM on serve behaviours only hypothesis rules switch on (a type change, attacks on other cell types).
(DEATH, DEATH_MODE, DIVIDE, SITE, MOVE, HEADING, TRANSITION, KILL, TARGET, DAUGHTER, REPAIR, CLEAR, BIRTH, TRANSFORM,
 TRANSFORM_TYPE, TRANSFORM_STATE, ATTACK, ATTACK_TYPE, ATTACK_TARGET) = range(19)


@kernel
def mix64(z):
    """splitmix64's finaliser of a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@kernel
def uniform(seed, step, uid, event):
    """A uniform draw in [0, 1) keyed on ``(seed, step, uid, event)`` (non-negative integers)."""
    z = mix64(np.uint64(seed) + _GOLDEN)
    z = mix64(z ^ (np.uint64(step) * _GOLDEN + _M1))
    z = mix64(z ^ (np.uint64(uid) * _M2 + _GOLDEN))
    z = mix64(z ^ (np.uint64(event) + _M1))
    return np.float64(z >> _S11) * _INV53


@kernel
def happens(hazard_per_min, dt_min, seed, step, uid, event):
    """Whether an event of hazard ``h`` (1/min) happens within ``dt`` (min): ``u < 1 - exp(-h dt)``."""
    return uniform(seed, step, uid, event) < 1.0 - np.exp(-hazard_per_min * dt_min)
