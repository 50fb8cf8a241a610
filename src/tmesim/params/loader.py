"""Parameter sets: records with value, unit and source, loaded and checked.

A set is a YAML file under ``sets/`` (or any path) with ``name``,
``description``, optional ``inherits`` (another set's name) and
``parameters: {name: {value, unit, source}}``. Loading checks every name
against the catalogue (suggesting the closest for a typo), converts each unit
to the internal unit (rejecting an incompatible one), checks bounds and
finiteness, and checks that every source is a citation key or says
``assumption:``/``fitted:`` with a reason.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import yaml

from ..errors import InputError
from ..units import conversion_factor
from .index import CATALOGUE, NAMES

SOURCE_PREFIXES = ("assumption:", "fitted:", "override:")


@dataclass(frozen=True)
class ParameterRecord:
    """One parameter: its value in the internal unit, and where it came from.

    ``given_value``/``given_unit`` are as written in the set (what users see);
    ``value``/``unit`` are internal (what the engines use).
    """

    name: str
    value: float
    unit: str
    given_value: float
    given_unit: str
    source: str
    description: str
    #: How the value was derived from its source (optional; shown by ``tmesim params``).
    note: str = ""

    @property
    def is_assumption(self) -> bool:
        """True when the value has no literature source."""
        return self.source.startswith(SOURCE_PREFIXES)


@lru_cache(maxsize=1)
def citations() -> dict[str, str]:
    """Citation key -> full reference."""
    text = resources.files("tmesim.params").joinpath("citations.yaml").read_text()
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def retired() -> dict[str, dict[str, str]]:
    """Retired parameter name -> ``{replaced_by, why}`` (params/retired.yaml)."""
    text = resources.files("tmesim.params").joinpath("retired.yaml").read_text()
    return yaml.safe_load(text)


def unknown_parameter(name: str, field: str) -> InputError:
    """The error for a parameter name not in the catalogue: what replaced it if it was
    retired, else the nearest name."""
    old = retired().get(name)
    if old:
        return InputError(field, f"parameter {name!r} was retired", f"use {old['replaced_by']!r}: {old['why']}")
    return InputError(field, f"unknown parameter {name!r}", suggest(name, CATALOGUE) or "see `tmesim params`")


def suggest(name: str, known) -> str | None:
    """A 'did you mean' hint for a misspelled name, or None."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _quantity(value, unit) -> str:
    """``"3 1/day"``, or just ``"3"`` for a dimensionless unit (``"1"``)."""
    unit = str(unit).strip()
    return f"{value:g}" if unit in ("1", "") else f"{value:g} {unit}"


ENTRY_KEYS = ("value", "unit", "source", "note")


def _check_entry_keys(entry: Mapping, field: str) -> None:
    """Reject a key of a parameter entry other than :data:`ENTRY_KEYS` (a misspelt ``unit``
    would otherwise be ignored and the value read in the wrong unit)."""
    extra = sorted(str(k) for k in set(entry) - set(ENTRY_KEYS))
    if extra:
        raise InputError(field, f"unknown key {extra[0]!r}", suggest(extra[0], ENTRY_KEYS) or f"allowed: {', '.join(ENTRY_KEYS)}")


def make_record(name: str, value, unit, source: str, field: str, note: str | None = None) -> ParameterRecord:
    """Validate one parameter entry and convert it to the internal unit.

    ``note`` (optional) says how the value was derived from its source.
    """
    if name not in CATALOGUE:
        raise unknown_parameter(name, field)
    spec = CATALOGUE[name]
    if unit is None or str(unit).strip() == "":
        raise InputError(field, f"missing unit for {name!r}", f"give a unit compatible with {spec['unit']!r}")
    try:
        given = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"value {value!r} is not a number") from None
    if not math.isfinite(given):
        raise InputError(field, f"value must be finite, got {given}")
    factor = conversion_factor(str(unit), spec["unit"], field)
    internal = given * factor
    lo, hi = spec.get("min"), spec.get("max")
    # bounds are stated in the unit the value was given in
    if lo is not None and internal < lo:
        raise InputError(field, f"must be >= {_quantity(lo / factor, unit)}, got {_quantity(given, unit)}")
    if hi is not None and internal > hi:
        raise InputError(field, f"must be <= {_quantity(hi / factor, unit)}, got {_quantity(given, unit)}")
    source = str(source or "").strip()
    if not source:
        raise InputError(field, "missing source", "give a citation key or 'assumption: why'")
    if source.startswith(SOURCE_PREFIXES):
        if len(source.split(":", 1)[1].strip()) < 3:
            raise InputError(field, f"source {source!r} gives no reason")
    elif source not in citations():
        raise InputError(field, f"unknown citation key {source!r}", suggest(source, citations()) or "add it to params/citations.yaml")
    if note is not None and not isinstance(note, str):
        raise InputError(field, f"note must be text, got {type(note).__name__}")
    return ParameterRecord(name, internal, spec["unit"], given, str(unit), source, spec["description"], " ".join((note or "").split()))


@dataclass(frozen=True)
class ParameterSet:
    """A complete, validated parameter set (every catalogue parameter present)."""

    name: str
    description: str
    by_name: Mapping[str, ParameterRecord]

    def records(self) -> Iterator[ParameterRecord]:
        """Records in catalogue order."""
        return (self.by_name[n] for n in NAMES)

    def __getitem__(self, name: str) -> float:
        """Internal-unit value of a parameter."""
        try:
            return self.by_name[name].value
        except KeyError:
            raise unknown_parameter(name, "parameters") from None

    def vector(self) -> np.ndarray:
        """Values in internal units, ordered as :data:`tmesim.params.index.NAMES`."""
        return np.array([self.by_name[n].value for n in NAMES], dtype=np.float64)

    def with_overrides(self, overrides: Mapping[str, object], source: str = "override: set by user", field: str = "parameters") -> "ParameterSet":
        """A new set with some values replaced.

        Each override is a number (read in the unit the set states for that
        parameter), a string ``"value unit"``, or a mapping with ``value``,
        ``unit`` and optionally ``source`` and ``note``.
        """
        recs = dict(self.by_name)
        for name, spec in overrides.items():
            f = f"{field}.{name}"
            if name not in CATALOGUE:
                raise unknown_parameter(name, f)
            unit = self.by_name[name].given_unit
            src = source
            note = None
            if isinstance(spec, Mapping):
                _check_entry_keys(spec, f)
                value, unit, src, note = spec.get("value"), spec.get("unit", unit), spec.get("source", source), spec.get("note")
            elif isinstance(spec, str):
                parts = spec.strip().split(None, 1)
                if not parts:
                    raise InputError(f, "empty value")
                value = parts[0]
                unit = parts[1] if len(parts) > 1 else unit
            else:
                value = spec
            recs[name] = make_record(name, value, unit, src, f, note)
        return replace(self, by_name=recs)

    def to_dict(self) -> dict[str, dict]:
        """``{name: {value, unit, source[, note]}}`` in internal units (provenance)."""
        return {r.name: {"value": r.value, "unit": r.unit, "source": r.source, **({"note": r.note} if r.note else {})}
                for r in self.records()}


def _sets_dir():
    return resources.files("tmesim.params").joinpath("sets")


def list_parameter_sets() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped parameter set."""
    out = []
    for entry in sorted(_sets_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            doc = yaml.safe_load(entry.read_text())
            out.append((doc["name"], " ".join(str(doc.get("description", "")).split())))
    return out


def _read(name_or_path: str) -> tuple[dict, str]:
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise InputError("parameter_set", f"file not found: {p}")
        text, where = p.read_text(), str(p)
    else:
        entry = _sets_dir().joinpath(f"{name_or_path}.yaml")
        if not entry.is_file():
            known = [n for n, _ in list_parameter_sets()]
            raise InputError("parameter_set", f"unknown parameter set {name_or_path!r}", suggest(str(name_or_path), known) or f"known: {', '.join(known)}")
        text, where = entry.read_text(), str(name_or_path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise InputError(where, f"malformed YAML{at}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise InputError(where, "a parameter set needs a 'parameters:' mapping")
    unknown = set(doc) - {"name", "description", "inherits", "parameters"}
    if unknown:
        k = sorted(unknown)[0]
        raise InputError(f"{where}.{k}", "unknown key", suggest(k, ["name", "description", "inherits", "parameters"]))
    return doc, where


def load_parameter_set(name_or_path: str = "mouse_b16_icb_ferroptosis", _depth: int = 0) -> ParameterSet:
    """Load, validate and resolve a parameter set by name or YAML path.

    Raises :class:`InputError` with the offending field for unknown names,
    bad units, out-of-bounds or non-finite values, missing sources, or an
    incomplete set.
    """
    if _depth > 5:
        raise InputError("inherits", "inheritance chain too deep (cycle?)")
    doc, where = _read(name_or_path)
    recs: dict[str, ParameterRecord] = {}
    if doc.get("inherits"):
        recs.update(load_parameter_set(doc["inherits"], _depth + 1).by_name)
    for name, entry in doc["parameters"].items():
        field = f"{where}.parameters.{name}"
        if not isinstance(entry, dict):
            raise InputError(field, "expected {value, unit, source}")
        _check_entry_keys(entry, field)
        recs[name] = make_record(name, entry.get("value"), entry.get("unit"), entry.get("source"), field, entry.get("note"))
    missing = [n for n in NAMES if n not in recs]
    if missing:
        raise InputError(where, f"{len(missing)} parameters missing, first {missing[0]!r}", "add them or inherit from a complete set")
    return ParameterSet(str(doc.get("name", where)), " ".join(str(doc.get("description", "")).split()), recs)
