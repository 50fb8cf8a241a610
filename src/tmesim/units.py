"""Units: one pint registry for the package, with ``cell`` as a counted unit.

Parameters are stored in internal units (time in minutes, length in
micrometres, concentrations as stated per quantity); values given in any
compatible unit are converted on load, and an incompatible unit is an error.
"""

from __future__ import annotations

from functools import lru_cache

import pint

from .errors import InputError


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The package's unit registry (created once)."""
    ureg = pint.UnitRegistry()
    ureg.define("cell = [cell_count] = cells")
    return ureg


def _parse(unit: str, field: str):
    try:
        return registry().parse_units(unit.replace("µ", "u"))
    except Exception as exc:  # pint raises several types for bad strings
        raise InputError(field, f"cannot read unit {unit!r} ({exc.__class__.__name__})", "write e.g. '1/day', 'h', 'pM', 'mg/L'") from None


def conversion_factor(unit: str, internal_unit: str, field: str = "") -> float:
    """Factor that converts a value in ``unit`` into ``internal_unit``.

    Raises :class:`InputError` naming ``field`` when the units are not
    compatible (e.g. ``mM`` for a rate in ``1/min``).
    """
    src = _parse(unit, field)
    dst = _parse(internal_unit, field)
    if src.dimensionality != dst.dimensionality:
        raise InputError(field, f"unit {unit!r} is not compatible with {internal_unit!r}", f"give a unit of {internal_unit!r}'s kind")
    return float(registry().Quantity(1.0, src).to(dst).magnitude)
