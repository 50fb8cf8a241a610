"""Benchmarks of the simulation engines (``tmesim bench ...``).

:func:`bench_wellmixed` times the batched well-mixed engine on a year-long
virtual trial and, in the same process, integrates a sample of the same
patients one at a time with :func:`scipy.integrate.solve_ivp` on the same
right-hand side, so the speed-up is measured on this machine and this load
rather than quoted. Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

#: Full benchmark: 10,000 virtual patients x 365 days (the issue's target).
FULL_PATIENTS = 10_000
#: ``--quick``: 1,000 patients x 365 days.
QUICK_PATIENTS = 1_000
DAYS = 365.0
FULL_REFERENCE = 20
QUICK_REFERENCE = 3
VARIABILITY = 0.25
ARM_NAME = "anti-PD-1 + IKE (1 year)"


def benchmark_scenario(n_patients: int = FULL_PATIENTS, days: float = DAYS, seed: int = 0):
    """The flagship scenario as a one-arm, year-long virtual trial.

    One arm, the flagship combination run for ``days``: anti-PD-1 10 mg/kg
    every 3 days from day 6 to the end of the run, plus the system Xc-
    inhibitor IKE 40 mg/kg daily on days 6-19 (as in the flagship). Cohort of
    ``n_patients`` with 25% log-normal variability on every non-knob
    parameter; one output per day.
    """
    from tmesim.scenario import load_scenario

    base = load_scenario()
    start = 6.0
    doses = []
    if days > start:
        doses.append({"drug": "anti_pd1", "dose": 10.0, "unit": "mg/kg", "start_day": start, "every_days": 3.0,
                      "count": int(math.floor((days - start) / 3.0 + 1e-9)) + 1})
        doses.append({"drug": "ike", "dose": 40.0, "unit": "mg/kg", "start_day": start, "every_days": 1.0,
                      "count": min(14, int(math.floor(days - start + 1e-9)) + 1)})
    return base.with_overrides(
        days=float(days),
        seed=seed,
        name="bench_wellmixed",
        description="Benchmark: flagship combination arm for a year, virtual cohort.",
        output_interval_hours=24.0,
        cohort={"size": int(n_patients), "variability": {"all": VARIABILITY}},
        arms=[{"name": ARM_NAME, "doses": doses}],
    )


_CLIPPED_RHS = None


def _clipped_rhs():
    """``model.evaluate`` at ``max(y, 0)``, compiled once per process.

    The batched solver never evaluates the model at negative states (it
    rejects steps that overshoot below ``-atol`` and clips the rest to zero);
    LSODA, given the raw right-hand side, overshoots corpses and lipid
    peroxides below zero on some patients and then runs into NaNs. Evaluating
    at the non-negative part is the same treatment. Not cached on disk
    (``cache=False``): the model it calls changes, and numba would not notice.
    """
    global _CLIPPED_RHS
    if _CLIPPED_RHS is None:
        from numba import njit

        from tmesim.wellmixed import model as M

        @njit(cache=False)
        def clipped(t, y, p, c0, t0, dydt, aux, ybuf):
            for i in range(y.shape[0]):
                ybuf[i] = y[i] if y[i] > 0.0 else 0.0
            M.evaluate(t, ybuf, p, c0, t0, dydt, aux)

        _CLIPPED_RHS = clipped
    return _CLIPPED_RHS


def _reference_patient(batch, row: int, t_end: float, rtol: float, atol: np.ndarray, method: str) -> tuple[np.ndarray, bool]:
    """Integrate one row with ``solve_ivp`` segment by segment between its events.

    Mirrors the batched solver: initial state from the parameters, drug
    reference points rebased and the event applied at each event time
    (``rebase_drugs`` then ``apply_event``), the model's ``evaluate`` (at the
    non-negative part of the state, see :func:`_clipped_rhs`) called from a
    Python function as the right-hand side. Only the final state is kept (no
    dense output), which favours the reference. Returns the final state and
    whether every segment succeeded with finite values.
    """
    from scipy.integrate import solve_ivp

    from tmesim.protocols import drugs
    from tmesim.wellmixed import model as M
    from tmesim.wellmixed import state as S

    p = batch.params[row]
    y = M.initial_state(p)
    c0 = np.zeros(drugs.N_DRUGS)
    t0 = np.zeros_like(c0)
    aux = np.empty(M.N_AUX)
    ybuf = np.empty(S.N_STATE)
    evaluate = _clipped_rhs()

    def rhs(t, yy):
        dydt = np.empty(S.N_STATE)
        evaluate(t, yy, p, c0, t0, dydt, aux, ybuf)
        return dydt

    t = 0.0
    n_ev = int(batch.n_ev[row])
    j = 0
    while True:
        while j < n_ev and batch.ev_time[row, j] <= t + 1e-9:
            M.rebase_drugs(t, c0, t0, p)
            M.apply_event(batch.ev_kind[row, j], np.ascontiguousarray(batch.ev_payload[row, j]), y, c0)
            j += 1
        if t >= t_end - 1e-9:
            return y, True
        t_next = min(t_end, float(batch.ev_time[row, j])) if j < n_ev else t_end
        try:
            sol = solve_ivp(rhs, (t, t_next), y, method=method, rtol=rtol, atol=atol)
        except ValueError:  # e.g. a non-finite state handed to the next segment
            return y, False
        y = np.ascontiguousarray(sol.y[:, -1])
        if sol.status != 0 or not np.all(np.isfinite(y)):
            return y, False
        t = t_next


def bench_wellmixed(n_patients: int | None = None, days: float | None = None, quick: bool = False,
                    n_reference: int | None = None, reference_method: str = "LSODA",
                    threads: int | None = None, solver=None, verbose: bool = False) -> dict[str, Any]:
    """Time the batched well-mixed engine against ``solve_ivp`` one patient at a time.

    The scenario is :func:`benchmark_scenario`. After a tiny warm-up run (JIT
    compilation or cache load, reported as ``compile_s``),
    :meth:`tmesim.Simulation.run` is timed end to end (row
    compilation, integration, Dataset assembly) with its default settings.
    Then ``n_reference`` rows of the same compiled batch, spread evenly over
    the cohort, are integrated one at a time with
    :func:`scipy.integrate.solve_ivp` (same right-hand side, same events,
    ``rtol`` = the engine's, the engine's absolute tolerances).

    Parameters
    ----------
    n_patients
        Virtual patients (default 10,000; 1,000 with ``quick``).
    days
        Simulated days (default 365).
    quick
        Smaller configuration: 1,000 patients and 3 reference patients.
    n_reference
        Patients integrated with ``solve_ivp`` (default 20; 3 with ``quick``).
    reference_method
        ``solve_ivp`` method of the reference: ``"LSODA"`` (default, the
        fastest of scipy's stiff methods on this model) or ``"BDF"``.
    threads
        numba threads for the engine (default: numba's, i.e. all cores). The
        reference always runs on one core.
    solver
        :class:`tmesim.SolverOptions` to measure other solver settings (default: the defaults).
    verbose
        Print a line after each phase.

    Returns
    -------
    dict
        ``n_patients``, ``days``, ``wall_s`` and ``cpu_s`` (engine, wall
        clock and CPU time of all threads), ``compile_s``,
        ``compile_batch_s`` (the part of ``wall_s`` spent building the
        per-row parameters and event tables), ``patient_days_per_s``, ``reference_method``, ``reference_patients``,
        ``reference_wall_s``, ``reference_cpu_s``,
        ``reference_patient_days_per_s``, ``speedup_vs_solve_ivp`` (ratio
        of the two wall-clock throughputs), ``speedup_per_cpu_s`` (the same
        per CPU second: what the engine gains besides using more cores),
        ``reference_median_patient_s`` and ``reference_max_patient_s`` (wall
        seconds of the reference's patients), ``speedup_at_median`` (the
        median reference patient's wall time over the engine's wall time per
        patient: the ratio for a typical patient, which one slow reference
        patient cannot move the way it moves the total),
        ``reference_max_rel_diff_tumor`` (final ``tumor_live``, engine vs
        reference, relative to the larger of the two and 1 cell),
        ``reference_failed``, ``n_failed`` (engine rows with nonzero
        ``solver_status``), ``mean_steps_per_patient``,
        ``max_steps_per_patient``, ``threads`` and ``threading_layer``
        (numba's).
    """
    import numba

    from tmesim.simulation import SolverOptions
    from tmesim.wellmixed import state as S

    n_patients = int(n_patients if n_patients is not None else (QUICK_PATIENTS if quick else FULL_PATIENTS))
    days = float(days if days is not None else DAYS)
    k_ref = int(n_reference if n_reference is not None else (QUICK_REFERENCE if quick else FULL_REFERENCE))
    k_ref = max(1, min(k_ref, n_patients))
    atol = np.array(S.atol())

    def say(msg: str) -> None:
        if verbose:
            print(msg, flush=True)

    previous_threads = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(int(threads))
    try:
        return _measure(n_patients, days, k_ref, reference_method, atol, solver or SolverOptions(), say)
    finally:
        numba.set_num_threads(previous_threads)


def _measure(n_patients: int, days: float, k_ref: int, reference_method: str, atol: np.ndarray, options,
             say) -> dict[str, Any]:
    import numba

    from tmesim.protocols.schedule import MIN_PER_DAY
    from tmesim.simulation import Simulation, SolverOptions
    from tmesim.wellmixed import state as S

    rtol = options.rtol
    # 1. warm-up: compile (or load from numba's cache) everything that is timed
    t = time.perf_counter()
    Simulation(benchmark_scenario(2, min(days, 10.0)), solver=options).run()
    compile_s = time.perf_counter() - t
    warm = Simulation(benchmark_scenario(1, min(days, 8.0))).compile()
    _reference_patient(warm, 0, min(days, 8.0) * MIN_PER_DAY, rtol, atol, reference_method)
    say(f"warm-up (JIT compile or cache load): {compile_s:.2f} s")

    # 2. the batched engine, timed end to end
    sim = Simulation(benchmark_scenario(n_patients, days), solver=options)
    t, c = time.perf_counter(), time.process_time()
    ds = sim.run()
    wall_s, cpu_s = time.perf_counter() - t, time.process_time() - c
    status = ds["solver_status"].values.ravel()
    steps = ds["solver_steps"].values.ravel()
    n_failed = int(np.count_nonzero(status))
    say(f"engine: {n_patients} patients x {days:g} days in {wall_s:.2f} s")

    # 3. reference: rows of the same batch, one at a time, with solve_ivp
    t = time.perf_counter()
    batch = sim.compile()  # the engine did the same inside wall_s
    compile_batch_s = time.perf_counter() - t
    rows = np.unique(np.linspace(0, batch.n_rows - 1, k_ref).round().astype(int))
    final_tumor = ds["tumor_live"].values.reshape(batch.n_rows, -1)[:, -1]
    t_end = days * MIN_PER_DAY
    diffs = []
    ref_failed = 0
    per_patient_s = []
    t, c = time.perf_counter(), time.process_time()
    for r in rows:
        t_row = time.perf_counter()
        y, ok = _reference_patient(batch, int(r), t_end, rtol, atol, reference_method)
        per_patient_s.append(time.perf_counter() - t_row)
        if not ok:
            ref_failed += 1
        elif status[r] == 0:
            a, b = final_tumor[r], y[S.tumor_antigen_positive] + y[S.tumor_antigen_negative]
            diffs.append(abs(a - b) / max(abs(a), abs(b), 1.0))
    ref_wall_s, ref_cpu_s = time.perf_counter() - t, time.process_time() - c
    say(f"reference: {rows.size} patients with solve_ivp ({reference_method}) in {ref_wall_s:.2f} s")

    pd_s = n_patients * days / wall_s
    ref_pd_s = rows.size * days / ref_wall_s
    return {
        "n_patients": n_patients,
        "days": days,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "compile_s": compile_s,
        "compile_batch_s": compile_batch_s,
        "patient_days_per_s": pd_s,
        "rtol": rtol,
        "reference_method": reference_method,
        "reference_patients": int(rows.size),
        "reference_wall_s": ref_wall_s,
        "reference_cpu_s": ref_cpu_s,
        "reference_patient_days_per_s": ref_pd_s,
        "speedup_vs_solve_ivp": pd_s / ref_pd_s,
        "speedup_per_cpu_s": (n_patients * days / cpu_s) / (rows.size * days / ref_cpu_s),
        "reference_median_patient_s": float(np.median(per_patient_s)),
        "reference_max_patient_s": float(np.max(per_patient_s)),
        "speedup_at_median": float(np.median(per_patient_s)) / (wall_s / n_patients),
        "reference_max_rel_diff_tumor": float(max(diffs)) if diffs else float("nan"),
        "reference_failed": ref_failed,
        "n_failed": n_failed,
        "mean_steps_per_patient": float(steps.mean()),
        "max_steps_per_patient": int(steps.max()),
        "threads": int(numba.get_num_threads()),
        "threading_layer": str(numba.threading_layer()),
        **({"solver_options": options.describe()} if options != SolverOptions() else {}),
    }


# ------------------------------------------------------------------ trial
#: ``tmesim bench trial``: 10,000 patients x 2 arms x 365 days (the issue's size); ``--quick``: 1,000.
TRIAL_PATIENTS = 10_000
TRIAL_QUICK_PATIENTS = 1_000
TRIAL_COHORT = "b16_anti_pd1_ferroptosis"


def bench_trial(n_patients: int | None = None, days: float | None = None, quick: bool = False,
                batch_size: int = 250, dask: bool = True, verbose: bool = False) -> dict[str, Any]:
    """Time a virtual trial end to end against the engine's own time for the same patients.

    The cohort is the shipped ``b16_anti_pd1_ferroptosis`` (2 arms) run for ``days`` (365) with one output
    a day. After a warm-up (JIT cache load), in this process:

    1. the engine alone: :class:`tmesim.Simulation` on every batch of the trial (the same patients, values
       and batch size), numba on every core: ``engine_s``;
    2. the whole trial (draws, runs, endpoints, partitions, patients.parquet, figures, report) with local
       processes: 1 worker of 1 numba thread (``trial_1_worker_s``) and 2 workers of 1 thread
       (``trial_2_workers_s``);
    3. the same through a Dask LocalCluster of 2 single-threaded worker processes, cluster start included
       (``trial_dask_s``).

    Returns the times and the ratios the issue sets targets for: ``trial_vs_engine`` (2 workers / engine;
    target <= 1.15), ``scaling_1_to_2_workers`` (target >= 1.8) and ``dask_overhead`` (Dask / 2 local
    workers - 1; target < 0.10), and whether the outputs of every run were identical. Each phase also
    reports its CPU seconds (this process and its ended worker processes; ``*_cpu_s``) and the 1-minute
    load average at its start and end (``*_load``): on a shared machine the wall-clock ratios move with
    the load, the CPU ratios much less.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from tmesim.simulation import Simulation
    from tmesim.trials import DaskExecutor, LocalExecutor, load_cohort, run_trial
    from tmesim.trials.runner import batch_specs, check_names

    n = int(n_patients or (TRIAL_QUICK_PATIENTS if quick else TRIAL_PATIENTS))
    days = float(days or DAYS)
    cohort = load_cohort(TRIAL_COHORT, patients=n, batch_size=batch_size)
    cohort = type(cohort)(cohort.spec.model_copy(update={"days": days, "output_interval_hours": 24.0}),
                          cohort.source, cohort.scenario.with_overrides(days=days, output_interval_hours=24.0),
                          cohort.draws, cohort.cholesky, cohort.reference_arm, cohort.text, cohort.base)

    def say(msg: str) -> None:
        if verbose:
            print(msg, flush=True)

    t = time.perf_counter()
    check_names(cohort)
    say(f"warm-up: {time.perf_counter() - t:.1f} s")
    # 1. the engine alone, on the trial's own batches
    from tmesim.scenario import build_scenario

    specs = batch_specs(cohort, np.arange(n), batch_size, None)
    scenario = build_scenario(specs[0].scenario)
    scenario.base_parameters  # resolved once, as a worker does
    import os
    import resource

    def cpu() -> float:
        """CPU seconds of this process and of its children that have ended (worker processes)."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    load0 = os.getloadavg()[0]
    t, c = time.perf_counter(), cpu()
    for spec in specs:
        Simulation(scenario, patient_values=spec.values).run()
    engine_s, engine_cpu_s = time.perf_counter() - t, cpu() - c
    say(f"engine: {n} patients x {len(cohort.arms)} arms x {days:g} days in {engine_s:.1f} s "
        f"({engine_cpu_s:.1f} CPU s, load {load0:.1f}-{os.getloadavg()[0]:.1f})")
    root = Path(tempfile.mkdtemp(prefix="tmesim-bench-trial-"))
    out: dict[str, Any] = {"n_patients": n, "arms": len(cohort.arms), "days": days, "batch_size": batch_size,
                           "engine_s": engine_s, "engine_cpu_s": engine_cpu_s,
                           "engine_load": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    try:
        runs = {"trial_1_worker_s": ("one", lambda: LocalExecutor(1, threads_per_worker=1)),
                "trial_2_workers_s": ("two", lambda: LocalExecutor(2, threads_per_worker=1))}
        if dask:
            runs["trial_dask_s"] = ("dask", lambda: DaskExecutor(n_workers=2))
        results = {}
        for key, (folder, make) in runs.items():
            load0 = os.getloadavg()[0]
            t, c = time.perf_counter(), cpu()
            results[key] = run_trial(cohort, root / folder, make())
            out[key] = time.perf_counter() - t
            out[key.replace("_s", "_cpu_s")] = cpu() - c
            out[key.replace("_s", "_load")] = [round(load0, 2), round(os.getloadavg()[0], 2)]
            out[key.replace("_s", "_timings")] = {k: round(v, 3) for k, v in results[key].timings.items()}
            say(f"{key}: {out[key]:.1f} s ({out[key.replace('_s', '_cpu_s')]:.1f} CPU s, load "
                f"{load0:.1f}-{os.getloadavg()[0]:.1f})")
        out["trial_vs_engine"] = out["trial_2_workers_s"] / engine_s
        out["trial_cpu_vs_engine_cpu"] = out["trial_2_workers_cpu_s"] / engine_cpu_s
        out["trial_1_worker_vs_engine"] = out["trial_1_worker_s"] / engine_s
        out["scaling_1_to_2_workers"] = out["trial_1_worker_s"] / out["trial_2_workers_s"]
        if dask:
            out["trial_dask_vs_engine"] = out["trial_dask_s"] / engine_s
            out["dask_overhead"] = out["trial_dask_s"] / out["trial_2_workers_s"] - 1.0
            out["dask_cpu_overhead"] = out["trial_dask_cpu_s"] / out["trial_2_workers_cpu_s"] - 1.0
        files = [(root / f / "patients.parquet").read_bytes() for f, _ in runs.values()]
        out["identical_outputs"] = all(b == files[0] for b in files)
        first = next(iter(results.values()))
        out["failed_runs"] = int((first.patients["status"] != 0).sum())
        out["cores"] = len(__import__("os").sched_getaffinity(0))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out
