"""Effect sizes against data: what the literature says about the size of each check's effect.

``effects.yaml`` beside this module holds one entry per required check of
:mod:`.findings`, as data:

* ``kind: magnitude``: a number the cited source reports for the effect the
  check measures, in the check's own effect unit (``value``, ``unit``), with
  its ``source`` (a key of ``params/citations.yaml``), ``what`` it measures,
  the experimental ``system`` and ``where`` in the paper (figure, table);
* ``kind: direction only``: the cited ``sources`` show the direction but no
  number comparable to the check's effect (or no such number could be read
  and verified in them); ``note`` says what they show.

A number is recorded only when it was read in the source itself; otherwise
the entry is ``direction only``. Where a magnitude exists the run compares
the check's model effect (median and 10-90% band over the draws) with it:
``ratio_to_data`` (model median / data value, in the check's unit) and
``within_band`` (whether the data value lies within the model's 10-90% band).
The comparison is informational: it never changes whether a check holds or
the exit code of ``tmesim reproduce``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError

#: The two kinds of entry.
EFFECT_KINDS = ("magnitude", "direction only")
#: Keys of a ``magnitude`` entry (``note`` optional).
MAGNITUDE_KEYS = ("check", "kind", "value", "unit", "source", "what", "system", "where", "note")
#: Keys of a ``direction only`` entry (``note`` says what the sources show and why no number).
DIRECTION_KEYS = ("check", "kind", "sources", "note")
#: Keys of ``effect_data`` in a result (the data value and where it comes from).
DATA_KEYS = ("value", "unit", "source", "what", "system", "where")

#: The data file; tests point it elsewhere (then clear :func:`effects`' cache).
EFFECTS_FILE: Path | None = None


def _text() -> tuple[str, str]:
    """``(text, name)`` of the effects file."""
    if EFFECTS_FILE is not None:
        return Path(EFFECTS_FILE).read_text(), str(EFFECTS_FILE)
    return resources.files("tmesim.reproduce").joinpath("effects.yaml").read_text(), "effects.yaml"


@lru_cache(maxsize=1)
def effects() -> dict[str, dict[str, Any]]:
    """Check id -> its validated entry of ``effects.yaml`` (see :func:`validate_effects`).

    Raises
    ------
    tmesim.errors.InputError
        One line naming the entry and field of the first bad value.
    """
    import yaml

    text, name = _text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(name, f"not valid YAML ({' '.join(str(exc).split())})") from None
    return validate_effects(doc, name)


def validate_effects(doc, where: str = "effects.yaml", findings=None) -> dict[str, dict[str, Any]]:
    """Check an ``effects.yaml`` document (``{effects: [entry, ...]}``) and return check id -> entry.

    Every required check of ``findings`` (default: the catalogue) needs exactly one entry; an entry
    names a known check id, a known kind, citation keys present in ``params/citations.yaml``, and for a
    magnitude a finite ``value`` in the check's own effect ``unit`` with ``what``, ``system`` and ``where``.

    Raises
    ------
    tmesim.errors.InputError
        Naming the entry and field (e.g. ``effects.yaml.effects[3].source``) of the first problem.
    """
    from ..params.loader import citations, suggest
    from .findings import FINDINGS

    findings = FINDINGS if findings is None else findings
    by_id = {f.id: f for f in findings}
    if not isinstance(doc, dict) or not isinstance(doc.get("effects"), list):
        raise InputError(where, "expected an 'effects:' list", "see the comment at the top of effects.yaml")
    cited = citations()
    out: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(doc["effects"]):
        field = f"{where}.effects[{i}]"
        if not isinstance(entry, dict):
            raise InputError(field, "expected a mapping with check, kind and its data")
        check = str(entry.get("check", "")).strip()
        if not check:
            raise InputError(f"{field}.check", "missing", "the id of a check, e.g. \"2c\"")
        if check not in by_id:
            raise InputError(f"{field}.check", f"unknown check id {check!r}",
                             suggest(check, by_id) or "see src/tmesim/reproduce/findings.py")
        if check in out:
            raise InputError(f"{field}.check", f"repeated check {check!r}", "give each check one entry")
        kind = entry.get("kind")
        if kind not in EFFECT_KINDS:
            raise InputError(f"{field}.kind", f"must be one of {', '.join(map(repr, EFFECT_KINDS))}, got {kind!r}")
        allowed = MAGNITUDE_KEYS if kind == "magnitude" else DIRECTION_KEYS
        for key in entry:
            if key not in allowed:
                raise InputError(f"{field}.{key}", f"unknown key for a {kind!r} entry",
                                 suggest(str(key), allowed) or f"allowed: {', '.join(allowed)}")
        if kind == "magnitude":
            out[check] = _magnitude(entry, field, by_id[check], cited)
        else:
            sources = entry.get("sources")
            if isinstance(sources, str) or not isinstance(sources, list) or not sources:
                raise InputError(f"{field}.sources", f"expected a list of citation keys, got {sources!r}",
                                 'e.g. ["Wang2019"]')
            for key in sources:
                _cited(str(key), f"{field}.sources", cited)
            if not str(entry.get("note") or "").strip():
                raise InputError(f"{field}.note", "missing", "say what the sources show and why there is no number")
            out[check] = {"check": check, "kind": kind, "sources": [str(s) for s in sources],
                          "note": " ".join(str(entry["note"]).split())}
    missing = [f.id for f in findings if not f.informational and f.id not in out]
    if missing:
        raise InputError(where, f"no entry for required check(s) {', '.join(missing)}",
                         "give each a magnitude with its source, or 'direction only'")
    return out


def _cited(key: str, field: str, cited: dict[str, str]) -> None:
    from ..params.loader import suggest

    if key not in cited:
        raise InputError(field, f"unknown citation key {key!r}", suggest(key, cited) or "add it to params/citations.yaml")


def _magnitude(entry: dict, field: str, finding, cited: dict[str, str]) -> dict[str, Any]:
    for key in ("value", "unit", "source", "what", "system", "where"):
        if entry.get(key) is None or (isinstance(entry[key], str) and not entry[key].strip()):
            raise InputError(f"{field}.{key}", "missing",
                             "a magnitude gives value, unit, source, what, system and where (figure or table)")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{field}.value", f"must be a finite number, got {value!r}")
    unit = str(entry["unit"]).strip()
    if unit != finding.unit:
        raise InputError(f"{field}.unit", f"{unit!r} is not the check's effect unit {finding.unit!r}",
                         "express the data as the check measures it, or record 'direction only'")
    _cited(str(entry["source"]), f"{field}.source", cited)
    return {"check": finding.id, "kind": "magnitude", "value": float(value), "unit": unit,
            "source": str(entry["source"]), **{k: " ".join(str(entry[k]).split()) for k in ("what", "system", "where")},
            "note": " ".join(str(entry.get("note") or "").split())}


def compare(effect: float, lo: float, hi: float, value: float) -> tuple[float, bool | None]:
    """``(ratio_to_data, within_band)`` of a model effect against a data value (same unit).

    ``ratio_to_data`` is ``effect / value`` (NaN when either is not finite or the value is 0);
    ``within_band`` whether ``lo <= value <= hi`` (the model's 10-90% band), None when the band is not
    finite (the check did not run).
    """
    ratio = effect / value if (math.isfinite(effect) and math.isfinite(value) and value != 0) else math.nan
    within = bool(lo <= value <= hi) if (math.isfinite(lo) and math.isfinite(hi)) else None
    return ratio, within


def effect_fields(check_id: str, effect: float, lo: float, hi: float,
                  entries: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The result fields of one check: ``effect_data`` (:data:`DATA_KEYS`, or None), ``effect_kind``
    (``"magnitude"``, ``"direction only"``, or ``""`` for a check without an entry), ``ratio_to_data``
    (NaN without a magnitude) and ``within_band`` (None without one). ``effect``/``lo``/``hi`` are the
    check's median and 10-90% band in its unit; ``entries`` default to :func:`effects`."""
    entries = effects() if entries is None else entries
    entry = entries.get(check_id)
    if entry is None:
        return dict(effect_data=None, effect_kind="", ratio_to_data=math.nan, within_band=None)
    if entry["kind"] != "magnitude":
        return dict(effect_data=None, effect_kind=entry["kind"], ratio_to_data=math.nan, within_band=None)
    ratio, within = compare(effect, lo, hi, entry["value"])
    return dict(effect_data={k: entry[k] for k in DATA_KEYS}, effect_kind="magnitude", ratio_to_data=ratio,
                within_band=within)


def label(effect_kind: str, ratio_to_data: float, within_band: bool | None) -> str:
    """The table's short text: ``"data: 1.8x (within band)"``, ``"direction only"``, or ``""``."""
    if effect_kind != "magnitude":
        return effect_kind
    if not math.isfinite(ratio_to_data):
        return "data: -"
    band = "" if within_band is None else (" (within band)" if within_band else " (outside band)")
    return f"data: {ratio_to_data:.2g}x{band}"
