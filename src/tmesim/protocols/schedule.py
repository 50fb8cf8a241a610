"""Compile a scenario into per-row arrays for the batched well-mixed engine.

A row is one (arm, virtual patient) pair, arm-major. Each row gets its own
parameter values (arm knobs and overrides, then the patient's log-normal
factors, the same patient in every arm: a paired design), resolved once into
the cell programs' groups (:func:`tmesim.params.resolve.resolve`), and its own
event table compiled from the arm's engine-neutral events
(:func:`.events.arm_events`): drug doses as concentration increments (the
patient's volume of distribution) and CAR T infusions as the manufactured
product (the patient's CAR T cell row), in minutes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..params.index import CATALOGUE, COLUMN as _COLUMN, NAMES
from ..params.resolve import resolve, resolve_group
from . import drugs, products
from .events import DOSE, INFUSION, Event, arm_events

EVENT_DOSE, EVENT_INFUSION = 0, 1
#: Dose payload: drug index, concentration increment (mg/L).
DOSE_DRUG, DOSE_CONCENTRATION = 0, 1
#: Infusion payload: CD8 and CD4 CAR T cells, the stem-like memory fraction,
#: then the product's exhaustion axis (``products.AXIS``).
INFUSION_CD8, INFUSION_CD4, INFUSION_MEMORY_FRACTION, INFUSION_AXIS = 0, 1, 2, 3
PAYLOAD = INFUSION_AXIS + len(products.AXIS)
MIN_PER_DAY = 1440.0


@dataclass
class Batch:
    """Per-row inputs of a batched run (R rows = arms x patients).

    ``values`` holds each row's parameter values (internal units, catalogue
    order; what the results report), ``params`` the same resolved into the
    engine's row layout (what compiled code reads), ``events`` each arm's
    event list.
    """

    arms: list[str]
    n_patients: int
    values: np.ndarray  # (R, n_params) internal units
    params: np.ndarray  # (R,) structured rows of the layout
    events: list[list[Event]]  # per arm
    ev_time: np.ndarray  # (R, E) minutes
    ev_kind: np.ndarray  # (R, E)
    ev_payload: np.ndarray  # (R, E, PAYLOAD)
    n_ev: np.ndarray  # (R,)
    factors: np.ndarray  # (n_patients, n_params) patient multipliers

    @property
    def n_rows(self) -> int:
        return self.values.shape[0]


def patient_factors(scenario, root: np.random.SeedSequence | None = None) -> np.ndarray:
    """Log-normal multipliers ``exp(sigma * z)`` per patient and parameter.

    Each parameter's column comes from its own stream, keyed by the
    parameter's name under the root seed, ``SeedSequence([root entropy,
    crc32(name)])``: a scenario and seed give the same cohort whatever the
    number of workers, and adding a parameter to the catalogue leaves every
    other parameter's draws unchanged. ``root`` defaults to
    ``SeedSequence(scenario.seed)``.
    """
    entropy = scenario.seed if root is None else root.entropy
    n = scenario.cohort.size
    sigma = np.zeros(len(NAMES))
    for name, s in scenario.cohort.variability.items():
        if name == "all":
            for j, pname in enumerate(NAMES):
                if not CATALOGUE[pname].get("knob") and sigma[j] == 0.0:
                    sigma[j] = s
        else:
            sigma[_COLUMN[name]] = s
    z = np.zeros((n, len(NAMES)))
    for j, pname in enumerate(NAMES):
        if sigma[j] != 0.0:
            rng = np.random.default_rng(np.random.SeedSequence([entropy, zlib.crc32(pname.encode())]))
            z[:, j] = rng.standard_normal(n)
    return np.exp(sigma * z)


def _bounds() -> tuple[np.ndarray, np.ndarray]:
    """Catalogue lower and upper bounds as vectors in ``NAMES`` order."""
    lo = np.array([-np.inf if CATALOGUE[n].get("min") is None else CATALOGUE[n]["min"] for n in NAMES])
    hi = np.array([np.inf if CATALOGUE[n].get("max") is None else CATALOGUE[n]["max"] for n in NAMES])
    return lo, hi


def _infusion_payload(row, product_row, prod) -> np.ndarray:
    """Infusion payload for one patient: CD8 and CD4 CAR cells, stem-like
    memory fraction, then the product's manufactured exhaustion-axis state."""
    axis = products.manufacture(row["car_t"], product_row, prod.manufacturing == "bortezomib")
    payload = np.zeros(PAYLOAD)
    payload[INFUSION_CD8] = prod.cells * (1.0 - prod.cd4_fraction)
    payload[INFUSION_CD4] = prod.cells * prod.cd4_fraction
    payload[INFUSION_MEMORY_FRACTION] = products.memory_fraction(product_row, axis)
    payload[INFUSION_AXIS:] = axis
    return payload


def patient_columns(scenario, patient_values, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Columns and values (patients, columns) of explicit per-patient parameter values
    (``{name: array of one value per patient, internal units}``), checked against ``n`` patients
    (default: the scenario's cohort size)."""
    n = scenario.cohort.size if n is None else n
    cols, rows = [], []
    for name, values in (patient_values or {}).items():
        if name not in _COLUMN:
            from ..params.loader import unknown_parameter

            raise unknown_parameter(name, f"patient_values.{name}")
        values = np.asarray(values, dtype=float).reshape(-1)
        if values.size != n:
            from ..errors import InputError

            raise InputError(f"patient_values.{name}", f"{values.size} values for {n} patients",
                             "give one value per patient (the scenario's cohort size)")
        cols.append(_COLUMN[name])
        rows.append(values)
    return np.array(cols, dtype=np.int64), (np.stack(rows, axis=1) if rows else np.zeros((n, 0)))


def arm_patient_values(scenario, arm: int, factors: np.ndarray, given_cols: np.ndarray,
                       given: np.ndarray) -> tuple[np.ndarray, set[int]]:
    """One arm's parameter values per patient (patients, parameters; internal units, catalogue order) and
    the columns the arm sets itself.

    The arm's set (base, knobs, the arm's changes) times each patient's ``factors`` (patients,
    parameters), then each patient's given values (``given_cols``, ``given`` from
    :func:`patient_columns`) wherever the arm's own knobs and parameter changes do not set the parameter,
    clipped to the catalogue's bounds. Both engines build their rows with it.
    """
    own = {_COLUMN[name] for name in (*scenario.arms[arm].knobs, *scenario.arms[arm].parameters)}
    v = scenario.arm_parameter_sets[arm].vector() * factors
    for k, col in enumerate(given_cols):
        if col not in own:
            v[:, col] = given[:, k]
    lo, hi = _bounds()
    return np.clip(v, lo, hi), own


def apply_product_traits(values: np.ndarray, arm, expression: np.ndarray | float = 1.0) -> np.ndarray:
    """Set the lifelong traits of ``arm``'s CAR T products on its parameter ``values`` (``(..., n_params)``,
    internal units, catalogue order), in place, and return them: ``car_proteasome_expression`` (the CAR T
    cells' proteasome expression for life, in culture and in the patient) becomes the product's
    ``proteasome_expression`` (a genetic edit; 1 by default) times ``expression`` (per row: the patient's own
    given value or cohort factor; 1 without a cohort), and ``car_ifng_knockout`` 1 for a product made with
    ``ifng_knockout``. What manufacture leaves in the cells that ends at infusion (the culture's proteasome
    expression, ``car_culture_proteasome_expression``) is a parameter of manufacture, not a trait
    (:mod:`.products`). Both engines call it, so a product's traits act alike at either scale."""
    i_expr, i_ko = _COLUMN["car_proteasome_expression"], _COLUMN["car_ifng_knockout"]
    for prod in arm.products:
        values[..., i_expr] = prod.proteasome_expression * np.asarray(expression)
        if prod.ifng_knockout:
            values[..., i_ko] = 1.0
    return values


def arm_patient_rows(scenario, arm: int, factors: np.ndarray, given_cols: np.ndarray, given: np.ndarray) -> np.ndarray:
    """One arm's parameter rows per patient (internal units, catalogue order) as the engines run them:
    :func:`arm_patient_values` with the arm's CAR T product traits set (:func:`apply_product_traits`).

    Product traits are per-arm choices applied to each patient's parameters: a patient's own (given) CAR T
    proteasome expression, else its factor, times the product's setting. Both engines build rows with it.
    """
    v, own = arm_patient_values(scenario, arm, factors, given_cols, given)
    i_expr = _COLUMN["car_proteasome_expression"]
    given_expr = [k for k, col in enumerate(given_cols) if col == i_expr and col not in own]
    return apply_product_traits(v, scenario.arms[arm], given[:, given_expr[0]] if given_expr else factors[:, i_expr])


def compile_batch(scenario, layout, root: np.random.SeedSequence | None = None, patient_values=None) -> Batch:
    """Rows, resolved parameters and event tables of a scenario for the engine with row ``layout``.

    Unit conversions and bounds are resolved once per arm; only the
    per-patient parts (dose concentration from the patient's volume of
    distribution, the manufactured CAR product) are computed per row.
    ``root`` is the run's root SeedSequence (default ``SeedSequence(scenario.seed)``).
    ``patient_values`` (``{name: one value per patient}``, internal units) gives patients their own
    values of some parameters, as a virtual trial draws them; they replace the set's value (after the
    cohort's log-normal factors, which do not apply to them), and an arm's knobs and parameter changes
    still override them. A given ``car_proteasome_expression`` is the patient's CAR T cells' lifelong
    expression, which the arm's product ``proteasome_expression`` multiplies (as it multiplies the cohort
    factor); a given ``car_culture_proteasome_expression`` is the patient's culture's, for manufacture only.
    """
    factors = patient_factors(scenario, root)
    n_pat = scenario.cohort.size
    given_cols, given = patient_columns(scenario, patient_values)
    arm_values, arm_ev = [], []
    for a, arm in enumerate(scenario.arms):
        arm_values.append(arm_patient_rows(scenario, a, factors, given_cols, given))
        arm_ev.append(arm_events(scenario, a))
    values = np.concatenate(arm_values)
    params = resolve(values, layout)
    R = values.shape[0]
    timed = [[e for e in ev if e.kind in (DOSE, INFUSION)] for ev in arm_ev]
    E = max(1, max(len(t) for t in timed))
    ev_time = np.full((R, E), np.inf)
    ev_kind = np.zeros((R, E), dtype=np.int64)
    ev_payload = np.zeros((R, E, PAYLOAD))
    n_ev = np.zeros(R, dtype=np.int64)
    for a, events in enumerate(timed):
        rows = slice(a * n_pat, (a + 1) * n_pat)
        n_ev[rows] = len(events)
        product_rows = None
        for j, e in enumerate(events):
            ev_time[rows, j] = e.day * MIN_PER_DAY
            if e.kind == DOSE:
                d = drugs.get(e.target)
                ev_kind[rows, j] = EVENT_DOSE
                ev_payload[rows, j, DOSE_DRUG] = drugs.DRUGS.index(d)
                volume = params.drugs.volume[rows, drugs.DRUGS.index(d)]  # L/kg, each patient's
                ev_payload[rows, j, DOSE_CONCENTRATION] = e.amount / volume  # mg/L
            else:
                if product_rows is None:
                    product_rows = resolve_group(values[rows], products.PARAMS)
                ev_kind[rows, j] = EVENT_INFUSION
                for k, r in enumerate(range(rows.start, rows.stop)):
                    ev_payload[r, j] = _infusion_payload(params[r], product_rows[k], e.product)
    return Batch([a.name for a in scenario.arms], n_pat, values, params, arm_ev, ev_time, ev_kind, ev_payload, n_ev,
                 factors)
