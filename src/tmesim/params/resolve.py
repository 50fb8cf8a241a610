"""Resolve parameter values into the named, typed groups the cell programs read.

:func:`resolve` is the one step between parameter *values* (a set, or rows of
drawn values, in the catalogue's internal units) and the rows the engines
pass to compiled kernels: a numpy structured array with one nested record
per slot of an engine's :class:`~tmesim.biology.groups.Layout`. Each field is
filled by name from its source (a catalogue parameter, a constant, or a
vector of parameters), and each group's derived constants (the ferroptosis
switch's rate constants, a rested T cell's nuclear haem) are computed here,
once per row, never inside a kernel.
"""

from __future__ import annotations

import numpy as np

from ..biology.groups import Layout, ParamGroup
from .index import COLUMN as _COLUMN


def _column(values: np.ndarray, source, field: str) -> np.ndarray:
    if isinstance(source, str):
        try:
            return values[:, _COLUMN[source]]
        except KeyError:
            raise KeyError(f"{field}: {source!r} is not a catalogue parameter") from None
    if isinstance(source, tuple):
        return np.stack([_column(values, s, field) for s in source], axis=1)
    return np.full(values.shape[0], float(source))


def resolve_group(values: np.ndarray, group: ParamGroup, sources=None) -> np.recarray:
    """One group's resolved records, shape (rows,), from ``values`` (rows, catalogue) in internal units.

    ``sources`` maps fields to their sources where they differ from the field names
    (see :class:`~tmesim.biology.groups.Slot`).
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    sources = sources or {}
    out = np.zeros(values.shape[0], dtype=group.dtype)
    read = {}
    for name in group.fields:
        read[name] = _column(values, sources.get(name, name), f"{group.name}.{name}")
        out[name] = read[name]
    if group.derive is not None:
        derived = group.derive(read)
        for name in group.derived:
            out[name] = np.broadcast_to(derived[name], values.shape[0])
    return out.view(np.recarray)


def resolve(values: np.ndarray, layout: Layout) -> np.recarray:
    """Rows of ``layout`` (a record array, shape (rows,)) from parameter values (rows, catalogue), internal units.

    A row reads as ``rows[i].tumor.tumor_growth_rate`` in Python and in compiled code alike.

    Parameters
    ----------
    values : one row per (arm, patient) or per cell kind, columns in
        :data:`tmesim.params.index.NAMES` order; a 1-D vector is one row.
    layout : the engine's row layout.
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    rows = np.zeros(values.shape[0], dtype=layout.dtype)
    for slot in layout.slots:
        rows[slot.key] = resolve_group(values, slot.group, slot.sources)
    return rows.view(np.recarray)
