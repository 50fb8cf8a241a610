"""Sensitivity analysis and calibration against the real engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tmesim import cli
from tmesim.analysis.sensitivity import run_sensitivity
from tmesim.params import load_parameter_set
from tmesim.scenario import load_scenario
from tmesim.simulation import Simulation
from tmesim.trials import LocalExecutor, load_cohort

COHORT = {
    "name": "sens_cohort",
    "scenario": "b16_icb_ferroptosis",
    "arms": ["anti-PD-1 + IKE"],
    "days": 16,
    "patients": 4,
    "parameters": {
        "tumor_growth_rate": {"distribution": "lognormal", "median": 0.45, "sigma": 0.2, "unit": "1/day"},
        # no CAR T cells in this arm: the product's proteasome expression cannot matter
        "car_proteasome_expression": {"distribution": "lognormal", "median": 1.0, "sigma": 0.4},
    },
    "endpoints": {"type": "solid"},
}


def test_morris_finds_the_parameter_that_matters_and_the_one_that_cannot(tmp_path):
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(COHORT))
    result = run_sensitivity(load_cohort(path), None, "log10_burden_mean", "morris", 4, LocalExecutor(2))
    table = result.table.set_index("parameter")
    assert len(result.runs) == 4 * 3
    # the empty CAR pool's state is integrated and moves the adaptive steps: numerical noise only
    assert table.loc["car_proteasome_expression", "mu_star"] < 1e-3 * table.loc["tumor_growth_rate", "mu_star"]
    assert table.loc["tumor_growth_rate", "mu_star"] > 0.1
    assert table.loc["tumor_growth_rate", "mu_star_conf"] >= 0


@pytest.mark.xfail(strict=True, reason=(
    "since T cell CD36 is a state (branch cd36) anti-PD-1 controls the nominal B16 tumour far less, and this "
    "design recovers ctl_max_kill_rate 26% low (0.00108 against 0.00146 /min; tolerance 25%); growth rate is "
    "still recovered. The design's identifiability, not the fitter, changed; not re-tuned"))
def test_calibration_recovers_known_parameters_from_noisy_data(tmp_path, monkeypatch, capsys):
    base = load_scenario("b16_icb_ferroptosis")
    scn = base.with_overrides(days=24, arms=[a.model_dump() for a in base.arms[:2]])
    names = ["tumor_growth_rate", "ctl_max_kill_rate"]
    truth = {n: scn.base_parameters[n] * f for n, f in zip(names, (1.2, 0.7))}
    ds = Simulation(scn, patient_values={n: np.array([v]) for n, v in truth.items()}).run()
    rng = np.random.default_rng(11)
    # 5 animals per arm measured every 2 days with 10% multiplicative error
    rows = [(str(arm), day, float(ds["tumor_live"].sel(arm=arm, patient=0).interp(time=day)) * 1e-6
             * np.exp(0.1 * rng.standard_normal()))
            for arm in ds["arm"].values for day in range(0, 25, 2) for _ in range(5)]
    data = tmp_path / "caliper.csv"
    pd.DataFrame(rows, columns=["arm", "day", "size"]).to_csv(data, index=False)  # sizes in mm3 (1e6 cells each)
    out = tmp_path / "fitted.yaml"
    monkeypatch.setattr("sys.argv", ["tmesim", "calibrate", str(data), "--params", ",".join(names),
                                     "--cells-per-unit", "1e6", "--out", str(out)])
    cli.main()
    assert "parameter set written" in capsys.readouterr().out
    fitted = load_parameter_set(str(out))
    # over 8 noise seeds this design gave estimates with a relative sd of 0.6% (growth) and 7.7% (kill
    # rate, the less identifiable): tolerances of about 4 and 3 sd
    for name, tolerance in zip(names, (0.025, 0.25)):
        record = fitted.by_name[name]
        assert record.value == pytest.approx(truth[name], rel=tolerance), name
        assert record.source == "fitted: caliper.csv" and record.source_kind == "fitted"
        assert record.value != pytest.approx(scn.base_parameters[name], rel=0.1)  # it moved from the start
    assert fitted.by_name["tumor_carrying_capacity"].value == scn.base_parameters["tumor_carrying_capacity"]
    # a scenario can use the file
    using = base.with_overrides(parameter_set=str(out))
    assert using.base_parameters["tumor_growth_rate"] == fitted["tumor_growth_rate"]


def _weighted_quantiles(x, w, q):
    from tmesim.analysis.calibration import _weighted_quantiles as quantiles

    return quantiles(np.asarray(x, dtype=float), np.asarray(w, dtype=float), q)


def _caliper_data(tmp_path, scn, truth):
    """Noisy caliper data of ``scn``'s arms under ``truth``: 5 animals per arm every 2 days, 10% error, mm3."""
    ds = Simulation(scn, patient_values={n: np.array([v]) for n, v in truth.items()}).run()
    rng = np.random.default_rng(11)
    rows = [(str(arm), day, float(ds["tumor_live"].sel(arm=arm, patient=0).interp(time=day)) * 1e-6
             * np.exp(0.1 * rng.standard_normal()))
            for arm in ds["arm"].values for day in range(0, 25, 2) for _ in range(5)]
    data = tmp_path / "caliper.csv"
    pd.DataFrame(rows, columns=["arm", "day", "size"]).to_csv(data, index=False)
    return data


def test_abc_smc_posterior_holds_the_truth_and_concentrates_where_the_data_inform(tmp_path, monkeypatch, capsys):
    base = load_scenario("b16_icb_ferroptosis")
    scn = base.with_overrides(days=24, arms=[a.model_dump() for a in base.arms[:2]])
    names = ["tumor_growth_rate", "ctl_max_kill_rate"]
    truth = {n: scn.base_parameters[n] * f for n, f in zip(names, (1.2, 0.7))}
    data = _caliper_data(tmp_path, scn, truth)
    out = tmp_path / "fitted.yaml"
    monkeypatch.setattr("sys.argv", ["tmesim", "calibrate", str(data), "--params", ",".join(names),
                                     "--cells-per-unit", "1e6", "--out", str(out), "--method", "abc",
                                     "--population", "40", "--generations", "5", "--seed", "3"])
    cli.main()
    text = capsys.readouterr().out
    assert "ABC-SMC fit" in text and "95% credible" in text and "parameter set written" in text
    fitted = load_parameter_set(str(out))
    posterior = pd.read_csv(tmp_path / "fitted_posterior.csv")
    assert len(posterior) == 40 and posterior["weight"].sum() == pytest.approx(1.0)
    assert list(posterior.columns) == ["tumor_growth_rate (1/day)", "ctl_max_kill_rate (1/day)", "weight"]
    for name in names:
        record = fitted.by_name[name]
        assert record.source == "fitted: caliper.csv" and record.source_kind == "fitted"
        assert "ABC-SMC" in record.note and "credible interval" in record.note
        # the truth lies in the 95% credible interval (posterior in the set's unit, 1/day)
        col = posterior[f"{name} (1/day)"].to_numpy()
        lo, hi = _weighted_quantiles(col, posterior["weight"].to_numpy(), (0.025, 0.975))
        assert lo <= truth[name] * 1440 <= hi, name
    # growth is what 130 size points inform most: its particles span a small part of the prior's
    # hundredfold range (measured: 0.48-0.61 /day, 5% of the prior's log width); the kill rate's do not
    growth = np.log(posterior["tumor_growth_rate (1/day)"])
    kill = np.log(posterior["ctl_max_kill_rate (1/day)"])
    prior_width = 2 * np.log(10.0)
    assert np.ptp(growth) < 0.25 * prior_width
    assert np.ptp(kill) > np.ptp(growth)
    assert fitted.by_name["tumor_growth_rate"].value == pytest.approx(truth["tumor_growth_rate"], rel=0.15)


def test_abc_smc_is_reproducible_by_seed_and_rejects_bad_settings(tmp_path, monkeypatch, capsys):
    from tmesim.analysis.calibration import calibrate_abc, read_observations

    base = load_scenario("b16_icb_ferroptosis")
    scn = base.with_overrides(days=24, arms=[a.model_dump() for a in base.arms[:2]])
    data = _caliper_data(tmp_path, scn, {"tumor_growth_rate": scn.base_parameters["tumor_growth_rate"] * 1.2})
    obs = read_observations(data, 1e6)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    runs = [calibrate_abc(base, obs, ["tumor_growth_rate"], population=8, generations=2, seed=s) for s in (1, 1, 2)]
    assert runs[0].posterior.equals(runs[1].posterior)
    assert not runs[0].posterior.equals(runs[2].posterior)
    assert np.array_equal(np.random.get_state()[1], before)  # the caller's global generator is left as it was
    for option, value, field in (("--population", "1", "--population"), ("--generations", "0", "--generations"),
                                 ("--prior-fold", "1", "--prior-fold"), ("--method", "mcmc", "--method"),
                                 ("--seed", "-1", "--seed")):
        monkeypatch.setattr("sys.argv", ["tmesim", "calibrate", str(data), "--params", "tumor_growth_rate",
                                         "--cells-per-unit", "1e6", "--method", "abc", option, value,
                                         "--out", str(tmp_path / "x.yaml")])
        with pytest.raises(SystemExit) as info:
            cli.main()
        assert info.value.code == 2, option
        err = capsys.readouterr().err
        assert f"error: {field}" in err and "Traceback" not in err, err
        assert not (tmp_path / "x.yaml").exists() and not (tmp_path / "x_posterior.csv").exists()
