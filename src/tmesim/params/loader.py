"""Parameter sets: records with value, unit and source, loaded and checked.

A set is a YAML file under ``sets/`` (or any path) with ``name``,
``description``, optional ``inherits`` (another set's name) and
``parameters: {name: {value, unit, source, source_kind[, note][, calibrated_on]}}``.
Loading checks every name against the catalogue (suggesting the closest for a
typo), converts each unit to the internal unit (rejecting an incompatible one),
checks bounds and finiteness, and checks what the value rests on:

* ``source`` is a citation key (``citations.yaml``) or says ``assumption:`` /
  ``fitted:`` with a reason;
* ``source_kind`` (required in a set file) is one of :data:`SOURCE_KINDS` and
  agrees with the source: ``measured`` (the source reports this number, maybe
  after a unit conversion), ``derived`` (computed from sourced numbers; the
  ``note`` gives the derivation) and ``direction`` (the source shows the
  direction or mechanism; the value is an assumption motivated by it) need a
  citation key; ``assumption`` needs an ``assumption:`` source; ``fitted``
  (calibrated) needs a ``fitted:`` source, or a citation key together with
  ``calibrated_on``;
* ``calibrated_on`` (optional) lists the ``tmesim reproduce`` check ids whose
  outcome was in view when the value was set; only a ``fitted`` value has them.

A value given as an override (``--set``, a scenario's or arm's
``parameters:``, an arm's knobs) has kind :data:`OVERRIDE_KIND` unless a
mapping override states one.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Iterator, Mapping

import numpy as np
import yaml

from ..errors import InputError
from ..units import conversion_factor
from ..yamlio import load_text, shipped, shipped_or_file
from .index import CATALOGUE, NAMES

SOURCE_PREFIXES = ("assumption:", "fitted:", "override:")

#: What a value rests on (a set file must state one per parameter):
#: ``measured`` -- the cited source reports this number (maybe after a unit conversion);
#: ``derived`` -- computed from sourced numbers (the record's ``note`` gives the derivation);
#: ``direction`` -- the cited source shows the direction or mechanism, not the number:
#: the value is an assumption motivated by it;
#: ``assumption`` -- no source (``source: "assumption: <reason>"``);
#: ``fitted`` -- calibrated (``source: "fitted: <reason>"``, or a citation key with ``calibrated_on``).
SOURCE_KINDS = ("measured", "derived", "direction", "assumption", "fitted")
#: The kind of a value given as an override (``--set``, a scenario's ``parameters:``, an arm's
#: knobs) that does not state one: the user chose it, and no kind is claimed for it.
OVERRIDE_KIND = "override"
#: Kinds whose source must be a citation key.
_CITED_KINDS = ("measured", "derived", "direction")

#: Ids of the ``tmesim reproduce`` checks a value may be ``calibrated_on``. A light copy of the
#: check catalogue (``tmesim.reproduce.findings.FINDINGS``), which imports xarray and
#: matplotlib; tests/unit/test_params.py keeps the two equal.
CHECK_IDS = (
    "1a", "1b", "1c", "1d", "1e",
    "2a", "2b", "2c", "2d", "2e", "2f",
    "3a", "3b", "3c", "3d", "3e", "3f", "3g",
    "4a", "4b", "4c", "4d", "4e",
    "5a", "5b", "5c", "5d", "5e", "5f", "5g",
    "6a", "6b1", "6b2", "6c", "6d", "6e",
    "7a1", "7a2", "7a3", "7a4", "7a5", "7b1", "7b2",
)


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
    #: What the value rests on: one of :data:`SOURCE_KINDS`, or :data:`OVERRIDE_KIND`.
    source_kind: str = OVERRIDE_KIND
    #: ``tmesim reproduce`` check ids whose outcome was in view when the value was set.
    calibrated_on: tuple[str, ...] = ()

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


ENTRY_KEYS = ("value", "unit", "source", "source_kind", "note", "calibrated_on")


def _check_entry_keys(entry: Mapping, field: str) -> None:
    """Reject a key of a parameter entry other than :data:`ENTRY_KEYS` (a misspelt ``unit``
    would otherwise be ignored and the value read in the wrong unit)."""
    extra = sorted(str(k) for k in set(entry) - set(ENTRY_KEYS))
    if extra:
        raise InputError(field, f"unknown key {extra[0]!r}", suggest(extra[0], ENTRY_KEYS) or f"allowed: {', '.join(ENTRY_KEYS)}")


def _calibrated_on(value, field: str) -> tuple[str, ...]:
    """``calibrated_on`` as a tuple of known check ids (a list in YAML; none when absent)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InputError(f"{field}.calibrated_on", f"expected a list of check ids, got {value!r}", "e.g. [\"4d\"]")
    ids = []
    for item in value:
        check = str(item).strip()
        if check not in CHECK_IDS:
            raise InputError(f"{field}.calibrated_on", f"unknown check id {check!r}",
                             suggest(check, CHECK_IDS) or "see `tmesim reproduce --help` and docs/findings.md")
        if check not in ids:
            ids.append(check)
    return tuple(ids)


def _check_kind(kind, source: str, note: str, calibrated: tuple[str, ...], field: str, override: bool) -> str:
    """Validate ``source_kind`` against the source, note and ``calibrated_on``; return the kind."""
    if kind is None or str(kind).strip() == "":
        if override:
            kind = OVERRIDE_KIND
        else:
            raise InputError(field, "missing source_kind", f"give one of {', '.join(SOURCE_KINDS)}")
    kind = str(kind).strip()
    allowed = SOURCE_KINDS + ((OVERRIDE_KIND,) if override else ())
    if kind not in allowed:
        raise InputError(f"{field}.source_kind", f"unknown source_kind {kind!r}",
                         suggest(kind, allowed) or f"give one of {', '.join(allowed)}")
    if kind == OVERRIDE_KIND:
        return kind
    cited = source in citations()
    if kind in _CITED_KINDS and not cited:
        raise InputError(f"{field}.source_kind", f"source_kind {kind!r} needs a citation key as source, got {source!r}",
                         "a value without a source is 'assumption'; a calibrated one is 'fitted'")
    if kind == "assumption" and not source.startswith("assumption:"):
        raise InputError(f"{field}.source_kind", f"source_kind 'assumption' needs source 'assumption: <reason>', got {source!r}",
                         "a value cited to a paper that shows only the direction is 'direction'")
    if kind == "fitted" and not (source.startswith("fitted:") or (cited and calibrated)):
        raise InputError(f"{field}.source_kind", f"source_kind 'fitted' needs source 'fitted: <reason>', or a citation key "
                         f"with calibrated_on; got {source!r}", "say what it was fitted to")
    if kind == "derived" and not note:
        raise InputError(f"{field}.note", "source_kind 'derived' needs a note giving the derivation")
    if calibrated and kind != "fitted":
        raise InputError(f"{field}.calibrated_on", f"a value with calibrated_on is a calibration, but source_kind is {kind!r}",
                         "use source_kind 'fitted'")
    return kind


def make_record(name: str, value, unit, source: str, field: str, note: str | None = None, source_kind: str | None = None,
                calibrated_on=None, *, override: bool = False) -> ParameterRecord:
    """Validate one parameter entry and convert it to the internal unit.

    ``note`` (optional) says how the value was derived from its source; ``source_kind`` what
    the value rests on (required unless ``override``: a user's override without one has kind
    :data:`OVERRIDE_KIND`); ``calibrated_on`` the reproduce checks it was calibrated with.
    """
    if name not in CATALOGUE:
        raise unknown_parameter(name, field)
    spec = CATALOGUE[name]
    if unit is None or str(unit).strip() == "":
        raise InputError(field, f"missing unit for {name!r}", f"give a unit compatible with {spec['unit']!r}")
    if not isinstance(unit, str):
        raise InputError(field, f"unit must be text, got {unit!r}", f"e.g. {spec['unit']!r}")
    if isinstance(value, (bool, np.bool_)):
        raise InputError(field, f"value {value!r} is not a number", "write the number (true is not 1 here)")
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
    note = " ".join((note or "").split())
    calibrated = _calibrated_on(calibrated_on, field)
    kind = _check_kind(source_kind, source, note, calibrated, field, override)
    return ParameterRecord(name, internal, spec["unit"], given, str(unit), source, spec["description"], note, kind, calibrated)


def kind_counts(records) -> dict[str, int]:
    """Records per ``source_kind``, in the order of :data:`SOURCE_KINDS` (then overrides, if any)."""
    counts = {kind: 0 for kind in SOURCE_KINDS}
    for record in records:
        counts[record.source_kind] = counts.get(record.source_kind, 0) + 1
    return counts


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
        ``unit`` and optionally ``source``, ``note``, ``source_kind`` and
        ``calibrated_on``. An override that states no ``source_kind`` has kind
        :data:`OVERRIDE_KIND`.
        """
        recs = dict(self.by_name)
        for name, spec in overrides.items():
            f = f"{field}.{name}"
            if name not in CATALOGUE:
                raise unknown_parameter(name, f)
            unit = self.by_name[name].given_unit
            src = source
            note = kind = calibrated = None
            if isinstance(spec, Mapping):
                _check_entry_keys(spec, f)
                value, unit, src, note = spec.get("value"), spec.get("unit", unit), spec.get("source", source), spec.get("note")
                kind, calibrated = spec.get("source_kind"), spec.get("calibrated_on")
            elif isinstance(spec, str):
                parts = spec.strip().split(None, 1)
                if not parts:
                    raise InputError(f, "empty value")
                value = parts[0]
                unit = parts[1] if len(parts) > 1 else unit
            else:
                value = spec
            recs[name] = make_record(name, value, unit, src, f, note, kind, calibrated, override=True)
        return replace(self, by_name=recs)

    def to_dict(self) -> dict[str, dict]:
        """``{name: {value, unit, source, source_kind[, note][, calibrated_on]}}`` in internal units (provenance)."""
        return {r.name: {"value": r.value, "unit": r.unit, "source": r.source, "source_kind": r.source_kind,
                         **({"note": r.note} if r.note else {}),
                         **({"calibrated_on": list(r.calibrated_on)} if r.calibrated_on else {})}
                for r in self.records()}

    def kind_counts(self) -> dict[str, int]:
        """Records per ``source_kind`` (see :func:`kind_counts`)."""
        return kind_counts(self.records())


def _sets_dir():
    return resources.files("tmesim.params").joinpath("sets")


def list_parameter_sets() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped parameter set."""
    return shipped(_sets_dir())


def _read(name_or_path: str) -> tuple[dict, str]:
    text, where, _ = shipped_or_file(name_or_path, _sets_dir(), "parameter_set")
    doc, _ = load_text(text, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise InputError(where, "a parameter set needs a 'parameters:' mapping")
    unknown = set(doc) - {"name", "description", "inherits", "parameters"}
    if unknown:
        k = sorted(unknown)[0]
        raise InputError(f"{where}.{k}", "unknown key", suggest(k, ["name", "description", "inherits", "parameters"]))
    return doc, where


def inherited_sets(name_or_path: str) -> tuple[str, ...]:
    """Names of the sets ``name_or_path`` inherits from, nearest first (empty for a set without ``inherits``).

    Raises :class:`InputError` as :func:`load_parameter_set` does for an unknown set or a cycle.
    """
    chain: list[str] = []
    doc, _ = _read(name_or_path)
    while doc.get("inherits"):
        parent = str(doc["inherits"])
        if parent in chain or len(chain) > 5:
            raise InputError("inherits", "inheritance chain too deep (cycle?)")
        chain.append(parent)
        doc, _ = _read(parent)
    return tuple(chain)


def load_parameter_set(name_or_path: str = "mouse_b16_icb_ferroptosis", _depth: int = 0) -> ParameterSet:
    """Load, validate and resolve a parameter set by name or YAML path.

    Raises :class:`InputError` with the offending field for unknown names,
    bad units, out-of-bounds or non-finite values, missing sources, a missing
    or unknown ``source_kind`` or one that disagrees with the source, a
    ``derived`` value without a note, an unknown check id in
    ``calibrated_on``, or an incomplete set.
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
            raise InputError(field, "expected {value, unit, source, source_kind}")
        _check_entry_keys(entry, field)
        recs[name] = make_record(name, entry.get("value"), entry.get("unit"), entry.get("source"), field, entry.get("note"),
                                 entry.get("source_kind"), entry.get("calibrated_on"))
    missing = [n for n in NAMES if n not in recs]
    if missing:
        raise InputError(where, f"{len(missing)} parameters missing, first {missing[0]!r}", "add them or inherit from a complete set")
    return ParameterSet(str(doc.get("name", where)), " ".join(str(doc.get("description", "")).split()), recs)
