"""Compile a scenario into per-row arrays for the batched engines.

A row is one (arm, virtual patient) pair, arm-major. Each row gets its own
parameter vector (arm knobs and overrides, then the patient's log-normal
factors, the same patient in every arm: a paired design), and its own event
table (drug doses and CAR T infusions, sorted by time, in minutes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params.index import CATALOGUE, NAMES
from ..units import conversion_factor
from . import drugs, products

PAYLOAD = 3 + len(products.AXIS)
EVENT_DOSE, EVENT_INFUSION = 0, 1
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

    Drawn from one SeedSequence(seed), so a scenario and seed give the same
    cohort whatever the number of workers.
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
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed))
    z = rng.standard_normal((n, len(NAMES)))
    return np.exp(sigma * z)


def _clip_to_bounds(p: np.ndarray) -> np.ndarray:
    lo = np.array([CATALOGUE[n].get("min", -np.inf) if CATALOGUE[n].get("min") is not None else -np.inf for n in NAMES])
    hi = np.array([CATALOGUE[n].get("max", np.inf) if CATALOGUE[n].get("max") is not None else np.inf for n in NAMES])
    return np.clip(p, lo, hi)


def _events(arm, p: np.ndarray, arm_index: int) -> list[tuple[float, int, np.ndarray]]:
    events = []
    for k, dose in enumerate(arm.doses):
        d = drugs.get(dose.drug)
        volume = p[NAMES.index(d.param("volume"))]
        mg_per_kg = dose.dose * conversion_factor(dose.unit, "mg/kg", f"arms[{arm_index}].doses[{k}].unit")
        for day in dose.days():
            payload = np.zeros(PAYLOAD)
            payload[0] = drugs.DRUGS.index(d)
            payload[1] = mg_per_kg / volume  # mg/L
            events.append((day * MIN_PER_DAY, EVENT_DOSE, payload))
    for prod in arm.products:
        expression = p[NAMES.index("car_proteasome_expression")]
        axis = products.manufacture(p, prod.manufacturing == "bortezomib", expression)
        payload = np.zeros(PAYLOAD)
        payload[0] = prod.cells * (1.0 - prod.cd4_fraction)
        payload[1] = prod.cells * prod.cd4_fraction
        payload[2] = products.progenitor_fraction(p, axis)
        payload[3:] = axis
        events.append((prod.day * MIN_PER_DAY, EVENT_INFUSION, payload))
    events.sort(key=lambda e: e[0])
    return events


def compile_batch(scenario) -> Batch:
    """Rows, parameters and event tables for a scenario."""
    factors = patient_factors(scenario)
    n_pat = scenario.cohort.size
    rows_p, rows_ev = [], []
    for a, arm in enumerate(scenario.arms):
        base = scenario.arm_parameters(arm).vector()
        for i in range(n_pat):
            p = _clip_to_bounds(base * factors[i])
            # product traits are per-arm choices, applied to this patient's parameters
            for prod in arm.products:
                p[NAMES.index("car_proteasome_expression")] = prod.proteasome_expression * factors[i, NAMES.index("car_proteasome_expression")]
                if prod.ifng_knockout:
                    p[NAMES.index("car_ifng_knockout")] = 1.0
            rows_p.append(p)
            rows_ev.append(_events(arm, p, a))
    R = len(rows_p)
    E = max(1, max(len(e) for e in rows_ev))
    ev_time = np.full((R, E), np.inf)
    ev_kind = np.zeros((R, E), dtype=np.int64)
    ev_payload = np.zeros((R, E, PAYLOAD))
    n_ev = np.zeros(R, dtype=np.int64)
    for r, evs in enumerate(rows_ev):
        n_ev[r] = len(evs)
        for j, (t, kind, payload) in enumerate(evs):
            ev_time[r, j] = t
            ev_kind[r, j] = kind
            ev_payload[r, j] = payload
    return Batch([a.name for a in scenario.arms], n_pat, np.array(rows_p), ev_time, ev_kind, ev_payload, n_ev, factors)
