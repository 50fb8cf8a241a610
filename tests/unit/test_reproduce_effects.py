"""Effect sizes against data in ``tmesim reproduce`` (issue 19, item 3).

The data file (``src/tmesim/reproduce/effects.yaml``) is checked as data; the
comparison runs on synthetic results; one small real run (finding 3g, two
draws, no controls) checks that the JSON carries the fields. Nothing here
asserts a time.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from tmesim.errors import InputError
from tmesim.params.loader import citations
from tmesim.reproduce import effects as E
from tmesim.reproduce import findings as F
from tmesim.reproduce import runner as R

FIELDS = ("effect_data", "effect_kind", "ratio_to_data", "within_band")


def _required():
    return [f for f in F.FINDINGS if not f.informational]


def _direction(check: str, sources=("Wang2019",)) -> dict:
    return {"check": check, "kind": "direction only", "sources": list(sources), "note": "shows the direction"}


def _magnitude(check: str, **changes) -> dict:
    entry = {"check": check, "kind": "magnitude", "value": 0.5, "unit": F.BY_ID[check].unit, "source": "Wang2019",
             "what": "a synthetic number", "system": "a synthetic system", "where": "Fig. 0"}
    return {**entry, **changes}


def _doc(*replacing: dict) -> dict:
    """A valid document: the shipped entries with ``replacing`` put in place of (or beside) their checks."""
    by_check = {e["check"]: e for e in replacing}
    entries = [by_check.pop(f.id, _direction(f.id)) for f in _required()]
    return {"effects": entries + list(by_check.values())}


def _result(fid: str, effect: float = 1.0, lo: float = 1.0, hi: float = 1.0, holds: bool = True) -> R.Result:
    f = F.BY_ID[fid]
    return R.Result(**R._base_fields(f), effect=effect, lo=lo, hi=hi, fraction=1.0 if holds else 0.0, holds=holds,
                    status="ok", n_draws=3, kind="mechanistic" if holds else "fails")


# ------------------------------------------------------------------- the data
def test_every_required_check_has_an_entry_magnitude_or_direction_only():
    entries = E.effects()
    assert {f.id for f in _required()} <= set(entries)
    assert {e["kind"] for e in entries.values()} <= set(E.EFFECT_KINDS)


def test_each_entry_names_citations_present_in_citations_yaml_and_a_magnitude_its_unit():
    cited = citations()
    for check, entry in E.effects().items():
        if entry["kind"] == "magnitude":
            assert entry["source"] in cited, check
            assert entry["unit"] == F.BY_ID[check].unit and entry["where"] and entry["system"], check
            assert math.isfinite(entry["value"]), check
        else:
            assert entry["sources"] and all(s in cited for s in entry["sources"]), check
            assert entry["note"], check


def test_a_valid_magnitude_is_kept_with_its_source():
    entries = E.validate_effects(_doc(_magnitude("1a", value=0.4)))
    assert entries["1a"]["kind"] == "magnitude" and entries["1a"]["value"] == 0.4
    assert entries["1a"]["source"] == "Wang2019" and entries["1a"]["where"] == "Fig. 0"


@pytest.mark.parametrize("bad, field, words", [
    (_direction("9z"), "effects[38].check", "unknown check id '9z'"),
    (_direction("1a", sources=("Wang2091",)), "effects[0].sources", "unknown citation key 'Wang2091'"),
    (_magnitude("1a", source="Wang2091"), "effects[0].source", "did you mean 'Wang2019'"),
    (_magnitude("1a", unit="fold"), "effects[0].unit", "not the check's effect unit"),
    (_magnitude("1a", value="0.5"), "effects[0].value", "finite number"),
    (_magnitude("1a", where=""), "effects[0].where", "missing"),
    ({**_direction("1a"), "kind": "magnitud"}, "effects[0].kind", "must be one of"),
    ({**_direction("1a"), "value": 2.0}, "effects[0].value", "unknown key"),
])
def test_bad_data_is_one_input_error_naming_the_field(bad, field, words):
    with pytest.raises(InputError) as exc:
        E.validate_effects(_doc(bad), "effects.yaml")
    message = str(exc.value)
    assert exc.value.field == f"effects.yaml.{field}" and words in message and "\n" not in message


def test_a_required_check_without_an_entry_is_an_input_error():
    doc = _doc()
    doc["effects"] = [e for e in doc["effects"] if e["check"] != "2c"]
    with pytest.raises(InputError, match="no entry for required check.*2c"):
        E.validate_effects(doc)


# ----------------------------------------------------------- the comparison
@pytest.mark.parametrize("effect, lo, hi, value, ratio, within", [
    (0.9, 0.8, 0.95, 0.5, 1.8, False),   # model shifts less than the data: 1.8x, data below the band
    (0.9, 0.4, 0.95, 0.5, 1.8, True),
    (0.9, 0.4, 0.95, 0.95, 0.9 / 0.95, True),  # the band's edges count as within
    (-0.02, -0.05, 0.01, -0.04, 0.5, True),    # differences compare as ratios too
    (0.9, 0.8, 0.95, 0.0, math.nan, False),    # no ratio to a zero
    (math.nan, math.nan, math.nan, 0.5, math.nan, None),  # the check did not run
])
def test_ratio_to_data_and_within_band(effect, lo, hi, value, ratio, within):
    got_ratio, got_within = E.compare(effect, lo, hi, value)
    assert (math.isnan(got_ratio) and math.isnan(ratio)) or got_ratio == pytest.approx(ratio)
    assert got_within is within


def test_effect_fields_and_labels_on_synthetic_results():
    entries = E.validate_effects(_doc(_magnitude("1a", value=0.5)))
    fields = E.effect_fields("1a", 0.9, 0.4, 0.95, entries)
    assert fields["effect_kind"] == "magnitude" and fields["ratio_to_data"] == pytest.approx(1.8)
    assert fields["within_band"] is True and fields["effect_data"]["value"] == 0.5
    assert set(fields["effect_data"]) == set(E.DATA_KEYS)
    assert E.label(fields["effect_kind"], fields["ratio_to_data"], fields["within_band"]) == "data: 1.8x (within band)"
    assert E.label("magnitude", 0.25, False) == "data: 0.25x (outside band)"
    direction = E.effect_fields("1b", 0.9, 0.8, 0.95, entries)
    assert direction == dict(effect_data=None, effect_kind="direction only", ratio_to_data=direction["ratio_to_data"],
                             within_band=None) and math.isnan(direction["ratio_to_data"])
    assert E.label("direction only", math.nan, None) == "direction only"
    assert E.effect_fields("2e", 0.9, 0.8, 0.95, entries)["effect_kind"] == ""  # informational: no entry needed


def test_the_comparison_never_changes_the_verdict():
    entries = E.validate_effects(_doc(_magnitude("1a", value=0.1)))
    r = _result("1a", effect=0.9, lo=0.85, hi=0.95)
    compared = replace(r, **E.effect_fields("1a", r.effect, r.lo, r.hi, entries))
    assert compared.within_band is False and compared.holds and compared.passed == r.passed


def test_json_of_a_synthetic_result_carries_the_fields(tmp_path):
    entries = E.validate_effects(_doc(_magnitude("1a", value=0.5)))
    r = _result("1a", effect=0.9, lo=0.4, hi=0.95)
    r = replace(r, **E.effect_fields("1a", r.effect, r.lo, r.hi, entries))
    nan = replace(_result("1b"), **E.effect_fields("1b", 1.0, 1.0, 1.0, entries))
    records = json.loads(R.write_json([r, nan], tmp_path / "r.json").read_text())
    assert records[0]["effect_kind"] == "magnitude" and records[0]["ratio_to_data"] == pytest.approx(1.8)
    assert records[0]["within_band"] is True and records[0]["effect_data"]["source"] == "Wang2019"
    assert records[1]["effect_kind"] == "direction only" and records[1]["effect_data"] is None
    assert records[1]["ratio_to_data"] is None and records[1]["within_band"] is None


# ------------------------------------------------------------- a real run
def test_a_small_run_puts_the_fields_in_the_json(tmp_path, monkeypatch):
    unit = F.BY_ID["3g"].unit
    entries = {**E.effects(), "3g": E.validate_effects(_doc(_magnitude("3g", value=0.5, unit=unit)))["3g"]}
    monkeypatch.setattr(E, "effects", lambda: entries)
    [r] = R.run_findings(["3g"], draws=2, controls=False)
    assert r.status == "ok" and r.effect_kind == "magnitude"
    assert r.ratio_to_data == pytest.approx(r.effect / 0.5) and r.within_band == (r.lo <= 0.5 <= r.hi)
    [record] = json.loads(R.write_json([r], tmp_path / "r.json").read_text())
    for key in FIELDS:
        assert key in record
    assert record["effect_data"]["value"] == 0.5 and record["effect_data"]["unit"] == unit


# ------------------------------------------------------------------- the CLI
def test_cli_table_has_the_data_column_and_the_count(tmp_path, monkeypatch):
    from tmesim import cli

    entries = E.validate_effects(_doc(_magnitude("1a", value=0.5)))

    def fake(ids, **kwargs):
        out = []
        for fid, effect, lo, hi in (("1a", 0.9, 0.4, 0.95), ("1b", 0.9, 0.8, 0.95)):
            r = _result(fid, effect, lo, hi)
            out.append(replace(r, **E.effect_fields(fid, effect, lo, hi, entries)))
        return out

    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(cli._reproduce_table(fake(None), 3))
    table = console.export_text()
    assert "data: 1.8x (within band)" in table and "direction only" in table and "Wang2019, Fig. 0" in table
    monkeypatch.setattr(R, "run_findings", fake)
    out = CliRunner().invoke(cli.app, ["reproduce", "1a", "1b", "--no-controls", "--out", str(tmp_path / "f")])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert "1 of 2 required checks have a magnitude from the literature (1 within the model's 10-90% band); " \
           "1 are direction only" in said


def test_cli_bad_effects_data_is_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys):
    from tmesim import cli

    bad = tmp_path / "effects.yaml"
    doc = _doc(_direction("1a", sources=("Wang2091",)))
    bad.write_text(json.dumps(doc))  # JSON is YAML
    monkeypatch.setattr(E, "EFFECTS_FILE", bad)
    E.effects.cache_clear()
    try:
        monkeypatch.setattr("sys.argv", ["tmesim", "reproduce", "3g", "--draws", "2", "-q", "--out",
                                         str(tmp_path / "f")])
        with pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        E.effects.cache_clear()
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "effects[0].sources" in err and "Wang2091" in err and "Wang2019" in err
    assert not (tmp_path / "f").exists()
