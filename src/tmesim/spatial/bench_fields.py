"""Benchmarks of the field solver, and the plain-numpy reference it is timed and tested against.

:func:`reference_step` is an independent, vectorised numpy implementation of
the same LOD scheme as :class:`tmesim.spatial.fields.FieldSolver` (Thomas
algorithm along each axis over all lines at once). It is slow but short, and
serves as a test oracle. :func:`bench_diffusion` times both on one problem;
:func:`bench_physicell_mesh` times the solver on PhysiCell's 3D
cancer-immune mesh; :func:`coarse_step_error` measures the field error of
coarse steps against a fine-step reference. ``tmesim bench spatial``
(:mod:`.bench_engine`) runs :func:`bench_diffusion` as its part (a).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from .fields import FieldSolver, FieldSpec
from .lattice import Lattice

# --------------------------------------------------------------------------
# numpy reference
# --------------------------------------------------------------------------


def _thomas_lines(x: np.ndarray, r: float, b: np.ndarray, rhs_lo: float, rhs_hi: float,
                  weight: np.ndarray) -> np.ndarray:
    """Solve ``-r x[i-1] + b[..., i] x[i] - r x[i+1] = x[..., i] (+ rhs_lo at 0, + rhs_hi at n-1)`` on every line.

    ``x`` is ``(lines, n)``; ``b`` and ``weight`` are ``(n,)`` or ``(lines, n)``.
    Each line is then rescaled so that ``sum(weight * x) = sum(rhs)`` (its
    mass balance, as the solver does). Returns a new array.
    """
    x = x.copy()
    n = x.shape[1]
    b = np.broadcast_to(b, x.shape)
    x[:, 0] += rhs_lo
    x[:, n - 1] += rhs_hi
    total = x.sum(axis=1)
    cp = np.empty(x.shape)
    den = b[:, 0].copy()
    cp[:, 0] = -r / den
    x[:, 0] = x[:, 0] / den
    for i in range(1, n):
        den = b[:, i] + r * cp[:, i - 1]
        cp[:, i] = -r / den
        x[:, i] = (x[:, i] + r * x[:, i - 1]) / den
    for i in range(n - 2, -1, -1):
        x[:, i] = x[:, i] - cp[:, i] * x[:, i + 1]
    balance = (np.broadcast_to(weight, x.shape) * x).sum(axis=1)
    scale = np.divide(total, balance, out=np.ones_like(total), where=balance > 0)
    return x * scale[:, None]


def reference_step(values: np.ndarray, lattice: Lattice, specs, dt: float, splitting: str = "mixed",
                   secretion=None, target=None, export=None, uptake=None, vessels=None) -> np.ndarray:
    """One step of the solver's scheme in plain numpy (the test oracle); returns new values.

    Parameters
    ----------
    values
        ``(n_fields, *lattice.shape)`` concentrations (not modified).
    lattice, specs
        As for :class:`~tmesim.spatial.fields.FieldSolver`.
    dt
        Step, min.
    splitting
        ``"mixed"``, ``"sweep"``, ``"lie"`` or ``"strang"``.
    secretion, target, export, uptake
        Source arrays as for :meth:`FieldSolver.step` (1/min, field unit,
        field unit/min, 1/min) or None.
    vessels
        Boolean mask of ``lattice.shape`` or None.
    """
    F = len(specs)
    shape = lattice.shape
    c = np.array(values, dtype=float).reshape((F,) + shape)
    zero = np.zeros((F,) + shape)
    S = zero if secretion is None else np.asarray(secretion, float)
    T = zero if target is None else np.asarray(target, float)
    E = zero if export is None else np.asarray(export, float)
    U = zero if uptake is None else np.asarray(uptake, float)
    vm = np.zeros(shape, bool) if vessels is None else np.asarray(vessels, bool)
    kv = np.array([s.vessel_supply_rate for s in specs])[:, None] * vm.reshape(1, -1)
    K = (S + U).reshape(F, -1) + kv
    Gv = (kv * np.array([s.vessel_plasma_value for s in specs])[:, None]).reshape(c.shape)
    G = (S * T + E).reshape(c.shape) + Gv
    K = K.reshape(c.shape)
    active = [a for a in range(lattice.ndim - 1, -1, -1) if shape[a] > 1] or [lattice.ndim - 1]
    d = len(active)

    def react(c, h):
        return (c + h * G) / (1.0 + h * K)

    if splitting == "lie":
        c = react(c, dt)
    elif splitting == "strang":
        c = react(c, 0.5 * dt)
    elif splitting == "mixed":
        # the cells' sources first; the vessels' supply stays in the sweeps with the vessel sink
        c = c + dt * (G - Gv)
    kfrac = dt / d if splitting in ("sweep", "mixed") else 0.0
    gfrac = dt / d if splitting in ("sweep", "mixed") else 0.0
    Gs = Gv if splitting == "mixed" else G
    for f, s in enumerate(specs):
        r = dt * s.diffusion / lattice.dx ** 2
        faces = s.dirichlet_faces
        if s.boundary == "dirichlet" and faces is None:
            faces = tuple(f"{lattice.axes[a]}_{side}" for a in active for side in ("min", "max"))
        faces = faces if s.boundary == "dirichlet" else ()
        for a in active:
            n = shape[a]
            name = lattice.axes[a]
            dlo = f"{name}_min" in faces
            dhi = f"{name}_max" in faces
            nb = np.full(n, 2.0)
            nb[0] -= 1
            nb[-1] -= 1
            b = 1.0 + dt * s.decay / d + r * nb
            b[0] += 2 * r * dlo
            b[-1] += 2 * r * dhi
            x = np.moveaxis(c[f], a, -1)
            lines_shape = x.shape
            x = x.reshape(-1, n)
            kline = kfrac * np.moveaxis(K[f], a, -1).reshape(-1, n)
            bb = b[None, :] + kline
            weight = 1.0 + dt * s.decay / d + kline
            weight[:, 0] += 2 * r * dlo
            weight[:, -1] += 2 * r * dhi
            rhs = x + gfrac * np.moveaxis(Gs[f], a, -1).reshape(-1, n)
            y = _thomas_lines(rhs, r, bb, 2 * r * s.boundary_value * dlo, 2 * r * s.boundary_value * dhi, weight)
            c[f] = np.moveaxis(y.reshape(lines_shape), -1, a)
    if splitting == "strang":
        c = react(c, 0.5 * dt)
    return c


# --------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------


def _tumor_sources(lattice: Lattice, n_fields: int, seed: int = 0, radius_fraction: float = 0.3):
    """Uptake and secretion of a ball of cells in the middle of the domain (rates per voxel).

    Each voxel within ``radius_fraction`` of the half-extent from the centre holds
    0-3 cells; a cell takes up at 10/min x V_cell/V_voxel (PhysiCell's tumour
    oxygen uptake, V_cell = 2494 um^3) and secretes 10/min x V_cell/V_voxel
    towards 1 (PhysiCell's immunostimulatory factor); the fields alternate
    between consumed (even) and secreted (odd).
    """
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(lattice.centers(a) - lattice.origin[a] - lattice.extent[a] / 2
                          for a in range(lattice.ndim)), indexing="ij")
    rr = np.sqrt(sum(g ** 2 for g in grids))
    inside = rr < radius_fraction * min(lattice.extent) / 2
    cells = np.where(inside, rng.integers(0, 4, size=lattice.shape), 0)
    per_cell = 10.0 * 2494.0 / lattice.voxel_volume
    U = np.zeros((n_fields,) + lattice.shape)
    S = np.zeros_like(U)
    T = np.zeros_like(U)
    for f in range(n_fields):
        if f % 2 == 0:
            U[f] = per_cell * cells
        else:
            S[f] = per_cell * cells
            T[f] = 1.0
    return S, T, U


def _bench_specs(n_fields: int, ndim: int):
    """Fields alternating oxygen-like (D 1e5, decay 0.1, Dirichlet 38) and cytokine-like (D 1e3, decay 0.016)."""
    specs = []
    for f in range(n_fields):
        if f % 2 == 0:
            specs.append(FieldSpec(f"oxygen_{f}", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0,
                                   initial_value=38.0))
        else:
            specs.append(FieldSpec(f"factor_{f}", "1", 1e3, 0.016))
    return specs


def _threading(threads):
    import numba

    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(int(threads))
    return previous


def bench_diffusion(shape, n_fields: int, steps: int, dt: float, threads: int | None = None,
                    reference_steps: int | None = None, splitting: str = "mixed", dx: float = 20.0,
                    seed: int = 0) -> dict[str, Any]:
    """Time the compiled solver and the numpy reference of the same scheme on one problem.

    The problem: ``n_fields`` fields alternating oxygen-like (D = 1e5 um^2/min,
    decay 0.1/min, Dirichlet 38 on every face) and cytokine-like (D = 1e3,
    decay 0.016/min, zero flux), with a ball of cells (0-3 per voxel) in the
    middle that takes up the first kind and secretes the second.

    Parameters
    ----------
    shape
        Lattice shape, ``(ny, nx)`` or ``(nz, ny, nx)``.
    n_fields
        Number of fields.
    steps
        Steps of the compiled solver that are timed (after one warm-up step).
    dt
        Step, min.
    threads
        numba threads for the solver (default: numba's); the numpy
        reference runs on one thread (numpy's element-wise operations).
    reference_steps
        Steps of the numpy reference (default ``min(steps, 3)``); both start
        from the same state and their agreement after that many steps is
        reported.
    splitting
        The solver's splitting.
    dx
        Voxel edge, um.
    seed
        Seed of the cell placement.

    Returns
    -------
    dict
        ``shape``, ``n_fields``, ``n_voxels``, ``steps``, ``dt``,
        ``threads``, ``splitting``, ``solver_ms_per_step``,
        ``solver_updates_per_s`` (voxel x field updates per wall second),
        ``reference_ms_per_step``, ``reference_updates_per_s``,
        ``speedup`` (solver over reference throughput), ``max_rel_diff``
        (solver vs reference after ``reference_steps``, relative to the
        largest value), ``warmup_s`` (first step, JIT compile or cache
        load), ``load_avg`` (1-minute load average at the end).
    """
    import numba

    lattice = Lattice(tuple(shape), dx)
    specs = _bench_specs(n_fields, lattice.ndim)
    S, T, U = _tumor_sources(lattice, n_fields, seed)
    k_ref = int(reference_steps if reference_steps is not None else min(steps, 3))
    previous = _threading(threads)
    try:
        solver = FieldSolver(lattice, specs, splitting=splitting)
        t0 = time.perf_counter()
        solver.step(dt, S, T, None, U)
        warmup_s = time.perf_counter() - t0
        start = solver.values.copy()
        ref = start.copy()
        t0 = time.perf_counter()
        for _ in range(k_ref):
            ref = reference_step(ref, lattice, specs, dt, splitting, S, T, None, U)
        ref_s = time.perf_counter() - t0
        for _ in range(k_ref):
            solver.step(dt, S, T, None, U)
        diff = float(np.max(np.abs(solver.values - ref)) / max(np.max(np.abs(ref)), 1e-300))
        t0 = time.perf_counter()
        for _ in range(steps):
            solver.step(dt, S, T, None, U)
        sol_s = time.perf_counter() - t0
        used_threads = numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)
    work = lattice.n_voxels * n_fields
    out = {
        "shape": tuple(lattice.shape), "n_fields": n_fields, "n_voxels": lattice.n_voxels, "steps": steps,
        "dt": dt, "threads": used_threads, "splitting": splitting,
        "solver_ms_per_step": 1e3 * sol_s / steps,
        "solver_updates_per_s": work * steps / sol_s,
        "reference_steps": k_ref,
        "reference_ms_per_step": 1e3 * ref_s / max(k_ref, 1),
        "reference_updates_per_s": work * k_ref / ref_s if k_ref else math.nan,
        "max_rel_diff": diff,
        "warmup_s": warmup_s,
        "load_avg": os.getloadavg()[0],
    }
    out["speedup"] = out["solver_updates_per_s"] / out["reference_updates_per_s"] if k_ref else math.nan
    return out


# --------------------------------------------------------------------------
# PhysiCell's 3D cancer-immune mesh
# --------------------------------------------------------------------------

#: PhysiCell 1.14.2 cancer-immune sample: 75^3 voxels of 20 um ([-750, 750]^3 um).
PHYSICELL_SHAPE = (75, 75, 75)
PHYSICELL_DX = 20.0
#: BioFVM alone on that mesh, this VM, 2 fields (shared/research/physicell.md section 5), ms per 0.01-min step.
PHYSICELL_MS_PER_STEP = {1: 40.6, 2: 27.2}


def physicell_problem(seed: int = 0, sparse: bool = False):
    """The mesh, fields and cell sources of PhysiCell's cancer-immune sample, for benchmarks.

    Fields: oxygen (D = 1e5 um^2/min, decay 0.1/min, Dirichlet 38 mmHg on
    every face, start 38) and the immunostimulatory factor (D = 1e3,
    decay 0.016/min, zero flux, start 0). Cells, as many as in the sample at
    t = 0: a tumour ball of radius 285 um (0-3 cells per 20-um voxel, about
    18,300 cells, each taking up oxygen at 10/min and secreting the factor
    at 10/min towards 1, scaled by V_cell/V_voxel = 2494/8000, as in the
    sample) and 7,500 T cells scattered over the shell 285-425 um from the
    centre that take up the factor at 1/min each (an assumption: the
    sample's immune cells respond to the factor rather than consume it).

    Parameters
    ----------
    seed
        Seed of the cell placement.
    sparse
        Return the sources per cell (``voxels`` and ``(2, n_cells)``
        arrays) instead of dense per-voxel arrays.

    Returns
    -------
    tuple
        ``(lattice, specs, sources)``: sources is a dict of keyword
        arguments for :meth:`FieldSolver.step` (``secretion``, ``target``,
        ``uptake`` and, when sparse, ``voxels``).
    """
    rng = np.random.default_rng(seed)
    lattice = Lattice(PHYSICELL_SHAPE, PHYSICELL_DX, origin=(-750.0,) * 3)
    specs = [FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0),
             FieldSpec("immunostimulatory_factor", "1", 1e3, 0.016)]
    z, y, x = np.meshgrid(*(lattice.centers(a) for a in range(3)), indexing="ij")
    rr = np.sqrt(x ** 2 + y ** 2 + z ** 2).ravel()
    per_voxel = np.where(rr < 285.0, rng.integers(0, 4, size=rr.size), 0)
    tumor_vox = np.repeat(np.arange(rr.size), per_voxel)
    shell = np.flatnonzero((rr >= 285.0) & (rr < 425.0))
    t_vox = np.sort(rng.choice(shell, 7500))
    scale = 2494.0 / lattice.voxel_volume
    n_t, n_i = tumor_vox.size, t_vox.size
    vox = np.concatenate([tumor_vox, t_vox])
    S = np.zeros((2, n_t + n_i))
    T = np.zeros_like(S)
    U = np.zeros_like(S)
    U[0, :n_t] = 10.0 * scale
    S[1, :n_t] = 10.0 * scale
    T[1, :n_t] = 1.0
    U[1, n_t:] = 1.0 * scale
    if sparse:
        return lattice, specs, {"secretion": S, "target": T, "uptake": U, "voxels": vox}
    dense = {}
    for key, arr in (("secretion", S), ("uptake", U)):
        d = np.zeros((2, lattice.n_voxels))
        for f in range(2):
            d[f] = np.bincount(vox, weights=arr[f], minlength=lattice.n_voxels)
        dense[key] = d.reshape((2,) + lattice.shape)
    st = np.zeros((2, lattice.n_voxels))
    for f in range(2):
        st[f] = np.bincount(vox, weights=S[f] * T[f], minlength=lattice.n_voxels)
    sec = dense["secretion"].reshape(2, -1)
    dense["target"] = np.divide(st, sec, out=np.zeros_like(st), where=sec > 0).reshape((2,) + lattice.shape)
    return lattice, specs, dense


def bench_physicell_mesh(dts=(0.01, 0.1, 1.0, 6.0), steps: int = 50, threads: int | None = None,
                         splitting: str = "mixed", sparse: bool = False) -> list[dict[str, Any]]:
    """Time the solver on PhysiCell's cancer-immune mesh (:func:`physicell_problem`) at several steps.

    Parameters
    ----------
    dts
        Steps, min.
    steps
        Timed steps per dt (after one warm-up step).
    threads
        numba threads (default numba's).
    splitting
        The solver's splitting.
    sparse
        Pass the sources per cell (``voxels=``) instead of dense arrays.

    Returns
    -------
    list of dict
        Per dt: ``dt``, ``threads``, ``splitting``, ``sparse``, ``ms_per_step``, ``updates_per_s``,
        ``physicell_ms_per_step`` (BioFVM at dt = 0.01 with the same
        threads, measured on this VM), ``speedup_per_step`` (BioFVM ms over
        ours), ``wall_s_per_sim_min`` (ours) and
        ``physicell_wall_s_per_sim_min`` (BioFVM at its 0.01-min step),
        ``load_avg``.
    """
    import numba

    lattice, specs, src = physicell_problem(sparse=sparse)
    previous = _threading(threads)
    rows = []
    try:
        n_threads = numba.get_num_threads()
        solver = FieldSolver(lattice, specs, splitting=splitting)
        solver.step(0.01, **src)
        for dt in dts:
            solver.step(dt, **src)  # coefficients for this dt
            t0 = time.perf_counter()
            for _ in range(steps):
                solver.step(dt, **src)
            ms = 1e3 * (time.perf_counter() - t0) / steps
            pc = PHYSICELL_MS_PER_STEP.get(n_threads, math.nan)
            rows.append({
                "dt": dt, "threads": n_threads, "splitting": splitting, "sparse": sparse, "ms_per_step": ms,
                "updates_per_s": lattice.n_voxels * len(specs) / (ms * 1e-3),
                "physicell_ms_per_step": pc, "speedup_per_step": pc / ms,
                "wall_s_per_sim_min": ms * 1e-3 / dt, "physicell_wall_s_per_sim_min": pc * 1e-3 / 0.01,
                "load_avg": os.getloadavg()[0],
            })
    finally:
        numba.set_num_threads(previous)
    return rows


def _rel_l2(c: np.ndarray, ref: np.ndarray) -> list[float]:
    return [float(np.linalg.norm(c[f] - ref[f]) / np.linalg.norm(ref[f])) for f in range(ref.shape[0])]


def _rel_linf(c: np.ndarray, ref: np.ndarray) -> list[float]:
    return [float(np.max(np.abs(c[f] - ref[f])) / np.max(np.abs(ref[f]))) for f in range(ref.shape[0])]


def coarse_step_error(dts=(0.01, 0.1, 1.0, 6.0), reference_dt: float = 0.001, duration: float = 6.0,
                      splittings=("sweep", "lie", "strang"), reference_splitting: str = "sweep",
                      check_splitting: str | None = "lie", problem=None, threads: int | None = None) -> dict[str, Any]:
    """Field error of coarse steps against a fine-step reference, cell sources held fixed.

    Every run starts from the specs' initial values and advances
    ``duration`` minutes (``FieldSolver.advance``) with the same sources; the
    error of each field at the end is ``||c - c_ref||_2 / ||c_ref||_2``
    (``rel_l2``) and ``max|c - c_ref| / max|c_ref|`` (``rel_linf``).

    Parameters
    ----------
    dts
        Coarse steps, min.
    reference_dt
        Fine step of the reference, min.
    duration
        Simulated minutes (one 6-min cell step by default).
    splittings
        Splittings measured at each coarse step.
    reference_splitting
        Splitting of the reference run.
    check_splitting
        A second splitting run at ``reference_dt``; its difference from the
        reference (``reference_spread``) bounds the reference's own error.
        None to skip.
    problem
        ``(lattice, specs, sources)``; default :func:`physicell_problem` (sparse sources).
    threads
        numba threads.

    Returns
    -------
    dict
        ``reference_dt``, ``reference_splitting``, ``duration``, ``fields``,
        ``reference_s`` (wall time of the reference), ``reference_spread``
        (rel_l2 per field, or None), ``load_avg``, and ``rows``: per
        (splitting, dt) ``rel_l2``, ``rel_linf`` (lists over fields),
        ``steps`` and ``wall_s``.
    """
    import numba

    lattice, specs, src = problem if problem is not None else physicell_problem(sparse=True)
    previous = _threading(threads)
    try:
        ref = FieldSolver(lattice, specs, splitting=reference_splitting)
        t0 = time.perf_counter()
        ref.advance(duration, reference_dt, **src)
        ref_s = time.perf_counter() - t0
        cref = ref.values.copy()
        spread = None
        if check_splitting is not None:
            other = FieldSolver(lattice, specs, splitting=check_splitting)
            other.advance(duration, reference_dt, **src)
            spread = _rel_l2(other.values, cref)
        rows = []
        for splitting in splittings:
            for dt in dts:
                s = FieldSolver(lattice, specs, splitting=splitting)
                t0 = time.perf_counter()
                n = s.advance(duration, dt, **src)
                wall = time.perf_counter() - t0
                rows.append({"splitting": splitting, "dt": dt, "steps": n, "wall_s": wall,
                             "rel_l2": _rel_l2(s.values, cref), "rel_linf": _rel_linf(s.values, cref)})
    finally:
        numba.set_num_threads(previous)
    return {"reference_dt": reference_dt, "reference_splitting": reference_splitting, "duration": duration,
            "fields": [s.name for s in specs], "reference_s": ref_s, "reference_spread": spread,
            "load_avg": os.getloadavg()[0], "rows": rows}


# --------------------------------------------------------------------------
# lag of a vessel-fed tissue behind a falling plasma level
# --------------------------------------------------------------------------

def _vessel_mask(shape, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    mask = np.zeros(n, bool)
    mask[rng.choice(n, max(1, int(round(share * n))), replace=False)] = True
    return mask.reshape(shape)


def plasma_lag(shape, dt: float, *, until: bool = True, field_dt: float | None = None, seed: int = 0,
               vessel_share: float = 0.02, k_v: float = 10.0, half_life: float = 360.0, diffusion: float = 1e6,
               duration: float = 240.0) -> dict[str, float]:
    """How far the mean of a vessel-fed field lags a plasma level that falls exponentially (no cells).

    A share ``vessel_share`` of the voxels (placed at random from ``seed``) are vessels exchanging
    ``k_v (c_p - c)`` (k_v in 1/min); the field has ``diffusion`` um^2/min (1e6: near uniform) on 20-um
    voxels and zero-flux faces; ``c_p = c0 exp(-k_el t)`` with ``k_el = ln 2 / half_life`` (half_life in
    min). The plasma is set once per step of ``dt`` (min), as the engine does, and the field advanced over
    ``dt`` in sub-steps of ``field_dt`` (min, default ``dt``): with ``until`` the sub-steps see the plasma
    at their ends (:meth:`FieldSolver.set_plasma`), without it the plasma is held at the step's start value.

    Returns
    -------
    dict
        ``ratio``: mean field / plasma at the steps' ends, settled; ``tau`` (min): the lag
        ``ln(ratio) / k_el``; ``tau_exact`` (min): the well-mixed ODE's, ``-ln(1 - k_el / a) / k_el`` with
        ``a = f k_v`` (f the realised vessel share); ``excess_steps``: ``(tau - tau_exact) / dt``.
    """
    mask = _vessel_mask(shape, vessel_share, seed)
    k_el = math.log(2.0) / half_life
    a = float(mask.mean()) * k_v
    c0 = 100.0
    spec = FieldSpec("drug", "mg/L", diffusion, 0.0, vessel_supply_rate=k_v, vessel_plasma_value=c0,
                     initial_value=c0 * a / (a - k_el))
    solver = FieldSolver(Lattice(tuple(shape), 20.0), [spec], vessels=mask)
    ratios = []
    for i in range(max(6, int(round(duration / dt)))):
        t = i * dt
        solver.set_plasma([c0 * math.exp(-k_el * t)], until=[c0 * math.exp(-k_el * (t + dt))] if until else None)
        solver.advance(dt, field_dt or dt)
        ratios.append(solver.mean()[0] / (c0 * math.exp(-k_el * (t + dt))))
    ratio = float(np.mean(ratios[-5:]))
    tau = math.log(ratio) / k_el
    tau_exact = -math.log(1.0 - k_el / a) / k_el
    return {"ratio": ratio, "tau": tau, "tau_exact": tau_exact, "excess_steps": (tau - tau_exact) / dt}


def line_mixing_lag(shape, dt: float, *, seed: int = 0, vessel_share: float = 0.02, k_v: float = 10.0,
                    half_life: float = 360.0, duration: float = 240.0) -> float:
    """:func:`plasma_lag`'s ``excess_steps`` (plasma at the steps' ends) in the model of infinitely fast
    diffusion within each sweep: the sweep along an axis makes every line of that axis uniform, its vessels
    exchanging implicitly with the line's mean at ``k_v dt / d`` (d active axes). Plain numpy, independent of
    the solver: it isolates what the locally-one-dimensional splitting does to a vessel's exchange (a vessel
    exchanges against its own line, not the domain). ``dt`` in min, ``k_v`` 1/min, ``half_life`` min.
    """
    mask = _vessel_mask(shape, vessel_share, seed)
    axes = [ax for ax in reversed(range(len(shape))) if shape[ax] > 1]   # x first, as the solver sweeps
    g = dt * k_v / len(axes)
    k_el = math.log(2.0) / half_life
    a = float(mask.mean()) * k_v
    c0 = 100.0
    c = np.full(tuple(shape), c0 * a / (a - k_el))
    ratios = []
    for i in range(max(6, int(round(duration / dt)))):
        cp = c0 * math.exp(-k_el * (i + 1) * dt)
        for ax in axes:
            s = c.sum(axis=ax, keepdims=True)
            m = g * mask.sum(axis=ax, keepdims=True)
            c = np.broadcast_to((s + m * cp) / (shape[ax] + m), c.shape).copy()
        ratios.append(c.mean() / cp)
    tau = math.log(float(np.mean(ratios[-5:]))) / k_el
    return (tau + math.log(1.0 - k_el / a) / k_el) / dt
