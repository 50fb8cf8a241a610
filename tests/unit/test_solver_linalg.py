"""The sparse linear algebra of :mod:`tmesim.wellmixed.solver`: factorising
``W = I - gh J`` on a precomputed fill pattern and solving with it."""

from __future__ import annotations

import numpy as np
import pytest

from tmesim.wellmixed import solver


def _factor_static(jp: np.ndarray, gh: float, pattern: np.ndarray | None = None):
    n = jp.shape[0]
    lptr, uptr = np.empty(n + 1, np.int64), np.empty(n + 1, np.int64)
    lidx, uidx = np.empty(n * n, np.int64), np.empty(n * n, np.int64)
    lval, uval, dinv, x = np.empty(n * n), np.empty(n * n), np.empty(n), np.zeros(n)
    pattern = jp != 0 if pattern is None else pattern
    solver.lu_symbolic(pattern, np.arange(n), lptr, lidx, uptr, uidx, np.empty(n, np.bool_))
    ok = solver.lu_factor_static(jp, gh, lptr, lidx, lval, uptr, uidx, uval, dinv, x)
    assert not x.any(), "the work space must be left zero"
    return ok, (lptr, lidx, lval, uptr, uidx, uval, dinv)


def _solve(factors, b: np.ndarray, perm: np.ndarray | None = None, piv: np.ndarray | None = None) -> np.ndarray:
    lptr, lidx, lval, uptr, uidx, uval, dinv = factors
    n = dinv.size
    perm = np.arange(n) if perm is None else perm
    piv = np.arange(n) if piv is None else piv
    v = np.zeros(n + 3)  # the state vector is longer than the core block W acts on
    v[:n] = b
    solver._sparse_solve(perm, piv, lptr, lidx, lval, uptr, uidx, uval, dinv, v, np.empty(n))
    return v[:n]


@pytest.mark.parametrize("n", [1, 7, 49])
@pytest.mark.parametrize("density", [0.05, 0.3, 1.0])
def test_static_factorisation_solves_w(n, density):
    rng = np.random.default_rng(n + int(100 * density))
    for gh in (1e-3, 0.1, 1.0):
        jp = rng.normal(size=(n, n)) * (rng.random((n, n)) < density)
        jp -= np.diag(np.abs(jp).sum(axis=1) + 1.0)  # negative diagonal, as in the model: W stays regular
        w = np.eye(n) - gh * jp
        b = rng.normal(size=n)
        # on the matrix's own pattern, and on a larger one (a pattern serves
        # every Jacobian whose nonzeros lie in it)
        for pattern in (jp != 0, (jp != 0) | (rng.random((n, n)) < 0.1)):
            ok, factors = _factor_static(jp, gh, pattern)
            assert ok
            np.testing.assert_allclose(_solve(factors, b), np.linalg.solve(w, b), rtol=1e-10, atol=1e-12)
        # the fill pattern holds every nonzero of the factors, and no more than a dense LU
        lptr, uptr = factors[0], factors[3]
        assert lptr[n] + uptr[n] <= n * (n - 1)


def test_static_factorisation_reports_a_small_pivot():
    jp = np.array([[0.0, 1.0], [1.0, 0.0]])  # W = [[1, -gh], [-gh, 1]]: singular at gh = 1
    ok, _ = _factor_static(jp, 1.0)
    assert not ok
    ok, factors = _factor_static(jp, 0.5)
    assert ok
    np.testing.assert_allclose(_solve(factors, np.array([1.0, 2.0])), np.linalg.solve([[1.0, -0.5], [-0.5, 1.0]], [1.0, 2.0]))
    # the pivoting fallback handles a zero diagonal the static factorisation cannot
    w = np.array([[0.0, 2.0], [3.0, 1.0]])
    a, piv = w.copy(), np.empty(2, np.int64)
    assert solver.lu_factor(a, piv)
    n = 2
    lptr, uptr = np.empty(n + 1, np.int64), np.empty(n + 1, np.int64)
    lidx, uidx = np.empty(n * n, np.int64), np.empty(n * n, np.int64)
    lval, uval, dinv = np.empty(n * n), np.empty(n * n), np.empty(n)
    solver._compress(a, lptr, lidx, lval, uptr, uidx, uval, dinv)
    x = _solve((lptr, lidx, lval, uptr, uidx, uval, dinv), np.array([4.0, 5.0]), piv=piv)
    np.testing.assert_allclose(x, np.linalg.solve(w, [4.0, 5.0]))


def test_drop_weak_couplings_bounds_what_it_drops():
    """Each row loses only entries whose weighted effect over h_ref sums to
    less than eps; strong couplings and the diagonal stay."""
    rng = np.random.default_rng(7)
    n = 30
    jac = rng.normal(size=(n, n)) * 10.0 ** rng.uniform(-9, 0, size=(n, n)) * (rng.random((n, n)) < 0.4)
    np.fill_diagonal(jac, -rng.uniform(1e-6, 1.0, n))
    y = 10.0 ** rng.uniform(-3, 6, n)
    atol = 10.0 ** rng.uniform(-6, 0, n)
    rtol, h_ref, eps = 1e-4, 1440.0, 1.0
    kept = jac.copy()
    solver._drop_weak_couplings(kept, y, atol, rtol, h_ref, eps)
    w = atol + rtol * np.abs(y)
    effect = np.abs(jac) * h_ref * w[None, :] / w[:, None]  # weighted effect of J_ij over h_ref
    dropped = (jac != 0) & (kept == 0)
    assert dropped.any() and (kept != 0).any()
    np.testing.assert_array_equal(np.diag(kept), np.diag(jac))
    np.testing.assert_array_equal(kept[~dropped], jac[~dropped])  # what stays is unchanged
    assert (np.where(dropped, effect, 0.0).sum(axis=1) < eps).all()
    # an entry whose effect alone reaches eps is never dropped
    assert not (dropped & (effect >= eps)).any()
