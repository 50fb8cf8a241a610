"""Parameter groups: the named, typed parameters one cell program reads.

A :class:`ParamGroup` lists the fields a program reads by name (each a
float64, or a float64 vector for per-drug tables) and the constants it
derives from them once, when parameters are resolved (never inside a
compiled kernel). Resolved values live in numpy structured arrays: a row of
one is a numba ``Record`` whose fields compile to constant offsets, so
kernels read ``p.tumor_growth_rate`` as cheaply as ``p[17]``, but by name.

An engine lays out its parameter row as several groups (``tumor``,
``host_t``, ``car_t``, ...): see :class:`Layout`. A group may appear more
than once under different keys with different *sources*: the T cell program
reads ``proliferation_rate``, which for host T cells is the catalogue's
``t_cell_proliferation_rate`` and for CAR T cells ``car_proliferation_rate``.
Turning parameter values into rows is :func:`tmesim.params.resolve.resolve`;
this module imports only numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: A field's source: a catalogue parameter name, a constant, or (for a
#: vector field) a tuple of parameter names, one per element.
Source = str | float | tuple[str, ...]
#: Derivation of a group's derived fields: read fields -> derived fields
#: (numpy arrays over rows, internal units).
Derive = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class ParamGroup:
    """The parameters one cell program reads.

    Parameters
    ----------
    name : the group's name (``"tumor_cell"``).
    fields : names of the fields read from parameter values; by default each
        is the catalogue parameter of the same name.
    derived : names of the fields computed by ``derive`` at resolution.
    derive : computes the derived fields from the read ones (arrays over rows).
    vectors : fields that are float64 vectors, with their length.
    doc : one line on what the group is for.
    """

    name: str
    fields: tuple[str, ...]
    derived: tuple[str, ...] = ()
    derive: Derive | None = None
    vectors: Mapping[str, int] = field(default_factory=dict)
    doc: str = ""

    def __post_init__(self):
        names = self.fields + self.derived
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"group {self.name}: repeated fields {dup}")
        if bool(self.derived) != (self.derive is not None):
            raise ValueError(f"group {self.name}: derived fields need a derive function, and only they")

    @property
    def dtype(self) -> np.dtype:
        """Structured dtype of one resolved group (float64 fields, vectors as sub-arrays)."""
        return np.dtype([(n, "f8", (self.vectors[n],)) if n in self.vectors else (n, "f8")
                         for n in self.fields + self.derived], align=True)


@dataclass(frozen=True)
class Slot:
    """One group in an engine's parameter row, under ``key``, with the sources of its fields
    where they differ from the field names (see :data:`Source`)."""

    key: str
    group: ParamGroup
    sources: Mapping[str, Source] = field(default_factory=dict)

    def __post_init__(self):
        unknown = sorted(set(self.sources) - set(self.group.fields))
        if unknown:
            raise ValueError(f"slot {self.key}: sources for fields the group does not read: {unknown}")

    def source(self, name: str) -> Source:
        """Where field ``name`` comes from: a parameter name, a constant or a tuple of names."""
        return self.sources.get(name, name)


@dataclass(frozen=True)
class Layout:
    """An engine's parameter row: named slots, each a resolved :class:`ParamGroup`."""

    slots: tuple[Slot, ...]

    def __post_init__(self):
        keys = [s.key for s in self.slots]
        if len(set(keys)) != len(keys):
            raise ValueError(f"repeated slot keys in {keys}")

    @property
    def dtype(self) -> np.dtype:
        """Structured dtype of one row: one nested record per slot."""
        return np.dtype([(s.key, s.group.dtype) for s in self.slots], align=True)

    def parameters(self) -> set[str]:
        """Every catalogue parameter the layout reads."""
        out: set[str] = set()
        for slot in self.slots:
            for name in slot.group.fields:
                src = slot.source(name)
                if isinstance(src, str):
                    out.add(src)
                elif isinstance(src, tuple):
                    out.update(src)
        return out
