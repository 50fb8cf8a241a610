"""FROZEN copy (7bd9782), do not edit. CAR T cell products: manufacturing sets the product's exhaustion state.

A product is made by stimulating T cells for ``car_manufacture_duration``
(CD3/CD28 or antigen beads) with or without low-dose bortezomib. We integrate
the same exhaustion-axis mechanism the engines use (mitochondria ->
proteasome -> free and nuclear haem -> BACH2) over the manufacturing period,
so a bortezomib product enters the patient with lower proteasome activity,
less nuclear haem and more BACH2 (Heme2026), and a product with higher
intrinsic proteasome expression enters more exhausted. The product's
stem-like memory fraction scales with its BACH2 (Yao 2021).
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from . import exhaustion as ex
from . import index as P

#: Order of the axis state in a product (matches the engines' axis layout).
AXIS = ("mito_depolarization", "proteasome", "free_heme", "nuclear_heme", "bach2", "pd1", "lipid_peroxide")
RESTED = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])


@kernel
def _axis_rates(x, p, stim, expression, inhibition, out):
    k_imp = p[P.heme_nuclear_import_rate]
    k_exp = p[P.heme_nuclear_export_rate]
    out[0] = ex.mito_depolarization_rate(x[0], stim, 1.0, p[P.mito_depolarization_rate], p[P.mito_repair_rate])
    out[1] = ex.proteasome_rate(x[1], x[0], expression, p[P.proteasome_induction_max], inhibition, p[P.proteasome_time_constant])
    out[2] = ex.free_heme_rate(x[2], x[3], x[1], x[0], p[P.heme_depolarization_gain], p[P.heme_clearance_rate], k_imp, 0.0, k_exp)
    out[3] = ex.nuclear_heme_rate(x[2], x[3], k_imp, 0.0, k_exp)
    out[4] = ex.bach2_rate(x[4], x[3], k_imp / k_exp, p[P.bach2_heme_half], p[P.bach2_heme_hill], p[P.bach2_time_constant])
    out[5] = ex.pd1_rate(x[5], stim, p[P.pd1_induction_max], p[P.pd1_time_constant])
    out[6] = 0.0  # no lipid-rich TME in culture


@kernel
def manufacture(p, bortezomib, expression):
    """Exhaustion-axis state of a product after manufacturing (RK4, 10 min steps).

    Parameters
    ----------
    p : parameter vector (internal units).
    bortezomib : True for low-dose bortezomib during manufacturing.
    expression : the cells' proteasome expression in culture (relative).

    Returns
    -------
    The 7 axis values (see :data:`AXIS`).
    """
    x = RESTED.copy()
    inhibition = p[P.car_bortezomib_inhibition] if bortezomib else 0.0
    stim = p[P.car_manufacture_stimulation]
    dt = 10.0
    duration = p[P.car_manufacture_duration]
    g, d = p[P.car_culture_expansion_rate], p[P.car_bortezomib_culture_death_rate]
    if bortezomib and d > 0.0:  # the culture runs until it expands as much as a standard one
        duration = duration * g / (g - d)
    n = int(duration / dt)
    k1 = np.empty(7)
    k2 = np.empty(7)
    k3 = np.empty(7)
    k4 = np.empty(7)
    for _ in range(n):
        _axis_rates(x, p, stim, expression, inhibition, k1)
        _axis_rates(x + 0.5 * dt * k1, p, stim, expression, inhibition, k2)
        _axis_rates(x + 0.5 * dt * k2, p, stim, expression, inhibition, k3)
        _axis_rates(x + dt * k3, p, stim, expression, inhibition, k4)
        x = x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def memory_fraction(p: np.ndarray, axis_state: np.ndarray) -> float:
    """Stem-like memory fraction (0..1) of a product: ``car_product_memory_max * min(BACH2, 1)``.

    BACH2 establishes the stem-like program (Yao 2021), and its level in a
    CAR T product sets the product's stem-like share (BACH2CAR2025).
    """
    return float(ex.stem_like_share(axis_state[4], p[P.car_product_memory_max]))
