"""The bad-input table of ``tmesim trial``, ``tmesim sensitivity`` and ``tmesim calibrate``: exit 2, one line
naming the field (and the CSV row) and the fix, and nothing written that looks complete."""

from __future__ import annotations

import pytest
import yaml

from tmesim import cli

GOOD = {
    "name": "cli_cohort",
    "scenario": "b16_icb_ferroptosis",
    "arms": ["anti-PD-1", "anti-PD-1 + IKE"],
    "days": 10,
    "patients": 4,
    "parameters": {
        "tumor_growth_rate": {"distribution": "lognormal", "median": 0.45, "sigma": 0.2, "unit": "1/day"},
        "recruit_m1_fraction": {"distribution": "normal", "mean": 0.3, "sd": 0.1, "bounds": [0.1, 0.5]},
        "initial_m1_fraction": {"distribution": "normal", "mean": 0.3, "sd": 0.1, "bounds": [0.1, 0.5]},
    },
    "endpoints": {"type": "solid"},
}


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr("sys.argv", ["tmesim", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err.strip().splitlines()
    return exc.value.code, err


def cohort(tmp_path, **changes):
    data = {**GOOD, **changes}
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def param(**spec):
    return {"parameters": {**GOOD["parameters"], **spec}}


TRIAL_CASES = [
    ("unknown parameter", param(tumour_growth=dict(distribution="lognormal", median=1, sigma=0.1)), [],
     "parameters.tumour_growth", "unknown parameter"),
    ("negative spread", param(tumor_growth_rate=dict(distribution="lognormal", median=0.45, sigma=-0.1)), [],
     "parameters.tumor_growth_rate.sigma", "give a value above 0"),
    ("negative sd", param(recruit_m1_fraction=dict(distribution="normal", mean=0.3, sd=-0.1)), [],
     "parameters.recruit_m1_fraction.sd", "give a value above 0"),
    ("lower bound above upper", param(recruit_m1_fraction=dict(distribution="normal", mean=0.3, sd=0.1,
                                                                bounds=[0.5, 0.1])), [],
     "parameters.recruit_m1_fraction", "is not below the upper bound"),
    ("correlation matrix not positive definite",
     {"correlations": [{"between": ["recruit_m1_fraction", "initial_m1_fraction"], "rho": 0.95},
                       {"between": ["recruit_m1_fraction", "tumor_growth_rate"], "rho": 0.95},
                       {"between": ["initial_m1_fraction", "tumor_growth_rate"], "rho": -0.95}]}, [],
     "correlations", "not positive definite"),
    ("zero patients in the file", {"patients": 0}, [], "patients", "give a value at least 1"),
    ("zero patients on the command line", {}, ["--patients", "0"], "--patients", "must be an integer >= 1"),
    ("unknown endpoint type", {"endpoints": {"type": "recist"}}, [], "endpoints", "use 'solid' or 'leukemia'"),
    ("both executors", {}, ["--scheduler", "tcp://127.0.0.1:1", "--dask-local", "2"], "--scheduler", "use one"),
    ("workers with dask", {}, ["--workers", "2", "--dask-local", "2"], "--workers", "drop --workers"),
]


@pytest.mark.parametrize(("label", "changes", "extra", "field", "words"), TRIAL_CASES, ids=[c[0] for c in TRIAL_CASES])
def test_trial_bad_input(tmp_path, monkeypatch, capsys, label, changes, extra, field, words):
    out = tmp_path / "out"
    code, err = run_cli(monkeypatch, capsys, "trial", cohort(tmp_path, **changes), "--out", out, *extra)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"error: {field}:"), err
    assert words in err[0]
    assert not out.exists()  # nothing written


def test_unreachable_scheduler_is_bad_input(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    code, err = run_cli(monkeypatch, capsys, "trial", cohort(tmp_path), "--out", out, "--scheduler",
                        "tcp://127.0.0.1:9")
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --scheduler: cannot reach")
    assert not (out / "patients.parquet").exists()


SENSITIVITY_CASES = [
    (["--endpoint", "overall_survival"], "--endpoint", "unknown endpoint 'overall_survival'"),
    (["--endpoint", "best_change_pct", "--params", "tumor_growth_rate,nope"], "--params", "not a drawn parameter"),
    (["--endpoint", "best_change_pct", "--samples", "48"], "--samples", "power of 2"),
    (["--endpoint", "best_change_pct", "--method", "fast"], "--method", "use morris or sobol"),
]


@pytest.mark.parametrize(("extra", "field", "words"), SENSITIVITY_CASES, ids=[c[1] + c[2] for c in SENSITIVITY_CASES])
def test_sensitivity_bad_input(tmp_path, monkeypatch, capsys, extra, field, words):
    out = tmp_path / "out"
    code, err = run_cli(monkeypatch, capsys, "sensitivity", cohort(tmp_path), "--out", out, *extra)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {field}:"), err
    assert words in err[0]
    assert not out.exists()


CSV_CASES = [
    ("arm,time,size\ncontrol,0,1e6\n", "header", "missing column day"),
    ("", "header", "the file is empty"),
    ("arm,day,size\ncontrol,0,1e6\ncontrol,3,big\n", "row 3, column size", "'big' is not a number"),
    ("arm,day,size\ncontrol,0,1e6\ncontrol,3,-5\n", "row 3, column size", "negative size"),
    ("arm,day,size\ncontrol,-1,1e6\n", "row 2, column day", "negative day"),
    ("arm,day,size\ncontrol,0,nan\n", "row 2, column size", "not finite"),
    ("arm,day,size\ncontrl,0,1e6\n", "row 2, column arm", "did you mean 'control'"),
]


@pytest.mark.parametrize(("text", "where", "words"), CSV_CASES, ids=[c[2] for c in CSV_CASES])
def test_calibrate_bad_csv(tmp_path, monkeypatch, capsys, text, where, words):
    data = tmp_path / "data.csv"
    data.write_text(text)
    out = tmp_path / "fit.yaml"
    code, err = run_cli(monkeypatch, capsys, "calibrate", data, "--params", "tumor_growth_rate", "--out", out)
    assert code == 2 and len(err) == 1, err
    assert where in err[0] and words in err[0]
    assert not out.exists()


def test_calibrate_bad_parameters(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data.csv"
    data.write_text("arm,day,size\ncontrol,0,1e6\n")
    for params, words in (("tumour_growth_rate", "did you mean 'tumor_growth_rate'"),
                          ("tumor_slc7a11_overexpression", "is a knob"),
                          ("tumor_growth_rate,tumor_growth_rate", "listed twice")):
        code, err = run_cli(monkeypatch, capsys, "calibrate", data, "--params", params)
        assert code == 2 and len(err) == 1 and err[0].startswith("error: --params:") and words in err[0], err


SPATIAL_SCENARIO = {
    "name": "tiny_spatial", "parameter_set": "mouse_b16_icb_ferroptosis", "scale": "spatial", "days": 1,
    "spatial": {"dimensions": 2, "domain_um": [240, 240], "site_um": 20,
                "geometry": {"kind": "spheroid", "radius_um": 60}},
    "arms": [{"name": "control"},
             {"name": "anti-PD-1", "doses": [{"drug": "anti_pd1", "dose": 10, "unit": "mg/kg", "start_day": 0}]}],
}
SPATIAL_CASES = [
    ("spatial-only parameter below its minimum",
     {}, {"ifng_diffusion": {"distribution": "normal", "mean": 1000, "sd": 500, "bounds": [-100, 3000]}},
     "parameters.ifng_diffusion.bounds", "below ifng_diffusion's minimum 0"),
    ("spatial-only parameter unknown", {}, {"ifng_difusion": {"distribution": "uniform", "low": 990, "high": 6000}},
     "parameters.ifng_difusion", "did you mean 'ifng_diffusion'"),
    ("scenario with replicates", {"replicates": 3}, {}, "scenario", "set spatial.replicates: 1"),
]


@pytest.mark.parametrize(("label", "spatial", "parameters", "field", "words"), SPATIAL_CASES,
                         ids=[c[0] for c in SPATIAL_CASES])
def test_spatial_trial_bad_input(tmp_path, monkeypatch, capsys, label, spatial, parameters, field, words):
    """A spatial cohort is checked as a well-mixed one is, with the spatial parameters in the catalogue."""
    scenario = {**SPATIAL_SCENARIO, "spatial": {**SPATIAL_SCENARIO["spatial"], **spatial}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    out = tmp_path / "out"
    path = cohort(tmp_path, scenario="tiny.yaml", arms=None, days=1, parameters=parameters)
    code, err = run_cli(monkeypatch, capsys, "trial", path, "--out", out)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"error: {field}:"), err
    assert words in err[0]
    assert not out.exists()
