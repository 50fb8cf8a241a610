"""Accuracy of the batched Rosenbrock-W integrator against a tight-tolerance reference.

The reference integrates the same right-hand side
(:func:`tmesim.wellmixed.model.evaluate`) with scipy's LSODA at rtol 1e-9,
segment by segment between dose events, applying ``rebase_drugs`` then
``apply_event`` at each event exactly as :func:`tmesim.wellmixed.solver._row`
does (post-event state is what is recorded at an event time).

A second test checks that the compiled code the engine runs matches the
current source: numba's on-disk cache (``cache=True``) is keyed on each
function's own file, so a solver compiled before ``model.py`` or
``biology/*.py`` changed keeps running the old equations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tmesim import load_scenario
from tmesim.protocols import drugs as D
from tmesim.protocols.schedule import MIN_PER_DAY
from tmesim.results import variable
from tmesim.simulation import Simulation, SolverOptions, simulate
from tmesim.wellmixed import model as M
from tmesim.wellmixed import state as S

# the flagship (B16) has no CAR antigen: its whole tumour is the antigen-negative clone
VARIABLES = ("tumor_antigen_negative", "tumor_gsh", "cd8_effector", "ifng")
ARMS = ("control", "anti-PD-1 + IKE")
DAYS = 10


@pytest.fixture(scope="module")
def scenario():
    scn = load_scenario().with_overrides(days=DAYS)
    by_name = {a.name: a for a in scn.arms}
    return scn.model_copy(update={"arms": [by_name[a] for a in ARMS]})


@pytest.fixture(scope="module")
def batch(scenario):
    return Simulation(scenario).compile()


def reference_row(batch, r: int, times_min: np.ndarray, method: str = "LSODA", rtol: float = 1e-9,
                  atol_scale: float = 1e-3) -> np.ndarray:
    """State at ``times_min`` (rows) for batch row ``r``, integrated with scipy."""
    p = batch.params[r]
    y = M.initial_state(p)
    c0 = np.zeros(D.N_DRUGS)
    t0 = np.zeros(D.N_DRUGS)
    dydt = np.empty(S.N_STATE)
    aux = np.empty(M.N_AUX)

    def rhs(t, yy):
        M.evaluate(t, np.ascontiguousarray(yy), p, c0, t0, dydt, aux)
        return dydt.copy()

    atol = np.array(S.atol()) * atol_scale
    events = [(batch.ev_time[r, j], batch.ev_kind[r, j], batch.ev_payload[r, j]) for j in range(batch.n_ev[r])]
    out = np.full((times_min.size, S.N_STATE), np.nan)
    t_cur, j = 0.0, 0
    while True:
        while j < len(events) and events[j][0] <= t_cur + 1e-9:
            M.rebase_drugs(t_cur, c0, t0, p)
            M.apply_event(events[j][1], events[j][2], y, c0)
            j += 1
        last = not (j < len(events) and events[j][0] < times_min[-1])
        t_end = times_min[-1] if last else events[j][0]
        idx = np.flatnonzero((times_min >= t_cur - 1e-9) & ((times_min < t_end - 1e-9) | last))
        t_eval = np.unique(np.append(times_min[idx], t_end))
        sol = solve_ivp(rhs, (t_cur, t_end), y, method=method, rtol=rtol, atol=atol, t_eval=t_eval)
        assert sol.success, sol.message
        out[idx] = sol.y.T[np.searchsorted(t_eval, times_min[idx])]
        y = sol.y[:, -1].copy()
        t_cur = t_end
        if last:
            return out


def max_rel_error(approx: np.ndarray, ref: np.ndarray) -> float:
    """Max |approx - ref| / |ref| over points where |ref| > 1e-3 max |ref|."""
    mask = np.abs(ref) > 1e-3 * np.abs(ref).max()
    return float(np.max(np.abs(approx[mask] - ref[mask]) / np.abs(ref[mask])))


@pytest.fixture(scope="module")
def reference(scenario, batch):
    times = simulate(scenario, solver=SolverOptions(rtol=1e-3)).time.values * MIN_PER_DAY
    return times, [reference_row(batch, r, times) for r in range(batch.n_rows)]


def engine_errors(scenario, reference, rtol: float, method: str = "ros34pw2") -> dict[tuple[str, str], float]:
    times, refs = reference
    ds = simulate(scenario, solver=SolverOptions(rtol=rtol, method=method))
    assert (ds.solver_status == 0).all()
    np.testing.assert_allclose(ds.time.values * MIN_PER_DAY, times)
    return {
        (arm, var): max_rel_error(variable(ds, var).sel(arm=arm).values[0], refs[a][:, S.NAMES.index(var)])
        for a, arm in enumerate(ARMS) for var in VARIABLES
    }


def test_reference_is_converged(scenario, batch, reference):
    """Two different stiff methods at tight tolerance agree (the reference is
    a fair yardstick), and the combination arm really has its events."""
    times, refs = reference
    assert batch.n_ev[0] == 0 and batch.n_ev[1] > 0
    for r in range(batch.n_rows):
        other = reference_row(batch, r, times, method="BDF", rtol=1e-10, atol_scale=1e-4)
        for var in VARIABLES:
            i = S.NAMES.index(var)
            assert max_rel_error(other[:, i], refs[r][:, i]) < 1e-6, (r, var)
    # the treatment changed the trajectory: the test covers event handling
    gsh = S.NAMES.index("tumor_gsh")
    assert refs[1][-1, gsh] < 0.9 * refs[0][-1, gsh]


def test_default_tolerance_is_accurate(scenario, reference):
    errors = engine_errors(scenario, reference, rtol=1e-4)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-2, f"max relative error {errors[worst]:.3g} in {worst}; all: {errors}"


def test_ros2_is_selectable_and_accurate(scenario, reference):
    errors = engine_errors(scenario, reference, rtol=1e-4, method="ros2")
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-2, f"max relative error {errors[worst]:.3g} in {worst}; all: {errors}"
    with pytest.raises(ValueError, match="unknown method"):
        SolverOptions(method="rk4")


def test_tighter_tolerance_converges(scenario, reference):
    loose = engine_errors(scenario, reference, rtol=1e-3)
    tight = engine_errors(scenario, reference, rtol=1e-6)
    # 1.2e-4 now, in control-arm IFN-gamma at day 7 (3.3e-5 at rtol 1e-7 and
    # 9e-6 at 1e-8: converging); the global error here is ~100x rtol and moves
    # with the model (3.6e-5 before the lipid-peroxide switch was stated by its
    # resting state). An error estimate that under-reports the stiff
    # components (tried: filtering it through an aged W) raised it 6-fold
    # while passing the looser checks.
    assert max(tight.values()) < 3e-4, tight
    assert max(tight.values()) < 0.1 * max(loose.values()), (loose, tight)
    for key in tight:
        assert tight[key] <= loose[key] + 1e-9, key


_PY_EVALUATE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tmesim.params.resolve import resolve
    from tmesim.wellmixed import model as M, state as S
    from tmesim.wellmixed.layout import ROW
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        dydt = np.empty(S.N_STATE); aux = np.empty(M.N_AUX)
        p = resolve(np.array(c["values"]), ROW)[0]
        M.evaluate(c["t"], np.array(c["y"]), p, np.array(c["c0"]), np.array(c["t0"]), dydt, aux)
        out.append({"dydt": dydt.tolist(), "aux": aux.tolist()})
    json.dump(out, sys.stdout)
""")


def test_compiled_rhs_matches_current_source(scenario, batch):
    """The compiled right-hand side (as the solver calls it, and as
    ``model.evaluate``) equals the pure-Python evaluation of the current
    source (NUMBA_DISABLE_JIT=1 in a subprocess). Fails when the on-disk
    numba cache holds code compiled from an older model/biology source."""
    from tmesim.wellmixed import solver

    p, values = batch.params[1], batch.values[1]
    ds = simulate(scenario)
    y_mid = np.array([float(variable(ds, n).sel(arm=ARMS[1], time=8.0)[0]) for n in S.NAMES])
    y_car = y_mid.copy()
    for name in S.NAMES:
        if name.startswith("car_") and S.info(name)[0] == "cell":
            y_car[S.NAMES.index(name)] = 1e4
    conc = np.linspace(0.5, 5.0, D.N_DRUGS)  # every drug present
    cases = [
        {"t": 0.0, "y": M.initial_state(p), "c0": np.zeros(D.N_DRUGS), "t0": np.zeros(D.N_DRUGS)},
        {"t": 8 * MIN_PER_DAY, "y": y_mid, "c0": conc, "t0": np.full(D.N_DRUGS, 7 * MIN_PER_DAY)},
        {"t": 8 * MIN_PER_DAY, "y": y_car, "c0": conc, "t0": np.full(D.N_DRUGS, 8 * MIN_PER_DAY)},
    ]
    payload = json.dumps([{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
                          | {"values": values.tolist()} for c in cases])
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", _PY_EVALUATE], input=payload, capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    python = json.loads(res.stdout)
    for case, py in zip(cases, python):
        expected = np.array(py["dydt"])
        scale = np.abs(expected) + 1e-12 * np.abs(case["y"]) + 1e-30
        for label, fn in (("model.evaluate", M.evaluate), ("solver._f", solver._f)):
            dydt = np.empty(S.N_STATE)
            aux = np.empty(M.N_AUX)
            fn(case["t"], case["y"].copy(), p, case["c0"].copy(), case["t0"].copy(), dydt, aux)
            rel = np.abs(dydt - expected) / scale
            worst = int(np.argmax(rel))
            assert rel[worst] < 1e-8, (f"{label} differs from the source at t={case['t']}: {S.NAMES[worst]} "
                                       f"{dydt[worst]!r} vs {expected[worst]!r}; stale numba cache?")
            np.testing.assert_allclose(aux, py["aux"], rtol=1e-8, atol=1e-300, err_msg=label)
