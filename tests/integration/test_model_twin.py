"""The composed model equals its frozen basic twin.

``tests/basic_model`` is the well-mixed right-hand side, initial state and CAR T
manufacturing as they were written before the biology moved into cell
programs (commit 7bd9782: one ``evaluate`` reading a flat parameter vector by
position). The composed model (``tmesim.wellmixed.model`` over
``tmesim.biology.programs``, reading resolved parameter groups by name) must
give the same ``dydt`` and derived outputs, to 1e-12 relative, on random
states, parameter draws, knobs and drug exposures of every shipped parameter
set (PyBaMM tests its composed models against "basic" twins the same way).
Today the two agree bitwise; the test allows rounding-level reassociation.

A deliberate change to the model's numbers must change the twin in the same
commit (see tests/basic_model/__init__.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tmesim.biology.programs import tumor
from tmesim.params import list_parameter_sets, load_parameter_set
from tmesim.params.index import CATALOGUE, COLUMN
from tmesim.params.resolve import resolve, resolve_group
from tmesim.protocols import products
from tmesim.wellmixed import model as M
from tmesim.wellmixed import state as S
from tmesim.wellmixed.layout import ROW

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from basic_model import index as BI  # noqa: E402
from basic_model import model as B  # noqa: E402
from basic_model import products as BP  # noqa: E402

SETS = [name for name, _ in list_parameter_sets()]
N_STATES = 1000
RTOL = 1e-12
#: Knobs a draw may switch (genetic losses, over-expression, host context, supplies).
KNOBS = [name for name, spec in CATALOGUE.items() if spec.get("knob")]


def _draws(set_name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` parameter rows of a set: every parameter x log-normal(0.25), knobs at random in their range."""
    base = load_parameter_set(set_name).vector()
    values = base * np.exp(0.25 * rng.standard_normal((n, base.size)))
    for name in KNOBS:
        j = COLUMN[name]
        lo, hi = CATALOGUE[name].get("min") or 0.0, CATALOGUE[name].get("max")
        hi = 3.0 * max(base[j], 1.0) if hi is None else hi
        pick = rng.random(n) < 0.3
        values[pick, j] = rng.uniform(lo, hi, pick.sum())
        values[~pick, j] = base[j]
    lo = np.array([-np.inf if CATALOGUE[n].get("min") is None else CATALOGUE[n]["min"] for n in COLUMN])
    hi = np.array([np.inf if CATALOGUE[n].get("max") is None else CATALOGUE[n]["max"] for n in COLUMN])
    return np.clip(values, lo, hi)


#: Parameters the twin reads that the catalogue retired since, each from the catalogue values that replace
#: it (params/retired.yaml): a restatement, not a change of the model's numbers, so the twin stays frozen.
RESTATED = {
    # the line's resting labile iron pool fixes the import rate (tumor.derive)
    "iron_import_rate": lambda v: v[COLUMN["labile_iron_rest"]] * v[COLUMN["iron_export_rate"]],
    # the tumour's Hill power gives the line its stated resting ferroptosis hazard (tumor.ferroptosis_hill)
    "ferroptosis_hill": lambda v: float(tumor.ferroptosis_hill({name: v[COLUMN[name]:COLUMN[name] + 1] for name in (
        "tumor_ferroptosis_resting_hazard", "ferroptosis_max_rate", "tumor_lipid_peroxide_resting",
        "ferroptosis_threshold")})[0]),
}


def _old_vector(values: np.ndarray) -> np.ndarray:
    """The twin's flat parameter vector (its frozen order) from a row of parameter values, by name."""
    return np.array([RESTATED[name](values) if name in RESTATED else values[COLUMN[name]] for name in BI.NAMES])


def _state(y0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random state around ``y0``: every variable scaled by up to 10x either way, some set afresh,
    CAR T cells present or absent."""
    y = y0 * np.exp(rng.uniform(-2.3, 2.3, y0.size))
    fresh = rng.random(y0.size) < 0.3
    y[fresh] = rng.uniform(0.0, 2.0, fresh.sum()) * 10.0 ** rng.integers(-3, 7, fresh.sum())
    if rng.random() < 0.5:
        for name in S.T_CELL_POOLS:
            if name.startswith("car_"):
                y[S.NAMES.index(name)] = 0.0
    return y


def _close(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    return np.abs(new - old) <= RTOL * np.abs(old) + 1e-300


@pytest.mark.parametrize("set_name", SETS)
def test_rhs_equals_the_basic_twin(set_name):
    rng = np.random.default_rng(sum(map(ord, set_name)))
    values = _draws(set_name, N_STATES, rng)
    rows = resolve(values, ROW)
    dydt_new, dydt_old = np.empty(S.N_STATE), np.empty(S.N_STATE)
    aux_new, aux_old = np.empty(M.N_AUX), np.empty(B.N_AUX)
    worst = 0.0
    for k in range(N_STATES):
        p_old = _old_vector(values[k])
        y0 = B.initial_state(p_old)
        np.testing.assert_array_equal(M.initial_state(rows[k]), y0)
        y = _state(y0, rng)
        on = rng.random(B.D.N_DRUGS) < 0.4
        c0 = np.where(on, rng.uniform(0.0, 50.0, B.D.N_DRUGS), 0.0)
        t0 = rng.uniform(0.0, 1e4, B.D.N_DRUGS)
        t = float(t0.max() + rng.uniform(0.0, 5e3))
        B.evaluate(t, y, p_old, c0, t0, dydt_old, aux_old)
        M.evaluate(t, y, rows[k], c0, t0, dydt_new, aux_new)
        bad = ~_close(dydt_new, dydt_old)
        assert not bad.any(), (f"state {k}: {[S.NAMES[i] for i in np.flatnonzero(bad)]} differ: "
                               f"{dydt_new[bad]} vs {dydt_old[bad]}")
        bad_aux = ~_close(aux_new[:M.N_AUX_OUT], aux_old)
        assert not bad_aux.any(), f"state {k}: derived outputs {np.flatnonzero(bad_aux)} differ"
        scale = np.abs(dydt_old) + 1e-300
        worst = max(worst, float(np.max(np.abs(dydt_new - dydt_old) / scale)))
    assert worst <= RTOL


@pytest.mark.parametrize("set_name", SETS)
def test_events_and_manufacturing_equal_the_basic_twin(set_name):
    rng = np.random.default_rng(7 + len(set_name))
    values = _draws(set_name, 40, rng)
    rows = resolve(values, ROW)
    product = resolve_group(values, products.PARAMS)
    for k in range(values.shape[0]):
        p_old = _old_vector(values[k])
        for bortezomib in (False, True):
            np.testing.assert_array_equal(products.manufacture(rows[k].car_t, product[k], bortezomib),
                                          BP.manufacture(p_old, bortezomib, values[k, COLUMN["car_proteasome_expression"]]
                                                         * values[k, COLUMN["car_culture_proteasome_expression"]]))
        # a dose then an infusion of a manufactured product into a state with CAR T cells already present
        y = _state(B.initial_state(p_old), rng)
        c0, t0 = rng.uniform(0, 5, B.D.N_DRUGS), np.zeros(B.D.N_DRUGS)
        y_new, y_old, c_new, c_old = y.copy(), y.copy(), c0.copy(), c0.copy()
        t0_new, t0_old = t0.copy(), t0.copy()
        M.rebase_drugs(600.0, c_new, t0_new, rows[k])
        B.rebase_drugs(600.0, c_old, t0_old, p_old)
        np.testing.assert_array_equal(c_new, c_old)
        payload = np.zeros(3 + S.AXIS_LEN)
        payload[:3] = (1e6, 5e5, 0.3)
        payload[3:] = BP.manufacture(p_old, True, 1.0)
        M.apply_event(1, payload, y_new, c_new)
        B.apply_event(1, payload, y_old, c_old)
        np.testing.assert_array_equal(y_new, y_old)
