"""Batched stiff integrator: a Rosenbrock-W method compiled with numba.

Method: ROS2 (Verwer, Spee, Blom & Hundsdorfer 1999, SIAM J Sci Comput 20:1456),
two stages, L-stable, gamma = 1 + 1/sqrt(2)::

    W k1 = F(t, y)
    W k2 = F(t + h, y + h k1) - 2 k1          with W = I - gamma h J
    y+   = y + 3/2 h k1 + 1/2 h k2

The integrator is written against :mod:`.model` directly (not a generic
factory) so that numba can cache the compiled code on disk.

It is a W-method: second order for *any* matrix J, so the Jacobian is a
finite-difference approximation refreshed only after events, rejected steps
(when it is not already fresh) or every ``jac_every`` accepted steps, and the
time derivative of F is left out of W. The same property lets a factorised W
serve later steps whose size stays within a band around the one it was built
for (see ``LU_REUSE_LO``/``LU_REUSE_HI``). W is factorised in a
fewest-couplings-first order with threshold pivoting and solved with its
nonzeros only (the Jacobian is about 30% full). Cumulative
counters ("quad" variables, which feed nothing back) take W = I. The error
estimate compares with the embedded first-order solution ``y + h k1``.
Outputs between steps come from cubic Hermite interpolation, so output times
do not constrain the step size. Each row (one arm x patient) integrates
independently in a ``prange`` loop, keeps its own step size and event list,
and reports a status instead of raising: one failed patient never stops the
others.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._jit import kernel, parallel_kernel
from . import model as M
from .state import N_CORE, N_STATE

N_AUX = M.N_AUX

GAMMA = 1.0 + 1.0 / np.sqrt(2.0)

OK = 0
FAIL_MAX_STEPS = 1
FAIL_STEP_SIZE = 2
FAIL_NONFINITE = 3
STATUS_MESSAGES = {
    OK: "ok",
    FAIL_MAX_STEPS: "too many steps (the system may be too stiff or oscillating)",
    FAIL_STEP_SIZE: "step size underflow: the error could not be controlled",
    FAIL_NONFINITE: "a variable became NaN, infinite or negative",
}


# W is refactorised only when the Jacobian is refreshed or the step size has
# moved outside [LU_REUSE_LO, LU_REUSE_HI] times the step it was factorised
# for. Reusing W = I - gamma h_W J for a step h is the same W-method with the
# matrix (h_W / h) J, so the order is unchanged; the band keeps the stability
# function at infinity within |R| <= 0.5 (L-stable at h = h_W).
LU_REUSE_LO = 0.6
LU_REUSE_HI = 1.6
# threshold partial pivoting: keep the diagonal pivot (no fill from row swaps)
# unless it is smaller than PIVOT_THRESHOLD times the largest in its column
PIVOT_THRESHOLD = 0.1


@kernel
def lu_factor(a, piv):
    """In-place LU factorisation with threshold partial pivoting (Doolittle).

    Zero multipliers and zero entries of the pivot row are skipped, so the
    cost follows the sparsity of ``a`` (the model's Jacobian is ~30% full).
    Returns False if the matrix is singular to working precision.
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
def _jacobian(t, y, f0, p, c0, t0, jac, ytmp, ftmp, aux, atol):
    for i in range(N_STATE):
        ytmp[i] = y[i]
    for j in range(N_CORE):
        if y[j] == 0.0 and f0[j] == 0.0:
            # a dormant variable (e.g. CAR T cells before any infusion): its
            # stage components are zero unless other variables feed it, so its
            # column is left out (any matrix keeps the W-method's order)
            for i in range(N_CORE):
                jac[i, j] = 0.0
            continue
        d = 1.5e-8 * max(abs(y[j]), 1e3 * atol[j])
        ytmp[j] = y[j] + d
        _f(t, ytmp, p, c0, t0, ftmp, aux)
        ytmp[j] = y[j]
        inv = 1.0 / d
        for i in range(N_CORE):
            jac[i, j] = (ftmp[i] - f0[i]) * inv


@kernel
def _ordering(jac, perm, deg):
    """Elimination order for W: variables with the fewest couplings first
    (a static min-degree heuristic on the Jacobian's nonzeros), which keeps
    the fill of the factors, and so their cost, low."""
    n = jac.shape[0]
    for i in range(n):
        deg[i] = 0
    for i in range(n):
        for j in range(n):
            if i != j and jac[i, j] != 0.0:
                deg[i] += 1
                deg[j] += 1
    order = np.argsort(deg, kind="mergesort")
    for i in range(n):
        perm[i] = order[i]


@kernel
def _row(r, y, tcur, hcur, p, c0, t0, ev_time, ev_kind, ev_payload, n_ev, ev_ptr, out_times, k0, k1,
         rtol, atol, hmax, max_steps, jac_every, out_y, out_aux, status, fail_var, fail_time, n_steps):
    n = N_STATE
    nc = N_CORE
    yr = y[r]
    pr = p[r]
    c0r = c0[r]
    t0r = t0[r]
    f0 = np.empty(n)
    f1 = np.empty(n)
    k1v = np.empty(n)
    k2v = np.empty(n)
    ynew = np.empty(n)
    ytmp = np.empty(n)
    ftmp = np.empty(n)
    xw = np.empty(nc)
    aux = np.empty(N_AUX)
    jac = np.empty((nc, nc))
    jp = np.empty((nc, nc))  # Jacobian in elimination order
    w = np.empty((nc, nc))
    piv = np.empty(nc, dtype=np.int64)
    perm = np.empty(nc, dtype=np.int64)
    deg = np.empty(nc, dtype=np.int64)
    lptr = np.empty(nc + 1, dtype=np.int64)
    uptr = np.empty(nc + 1, dtype=np.int64)
    lidx = np.empty(nc * nc, dtype=np.int64)
    uidx = np.empty(nc * nc, dtype=np.int64)
    lval = np.empty(nc * nc)
    uval = np.empty(nc * nc)
    dinv = np.empty(nc)
    t = tcur[r]
    h = hcur[r]
    k = k0
    ptr = ev_ptr[r]
    steps = 0
    limiting = 0  # variable with the largest scaled error in the latest step
    fresh = True
    since_jac = 0
    need_order = True  # recompute the elimination order at the next Jacobian
    jac_current = False  # Jacobian evaluated at the current (t, y)
    h_lu = 0.0  # step size W is factorised for (0: none)
    span = max(out_times[k1 - 1] - out_times[0], 1.0)
    hmin = 1e-12 * span
    while k < k1:
        # events due now (post-event state is what is recorded at that time)
        while ptr < n_ev[r] and ev_time[r, ptr] <= t + 1e-9:
            M.rebase_drugs(t, c0r, t0r, pr)
            M.apply_event(ev_kind[r, ptr], ev_payload[r, ptr], yr, c0r)
            ptr += 1
            fresh = True
            h = min(h, 5.0)
        while k < k1 and out_times[k] <= t + 1e-9:
            for i in range(n):
                out_y[r, k, i] = yr[i]
            _f(t, yr, pr, c0r, t0r, ftmp, aux)
            for i in range(N_AUX):
                out_aux[r, k, i] = aux[i]
            k += 1
        if k >= k1:
            break
        t_end = out_times[k1 - 1]
        if ptr < n_ev[r] and ev_time[r, ptr] < t_end:
            t_end = ev_time[r, ptr]
        if fresh:
            _f(t, yr, pr, c0r, t0r, f0, aux)
            since_jac = jac_every
            jac_current = False
            fresh = False
            need_order = True
        if since_jac >= jac_every and not jac_current:
            _jacobian(t, yr, f0, pr, c0r, t0r, jac, ytmp, ftmp, aux, atol)
            if need_order:  # the coupling pattern changes little between events
                _ordering(jac, perm, deg)
                need_order = False
            for i in range(nc):
                for j in range(nc):
                    jp[i, j] = jac[perm[i], perm[j]]
            since_jac = 0
            jac_current = True
            h_lu = 0.0
        h = min(h, hmax, t_end - t)
        if t_end - t - h < 1e-9 * span:
            h = t_end - t
        # ---- one ROS2 step
        ok = True
        if h_lu == 0.0 or h < LU_REUSE_LO * h_lu or h > LU_REUSE_HI * h_lu:
            gh = GAMMA * h
            for i in range(nc):
                for j in range(nc):
                    w[i, j] = -gh * jp[i, j]
                w[i, i] += 1.0
            ok = lu_factor(w, piv)
            if ok:
                _compress(w, lptr, lidx, lval, uptr, uidx, uval, dinv)
                h_lu = h
            else:
                h_lu = 0.0
        accept = False
        err = 1e10
        if ok:
            for i in range(n):
                k1v[i] = f0[i]
            _sparse_solve(perm, piv, lptr, lidx, lval, uptr, uidx, uval, dinv, k1v, xw)
            for i in range(n):
                ytmp[i] = yr[i] + h * k1v[i]
            _f(t + h, ytmp, pr, c0r, t0r, ftmp, aux)
            for i in range(n):
                k2v[i] = ftmp[i] - 2.0 * k1v[i]
            _sparse_solve(perm, piv, lptr, lidx, lval, uptr, uidx, uval, dinv, k2v, xw)
            err = 0.0
            bad = -1
            e_max = -1.0
            for i in range(n):
                ynew[i] = yr[i] + 1.5 * h * k1v[i] + 0.5 * h * k2v[i]
                sc = atol[i] + rtol * max(abs(yr[i]), abs(ynew[i]))
                if not np.isfinite(ynew[i]):
                    bad = i
                    break
                if ynew[i] < -sc:
                    bad = i
                e = 0.5 * h * (k1v[i] + k2v[i]) / sc
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
            for i in range(n):
                if ynew[i] < 0.0:  # NaN passes through to the finiteness check
                    ynew[i] = 0.0
            _f(t + h, ynew, pr, c0r, t0r, f1, aux)
            # Hermite interpolation for outputs strictly inside (t, t+h)
            while k < k1 and out_times[k] < t + h - 1e-9:
                th = (out_times[k] - t) / h
                h00 = (1.0 + 2.0 * th) * (1.0 - th) ** 2
                h10 = th * (1.0 - th) ** 2
                h01 = th * th * (3.0 - 2.0 * th)
                h11 = th * th * (th - 1.0)
                for i in range(n):
                    ytmp[i] = h00 * yr[i] + h10 * h * f0[i] + h01 * ynew[i] + h11 * h * f1[i]
                    out_y[r, k, i] = ytmp[i]
                _f(out_times[k], ytmp, pr, c0r, t0r, ftmp, aux)
                for i in range(N_AUX):
                    out_aux[r, k, i] = aux[i]
                k += 1
            t = t + h
            for i in range(n):
                yr[i] = ynew[i]
                f0[i] = f1[i]
            since_jac += 1
            jac_current = False
            fac = 5.0 if err < 1e-10 else min(5.0, max(0.2, 0.9 / np.sqrt(err)))
            h = h * fac
            fail_var[r] = -1
        else:
            since_jac = jac_every  # refresh a stale Jacobian after a rejection
            h = h * (0.25 if err >= 1e9 else max(0.2, 0.9 / np.sqrt(err)))
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
              rtol, atol, hmax, max_steps, jac_every, out_y, out_aux, status, fail_var, fail_time, n_steps):
    """Advance every row with status OK from its current time through
    ``out_times[k0:k1]`` (minutes), writing states and derived outputs.

    Per-row arrays (first axis = row): ``y`` (state), ``tcur``/``hcur``
    (time and step size, min), ``p`` (parameters), ``c0``/``t0`` (drug
    reference concentration and time), event tables (``ev_time`` sorted,
    ``ev_kind``, ``ev_payload``, ``n_ev``, ``ev_ptr`` = next event), and
    ``status``/``fail_var``/``fail_time``/``n_steps``. All are updated
    in place so a run can continue in chunks (for progress reporting).
    """
    for r in prange(y.shape[0]):
        if status[r] != OK:
            continue
        _row(r, y, tcur, hcur, p, c0, t0, ev_time, ev_kind, ev_payload, n_ev, ev_ptr, out_times, k0, k1,
             rtol, atol, hmax, max_steps, jac_every, out_y, out_aux, status, fail_var, fail_time, n_steps)

