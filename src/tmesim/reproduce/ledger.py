"""The calibration ledger: what was set with a ``tmesim reproduce`` check in view.

A check is ``fitted`` when anything was calibrated on it, else ``predicted``.
What counts is read from data, not prose:

* parameter records whose ``calibrated_on`` lists the check id, in the
  parameter sets the check's scenario runs on: each arm's resolved set (the
  scenario's set with its and the arm's overrides) and the sets it inherits
  from (a value an inheriting set derives from its parent's, e.g. "half the
  base value", rests on the parent's calibration too);
* model choices that are not a parameter value, in ``choices.yaml`` beside
  this module (e.g. a cohort size, a term added or removed).

Parameter names appear as they are (with the set in parentheses when only an
inherited set's record lists the check); choices as ``choice:<id>``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import InputError

#: Keys of one entry of ``choices.yaml``.
CHOICE_KEYS = ("id", "checks", "what", "reason")


@lru_cache(maxsize=1)
def choices() -> tuple[dict, ...]:
    """The model choices of ``choices.yaml``, validated: each ``{id, checks, what, reason}``.

    Raises
    ------
    tmesim.errors.InputError
        Naming the entry and key, for a missing or unknown key, a repeated id or an unknown check id.
    """
    import yaml

    text = resources.files("tmesim.reproduce").joinpath("choices.yaml").read_text()
    return validate_choices(yaml.safe_load(text), "choices.yaml")


def validate_choices(doc, where: str) -> tuple[dict, ...]:
    """Check a ``choices.yaml`` document (``{choices: [{id, checks, what, reason}, ...]}``); return its entries."""
    from ..params.loader import suggest
    from .findings import BY_ID

    if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list):
        raise InputError(where, "expected a 'choices:' list", "see the comment at the top of choices.yaml")
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(doc["choices"]):
        field = f"{where}.choices[{i}]"
        if not isinstance(entry, dict):
            raise InputError(field, f"expected a mapping with {', '.join(CHOICE_KEYS)}")
        for key in entry:
            if key not in CHOICE_KEYS:
                raise InputError(f"{field}.{key}", "unknown key", suggest(str(key), CHOICE_KEYS) or f"allowed: {', '.join(CHOICE_KEYS)}")
        for key in CHOICE_KEYS:
            if not entry.get(key):
                raise InputError(f"{field}.{key}", "missing", "every choice says what it is, why, and the checks it was made for")
        if entry["id"] in seen:
            raise InputError(f"{field}.id", f"repeated id {entry['id']!r}", "give each choice its own id")
        seen.add(entry["id"])
        checks = entry["checks"]
        if isinstance(checks, str) or not isinstance(checks, list):
            raise InputError(f"{field}.checks", f"expected a list of check ids, got {checks!r}", 'e.g. ["2c"]')
        for check in checks:
            if str(check) not in BY_ID:
                raise InputError(f"{field}.checks", f"unknown check id {check!r}",
                                 suggest(str(check), BY_ID) or "see src/tmesim/reproduce/findings.py")
        out.append({**entry, "checks": [str(c) for c in checks]})
    return tuple(out)


def calibrated_on(check_id: str, scenario=None, entries: tuple[dict, ...] | None = None) -> tuple[str, ...]:
    """What was set with check ``check_id`` in view: parameter names, then ``choice:<id>`` entries.

    ``scenario`` is the check's :class:`~tmesim.scenario.Scenario` (None when it could not be loaded: then
    only the choices count); ``entries`` the choices (default :func:`choices`).
    """
    names: list[str] = []
    if scenario is not None:
        for parameter_set in scenario.arm_parameter_sets:
            names += [r.name for r in parameter_set.records() if check_id in r.calibrated_on]
        for parent in _ancestors(scenario.parameter_set):
            names += [f"{r.name} ({parent})" for r in _records(parent)
                      if check_id in r.calibrated_on and r.name not in names]
    entries = choices() if entries is None else entries
    names += [f"choice:{c['id']}" for c in entries if check_id in c["checks"]]
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=None)
def _ancestors(set_name: str) -> tuple[str, ...]:
    from ..params.loader import inherited_sets

    return inherited_sets(set_name)


@lru_cache(maxsize=None)
def _records(set_name: str) -> tuple:
    from ..params import load_parameter_set

    return tuple(load_parameter_set(set_name).records())
