"""Reaction-diffusion fields on a voxel lattice: the spatial engine's diffusion solver.

Each field ``c`` (its own unit) obeys, in every voxel,

    dc/dt = D lap(c) - lambda c + S (T - c) - U c + E + v k_v (c_p - c)

with ``D`` the diffusion coefficient (um^2/min), ``lambda`` the free decay
rate (1/min), ``S`` the cells' secretion rate (1/min) towards the saturation
target ``T`` (field unit), ``U`` the cells' uptake rate (1/min, first order),
``E`` the cells' net release (field unit/min, zeroth order), and vessels
(``v`` = 1 in a vessel voxel) supplying the field at rate ``k_v`` (1/min)
from the plasma value ``c_p``. ``S``, ``T``, ``E`` and ``U`` are per voxel
and per field and come from the caller every step; ``D``, ``lambda``, the
boundary condition and the vessel supply come from each field's
:class:`FieldSpec`.

The scheme (see docs/spatial-fields.md for the derivation and the measured
errors) is BioFVM's implicit locally-one-dimensional (LOD) splitting:
backward-Euler solves along x, then y, then z, each a tridiagonal system
solved by the Thomas algorithm, compiled with numba and run in parallel over
lines. Four ways of coupling the sources and sinks are offered
(``splitting``):

``"mixed"`` (default)
    The cells' sources are added over ``dt`` first (``c <- c + dt G``, less
    the vessels' share), then the three sweeps, each solving its axis's
    diffusion with the decay and the sinks ``K`` split evenly over the d axes
    (as in ``"sweep"``), and with the vessels' supply ``v k_v c_p`` split
    beside their sink (a relaxation whose fixed point must stay ``c_p``).
    Isotropic for point sources (the source is in place before any sweep
    spreads it) and accurate for stiff sinks (they act on the values the
    sweeps produce). The best of the four in both tests of
    docs/spatial-fields.md ("Why the default splitting is mixed").
``"lie"``
    BioFVM's order: first the sources/sinks step over ``dt``, per voxel
    ``c <- (c + dt G) / (1 + dt K)``, then the three diffusion-decay sweeps
    (decay split as ``lambda/d`` per sweep, as in BioFVM). Isotropic, but a
    stiff sink is underestimated at long steps: at steady state the uptake
    acts at the effective rate ``K / (1 + dt K)``.
``"sweep"``
    Every linear term is split evenly over the d active axes and solved
    implicitly inside each sweep: the sweep along axis a solves
    ``(1 + dt/d (lambda + K) - dt D d2/da2) c_new = c + dt/d G`` with
    ``K = S + U + v k_v`` and ``G = S T + E + v k_v c_p`` per voxel. The
    tridiagonal diagonal then varies per voxel (one division per voxel and
    sweep) on the lines that hold sources; lines without keep precomputed
    Thomas factors. The lowest L2 error of the first three on the solver
    benchmarks (docs/spatial-fields.md), but a point source's share added in
    the sweep along one axis spreads along that axis only within the step.
``"strang"``
    Half a source/sink step (``dt/2``), the sweeps over ``dt``, another
    half source/sink step.

A plasma value that changes over an :meth:`FieldSolver.advance` (a drug clearing) is given with
``set_plasma(values, until=...)``: each sub-step exchanges with it interpolated to the sub-step's end,
where backward Euler evaluates its terms. Held at its start value instead, a falling plasma put the
tissue (duration + sub-step) / 2 further behind it. A lag of the splitting remains: each sweep lets a
vessel exchange with its own line only, and lines holding unequal numbers of vessels relax together more
slowly than the unsplit step, by 0.07 field steps on a 64 x 64 lattice with 2% vessels and 1.5 on 10^3
(docs/spatial-fields.md, "Vessels fed by a changing plasma").

The source/sink step (Lie, Strang) is backward Euler of the voxel's linear ODE
``dc/dt = G - K c``, so ``c`` stays non-negative and bounded whatever the
rates and the step. BioFVM (``Basic_Agent::simulate_secretion_and_uptake``)
does, cell by cell, ``c <- (c + dt V_c/V_v S T) / (1 + dt V_c/V_v (S + U))``
and then adds the export ``dt E_amount / V_v`` *after* the division; here the
release ``E`` is inside the implicit update (exact backward Euler of the
whole voxel ODE: its fixed point ``(S T + E)/(S + U)`` is the true local
steady state) and the cells of a voxel are summed into one rate first. The
two differ by O(dt^2).

Every operator is an M-matrix inverse, so for non-negative inputs the scheme
is unconditionally stable and positivity-preserving at any step: Thomas
back-substitution only adds non-negative terms, so not even round-off makes
a value negative. With zero-flux faces, no decay and no sources it conserves
mass exactly; to keep that true in floating point at large ``dt D/dx^2``
each solved line is rescaled by the factor (1 + O(1e-17 dt D/dx^2)) that
restores its discrete mass balance, which the exact solution satisfies
(without it a stiff line drifts by ~1e-17 dt D/dx^2 per solve, always the
same way).

A negative or non-finite value therefore means bad input. Source arrays are
checked as they are combined (:class:`tmesim.errors.InputError`, naming the
array, field and voxel); the fields are checked in every step, fused into
passes that read the data anyway: the first pass of the step flags any
negative or non-finite value it reads (something wrote it between steps; it
is reported at its own voxel, before an implicit sweep spreads a NaN along
every line), and the last pass records each field's minimum, maximum and
non-finite count (an overflow within the step). Both raise
:class:`tmesim.errors.SimulationError` naming the field, the time and the
voxel position in um.

Boundaries: zero-flux, or a Dirichlet value on chosen domain faces, imposed
at the face (half a voxel outside the outer voxel centres) through a ghost
voxel ``2 c_b - c``, which keeps the scheme second order in space. BioFVM
instead clamps the outer layer of voxels to the value; the two differ by a
half-voxel shift of the boundary.

Sub-steps: :meth:`FieldSolver.advance` takes equal sub-steps of at most ``dt_max`` (or a field's own
``FieldSpec.dt_max``), or, with ``rtol``, chooses each field's sub-steps from a step-doubling estimate and
returns the Richardson-extrapolated value (:meth:`FieldSolver._advance_controlled`; docs/spatial-fields.md,
"Error-controlled sub-stepping", gives what it costs next to point sources).

``scheme="implicit"`` (``spatial.field_scheme``) replaces the split sweeps of each sub-step by the unsplit
backward-Euler step ``((1 + h lambda) I + h K - h D L) c_new = c + h G`` with the same K, G, boundaries
and vessels, solved by restarted GMRES right-preconditioned with one LOD step at a shorter step
(:meth:`FieldSolver._step_implicit`, :meth:`FieldSolver._krylov`): no splitting error, first order in time,
several LOD steps' work per sub-step (docs/spatial-fields.md, "The unsplit implicit scheme").

Sources can be passed dense (``(n_fields, *shape)`` arrays) or sparse
(``voxels=`` plus one value per cell); the sparse form touches only the
listed voxels and is the cheaper one when cells fill a minority of voxels.

Results are bit-identical for any number of numba threads: every line is
solved by one thread in a fixed order, and nothing is summed across threads.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass

import numpy as np

# numba's default OpenMP layer was up to 145x slower on 2-core machines here
# (shared/research/ecosystem.md); workqueue must be chosen before threads start.
if "NUMBA_THREADING_LAYER" not in os.environ:
    import numba

    numba.config.THREADING_LAYER = "workqueue"

from numba import prange  # noqa: E402

from .._jit import kernel, parallel_kernel  # noqa: E402
from ..errors import InputError, SimulationError  # noqa: E402
from .lattice import Lattice  # noqa: E402

SPLITTINGS = ("mixed", "sweep", "lie", "strang")
#: Field schemes: ``"lod"``, the split sweeps (``splitting``); ``"implicit"``, the unsplit backward-Euler step
#: solved by preconditioned GMRES (:meth:`FieldSolver._step_implicit`).
SCHEMES = ("lod", "implicit")
BOUNDARIES = ("zero_flux", "dirichlet")
FACES = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max")
#: A value below ``-NEGATIVE_RTOL * max(field)`` counts as negative.
NEGATIVE_RTOL = 1e-12

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_GROUP = 16          # x-lines (rows y of one plane z) per parallel task
_BLOCK = 64          # contiguous lines per task in the y and z sweeps


def _finite_number(value, where: str, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(where, f"must be a number, got {value!r}", f"give {unit}") from None
    if not math.isfinite(v):
        raise InputError(where, f"must be finite, got {value!r}", f"give {unit}")
    return v


@dataclass(frozen=True)
class FieldSpec:
    """One diffusing field: what it is and how it moves. Validates itself.

    Parameters
    ----------
    name
        Identifier (letters, digits, ``_``; starts with a letter), e.g.
        ``"oxygen"`` or ``"ifng"``; error messages use ``fields.<name>``.
    unit
        Concentration unit of the field, e.g. ``"mmHg"`` or ``"ng/mL"``.
    diffusion
        Diffusion coefficient D, um^2/min (>= 0).
    decay
        Free decay rate lambda, 1/min (>= 0). Uptake by cells is not decay:
        pass it each step as ``uptake``.
    boundary
        ``"zero_flux"`` (default) or ``"dirichlet"``.
    boundary_value
        Dirichlet value on the domain faces, field unit (>= 0).
    dirichlet_faces
        With ``boundary="dirichlet"``: the faces that hold the value, from
        ``x_min, x_max, y_min, y_max, z_min, z_max``; the others are
        zero-flux. Default: every face of every axis longer than one voxel.
    vessel_supply_rate
        k_v, 1/min (>= 0): vessel voxels add ``k_v (c_p - c)``. A large rate
        (e.g. 1e3) clamps the vessel voxels to ``c_p`` (stable at any
        value: the term is implicit).
    vessel_plasma_value
        c_p, plasma concentration in the field's unit (>= 0).
    initial_value
        Uniform starting value, field unit (>= 0).
    dt_max
        Largest step this field takes in :meth:`FieldSolver.advance`, min
        (> 0), or None for the caller's ``dt_max``. For a stiff field (e.g.
        oxygen, whose uptake by every tumour cell is fast against its
        diffusion) the splitting error at a long step is large
        (docs/spatial-fields.md); a smaller step for it alone keeps the
        other fields' cost.
    """

    name: str
    unit: str
    diffusion: float
    decay: float = 0.0
    boundary: str = "zero_flux"
    boundary_value: float = 0.0
    dirichlet_faces: tuple[str, ...] | None = None
    vessel_supply_rate: float = 0.0
    vessel_plasma_value: float = 0.0
    initial_value: float = 0.0
    dt_max: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InputError("fields", f"field name must be an identifier, got {self.name!r}",
                             "use letters, digits and '_', e.g. 'ifng'")
        at = f"fields.{self.name}"
        if not isinstance(self.unit, str) or not self.unit.strip():
            raise InputError(f"{at}.unit", f"must be a non-empty string, got {self.unit!r}", "e.g. 'ng/mL'")
        for attr, unit in (("diffusion", "um^2/min"), ("decay", "1/min"), ("boundary_value", self.unit),
                           ("vessel_supply_rate", "1/min"), ("vessel_plasma_value", self.unit),
                           ("initial_value", self.unit)):
            v = _finite_number(getattr(self, attr), f"{at}.{attr}", unit)
            if v < 0:
                raise InputError(f"{at}.{attr}", f"must be >= 0, got {getattr(self, attr)!r}", f"give {unit}")
            object.__setattr__(self, attr, v)
        if self.dt_max is not None:
            v = _finite_number(self.dt_max, f"{at}.dt_max", "minutes")
            if v <= 0:
                raise InputError(f"{at}.dt_max", f"must be > 0, got {self.dt_max!r}",
                                 "give the field's largest step in minutes, or None")
            object.__setattr__(self, "dt_max", v)
        if self.boundary not in BOUNDARIES:
            raise InputError(f"{at}.boundary", f"must be one of {BOUNDARIES}, got {self.boundary!r}",
                             "'dirichlet' holds boundary_value on the faces")
        if self.dirichlet_faces is not None:
            if isinstance(self.dirichlet_faces, str):
                faces = (self.dirichlet_faces,)
            else:
                faces = tuple(self.dirichlet_faces)
            unknown = [f for f in faces if f not in FACES]
            if unknown:
                raise InputError(f"{at}.dirichlet_faces", f"unknown face(s) {unknown}", f"use {FACES}")
            if self.boundary != "dirichlet":
                raise InputError(f"{at}.dirichlet_faces", "given with boundary='zero_flux'",
                                 "set boundary='dirichlet' or drop dirichlet_faces")
            object.__setattr__(self, "dirichlet_faces", tuple(dict.fromkeys(faces)))

    def to_dict(self) -> dict:
        """Plain-dict form (for snapshots and provenance)."""
        d = asdict(self)
        if d["dirichlet_faces"] is not None:
            d["dirichlet_faces"] = list(d["dirichlet_faces"])
        return d


# --------------------------------------------------------------------------
# compiled kernels (all in this file: numba's cache tracks one file per kernel)
# --------------------------------------------------------------------------

@parallel_kernel
def _prepare_sources(S, T, E, U, use_s, use_e, use_u, vmask, use_v, kv, cpl, k, g, group, block,
                     xflag, ypart, zpart, bad_task):
    """K = S + U + v k_v and G = S T + E + v k_v c_p per voxel, and where they are nonzero.

    Arrays are (F, NZ, NY, NX); vmask is (NZ, NY, NX). Task t = (f, z, q)
    covers rows y in [q*group, (q+1)*group) of plane z and owns: xflag[t]
    (any source in its rows), ypart[t, xb] (any source in x-block xb of
    ``block`` columns), zpart[t, zb] (any source in block zb of the
    flattened (y, x) plane) and bad_task[t] (voxels with a negative or
    non-finite input).
    """
    F, NZ, NY, NX = k.shape
    nq = (NY + group - 1) // group
    for t in prange(F * NZ * nq):
        f = t // (NZ * nq)
        rem = t - f * (NZ * nq)
        z = rem // nq
        y0 = (rem - z * nq) * group
        y1 = min(NY, y0 + group)
        kvf = kv[f]
        gvf = kv[f] * cpl[f]
        bad = 0
        anyx = 0
        for y in range(y0, y1):
            for x in range(NX):
                kk = 0.0
                gg = 0.0
                ok = True
                if use_s:
                    s = S[f, z, y, x]
                    tt = T[f, z, y, x]
                    kk += s
                    gg += s * tt
                    ok = ok and s >= 0.0 and tt >= 0.0
                if use_e:
                    e = E[f, z, y, x]
                    gg += e
                    ok = ok and e >= 0.0
                if use_u:
                    u = U[f, z, y, x]
                    kk += u
                    ok = ok and u >= 0.0
                if use_v and vmask[z, y, x]:
                    kk += kvf
                    gg += gvf
                ok = ok and kk < np.inf and gg < np.inf
                if not ok:
                    bad += 1
                k[f, z, y, x] = kk
                g[f, z, y, x] = gg
                if kk != 0.0 or gg != 0.0:
                    anyx = 1
                    ypart[t, x // block] = 1
                    zpart[t, (y * NX + x) // block] = 1
        xflag[t] = anyx
        bad_task[t] = bad


@parallel_kernel
def _react(c, k, g, gv, hv, xflag, fon, h, hk, group, check_in, do_stats, stats):
    """``c <- (c + h G - hv Gv) / (1 + hk K)`` in every voxel of (F, NZ, NY, NX); optional checks.

    With ``hk = h`` and ``hv = 0`` this is backward Euler of dc/dt = G - K c over h; with
    ``hk = 0`` it adds the sources only (the sinks are left to the sweeps). ``"mixed"`` passes
    ``hv = h`` and the vessels' share ``Gv = k_v c_p`` of G (same shape as c): the vessel supply is
    then left to the sweeps with the vessel sink (see :meth:`FieldSolver._step`).

    Tasks are the row groups of :func:`_prepare_sources`; a group without
    sources (xflag 0) is left as it is. stats as in :func:`_sweep_x`
    (check_in: values before the update, do_stats: after it).
    """
    F, NZ, NY, NX = c.shape
    nq = (NY + group - 1) // group
    for t in prange(F * NZ * nq):
        f = t // (NZ * nq)
        if fon[f] == 0:  # this field is not stepped now
            continue
        rem = t - f * (NZ * nq)
        z = rem // nq
        y0 = (rem - z * nq) * group
        y1 = min(NY, y0 + group)
        if check_in:
            n_in = 0
            for y in range(y0, y1):
                for x in range(NX):
                    v = c[f, z, y, x]
                    n_in += 0 if (v >= 0.0 and v < np.inf) else 1
            if n_in > 0:
                stats[t, 3] = n_in
                for y in range(y1 - 1, y0 - 1, -1):
                    for x in range(NX - 1, -1, -1):
                        v = c[f, z, y, x]
                        if not (v >= 0.0 and v < np.inf):
                            stats[t, 4] = (z * NY + y) * NX + x
                            stats[t, 5] = v
        if xflag[t]:
            for y in range(y0, y1):
                for x in range(NX):
                    add = h * g[f, z, y, x]
                    if hv != 0.0:
                        add = max(add - hv * gv[f, z, y, x], 0.0)
                    c[f, z, y, x] = (c[f, z, y, x] + add) / (1.0 + hk * k[f, z, y, x])
        if do_stats:
            lo = np.inf
            hi = -np.inf
            nbad = 0
            for y in range(y0, y1):
                for x in range(NX):
                    v = c[f, z, y, x]
                    lo = min(lo, v)
                    hi = max(hi, v)
                    nbad += 0 if v - v == 0.0 else 1
            stats[t, 0] = lo
            stats[t, 1] = hi
            stats[t, 2] = nbad


@kernel
def _solve_block(buf, kb, gb, var, kfrac, gfrac, rf, bf, invf, cpf, lo_bc, hi_bc, beta, dwlo, dwhi, scr, sr, sw,
                 rescale):
    """Solve w lines side by side: buf (N, w) holds line l in column l, solved along axis 0 in place.

    Each line solves ``-r x[i-1] + B[i] x[i] - r x[i+1] = R[i]`` with
    ``R = c + gfrac G (+ Dirichlet terms at the ends)`` and ``B = bf +
    kfrac K`` if ``var`` (per voxel, kb/gb hold K/G), else with the
    precomputed Thomas factors invf/cpf of ``B = bf``.

    On return ``sr[l]`` is the factor that makes line l's discrete mass
    balance ``sum_i W[i] x[i] = sum_i R[i]`` (``W = beta + kfrac K``, plus
    ``dwlo``/``dwhi`` at Dirichlet ends) hold to round-off; the caller
    multiplies by it when writing back. The exact solution satisfies the
    balance; without the factor the LU factors' rounding makes a zero-flux
    line drift by ~1e-17 x r per solve, always the same way. The factor is
    1 + O(1e-17 r) and positive, so positivity is kept. With ``rescale`` False (the implicit scheme's
    preconditioner, whose lines hold residuals of either sign and may sum to ~0) the factor is 1: the
    operator stays linear.
    """
    N, w = buf.shape
    add = lo_bc + (hi_bc if N == 1 else 0.0)
    if var:
        b0 = bf[0]
        for l in range(w):
            rhs = buf[0, l] + gfrac * gb[0, l] + add
            sr[l] = rhs
            iv = 1.0 / (b0 + kfrac * kb[0, l])
            scr[0, l] = -rf * iv
            buf[0, l] = rhs * iv
        for i in range(1, N):
            add = hi_bc if i == N - 1 else 0.0
            bi = bf[i]
            for l in range(w):
                rhs = buf[i, l] + gfrac * gb[i, l] + add
                sr[l] += rhs
                iv = 1.0 / (bi + kfrac * kb[i, l] + rf * scr[i - 1, l])
                scr[i, l] = -rf * iv
                buf[i, l] = (rhs + rf * buf[i - 1, l]) * iv
        for l in range(w):
            sw[l] = (beta + kfrac * kb[N - 1, l] + dwhi) * buf[N - 1, l]
        for i in range(N - 2, -1, -1):
            for l in range(w):
                x = buf[i, l] - scr[i, l] * buf[i + 1, l]
                buf[i, l] = x
                sw[l] += (beta + kfrac * kb[i, l]) * x
    else:
        iv = invf[0]
        for l in range(w):
            rhs = buf[0, l] + add
            sr[l] = rhs
            buf[0, l] = rhs * iv
        for i in range(1, N):
            add = hi_bc if i == N - 1 else 0.0
            iv = invf[i]
            for l in range(w):
                rhs = buf[i, l] + add
                sr[l] += rhs
                buf[i, l] = (rhs + rf * buf[i - 1, l]) * iv
        for l in range(w):
            sw[l] = buf[N - 1, l]
        for i in range(N - 2, -1, -1):
            ci = cpf[i]
            for l in range(w):
                x = buf[i, l] - ci * buf[i + 1, l]
                buf[i, l] = x
                sw[l] += x
        for l in range(w):
            sw[l] = beta * sw[l] + dwhi * buf[N - 1, l]
    for l in range(w):
        tot = sw[l] + dwlo * buf[0, l]
        scale = sr[l] / tot
        sr[l] = scale if (rescale and tot > 0.0 and scale - scale == 0.0) else 1.0


@parallel_kernel
def _sweep_x(c, k, g, xflag, fon, kfrac, gfrac, r, b, inv, cp, bclo, bchi, beta, dwlo, dwhi, group, check_in, do_stats,
             stats, rescale):
    """Implicit solve along x (the contiguous last axis of c (F, NZ, NY, NX)).

    Each task takes a group of ``group`` x-lines (rows y of one plane z),
    transposes them into a buffer so the Thomas recurrences of the group run
    side by side (vectorised, :func:`_solve_block`), and writes them back.
    K and G (k, g) are read only for groups that hold sources (xflag).

    stats (tasks, 6): with do_stats, columns 0-2 get the task's minimum,
    maximum and count of non-finite values after the solve; with check_in,
    columns 3-5 get the count of negative or non-finite values before it,
    the flat voxel index of the first and its value.
    """
    F, NZ, NY, NX = c.shape
    nq = (NY + group - 1) // group
    for t in prange(F * NZ * nq):
        f = t // (NZ * nq)
        if fon[f] == 0:  # this field is not stepped now
            continue
        rem = t - f * (NZ * nq)
        z = rem // nq
        y0 = (rem - z * nq) * group
        w = min(NY, y0 + group) - y0
        buf = np.empty((NX, w))
        n_in = 0
        for l in range(w):
            for i in range(NX):
                v = c[f, z, y0 + l, i]
                buf[i, l] = v
                n_in += 0 if (v >= 0.0 and v < np.inf) else 1
        if check_in and n_in > 0:
            stats[t, 3] = n_in
            for l in range(w - 1, -1, -1):
                for i in range(NX - 1, -1, -1):
                    v = buf[i, l]
                    if not (v >= 0.0 and v < np.inf):
                        stats[t, 4] = (z * NY + y0 + l) * NX + i
                        stats[t, 5] = v
        var = xflag[t] != 0
        if var:
            kb = np.empty((NX, w))
            gb = np.empty((NX, w))
            for l in range(w):
                for i in range(NX):
                    kb[i, l] = k[f, z, y0 + l, i]
                    gb[i, l] = g[f, z, y0 + l, i]
        else:
            kb = buf
            gb = buf
        scr = np.empty((NX, w))
        sr = np.empty(w)
        sw = np.empty(w)
        _solve_block(buf, kb, gb, var, kfrac, gfrac, r[f], b[f], inv[f], cp[f], bclo[f], bchi[f], beta[f], dwlo[f],
                     dwhi[f], scr, sr, sw, rescale)
        lo = np.inf
        hi = -np.inf
        nbad = 0
        for l in range(w):
            scale = sr[l]
            for i in range(NX):
                v = buf[i, l] * scale
                c[f, z, y0 + l, i] = v
                if do_stats:
                    lo = min(lo, v)
                    hi = max(hi, v)
                    nbad += 0 if v - v == 0.0 else 1
        if do_stats:
            stats[t, 0] = lo
            stats[t, 1] = hi
            stats[t, 2] = nbad


@parallel_kernel
def _sweep_strided(c, k, g, flag, fon, kfrac, gfrac, r, b, inv, cp, bclo, bchi, beta, dwlo, dwhi, block, check_in, do_stats,
                   stats, rescale):
    """Implicit solve along axis 2 of c (F, O, N, I), over blocks of ``block`` lines of the contiguous axis 3.

    The y sweep passes (F, NZ, NY, NX), the z sweep (F, 1, NZ, NY*NX). Each
    task copies its (N, block) slab into a buffer, solves it with
    :func:`_solve_block` and copies it back; flag (F, O, blocks) says which
    slabs hold sources. stats as in :func:`_sweep_x`.
    """
    F, O, N, I = c.shape
    nb = (I + block - 1) // block
    for t in prange(F * O * nb):
        f = t // (O * nb)
        if fon[f] == 0:
            continue
        rem = t - f * (O * nb)
        o = rem // nb
        blk = rem - o * nb
        i0 = blk * block
        w = min(I, i0 + block) - i0
        buf = np.empty((N, w))
        n_in = 0
        for j in range(N):
            for i in range(w):
                v = c[f, o, j, i0 + i]
                buf[j, i] = v
                n_in += 0 if (v >= 0.0 and v < np.inf) else 1
        if check_in and n_in > 0:
            stats[t, 3] = n_in
            for j in range(N - 1, -1, -1):
                for i in range(w - 1, -1, -1):
                    v = buf[j, i]
                    if not (v >= 0.0 and v < np.inf):
                        stats[t, 4] = (o * N + j) * I + i0 + i
                        stats[t, 5] = v
        var = flag[f, o, blk] != 0
        if var:
            kb = np.empty((N, w))
            gb = np.empty((N, w))
            for j in range(N):
                for i in range(w):
                    kb[j, i] = k[f, o, j, i0 + i]
                    gb[j, i] = g[f, o, j, i0 + i]
        else:
            kb = buf
            gb = buf
        scr = np.empty((N, w))
        sr = np.empty(w)
        sw = np.empty(w)
        _solve_block(buf, kb, gb, var, kfrac, gfrac, r[f], b[f], inv[f], cp[f], bclo[f], bchi[f], beta[f], dwlo[f],
                     dwhi[f], scr, sr, sw, rescale)
        lo = np.inf
        hi = -np.inf
        nbad = 0
        for j in range(N):
            for i in range(w):
                v = buf[j, i] * sr[i]
                c[f, o, j, i0 + i] = v
                if do_stats:
                    lo = min(lo, v)
                    hi = max(hi, v)
                    nbad += 0 if v - v == 0.0 else 1
        if do_stats:
            stats[t, 0] = lo
            stats[t, 1] = hi
            stats[t, 2] = nbad


@kernel
def _reset_touched(vox, k, g, vmask, use_v, kv, cpl):
    """Put K and G (views (F, V)) of the listed voxels back to their vessel-only values."""
    F = k.shape[0]
    for n in range(vox.size):
        v = vox[n]
        on = use_v and vmask[v]
        for f in range(F):
            if on:
                k[f, v] = kv[f]
                g[f, v] = kv[f] * cpl[f]
            else:
                k[f, v] = 0.0
                g[f, v] = 0.0


@kernel
def _scatter_sources(vox, S, T, E, U, use_s, use_e, use_u, k, g, NZ, NY, NX, group, block, xflag, yflag, zflag):
    """Add per-entry sources (F, n) at flat voxels vox (n,) to K and G (F, V), in entry order.

    Marks the row groups and blocks that now hold sources; returns the first
    entry with a negative or non-finite value (-1 if none).
    """
    F = k.shape[0]
    nq = (NY + group - 1) // group
    first_bad = -1
    for n in range(vox.size):
        v = vox[n]
        z = v // (NY * NX)
        rem = v - z * (NY * NX)
        y = rem // NX
        x = rem - y * NX
        for f in range(F):
            kk = 0.0
            gg = 0.0
            ok = True
            if use_s:
                sv = S[f, n]
                tv = T[f, n]
                kk += sv
                gg += sv * tv
                ok = ok and sv >= 0.0 and tv >= 0.0
            if use_e:
                ev = E[f, n]
                gg += ev
                ok = ok and ev >= 0.0
            if use_u:
                uv = U[f, n]
                kk += uv
                ok = ok and uv >= 0.0
            ok = ok and kk < np.inf and gg < np.inf
            if not ok and first_bad < 0:
                first_bad = n
            if kk != 0.0 or gg != 0.0:
                k[f, v] += kk
                g[f, v] += gg
                xflag[(f * NZ + z) * nq + y // group] = 1
                yflag[f, z, x // block] = 1
                zflag[f, 0, rem // block] = 1
    return first_bad


@parallel_kernel
def _unsplit_apply(x, out, k, use_k, a0, hk, r, dd, bval, rhs):
    """The unsplit backward-Euler operator of one field on (NZ, NY, NX) arrays (the implicit scheme).

    With ``rhs`` False: ``out = A x``, ``A = (a0 + hk K) I - r L`` with ``a0 = 1 + h lambda``, ``hk = h``,
    ``r = h D / dx^2`` and L the 7-point (5-point in 2D) cell-centred Laplacian: zero flux at every face,
    plus ``dd[axis, side]`` (``2 r`` at a Dirichlet face, else 0; axes z, y, x) on the outer voxel's
    diagonal. With ``rhs`` True: ``out = x + bval`` summed over the Dirichlet faces the voxel touches
    (``bval[axis, side] = 2 r c_b``); the caller adds ``h G``. Rows of one plane are independent tasks and
    nothing is summed across them, so the result does not depend on the thread count.
    """
    NZ, NY, NX = x.shape
    for t in prange(NZ * NY):
        z = t // NY
        y = t - z * NY
        for i in range(NX):
            v = x[z, y, i]
            if rhs:
                acc = v
                if i == 0:
                    acc += bval[2, 0]
                if i == NX - 1:
                    acc += bval[2, 1]
                if y == 0:
                    acc += bval[1, 0]
                if y == NY - 1:
                    acc += bval[1, 1]
                if z == 0:
                    acc += bval[0, 0]
                if z == NZ - 1:
                    acc += bval[0, 1]
                out[z, y, i] = acc
                continue
            diag = a0
            if use_k:
                diag += hk * k[z, y, i]
            nb = 0.0
            acc = 0.0
            if i > 0:
                acc += x[z, y, i - 1]
                nb += 1.0
            else:
                diag += dd[2, 0]
            if i < NX - 1:
                acc += x[z, y, i + 1]
                nb += 1.0
            else:
                diag += dd[2, 1]
            if y > 0:
                acc += x[z, y - 1, i]
                nb += 1.0
            else:
                diag += dd[1, 0]
            if y < NY - 1:
                acc += x[z, y + 1, i]
                nb += 1.0
            else:
                diag += dd[1, 1]
            if z > 0:
                acc += x[z - 1, y, i]
                nb += 1.0
            else:
                diag += dd[0, 0]
            if z < NZ - 1:
                acc += x[z + 1, y, i]
                nb += 1.0
            else:
                diag += dd[0, 1]
            out[z, y, i] = (diag + r * nb) * v - r * acc


@parallel_kernel
def _row_dots(a, b, part):
    """``part[row] = sum_x a[row, x] b[row, x]`` over the rows of (R, NX) arrays, each row summed serially.

    The caller adds ``part`` in its fixed order, so the dot product is the same for any thread count."""
    R, NX = a.shape
    for t in prange(R):
        acc = 0.0
        for i in range(NX):
            acc += a[t, i] * b[t, i]
        part[t] = acc


@parallel_kernel
def _axpy(alpha, x, y):
    """``y += alpha x`` on (R, NX) arrays, row by row (element-wise: thread-count independent)."""
    R, NX = x.shape
    for t in prange(R):
        for i in range(NX):
            y[t, i] += alpha * x[t, i]


# --------------------------------------------------------------------------
# solver
# --------------------------------------------------------------------------

def _check_memory(lattice: Lattice, n_fields: int) -> None:
    """Refuse a lattice whose arrays (values, K, G: 3 x fields x voxels doubles) exceed physical memory."""
    need = 3 * 8 * n_fields * lattice.n_voxels
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise InputError("lattice.shape", f"{lattice.shape} x {n_fields} fields needs {need / 2**30:.1f} GiB "
                         f"for the solver's arrays, more than this machine's {have / 2**30:.1f} GiB",
                         "use fewer or larger voxels, or fewer fields")


@dataclass(frozen=True)
class _Axis:
    """One active internal axis (1 = z, 2 = y, 3 = x of the (F, NZ, NY, NX) array)."""

    dim: int
    n: int
    name: str


class FieldSolver:
    """Several reaction-diffusion fields on one lattice, advanced together.

    Parameters
    ----------
    lattice
        The voxel lattice (:class:`tmesim.spatial.lattice.Lattice`).
    fields
        One :class:`FieldSpec` per field (unique names); their order is the
        first axis of :attr:`values` and of every source array.
    splitting
        ``"mixed"`` (default), ``"lie"``, ``"sweep"`` or ``"strang"``: how sources and
        sinks are coupled to the diffusion sweeps (module docstring).
    scheme
        ``"lod"`` (default): the split sweeps above. ``"implicit"``: each sub-step solves the unsplit
        backward-Euler system by GMRES preconditioned with one LOD step (``splitting`` is then unused).
    vessels
        Vessel voxels: a boolean mask of ``lattice.shape``, or an ``(n,
        ndim)`` integer array of voxel indices (array order); ``None`` for
        none. Each field's ``vessel_supply_rate``/``vessel_plasma_value``
        set what they supply.
    values
        Initial concentrations, ``(n_fields, *lattice.shape)``, each field
        in its own unit; default: each spec's ``initial_value``.
    time
        Initial time, min.

    Notes
    -----
    Each step, the caller passes per-voxel, per-field arrays of shape
    ``(n_fields, *lattice.shape)`` (or ``None`` for zeros): ``secretion`` S
    (1/min), ``target`` T (field unit), ``export`` E (field unit/min) and
    ``uptake`` U (1/min), each the sum over the cells in the voxel of the
    cell's rate times (cell volume / voxel volume), e.g. with
    ``numpy.add.at``. Where the cells of one voxel secrete towards different
    targets, pass ``S = sum(s_i)`` and ``T = sum(s_i T_i) / S``. All must be
    >= 0 and finite (checked in the same pass that combines them).
    """

    #: Error control: the most sub-steps one level of one field may take in one ``advance``.
    MAX_SUBSTEPS = 4096

    #: Implicit scheme: GMRES stops when the residual is ``krylov_rtol`` times the larger of ``||c||`` (the
    #: values at the sub-step's start) and the starting residual ``||c + h G - A c||`` (the sub-step's own
    #: change); ``A`` has eigenvalues >= 1, so the solve's error is below that. Not relative to
    #: ``||c + h G||``: where cells' secretion is stiff (``h G >> c``) that let a field stand still (measured:
    #: cystine 0.83% off after one cell step, 0 iterations). ``KRYLOV_FLOOR ||c + h G||``: round-off.
    KRYLOV_RTOL = 3e-4
    KRYLOV_FLOOR = 1e-12
    #: Implicit scheme: GMRES restart length and the most iterations of one solve.
    KRYLOV_RESTART = 20
    KRYLOV_MAXITER = 600
    #: Implicit scheme: the preconditioner is one LOD step whose ``r_p = h_p D / dx^2`` is
    #: ``min(r, PRECOND_A r^PRECOND_P)`` (docs/spatial-fields.md, "The unsplit implicit scheme").
    PRECOND_A = 0.35
    PRECOND_P = 0.4

    def __init__(self, lattice: Lattice, fields, *, splitting: str = "mixed", vessels=None, values=None,
                 time: float = 0.0, scheme: str = "lod"):
        if not isinstance(lattice, Lattice):
            raise InputError("lattice", f"must be a Lattice, got {type(lattice).__name__}",
                             "build one with tmesim.spatial.Lattice(shape, dx)")
        specs = tuple(fields)
        if not specs or not all(isinstance(s, FieldSpec) for s in specs):
            raise InputError("fields", "must be a non-empty sequence of FieldSpec", "one FieldSpec per field")
        names = [s.name for s in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError("fields", f"duplicate field name(s) {dup}", "give every field its own name")
        if splitting not in SPLITTINGS:
            raise InputError("splitting", f"must be one of {SPLITTINGS}, got {splitting!r}",
                             "'sweep' is the most accurate")
        if scheme not in SCHEMES:
            raise InputError("spatial.field_scheme", f"must be one of {SCHEMES}, got {scheme!r}",
                             "'lod' (split sweeps) or 'implicit' (unsplit, Krylov)")
        self.lattice = lattice
        self.specs = specs
        self.names = tuple(names)
        self.splitting = splitting
        self.scheme = scheme
        #: Implicit scheme: relative residual at which GMRES stops (see :attr:`KRYLOV_RTOL`).
        self.krylov_rtol = self.KRYLOV_RTOL
        #: Implicit scheme: GMRES iterations each field has taken (cumulative; one per preconditioner use).
        self.krylov_iterations = np.zeros(len(specs), np.int64)
        #: Implicit scheme: voxel values clipped at 0 after a solve (cumulative, per field).
        self.krylov_clipped = np.zeros(len(specs), np.int64)
        self._precond_cache = {}
        self._basis = None
        self.time = _finite_number(time, "time", "minutes")
        F = len(specs)
        _check_memory(lattice, F)
        shape3 = (1,) * (3 - lattice.ndim) + lattice.shape
        self._shape4 = (F,) + shape3
        self._c = np.empty(self._shape4)
        for f, s in enumerate(specs):
            self._c[f] = s.initial_value
        # active axes: length > 1, in BioFVM's sweep order x, y, z; x alone if none
        names3 = ("z", "y", "x")
        axes = [_Axis(d, shape3[d - 1], names3[d - 1]) for d in (3, 2, 1) if shape3[d - 1] > 1]
        self._axes = axes or [_Axis(3, shape3[2], "x")]
        self._d = len(self._axes)
        self._dirichlet = self._dirichlet_table(specs)
        self._D = np.array([s.diffusion for s in specs])
        self._decay = np.array([s.decay for s in specs])
        self._kv = np.array([s.vessel_supply_rate for s in specs])
        self._cpl = np.array([s.vessel_plasma_value for s in specs])
        self._cpl_end = None        # c_p at the end of the next advance (set_plasma's until), or None
        self._vidx = np.zeros(0, np.int64)
        self._coef_cache = {}     # dt -> (Thomas factors per axis, r = dt D / dx^2)
        #: Error control (``advance(..., rtol=)``): the coarse sub-step count each field starts from next call.
        self.substep_hint = np.ones(F, np.int64)
        #: Sub-steps each field took in the last controlled ``advance`` (all levels; 0: not stepped).
        self.last_substeps = np.zeros(F, np.int64)
        #: Per field, the error estimate ``||R_j - R_{j-1}|| / ||R_j||`` of the last controlled ``advance``.
        self.last_error_estimate = np.zeros(F)
        self._fon_all = np.ones(F, np.uint8)
        self._k = None
        self._g = None
        self._zero_flags = None
        self._kg_state = "none"     # what K, G hold: "none", "dense" (a full pass) or "sparse"
        self._touched = None        # flat voxels written by the last sparse step
        self._vessel_flags = None
        self._gv = None             # "mixed": k_v c_p in vessel voxels (see _vessel_sources)
        self._vmask = np.zeros(1, dtype=np.bool_)
        self._has_vessels = False
        self.set_vessels(vessels)
        if values is not None:
            self.set_values(values)

    # ---------------------------------------------------------------- set-up
    def _dirichlet_table(self, specs) -> np.ndarray:
        """(F, 4, 2, 2): per field, internal axis (1..3), side (lo, hi): [is_dirichlet, value]."""
        tab = np.zeros((len(specs), 4, 2, 2))
        lat = self.lattice
        active = {a.name for a in self._axes if a.n > 1}
        for f, s in enumerate(specs):
            if s.boundary != "dirichlet":
                continue
            faces = s.dirichlet_faces
            if faces is None:
                faces = tuple(f"{a}_{side}" for a in sorted(active) for side in ("min", "max"))
            for face in faces:
                axis, side = face.split("_")
                if axis not in lat.axes:
                    raise InputError(f"fields.{s.name}.dirichlet_faces",
                                     f"face {face!r} does not exist on a {lat.ndim}D lattice",
                                     f"use faces of {lat.axes}")
                if axis not in active:
                    raise InputError(f"fields.{s.name}.dirichlet_faces",
                                     f"face {face!r} is on an axis one voxel long (no diffusion along it)",
                                     "give that axis more voxels or drop the face")
                dim = {"z": 1, "y": 2, "x": 3}[axis]
                tab[f, dim, 0 if side == "min" else 1] = (1.0, s.boundary_value)
        return tab

    def set_values(self, values) -> None:
        """Replace every field's concentrations.

        Parameters
        ----------
        values
            ``(n_fields, *lattice.shape)`` array, each field in its unit;
            finite and >= 0.
        """
        v = np.asarray(values, dtype=float)
        want = (len(self.specs),) + self.lattice.shape
        if v.shape != want:
            raise InputError("values", f"must have shape {want}, got {v.shape}", "(n_fields, *lattice.shape)")
        for f, s in enumerate(self.specs):
            bad = ~np.isfinite(v[f]) | (v[f] < 0)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputError(f"fields.{s.name}.values", f"must be finite and >= 0, got {float(v[f][idx])!r} "
                                 f"at voxel {idx} ({self.lattice.describe_position(idx)})",
                                 "give non-negative concentrations")
        self._c[...] = v.reshape(self._shape4)

    def set_plasma(self, values, until=None) -> None:
        """Set every field's plasma value ``c_p`` (field units, one per field; >= 0 and finite), e.g. a drug's
        concentration in plasma as it is dosed and cleared. Vessel voxels exchange with it from the next step.

        Parameters
        ----------
        values
            ``c_p`` now (at :attr:`time`), one per field, each in its field's unit.
        until
            Optional: ``c_p`` at the end of the next :meth:`advance` (or :meth:`step`), one per field, field
            unit. Its sub-steps then exchange with the plasma interpolated linearly between ``values`` and
            ``until`` at the *end* of each sub-step, where backward Euler evaluates its terms; without it
            the plasma is held at ``values`` over the whole call. A plasma level falling at ``k_el`` and
            held at its starting value over a call of ``duration`` with sub-steps ``h`` puts the tissue
            ``(duration + h) / 2`` (min) further behind it than the well-mixed ODE; interpolated to the
            sub-steps' ends, ``O(k_el h)`` times less (docs/spatial-fields.md, "Vessels fed by a changing
            plasma"). After that call the plasma stays at ``until``.
        """
        v = self._plasma_array(values, "plasma")
        end = None if until is None else self._plasma_array(until, "plasma_until")
        if end is not None and np.array_equal(end, v):
            end = None
        self._cpl_end = end
        if np.array_equal(v, self._cpl):
            return
        self._cpl[:] = v
        self._gv = None
        if self._kg_state == "sparse":
            self._kg_state = "dense"   # the cached vessel base holds the old plasma values: rebuild it

    def _plasma_array(self, values, what: str) -> np.ndarray:
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.size != len(self.specs):
            raise InputError(what, f"needs one value per field ({len(self.specs)}), got {v.size}",
                             "give the plasma value of every field, in field order")
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            f = int(np.argmax(bad))
            raise InputError(f"fields.{self.names[f]}.{what}", f"must be finite and >= 0, got {v[f]!r}",
                             "give a concentration in the field's unit")
        return v.copy()

    def _move_plasma(self, new: np.ndarray, fon) -> None:
        """Within a call, set ``c_p`` of the fields with ``fon`` set to ``new`` and patch the vessels' share
        ``k_v c_p`` of G (and of the "mixed" vessel array) in place: K, the flags and the sparse base keep
        matching, as vessel voxels hold ``k_v`` in K whatever ``c_p`` is."""
        for f in range(len(self.specs)):
            if not fon[f] or new[f] == self._cpl[f]:
                continue
            old = self._cpl[f]
            self._cpl[f] = new[f]
            if not self._has_vessels or self._kv[f] == 0.0:
                continue
            vidx = self._vidx
            kv = self._kv[f]
            if self._k is not None and self._kg_state != "none":
                g = self._g.reshape(len(self.specs), -1)
                g[f, vidx] = np.maximum(g[f, vidx] - kv * old, 0.0) + kv * new[f]
            if self._gv is not None:
                self._gv.reshape(len(self.specs), -1)[f, vidx] = kv * new[f]

    def set_boundary_value(self, field: int, value: float) -> None:
        """Set the Dirichlet value of field ``field`` (its index) on every face that holds one, from the next
        step (e.g. a nutrient whose plasma level a drug lowers: the tissue beyond the faces sees that plasma
        too). A field without Dirichlet faces is left as it is."""
        if not isinstance(field, (int, np.integer)) or not 0 <= field < len(self.specs):
            raise InputError("field", f"must be a field index 0..{len(self.specs) - 1}, got {field!r}",
                             "use field_index(name)")
        v = _finite_number(value, f"fields.{self.names[field]}.boundary_value", self.specs[field].unit)
        if v < 0:
            raise InputError(f"fields.{self.names[field]}.boundary_value", f"must be >= 0, got {value!r}",
                             f"give {self.specs[field].unit}")
        on = self._dirichlet[field, :, :, 0] > 0
        if np.all(self._dirichlet[field, :, :, 1][on] == v):
            return
        self._dirichlet[field, :, :, 1][on] = v
        self._coef_cache.clear()   # the cached right-hand-side terms hold the old value

    def set_vessels(self, vessels) -> None:
        """Set the vessel voxels (a boolean mask of ``lattice.shape``, ``(n, ndim)`` indices, or None)."""
        lat = self.lattice
        self._gv = None
        if vessels is None:
            self._vmask = np.zeros(1, dtype=np.bool_)
            self._vidx = np.zeros(0, np.int64)
            self._has_vessels = False
            self._vessels_given = False
            self._vessel_flags = None
            if self._kg_state == "sparse":
                self._kg_state = "dense"
            return
        arr = np.asarray(vessels)
        if arr.dtype == bool:
            if arr.shape != lat.shape:
                raise InputError("vessels", f"mask must have shape {lat.shape}, got {arr.shape}",
                                 "a boolean array over the lattice")
            mask = arr.copy()
        else:
            idx = np.atleast_2d(arr)
            if idx.size and (idx.ndim != 2 or idx.shape[1] != lat.ndim or not np.issubdtype(idx.dtype, np.integer)):
                raise InputError("vessels", f"indices must be an (n, {lat.ndim}) integer array, got shape {arr.shape}",
                                 "give voxel indices in array order, or a boolean mask")
            if idx.size and ((idx < 0).any() or (idx >= np.asarray(lat.shape)).any()):
                raise InputError("vessels", "voxel index outside the lattice", f"indices run 0..{lat.shape} - 1")
            mask = np.zeros(lat.shape, dtype=bool)
            if idx.size:
                mask[tuple(idx.T)] = True
        self._vmask = np.ascontiguousarray(mask.reshape(-1))
        self._vidx = np.flatnonzero(self._vmask)
        self._vessels_given = True
        self._has_vessels = bool(mask.any()) and bool((self._kv > 0).any())
        self._vessel_flags = None
        if self._kg_state == "sparse":
            self._kg_state = "dense"   # K, G no longer match the vessel base: rebuild before the next sparse step

    def _coefficients(self, dt: float):
        """Thomas factors per active axis for a step dt, and r = dt D / dx^2 (cached per dt)."""
        hit = self._coef_cache.get(dt)
        if hit is not None:
            return hit
        F = len(self.specs)
        dx2 = self.lattice.dx ** 2
        r = dt * self._D / dx2
        base = 1.0 + dt * self._decay / self._d
        coef = {}
        for ax in self._axes:
            n = ax.n
            nb = np.full(n, 2.0)
            nb[0] -= 1.0
            nb[-1] -= 1.0
            dlo = self._dirichlet[:, ax.dim, 0, 0]
            dhi = self._dirichlet[:, ax.dim, 1, 0]
            b = base[:, None] + r[:, None] * nb[None, :]
            b[:, 0] += 2.0 * r * dlo
            b[:, -1] += 2.0 * r * dhi
            inv = np.empty((F, n))
            cp = np.empty((F, n))
            den = b[:, 0].copy()
            inv[:, 0] = 1.0 / den
            cp[:, 0] = -r * inv[:, 0]
            for i in range(1, n):
                den = b[:, i] + r * cp[:, i - 1]
                inv[:, i] = 1.0 / den
                cp[:, i] = -r * inv[:, i]
            bclo = 2.0 * r * dlo * self._dirichlet[:, ax.dim, 0, 1]
            bchi = 2.0 * r * dhi * self._dirichlet[:, ax.dim, 1, 1]
            coef[ax.dim] = (np.ascontiguousarray(b), inv, cp, bclo, bchi, base.copy(), 2.0 * r * dlo,
                            2.0 * r * dhi)
        if len(self._coef_cache) >= 8:
            self._coef_cache.clear()
        self._coef_cache[dt] = (coef, r)
        return coef, r

    def _source_array(self, a, what: str):
        if a is None:
            return None
        want = (len(self.specs),) + self.lattice.shape
        arr = np.asarray(a, dtype=np.float64)
        if arr.shape != want:
            raise InputError(f"sources.{what}", f"must have shape {want}, got {arr.shape}",
                             "one value per field and voxel: (n_fields, *lattice.shape)")
        return np.ascontiguousarray(arr).reshape(self._shape4)

    def _no_flags(self):
        """Flags for a step without sources: every line takes the precomputed (constant) path."""
        if self._zero_flags is None:
            F, NZ, NY, NX = self._shape4
            nq = (NY + _GROUP - 1) // _GROUP
            self._zero_flags = (np.zeros(F * NZ * nq, np.uint8),
                                np.zeros((F, NZ, (NX + _BLOCK - 1) // _BLOCK), np.uint8),
                                np.zeros((F, 1, (NY * NX + _BLOCK - 1) // _BLOCK), np.uint8))
        return self._zero_flags

    def _prepare(self, secretion, target, export, uptake):
        """Fill K and G; return (xflag, yflag, zflag): where the sweeps must use per-voxel coefficients."""
        S = self._source_array(secretion, "secretion")
        T = self._source_array(target, "target")
        E = self._source_array(export, "export")
        U = self._source_array(uptake, "uptake")
        if (S is None) != (T is None):
            raise InputError("sources.target" if T is None else "sources.secretion",
                             "secretion and target must be given together",
                             "secretion S (1/min) drives the field towards target T")
        if S is None and E is None and U is None and not self._has_vessels:
            return self._no_flags()
        if self._k is None:
            self._k = np.empty(self._shape4)
            self._g = np.empty(self._shape4)
        F, NZ, NY, NX = self._shape4
        nq = (NY + _GROUP - 1) // _GROUP
        ntask = F * NZ * nq
        nbx = (NX + _BLOCK - 1) // _BLOCK
        nbz = (NY * NX + _BLOCK - 1) // _BLOCK
        xflag = np.zeros(ntask, np.uint8)
        ypart = np.zeros((ntask, nbx), np.uint8)
        zpart = np.zeros((ntask, nbz), np.uint8)
        bad_task = np.zeros(ntask, np.int64)
        dummy = np.zeros((1, 1, 1, 1))
        vmask = self._vmask.reshape(self._shape4[1:]) if self._vessels_given else np.zeros((1, 1, 1), np.bool_)
        _prepare_sources(S if S is not None else dummy, T if T is not None else dummy,
                         E if E is not None else dummy, U if U is not None else dummy,
                         S is not None, E is not None, U is not None, vmask,
                         self._has_vessels, self._kv, self._cpl, self._k, self._g, _GROUP, _BLOCK,
                         xflag, ypart, zpart, bad_task)
        self._kg_state = "dense"
        if bad_task.any():
            self._raise_bad_source(S, T, E, U)
        yflag = ypart.reshape(F, NZ, nq, nbx).max(axis=2)
        zflag = zpart.reshape(F, 1, NZ * nq, nbz).max(axis=2)
        return xflag, np.ascontiguousarray(yflag), np.ascontiguousarray(zflag)

    def _prepare_sparse(self, voxels, secretion, target, export, uptake):
        """K and G from per-entry sources at listed voxels; only the voxels touched change."""
        lat = self.lattice
        F, NZ, NY, NX = self._shape4
        vox = np.asarray(voxels)
        if vox.ndim == 2 and vox.shape[1] == lat.ndim and np.issubdtype(vox.dtype, np.integer):
            if vox.size and ((vox < 0).any() or (vox >= np.asarray(lat.shape)).any()):
                raise InputError("sources.voxels", "voxel index outside the lattice", f"indices run 0..{lat.shape} - 1")
            vox = np.ravel_multi_index(tuple(vox.T), lat.shape) if vox.size else np.zeros(0, np.int64)
        elif vox.ndim != 1 or not (np.issubdtype(vox.dtype, np.integer) or vox.size == 0):
            raise InputError("sources.voxels", f"must be (n,) flat or (n, {lat.ndim}) voxel indices, got shape "
                             f"{vox.shape}", "integer voxel indices, array order")
        elif vox.size and ((vox < 0).any() or (vox >= lat.n_voxels).any()):
            raise InputError("sources.voxels", "flat voxel index outside the lattice", f"0..{lat.n_voxels - 1}")
        vox = np.ascontiguousarray(vox, dtype=np.int64)
        n = vox.size

        def entries(a, what):
            if a is None:
                return None
            arr = np.asarray(a, dtype=np.float64)
            if arr.shape != (F, n):
                raise InputError(f"sources.{what}", f"must have shape {(F, n)} with voxels= given, got {arr.shape}",
                                 "one value per field and listed voxel")
            return np.ascontiguousarray(arr)

        S, T, E, U = (entries(secretion, "secretion"), entries(target, "target"), entries(export, "export"),
                      entries(uptake, "uptake"))
        if (S is None) != (T is None):
            raise InputError("sources.target" if T is None else "sources.secretion",
                             "secretion and target must be given together",
                             "secretion S (1/min) drives the field towards target T")
        if self._k is None:
            self._k = np.zeros(self._shape4)
            self._g = np.zeros(self._shape4)
            self._kg_state = "dense"
        V = lat.n_voxels
        k2 = self._k.reshape(F, V)
        g2 = self._g.reshape(F, V)
        vm = self._vmask if self._vessels_given else np.zeros(1, np.bool_)
        if self._kg_state != "sparse" or self._vessel_flags is None:
            # K, G to the vessel-only base everywhere (one pass), and remember which lines vessels touch
            if self._has_vessels:
                self._vessel_flags = tuple(a.copy() for a in self._prepare(None, None, None, None))
            else:
                self._k.fill(0.0)
                self._g.fill(0.0)
                self._vessel_flags = tuple(np.zeros_like(a) for a in self._no_flags())
        else:
            _reset_touched(self._touched, k2, g2, vm, self._has_vessels, self._kv, self._cpl)
        self._kg_state = "sparse"
        self._touched = vox
        xflag, yflag, zflag = (a.copy() for a in self._vessel_flags)
        dummy = np.zeros((1, 1))
        bad = _scatter_sources(vox, S if S is not None else dummy, T if T is not None else dummy,
                               E if E is not None else dummy, U if U is not None else dummy,
                               S is not None, E is not None, U is not None, k2, g2, NZ, NY, NX, _GROUP, _BLOCK,
                               xflag, yflag, zflag)
        if bad >= 0:
            idx = np.unravel_index(int(vox[bad]), lat.shape)
            for what, arr in (("secretion", S), ("target", T), ("export", E), ("uptake", U)):
                if arr is None:
                    continue
                col = arr[:, bad]
                wrong = ~(col >= 0) | ~np.isfinite(col)
                if wrong.any():
                    f = int(np.argmax(wrong))
                    raise InputError(f"sources.{what}[{self.names[f]}]",
                                     f"must be finite and >= 0, got {float(col[f])!r} for entry {int(bad)} at voxel "
                                     f"{tuple(int(i) for i in idx)} ({lat.describe_position(idx)})",
                                     "rates are non-negative cell rates")
            raise InputError("sources", "secretion x target overflowed to infinity", "check the magnitudes")
        return xflag, yflag, zflag

    def _raise_bad_source(self, S, T, E, U):
        for what, arr in (("secretion", S), ("target", T), ("export", E), ("uptake", U)):
            if arr is None:
                continue
            for f, name in enumerate(self.names):
                a = arr[f].reshape(-1)
                bad = ~(a >= 0) | ~np.isfinite(a)
                if bad.any():
                    flat = int(np.argmax(bad))
                    idx = np.unravel_index(flat, self.lattice.shape)
                    raise InputError(f"sources.{what}[{name}]",
                                     f"must be finite and >= 0, got {float(a[flat])!r} at voxel "
                                     f"{tuple(int(i) for i in idx)} ({self.lattice.describe_position(idx)})",
                                     "rates are per-voxel sums of non-negative cell rates")
        raise InputError("sources", "secretion x target overflowed to infinity", "check the magnitudes")

    # ---------------------------------------------------------------- stepping
    def step(self, dt: float, secretion=None, target=None, export=None, uptake=None, *, voxels=None) -> None:
        """Advance every field by one step of ``dt`` minutes.

        Parameters
        ----------
        dt
            Step, min (> 0). Any size is stable; the error grows with dt
            (docs/spatial-fields.md gives measured figures).
        secretion
            S, 1/min, ``(n_fields, *lattice.shape)`` or None.
        target
            T, saturation target of the secretion, field unit; required with
            ``secretion``.
        export
            E, net release, field unit/min (amount per min per voxel volume).
        uptake
            U, first-order uptake rate, 1/min.
        voxels
            If given, the sources are sparse: ``voxels`` lists voxel indices
            (``(n,)`` flat C-order, or ``(n, ndim)`` array order, repeats
            allowed, e.g. one entry per cell) and each source array is
            ``(n_fields, n)``, one value per entry; entries in the same voxel
            add up (S and S*T summed, so T becomes the S-weighted mean
            target). Cheaper than dense arrays when few voxels hold cells:
            only the listed voxels are touched.

        Raises
        ------
        InputError
            ``dt`` not positive and finite, a source array of the wrong
            shape, or a negative / non-finite source value (named by array,
            field and voxel).
        SimulationError
            A field held a negative or non-finite value at the start of the
            step (written into :attr:`values` between steps), or went
            non-finite or negative beyond round-off during it; the message
            names the field, the time and the voxel position (um). The
            fields keep the failed values and :attr:`time` is not advanced.
        """
        dt = _finite_number(dt, "dt", "the step in minutes")
        if dt <= 0:
            raise InputError("dt", f"must be > 0, got {dt!r}", "give the step in minutes")
        flags = self._prepare_any(secretion, target, export, uptake, voxels)
        end, self._cpl_end = self._cpl_end, None
        if end is not None:   # one step: backward Euler takes the plasma at its end
            self._move_plasma(end, self._fon_all)
        self._step(dt, flags, self._fon_all)
        self.time += dt

    def _prepare_any(self, secretion, target, export, uptake, voxels):
        if voxels is not None:
            return self._prepare_sparse(voxels, secretion, target, export, uptake)
        return self._prepare(secretion, target, export, uptake)

    def _step(self, dt: float, flags, fon, check_in: bool = True, check_out: bool = True) -> None:
        """One step of dt for the fields with fon[f] set, with K and G already prepared.

        ``check_in`` checks the values the step starts from, ``check_out``
        those it ends with. Every operator keeps values non-negative and a
        non-finite value stays non-finite, so sub-steps in a row need the
        first checked in and the last checked out only.
        """
        if self.scheme == "implicit":
            self._step_implicit(dt, flags, fon, check_in, check_out)
            return
        coef, r = self._coefficients(dt)
        k4 = self._k if self._k is not None else np.zeros((1, 1, 1, 1))
        g4 = self._g if self._k is not None else np.zeros((1, 1, 1, 1))
        xflag = flags[0]
        first = stats = None
        react = False
        if self.splitting in ("mixed", "lie", "strang"):
            h = dt if self.splitting != "strang" else 0.5 * dt
            react = bool(xflag.any())
            if react:  # the source step reads every value first: check them there
                seen = np.zeros((xflag.size, 6)) if check_in else np.zeros((1, 6))
                mixed = self.splitting == "mixed"
                gv = self._vessel_sources() if mixed else None
                _react(self._c, k4, g4, gv if gv is not None else k4, h if gv is not None else 0.0, xflag, fon, h,
                       0.0 if mixed else h, _GROUP, check_in, False, seen)
                first = seen if check_in else None
                check_in = False
        if self.splitting == "sweep":
            first, stats = self._sweeps(coef, r, flags, fon, dt / self._d, dt / self._d, check_out, check_in)
        elif self.splitting == "mixed":
            gv = self._vessel_sources()
            sweep_first, stats = self._sweeps(coef, r, flags, fon, dt / self._d, 0.0 if gv is None else dt / self._d,
                                              check_out, check_in, g=gv)
        elif self.splitting == "lie":
            sweep_first, stats = self._sweeps(coef, r, self._no_flags(), fon, 0.0, 0.0, check_out, check_in)
        else:
            sweep_first, _ = self._sweeps(coef, r, self._no_flags(), fon, 0.0, 0.0, False, check_in)
            if react:
                stats = np.zeros((xflag.size, 6)) if check_out else np.zeros((1, 6))
                _react(self._c, k4, g4, k4, 0.0, xflag, fon, h, h, _GROUP, False, check_out, stats)
        if self.splitting != "sweep" and first is None:
            first = sweep_first
        if first is not None:
            self._check_input(first, dt)
        if check_out and stats is not None:
            self._check(stats, dt)

    def _vessel_sources(self):
        """The vessels' share of G, ``k_v c_p`` in vessel voxels and 0 elsewhere, (F, NZ, NY, NX); None without
        vessels.

        ``"mixed"`` adds the other sources before the sweeps but leaves this share to the sweeps, each adding
        ``dt/d`` of it beside its ``dt/d`` of the vessel sink, as ``"sweep"`` does. A vessel's exchange
        ``k_v (c_p - c)`` is a relaxation: with its source added up front and its sink split over the d
        sweeps, a voxel without diffusion settled at ``c_p h k_v / ((1 + h k_v / d)^d - 1)`` instead of
        ``c_p`` (a sixteenth of it at ``h k_v`` = 60 in 2D), and a closed domain supplied only by vessels
        held ~0.84-0.98 of the plasma value (docs/spatial-fields.md, "Vessels under the mixed splitting").
        """
        if not self._has_vessels:
            return None
        if self._gv is None:
            gv = np.zeros(self._shape4)
            vm = self._vmask.reshape(self._shape4[1:])
            for f in range(len(self.specs)):
                gv[f][vm] = self._kv[f] * self._cpl[f]
            self._gv = gv
        return self._gv

    def _sweeps(self, coef, r, flags, fon, kfrac, gfrac, stats: bool = True, check_in: bool = True, g=None,
                c=None, k=None, rescale: bool = True):
        """Run the sweeps; return (input check of the first sweep, statistics of the last) as (tasks, 6) arrays.

        ``g`` replaces G in the sweeps' right-hand side ``c + gfrac G`` (``"mixed"``: the vessels' share).
        ``c`` and ``k`` replace the fields' values and K (the implicit scheme's preconditioner sweeps one
        field's vector, ``(1, NZ, NY, NX)``, with that field's coefficients and flags); ``rescale`` False
        leaves out the per-line mass-balance factor (:func:`_solve_block`)."""
        c4 = self._c if c is None else c
        F, NZ, NY, NX = c4.shape
        k4 = self._k if self._k is not None else np.zeros((1, 1, 1, 1))
        g4 = self._g if self._k is not None else np.zeros((1, 1, 1, 1))
        if g is not None and self._k is not None:
            g4 = g
        if k is not None:
            k4 = g4 = k
        elif c is not None:   # a vector without sources: its flags are all 0, K is never read
            k4 = g4 = np.zeros((1, 1, 1, 1))
        real = k is not None or (c is None and self._k is not None)
        xflag, yflag, zflag = flags
        first = last_st = None
        for n, ax in enumerate(self._axes):
            chk = check_in and n == 0
            last = stats and n == len(self._axes) - 1
            b, inv, cp, bclo, bchi, beta, dwlo, dwhi = coef[ax.dim]
            if ax.dim == 3:
                st = np.zeros((xflag.size, 6)) if (chk or last) else np.zeros((1, 6))
                _sweep_x(c4, k4, g4, xflag, fon, kfrac, gfrac, r, b, inv, cp, bclo, bchi, beta, dwlo, dwhi, _GROUP, chk,
                         last, st, rescale)
            else:
                view = (F, NZ, NY, NX) if ax.dim == 2 else (F, 1, NZ, NY * NX)
                flag = yflag if ax.dim == 2 else zflag
                cv = c4.reshape(view)
                kk = k4.reshape(view) if real else k4
                gg = g4.reshape(view) if real else g4
                st = np.zeros((flag.size, 6)) if (chk or last) else np.zeros((1, 6))
                _sweep_strided(cv, kk, gg, flag, fon, kfrac, gfrac, r, b, inv, cp, bclo, bchi, beta, dwlo, dwhi, _BLOCK,
                               chk, last, st, rescale)
            if chk:
                first = st
            if last:
                last_st = st
        return first, last_st

    def _check_input(self, first, dt: float) -> None:
        """Raise if a field held a negative or non-finite value when the step started."""
        F = len(self.specs)
        per = first.reshape(F, -1, 6)
        for f, name in enumerate(self.names):
            hit = per[f, :, 3] > 0
            if not hit.any():
                continue
            flat = int(per[f, hit, 4].min())
            val = per[f, hit, 5][int(np.argmin(per[f, hit, 4]))]
            idx = tuple(int(i) for i in np.unravel_index(flat, self.lattice.shape))
            what = "non-finite" if not np.isfinite(val) else "negative"
            raise SimulationError(
                f"field '{name}' was {what} ({val:.6g} {self.specs[f].unit}) at t = {self.time:g} min, "
                f"at the start of a step of {dt:g} min, in voxel {idx} ({self.lattice.describe_position(idx)}); "
                f"something wrote it into the field's values between steps")

    def _check(self, stats, dt: float) -> None:
        F = len(self.specs)
        per = stats.reshape(F, -1, 6)
        lo = per[:, :, 0].min(axis=1)
        hi = per[:, :, 1].max(axis=1)
        nbad = per[:, :, 2].sum(axis=1)
        for f, name in enumerate(self.names):
            tol = NEGATIVE_RTOL * max(hi[f], 0.0) + 1e-300
            if nbad[f] == 0 and lo[f] >= -tol:
                continue
            arr = self.values[f]
            bad = ~np.isfinite(arr) | (arr < -tol)
            flat = int(np.argmax(bad))
            idx = tuple(int(i) for i in np.unravel_index(flat, self.lattice.shape))
            val = arr[idx]
            what = "non-finite" if not np.isfinite(val) else "negative"
            t_end = self.time + dt
            raise SimulationError(
                f"field '{name}' became {what} ({val:.6g} {self.specs[f].unit}) at t = {t_end:g} min "
                f"(step of {dt:g} min from t = {self.time:g} min) in voxel {idx} "
                f"({self.lattice.describe_position(idx)}); check the sources passed in this step "
                f"and the field's parameters")

    # ---------------------------------------------------------------- the implicit scheme
    def _step_implicit(self, dt: float, flags, fon, check_in: bool = True, check_out: bool = True) -> None:
        """One unsplit backward-Euler step of ``dt`` (min) for the fields with ``fon`` set.

        Each field solves ``(I (1 + dt lambda) + dt K - dt D L) c_new = c + dt G`` (L the Laplacian with the
        field's zero-flux and Dirichlet faces, K and G as prepared for the LOD sweeps: cells' secretion towards
        its target, uptake, release and the vessels' exchange, all linear in c) by GMRES preconditioned with
        one LOD step (:meth:`_krylov`), starting from the current values. The exact solution is non-negative
        (the operator is an M-matrix); the Krylov one can dip below 0 by about the residual, and such values
        are set to 0 (counted in :attr:`krylov_clipped`). Checks as in the LOD step: a negative or non-finite
        value at the start raises before the solve, a non-finite one at the end after it.
        """
        F = len(self.specs)
        NZ, NY, NX = self._shape4[1:]
        nq = (NY + _GROUP - 1) // _GROUP
        xflag, yflag, zflag = flags
        stats = np.zeros((F, 6))
        for f in range(F):
            if not fon[f]:
                continue
            x = self._c[f]
            if check_in:
                bad = ~(x >= 0.0) | ~(x < np.inf)
                if bad.any():
                    first = np.zeros((F, 6))
                    flat = int(np.argmax(bad.reshape(-1)))
                    first[f, 3:] = (int(bad.sum()), flat, x.reshape(-1)[flat])
                    self._check_input(first, dt)
            ff = (xflag[f * NZ * nq:(f + 1) * NZ * nq], yflag[f:f + 1], zflag[f:f + 1])
            use_k = bool(ff[0].any()) and self._k is not None
            b = np.empty_like(x)
            r = dt * self._D[f] / self.lattice.dx ** 2
            dd = np.zeros((3, 2))
            for dim in (1, 2, 3):
                for side in (0, 1):
                    dd[dim - 1, side] = 2.0 * r * self._dirichlet[f, dim, side, 0]
            bval = dd * self._dirichlet[f, 1:, :, 1]
            _unsplit_apply(x, b, x, False, 0.0, 0.0, 0.0, dd, bval, True)
            if use_k:
                _axpy(dt, self._g[f].reshape(NZ * NY, NX), b.reshape(NZ * NY, NX))
            self.krylov_iterations[f] += self._krylov(f, dt, r, dd, use_k, ff, b, x)
            neg = x < 0.0
            if neg.any():
                self.krylov_clipped[f] += int(neg.sum())
                np.maximum(x, 0.0, out=x)
            if check_out:
                stats[f, :3] = (x.min(), x.max(), int((~np.isfinite(x)).sum()))
        if check_out:
            self._check(stats, dt)

    def _preconditioner(self, f: int, dt: float, r: float):
        """The LOD step that preconditions field ``f``'s implicit solve at step ``dt``: its Thomas factors (the
        Dirichlet right-hand terms zeroed: it acts on residuals), ``r_p`` and ``kfrac``, cached per (f, dt).

        Its step ``h_p`` makes ``r_p = min(r, PRECOND_A r^PRECOND_P)``: with ``h_p = dt`` the sweeps' cross
        terms (``r^2 L_x L_y``, ...) leave the preconditioned spectrum spread over ``1 / r^2`` at large
        ``r`` (1,254 at r = 15 in 3D); the shorter step balances the smooth and the rough modes
        (a condition number of ~11 at r = 15, ~230 at r = 1,500; constant-coefficient Fourier analysis)."""
        key = (f, dt)
        hit = self._precond_cache.get(key)
        if hit is not None:
            return hit
        hp = dt if r <= 0.0 else dt * min(1.0, self.PRECOND_A * r ** (self.PRECOND_P - 1.0))
        coef, rp = self._coefficients(hp)
        one = {}
        for dim, (b, inv, cp, bclo, bchi, beta, dwlo, dwhi) in coef.items():
            z = np.zeros(1)
            one[dim] = (b[f:f + 1], inv[f:f + 1], cp[f:f + 1], z, z, beta[f:f + 1], dwlo[f:f + 1], dwhi[f:f + 1])
        if len(self._precond_cache) >= 64:
            self._precond_cache.clear()
        out = (one, rp[f:f + 1].copy(), hp / self._d)
        self._precond_cache[key] = out
        return out

    def _krylov(self, f: int, dt: float, r: float, dd, use_k: bool, flags, b: np.ndarray, x: np.ndarray) -> int:
        """Solve field ``f``'s unsplit system ``A x = b`` in place (``x`` holds the start), by restarted GMRES
        right-preconditioned with one LOD step (:meth:`_preconditioner`); return the iterations.

        Stops at ``||b - A x|| <= max(krylov_rtol max(||x_0||, ||b - A x_0||), KRYLOV_FLOOR ||b||)`` (the true
        residual, recomputed at each restart; ``x_0`` the values at the sub-step's start); raises
        :class:`SimulationError` after :attr:`KRYLOV_MAXITER` iterations. Every dot product sums rows
        serially and then the rows in a fixed order, so the result is the same for any thread count."""
        NZ, NY, NX = x.shape
        R = NZ * NY
        m = self.KRYLOV_RESTART
        if self._basis is None or self._basis.shape[2:] != x.shape:
            self._basis = np.empty((2, m + 1) + x.shape)
        V, Z = self._basis   # the Arnoldi basis and its preconditioned vectors (flexible GMRES storage)
        k3 = self._k[f] if use_k else x
        a0 = 1.0 + dt * self._decay[f]
        coef_p, r_p, kfrac = self._preconditioner(f, dt, r)
        kp = self._k[f:f + 1] if use_k else None
        fon1 = np.ones(1, np.uint8)
        part = np.empty(R)
        zeros = np.zeros((3, 2))

        def dot(a, c):
            _row_dots(a.reshape(R, NX), c.reshape(R, NX), part)
            return float(part.sum())

        def apply(v, out):
            _unsplit_apply(v, out, k3, use_k, a0, dt, r, dd, zeros, False)

        def precondition(v, out):
            out[...] = v
            self._sweeps(coef_p, r_p, flags, fon1, kfrac, 0.0, False, False, c=out.reshape((1,) + x.shape), k=kp,
                         rescale=False)

        w = np.empty_like(x)
        bnorm = math.sqrt(dot(b, b))
        if bnorm == 0.0:
            x[...] = 0.0
            return 0
        its = 0
        tol = None
        while True:
            apply(x, w)
            np.subtract(b, w, out=V[0])
            beta = math.sqrt(dot(V[0], V[0]))
            if tol is None:   # relative to the field or to the step's own change, with a round-off floor
                tol = max(self.krylov_rtol * max(math.sqrt(dot(x, x)), beta), self.KRYLOV_FLOOR * bnorm)
            if beta <= tol or not math.isfinite(beta):
                return its
            if its >= self.KRYLOV_MAXITER:
                raise SimulationError(
                    f"field '{self.names[f]}': the implicit step of {dt:g} min did not converge in "
                    f"{its} GMRES iterations at t = {self.time:g} min (relative residual {beta / bnorm:.2e}, "
                    f"asked {self.krylov_rtol:g}); use a shorter field step or field_scheme 'lod'")
            np.multiply(V[0], 1.0 / beta, out=V[0])
            H = np.zeros((m + 1, m))
            cs = np.zeros(m)
            sn = np.zeros(m)
            g = np.zeros(m + 1)
            g[0] = beta
            n = 0
            for j in range(m):
                precondition(V[j], Z[j])
                apply(Z[j], w)
                for i in range(j + 1):
                    hij = dot(w, V[i])
                    H[i, j] = hij
                    _axpy(-hij, V[i].reshape(R, NX), w.reshape(R, NX))
                hn = math.sqrt(dot(w, w))
                H[j + 1, j] = hn
                for i in range(j):
                    a, c = H[i, j], H[i + 1, j]
                    H[i, j] = cs[i] * a + sn[i] * c
                    H[i + 1, j] = -sn[i] * a + cs[i] * c
                den = math.hypot(H[j, j], hn)
                cs[j], sn[j] = (H[j, j] / den, hn / den) if den > 0 else (1.0, 0.0)
                H[j, j] = den
                H[j + 1, j] = 0.0
                g[j + 1] = -sn[j] * g[j]
                g[j] = cs[j] * g[j]
                its += 1
                n = j + 1
                if abs(g[j + 1]) <= tol or its >= self.KRYLOV_MAXITER or hn == 0.0:
                    break
                np.multiply(w, 1.0 / hn, out=V[j + 1])
            y = np.zeros(n)
            for i in range(n - 1, -1, -1):
                y[i] = (g[i] - H[i, i + 1:n] @ y[i + 1:n]) / H[i, i] if H[i, i] != 0 else 0.0
            for i in range(n):   # x += M^-1 V y, from the stored M^-1 V (no extra preconditioner pass)
                _axpy(y[i], Z[i].reshape(R, NX), x.reshape(R, NX))

    def advance(self, duration: float, dt_max: float, secretion=None, target=None, export=None,
                uptake=None, *, voxels=None, rtol: float | None = None, atol: float = 0.0) -> int:
        """Advance by ``duration`` minutes, sources held fixed: in equal sub-steps of at most ``dt_max``, or
        in sub-steps each field's error controller chooses (``rtol``).

        Parameters
        ----------
        duration
            Time to advance, min (> 0), e.g. the engine's cell step.
        dt_max
            Largest diffusion sub-step, min (> 0); a field whose
            :attr:`FieldSpec.dt_max` is smaller takes that instead (the
            fields do not interact in the solver, so each may run at its own
            step). Ignored with ``rtol``.
        secretion, target, export, uptake, voxels
            As in :meth:`step`, held constant over ``duration``.
        rtol
            None (default): fixed sub-steps as above. A number in (0, 1): error control by step doubling
            with Richardson extrapolation (:meth:`_advance_controlled`): per field, the sub-step count is
            doubled until two successive extrapolated solutions ``2 c_2n - c_n`` of the whole call differ
            by at most ``rtol * ||c||_2 + atol * sqrt(n_voxels)``, and the field takes the last one
            (clipped at 0).
        atol
            Absolute floor of the error control, field unit, as a root-mean-square over the voxels (>= 0);
            the same number for every field. With ``atol = 0`` a field that is 0 everywhere is still accepted
            at once (both solutions are 0).

        Returns
        -------
        int
            Number of sub-steps taken by the field with the smallest step (with ``rtol``: the most sub-steps
            any field took, counting its ``n`` and ``2n`` runs and the rejected levels).

        Notes
        -----
        If a step fails (:class:`SimulationError`), the fields stepped so far
        keep their values and :attr:`time` is the start of the failed step.
        """
        duration = _finite_number(duration, "duration", "minutes")
        dt_max = _finite_number(dt_max, "dt_max", "minutes")
        if duration <= 0 or dt_max <= 0:
            raise InputError("duration" if duration <= 0 else "dt_max", "must be > 0", "give minutes")
        if rtol is not None:
            rtol = _finite_number(rtol, "field_rtol", "a relative tolerance, e.g. 0.01")
            if not 0.0 < rtol < 1.0:
                raise InputError("field_rtol", f"must be in (0, 1), got {rtol!r}", "e.g. 0.01 for 1% in L2")
            atol = _finite_number(atol, "field_atol", "the field's unit")
            if atol < 0.0:
                raise InputError("field_atol", f"must be >= 0, got {atol!r}", "give an RMS floor in field units")
        steps = [max(1, math.ceil(duration / min(dt_max, s.dt_max or dt_max) - 1e-9)) for s in self.specs]
        flags = self._prepare_any(secretion, target, export, uptake, voxels)
        dormant = self._dormant()
        end, self._cpl_end = self._cpl_end, None
        start = self._cpl.copy()
        t0 = self.time
        try:
            if rtol is not None:
                n = self._advance_controlled(duration, flags, dormant, start, end, t0, rtol, atol)
            else:
                for m in sorted(set(steps)):
                    fon = np.array([k == m and not dormant[f] for f, k in enumerate(steps)], np.uint8)
                    if fon.any():
                        self._run(duration, m, flags, fon, start, end, t0)
                n = max(steps)
        finally:
            if end is not None:   # every field's plasma at the end of the call (dormant ones too)
                self._move_plasma(end, self._fon_all)
        self.time = t0 + duration
        return n

    def _run(self, duration: float, n: int, flags, fon, start, end, t0: float) -> None:
        """``n`` equal sub-steps over ``duration`` of the fields with ``fon`` set, from their current values."""
        dt = duration / n
        for i in range(n):
            self.time = t0 + i * dt
            if end is not None:   # plasma at the end of this sub-step (backward Euler's time)
                self._move_plasma(start + (end - start) * ((i + 1) / n), fon)
            self._step(dt, flags, fon, check_in=i == 0, check_out=i == n - 1)

    def _advance_controlled(self, duration: float, flags, dormant, start, end, t0: float, rtol: float,
                            atol: float) -> int:
        """Advance every non-dormant field over ``duration`` under error control; return the most sub-steps
        one field took (all its levels).

        An extrapolation table on the whole call (as in extrapolated-Euler ODE codes). From the same start,
        field ``f`` runs ``n``, ``2n``, ``4n``, ... equal sub-steps (levels ``c_0, c_1, ...``). The scheme
        is first order (docs/spatial-fields.md, section 4), so ``R_j = 2 c_j - c_{j-1}`` cancels the leading
        error term (Richardson), and ``||R_j - R_{j-1}||`` estimates the error of ``R_{j-1}``, an
        over-estimate of that of ``R_j`` once the extrapolation converges at least linearly in the step.
        Level ``j >= 2`` is accepted when

        * ``||R_j - R_{j-1}||_2 <= rtol ||R_j||_2 + atol sqrt(N)`` (N voxels), and
        * ``||c_j - c_{j-1}||_2 < ||c_{j-1} - c_{j-2}||_2``: the plain levels converge. At steps far beyond
          a stiff field's time scale (oxygen at a 3-6-min step) the levels first move *apart* as the step
          shrinks, and two coarse extrapolations can agree by chance while both are 9% off (measured);
          this test refuses them.

        or when ``n 2^j`` reaches :attr:`MAX_SUBSTEPS`. The field then takes ``max(R_j, 0)``: the
        extrapolation can dip below 0 next to a sink where the field is near 0, and 0 is the nearer bound.
        A rejected level costs only the next, finer run.

        ``n`` starts at :attr:`substep_hint` (1 for a new solver); the next call starts at the ``n`` of
        the first of the three levels the accepted estimate used, halved if that estimate was below 1/4 of
        the allowance (a second-order estimate falls 4x when the step
        halves). The counts depend only on the values, the sources and the hint, never on timing, so runs
        are bit-identical across threads; a resumed run must restore the hint (:attr:`substep_hint`), as
        the spatial engine's checkpoints do.
        """
        F = len(self.specs)
        N = self._c[0].size
        active = [f for f in range(F) if not dormant[f]]
        hint = self.substep_hint
        base = {f: max(1, int(hint[f])) for f in active}
        level = dict.fromkeys(active, 0)       # table row j of each pending field
        c0 = self._c.copy()
        prev = np.empty_like(c0)                  # c_{j-1}
        rprev = np.empty_like(c0)                 # R_{j-1}
        bprev = dict.fromkeys(active, math.inf)   # ||c_{j-1} - c_{j-2}||
        taken = np.zeros(F, np.int64)
        est_out = np.zeros(F)
        rel_out = np.zeros(F)
        pending = list(active)
        while pending:
            count = {f: base[f] << level[f] for f in pending}
            for m in sorted(set(count.values())):
                fon = np.array([f in count and count[f] == m for f in range(F)], np.uint8)
                self._run(duration, m, flags, fon, start, end, t0)
            still = []
            for f in pending:
                taken[f] += count[f]
                c = self._c[f]
                j = level[f]
                if j == 0:
                    prev[f] = c
                    self._c[f] = c0[f]
                    level[f] = 1
                    still.append(f)
                    continue
                bdiff = float(np.linalg.norm((c - prev[f]).reshape(-1)))
                r = 2.0 * c - prev[f]
                done = count[f] >= self.MAX_SUBSTEPS
                est = math.inf
                if j >= 2:
                    diff = float(np.linalg.norm((r - rprev[f]).reshape(-1)))
                    size = float(np.linalg.norm(r.reshape(-1)))
                    allow = rtol * size + atol * math.sqrt(N)
                    est = diff / allow if allow > 0 else (0.0 if diff == 0 else math.inf)
                    done = done or (est <= 1.0 and (bdiff < bprev[f] or bdiff == 0.0))
                if done:
                    np.maximum(r, 0.0, out=self._c[f])
                    est_out[f] = est
                    rel_out[f] = diff / size if (j >= 2 and size > 0) else 0.0
                    continue
                rprev[f] = r
                prev[f] = c
                bprev[f] = bdiff
                self._c[f] = c0[f]
                level[f] = j + 1
                still.append(f)
            pending = still
        for f in active:
            first = base[f] << max(level[f] - 2, 0)   # n of the accepted table's first level
            hint[f] = max(1, first // 2) if est_out[f] < 0.25 else first
        self.last_substeps = taken
        self.last_error_estimate = rel_out
        return int(taken.max()) if active else 0

    def _dormant(self) -> np.ndarray:
        """Fields that stay exactly 0 over the next step, so :meth:`advance` skips them: zero everywhere, no
        source in G (cells or vessels), no plasma value, no non-zero Dirichlet face. Diffusion, decay and
        uptake of zero give zero, so skipping changes no value (an IL-12 field in a run without IL-12, a drug
        before its first dose). Checked on the values every call: a caller may write into :attr:`values`."""
        F = len(self.specs)
        c = self._c.reshape(F, -1)
        g = self._g.reshape(F, -1) if self._k is not None else None
        out = np.zeros(F, dtype=bool)
        for f in range(F):
            if c[f].any() or (g is not None and g[f].any()) or (self._has_vessels and (self._cpl[f] != 0 or (
                    self._cpl_end is not None and self._cpl_end[f] != 0))):
                continue
            faces = self._dirichlet[f]
            if np.any((faces[..., 0] > 0) & (faces[..., 1] != 0)):
                continue
            out[f] = True
        return out

    # ---------------------------------------------------------------- read-out
    @property
    def values(self) -> np.ndarray:
        """The live concentrations, ``(n_fields, *lattice.shape)``, C-contiguous float64 (a view).

        Writing into it changes the fields (e.g. a bolus); keep values >= 0.
        """
        return self._c.reshape((len(self.specs),) + self.lattice.shape)

    def field_index(self, name: str) -> int:
        """Position of field ``name`` in :attr:`values` and in the source arrays."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError("field", f"unknown field {name!r}", f"fields are {list(self.names)}") from None

    def zeros(self) -> np.ndarray:
        """A zero array of the source shape ``(n_fields, *lattice.shape)``, for the caller to fill."""
        return np.zeros((len(self.specs),) + self.lattice.shape)

    def total(self) -> np.ndarray:
        """Amount of each field in the domain, ``(n_fields,)``: sum of c x voxel volume (field unit x um^3)."""
        F = len(self.specs)
        return self._c.reshape(F, -1).sum(axis=1) * self.lattice.voxel_volume

    def mean(self) -> np.ndarray:
        """Mean concentration of each field over the voxels, ``(n_fields,)``, field unit."""
        F = len(self.specs)
        return self._c.reshape(F, -1).mean(axis=1)

    def _index_array(self, index) -> np.ndarray:
        lat = self.lattice
        idx = np.asarray(index)
        if idx.ndim == 1 and idx.shape[0] == lat.ndim and np.issubdtype(idx.dtype, np.integer):
            idx = idx[None, :]
        if idx.ndim != 2 or idx.shape[1] != lat.ndim or not np.issubdtype(idx.dtype, np.integer):
            raise InputError("index", f"must be an (n, {lat.ndim}) integer array, got shape {idx.shape}",
                             "voxel indices in array order")
        if idx.size and ((idx < 0).any() or (idx >= np.asarray(lat.shape)).any()):
            raise InputError("index", "voxel index outside the lattice", f"indices run 0..{lat.shape} - 1")
        return idx.astype(np.int64)

    def sample(self, index) -> np.ndarray:
        """Concentrations at voxels.

        Parameters
        ----------
        index
            ``(n, ndim)`` integer voxel indices, array order (or one ``(ndim,)``).

        Returns
        -------
        numpy.ndarray
            ``(n_fields, n)``, each field in its unit.
        """
        idx = self._index_array(index)
        return self.values[(slice(None),) + tuple(idx.T)]

    def gradient(self, index) -> np.ndarray:
        """Spatial gradient at voxels by central differences, field unit per um.

        At a face the missing neighbour is the boundary's ghost voxel: the
        voxel itself for zero flux, ``2 c_b - c`` for a Dirichlet value
        ``c_b``; along an axis one voxel long the gradient is 0.

        Parameters
        ----------
        index
            ``(n, ndim)`` integer voxel indices, array order.

        Returns
        -------
        numpy.ndarray
            ``(n_fields, n, ndim)``, components in array order
            (:attr:`Lattice.axes`), field unit/um.
        """
        idx = self._index_array(index)
        lat = self.lattice
        vals = self.values
        F = len(self.specs)
        out = np.zeros((F, idx.shape[0], lat.ndim))
        here = vals[(slice(None),) + tuple(idx.T)]
        off = 3 - lat.ndim
        for a in range(lat.ndim):
            n = lat.shape[a]
            if n == 1:
                continue
            dim = a + off + 1
            lo_i = idx.copy()
            lo_i[:, a] = np.maximum(idx[:, a] - 1, 0)
            hi_i = idx.copy()
            hi_i[:, a] = np.minimum(idx[:, a] + 1, n - 1)
            lo = vals[(slice(None),) + tuple(lo_i.T)].copy()
            hi = vals[(slice(None),) + tuple(hi_i.T)].copy()
            at_lo = idx[:, a] == 0
            at_hi = idx[:, a] == n - 1
            for f in range(F):
                isd, cb = self._dirichlet[f, dim, 0]
                if isd and at_lo.any():
                    lo[f, at_lo] = 2.0 * cb - here[f, at_lo]
                isd, cb = self._dirichlet[f, dim, 1]
                if isd and at_hi.any():
                    hi[f, at_hi] = 2.0 * cb - here[f, at_hi]
            out[:, :, a] = (hi - lo) / (2.0 * lat.dx)
        return out

    def snapshot(self) -> dict:
        """A copy of the fields and their metadata as plain Python/numpy objects (no xarray).

        Returns
        -------
        dict
            ``time_min``; ``names``; ``units``; ``values`` (a copy,
            ``(n_fields, *shape)``); ``dims`` (``("field", *axes)``);
            ``coords_um`` (voxel centres per axis, um); ``dx_um``;
            ``origin_um``; ``shape``; ``splitting``; ``total`` (amount per
            field, field unit x um^3); ``specs`` (each spec as a dict);
            ``vessels`` (boolean mask or None).
        """
        lat = self.lattice
        return {
            "time_min": float(self.time),
            "names": list(self.names),
            "units": [s.unit for s in self.specs],
            "values": self.values.copy(),
            "dims": ("field",) + lat.axes,
            "coords_um": {name: lat.centers(a) for a, name in enumerate(lat.axes)},
            "dx_um": lat.dx,
            "origin_um": tuple(lat.origin),
            "shape": tuple(lat.shape),
            "splitting": self.splitting,
            "total": self.total(),
            "specs": [s.to_dict() for s in self.specs],
            "vessels": self._vmask.reshape(lat.shape).copy() if self._vessels_given else None,
        }
