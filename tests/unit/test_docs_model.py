"""docs/model.md stays true to the model code.

The page writes out the well-mixed model's equations. These tests read the
names the code actually uses (state catalogue, the parameters the engine's
row layout resolves for the cell programs and closures, product
manufacturing, drugs, mechanism functions) and check that each is named on
the page, that the state tables match ``state.py``, and that the page names
no identifier the code no longer has. When one fails, update docs/model.md
with the code change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tmesim
from tmesim.params.index import CATALOGUE
from tmesim.protocols import drugs, products
from tmesim.wellmixed import state
from tmesim.wellmixed.layout import ROW

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "model.md"
SRC = Path(tmesim.__file__).resolve().parent

# Sources that compose the model: its closures, the cell programs, manufacturing.
MODEL_SOURCES = ["wellmixed/model.py", "protocols/products.py", "protocols/schedule.py", *sorted(
    str(p.relative_to(SRC)) for p in (SRC / "biology" / "programs").glob("*.py"))]
BIOLOGY_ALIASES = ("ex", "fer", "gr", "kil", "mac", "rec", "sig")
PROGRAM_ALIASES = ("tumor", "t_cell", "nk", "macrophage", "pharmacology")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _read(rel: str) -> str:
    return (SRC / rel).read_text(encoding="utf-8")


def used_parameters() -> set[str]:
    """Catalogue names the well-mixed model reads: every source of the engine's row layout (cell programs
    and closures) and of CAR T manufacturing."""
    return ROW.parameters() | set(products.PARAMS.fields)


def test_every_catalogue_parameter_is_read_by_a_group() -> None:
    from tmesim.spatial.layout import ROW as SPATIAL_ROW

    names = used_parameters() | SPATIAL_ROW.parameters()
    assert len(names) > 150
    assert sorted(names - set(CATALOGUE)) == [], "groups read parameters the catalogue lacks"
    assert sorted(set(CATALOGUE) - names) == [], "catalogue parameters no group reads"


def test_every_group_field_is_read_by_code() -> None:
    """No dead field: each field of a resolved group is read somewhere (``p.<field>`` in compiled code,
    ``["<field>"]`` in Python)."""
    src = "".join(_read(rel) for rel in MODEL_SOURCES)
    groups = [slot.group for slot in ROW.slots] + [products.PARAMS]
    unread = sorted({f"{g.name}.{f}" for g in groups for f in g.fields + g.derived
                     if not re.search(rf"\.{f}\b|\[\"{f}\"\]", src)})
    assert unread == [], f"group fields no code reads: {unread}"


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
    src = "".join(_read(rel) for rel in MODEL_SOURCES)
    pattern = r"\b(?:" + "|".join(BIOLOGY_ALIASES + PROGRAM_ALIASES) + r")\.([a-z_][a-z0-9_]*)\("
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
