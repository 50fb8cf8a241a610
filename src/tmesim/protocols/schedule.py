"""Compile a scenario into per-row arrays for the batched engines.

A row is one (arm, virtual patient) pair, arm-major. Each row gets its own
parameter vector (arm knobs and overrides, then the patient's log-normal
factors, the same patient in every arm: a paired design), and its own event
table (drug doses and CAR T infusions, sorted by time, in minutes).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..params.index import CATALOGUE, NAMES
from ..units import conversion_factor
from . import drugs, products

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
    """Per-row inputs of a batched run (R rows = arms x patients)."""

    arms: list[str]
    n_patients: int
    p: np.ndarray  # (R, n_params) internal units
    ev_time: np.ndarray  # (R, E) minutes
    ev_kind: np.ndarray  # (R, E)
    ev_payload: np.ndarray  # (R, E, PAYLOAD)
    n_ev: np.ndarray  # (R,)
    factors: np.ndarray  # (n_patients, n_params) patient multipliers

    @property
    def n_rows(self) -> int:
        return self.p.shape[0]


def patient_factors(scenario) -> np.ndarray:
    """Log-normal multipliers ``exp(sigma * z)`` per patient and parameter.

    Each parameter's column comes from its own stream,
    ``SeedSequence([seed, crc32(name)])``: a scenario and seed give the same
    cohort whatever the number of workers, and adding a parameter to the
    catalogue leaves every other parameter's draws unchanged.
    """
    n = scenario.cohort.size
    sigma = np.zeros(len(NAMES))
    for name, s in scenario.cohort.variability.items():
        if name == "all":
            for j, pname in enumerate(NAMES):
                if not CATALOGUE[pname].get("knob") and sigma[j] == 0.0:
                    sigma[j] = s
        else:
            sigma[NAMES.index(name)] = s
    z = np.zeros((n, len(NAMES)))
    for j, pname in enumerate(NAMES):
        if sigma[j] != 0.0:
            rng = np.random.default_rng(np.random.SeedSequence([scenario.seed, zlib.crc32(pname.encode())]))
            z[:, j] = rng.standard_normal(n)
    return np.exp(sigma * z)


def _bounds() -> tuple[np.ndarray, np.ndarray]:
    """Catalogue lower and upper bounds as vectors in ``NAMES`` order."""
    lo = np.array([-np.inf if CATALOGUE[n].get("min") is None else CATALOGUE[n]["min"] for n in NAMES])
    hi = np.array([np.inf if CATALOGUE[n].get("max") is None else CATALOGUE[n]["max"] for n in NAMES])
    return lo, hi


def _arm_events(arm, arm_index: int) -> list[tuple[float, int, object]]:
    """The arm's event template, sorted by time: ``(minute, kind, item)`` where
    item is ``(drug, mg/kg)`` for a dose and the product for an infusion.

    Doses precede infusions at the same minute (a stable sort of doses, then
    products), as in the event tables the engines apply.
    """
    template = []
    for k, dose in enumerate(arm.doses):
        d = drugs.get(dose.drug)
        mg_per_kg = dose.dose * conversion_factor(dose.unit, "mg/kg", f"arms[{arm_index}].doses[{k}].unit")
        template += [(day * MIN_PER_DAY, EVENT_DOSE, (d, mg_per_kg)) for day in dose.days()]
    template += [(prod.day * MIN_PER_DAY, EVENT_INFUSION, prod) for prod in arm.products]
    template.sort(key=lambda e: e[0])
    return template


def _infusion_payload(p: np.ndarray, prod) -> np.ndarray:
    """Infusion payload for one patient: CD8 and CD4 CAR cells, stem-like
    memory fraction, then the product's manufactured exhaustion-axis state."""
    expression = p[NAMES.index("car_proteasome_expression")]
    axis = products.manufacture(p, prod.manufacturing == "bortezomib", expression)
    payload = np.zeros(PAYLOAD)
    payload[INFUSION_CD8] = prod.cells * (1.0 - prod.cd4_fraction)
    payload[INFUSION_CD4] = prod.cells * prod.cd4_fraction
    payload[INFUSION_MEMORY_FRACTION] = products.memory_fraction(p, axis)
    payload[INFUSION_AXIS:] = axis
    return payload


def compile_batch(scenario) -> Batch:
    """Rows, parameters and event tables for a scenario.

    Unit conversions and bounds are resolved once per arm; only the
    per-patient parts (dose concentration from the patient's volume of
    distribution, the manufactured CAR product) are computed per row.
    """
    factors = patient_factors(scenario)
    n_pat = scenario.cohort.size
    lo, hi = _bounds()
    i_expr, i_ko = NAMES.index("car_proteasome_expression"), NAMES.index("car_ifng_knockout")
    arm_p, templates = [], []
    for a, arm in enumerate(scenario.arms):
        p = np.clip(scenario.arm_parameters(arm).vector() * factors, lo, hi)
        # product traits are per-arm choices, applied to each patient's parameters
        for prod in arm.products:
            p[:, i_expr] = prod.proteasome_expression * factors[:, i_expr]
            if prod.ifng_knockout:
                p[:, i_ko] = 1.0
        arm_p.append(p)
        templates.append(_arm_events(arm, a))
    P = np.concatenate(arm_p)
    R = P.shape[0]
    E = max(1, max(len(t) for t in templates))
    ev_time = np.full((R, E), np.inf)
    ev_kind = np.zeros((R, E), dtype=np.int64)
    ev_payload = np.zeros((R, E, PAYLOAD))
    n_ev = np.zeros(R, dtype=np.int64)
    for a, template in enumerate(templates):
        rows = slice(a * n_pat, (a + 1) * n_pat)
        n_ev[rows] = len(template)
        for j, (t, kind, item) in enumerate(template):
            ev_time[rows, j] = t
            ev_kind[rows, j] = kind
            if kind == EVENT_DOSE:
                d, mg_per_kg = item
                ev_payload[rows, j, DOSE_DRUG] = drugs.DRUGS.index(d)
                ev_payload[rows, j, DOSE_CONCENTRATION] = mg_per_kg / P[rows, NAMES.index(d.param("volume"))]  # mg/L
            else:
                for r in range(rows.start, rows.stop):
                    ev_payload[r, j] = _infusion_payload(P[r], item)
    return Batch([a.name for a in scenario.arms], n_pat, P, ev_time, ev_kind, ev_payload, n_ev, factors)
