"""The Rosenbrock-W tableaus in :mod:`tmesim.wellmixed.solver`: order and stability.

The coefficients are applied here in plain numpy, exactly as the compiled
step uses them (``W k_i = F(t + c_i h, y + h sum a_ij k_j) + sum C_ij k_j``,
``y+ = y + h sum m_j k_j``, error ``h sum e_j k_j``), with fixed steps on a
small nonlinear, non-autonomous problem. A W-method keeps its order for any
matrix in W, so the observed order is checked with the exact Jacobian, a
zero matrix and a random one; the time derivative of F is left out, as in
the solver.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tmesim.wellmixed import solver

T_END = 1.0
Y0 = np.array([1.0, 0.5, 0.2])


def _f(t, y):
    return np.array([-y[1] + 0.3 * y[0] * y[2] + np.sin(t), y[0] - 0.5 * y[1] ** 2, -0.8 * y[2] + y[0] * y[1] + np.cos(2 * t)])


def _jac(t, y):
    return np.array([[0.3 * y[2], -1.0, 0.3 * y[0]], [1.0, -y[1], 0.0], [y[1], y[0], -0.8]])


def _integrate(method: int, n: int, matrix: str, embedded: bool) -> np.ndarray:
    ns, g = solver.STAGES[method], solver.GAMMA[method]
    a, c, ct = solver.TAB_A[method], solver.TAB_C[method], solver.TAB_T[method]
    weights = solver.TAB_M[method] - (solver.TAB_E[method] if embedded else 0.0)
    rand = np.random.default_rng(1).normal(size=(3, 3))
    h, t, y = T_END / n, 0.0, Y0.copy()
    for _ in range(n):
        jm = {"exact": _jac(t, y), "zero": np.zeros((3, 3)), "random": rand}[matrix]
        w = np.eye(3) - g * h * jm
        k = []
        for i in range(ns):
            arg = y + h * sum(a[i, j] * k[j] for j in range(i))
            k.append(np.linalg.solve(w, _f(t + ct[i] * h, arg) + sum(c[i, j] * k[j] for j in range(i))))
        y = y + h * sum(weights[j] * k[j] for j in range(ns))
        t += h
    return y


@pytest.mark.parametrize("matrix", ["exact", "zero", "random"])
@pytest.mark.parametrize(("method", "order"), [(solver.ROS34PW2, 3), (solver.ROS2, 2)])
def test_observed_order(method, order, matrix):
    ref = solve_ivp(_f, (0.0, T_END), Y0, method="DOP853", rtol=1e-13, atol=1e-14).y[:, -1]
    for embedded, expected in ((False, order), (True, order - 1)):
        errs = [np.linalg.norm(_integrate(method, n, matrix, embedded) - ref) for n in (40, 80, 160)]
        rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        assert np.all(np.abs(rates - expected) < 0.1), (embedded, rates)


def _stability(method: int, z: complex, ratio: float) -> complex:
    """R(z) for y' = lambda y, z = h lambda, with W factorised for h / ratio."""
    ns, g = solver.STAGES[method], solver.GAMMA[method]
    a, c, m = solver.TAB_A[method], solver.TAB_C[method], solver.TAB_M[method]
    w = 1.0 - g * z / ratio
    k = []
    for i in range(ns):
        arg = 1.0 + sum(a[i, j] * k[j] for j in range(i))
        k.append((z * arg + sum(c[i, j] * k[j] for j in range(i))) / w)
    return 1.0 + sum(m[j] * k[j] for j in range(ns))


@pytest.mark.parametrize("method", [solver.ROS34PW2, solver.ROS2])
def test_lu_reuse_band_is_stable(method):
    """L-stable when W is fresh; |R| <= 1 on the left half-plane and
    |R(-inf)| bounded away from 1 (0.5 for ROS2, 0.75 for ROS34PW2, whose
    band reaches down to h = h_W / 2) anywhere in the band where a
    factorised W is reused."""
    assert abs(_stability(method, -1e12, 1.0)) < 1e-6
    lo, hi = solver.LU_REUSE_LO[method], solver.LU_REUSE_HI[method]
    bound = {solver.ROS2: 0.5, solver.ROS34PW2: 0.75}[method]
    zs = np.logspace(-3, 8, 200)[:, None] * np.exp(1j * np.linspace(np.pi / 2, np.pi, 25))[None, :]
    for ratio in np.linspace(lo, hi, 41):
        assert abs(_stability(method, -1e12, ratio)) <= bound
        assert np.abs(_stability(method, zs, ratio)).max() <= 1.0 + 1e-9
