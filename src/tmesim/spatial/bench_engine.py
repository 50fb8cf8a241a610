"""Benchmarks of the spatial engine (``tmesim bench spatial``), each against plain numpy in the same run.

* :func:`bench_engine`: cell-steps per second of :class:`~.engine.SpatialRun`
  on a 2D tumour of a given number of cells (:func:`engine_scenario`), against
  the numpy step of :mod:`.reference` from the same state (what both computed
  is compared), with the time of each phase of the step and the memory per
  cell.
* :func:`memory_per_cell`: bytes of every per-cell array and per-step buffer
  at the run's capacity, and what the fields and the lattice add.
* :func:`bench_physicell`: wall time per simulated minute on the shipped
  ``physicell_cancer_immune_3d`` scenario, the error of one cell step's fields
  against steps ten times shorter, and, when PhysiCell's benchmark script is
  at hand, PhysiCell 1.14.2's cancer-immune sample over the same simulated
  time on this machine in the same run.
* :func:`bench_spatial`: all of it plus the diffusion benchmark of
  :mod:`.bench_fields` (what the CLI prints).

Absolute times depend on the machine and on what else runs on it: every result
carries the load average, the threads and the CPU time; compare ratios.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

MIN_PER_DAY = 1440.0
#: Engine benchmark sizes (cells, 2D): full and ``--quick``.
FULL_CELLS = (100_000, 1_000_000)
QUICK_CELLS = (10_000, 100_000)
#: Diffusion benchmark lattices (10 fields each): full and ``--quick``.
FULL_GRIDS = ((500, 500), (100, 100, 100))
QUICK_GRIDS = ((200, 200), (40, 40, 40))
#: The scenario the PhysiCell comparison runs.
PHYSICELL_SCENARIO = "physicell_cancer_immune_3d"
#: Immune cells per tumour cell in the benchmark tumour (the parameter set's initial infiltrate, summed).
_IMMUNE_PER_TUMOR = 0.111


# --------------------------------------------------------------------------
# machine and process
# --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine a figure was measured on: CPU model, cores, load, numba threads and versions."""
    import numba

    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        found = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = found.group(1).strip() if found else model
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu_model": model, "cpus": os.cpu_count(), "load_avg": list(os.getloadavg()),
            "numba_threads": numba.get_num_threads(), "threading_layer": _threading_layer(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}


def _threading_layer() -> str:
    import numba

    try:
        return str(numba.threading_layer())
    except ValueError:  # no parallel kernel has run yet
        return str(numba.config.THREADING_LAYER)


def _status_kb() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, kB (empty where /proc is not available)."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS (Linux ``clear_refs``); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class _Threads:
    """numba threads set for a block, restored after it."""

    def __init__(self, threads: int | None):
        self.threads = threads

    def __enter__(self):
        import numba

        self.previous = numba.get_num_threads()
        if self.threads is not None:
            numba.set_num_threads(int(self.threads))
        return numba.get_num_threads()

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.previous)


# --------------------------------------------------------------------------
# the engine benchmark
# --------------------------------------------------------------------------


def engine_scenario(n_cells: int, seed: int = 0):
    """A 2D spatial scenario of about ``n_cells`` cells: the flagship parameter set, one control arm.

    A disc of tumour cells (one per 20-um site) at the centre of a square domain,
    the parameter set's initial immune infiltrate (about 0.11 immune cells per
    tumour cell, 90% of them macrophages) in a ring around it wide enough to
    hold it, 20 um of free tissue beyond that on each side, vessels on 3% of
    the sites outside the tumour, 6-min cell steps (oxygen at 0.1 min, the other
    fields at 1 min: the defaults), no snapshots or checkpoints.
    """
    from ..scenario import build_scenario

    tumor = n_cells / (1.0 + _IMMUNE_PER_TUMOR)
    radius = math.sqrt(tumor / math.pi)  # sites
    margin = 2.0 * _IMMUNE_PER_TUMOR * tumor / (2.0 * math.pi * radius)  # a ring twice the infiltrate's area
    side = int(math.ceil(2.0 * (radius + margin))) + 2
    site = 20.0
    return build_scenario({
        "name": f"bench_spatial_{n_cells}", "parameter_set": "mouse_b16_icb_ferroptosis", "scale": "spatial",
        "days": 14, "seed": seed,
        "description": f"Benchmark: a 2D tumour of about {n_cells} cells (tmesim bench spatial).",
        "spatial": {"dimensions": 2, "domain_um": [side * site, side * site], "site_um": site, "dt_minutes": 6,
                    "geometry": {"kind": "spheroid", "radius_um": radius * site, "immune_margin_um": margin * site},
                    "vessels": {"density": 0.03, "placement": "outside"}, "snapshot_interval_hours": 0,
                    "checkpoint_interval_hours": 0},
        "arms": [{"name": "control"}],
    }, where="engine_scenario")


def memory_per_cell(sim) -> dict[str, Any]:
    """Bytes of the per-cell arrays and per-step buffers of ``sim`` as allocated, and per cell.

    ``cell_table_bytes``: the cell table's columns and intracellular states
    (:class:`~.cells.Cells`) for every slot of its capacity (which doubles as
    it fills); ``buffer_bytes``: the per-step buffers (``decide``'s outputs and
    scratch, births), allocated for the slots in use plus an eighth;
    ``per_slot_bytes``: table and buffers per slot; ``per_cell_bytes``: all
    of it over the live cells;
    ``occupancy_bytes_per_site``, ``field_bytes`` (every array the field solver
    holds) and ``field_bytes_per_voxel_per_field`` (the part that grows with the
    lattice, not with the cells).
    """
    from . import cells as C

    c = sim.cells
    table = sum(getattr(c, name).nbytes for name in [*C.COLUMNS, "x"])
    buffers = _arrays_bytes_in(getattr(sim, "_buf", {})) + _arrays_bytes_in(getattr(sim, "_births", {}))
    n_live = int(np.count_nonzero(c.kind[:c.n] != C.FREE))
    fields = _arrays_bytes(sim.fields)
    F = len(sim.fields.specs)
    return {
        "capacity": int(c.capacity), "cells": n_live, "cell_table_bytes": int(table), "buffer_bytes": int(buffers),
        "table_bytes_per_slot": table / c.capacity, "buffer_slots": int(getattr(sim, "_buf_cap", 0)),
        "buffer_bytes_per_slot": buffers / max(getattr(sim, "_buf_cap", 1), 1),
        "per_slot_bytes": table / c.capacity + buffers / max(getattr(sim, "_buf_cap", 1), 1),
        "per_cell_bytes": (table + buffers) / max(n_live, 1),
        "occupancy_bytes_per_site": c.occupancy.itemsize, "sites": int(sim.n_sites), "field_bytes": int(fields),
        "fields": F, "field_bytes_per_voxel_per_field": fields / (sim.n_sites * F),
    }


def _arrays_bytes(obj) -> int:
    """Bytes of the numpy arrays an object holds (attributes, and arrays in dicts, lists and tuples)."""
    return _arrays_bytes_in(vars(obj))


def _arrays_bytes_in(container) -> int:
    """Bytes of the numpy arrays in a dict, list or tuple (and up to three levels of containers inside it), each buffer counted once."""
    seen, total = set(), 0

    def visit(v, depth):
        nonlocal total
        if isinstance(v, np.ndarray):
            base = v if v.base is None else v.base
            if id(base) not in seen and isinstance(base, np.ndarray):
                seen.add(id(base))
                total += base.nbytes
        elif depth < 3 and isinstance(v, dict):
            for w in v.values():
                visit(w, depth + 1)
        elif depth < 3 and isinstance(v, (list, tuple)):
            for w in v:
                visit(w, depth + 1)

    visit(container, -1)
    return total


def _start_timed(scenario, warmup: int):
    """A run of ``scenario`` stepped ``warmup`` times; returns it, its cell slots before the warm-up, and the
    set-up and warm-up wall times (s)."""
    from .engine import new_run

    t = time.perf_counter()
    sim = new_run(scenario)
    setup_s = time.perf_counter() - t
    cells0 = int(sim.cells.n)
    t = time.perf_counter()
    for _ in range(warmup):
        sim.step()
    return sim, cells0, setup_s, time.perf_counter() - t


def _copy_state(sim) -> dict[str, Any]:
    from . import cells as C

    c = sim.cells
    state = {name: getattr(c, name)[:c.n].copy() for name in [*C.COLUMNS, "x"]}
    state.update(n=c.n, occupancy=c.occupancy.copy(), fields=sim.fields.values.copy(), step=sim.step_index,
                 counters=sim.counters.copy())
    return state


def reference_step(sim, pre: dict[str, Any]) -> dict[str, Any]:
    """Time the numpy step of :mod:`.reference` from state ``pre`` (taken before ``sim``'s last step)
    and compare it with what that step of the engine computed.

    Returns the reference's wall and CPU seconds per part (``decide``, ``fields``,
    ``apply``) and the comparisons: ``decide_mismatches`` (cells of the reference's
    ``exact`` set whose intents differ, and of ``exact_fate`` whose death or state
    differ), ``decide_max_abs_diff`` (intracellular states, secretion and uptake of
    those cells), ``fields_max_rel_diff`` (each field after the step, relative to
    the field's largest value) and ``apply_identical`` (the cell table after
    :func:`.kernels.apply` and after :func:`.reference.apply_reference`, from the same
    intents and permutation).
    """
    from . import kernels as K
    from . import reference as R

    n = pre["n"]
    F = pre["fields"].shape[0]
    b = sim._buf
    values0 = pre["fields"].reshape(F, -1)
    out: dict[str, Any] = {}
    # decide
    t, c0 = time.perf_counter(), time.process_time()
    ref = R.decide_reference(n, pre["site"], pre["kind"], pre["state"], pre["dead"], pre["antigen"], pre["hits"],
                             pre["uid"], pre["x"], pre["occupancy"], values0, sim.drug_field, sim.offsets, sim.shape3,
                             sim.site_um, sim.dt, sim.seed, pre["step"], sim.rows[0], sim.volume_um3)
    out["decide_s"], out["decide_cpu_s"] = time.perf_counter() - t, time.process_time() - c0
    ex, ef = ref["exact"], ref["exact_fate"]
    eng_intent = b["intent"][:n]
    cols = [K.I_STATE, K.I_DEATH]
    out["decide_exact_cells"], out["decide_fate_cells"] = int(ex.sum()), int(ef.sum())
    out["decide_mismatches"] = int((ref["intent"][ex] != eng_intent[ex]).any(axis=1).sum()
                                   + (ref["intent"][ef][:, cols] != eng_intent[ef][:, cols]).any(axis=1).sum())
    diffs = [np.abs(ref["x_new"][ex] - b["x_new"][:n][ex]).max(initial=0.0)]
    for name in ("export", "uptake"):
        diffs.append(np.abs(ref[name][:, ef] - b[name][:, :n][:, ef]).max(initial=0.0))
    out["decide_max_abs_diff"] = float(max(diffs))
    # fields, from the same start, with the engine's sources
    live = pre["kind"] != -1
    t, c0 = time.perf_counter(), time.process_time()
    # the plasma the step's vessels saw, from its start to its end (no event since its start)
    plasma_start = sim._vessel_plasma(sim._plasma(sim.time - sim.dt))
    fields = R.fields_reference(pre["fields"], sim.lattice, sim.fields.specs, plasma_start,
                                sim.vessels.reshape(sim.lattice.shape), sim.dt,
                                sim.scenario.spatial.field_dt_minutes, pre["site"][live],
                                b["export"][:, :n][:, live], b["uptake"][:, :n][:, live],
                                plasma_until=sim.fields._cpl)
    out["fields_s"], out["fields_cpu_s"] = time.perf_counter() - t, time.process_time() - c0
    eng = sim.fields.values
    scale = np.maximum(np.abs(fields).reshape(F, -1).max(axis=1), 1e-300)
    out["fields_max_rel_diff"] = float((np.abs(eng - fields).reshape(F, -1).max(axis=1) / scale).max())
    # apply: the engine's kernel and the reference on copies of the same table, intents and permutation
    order = np.random.default_rng(np.random.SeedSequence([sim.seed, 0x0DE, pre["step"]])).permutation(n)
    tables = []
    for which in ("engine", "reference"):
        tab = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in pre.items()}
        t, c0 = time.perf_counter(), time.process_time()
        if which == "engine":
            cap = max(n, 1)
            bs, bp, bst = (np.zeros(cap, dtype=np.int64) for _ in range(3))
            nb = K.apply(order, tab["site"], tab["kind"], tab["state"], tab["dead"], tab["antigen"], tab["hits"],
                         tab["heading"], tab["killer"], tab["delivered"], tab["attacking"], tab["x"], b["x_new"],
                         b["intent"], tab["occupancy"], sim.offsets, *sim.shape3,
                         int(sim.p.transport.contact_hits_to_kill), sim._rest_x, tab["counters"], bs, bp, bst)
            births = list(zip(bs[:nb].tolist(), bp[:nb].tolist(), bst[:nb].tolist()))
            out["apply_engine_s"] = time.perf_counter() - t
        else:
            births = R.apply_reference(order, tab["site"], tab["kind"], tab["state"], tab["dead"], tab["antigen"],
                                       tab["hits"], tab["heading"], tab["killer"], tab["delivered"], tab["attacking"],
                                       tab["x"], b["x_new"], b["intent"], tab["occupancy"], sim.offsets, sim.shape3,
                                       int(sim.p.transport.contact_hits_to_kill), sim._rest_x, tab["counters"])
            out["apply_s"], out["apply_cpu_s"] = time.perf_counter() - t, time.process_time() - c0
        tables.append((tab, births))
    (a, births_a), (r, births_r) = tables
    out["apply_identical"] = bool(births_a == births_r and all(
        np.array_equal(a[k], r[k]) for k in ("site", "kind", "state", "dead", "hits", "heading", "killer", "x",
                                             "occupancy", "counters")))
    out["step_s"] = out["decide_s"] + out["fields_s"] + out["apply_s"]
    out["step_cpu_s"] = out["decide_cpu_s"] + out["fields_cpu_s"] + out["apply_cpu_s"]
    return out


def bench_engine(n_cells: int, steps: int = 3, warmup: int = 1, threads: int | None = None, reference: bool = True,
                 seed: int = 0, scenario=None) -> dict[str, Any]:
    """Cell-steps per second of the spatial engine on a 2D tumour of about ``n_cells`` cells.

    A 200-cell run is stepped first to load the compiled kernels (``jit_s``). The run
    (:func:`engine_scenario`, or ``scenario``) is then built (``setup_s``), stepped ``warmup``
    times (``warmup_s``), then ``steps``
    steps are timed end to end (:meth:`~.engine.SpatialRun.step`: events, decide,
    fields, apply, births, recruitment), with each phase's share. With
    ``reference``, the numpy step of :mod:`.reference` is timed from the state
    before the last timed step and compared with it (:func:`reference_step`);
    ``speedup`` is the engine's cell-steps per wall second over the reference's
    (the reference does not count births, recruitment and events, and does less
    per immune cell, so the ratio is conservative), ``speedup_cpu`` the same per
    CPU second. Memory: :func:`memory_per_cell`, and the process's resident set
    growth over the run (``rss_growth_per_cell_bytes``: current; ``peak_rss_growth_per_cell_bytes``:
    peak, Linux only), which includes the fields and the lattice.
    """
    from .engine import PHASES, new_run

    with _Threads(threads) as n_threads:
        t = time.perf_counter()
        new_run(engine_scenario(200)).step()  # load the compiled kernels before the memory baseline
        jit_s = time.perf_counter() - t
        rss0 = _status_kb()
        peak_ok = _reset_peak()
        sim, cells0, setup_s, warmup_s = _start_timed(
            scenario if scenario is not None else engine_scenario(n_cells, seed), warmup)
        sim.phase_seconds = dict.fromkeys(PHASES, 0.0)
        wall = cpu = 0.0
        cell_steps = 0
        pre = None
        for k in range(steps):
            if reference and k == steps - 1:
                pre = _copy_state(sim)
            live = int(np.count_nonzero(sim.cells.kind[:sim.cells.n] != -1))
            t, c = time.perf_counter(), time.process_time()
            sim.step()
            wall += time.perf_counter() - t
            cpu += time.process_time() - c
            cell_steps += live
        rss1 = _status_kb()
        mem = memory_per_cell(sim)
        load = os.getloadavg()
        out: dict[str, Any] = {
            "cells": mem["cells"], "cells_at_start": cells0, "sites": int(sim.n_sites),
            "lattice": list(sim.lattice.shape),
            "fields": len(sim.fields.specs), "steps": steps, "dt_minutes": sim.dt, "threads": n_threads,
            "jit_s": jit_s, "setup_s": setup_s, "warmup_s": warmup_s, "wall_s": wall, "cpu_s": cpu,
            "s_per_step": wall / steps, "cell_steps_per_s": cell_steps / wall,
            "cpu_s_per_step": cpu / steps,
            "phase_s_per_step": {k: v / steps for k, v in sim.phase_seconds.items()},
            "memory": mem,
            "rss_growth_per_cell_bytes": 1024.0 * (rss1.get("VmRSS", 0) - rss0.get("VmRSS", 0)) / mem["cells"]
            if rss0 else math.nan,
            "peak_rss_growth_per_cell_bytes": 1024.0 * (rss1.get("VmHWM", 0) - rss0.get("VmRSS", 0)) / mem["cells"]
            if (rss0 and peak_ok) else math.nan,
            "load_avg": list(load),
        }
        days14 = 14.0 * MIN_PER_DAY / sim.dt
        out["projection_14_days_h"] = days14 * out["s_per_step"] / 3600.0
        if reference:
            ref = reference_step(sim, pre)
            out["reference"] = ref
            ref_rate = pre_cells(pre) / ref["step_s"]
            out["reference_cell_steps_per_s"] = ref_rate
            out["speedup"] = out["cell_steps_per_s"] / ref_rate
            out["speedup_cpu"] = (cell_steps / cpu) / (pre_cells(pre) / ref["step_cpu_s"])
            ph = out["phase_s_per_step"]
            out["speedup_by_phase"] = {"decide": ref["decide_s"] / max(ph["decide"], 1e-12),
                                       "fields": ref["fields_s"] / max(ph["fields"], 1e-12),
                                       "apply": ref["apply_s"] / max(ph["apply"], 1e-12)}
            out["load_avg_after_reference"] = list(os.getloadavg())
    return out


def pre_cells(pre: dict[str, Any]) -> int:
    """Live cells in a state copied by :func:`_copy_state`."""
    return int(np.count_nonzero(pre["kind"] != -1))


# --------------------------------------------------------------------------
# PhysiCell's cancer-immune sample
# --------------------------------------------------------------------------


def physicell_script() -> Path | None:
    """PhysiCell's benchmark script (``shared/tools/physicell/bench.sh`` next to the repository), or None.

    Looked for at ``$TMESIM_PHYSICELL_BENCH``, then ``../shared/tools/physicell/bench.sh`` from the
    working directory and from the repository root.
    """
    env = os.environ.get("TMESIM_PHYSICELL_BENCH")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [Path.cwd().parent / "shared/tools/physicell/bench.sh",
                   here.parents[3].parent / "shared/tools/physicell/bench.sh"]
    for path in candidates:
        if path.is_file():
            return path
    return None


def run_physicell(minutes: float, threads: int = 2, script: Path | None = None, timeout_s: float = 3600) -> dict:
    """Run PhysiCell 1.14.2's 3D cancer-immune sample for ``minutes`` simulated minutes (its
    ``bench.sh``: T cells from t = 0, no saves; the first call builds it) and parse its line."""
    script = script or physicell_script()
    if script is None:
        return {"available": False}
    if shutil.which("bash") is None:
        return {"available": False, "error": "no bash"}
    t = time.perf_counter()
    proc = subprocess.run(["bash", str(script), f"{minutes:g}", str(int(threads))], capture_output=True, text=True,
                          timeout=timeout_s)
    total = time.perf_counter() - t
    found = re.search(r"physicell cancer_immune_3D: ([\d.]+) sim-min, (\d+) threads, ([\d.]+) s wall, ([\d.]+) s per",
                      proc.stdout)
    if proc.returncode != 0 or not found:
        return {"available": True, "error": (proc.stderr or proc.stdout)[-500:], "returncode": proc.returncode}
    return {"available": True, "script": str(script), "minutes": float(found.group(1)), "threads": int(found.group(2)),
            "wall_s": float(found.group(3)), "s_per_sim_min": float(found.group(4)),
            "call_s": total, "line": found.group(0), "load_avg": list(os.getloadavg())}


def field_step_error(sim, rtol: float | None = 0.01, reference_substeps: int = 512) -> dict[str, Any]:
    """Error of one cell step's fields, at the scenario's fixed field steps and under error control,
    against a fine reference.

    From ``sim``'s current fields and the sources its last step passed (the ``export``/``uptake`` buffers
    and the cells' sites, held over the step as the engine holds them), copies of its field solver advance
    one cell step: (a) ``fixed``: at the scenario's ``field_dt_minutes``/``oxygen_dt_minutes``; (b)
    ``controlled``: with ``advance(..., rtol=rtol, atol=spatial.field_atol)``, starting from ``sim``'s own
    sub-step hint (skipped when ``rtol`` is None); (c) the reference: every field at ``reference_substeps``
    and half as many equal sub-steps, Richardson-extrapolated (``2 c_n - c_{n/2}``). Per field: ``rel_l2``
    = ``||c - c_ref|| / ||c_ref||`` and ``rel_linf`` = ``max|c - c_ref| / max|c_ref|`` for (a), and
    ``controlled_rel_l2``, ``controlled_substeps`` (all levels) for (b); fields that are 0 everywhere give
    0. ``reference_rel_change`` is ``||c_ref - c_n|| / ||c_ref||``, the size of the extrapolation's
    correction: the reference's own error is below it once the extrapolation converges (at 512 sub-steps
    it was 0.31% for IFN-gamma at t = 18 min against 1024, and <= 0.01% for every other field).
    """
    import dataclasses

    from .fields import FieldSolver

    cfg = sim.scenario.spatial
    b = sim._buf
    c = sim.cells
    n = c.n
    live = c.kind[:n] != -1
    src = dict(export=b["export"][:, :n][:, live], uptake=b["uptake"][:, :n][:, live], voxels=c.site[:n][live])
    out: dict[str, Any] = {"t_min": sim.time, "fields": list(sim.fields.names),
                           "field_dt_minutes": cfg.field_dt_minutes, "oxygen_dt_minutes": cfg.oxygen_dt_minutes, "reference_substeps": reference_substeps,
                           "rtol": rtol, "atol": cfg.field_atol}

    def solver(specs=None, scheme=sim.fields.scheme):
        s = FieldSolver(sim.lattice, specs or sim.fields.specs, vessels=sim.vessels.reshape(sim.lattice.shape),
                        values=sim.fields.values.copy(), scheme=scheme)
        # the plasma over the cell step it advances, as the engine gives it (from now to the step's end)
        s.set_plasma(sim._vessel_plasma(sim._plasma()), until=sim._vessel_plasma(sim._plasma(sim.time + sim.dt)))
        return s

    fixed = solver()
    t = time.perf_counter()
    fixed.advance(sim.dt, cfg.field_dt_minutes, **src)
    out["fixed_s"] = time.perf_counter() - t
    out["scheme"] = fixed.scheme
    out["krylov_iterations"] = [int(v) for v in fixed.krylov_iterations]
    from .reference import field_substeps

    out["fixed_substeps"] = field_substeps(sim.dt, cfg.field_dt_minutes, sim.fields.specs)
    plain = [dataclasses.replace(s, dt_max=None) for s in sim.fields.specs]
    levels = []
    t = time.perf_counter()
    for m in (reference_substeps // 2, reference_substeps):
        s = solver(plain, "lod")
        s.advance(sim.dt, sim.dt / m, **src)
        levels.append(s.values.copy())
    out["reference_s"] = time.perf_counter() - t
    ref = 2.0 * levels[1] - levels[0]
    F = ref.shape[0]
    r = ref.reshape(F, -1)
    l2 = np.linalg.norm(r, axis=1)
    linf = np.abs(r).max(axis=1)

    def rel(v, norm=l2, p=2):
        d = (v - ref).reshape(F, -1)
        e = np.linalg.norm(d, axis=1) if p == 2 else np.abs(d).max(axis=1)
        return [float(e[f] / norm[f]) if norm[f] > 0 else 0.0 for f in range(F)]

    out["reference_rel_change"] = rel(levels[1])
    out["rel_l2"] = rel(fixed.values)
    out["rel_linf"] = rel(fixed.values, linf, p=0)
    out["max_rel_l2"] = max(out["rel_l2"])
    out["max_rel_linf"] = max(out["rel_linf"])
    if rtol is not None:
        ctl = solver()
        ctl.substep_hint[:] = sim.fields.substep_hint
        t = time.perf_counter()
        ctl.advance(sim.dt, cfg.field_dt_minutes, rtol=rtol, atol=cfg.field_atol, **src)
        out["controlled_s"] = time.perf_counter() - t
        out["controlled_rel_l2"] = rel(ctl.values)
        out["controlled_rel_linf"] = rel(ctl.values, linf, p=0)
        out["controlled_substeps"] = [int(v) for v in ctl.last_substeps]
        out["controlled_estimate"] = [float(v) for v in ctl.last_error_estimate]
        out["controlled_max_rel_l2"] = max(out["controlled_rel_l2"])
    return out


def bench_physicell(minutes: float = 12.0, threads: int | None = None, physicell: bool = True,
                    physicell_threads: int = 2, warmup: int = 1, field_error: bool = True,
                    field_rtol: float | None = 0.01, later_minutes: float = 48.0,
                    reference_substeps: int = 512, field_scheme: str | None = None,
                    implicit_field_dt: float = 1.0) -> dict[str, Any]:
    """tmesim on :data:`PHYSICELL_SCENARIO`: wall seconds per simulated minute, and PhysiCell beside it.

    The run is built and stepped ``warmup`` times, then ``minutes`` simulated
    minutes (whole 6-min cell steps, at least one) are timed, with each phase's
    share, and the sub-steps each field took per cell step (mean). ``field_rtol``
    sets ``spatial.field_rtol`` for the run (None: the scenario's fixed field
    steps). ``field_error`` measures :func:`field_step_error` after them (the
    transient: T cells secrete from t = 0) and, with ``later_minutes`` > 0, after
    that many more simulated minutes, also timed (``later``). With ``physicell``
    and PhysiCell's ``bench.sh`` at hand (:func:`physicell_script`), PhysiCell
    runs the same simulated minutes on ``physicell_threads`` threads right after,
    and ``ratio`` is its seconds per simulated minute over ours (its figure
    includes its set-up; ``ratio_with_setup`` counts ours too). With
    ``field_scheme="implicit"``, a second run of the scenario follows with
    ``spatial.field_scheme: implicit`` and every field (oxygen too) at
    ``implicit_field_dt`` minutes, no error control, timed and checked the same
    way (``out["implicit"]``).
    """
    from ..scenario import load_scenario
    from .engine import PHASES

    base = load_scenario(PHYSICELL_SCENARIO)

    def one_run(spatial_update: dict[str, Any]) -> dict[str, Any]:
        scenario = base.model_copy(update={"spatial": base.spatial.model_copy(update=spatial_update)})
        rtol = scenario.spatial.field_rtol
        sim, cells0, setup_s, warmup_s = _start_timed(scenario, warmup)
        n_steps = max(1, int(round(minutes / sim.dt)))
        window = _timed_steps(sim, n_steps, PHASES)
        run: dict[str, Any] = {
            "scenario": PHYSICELL_SCENARIO, "lattice": list(sim.lattice.shape), "voxels": int(sim.n_sites),
            "fields": len(sim.fields.specs), "field_names": list(sim.fields.names), "field_rtol": rtol,
            "field_scheme": scenario.spatial.field_scheme, "field_dt_minutes": scenario.spatial.field_dt_minutes,
            "oxygen_dt_minutes": scenario.spatial.oxygen_dt_minutes,
            "cells_at_start": cells0, "cells": int(sim.cells.n), "threads": n_threads, "setup_s": setup_s,
            "warmup_s": warmup_s, **window}
        if field_error:
            run["field_error"] = field_step_error(sim, rtol, reference_substeps)
        if later_minutes > 0:
            later = _timed_steps(sim, max(1, int(round(later_minutes / sim.dt))), PHASES)
            later["cells"] = int(sim.cells.n)
            if field_error:
                later["field_error"] = field_step_error(sim, rtol, reference_substeps)
            run["later"] = later
        return run

    with _Threads(threads) as n_threads:
        out = one_run({"field_rtol": field_rtol})
        if field_scheme == "implicit":
            out["implicit"] = one_run({"field_rtol": None, "field_scheme": "implicit",
                                       "field_dt_minutes": implicit_field_dt, "oxygen_dt_minutes": implicit_field_dt})
    wall, sim_min = out["wall_s"], out["sim_minutes"]
    if physicell:
        pc = run_physicell(sim_min, physicell_threads)
        out["physicell"] = pc
        if pc.get("s_per_sim_min"):
            out["ratio"] = pc["s_per_sim_min"] / out["s_per_sim_min"]
            out["ratio_with_setup"] = pc["s_per_sim_min"] / ((wall + out["setup_s"] + out["warmup_s"]) / sim_min)
    return out


def _timed_steps(sim, n_steps: int, phases) -> dict[str, Any]:
    """Step ``sim`` ``n_steps`` times; wall and CPU seconds per simulated minute, each phase's share and the
    mean sub-steps each field took per cell step (the controller's, or the fixed ones)."""
    from .reference import field_substeps

    sim.phase_seconds = dict.fromkeys(phases, 0.0)
    t0_min = sim.time
    substeps = np.zeros(len(sim.fields.specs))
    its0 = sim.fields.krylov_iterations.copy()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        sim.step()
        if sim.scenario.spatial.field_rtol is not None:
            substeps += sim.fields.last_substeps
        else:
            substeps += np.asarray(field_substeps(sim.dt, sim.scenario.spatial.field_dt_minutes, sim.fields.specs))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    sim_min = n_steps * sim.dt
    return {"t_start_min": t0_min, "sim_minutes": sim_min, "wall_s": wall, "cpu_s": cpu,
            "s_per_sim_min": wall / sim_min, "cpu_s_per_sim_min": cpu / sim_min,
            "phase_s_per_sim_min": {k: v / sim_min for k, v in sim.phase_seconds.items()},
            "field_updates_per_s": float(sim.n_sites * substeps.sum()) / max(sim.phase_seconds["fields"], 1e-12),
            "substeps_per_cell_step": [float(v) for v in substeps / n_steps], "load_avg": list(os.getloadavg()),
            "krylov_iterations_per_cell_step": [float(v) for v in (sim.fields.krylov_iterations - its0) / n_steps]}


# --------------------------------------------------------------------------
# everything
# --------------------------------------------------------------------------


def bench_diffusion_grids(grids, steps: int, reference_steps: int, threads: int | None = None) -> list[dict]:
    """:func:`.bench_fields.bench_diffusion` on 10 fields per lattice (dt 0.01 min, the solver's default
    splitting), compiled solver against its numpy reference."""
    from .bench_fields import bench_diffusion

    return [bench_diffusion(tuple(g), n_fields=10, steps=steps, dt=0.01, threads=threads,
                            reference_steps=reference_steps, splitting="mixed") for g in grids]


def bench_spatial(quick: bool = False, physicell: bool = False, threads: int | None = None,
                  cells: tuple[int, ...] | None = None, steps: int | None = None,
                  physicell_minutes: float = 12.0, physicell_threads: int = 2, say=None,
                  field_rtol: float | None = 0.01, field_scheme: str | None = None,
                  implicit_field_dt: float = 1.0, physicell_run: bool = True) -> dict[str, Any]:
    """What ``tmesim bench spatial`` measures: diffusion, engine, memory and (with ``physicell``) the
    PhysiCell comparison, its fields under ``field_rtol`` (None: fixed steps) checked against a reference
    of 512 sub-steps at the transient and 48 simulated minutes later (``quick``: 128 and 24); with
    ``field_scheme="implicit"`` also a run under the unsplit implicit scheme at ``implicit_field_dt``
    (:func:`bench_physicell`); ``physicell_run`` False skips PhysiCell itself. ``say`` (a callable) is told
    each part as it ends."""
    say = say or (lambda msg: None)
    out: dict[str, Any] = {"quick": quick, "machine": machine()}
    grids = QUICK_GRIDS if quick else FULL_GRIDS
    out["diffusion"] = bench_diffusion_grids(grids, steps=10 if quick else 20, reference_steps=2, threads=threads)
    say("diffusion done")
    out["engine"] = []
    for n in cells or (QUICK_CELLS if quick else FULL_CELLS):
        out["engine"].append(bench_engine(n, steps=steps or 3, threads=threads))
        say(f"engine {n} cells done")
    if physicell:
        out["physicell"] = bench_physicell(minutes=physicell_minutes, threads=threads, physicell=physicell_run,
                                           physicell_threads=physicell_threads, field_rtol=field_rtol,
                                           field_scheme=field_scheme, implicit_field_dt=implicit_field_dt,
                                           later_minutes=24.0 if quick else 48.0,
                                           reference_substeps=128 if quick else 512)
        say("physicell done")
    out["machine"]["load_avg_end"] = list(os.getloadavg())
    return out


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------

REFERENCE_TEXT = (
    "numpy reference, 1 core, same state, same run: decide = the per-cell pass vectorised over cells (fields at "
    "each site, drug exposures, Moore-neighbour scan; tumour cells: the tumour program's source twice for the "
    "midpoint step, death with its mode, division into a free neighbour, hit repair, secretion and uptake; corpses: "
    "clearance; macrophages: their program, death, polarisation, secretion; T/NK/Treg cells: uptake and two draws "
    "only), fields = bench_fields.reference_step on every field's sub-steps, apply = one numpy copy of the states and "
    "a Python loop over the cells with something to apply. Births, recruitment and events are not in it.")


def _load(values) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def format_report(result: dict[str, Any]) -> list[str]:
    """The lines ``tmesim bench spatial`` prints for a :func:`bench_spatial` result."""
    m = result["machine"]
    lines = [f"tmesim bench spatial{' --quick' if result.get('quick') else ''}: {m['cpu_model']}, {m['cpus']} CPUs, "
             f"numba {m['numba_threads']} threads ({m['threading_layer']}); load average {_load(m['load_avg'])} at "
             f"the start, {_load(m.get('load_avg_end', m['load_avg']))} at the end. Ratios are to plain numpy in "
             "this run; absolute times move with the load."]
    if result.get("diffusion"):
        lines.append("(a) Diffusion, 10 fields (oxygen-like and cytokine-like), dt 0.01 min, voxel x field updates/s; "
                     "reference: bench_fields.reference_step, the same LOD scheme in numpy, 1 core")
        for d in result["diffusion"]:
            grid = "x".join(str(v) for v in d["shape"])
            lines.append(f"  {grid:>11}: {d['solver_updates_per_s']:.3g}/s ({d['solver_ms_per_step']:.1f} ms/step, "
                         f"{d['threads']} threads) | numpy {d['reference_updates_per_s']:.3g}/s | "
                         f"{d['speedup']:.1f}x | max rel. difference {d['max_rel_diff']:.1e} | "
                         f"load {d['load_avg']:.2f}")
    if result.get("engine"):
        lines.append("(b) Engine, 2D tumour, 6-min steps, 11 fields (oxygen at 0.1 min, others at 1 min), cell-steps/s "
                     "end to end; " + REFERENCE_TEXT)
        for e in result["engine"]:
            lines += _engine_lines(e)
    if result.get("physicell"):
        lines += _physicell_lines(result["physicell"])
    return lines


def _engine_lines(e: dict[str, Any]) -> list[str]:
    out = []
    head = (f"  {e['cells']:>9,} cells ({e['lattice'][0]}x{e['lattice'][1]} sites): {e['cell_steps_per_s']:.3g} "
            f"cell-steps/s ({e['s_per_step']:.3f} s/step wall, {e['cpu_s_per_step']:.3f} s CPU, {e['threads']} "
            f"threads, load {_load(e['load_avg'])})")
    out.append(head)
    ref = e.get("reference")
    if ref:
        sp = e["speedup_by_phase"]
        out.append(f"      numpy {e['reference_cell_steps_per_s']:.3g} cell-steps/s: {e['speedup']:.1f}x "
                   f"(per CPU s {e['speedup_cpu']:.1f}x); decide {sp['decide']:.1f}x, fields {sp['fields']:.1f}x, "
                   f"apply {sp['apply']:.0f}x")
        out.append(f"      agreement: decide {ref['decide_mismatches']} of {ref['decide_fate_cells']:,} cells differ "
                   f"(largest state/source difference {ref['decide_max_abs_diff']:.1e}), fields "
                   f"{ref['fields_max_rel_diff']:.1e} (relative), apply "
                   f"{'identical' if ref['apply_identical'] else 'DIFFERENT'}")
    ph = e["phase_s_per_step"]
    total = max(sum(ph.values()), 1e-12)
    out.append("      where the time goes: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in ph.items()))
    mem = e["memory"]
    out.append(f"      memory: {mem['per_cell_bytes']:.0f} B per cell (table {mem['table_bytes_per_slot']:.0f} B x "
               f"{mem['capacity']:,} slots, buffers {mem['buffer_bytes_per_slot']:.0f} B x {mem['buffer_slots']:,}); "
               f"fields {mem['field_bytes_per_voxel_per_field']:.1f} B per voxel and field; process RSS growth "
               f"{e['rss_growth_per_cell_bytes']:.0f} B per cell (peak {e['peak_rss_growth_per_cell_bytes']:.0f} B), "
               "fields and lattice included")
    out.append(f"      projection (not run): 14 simulated days = {14 * MIN_PER_DAY / e['dt_minutes']:.0f} steps "
               f"~ {e['projection_14_days_h']:.2f} h at this rate")
    return out


def _per_field(names, values, fmt: str) -> str:
    if values is None:
        return "-"
    return ", ".join(f"{n} {v:{fmt}}" for n, v in zip(names, values))


def _steps_how(p: dict[str, Any]) -> str:
    rtol = p.get("field_rtol")
    how = f"error control, field_rtol {rtol:g}" if rtol is not None else "fixed field steps"
    return how + (", unsplit implicit scheme" if p.get("field_scheme") == "implicit" else "")


def _field_error_lines(fe: dict[str, Any] | None) -> list[str]:
    if not fe:
        return []
    names = fe["fields"]
    worst = int(np.argmax(fe["rel_l2"]))
    out = [f"      fields over one cell step from t = {fe['t_min']:g} min vs a reference of {fe['reference_substeps']} "
           f"and {fe['reference_substeps'] // 2} sub-steps, Richardson-extrapolated (its correction: "
           f"{_per_field(names, fe['reference_rel_change'], '.1e')}); relative L2:",
           f"        fixed steps ({fe['field_dt_minutes']:g} min, oxygen {fe['oxygen_dt_minutes']:g} min, "
           f"{fe.get('scheme', 'lod')} scheme; {fe['fixed_s']:.2f} s): {_per_field(names, fe['rel_l2'], '.1e')}; "
           f"worst {names[worst]} {fe['max_rel_l2']:.1e} (max-norm worst {fe['max_rel_linf']:.1e})"]
    if fe.get("scheme") == "implicit":
        out.append(f"        GMRES iterations in that cell step: {_per_field(names, fe['krylov_iterations'], 'd')}")
    if fe.get("controlled_rel_l2") is not None:
        out.append(f"        error control (rtol {fe['rtol']:g}, atol {fe['atol']:g}; {fe['controlled_s']:.2f} s): "
                   f"{_per_field(names, fe['controlled_rel_l2'], '.1e')}; worst {fe['controlled_max_rel_l2']:.1e}; "
                   f"sub-steps {_per_field(names, fe['controlled_substeps'], 'd')}")
    return out


def _physicell_lines(p: dict[str, Any]) -> list[str]:
    ph = p["phase_s_per_sim_min"]
    total = max(sum(ph.values()), 1e-12)
    out = [f"(c) PhysiCell 1.14.2 cancer-immune 3D as '{p['scenario']}': {'x'.join(map(str, p['lattice']))} voxels x "
           f"{p['fields']} fields (tmesim's 11 base fields; PhysiCell's sample has 2), {p['cells_at_start']:,} cells, "
           f"T cells attacking from t = 0",
           f"  tmesim: {p['s_per_sim_min']:.3f} s wall per simulated minute ({p['cpu_s_per_sim_min']:.3f} s CPU; "
           f"{p['sim_minutes']:g} simulated min, {p['threads']} threads, load {_load(p['load_avg'])}); fields "
           f"{p['field_updates_per_s']:.3g} voxel x field updates/s",
           "      where the time goes: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in ph.items())]
    names = p.get("field_names") or (p.get("field_error") or {}).get("fields", [])
    steps = _per_field(names, p.get("substeps_per_cell_step"), ".0f")
    out.append(f"      field sub-steps per cell step ({_steps_how(p)}): {steps}")
    out += _field_error_lines(p.get("field_error"))
    later = p.get("later")
    if later:
        out.append(f"  later, {later['sim_minutes']:g} simulated min from t = {later['t_start_min']:g} min: "
                   f"{later['s_per_sim_min']:.3f} s wall per simulated minute ({later['cpu_s_per_sim_min']:.3f} s CPU, "
                   f"{later['cells']:,} cells, load {_load(later['load_avg'])}); field sub-steps per cell step: "
                   f"{_per_field(names, later.get('substeps_per_cell_step'), '.0f')}")
        out += _field_error_lines(later.get("field_error"))
    imp = p.get("implicit")
    if imp:
        ph = imp["phase_s_per_sim_min"]
        tot = max(sum(ph.values()), 1e-12)
        out += [f"  implicit scheme (spatial.field_scheme implicit, every field at {imp['field_dt_minutes']:g} min), "
                f"same scenario, same session: {imp['s_per_sim_min']:.3f} s wall per simulated minute "
                f"({imp['cpu_s_per_sim_min']:.3f} s CPU; {imp['sim_minutes']:g} simulated min, load "
                f"{_load(imp['load_avg'])})",
                "      where the time goes: " + ", ".join(f"{k} {100 * v / tot:.1f}%" for k, v in ph.items()),
                "      GMRES iterations per cell step: "
                + _per_field(names, imp.get("krylov_iterations_per_cell_step"), ".0f")]
        out += _field_error_lines(imp.get("field_error"))
        il = imp.get("later")
        if il:
            out.append(f"    later, {il['sim_minutes']:g} simulated min from t = {il['t_start_min']:g} min: "
                       f"{il['s_per_sim_min']:.3f} s wall per simulated minute ({il['cpu_s_per_sim_min']:.3f} s CPU, "
                       f"load {_load(il['load_avg'])}); GMRES iterations per cell step: "
                       + _per_field(names, il.get("krylov_iterations_per_cell_step"), ".0f"))
            out += _field_error_lines(il.get("field_error"))
    pc = p.get("physicell")
    if pc is None:
        out.append("  PhysiCell: not run (--physicell runs it when shared/tools/physicell/bench.sh is at hand)")
    elif not pc.get("available"):
        out.append("  PhysiCell: bench.sh not found (set TMESIM_PHYSICELL_BENCH); no ratio")
    elif pc.get("error"):
        out.append(f"  PhysiCell: failed ({pc['error'].strip()[-200:]})")
    else:
        out.append(f"  PhysiCell: {pc['s_per_sim_min']:.2f} s wall per simulated minute ({pc['minutes']:g} min, "
                   f"{pc['threads']} threads, its set-up included, load after {_load(pc['load_avg'])}); "
                   f"PhysiCell / tmesim = {p['ratio']:.1f}x ({p['ratio_with_setup']:.1f}x counting tmesim's set-up)")
    return out
