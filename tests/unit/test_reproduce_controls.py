"""Mechanism controls, kinds and the calibration ledger of ``tmesim reproduce``.

One small real run (finding 3g, a two-arm scenario, a few draws) checks that a
cut mechanism changes the effect and that the JSON carries the new fields;
everything else runs without the engine.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from tmesim.errors import InputError
from tmesim.params.index import CATALOGUE
from tmesim.reproduce import findings as F
from tmesim.reproduce import ledger as L
from tmesim.reproduce import runner as R
from tmesim.scenario import load_scenario

#: The checks issue 19 lists as following from the equations by construction.
STRUCTURAL_IDS = {"3a", "3b", "3c", "3d", "3e", "3f", "7a1", "7a2", "7a3", "7a4", "7a5", "7b2"}


def _required():
    return [f for f in F.FINDINGS if not f.informational]


# ----------------------------------------------------------- the catalogue
def test_every_required_check_names_a_mechanism_or_is_structural_with_a_reason():
    for f in _required():
        assert (f.mechanism is None) == bool(f.structural), f.id  # one or the other, never both
        if f.structural:
            assert len(f.structural.split()) >= 8, f"{f.id}: say why it holds by construction"
        else:
            assert f.mechanism.label and len(f.mechanism.why.split()) >= 8, f.id
    assert {f.id for f in _required() if f.structural} == STRUCTURAL_IDS


def test_mechanism_overrides_name_real_parameters_and_build_a_cut_scenario():
    built = set()
    for f in _required():
        if f.mechanism is None:
            continue
        f.mechanism.check(f"mechanism of check {f.id}")
        assert all(name in CATALOGUE for name, _ in f.mechanism.overrides), f.id
        key = (f.scenario, f.mechanism)
        if key in built:
            continue
        built.add(key)
        scn = load_scenario(f.scenario)
        cut = R.cut_scenario(scn, f.mechanism)
        # applied to every arm, after the arm's own knobs and changes
        for arm_set in cut.arm_parameter_sets:
            for name, value in f.mechanism.overrides:
                assert arm_set.by_name[name].given_value == pytest.approx(value), (f.id, name)
        assert [a.name for a in cut.arms] == [a.name for a in scn.arms] and cut.seed == scn.seed


def test_a_mechanism_naming_an_unknown_parameter_is_an_input_error_before_anything_runs(monkeypatch):
    bad = F.Mechanism("typo", (("bach2_heme_hil", 0.0),), "a typo")
    with pytest.raises(InputError) as err:
        bad.check("mechanism of check 3g")
    assert err.value.field == "mechanism of check 3g.bach2_heme_hil" and "bach2_heme_hill" in str(err.value)
    monkeypatch.setattr(R, "simulate_draws", lambda *a, **k: pytest.fail("simulated before checking the mechanism"))
    with pytest.raises(InputError, match="unknown parameter 'bach2_heme_hil'"):
        R.run_findings(["3g"], draws=2, findings=[replace(F.BY_ID["3g"], mechanism=bad)])
    with pytest.raises(InputError, match="names no parameter"):
        F.Mechanism("nothing", ()).check()


def test_a_cut_value_the_set_rejects_names_the_arm():
    scn = load_scenario("finding3_pgrmc2_tumor_control")
    with pytest.raises(InputError) as err:
        R.cut_scenario(scn, F.Mechanism("out of bounds", (("cd4_kill_fraction", 5.0),)))
    assert "cd4_kill_fraction" in err.value.field


# -------------------------------------------------------------------- kinds
@pytest.mark.parametrize("holds, informational, structural, fraction_cut, status, kind", [
    (True, False, "", 0.2, "ok", "mechanistic"),
    (True, False, "", 0.5, "ok", "mechanistic"),  # at most half still holding
    (True, False, "", 0.8, "ok", "not earned"),
    (True, False, "follows from the equations", math.nan, "ok", "structural"),
    (True, False, "", math.nan, "ok", "not controlled"),
    (False, False, "", 0.0, "ok", "fails"),
    (False, False, "follows from the equations", math.nan, "ok", "fails"),
    (False, False, "", math.nan, "missing scenario", "fails"),
    (True, True, "", 0.9, "ok", "informational"),
])
def test_kind_of_a_check(holds, informational, structural, fraction_cut, status, kind):
    got, reason = R.classify(holds, informational, structural, fraction_cut, status)
    assert got == kind and reason
    assert got in R.KINDS


def _result(fid: str, kind: str, fitted: bool = False, holds: bool = True) -> R.Result:
    f = F.BY_ID[fid]
    return R.Result(**R._base_fields(f), effect=1.0, lo=1.0, hi=1.0, fraction=1.0 if holds else 0.0, holds=holds,
                    status="ok", n_draws=3, kind=kind, calibrated_on=("x",) if fitted else (), fitted=fitted)


def test_headline_counts_come_from_the_results():
    from tmesim.cli import _reproduce_headline

    results = [_result("1a", "mechanistic"), _result("1b", "mechanistic", fitted=True), _result("1c", "not earned"),
               _result("3a", "structural"), _result("1d", "fails", holds=False), _result("2e", "informational")]
    line = _reproduce_headline(results, controls=True)
    assert line.startswith("1 of 5 required checks hold and are earned (mechanistic, predicted)")
    assert "1 more hold and are mechanistic but were fitted" in line
    assert "1 hold but are not earned" in line and "1 are structural" in line and "1 fail (1d)" in line
    assert "controls skipped" in _reproduce_headline(results, controls=False)


def test_cli_no_controls_is_passed_on_and_said(tmp_path, monkeypatch):
    from tmesim import cli

    calls = {}

    def fake(ids, **kwargs):
        calls.update(kwargs)
        return [_result("1a", "not controlled"), _result("3a", "structural")]

    monkeypatch.setattr(R, "run_findings", fake)
    out = CliRunner().invoke(cli.app, ["reproduce", "1a", "3a", "--no-controls", "--out", str(tmp_path / "f")])
    assert out.exit_code == 0, out.output
    assert calls["controls"] is False
    said = " ".join(out.output.split())
    assert "mechanism controls skipped (--no-controls)" in said


# ------------------------------------------------------------------- ledger
def test_a_parameter_calibrated_on_a_check_makes_it_fitted():
    scn = load_scenario("lymphoma_car_subsets")
    assert L.calibrated_on("5a", scn, entries=()) == ()  # nothing was set with 5a in view
    fitted = {"value": 0.3, "unit": "1", "source": "fitted: test", "source_kind": "fitted", "calibrated_on": ["5a", "2c"]}
    scn = scn.with_overrides(parameters={"cd4_kill_fraction": fitted})
    assert L.calibrated_on("5a", scn, entries=()) == ("cd4_kill_fraction",)
    assert "cd4_kill_fraction" in L.calibrated_on("2c", scn, entries=())


def test_choices_are_data_and_checked():
    entries = L.choices()
    assert "proteasome_cohort_600" in {c["id"] for c in entries}
    # retired: radical-trapping antioxidants protect T cells again, so 2c is no longer fitted by that choice
    assert not any(c.startswith("choice:no_antioxidant") for c in L.calibrated_on("2c", None))
    assert "choice:proteasome_cohort_600" in L.calibrated_on("4e", None)
    good = {"id": "a", "checks": ["2c"], "what": "w", "reason": "r"}
    with pytest.raises(InputError) as err:
        L.validate_choices({"choices": [{**good, "checks": ["2z"]}]}, "choices.yaml")
    assert err.value.field == "choices.yaml.choices[0].checks"
    with pytest.raises(InputError, match="missing"):
        L.validate_choices({"choices": [{**good, "reason": ""}]}, "choices.yaml")
    with pytest.raises(InputError, match="repeated id"):
        L.validate_choices({"choices": [good, good]}, "choices.yaml")


def test_the_calibrations_the_issue_names_are_in_the_ledger():
    def on(fid):
        return L.calibrated_on(fid, load_scenario(F.BY_ID[fid].scenario))

    assert any(name.startswith("exhaustion_rate") for name in on("4d"))
    assert "m2_il12_secretion" in on("2c") and "m2_il12_secretion" in on("2d")
    assert "csf1r_monocyte_redirect" in on("6e")
    assert "bach2_heme_half" in on("4e")


# ------------------------------------------------------------ a real control
def test_cutting_the_mechanism_changes_the_effect_and_the_json_says_so(tmp_path):
    [r] = R.run_findings(["3g"], draws=5)
    assert r.status == "ok" and r.n_cut == r.n_draws == 5  # every draw, paired
    assert dict(r.mechanism) == F.BY_ID["3g"].mechanism.as_dict()
    # the PGRMC2 blocker helps only through BACH2: with haem no longer repressing BACH2, its effect is gone
    assert r.effect < 1.0 and abs(r.effect_cut - 1.0) < abs(r.effect - 1.0) / 10
    assert r.fraction_cut < r.fraction
    assert r.kind == R.classify(r.holds, fraction_cut=r.fraction_cut)[0]
    assert r.fitted == bool(r.calibrated_on)
    [record] = json.loads(R.write_json([r], tmp_path / "r.json").read_text())
    for key in ("mechanism", "fraction_cut", "kind", "calibrated_on", "fitted"):
        assert key in record
    assert record["mechanism"] == {"bach2_heme_hill": 0.0} and isinstance(record["calibrated_on"], list)


def test_structural_and_informational_checks_run_no_control(monkeypatch):
    calls = []
    real = R.cut_scenario
    monkeypatch.setattr(R, "cut_scenario", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(R, "simulate_draws", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no engine here")))
    results = R.run_findings(["3f", "2e"], draws=2)
    assert calls == []
    assert [(r.id, r.kind) for r in results] == [("2e", "informational"), ("3f", "fails")]  # 3f could not run


def test_a_cut_parameter_is_not_varied_and_every_other_draw_stays_paired():
    import numpy as np

    from tmesim.params.index import NAMES
    from tmesim.protocols.schedule import patient_factors

    scn = load_scenario("lymphoma_car_subsets")
    intact = scn.with_overrides(cohort={"size": 6, "variability": {"all": 0.25}})
    cut = scn.with_overrides(cohort={"size": 6, "variability": R.fixed_variability({"all": 0.25}, ["cd4_kill_fraction"])})
    fi, fc = patient_factors(intact), patient_factors(cut)
    k = NAMES.index("cd4_kill_fraction")
    assert np.all(fc[:, k] == 1.0) and np.ptp(fi[:, k]) > 0
    others = [j for j in range(len(NAMES)) if j != k]
    assert np.array_equal(fi[:, others], fc[:, others])


def test_a_cut_effect_within_numerical_error_of_the_threshold_does_not_hold():
    import numpy as np
    import xarray as xr

    f = replace(F.BY_ID["3g"], effect=lambda ds: ds["v"].values)
    values = np.array([1.0 - 2e-16, 1.0 - 5e-5, 0.99, 0.5])  # rounding, solver error, two real effects
    ds = xr.Dataset({"v": ("patient", values)})
    fraction, n, _ = R.evaluate_cut(f, ds)
    assert n == 4 and fraction == pytest.approx(0.5)
    assert F.BELOW_1(values).all()  # the intact predicate alone would count all four


def test_cli_a_bad_mechanism_is_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys):
    from tmesim import cli

    bad = F.Mechanism("typo", (("bach2_heme_hil", 0.0),), "a typo")
    real = R.run_findings
    monkeypatch.setattr(R, "run_findings",
                        lambda ids, **kw: real(ids, findings=[replace(F.BY_ID["3g"], mechanism=bad)], **kw))
    monkeypatch.setattr("sys.argv", ["tmesim", "reproduce", "3g", "--draws", "2", "-q", "--out", str(tmp_path / "f")])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "mechanism of check 3g.bach2_heme_hil" in err and "bach2_heme_hill" in err
    assert not (tmp_path / "f").exists()
