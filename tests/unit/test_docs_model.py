"""docs/model.md stays true to the model code.

The page writes out the well-mixed model's equations. These tests read the
names the code actually uses (state catalogue, parameters read by the
right-hand side, product manufacturing and the schedule, drugs, mechanism
functions) and check that each is named on the page, that the state tables
match ``state.py``, and that the page names no identifier the code no longer
has. When one fails, update docs/model.md with the code change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tmesim
from tmesim.params.index import CATALOGUE
from tmesim.protocols import drugs
from tmesim.wellmixed import state

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "model.md"
SRC = Path(tmesim.__file__).resolve().parent

# Sources whose parameter reads the page must document.
PARAM_SOURCES = ["wellmixed/model.py", "protocols/products.py", *sorted(
    str(p.relative_to(SRC)) for p in (SRC / "biology").glob("*.py"))]
BIOLOGY_ALIASES = ("ex", "fer", "gr", "kil", "mac", "rec", "sig")
DRUG_PARAMS = ("half_life", "volume", "ec50", "emax")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _read(rel: str) -> str:
    return (SRC / rel).read_text(encoding="utf-8")


def used_parameters() -> set[str]:
    """Catalogue names the model reads: ``P.<name>`` in the right-hand side,
    products and biology; ``NAMES.index("<name>")`` in the schedule; every
    drug's PK/PD parameters (read by position in model.py)."""
    names: set[str] = set()
    for rel in PARAM_SOURCES:
        names |= set(re.findall(r"\bP\.([a-z0-9_]+)", _read(rel)))
    names |= set(re.findall(r'NAMES\.index\("([a-z0-9_]+)"\)', _read("protocols/schedule.py")))
    for d in drugs.DRUGS:
        names |= {d.param(w) for w in DRUG_PARAMS}
    return names


def test_parameter_scan_finds_the_model() -> None:
    names = used_parameters()
    assert len(names) > 150, f"regex found only {len(names)} parameters: has model.py changed its P. alias?"
    unknown = sorted(names - set(CATALOGUE))
    assert not unknown, f"parameters read by the code but missing from catalogue.yaml: {unknown}"


def test_every_used_parameter_is_documented(doc: str) -> None:
    missing = sorted(n for n in used_parameters() if f"`{n}`" not in doc)
    assert not missing, f"parameters used by the model but not named in docs/model.md: {missing}"


def test_every_state_variable_and_output_is_documented(doc: str) -> None:
    missing = [n for n in [*state.NAMES, *state.AUX_NAMES] if f"`{n}`" not in doc]
    assert not missing, f"state variables/derived outputs not named in docs/model.md: {missing}"


def test_state_tables_match_state_py(doc: str) -> None:
    """Each row ``| `name` | unit | meaning | ...`` agrees with state.py."""
    rows = {m.group(1): (m.group(2).strip(), m.group(3).strip())
            for m in re.finditer(r"^\| `([a-z0-9_]+)` \| ([^|]*) \| ([^|]*) \|", doc, flags=re.M)}
    wrong = []
    for name in [*state.NAMES, *state.AUX_NAMES]:
        units, long_name, _group = state.info(name)
        if rows.get(name) != (units, long_name):
            wrong.append(f"{name}: doc {rows.get(name)} vs state.py {(units, long_name)}")
    assert not wrong, "state tables in docs/model.md are stale (regenerate, see section 2):\n" + "\n".join(wrong)


def test_state_table_tolerances_match_state_py(doc: str) -> None:
    """The atol column of the state-variable tables is the solver's."""
    rows = {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^\| `([a-z0-9_]+)` \|[^|\n]*\|[^|\n]*\|[^|\n]*\| ([^|\n]+) \|$", doc, flags=re.M)}
    wrong = [f"{name}: doc {rows.get(name)} vs state.py {tol:g}"
             for name, tol in zip(state.NAMES, state.atol()) if rows.get(name) is None or float(rows[name]) != tol]
    assert not wrong, "atol column of docs/model.md is stale:\n" + "\n".join(wrong)


def test_every_drug_is_documented(doc: str) -> None:
    missing = [d.name for d in drugs.DRUGS if f"`{d.name}`" not in doc]
    assert not missing, f"drugs not named in docs/model.md: {missing}"


def test_every_mechanism_function_called_by_the_model_is_documented(doc: str) -> None:
    src = _read("wellmixed/model.py") + _read("protocols/products.py")
    pattern = r"\b(?:" + "|".join(BIOLOGY_ALIASES) + r")\.([a-z_][a-z0-9_]*)\("
    called = set(re.findall(pattern, src))
    assert called, "no biology calls found: has model.py changed its import aliases?"
    missing = sorted(f for f in called if not re.search(rf"`(?:[a-z_]+\.)*{f}`", doc))
    assert not missing, f"mechanism functions called by the model but not named in docs/model.md: {missing}"


def test_doc_names_no_stale_identifier(doc: str) -> None:
    """Every snake_case name in backticks exists somewhere in the package
    (source or catalogue), so a renamed parameter or variable is caught."""
    known: set[str] = set(CATALOGUE) | set(state.NAMES) | set(state.AUX_NAMES)
    for path in SRC.rglob("*.py"):
        known |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.read_text(encoding="utf-8")))
    named = set(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", doc))
    stale = sorted(n for n in named if n not in known)
    assert not stale, f"docs/model.md names identifiers the code does not have: {stale}"
