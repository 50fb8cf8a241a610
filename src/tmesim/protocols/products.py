"""CAR T cell products: manufacturing sets the product's state at infusion.

A product is made by stimulating T cells (CD3/CD28 or antigen beads) with or
without low-dose bortezomib. We integrate the T cell program's exhaustion axis
(:func:`tmesim.biology.programs.t_cell.axis_rates`, the same function the engines
call) over the culture, in culture (no lipid-rich tissue, no haem-import
blocker, drivers at 1), so a bortezomib product enters the patient with lower
proteasome activity, less nuclear haem and more BACH2 (Heme2026). The
product's stem-like memory fraction scales with its BACH2 (Yao 2021).

What the manufacture leaves and what the cells keep are kept apart. In
culture the cells' proteasome expression is their lifelong expression (the
CAR T row's ``proteasome_expression``: 1, or a product's genetic edit) times
``car_culture_proteasome_expression``, the culture's own state, which differs
between patients' products (their T cells at harvest, the culture) and ends
at infusion: in the patient the cells' proteasome, haem and BACH2 relax
towards what their lifelong expression and the tumour microenvironment set,
and only the memory share the product entered with lasts longer.

Bortezomib also kills activated T cells (BortezomibTcell2006): under it the
culture expands more slowly (``car_bortezomib_culture_death_rate`` off
``car_culture_expansion_rate``). Trials dose CAR T cells by number, so a
bortezomib culture runs until it has expanded as much as a standard one
(:func:`culture_duration`); the dose is kept and the longer culture is the
dose's cost, paid in the product's state (more stimulation, more
depolarisation). :func:`culture_yield` gives the cells it would have at the
standard duration instead.
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
            "car_product_memory_max", "car_culture_proteasome_expression", "car_culture_expansion_rate",
            "car_bortezomib_culture_death_rate"),
    doc="CAR T cell manufacturing: duration of a standard culture (min), stimulation (0..1), bortezomib's "
        "proteasome inhibition, the product's maximal stem-like share, the culture's proteasome expression "
        "(relative to the cells' own), the culture's net expansion rate and bortezomib's extra death rate (1/min)",
)

#: Step of the manufacturing integration (min).
MANUFACTURE_STEP = 10.0


@kernel
def _culture_rates(x, stim, inhibition, expression, car, out):
    """Axis rates in culture: the T cell program's, with the cells' proteasome expression times the
    culture's ``expression``."""
    tg = t_cell.axis_targets(x, 0, stim, inhibition, car)
    proteasome = ex.proteasome_target(x[t_cell.A.mito_depolarization], car.proteasome_expression * expression,
                                      car.proteasome_induction_max, inhibition)
    t_cell.axis_rates_towards(x, 0, t_cell.AxisTargets(proteasome, tg.bach2, tg.pd1), stim, 1.0, 0.0, 0.0, 0.0, 0.0,
                              1.0, 0.0, car, out, 0)


@kernel
def _culture(car, stim, inhibition, expression, duration):
    """The axis after ``duration`` minutes of culture from rest (RK4, :data:`MANUFACTURE_STEP` steps)."""
    x = RESTED.copy()
    dt = MANUFACTURE_STEP
    n = int(duration / dt)
    k1 = np.empty(x.size)
    k2 = np.empty(x.size)
    k3 = np.empty(x.size)
    k4 = np.empty(x.size)
    for _ in range(n):
        _culture_rates(x, stim, inhibition, expression, car, k1)
        _culture_rates(x + 0.5 * dt * k1, stim, inhibition, expression, car, k2)
        _culture_rates(x + 0.5 * dt * k2, stim, inhibition, expression, car, k3)
        _culture_rates(x + dt * k3, stim, inhibition, expression, car, k4)
        x = x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def culture_duration(product, bortezomib: bool, where: str = "parameters") -> float:
    """Duration (min) of a product's culture: ``car_manufacture_duration`` for a standard product; for a
    bortezomib product, the time its culture needs to expand as much, ``duration * g / (g - d)`` with ``g`` =
    ``car_culture_expansion_rate`` and ``d`` = ``car_bortezomib_culture_death_rate`` (trials dose by cell
    number). Raises :class:`~tmesim.errors.InputError` if bortezomib kills at least as fast as the culture
    expands (the dose is never reached), naming ``where`` (the field that holds the parameters).

    ``product`` is the resolved :data:`PARAMS` record (internal units: min, 1/min).
    """
    duration = float(product["car_manufacture_duration"])
    if not bortezomib:
        return duration
    g, d = float(product["car_culture_expansion_rate"]), float(product["car_bortezomib_culture_death_rate"])
    if d <= 0.0:
        return duration
    if d >= g:
        from ..errors import InputError

        raise InputError(f"{where}.car_bortezomib_culture_death_rate",
                         f"{d * 1440.0:g}/day is not below car_culture_expansion_rate ({g * 1440.0:g}/day): a "
                         "bortezomib culture would never reach the dose",
                         "lower car_bortezomib_culture_death_rate or raise car_culture_expansion_rate")
    return duration * g / (g - d)


def culture_yield(product, bortezomib: bool, duration: float | None = None) -> float:
    """Viable cells of a culture after ``duration`` minutes (default ``car_manufacture_duration``) per cell of a
    standard culture of that duration (1 for a standard product): ``exp(-d * duration)`` under bortezomib."""
    if not bortezomib:
        return 1.0
    t = float(product["car_manufacture_duration"]) if duration is None else duration
    return float(np.exp(-float(product["car_bortezomib_culture_death_rate"]) * t))


def manufacture(car, product, bortezomib: bool) -> np.ndarray:
    """Exhaustion-axis state of a product at infusion (:data:`AXIS` order, relative).

    Parameters
    ----------
    car : the resolved CAR T cell row of the T cell program (its ``proteasome_expression`` is the cells'
        lifelong proteasome expression, relative).
    product : the resolved :data:`PARAMS` record: in culture the proteasome expression is the cells' times
        ``car_culture_proteasome_expression``, for :func:`culture_duration` minutes.
    bortezomib : True for low-dose bortezomib during manufacturing (proteasome inhibition
        ``car_bortezomib_inhibition`` and the longer culture its toxicity needs).

    Returns
    -------
    The axis values (:data:`AXIS` order).
    """
    inhibition = float(product["car_bortezomib_inhibition"]) if bortezomib else 0.0
    return _culture(car, float(product["car_manufacture_stimulation"]), inhibition,
                    float(product["car_culture_proteasome_expression"]), culture_duration(product, bortezomib))


def memory_fraction(product, axis_state: np.ndarray) -> float:
    """Stem-like memory fraction (0..1) of a product: ``car_product_memory_max * min(BACH2, 1)``.

    BACH2 establishes the stem-like program (Yao 2021), and its level in a
    CAR T product sets the product's stem-like share (BACH2CAR2025).
    """
    return float(ex.stem_like_share(axis_state[t_cell.A.bach2], product["car_product_memory_max"]))
