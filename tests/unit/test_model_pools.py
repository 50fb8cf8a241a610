"""The model's pool sums cover exactly the states they name."""

from __future__ import annotations

import numpy as np

from tmesim.wellmixed import model as M
from tmesim.wellmixed import state as S


def _counts(fn, names):
    """(pool of the named states only, pool of every other state)."""
    inside = np.array([1.0 if n in names else 0.0 for n in S.NAMES])
    return fn(inside), fn(1.0 - inside)


def test_host_t_pool_is_every_cd8_and_cd4_state_but_not_tregs():
    names = [n for n in S.NAMES if n.startswith(("cd8_", "cd4_")) and S.info(n)[2] == "t_cells"]
    assert len(names) == 8 and "treg" not in names
    assert _counts(M._host_t_pool, names) == (8.0, 0.0)


def test_car_pool_is_every_car_compartment():
    names = [n for n in S.NAMES if S.info(n)[2] == "car_t_cells"]
    assert len(names) == 8
    assert _counts(M._car_pool, names) == (8.0, 0.0)
