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


def _reference_patient(batch, row: int, t_end: float, rtol: float, atol: np.ndarray, method: str) -> tuple[np.ndarray, bool]:
    """Integrate one row with ``solve_ivp`` segment by segment between its events.

    Mirrors the batched solver: initial state from the parameters, drug
    reference points rebased and the event applied at each event time, the
    model's ``evaluate`` as the right-hand side. Returns the final state and
    whether every segment succeeded.
    """
    from scipy.integrate import solve_ivp

    from tmesim.protocols import drugs
    from tmesim.wellmixed import model as M
    from tmesim.wellmixed import state as S

    p = np.ascontiguousarray(batch.p[row])
    y = M.initial_state(p)
    c0 = np.zeros(drugs.N_DRUGS)
    t0 = np.zeros_like(c0)
    aux = np.empty(M.N_AUX)
    evaluate = M.evaluate

    def rhs(t, yy):
        dydt = np.empty(S.N_STATE)
        evaluate(t, yy, p, c0, t0, dydt, aux)
        return dydt

    t = 0.0
    ok = True
    n_ev = int(batch.n_ev[row])
    j = 0
    while True:
        while j < n_ev and batch.ev_time[row, j] <= t + 1e-9:
            M.rebase_drugs(t, c0, t0, p)
            M.apply_event(batch.ev_kind[row, j], batch.ev_payload[row, j], y, c0)
            j += 1
        if t >= t_end - 1e-9:
            break
        t_next = min(t_end, batch.ev_time[row, j]) if j < n_ev else t_end
        sol = solve_ivp(rhs, (t, t_next), y, method=method, rtol=rtol, atol=atol)
        if sol.status != 0:
            ok = False
            break
        y = np.ascontiguousarray(sol.y[:, -1])
        t = t_next
    return y, ok


def bench_wellmixed(n_patients: int | None = None, days: float | None = None, quick: bool = False,
                    n_reference: int | None = None, reference_method: str = "LSODA",
                    verbose: bool = False) -> dict[str, Any]:
    """Time the batched well-mixed engine against ``solve_ivp`` one patient at a time.

    Parameters
    ----------
    n_patients
        Virtual patients (default 10,000; 1,000 with ``quick``).
    days
        Simulated days (default 365).
    quick
        Smaller configuration (1,000 patients, 3 reference patients).
    n_reference
        Patients integrated one at a time with ``solve_ivp`` (default 20; 3
        with ``quick``), taken evenly from the same compiled batch.
    reference_method
        ``solve_ivp`` method of the reference (``"LSODA"`` or ``"BDF"``).
    verbose
        Print progress lines while measuring.

    Returns
    -------
    dict
        ``n_patients``, ``days``, ``wall_s`` (engine, JIT excluded),
        ``compile_s`` (first tiny run: JIT compilation or cache load),
        ``patient_days_per_s``, ``reference_patients``, ``reference_wall_s``,
        ``reference_patient_days_per_s``, ``speedup_vs_solve_ivp``,
        ``reference_max_rel_diff_tumor`` (final ``tumor_live``, sampled
        patients), ``n_failed`` (engine rows with nonzero status),
        ``mean_steps_per_patient``, ``threads``, ``threading_layer``.
    """
    import numba

    from tmesim.protocols.schedule import MIN_PER_DAY, compile_batch
    from tmesim.wellmixed import engine
    from tmesim.wellmixed import state as S

    n_patients = int(n_patients if n_patients is not None else (QUICK_PATIENTS if quick else FULL_PATIENTS))
    days = float(days if days is not None else DAYS)
    k_ref = int(n_reference if n_reference is not None else (QUICK_REFERENCE if quick else FULL_REFERENCE))
    k_ref = max(1, min(k_ref, n_patients))

    def say(msg: str) -> None:
        if verbose:
            print(msg, flush=True)

    # 1. JIT warm-up on a tiny run of the same model (compile or load the cache)
    t = time.perf_counter()
    engine.simulate(benchmark_scenario(2, min(days, 10.0)))
    compile_s = time.perf_counter() - t
    say(f"warm-up (JIT) {compile_s:.2f} s")

    # 2. the batched engine, timed end to end (row compilation, integration, Dataset)
    scn = benchmark_scenario(n_patients, days)
    t = time.perf_counter()
    ds = engine.simulate(scn)
    wall_s = time.perf_counter() - t
    status = ds["solver_status"].values.ravel()
    steps = ds["solver_steps"].values.ravel()
    n_failed = int(np.count_nonzero(status))
    say(f"engine {n_patients} x {days:g} d: {wall_s:.2f} s")

    # 3. reference: the same rows, one at a time, with solve_ivp
    t = time.perf_counter()
    batch = compile_batch(scn)
    setup_s = time.perf_counter() - t
    rows = np.unique(np.linspace(0, batch.n_rows - 1, k_ref).round().astype(int))
    atol = np.array(S.atol())
    t_end = days * MIN_PER_DAY
    ours = ds["tumor_live"].values.reshape(batch.n_rows, -1)[:, -1]
    diffs = []
    ref_failed = 0
    t = time.perf_counter()
    for r in rows:
        y, ok = _reference_patient(batch, int(r), t_end, engine.DEFAULT_RTOL, atol, reference_method)
        if not ok:
            ref_failed += 1
            continue
        if status[r] == 0:
            a, b = ours[r], y[S.tumor_live]
            diffs.append(abs(a - b) / max(abs(a), abs(b), 1.0))
    ref_wall_s = time.perf_counter() - t
    say(f"reference {rows.size} patients ({reference_method}): {ref_wall_s:.2f} s")

    pd_s = n_patients * days / wall_s
    ref_pd_s = rows.size * days / ref_wall_s
    return {
        "n_patients": n_patients,
        "days": days,
        "wall_s": wall_s,
        "compile_s": compile_s,
        "setup_s": setup_s,
        "patient_days_per_s": pd_s,
        "reference_method": reference_method,
        "reference_patients": int(rows.size),
        "reference_wall_s": ref_wall_s,
        "reference_patient_days_per_s": ref_pd_s,
        "speedup_vs_solve_ivp": pd_s / ref_pd_s,
        "reference_max_rel_diff_tumor": float(max(diffs)) if diffs else float("nan"),
        "reference_failed": ref_failed,
        "n_failed": n_failed,
        "mean_steps_per_patient": float(steps.mean()),
        "max_steps_per_patient": int(steps.max()),
        "threads": int(numba.get_num_threads()),
        "threading_layer": str(numba.threading_layer()),
    }
