"""FROZEN copy (7bd9782), do not edit. Shared response shapes: Hill functions, occupancies and hazards."""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def hill(x, half, n):
    """Increasing Hill function ``x^n / (half^n + x^n)`` (dimensionless, 0..1).

    Negative ``x`` counts as zero. ``half`` is in the unit of ``x``.
    """
    xp = np.maximum(x, 0.0)
    xn = xp**n
    return xn / (half**n + xn)


@kernel
def hill_down(x, half, n):
    """Decreasing Hill function ``half^n / (half^n + x^n)`` = ``1 - hill``."""
    return 1.0 - hill(x, half, n)


@kernel
def occupancy(conc, ec50, emax):
    """Drug or ligand effect ``emax * c / (ec50 + c)`` (dimensionless).

    ``conc`` and ``ec50`` share a unit (e.g. mg/L); ``emax`` in 0..1.
    """
    c = np.maximum(conc, 0.0)
    return emax * c / (ec50 + c)


@kernel
def relax(x, target, tau_min):
    """First-order relaxation rate ``(target - x) / tau`` (unit of x per minute)."""
    return (target - x) / tau_min


@kernel
def event_probability(hazard_per_min, dt_min):
    """Probability that an event of hazard ``h`` (1/min) happens within ``dt``
    minutes: ``1 - exp(-h dt)``, so results do not depend on the step size."""
    return 1.0 - np.exp(-hazard_per_min * dt_min)
