"""Batched stiff integrator: Rosenbrock-W methods compiled with numba.

Default method: ROS34PW2 (Rang & Angermann 2005, BIT Numer Math 45:761,
"New Rosenbrock W-methods of order 3 for partial differential algebraic
equations of index 1", Table 4): four stages, order 3 with an embedded
order-2 solution for error control, L-stable, stiffly accurate. In the
transformed form used here, with W = I - gamma h J (gamma = 0.4358665...)::

    W k_i = F(t + c_i h, y + h sum_{j<i} a_ij k_j) + sum_{j<i} C_ij k_j
    y+    = y + h sum_j m_j k_j                  (order 3)
    err   = h sum_j e_j k_j                      (y+ minus the order-2 solution)

ROS2 (Verwer, Spee, Blom & Hundsdorfer 1999, SIAM J Sci Comput 20:1456; two
stages, order 2, embedded order 1, gamma = 1 + 1/sqrt(2)) is kept as
``method=ROS2`` for comparison.

Both are W-methods: their order conditions hold for *any* matrix J, not
only the exact Jacobian (ROS34PW2: W-order 3, embedded W-order 2;
``tests/unit/test_solver_order.py`` checks the observed orders with an exact,
a zero and a random J). So the Jacobian is a finite-difference
approximation, refreshed at the start of each call, after CAR T infusions,
every ``jac_every`` accepted steps and after a second rejected step in a row;
a drug dose keeps it (the step after a dose starts at the step size from
before it and the error control shrinks it if needed). The time derivative
of F is left out of W.

Jacobian: columns whose nonzeros share no row are differenced together, in
one model evaluation (Curtis-Powell-Reid colouring: about 27 evaluations
instead of 41), on the model's structural sparsity pattern, found at the
start of each call by propagating NaN through the model (``sparsity``). A
row's very first Jacobian is taken column by column and checked against the
pattern, and every coloured one checks the rows its groups cannot reach.

Couplings too weak to matter over the longest step are dropped from the
Jacobian before W is formed (``_drop_weak_couplings``, bounded per row in
the units of the error control); the W-method property makes that, too, a
change of matrix rather than of order, and the factors become about three
times sparser.

Linear algebra: the W-method property also lets a factorised W serve later
steps whose size stays within a band around the one it was built for (see
``LU_REUSE_LO``/``LU_REUSE_HI``); to keep it, the step size is not grown by
less than a factor ``STEP_GROWTH_MIN`` while W is current. W is factorised
in a fewest-couplings-first order without pivoting, on a fill pattern
(``lu_symbolic``) worked out, like the order, only when the Jacobian's
nonzero pattern changes (the Jacobian is about 25% full, the factors about
30%), falling back to threshold pivoting if a pivot is small, and solved
with its nonzeros only. Cumulative counters ("quad" variables, which feed
nothing back) take W = I.

Steps land on output times, as on events, rather than interpolating
between steps: cubic Hermite interpolation from F at the step ends
multiplies a stiff variable's local error by about h over its relaxation
time (1e-2 relative error in IFN-gamma at rtol 1e-4 with ROS34PW2's day-long
steps); landing costs about 2% more steps with daily outputs, but a step
never exceeds the output interval. Each row (one arm x patient) integrates
independently in a ``prange`` loop, keeps its own step size and event list,
and reports a status instead of raising: one failed patient never stops the
others.

The integrator is written against :mod:`.model` directly (not a generic
factory) so that numba can cache the compiled code on disk.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._jit import kernel, parallel_kernel
from ..status import SolverStatus
from . import model as M
from .state import N_CORE, N_STATE

N_AUX = M.N_AUX
N_AUX_OUT = M.N_AUX_OUT

OK = int(SolverStatus.OK)
FAIL_MAX_STEPS = int(SolverStatus.MAX_STEPS)
FAIL_STEP_SIZE = int(SolverStatus.STEP_SIZE)
FAIL_NONFINITE = int(SolverStatus.NONFINITE)

ROS2 = 0
ROS34PW2 = 1
#: ``integrate``'s ``method`` argument by name.
METHODS = {"ros2": ROS2, "ros34pw2": ROS34PW2}
MAX_STAGES = 4


def _transformed(alpha, gam, b, b_hat):
    """``(gamma, a, C, c, m, e)`` of the W k_i form from a tableau in the
    original form k_i = h F(t + c_i h, y + sum alpha_ij k_j) + h J sum gamma_ij k_j,
    y+ = y + sum b_j k_j, error y+ - (y + sum b_hat_j k_j) (Hairer & Wanner
    II, IV.7, with k rescaled by 1/(gamma h) so that W = I - gamma h J)."""
    gamma = gam[0, 0]
    g_inv = np.linalg.inv(gam)
    return (gamma, gamma * alpha @ g_inv, -gamma * np.tril(g_inv, -1), alpha.sum(axis=1), gamma * b @ g_inv,
            gamma * (b - b_hat) @ g_inv)


_G = 4.3586652150845900e-01
_ROS34PW2 = _transformed(
    np.array([[0.0, 0.0, 0.0, 0.0],
              [8.7173304301691801e-01, 0.0, 0.0, 0.0],
              [8.4457060015369423e-01, -1.1299064236484185e-01, 0.0, 0.0],
              [0.0, 0.0, 1.0, 0.0]]),
    np.array([[_G, 0.0, 0.0, 0.0],
              [-8.7173304301691801e-01, _G, 0.0, 0.0],
              [-9.0338057013044082e-01, 5.4180672388095326e-02, _G, 0.0],
              [2.4212380706095346e-01, -1.2232505839045147e+00, 5.4526025533510214e-01, _G]]),
    np.array([2.4212380706095346e-01, -1.2232505839045147e+00, 1.5452602553351020e+00, _G]),
    np.array([3.7810903145819369e-01, -9.6042292212423178e-02, 0.5, 2.1793326075422950e-01]),
)

# Per-method tableaus (rows: ROS2, ROS34PW2), zero-padded to MAX_STAGES.
STAGES = np.array([2, 4])
GAMMA = np.array([1.0 + 1.0 / np.sqrt(2.0), _ROS34PW2[0]])
TAB_A = np.zeros((2, MAX_STAGES, MAX_STAGES))
TAB_C = np.zeros((2, MAX_STAGES, MAX_STAGES))
TAB_T = np.zeros((2, MAX_STAGES))  # stage times, fractions of h
TAB_M = np.zeros((2, MAX_STAGES))
TAB_E = np.zeros((2, MAX_STAGES))
TAB_A[ROS2, 1, 0] = 1.0
TAB_C[ROS2, 1, 0] = -2.0
TAB_T[ROS2, 1] = 1.0
TAB_M[ROS2, :2] = (1.5, 0.5)
TAB_E[ROS2, :2] = (0.5, 0.5)  # y+ - (y + h k_1)
_, TAB_A[ROS34PW2], TAB_C[ROS34PW2], TAB_T[ROS34PW2], TAB_M[ROS34PW2], TAB_E[ROS34PW2] = _ROS34PW2
#: step-size controller exponent: -1 / (order of the embedded solution + 1)
ERR_EXPONENT = np.array([-1.0 / 2.0, -1.0 / 3.0])

# W is refactorised only when the Jacobian is refreshed or the step size has
# moved outside [LU_REUSE_LO, LU_REUSE_HI] times the step it was factorised
# for. Reusing W = I - gamma h_W J for a step h is the same W-method with the
# matrix (h_W / h) J, so the order is unchanged, but the stability function
# is no longer L-stable. In the bands |R(z)| <= 1 on Re z <= 0 and |R(-inf)|
# stays below 0.5 for ROS2 (0.36 at 0.6, 0.44 at 1.6) and below 0.72 for
# ROS34PW2 (0.71 at 0.5, 0 at 1, 0.21 at 1.5; |R(-inf)| > 1 beyond
# h = 1.62 h_W, and A-stability is lost below h = 0.35 h_W). ROS34PW2's lower
# edge was 0.75 (|R(-inf)| <= 0.5); at 0.5 the retry after a rejection and a
# step cut short to land on an output usually keep W: on 200 benchmark
# patients 25% fewer factorisations and 3% fewer steps, with the accuracy
# test's largest error 4.3e-4 -> 2.0e-4.
LU_REUSE_LO = np.array([0.6, 0.5])
LU_REUSE_HI = np.array([1.6, 1.5])
# After an accepted step the step size is kept, rather than grown by less
# than STEP_GROWTH_MIN, while the factorised W stays in use (no Jacobian
# refresh due): a W-method step larger than the one W was built for has a
# much less reliable error estimate. On benchmark patients a step grown by
# 1.2-1.5x on a reused W was rejected 62% of the time, against 13% on a
# fresh W and 2% at an unchanged step size.
STEP_GROWTH_MIN = 2.0
# Weak couplings are dropped from the Jacobian before W is built (see
# _drop_weak_couplings): in each row, an off-diagonal entry whose effect over
# the longest step (hmax), in units of the error scales, is below
# JAC_DROP / (the row's off-diagonal count) is set to zero, so the dropped
# part of hmax J has a weighted row sum below JAC_DROP. On 100 benchmark
# patients (one thread) the factors' nonzeros fell from ~600 to ~180 and the
# CPU time per patient-year by 22%, with the same number of steps.
JAC_DROP = 1.0
# threshold partial pivoting (the fallback factorisation, see lu_factor_static):
# keep the diagonal pivot (no fill from row swaps) unless it is smaller than
# PIVOT_THRESHOLD times the largest in its column
PIVOT_THRESHOLD = 0.1
# W is first factorised without pivoting, on the fill pattern of its nonzero
# pattern (lu_symbolic, lu_factor_static). A pivot is invariant under the
# diagonal rescaling of the variables, and W = I - gamma h J starts with a
# unit diagonal as h -> 0; if one falls below STATIC_PIVOT_MIN in magnitude
# (or is not finite), W is factorised again with pivoting (lu_factor).
STATIC_PIVOT_MIN = 1e-6


@kernel
def lu_factor(a, piv):
    """In-place LU factorisation with threshold partial pivoting (Doolittle).

    Zero multipliers and zero entries of the pivot row are skipped, so the
    cost follows the sparsity of ``a``. The solver uses it only when
    :func:`lu_factor_static` meets a small pivot (the comparison of entries
    across rows mixes the variables' units, so it is no guide to accuracy
    otherwise). Returns False if the matrix is singular to working precision.
    """
    n = a.shape[0]
    cols = np.empty(n, dtype=np.int64)
    for k in range(n):
        p = k
        big = abs(a[k, k])
        diag = big
        for i in range(k + 1, n):
            v = abs(a[i, k])
            if v > big:
                big = v
                p = i
        if big == 0.0:
            piv[k] = k
            return False
        if diag >= PIVOT_THRESHOLD * big:
            p = k
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = a[k, j]
                a[k, j] = a[p, j]
                a[p, j] = tmp
        inv = 1.0 / a[k, k]
        nc = 0
        for j in range(k + 1, n):
            if a[k, j] != 0.0:
                cols[nc] = j
                nc += 1
        for i in range(k + 1, n):
            f = a[i, k]
            if f != 0.0:
                f *= inv
                a[i, k] = f
                for jj in range(nc):
                    j = cols[jj]
                    a[i, j] -= f * a[k, j]
    return True


@kernel
def lu_symbolic(jnz, perm, lptr, lidx, uptr, uidx, mark):
    """Fill pattern of the LU factors of ``W = I - gamma h J`` without
    pivoting, in the elimination order ``perm``, for any J whose nonzeros
    lie in the pattern ``jnz`` (variable order).

    Row ``i`` of the factors has the nonzeros of row ``i`` of W plus, for
    each ``k < i`` in its L part (taken in increasing order, fill included),
    the U part of row ``k``. Writes the column indices
    row by row in increasing order: L (``j < i``) to ``lptr``/``lidx``, U
    (``j > i``) to ``uptr``/``uidx``, the layout :func:`lu_factor_static`
    fills and :func:`_sparse_solve` reads. ``mark`` is work space (length n).
    """
    n = jnz.shape[0]
    lptr[0] = 0
    uptr[0] = 0
    for i in range(n):
        for j in range(n):
            mark[j] = jnz[perm[i], perm[j]]
        for k in range(i):  # increasing k: fill from row k can only land at j > k
            if mark[k]:
                for q in range(uptr[k], uptr[k + 1]):
                    mark[uidx[q]] = True
        nl = lptr[i]
        for j in range(i):
            if mark[j]:
                lidx[nl] = j
                nl += 1
        lptr[i + 1] = nl
        nu = uptr[i]
        for j in range(i + 1, n):
            if mark[j]:
                uidx[nu] = j
                nu += 1
        uptr[i + 1] = nu


@kernel
def lu_factor_static(jp, gh, lptr, lidx, lval, uptr, uidx, uval, dinv, x):
    """Factorise ``W = I - gh jp`` without pivoting on the fill pattern from
    :func:`lu_symbolic` (row-oriented Doolittle: each row of W is scattered
    into ``x``, eliminated with the rows of U above it, gathered into L, the
    inverse pivot and U). Costs about the flops of the sparse elimination.

    ``x`` is work space of length n and must be zero on entry (it is left
    zero). Returns False if a pivot is not finite or below
    :data:`STATIC_PIVOT_MIN` in magnitude; then the factors are incomplete and
    W must be factorised with pivoting.
    """
    n = jp.shape[0]
    ok = True
    for i in range(n):
        for q in range(lptr[i], lptr[i + 1]):
            j = lidx[q]
            x[j] = -gh * jp[i, j]
        x[i] = 1.0 - gh * jp[i, i]
        for q in range(uptr[i], uptr[i + 1]):
            j = uidx[q]
            x[j] = -gh * jp[i, j]
        for q in range(lptr[i], lptr[i + 1]):
            k = lidx[q]
            f = x[k] * dinv[k]
            x[k] = 0.0
            lval[q] = f
            if f != 0.0:
                for qq in range(uptr[k], uptr[k + 1]):
                    x[uidx[qq]] -= f * uval[qq]
        d = x[i]
        x[i] = 0.0
        for q in range(uptr[i], uptr[i + 1]):
            j = uidx[q]
            uval[q] = x[j]
            x[j] = 0.0
        if not abs(d) >= STATIC_PIVOT_MIN or not np.isfinite(d):
            ok = False  # finish the row loop so that x is left zero
            d = 1.0
        dinv[i] = 1.0 / d
    return ok


@kernel
def _compress(a, lptr, lidx, lval, uptr, uidx, uval, dinv):
    """Nonzeros of the factors from :func:`lu_factor`, row by row (for :func:`_sparse_solve`)."""
    n = a.shape[0]
    nl = 0
    nu = 0
    for i in range(n):
        lptr[i] = nl
        for j in range(i):
            if a[i, j] != 0.0:
                lidx[nl] = j
                lval[nl] = a[i, j]
                nl += 1
        uptr[i] = nu
        for j in range(i + 1, n):
            if a[i, j] != 0.0:
                uidx[nu] = j
                uval[nu] = a[i, j]
                nu += 1
        dinv[i] = 1.0 / a[i, i]
    lptr[n] = nl
    uptr[n] = nu


@kernel
def _sparse_solve(perm, piv, lptr, lidx, lval, uptr, uidx, uval, dinv, b, x):
    """Solve ``W v = b`` for the core variables, in place in ``b``.

    ``W`` was factorised in the order ``perm`` (row/column ``i`` of the
    factors is variable ``perm[i]``); ``x`` is work space.
    """
    n = perm.shape[0]
    for i in range(n):
        x[i] = b[perm[i]]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = x[k]
            x[k] = x[p]
            x[p] = tmp
    for i in range(n):
        s = x[i]
        for q in range(lptr[i], lptr[i + 1]):
            s -= lval[q] * x[lidx[q]]
        x[i] = s
    for i in range(n - 1, -1, -1):
        s = x[i]
        for q in range(uptr[i], uptr[i + 1]):
            s -= uval[q] * x[uidx[q]]
        x[i] = s * dinv[i]
    for i in range(n):
        b[perm[i]] = x[i]


@kernel
def _f(t, y, p, c0, t0, out, aux):
    M.evaluate(t, y, p, c0, t0, out, aux)

@kernel
def sparsity(t, y, p, c0, t0, pat):
    """Structural nonzeros of the core Jacobian: ``pat[i, j]`` is True when
    F_i is computed from y_j at all.

    Found by evaluating F with y_j set to NaN, one core variable at a time:
    NaN propagates through every arithmetic path (``0 * NaN`` is NaN, and
    ``np.maximum`` passes it on), so the pattern does not depend on the
    values in ``y`` and covers every state. Only a branch on y_j (an ``if``,
    or Python's ``min``/``max``) could hide a dependence; for that reason
    :func:`_jacobian` checks its differences against the pattern, and
    :func:`_jacobian_coloured` the rows its groups cannot reach.
    """
    ytmp = np.empty(N_STATE)
    ftmp = np.empty(N_STATE)
    aux = np.empty(N_AUX)
    for i in range(N_STATE):
        ytmp[i] = y[i]
    for j in range(N_CORE):
        ytmp[j] = np.nan
        _f(t, ytmp, p, c0, t0, ftmp, aux)
        ytmp[j] = y[j]
        for i in range(N_CORE):
            pat[i, j] = np.isnan(ftmp[i])


@kernel
def colouring_input(pat, colptr, rowidx, cmask, corder):
    """Column-wise form of the sparsity pattern for :func:`_jacobian_coloured`.

    ``colptr``/``rowidx``: the rows of each column's nonzeros (CSC);
    ``cmask[j]``: the same rows as a bit set (64 rows per int64 word);
    ``corder``: columns with the most nonzeros first, the greedy colouring's
    order (largest-first).
    """
    n = pat.shape[0]
    count = np.zeros(n, dtype=np.int64)
    nnz = 0
    for j in range(n):
        colptr[j] = nnz
        for w in range(cmask.shape[1]):
            cmask[j, w] = 0
        for i in range(n):
            if pat[i, j]:
                rowidx[nnz] = i
                nnz += 1
                cmask[j, i // 64] |= np.int64(1) << (i % 64)
        count[j] = nnz - colptr[j]
    colptr[n] = nnz
    order = np.argsort(-count, kind="mergesort")
    for j in range(n):
        corder[j] = order[j]


@kernel
def _dormant(y, f0, j):
    """A dormant variable (e.g. CAR T cells before any infusion): its stage
    components are zero unless other variables feed it, so its Jacobian
    column is left out (any matrix keeps the W-method's order)."""
    return y[j] == 0.0 and f0[j] == 0.0


@kernel
def _fd_increment(y, atol, j):
    """Finite-difference increment for variable ``j`` (its unit)."""
    return 1.5e-8 * max(abs(y[j]), 1e3 * atol[j])


@kernel
def _jacobian(t, y, f0, p, c0, t0, jac, ytmp, ftmp, aux, atol, pat):
    """Forward-difference Jacobian of the core variables, one model
    evaluation per (non-dormant) column. Returns True if every nonzero lies
    in the sparsity pattern ``pat`` (see :func:`sparsity`)."""
    fits = True
    for i in range(N_STATE):
        ytmp[i] = y[i]
    for j in range(N_CORE):
        if _dormant(y, f0, j):
            for i in range(N_CORE):
                jac[i, j] = 0.0
            continue
        d = _fd_increment(y, atol, j)
        ytmp[j] = y[j] + d
        _f(t, ytmp, p, c0, t0, ftmp, aux)
        ytmp[j] = y[j]
        inv = 1.0 / d
        for i in range(N_CORE):
            jac[i, j] = (ftmp[i] - f0[i]) * inv
            if jac[i, j] != 0.0 and not pat[i, j]:
                fits = False
    return fits


@kernel
def _jacobian_coloured(t, y, f0, p, c0, t0, jac, ytmp, ftmp, aux, atol, colptr, rowidx, cmask, corder, group, gmask):
    """The Jacobian of :func:`_jacobian` with one model evaluation per group
    of structurally orthogonal columns (Curtis, Powell & Reid 1974, J Inst
    Math Appl 13:117): columns whose nonzeros share no row are perturbed
    together, and each row of the difference is credited to the one column
    of the group that can reach it. With a correct pattern the result is
    bitwise that of :func:`_jacobian` (row i's evaluation never reads the
    group's other variables). The groups are formed greedily, largest
    column first, among the non-dormant columns of the moment (~27 groups
    for the ~41 non-dormant columns). Returns the number of evaluations, or
    -1 if a row that none of a group's columns reaches in the pattern still
    changed (a dependence the pattern lacks; the Jacobian is then unusable).
    ``group``/``gmask`` are work space."""
    nc = N_CORE
    nw = cmask.shape[1]
    ng = 0
    for jj in range(nc):
        j = corder[jj]
        group[j] = -1
        if _dormant(y, f0, j):
            continue
        g = 0
        while g < ng:  # the first group none of whose rows j reaches
            clash = False
            for w in range(nw):
                if gmask[g, w] & cmask[j, w] != 0:
                    clash = True
                    break
            if not clash:
                break
            g += 1
        if g == ng:
            for w in range(nw):
                gmask[g, w] = 0
            ng += 1
        for w in range(nw):
            gmask[g, w] |= cmask[j, w]
        group[j] = g
    for i in range(N_STATE):
        ytmp[i] = y[i]
    for i in range(nc):
        for j in range(nc):
            jac[i, j] = 0.0
    for g in range(ng):
        for j in range(nc):
            if group[j] == g:
                ytmp[j] = y[j] + _fd_increment(y, atol, j)
        _f(t, ytmp, p, c0, t0, ftmp, aux)
        for i in range(nc):
            if gmask[g, i // 64] & (np.int64(1) << (i % 64)) == 0 and ftmp[i] != f0[i]:
                return -1
        for j in range(nc):
            if group[j] == g:
                ytmp[j] = y[j]
                inv = 1.0 / _fd_increment(y, atol, j)
                for q in range(colptr[j], colptr[j + 1]):
                    i = rowidx[q]
                    jac[i, j] = (ftmp[i] - f0[i]) * inv
    return ng


@kernel
def _update_pattern(jac, jnz, reset):
    """Add the nonzeros of ``jac`` to the pattern ``jnz`` (``reset``: make
    ``jnz`` the nonzeros of ``jac``); True if ``jnz`` changed."""
    n = jac.shape[0]
    keep = not reset
    changed = False
    for i in range(n):
        for j in range(n):
            # bitwise operators: no branches on the irregular pattern
            new = (jac[i, j] != 0.0) | (jnz[i, j] & keep)
            changed |= new ^ jnz[i, j]
            jnz[i, j] = new
    return changed


@kernel
def _drop_weak_couplings(jac, y, atol, rtol, h_ref, eps):
    """Zero the off-diagonal Jacobian entries too weak to matter for W.

    With error scales ``w_k = atol_k + rtol |y_k|``, entry ``J_ij`` is dropped
    when ``|J_ij| h_ref w_j / w_i < eps / m_i`` (``m_i``: the row's nonzero
    off-diagonal entries), so that in each row the dropped part of
    ``h_ref J``, measured in the error scales, sums to less than ``eps``. A
    W-method keeps its order for any matrix (module docstring); dropping
    couplings this weak leaves its stability and step sizes as they were while
    the LU factors and triangular solves become several times sparser. The
    diagonal is always kept. ``h_ref`` (min) should be the longest step W
    may serve.
    """
    n = jac.shape[0]
    w = np.empty(n)
    for k in range(n):
        w[k] = atol[k] + rtol * abs(y[k])
    for i in range(n):
        m = 0
        for j in range(n):
            if j != i and jac[i, j] != 0.0:
                m += 1
        if m == 0:
            continue
        cut = eps / m * w[i] / h_ref
        for j in range(n):
            if j != i and abs(jac[i, j]) * w[j] < cut:
                jac[i, j] = 0.0


@kernel
def _ordering(jnz, perm, deg):
    """Elimination order for W: variables with the fewest couplings first
    (a static min-degree heuristic on the Jacobian's nonzero pattern
    ``jnz``), which keeps the fill of the factors, and so their cost, low."""
    n = jnz.shape[0]
    for i in range(n):
        deg[i] = 0
    for i in range(n):
        for j in range(n):
            if i != j and jnz[i, j]:
                deg[i] += 1
                deg[j] += 1
    order = np.argsort(deg, kind="mergesort")
    for i in range(n):
        perm[i] = order[i]


@kernel
def _row(r, y, tcur, hcur, p, c0, t0, ev_time, ev_kind, ev_payload, n_ev, ev_ptr, out_times, k0, k1,
         rtol, atol, hmax, max_steps, jac_every, method, out_y, out_aux, status, fail_var, fail_time, n_steps,
         pat, colptr, rowidx, cmask, corder):
    n = N_STATE
    nc = N_CORE
    ns = STAGES[method]
    gamma = GAMMA[method]
    tab_a = TAB_A[method]
    tab_c = TAB_C[method]
    tab_t = TAB_T[method]
    tab_m = TAB_M[method]
    tab_e = TAB_E[method]
    expo = ERR_EXPONENT[method]
    lu_lo = LU_REUSE_LO[method]
    lu_hi = LU_REUSE_HI[method]
    yr = y[r]
    pr = p[r]
    c0r = c0[r]
    t0r = t0[r]
    f0 = np.empty(n)
    kst = np.empty((MAX_STAGES, n))  # stage vectors k_i
    ynew = np.empty(n)
    ytmp = np.empty(n)
    ftmp = np.empty(n)
    xw = np.empty(nc)
    aux = np.empty(N_AUX)
    jac = np.empty((nc, nc))
    jp = np.empty((nc, nc))  # Jacobian in elimination order
    w = np.empty((nc, nc))
    piv = np.empty(nc, dtype=np.int64)
    perm = np.arange(nc)
    jnz = np.zeros((nc, nc), dtype=np.bool_)  # nonzero pattern perm and the fill pattern were made for
    new_pattern = True  # jnz is to be rebuilt (not only extended) at the next Jacobian
    deg = np.empty(nc, dtype=np.int64)
    lptr = np.empty(nc + 1, dtype=np.int64)
    uptr = np.empty(nc + 1, dtype=np.int64)
    lidx = np.empty(nc * nc, dtype=np.int64)
    uidx = np.empty(nc * nc, dtype=np.int64)
    lval = np.empty(nc * nc)
    uval = np.empty(nc * nc)
    dinv = np.empty(nc)
    mark = np.empty(nc, dtype=np.bool_)
    xlu = np.zeros(nc)  # lu_factor_static's work space (kept zero)
    group = np.empty(nc, dtype=np.int64)
    gmask = np.empty((nc, cmask.shape[1]), dtype=np.int64)
    t = tcur[r]
    h = hcur[r]
    k = k0
    ptr = ev_ptr[r]
    steps = 0
    limiting = 0  # variable with the largest scaled error in the latest step
    fresh = True
    since_jac = jac_every  # no Jacobian yet in this call
    jac_current = False  # Jacobian evaluated at the current (t, y)
    h_lu = 0.0  # step size W is factorised for (0: none)
    symbolic = False  # lptr/lidx/uptr/uidx hold lu_symbolic's pattern of jnz
    # Jacobians are coloured, except the row's very first (k0 = 0), which is
    # taken column by column and checked against the sparsity pattern, and
    # the rest of the call's in a row where a check failed.
    coloured = k0 > 0
    rejected = False  # the latest attempted step was rejected
    aux_at_t = False  # aux holds the derived outputs at the current (t, y)
    span = max(out_times[k1 - 1] - out_times[0], 1.0)
    hmin = 1e-12 * span
    while k < k1:
        # events due now (post-event state is what is recorded at that time)
        while ptr < n_ev[r] and ev_time[r, ptr] <= t + 1e-9:
            M.rebase_drugs(t, c0r, t0r, pr)
            M.apply_event(ev_kind[r, ptr], ev_payload[r, ptr], yr, c0r)
            if ev_kind[r, ptr] != M.EVENT_DOSE:
                # new cells: their columns may have been left out as dormant
                since_jac = jac_every
            ptr += 1
            fresh = True
            aux_at_t = False
        while k < k1 and out_times[k] <= t + 1e-9:
            for i in range(n):
                out_y[r, k, i] = yr[i]
            if not aux_at_t:  # after an accepted step it is already there
                _f(t, yr, pr, c0r, t0r, ftmp, aux)
                aux_at_t = True
            for i in range(N_AUX_OUT):
                out_aux[r, k, i] = aux[i]
            k += 1
        if k >= k1:
            break
        # steps land on output times as on events: interpolating a stiff
        # variable (e.g. a cytokine near its quasi-steady state) from
        # F(y) at the step ends amplifies its local error by about h/tau
        t_end = out_times[k]
        if ptr < n_ev[r] and ev_time[r, ptr] < t_end:
            t_end = ev_time[r, ptr]
        if fresh:
            _f(t, yr, pr, c0r, t0r, f0, aux)
            jac_current = False
            fresh = False
            new_pattern = True
        if since_jac >= jac_every and not jac_current:
            if coloured:
                coloured = _jacobian_coloured(t, yr, f0, pr, c0r, t0r, jac, ytmp, ftmp, aux, atol, colptr, rowidx,
                                              cmask, corder, group, gmask) >= 0
                if not coloured:  # the pattern lacks a dependence
                    _jacobian(t, yr, f0, pr, c0r, t0r, jac, ytmp, ftmp, aux, atol, pat)
            else:
                fits = _jacobian(t, yr, f0, pr, c0r, t0r, jac, ytmp, ftmp, aux, atol, pat)
                coloured = fits and k0 == 0 and steps == 0  # the row's first Jacobian fits
            # The elimination order and the fill pattern follow the nonzero
            # pattern: rebuilt from the first Jacobian after an event (the
            # pattern shrinks, e.g., when a tumour dies out), and between
            # events extended to new nonzeros (small entries flicker in and
            # out as their differences round to zero).
            if JAC_DROP > 0.0:
                _drop_weak_couplings(jac, yr, atol, rtol, hmax, JAC_DROP)
            if _update_pattern(jac, jnz, new_pattern):
                _ordering(jnz, perm, deg)
                symbolic = False
            new_pattern = False
            for i in range(nc):
                for j in range(nc):
                    jp[i, j] = jac[perm[i], perm[j]]
            since_jac = 0
            jac_current = True
            h_lu = 0.0
        h_free = min(h, hmax)  # the controller's step, before landing on t_end
        h = min(h_free, t_end - t)
        if t_end - t - h < 1e-9 * span:
            h = t_end - t
        # ---- one Rosenbrock-W step
        ok = True
        aux_at_t = False  # the Jacobian and the stages overwrite aux
        if h_lu == 0.0 or h < lu_lo * h_lu or h > lu_hi * h_lu:
            gh = gamma * h
            if not symbolic:
                lu_symbolic(jnz, perm, lptr, lidx, uptr, uidx, mark)
                symbolic = True
            ok = lu_factor_static(jp, gh, lptr, lidx, lval, uptr, uidx, uval, dinv, xlu)
            if ok:
                for i in range(nc):
                    piv[i] = i
            else:
                # rare: a small pivot; factorise the dense W with pivoting
                # (its factors overwrite the symbolic pattern)
                symbolic = False
                for i in range(nc):
                    for j in range(nc):
                        w[i, j] = -gh * jp[i, j]
                    w[i, i] += 1.0
                ok = lu_factor(w, piv)
                if ok:
                    _compress(w, lptr, lidx, lval, uptr, uidx, uval, dinv)
            h_lu = h if ok else 0.0
        accept = False
        err = 1e10
        if ok:
            for s in range(ns):
                ks = kst[s]
                if s == 0:
                    for i in range(n):
                        ks[i] = f0[i]
                else:
                    for i in range(n):
                        acc = 0.0
                        for j in range(s):
                            acc += tab_a[s, j] * kst[j, i]
                        ytmp[i] = yr[i] + h * acc
                    _f(t + tab_t[s] * h, ytmp, pr, c0r, t0r, ftmp, aux)
                    for i in range(n):
                        acc = ftmp[i]
                        for j in range(s):
                            acc += tab_c[s, j] * kst[j, i]
                        ks[i] = acc
                _sparse_solve(perm, piv, lptr, lidx, lval, uptr, uidx, uval, dinv, ks, xw)
            err = 0.0
            bad = -1
            e_max = -1.0
            for i in range(n):
                dy = 0.0
                de = 0.0
                for j in range(ns):
                    dy += tab_m[j] * kst[j, i]
                    de += tab_e[j] * kst[j, i]
                ynew[i] = yr[i] + h * dy
                sc = atol[i] + rtol * max(abs(yr[i]), abs(ynew[i]))
                if not np.isfinite(ynew[i]):
                    bad = i
                    break
                if ynew[i] < -sc:
                    bad = i
                e = h * de / sc
                err += e * e
                if abs(e) > e_max:
                    e_max = abs(e)
                    limiting = i
            err = np.sqrt(err / n)
            if bad >= 0:
                err = 1e10
                fail_var[r] = bad
            accept = err <= 1.0
        steps += 1
        if accept:
            t = t + h
            if M.extinguish(yr, ynew, pr) > 0:
                # a population died out (below one cell): an event, as a dose is; its columns go dormant
                fresh = True
                since_jac = jac_every
            for i in range(n):
                # clip the small negatives an accepted step may leave (above -scale)
                yr[i] = 0.0 if ynew[i] < 0.0 else ynew[i]
            _f(t, yr, pr, c0r, t0r, f0, aux)
            aux_at_t = True
            since_jac += 1
            jac_current = False
            fac = 5.0 if err < 1e-10 else min(5.0, max(0.2, 0.9 * err ** expo))
            if 1.0 < fac < STEP_GROWTH_MIN and h_lu > 0.0 and since_jac < jac_every:
                fac = 1.0  # keep W (see STEP_GROWTH_MIN)
            # a step cut short to land on t_end does not shrink the next one
            h = max(h * fac, h_free) if h < h_free else h * fac
            fail_var[r] = -1
            rejected = False
        else:
            if rejected or err >= 1e9:
                # a second rejection in a row (or a non-finite/negative
                # value): refresh the Jacobian. A single rejection only
                # shrinks the step: the W-method tolerates a stale J.
                since_jac = jac_every
            rejected = True
            h = h * (0.25 if err >= 1e9 else max(0.2, 0.9 * err ** expo))
            if h < hmin:
                status[r] = FAIL_NONFINITE if err >= 1e9 else FAIL_STEP_SIZE
                fail_time[r] = t
                if fail_var[r] < 0:
                    fail_var[r] = limiting
                break
        if steps > max_steps:
            status[r] = FAIL_MAX_STEPS
            fail_time[r] = t
            fail_var[r] = limiting if fail_var[r] < 0 else fail_var[r]
            break
    tcur[r] = t
    hcur[r] = h
    ev_ptr[r] = ptr
    n_steps[r] += steps


@parallel_kernel
def integrate(y, tcur, hcur, p, c0, t0, ev_time, ev_kind, ev_payload, n_ev, ev_ptr, out_times, k0, k1,
              rtol, atol, hmax, max_steps, jac_every, method, out_y, out_aux, status, fail_var, fail_time, n_steps):
    """Advance every row with status OK from its current time through
    ``out_times[k0:k1]`` (minutes), writing states and derived outputs.

    Per-row arrays (first axis = row): ``y`` (state), ``tcur``/``hcur``
    (time and step size, min), ``p`` (resolved parameter rows), ``c0``/``t0`` (drug
    reference concentration and time), event tables (``ev_time`` sorted,
    ``ev_kind``, ``ev_payload``, ``n_ev``, ``ev_ptr`` = next event), and
    ``status``/``fail_var``/``fail_time``/``n_steps``. All are updated
    in place so a run can continue in chunks (for progress reporting).
    ``rtol`` (dimensionless) and ``atol`` (per variable, in its unit) set
    the error control, ``hmax`` the largest step (min), ``max_steps`` the
    step budget per row and call, ``jac_every`` the accepted steps between
    Jacobian refreshes, and ``method`` the scheme (:data:`ROS34PW2` or
    :data:`ROS2`, see :data:`METHODS`).
    """
    nc = N_CORE
    pat = np.zeros((nc, nc), dtype=np.bool_)
    for r in range(y.shape[0]):
        if status[r] == OK:  # the pattern is structural: any row will do
            sparsity(tcur[r], y[r], p[r], c0[r], t0[r], pat)
            break
    colptr = np.empty(nc + 1, dtype=np.int64)
    rowidx = np.empty(nc * nc, dtype=np.int64)
    cmask = np.empty((nc, (nc + 63) // 64), dtype=np.int64)
    corder = np.empty(nc, dtype=np.int64)
    colouring_input(pat, colptr, rowidx, cmask, corder)
    for r in prange(y.shape[0]):
        if status[r] != OK:
            continue
        _row(r, y, tcur, hcur, p, c0, t0, ev_time, ev_kind, ev_payload, n_ev, ev_ptr, out_times, k0, k1,
             rtol, atol, hmax, max_steps, jac_every, method, out_y, out_aux, status, fail_var, fail_time, n_steps,
             pat, colptr, rowidx, cmask, corder)
