"""The solver's finite-difference Jacobian: the structural sparsity pattern and
the coloured (Curtis-Powell-Reid) differences that rely on it."""

from __future__ import annotations

import numpy as np
import pytest

from tmesim import load_scenario
from tmesim.protocols import drugs as D
from tmesim.protocols.schedule import MIN_PER_DAY
from tmesim.results import variable
from tmesim.simulation import Simulation
from tmesim.wellmixed import model as M
from tmesim.wellmixed import solver
from tmesim.wellmixed import state as S

NC = S.N_CORE


@pytest.fixture(scope="module")
def states():
    """(t, y, p, c0, t0) at a few times of the flagship's arms, plus one
    state with CAR T cells present (their columns are dormant otherwise)."""
    scn = load_scenario().with_overrides(days=8)
    batch = Simulation(scn).compile()
    ds = Simulation(scn).run()
    conc = np.linspace(0.5, 5.0, D.N_DRUGS)  # every drug present
    out = []
    for r, arm in enumerate(ds.arm.values):
        for day in (0.0, 2.0, 8.0):
            y = np.array([float(variable(ds, n).sel(arm=arm, time=day)[0]) for n in S.NAMES])
            out.append((day * MIN_PER_DAY, y, batch.params[r], conc.copy(), np.full(D.N_DRUGS, (day - 1.0) * MIN_PER_DAY)))
    t, y, p, c0, t0 = out[-1]
    y_car = y.copy()
    for name in S.NAMES:
        if name.startswith("car_") and S.info(name)[0] == "cell":
            y_car[S.NAMES.index(name)] = 1e4
    out.append((t, y_car, p, c0, t0))
    out.append((0.0, M.initial_state(batch.params[0]), batch.params[0], np.zeros(D.N_DRUGS), np.zeros(D.N_DRUGS)))
    return out


def _pattern(state):
    t, y, p, c0, t0 = state
    pat = np.zeros((NC, NC), dtype=np.bool_)
    solver.sparsity(t, y, p, c0, t0, pat)
    return pat


def _dense(state, pat):
    t, y, p, c0, t0 = state
    atol = np.array(S.atol())
    f0, aux = np.empty(S.N_STATE), np.empty(M.N_AUX)
    solver._f(t, y, p, c0, t0, f0, aux)
    jac = np.empty((NC, NC))
    fits = solver._jacobian(t, y, f0, p, c0, t0, jac, np.empty(S.N_STATE), np.empty(S.N_STATE), aux, atol, pat)
    return jac, fits, f0


def test_pattern_is_structural_and_covers_the_differences(states):
    pats = [_pattern(s) for s in states]
    for pat in pats[1:]:
        np.testing.assert_array_equal(pat, pats[0])  # independent of the state
    assert 0.2 < pats[0].mean() < 0.6
    for s in states:
        jac, fits, _ = _dense(s, pats[0])
        assert fits
        assert np.all((jac != 0) <= pats[0])


def test_coloured_jacobian_equals_column_by_column(states):
    pat = _pattern(states[0])
    colptr, rowidx = np.empty(NC + 1, np.int64), np.empty(NC * NC, np.int64)
    cmask, corder = np.empty((NC, (NC + 63) // 64), np.int64), np.empty(NC, np.int64)
    solver.colouring_input(pat, colptr, rowidx, cmask, corder)
    atol = np.array(S.atol())
    for s in states:
        t, y, p, c0, t0 = s
        dense, _, f0 = _dense(s, pat)
        jac = np.full((NC, NC), np.nan)
        group, gmask = np.empty(NC, np.int64), np.empty((NC, cmask.shape[1]), np.int64)
        n_eval = solver._jacobian_coloured(t, y, f0, p, c0, t0, jac, np.empty(S.N_STATE), np.empty(S.N_STATE),
                                           np.empty(M.N_AUX), atol, colptr, rowidx, cmask, corder, group, gmask)
        np.testing.assert_array_equal(jac, dense)  # bitwise: row i never reads the group's other columns
        active = [j for j in range(NC) if not solver._dormant(y, f0, j)]
        assert n_eval < 0.8 * len(active)
        # every active column is in exactly one group, and a group's columns share no row
        assert sorted(j for j in range(NC) if group[j] >= 0) == active
        for g in range(n_eval):
            cols = [j for j in range(NC) if group[j] == g]
            assert cols and np.all(pat[:, cols].sum(axis=1) <= 1)


def test_pattern_misfit_is_reported(states):
    s = states[1]
    pat = _pattern(s)
    jac, fits, _ = _dense(s, pat)
    i, j = np.argwhere(jac != 0)[0]
    pat[i, j] = False
    assert not _dense(s, pat)[1]
