"""Parameter sets: completeness, provenance (sources and what each value rests on), unit
conversion and input errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tmesim.errors import InputError
from tmesim.params import citations, list_parameter_sets, load_parameter_set
from tmesim.params import index as P
from tmesim.params.index import CATALOGUE, NAMES
from tmesim.params.loader import CHECK_IDS, OVERRIDE_KIND, SOURCE_KINDS, SOURCE_PREFIXES, retired

BASE = "mouse_b16_icb_ferroptosis"
SET_NAMES = [name for name, _ in list_parameter_sets()]


@pytest.fixture(scope="module")
def base():
    return load_parameter_set(BASE)


def _raises_naming(where: str, fn, *args, contains: tuple[str, ...] = (), **kwargs) -> InputError:
    """Call ``fn``; it must raise InputError whose message names ``where``."""
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    assert where in text, f"{where!r} not named in {text!r}"
    for c in contains:
        assert c in text, f"{c!r} not in {text!r}"
    return info.value


# ---------------------------------------------------------------- catalogue
def test_catalogue_entries_have_unit_and_description():
    assert len(NAMES) == P.N_PARAMS > 100
    for name, spec in CATALOGUE.items():
        assert spec.get("unit") is not None, name
        assert str(spec.get("description", "")).strip(), name
        lo, hi = spec.get("min"), spec.get("max")
        if lo is not None and hi is not None:
            assert lo <= hi, name


def test_columns_match_catalogue_order():
    assert P.COLUMN["tumor_growth_rate"] == NAMES.index("tumor_growth_rate")
    assert NAMES[P.COLUMN["gsh_turnover_rate"]] == "gsh_turnover_rate"
    assert list(P.COLUMN) == list(NAMES)


# ------------------------------------------------------------- shipped sets
def test_there_is_at_least_the_base_set():
    assert BASE in SET_NAMES
    assert len(SET_NAMES) == len(set(SET_NAMES))


@pytest.mark.parametrize("name", SET_NAMES)
def test_shipped_set_loads_and_is_complete(name):
    ps = load_parameter_set(name)
    assert ps.name == name
    assert set(ps.by_name) == set(NAMES)
    vec = ps.vector()
    assert vec.shape == (len(NAMES),)
    assert np.all(np.isfinite(vec))
    for rec in ps.records():
        spec = CATALOGUE[rec.name]
        assert rec.unit == spec["unit"], rec.name
        if spec.get("min") is not None:
            assert rec.value >= spec["min"], rec.name
        if spec.get("max") is not None:
            assert rec.value <= spec["max"], rec.name
        assert vec[NAMES.index(rec.name)] == rec.value


@pytest.mark.parametrize("name", SET_NAMES)
def test_every_source_is_a_citation_or_a_reasoned_assumption(name):
    keys = citations()
    bad = []
    for rec in load_parameter_set(name).records():
        src = rec.source
        if src in keys:
            continue
        if src.startswith(SOURCE_PREFIXES) and len(src.split(":", 1)[1].strip()) >= 3:
            continue
        bad.append((rec.name, src))
    assert not bad, f"sources that are neither citation keys nor reasoned assumptions: {bad[:5]}"


@pytest.mark.parametrize("name", SET_NAMES)
def test_every_record_says_what_it_rests_on(name):
    for rec in load_parameter_set(name).records():
        assert rec.source_kind in SOURCE_KINDS, (rec.name, rec.source_kind)
        if rec.source_kind == "derived":
            assert rec.note, rec.name
        if rec.calibrated_on:
            assert rec.source_kind == "fitted", rec.name
            assert set(rec.calibrated_on) <= set(CHECK_IDS), rec.name
        if rec.source_kind in ("measured", "derived", "direction"):
            assert rec.source in citations(), rec.name


def test_check_ids_are_the_reproduce_catalogue():
    # the loader keeps a light copy so that loading a set does not import matplotlib
    from tmesim.reproduce.findings import FINDINGS

    assert set(CHECK_IDS) == {f.id for f in FINDINGS}
    assert len(CHECK_IDS) == len(set(CHECK_IDS))


@pytest.mark.parametrize(("set_name", "name", "checks"), [
    (BASE, "exhaustion_rate", {"4d"}),
    (BASE, "m2_il12_secretion", {"2c", "2d"}),
    (BASE, "csf1r_monocyte_redirect", {"6e"}),
    (BASE, "car_memory_self_renewal_stimulated", {"4d"}),
    ("human_ball_cd19car", "bach2_heme_half", {"4e"}),
])
def test_calibrations_name_their_checks(set_name, name, checks):
    rec = load_parameter_set(set_name).by_name[name]
    assert rec.source_kind == "fitted"
    assert checks <= set(rec.calibrated_on)


@pytest.mark.parametrize(("set_name", "name"), [
    (BASE, "t_cell_lipid_uptake_rate"), (BASE, "t_cell_ferroptosis_max_rate"), (BASE, "t_cell_gpx4_rate"),
    (BASE, "depolarization_function_loss"), (BASE, "depolarization_exhaustion_weight"), (BASE, "mito_depolarization_rate"),
    (BASE, "progenitor_function"), (BASE, "terminal_function"), (BASE, "acsl4_induction_max"),
    ("mouse_lymphoma_cd19car", "car_kill_fold"), ("human_ball_cd19car", "tumor_growth_rate"),
])
def test_papers_without_the_number_are_not_measurements(set_name, name):
    # Citation honesty (issue 19): these papers show a direction, not these numbers
    rec = load_parameter_set(set_name).by_name[name]
    assert rec.source_kind in ("direction", "fitted"), rec.source_kind
    assert rec.source_kind != "direction" or rec.note.startswith(f"assumption motivated by {rec.source}"), rec.note


def test_citations_are_full_references():
    refs = citations()
    assert refs
    for key, ref in refs.items():
        assert isinstance(ref, str) and len(ref) > 20, key


def test_inheriting_set_overrides_but_keeps_the_rest():
    others = [n for n in SET_NAMES if n != BASE]
    if not others:
        pytest.skip("only the base set is shipped")
    base_set = load_parameter_set(BASE)
    for name in others:
        ps = load_parameter_set(name)
        same = sum(ps.by_name[n].value == base_set.by_name[n].value for n in NAMES)
        assert 0 < same <= len(NAMES)


# ---------------------------------------------------------- unit conversion
class TestConversion:
    def test_rate_per_day_to_per_minute(self, base):
        ps = base.with_overrides({"tumor_growth_rate": "0.5 1/day"})
        assert ps["tumor_growth_rate"] == pytest.approx(0.5 / 1440.0, rel=1e-12)
        rec = ps.by_name["tumor_growth_rate"]
        assert (rec.given_value, rec.given_unit, rec.unit) == (0.5, "1/day", "1/min")
        assert rec.source.startswith("override:")
        assert rec.is_assumption

    def test_per_hour_and_hours(self, base):
        ps = base.with_overrides({"tumor_growth_rate": "0.03 1/h", "stat1_time_constant": "6 h"})
        assert ps["tumor_growth_rate"] == pytest.approx(0.03 / 60.0, rel=1e-12)
        assert ps["stat1_time_constant"] == pytest.approx(360.0, rel=1e-12)

    def test_bare_number_is_read_in_the_sets_unit(self, base):
        given_unit = base.by_name["tumor_growth_rate"].given_unit
        ps = base.with_overrides({"tumor_growth_rate": 0.9})
        expected = 0.9 * {"1/day": 1 / 1440.0, "1/h": 1 / 60.0, "1/min": 1.0}[given_unit]
        assert ps["tumor_growth_rate"] == pytest.approx(expected, rel=1e-12)

    def test_mapping_override_keeps_its_source(self, base):
        ps = base.with_overrides({"stat1_time_constant": {"value": 0.5, "unit": "day", "source": "Thibaut2020"}})
        assert ps["stat1_time_constant"] == pytest.approx(720.0)
        assert ps.by_name["stat1_time_constant"].source == "Thibaut2020"

    def test_note_is_kept_and_travels_with_provenance(self, base):
        rec = base.by_name["stromal_cell_fraction"]
        assert "0.817 x 0.132" in rec.note
        assert base.to_dict()["stromal_cell_fraction"]["note"] == rec.note
        assert "note" not in base.to_dict()["tumor_carrying_capacity"]

    def test_override_replaces_the_note(self, base):
        plain = base.with_overrides({"stromal_cell_fraction": 0.2})
        assert plain.by_name["stromal_cell_fraction"].note == ""
        noted = base.with_overrides({"stromal_cell_fraction": {"value": 0.2, "source": "assumption: test value",
                                                              "note": "twice  the\n usual"}})
        assert noted.by_name["stromal_cell_fraction"].note == "twice the usual"

    def test_source_kind_travels_with_provenance(self, base):
        d = base.to_dict()
        assert d["exhaustion_rate"]["source_kind"] == "fitted"
        assert "4d" in d["exhaustion_rate"]["calibrated_on"]
        assert "calibrated_on" not in d["tumor_carrying_capacity"]
        assert all(rec["source_kind"] in SOURCE_KINDS for rec in d.values())

    def test_override_has_kind_override_unless_it_states_one(self, base):
        ps = base.with_overrides({"tumor_growth_rate": "0.3 1/day",
                                  "stat1_time_constant": {"value": 0.5, "unit": "day", "source": "Thibaut2020"},
                                  "ifng_decay_rate": {"value": 0.004, "source": "fitted: test", "source_kind": "fitted",
                                                      "calibrated_on": ["1e"]}})
        assert ps.by_name["tumor_growth_rate"].source_kind == OVERRIDE_KIND
        assert ps.by_name["stat1_time_constant"].source_kind == OVERRIDE_KIND
        assert ps.by_name["ifng_decay_rate"].source_kind == "fitted"
        assert ps.by_name["ifng_decay_rate"].calibrated_on == ("1e",)
        assert ps.to_dict()["tumor_growth_rate"]["source_kind"] == OVERRIDE_KIND
        assert ps.kind_counts()[OVERRIDE_KIND] == 2

    def test_override_that_states_a_kind_is_checked(self, base):
        _raises_naming("parameters.tumor_growth_rate.source_kind", base.with_overrides,
                       {"tumor_growth_rate": {"value": 0.3, "source": "assumption: test", "source_kind": "measured"}},
                       contains=("citation key",))
        _raises_naming("parameters.tumor_growth_rate.calibrated_on", base.with_overrides,
                       {"tumor_growth_rate": {"value": 0.3, "source": "fitted: test", "source_kind": "fitted",
                                              "calibrated_on": ["9z"]}}, contains=("unknown check id",))

    def test_override_returns_new_set(self, base):
        before = base["tumor_growth_rate"]
        base.with_overrides({"tumor_growth_rate": "2 1/day"})
        assert base["tumor_growth_rate"] == before

    def test_base_set_values_converted(self, base):
        rec = base.by_name["tumor_growth_rate"]
        factor = {"1/day": 1 / 1440.0, "1/h": 1 / 60.0, "1/min": 1.0}[rec.given_unit]
        assert rec.value == pytest.approx(rec.given_value * factor, rel=1e-12)


# ------------------------------------------------------------- bad overrides
class TestBadOverrides:
    FIELD = "parameters.tumor_growth_rate"

    def test_incompatible_unit(self, base):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": "5 mM"}, contains=("mM",))

    def test_unreadable_unit(self, base):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": "5 blargs"})

    def test_unknown_name_suggests_the_near_one(self, base):
        err = _raises_naming("tumor_growth_rat", base.with_overrides, {"tumor_growth_rat": 0.1},
                             contains=("did you mean", "'tumor_growth_rate'"))
        assert err.field == "parameters.tumor_growth_rat"

    def test_retired_name_says_what_replaced_it(self, base):
        # not a spelling hint: 'gpx4_max_rate' is nearest to 't_cell_gpx4_rate'
        err = _raises_naming("parameters.gpx4_max_rate", base.with_overrides, {"gpx4_max_rate": 0.04},
                             contains=("retired", "'gpx4_capacity_margin'", "resting state"))
        assert "t_cell_gpx4_rate" not in str(err)
        _raises_naming("lipid_initiation_rate", base.__getitem__, "lipid_initiation_rate",
                       contains=("tumor_lipid_peroxide_resting",))

    def test_retired_names_are_gone_and_their_replacements_exist(self):
        for name, entry in retired().items():
            assert name not in CATALOGUE
            assert entry["replaced_by"] in CATALOGUE and entry["why"].strip()

    def test_unknown_name_via_getitem(self, base):
        _raises_naming("tumor_growth_rat", base.__getitem__, "tumor_growth_rat", contains=("tumor_growth_rate",))

    def test_negative_rate(self, base):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": "-1 1/day"}, contains=(">= 0 1/day, got -1 1/day",))

    @pytest.mark.parametrize("value", [math.nan, math.inf, "nan 1/day", "inf 1/day", "-inf 1/day"])
    def test_non_finite(self, base, value):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": value}, contains=("finite",))

    def test_fraction_above_one(self, base):
        _raises_naming("parameters.slc7a11_repression_max", base.with_overrides, {"slc7a11_repression_max": 1.5},
                       contains=("<=",))

    def test_not_a_number(self, base):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": "abc"}, contains=("abc",))

    def test_empty_value(self, base):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": "  "})

    def test_misspelt_key_of_a_mapping_override(self, base):
        # a misspelt "unit" must not be ignored (the value would be read in the set's unit)
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": {"value": 0.5, "unti": "1/day"}},
                       contains=("'unti'", "did you mean 'unit'?"))

    def test_note_must_be_text(self, base):
        _raises_naming(self.FIELD, base.with_overrides, {"tumor_growth_rate": {"value": 0.5, "note": [1, 2]}},
                       contains=("note must be text",))

    def test_custom_field_prefix(self, base):
        err = _raises_naming("arms[2].parameters.tumor_growth_rate", base.with_overrides,
                             {"tumor_growth_rate": "-1 1/day"}, field="arms[2].parameters")
        assert err.field == "arms[2].parameters.tumor_growth_rate"


# ------------------------------------------------------------ bad set files
def _write(tmp_path: Path, text: str, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestSetFiles:
    def test_valid_custom_set_inherits(self, tmp_path):
        path = _write(tmp_path, f"""
name: custom
description: test set
inherits: {BASE}
parameters:
  tumor_growth_rate: {{value: 0.3, unit: 1/day, source: "assumption: test value", source_kind: assumption}}
""")
        ps = load_parameter_set(str(path))
        assert ps.name == "custom"
        assert ps["tumor_growth_rate"] == pytest.approx(0.3 / 1440.0)
        assert ps["gsh_turnover_rate"] == load_parameter_set(BASE)["gsh_turnover_rate"]

    def test_fitted_and_derived_entries_load(self, tmp_path):
        path = _write(tmp_path, f"""
name: custom
inherits: {BASE}
parameters:
  tumor_growth_rate: {{value: 0.3, unit: 1/day, source: Halle2016, source_kind: fitted, calibrated_on: ["2a", "2a", "7b1"]}}
  ctl_max_kill_rate: {{value: 4, unit: 1/day, source: Halle2016, source_kind: derived, note: "mean of  2 and 6"}}
  exhaustion_rate: {{value: 0.1, unit: 1/day, source: "fitted: test", source_kind: fitted}}
""")
        ps = load_parameter_set(str(path))
        assert ps.by_name["tumor_growth_rate"].calibrated_on == ("2a", "7b1")
        assert ps.by_name["ctl_max_kill_rate"].note == "mean of 2 and 6"
        assert ps.by_name["exhaustion_rate"].calibrated_on == ()

    def test_missing_unit(self, tmp_path):
        path = _write(tmp_path, f"""
name: custom
inherits: {BASE}
parameters:
  tumor_growth_rate: {{value: 0.3, source: "assumption: test value", source_kind: assumption}}
""")
        _raises_naming("parameters.tumor_growth_rate", load_parameter_set, str(path), contains=("unit",))

    def test_wrong_unit_in_file(self, tmp_path):
        path = _write(tmp_path, f"""
name: custom
inherits: {BASE}
parameters:
  tumor_growth_rate: {{value: 0.3, unit: mM, source: "assumption: test value", source_kind: assumption}}
""")
        _raises_naming("parameters.tumor_growth_rate", load_parameter_set, str(path))

    G = "tumor_growth_rate: {value: 0.3, unit: 1/day, "
    BAD_ENTRIES = {
        "unknown parameter": ('tumour_growth_rate: {value: 0.3, unit: 1/day, source: "assumption: test value", '
                              'source_kind: assumption}', "parameters.tumour_growth_rate", "tumor_growth_rate"),
        "unknown entry key": (G + 'source: "assumption: test value", source_knd: assumption}',
                              "parameters.tumor_growth_rate", "did you mean 'source_kind'?"),
        "source without reason": (G + 'source: "assumption:", source_kind: assumption}', "parameters.tumor_growth_rate", "reason"),
        "missing source": (G + "source_kind: assumption}", "parameters.tumor_growth_rate", "source"),
        # what the value rests on
        "missing source_kind": (G + 'source: "assumption: test value"}', "parameters.tumor_growth_rate",
                                "missing source_kind"),
        "unknown source_kind": (G + 'source: "Halle2016", source_kind: measurd}', "parameters.tumor_growth_rate.source_kind",
                                "did you mean 'measured'?"),
        "override is not a set-file kind": (G + 'source: "assumption: test value", source_kind: override}',
                                            "parameters.tumor_growth_rate.source_kind", "unknown source_kind 'override'"),
        "measured without a citation": (G + 'source: "assumption: test value", source_kind: measured}',
                                        "parameters.tumor_growth_rate.source_kind", "needs a citation key"),
        "direction without a citation": (G + 'source: "fitted: test value", source_kind: direction}',
                                         "parameters.tumor_growth_rate.source_kind", "needs a citation key"),
        "assumption with a citation": (G + 'source: "Halle2016", source_kind: assumption}',
                                       "parameters.tumor_growth_rate.source_kind", "'assumption: <reason>'"),
        "fitted with a citation but no checks": (G + 'source: "Halle2016", source_kind: fitted}',
                                                 "parameters.tumor_growth_rate.source_kind", "calibrated_on"),
        "fitted with an assumption source": (G + 'source: "assumption: test value", source_kind: fitted}',
                                             "parameters.tumor_growth_rate.source_kind", "'fitted: <reason>'"),
        "derived without a note": (G + 'source: "Halle2016", source_kind: derived}', "parameters.tumor_growth_rate.note",
                                   "derivation"),
        "derived with an empty note": (G + 'source: "Halle2016", source_kind: derived, note: "  "}',
                                       "parameters.tumor_growth_rate.note", "derivation"),
        "unknown check id": (G + 'source: "fitted: test value", source_kind: fitted, calibrated_on: ["4d", "4z"]}',
                             "parameters.tumor_growth_rate.calibrated_on", "unknown check id '4z'"),
        "check ids not a list": (G + 'source: "fitted: test value", source_kind: fitted, calibrated_on: "4d"}',
                                 "parameters.tumor_growth_rate.calibrated_on", "list of check ids"),
        "checks on a measured value": (G + 'source: "Halle2016", source_kind: measured, calibrated_on: ["4d"]}',
                                       "parameters.tumor_growth_rate.calibrated_on", "use source_kind 'fitted'"),
    }

    @pytest.mark.parametrize("case", list(BAD_ENTRIES))
    def test_bad_entry_in_file(self, tmp_path, case):
        entry, field, hint = self.BAD_ENTRIES[case]
        path = _write(tmp_path, f"name: custom\ninherits: {BASE}\nparameters:\n  {entry}\n")
        _raises_naming(field, load_parameter_set, str(path), contains=(hint,))

    def test_unknown_top_level_key(self, tmp_path):
        path = _write(tmp_path, f"""
name: custom
inherit: {BASE}
parameters: {{}}
""")
        _raises_naming("inherit", load_parameter_set, str(path), contains=("inherits",))

    def test_unknown_citation_key_suggests(self, tmp_path):
        key = sorted(citations())[0]
        typo = key[:-1] + ("x" if key[-1] != "x" else "y")
        path = _write(tmp_path, f"""
name: custom
inherits: {BASE}
parameters:
  tumor_growth_rate: {{value: 0.3, unit: 1/day, source: "{typo}", source_kind: measured}}
""")
        _raises_naming("parameters.tumor_growth_rate", load_parameter_set, str(path), contains=(typo,))

    def test_incomplete_set_without_inherits(self, tmp_path):
        path = _write(tmp_path, """
name: custom
parameters:
  tumor_growth_rate: {value: 0.3, unit: 1/day, source: "assumption: test value"}
""")
        _raises_naming(str(path), load_parameter_set, str(path), contains=("missing",))

    def test_malformed_yaml(self, tmp_path):
        path = _write(tmp_path, "name: custom\nparameters: {tumor_growth_rate: [1, 2}\n")
        _raises_naming(str(path), load_parameter_set, str(path), contains=("malformed YAML",))

    def test_not_a_mapping(self, tmp_path):
        path = _write(tmp_path, "- just\n- a list\n")
        _raises_naming(str(path), load_parameter_set, str(path), contains=("parameters",))

    def test_missing_file(self, tmp_path):
        missing = tmp_path / "nope.yaml"
        _raises_naming("parameter_set", load_parameter_set, str(missing), contains=(str(missing),))

    def test_unknown_set_name_suggests(self):
        _raises_naming("parameter_set", load_parameter_set, BASE[:-1], contains=(f"'{BASE}'",))

    def test_inheritance_cycle(self, tmp_path):
        path = tmp_path / "loop.yaml"
        path.write_text(f"name: loop\ninherits: {path}\nparameters: {{}}\n")
        _raises_naming("inherits", load_parameter_set, str(path))


# ---------------------------------------------------------------- tmesim params
def _params_cli(*args):
    from typer.testing import CliRunner

    from tmesim.cli import app

    result = CliRunner().invoke(app, ["params", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_params_csv_has_kind_and_calibrations():
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(_params_cli("--csv"))))
    ps = load_parameter_set(BASE)
    assert {"source_kind", "calibrated_on"} <= set(rows[0])
    for row in rows:
        rec = ps.by_name[row["name"]]
        assert row["source_kind"] == rec.source_kind
        assert row["calibrated_on"] == ";".join(rec.calibrated_on)
    assert any(row["calibrated_on"] for row in rows)


def test_params_counts_line(tmp_path):
    base = load_parameter_set(BASE)
    assert base.by_name["necrosis_max_rate"].source_kind == "measured"
    assert base.by_name["tumor_basal_death_rate"].source_kind == "assumption"
    path = _write(tmp_path, f"""
name: small
inherits: {BASE}
parameters:
  necrosis_max_rate: {{value: 4, unit: 1/day, source: "assumption: test", source_kind: assumption}}
  tumor_basal_death_rate: {{value: 0.02, unit: 1/day, source: "fitted: test", source_kind: fitted, calibrated_on: ["1a"]}}
  tumor_oxygen_half: {{value: 10, unit: mmHg, source: Ghaffarizadeh2018, source_kind: derived, note: "test"}}
""")
    expected = dict(base.kind_counts())
    expected["measured"] -= 1
    expected["fitted"] += 1
    expected["derived"] += 1
    expected["assumption"] -= 1  # tumor_oxygen_half was an assumption
    assert sum(expected.values()) == len(NAMES)
    out = _params_cli(str(path))
    line = ", ".join(f"{kind} {expected[kind]}" for kind in SOURCE_KINDS)
    assert line in out
    rows = {row.split(",", 1)[0]: row for row in _params_cli(str(path), "--csv").splitlines()}
    assert rows["tumor_basal_death_rate"].endswith(",fitted,1a,0.02,1/day")  # then given_value, given_unit


# ------------------------------------------------- pinned by mutation testing (docs/testing.md)
class TestPinnedBehaviour:
    @pytest.mark.parametrize("kind", ["direction", "derived", "assumption"])
    def test_only_fitted_values_have_calibrations(self, tmp_path, kind):
        source = "assumption: test value" if kind == "assumption" else "Halle2016"
        path = _write(tmp_path, f"name: c\ninherits: {BASE}\nparameters:\n  tumor_growth_rate: {{value: 0.3, unit: 1/day, "
                                f"source: \"{source}\", source_kind: {kind}, note: \"n\", calibrated_on: [\"4d\"]}}\n")
        _raises_naming("parameters.tumor_growth_rate.calibrated_on", load_parameter_set, str(path),
                       contains=("use source_kind 'fitted'",))

    def test_a_three_letter_reason_is_a_reason(self, tmp_path):
        path = _write(tmp_path, f"name: c\ninherits: {BASE}\nparameters:\n  tumor_growth_rate: {{value: 0.3, unit: 1/day, "
                                f"source: \"assumption: abc\", source_kind: assumption}}\n")
        assert load_parameter_set(str(path)).by_name["tumor_growth_rate"].source == "assumption: abc"

    def test_inheritance_chains_of_five_sets_load(self, tmp_path):
        parent = BASE
        for k in range(5):
            path = _write(tmp_path, f"name: s{k}\ninherits: {parent}\nparameters: {{}}\n", f"s{k}.yaml")
            parent = str(path)
        assert load_parameter_set(parent).name == "s4"

    @pytest.mark.parametrize(("override", "text"), [
        ("-1 1/day", "must be >= 0 1/day, got -1 1/day"),
        ("-1 1/h", "must be >= 0 1/h, got -1 1/h"),
        ("20 1/day", "must be <= 14.4 1/day, got 20 1/day"),
        ("1 1/h", "must be <= 0.6 1/h, got 1 1/h"),
    ])
    def test_bounds_are_stated_in_the_unit_given(self, base, override, text):
        _raises_naming("parameters.tumor_growth_rate", base.with_overrides, {"tumor_growth_rate": override},
                       contains=(text,))

    def test_every_upper_bound_says_where_it_comes_from(self):
        for name, spec in CATALOGUE.items():
            assert spec.get("max") is not None, name
            assert str(spec.get("max_source", "")).startswith(("definition:", "assumption:")), name

    def test_bounds_hold_every_shipped_value_with_room_for_robustness_draws(self):
        """No shipped value is within a factor 2 of a bound it did not have before this catalogue
        gave every parameter one, so cohort clipping (protocols/schedule.py) leaves draws alone."""
        from tmesim.scenario import list_scenarios, load_scenario

        sets = [load_parameter_set(n) for n in SET_NAMES]
        sets += [ps for n, _ in list_scenarios() for ps in load_scenario(n).arm_parameter_sets]
        for name, spec in CATALOGUE.items():
            if str(spec["max_source"]).startswith("assumption: a typo guard"):
                assert max(ps.by_name[name].value for ps in sets) * 10 <= spec["max"] * (1 + 1e-12), name

    def test_yaml_errors_name_the_line(self, tmp_path):
        path = _write(tmp_path, "name: c\nparameters:\n  a: {value: [1, 2}\n")
        _raises_naming(f"{path}, line 3", load_parameter_set, str(path), contains=("malformed YAML",))
        path = _write(tmp_path, f"name: c\ninherits: {BASE}\nparameters:\n  tumor_growth_rate: {{value: 0.3, unit: 1/day, "
                                "value: 0.4, source: \"assumption: x y z\", source_kind: assumption}\n", "d.yaml")
        _raises_naming(f"{path}, line 4", load_parameter_set, str(path), contains=("duplicate key 'value'",))

    @pytest.mark.parametrize("value", [True, False])
    def test_a_boolean_is_not_a_number(self, base, value):
        _raises_naming("parameters.tumor_growth_rate", base.with_overrides, {"tumor_growth_rate": value},
                       contains=("not a number",))


def test_params_table_shows_values_in_the_sets_units(monkeypatch):
    from tmesim import cli

    monkeypatch.setattr(cli.stdout, "width", 250)  # names unfolded
    out = _params_cli()
    rec = load_parameter_set(BASE).by_name["tumor_growth_rate"]
    assert rec.given_unit != rec.unit  # the set states 1/day, the engine uses 1/min
    row = next(line for line in out.splitlines() if line.strip().startswith("tumor_growth_rate "))
    assert f"{rec.given_value:.6g}" in row and rec.given_unit in row and "1/min" not in row
    assert "units the set states" in out


def test_inheritance_deeper_than_five_is_refused(tmp_path):
    parent = BASE
    for k in range(6):
        parent = str(_write(tmp_path, f"name: s{k}\ninherits: {parent}\nparameters: {{}}\n", f"s{k}.yaml"))
    _raises_naming("inherits", load_parameter_set, parent, contains=("too deep",))


def test_an_incomplete_set_names_its_first_missing_parameter(tmp_path):
    path = _write(tmp_path, "name: c\nparameters:\n  tumor_growth_rate: {value: 0.3, unit: 1/day, "
                            "source: \"assumption: abc\", source_kind: assumption}\n")
    _raises_naming(str(path), load_parameter_set, str(path), contains=(f"{len(NAMES) - 1} parameters missing, first "
                                                                        f"{NAMES[1]!r}",))
    path = _write(tmp_path, "name: c\nzeta: 1\nalpha: 2\nparameters: {}\n", "k.yaml")
    _raises_naming(f"{path}.alpha", load_parameter_set, str(path))
