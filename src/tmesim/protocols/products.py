"""CAR T cell products: manufacturing sets the product's exhaustion state.

A product is made by stimulating T cells for ``car_manufacture_duration``
(CD3/CD28 or antigen beads) with or without low-dose bortezomib. We integrate
the T cell program's exhaustion axis (:func:`tmesim.biology.programs.t_cell.axis_rates`,
the same function the engines call) over the manufacturing period, in
culture (no lipid-rich tissue, no haem-import blocker, drivers at 1), so a
bortezomib product enters the patient with lower proteasome activity, less
nuclear haem and more BACH2 (Heme2026), and a product with higher intrinsic
proteasome expression (its CAR T parameter row's ``proteasome_expression``)
enters more exhausted. The product's stem-like memory fraction scales with
its BACH2 (Yao 2021).
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..biology import exhaustion as ex
from ..biology.groups import ParamGroup
from ..biology.programs import t_cell

#: Order of the axis state in a product (the T cell program's schema).
AXIS = t_cell.AXIS.names
RESTED = t_cell.AXIS.rest

PARAMS = ParamGroup(
    "car_product",
    fields=("car_manufacture_duration", "car_manufacture_stimulation", "car_bortezomib_inhibition",
            "car_product_memory_max"),
    doc="CAR T cell manufacturing: duration (min), stimulation (0..1), bortezomib's proteasome inhibition, "
        "the product's maximal stem-like share",
)

#: Step of the manufacturing integration (min).
MANUFACTURE_STEP = 10.0


@kernel
def _culture_rates(x, stim, inhibition, car, out):
    t_cell.axis_rates(x, 0, stim, 1.0, inhibition, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, car, out, 0)


@kernel
def manufacture(car, product, bortezomib):
    """Exhaustion-axis state of a product after manufacturing (RK4, :data:`MANUFACTURE_STEP` steps).

    Parameters
    ----------
    car : the resolved CAR T cell row of the T cell program (its ``proteasome_expression`` is the
        product's intrinsic proteasome expression, relative).
    product : the resolved :data:`PARAMS` record.
    bortezomib : True for low-dose bortezomib during manufacturing.

    Returns
    -------
    The axis values (:data:`AXIS` order).
    """
    x = RESTED.copy()
    inhibition = product.car_bortezomib_inhibition if bortezomib else 0.0
    stim = product.car_manufacture_stimulation
    dt = MANUFACTURE_STEP
    n = int(product.car_manufacture_duration / dt)
    k1 = np.empty(x.size)
    k2 = np.empty(x.size)
    k3 = np.empty(x.size)
    k4 = np.empty(x.size)
    for _ in range(n):
        _culture_rates(x, stim, inhibition, car, k1)
        _culture_rates(x + 0.5 * dt * k1, stim, inhibition, car, k2)
        _culture_rates(x + 0.5 * dt * k2, stim, inhibition, car, k3)
        _culture_rates(x + dt * k3, stim, inhibition, car, k4)
        x = x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def memory_fraction(product, axis_state: np.ndarray) -> float:
    """Stem-like memory fraction (0..1) of a product: ``car_product_memory_max * min(BACH2, 1)``.

    BACH2 establishes the stem-like program (Yao 2021), and its level in a
    CAR T product sets the product's stem-like share (BACH2CAR2025).
    """
    return float(ex.stem_like_share(axis_state[t_cell.A.bach2], product["car_product_memory_max"]))
