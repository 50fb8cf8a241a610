"""Unit tests of ``tmesim reproduce``: metric helpers, checks on synthetic engine output, the runner's
bookkeeping (seeds, missing scenarios, JSON) and the CLI command, without running the engine."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr
import yaml
from typer.testing import CliRunner

from tmesim.errors import InputError
from tmesim.protocols.events import arm_events
from tmesim.reproduce import findings as F
from tmesim.reproduce import runner as R
from tmesim.results import event_variables
from tmesim.scenario import build_scenario
from tmesim.wellmixed.state import T_CELL_POOLS

TIME = np.linspace(0.0, 30.0, 121)  # every 6 h


def make_dataset(arms: dict[str, dict[str, np.ndarray]], n_patients: int, *, scenario: dict | None = None,
                 seeds: list[int] | None = None, failed: dict[str, list[int]] | None = None) -> xr.Dataset:
    """Synthetic engine output (the results contract, docs/architecture.md).

    ``arms`` maps arm -> variable -> values broadcastable to (patient, time);
    every arm must give the same variables. T cell pools (``cd8_effector``, ...)
    go into ``t_cells``; the protocol events come from ``scenario`` (a scenario
    mapping; by default one arm per name, untreated).
    """
    names = list(arms)
    variables = list(next(iter(arms.values())))
    data = {}
    stacked = {var: np.stack([np.broadcast_to(np.asarray(arms[a][var], dtype=float), (n_patients, TIME.size))
                              for a in names]) for var in variables}
    pools = [v for v in variables if v in T_CELL_POOLS]
    for var in variables:
        if var not in T_CELL_POOLS:
            data[var] = (("arm", "patient", "time"), stacked[var], {"units": "1", "long_name": var, "group": "tumor"})
    coords = {"arm": names, "patient": np.arange(n_patients), "time": ("time", TIME, {"units": "day"})}
    if pools:
        data["t_cells"] = (("arm", "patient", "time", "t_pool"), np.stack([stacked[v] for v in pools], axis=-1),
                           {"units": "cell", "long_name": "T cells", "group": "t_cells"})
        coords.update(t_pool=("t_pool", pools), lineage=("t_pool", [T_CELL_POOLS[v][0] for v in pools]),
                      state=("t_pool", [T_CELL_POOLS[v][1] for v in pools]))
    status = np.zeros((len(names), n_patients), dtype=np.int64)
    for arm, patients in (failed or {}).items():
        status[names.index(arm), patients] = 1
    data["solver_status"] = (("arm", "patient"), status)
    data["solver_message"] = (("arm", "patient"), np.where(status == 0, "ok", "failed"))
    if seeds is not None:
        coords["seed"] = ("patient", np.asarray(seeds))
    scenario = build_scenario({"days": float(TIME[-1]), **(scenario or {"name": "synthetic",
                                                                        "arms": [{"name": a} for a in names]})})
    data.update(event_variables([arm_events(scenario, i) for i in range(len(scenario.arms))]))
    attrs = {"scenario": scenario.to_yaml(), "seed": 0, "engine": "wellmixed"}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def flat(value: float, n: int = 1) -> np.ndarray:
    return np.full((n, TIME.size), value)


# ------------------------------------------------------------------ helpers
def test_integral_of_a_linear_function_is_exact_and_clipped_to_the_run():
    y = np.stack([2.0 * TIME, 3.0 * TIME])
    np.testing.assert_allclose(R.F.integral(TIME, y), [900.0, 1350.0])  # int_0^30 2t dt = 900
    np.testing.assert_allclose(F.integral(TIME, y, 7.0, 21.0), [21.0**2 - 7.0**2, 1.5 * (21.0**2 - 7.0**2)])
    # window ends between output times are interpolated; past the end, clipped to the run
    np.testing.assert_allclose(F.integral(TIME, y, 1.1, 2.3), [2.3**2 - 1.1**2, 1.5 * (2.3**2 - 1.1**2)])
    np.testing.assert_allclose(F.integral(TIME, y, 20.0, 50.0), [900.0 - 400.0, 1.5 * 500.0])


def test_window_mean_at_and_collapsed_windows():
    y = np.stack([TIME, 10.0 + 0.0 * TIME])
    np.testing.assert_allclose(F.window_mean(TIME, y, 7.0, 21.0), [14.0, 10.0])
    np.testing.assert_allclose(F.at(TIME, y, 12.1), [12.1, 10.0])
    # a window past the end of the run collapses to the last time point
    assert F.clip_window(TIME, 40.0, 45.0) == (30.0, 30.0)
    np.testing.assert_allclose(F.window_mean(TIME, y, 40.0, 45.0), [30.0, 10.0])
    assert F.clip_window(TIME, None, None) == (0.0, 30.0)


def test_safe_ratio_is_nan_where_the_denominator_is_not_positive():
    out = F.safe_ratio(np.array([1.0, 1.0, 1.0, 2.0]), np.array([0.0, -1.0, np.nan, 4.0]))
    assert np.isnan(out[:3]).all() and out[3] == 0.5


def test_terminal_fraction_and_auc_metrics():
    ds = make_dataset({"a": {"cd8_effector": flat(60.0), "cd8_progenitor_exhausted": flat(20.0),
                             "cd8_terminal_exhausted": flat(20.0), "tumor_live": 1e6 + 1e5 * TIME[None]}}, 1)
    np.testing.assert_allclose(F.terminal_fraction(ds, "a"), 0.2)
    np.testing.assert_allclose(F.TerminalFraction()(ds, "a"), [0.2])
    np.testing.assert_allclose(F.AUC()(ds, "a"), [1e6 * 30 + 1e5 * 450])
    np.testing.assert_allclose(F.Mean(("cd8_effector", "cd8_terminal_exhausted"))(ds, "a"), [80.0])


def test_arm_aliases_missing_arms_and_variables():
    ds = make_dataset({"1:1 in IFNGR-deficient host": {"tumor_live": flat(1.0)}}, 1)
    assert F.arm_name(ds, ("1:1 host IFNGR-KO", "1:1 in IFNGR-deficient host")) == "1:1 in IFNGR-deficient host"
    with pytest.raises(F.MissingData, match="missing arm 'nope'"):
        F.arm_name(ds, "nope")
    with pytest.raises(F.MissingData, match="missing variable 'nk'"):
        F.trajectory(ds, "1:1 in IFNGR-deficient host", "nk")


def test_failed_integrations_are_nan_and_never_hold():
    ds = make_dataset({"a": {"tumor_live": flat(1.0, 3)}, "b": {"tumor_live": flat(2.0, 3)}}, 3,
                      failed={"b": [1]})
    values = F.ratio(F.AUC(), "a", "b")(ds)
    assert np.isnan(values[1]) and np.allclose(values[[0, 2]], 0.5)
    assert F.BELOW_1(values).tolist() == [True, False, True]


def test_infusion_day_and_times_relative_to_it():
    scenario = {"name": "car", "arms": [{"name": "none"}, {"name": "car", "products": [{"day": 7, "cells": 1e6}]}]}
    y = np.broadcast_to(TIME, (1, TIME.size))
    ds = make_dataset({"none": {"car_t_bach2": y}, "car": {"car_t_bach2": y}}, 1, scenario=scenario)
    assert F.infusion_day(ds, "car") == 7.0
    np.testing.assert_allclose(F.At(("car_t_bach2",), 7.0, after_infusion=True)(ds, "car"), [14.0])
    np.testing.assert_allclose(F.first_after(ds, "car", "car_t_bach2", 7.0), [7.25])
    with pytest.raises(F.MissingData, match="no CAR T infusion"):
        F.infusion_day(ds, "none")


def test_direction_predicate():
    d = F.Direction(">=", 0.9)
    assert d(np.array([0.95, 0.9, 0.5, np.nan])).tolist() == [True, True, False, False]
    assert str(d) == ">= 0.9" and str(F.BELOW_1) == "< 1"


def test_bliss_excess_on_the_log_kill_scale():
    arms = {"control": 100.0, "a": 50.0, "b": 50.0, "ab": 10.0}
    ds = make_dataset({arm: {"tumor_live": flat(v)} for arm, v in arms.items()}, 1)
    # ln(100/10) - 2 ln(100/50) = ln 10 - ln 4
    np.testing.assert_allclose(F.bliss_excess("control", "a", "b", "ab")(ds), [math.log(10) - math.log(4)])


# ------------------------------------------------------------------ checks
def _finding1_dataset(slc7a11_ratio: np.ndarray) -> xr.Dataset:
    n = slc7a11_ratio.size
    cells = flat(1e6, n)
    return make_dataset({"control": {"tumor_slc7a11": flat(1.0, n), "tumor_live": cells},
                         "anti-PD-1": {"tumor_slc7a11": np.repeat(slc7a11_ratio[:, None], TIME.size, axis=1),
                                       "tumor_live": cells}}, n)


def test_tumour_intracellular_means_are_over_the_cells_present():
    # SLC7A11 is 0.5 while the tumour has cells and 2.0 after it has gone (day 14):
    # the per-cell mean over days 7-21 sees only the cells present.
    n = 2
    present = np.where(TIME < 14, 1e6, 0.0)
    slc = np.where(TIME < 14, 0.5, 2.0)
    ds = make_dataset({"control": {"tumor_slc7a11": flat(1.0, n), "tumor_live": flat(1e6, n)},
                       "anti-PD-1": {"tumor_slc7a11": np.stack([slc] * n), "tumor_live": np.stack([present] * n)}}, n)
    values, holds, _ = F.BY_ID["1a"].evaluate(ds)
    assert values == pytest.approx([0.5, 0.5], rel=0.05) and holds.all()
    plain = F.ratio(F.Mean(("tumor_slc7a11",)), "anti-PD-1", "control")(ds)
    assert plain[0] > 1.0  # the plain time average would have been misled by the empty tumour


def test_check_holds_when_the_direction_is_right_in_every_draw():
    ds = _finding1_dataset(np.linspace(0.6, 0.9, 10))
    result = R.evaluate(F.BY_ID["1a"], ds)
    assert result.status == "ok" and result.holds and result.passed
    assert result.fraction == 1.0 and result.n_draws == 10
    assert result.effect == pytest.approx(0.75)
    assert result.lo == pytest.approx(np.quantile(np.linspace(0.6, 0.9, 10), 0.1))
    assert result.unit == "fold change of SLC7A11" and result.criterion == "< 1"


def test_check_fails_when_the_direction_is_wrong_in_too_many_draws():
    ratios = np.array([0.8] * 8 + [1.2] * 2)  # right in 8 of 10 draws: 0.8 < 0.9
    result = R.evaluate(F.BY_ID["1a"], _finding1_dataset(ratios))
    assert result.fraction == pytest.approx(0.8)
    assert not result.holds and not result.passed
    ratios = np.array([0.8] * 9 + [1.2])  # 9 of 10 is enough
    assert R.evaluate(F.BY_ID["1a"], _finding1_dataset(ratios)).holds


def test_share_interval_is_wilsons():
    lo, hi = R.share_interval(17, 18)
    assert (lo, hi) == pytest.approx((0.742, 0.990), abs=1e-3)
    lo, hi = R.share_interval(20, 20)  # all 20 right still cannot show a 90% share
    assert lo == pytest.approx(0.839, abs=1e-3) and hi == pytest.approx(1.0)
    assert all(math.isnan(v) for v in R.share_interval(0, 0))


def test_a_verdict_is_unsettled_while_the_interval_contains_the_required_share():
    def result(k, n, required=0.9):
        lo, hi = R.share_interval(k, n)
        return R.Result("x", 1, "t", "s", "c", "< 1", "u", 0.5, 0.4, 0.6, k / n, k / n >= required, False, "ok",
                        n_draws=n, fraction_lo=lo, fraction_hi=hi, required_fraction=required)

    assert result(129, 141).uncertain  # 91.5%: holds, but could be 86%
    assert result(158, 178).uncertain  # 88.8%: fails, but could be 93%
    assert not result(139, 144).uncertain  # 96.5%: lower bound 92%
    assert not result(40, 60).uncertain  # clearly fails
    assert not result(3, 3, required=1.0).uncertain  # replications, not a share
    missing = R._not_run(F.BY_ID["2a"], "missing scenario")
    assert not missing.uncertain


def test_evaluate_reports_the_share_interval():
    ratios = np.array([0.8] * 9 + [1.2])
    result = R.evaluate(F.BY_ID["1a"], _finding1_dataset(ratios))
    assert (result.fraction_lo, result.fraction_hi) == pytest.approx(R.share_interval(9, 10))
    assert result.required_fraction == 0.9 and result.uncertain


def test_informational_checks_never_fail_a_run():
    ds = _finding1_dataset(np.full(4, 1.5))
    info = F.Finding("9z", "info", (), "s", "c", "u", F.ratio(F.Mean(("tumor_slc7a11",)), "anti-PD-1", "control"),
                     F.BELOW_1, informational=True)
    result = R.evaluate(info, ds)
    assert not result.holds and result.passed


def test_a_missing_arm_is_a_failing_status_not_a_crash():
    ds = make_dataset({"control": {"tumor_live": flat(1.0)}}, 1)
    result = R.evaluate(F.BY_ID["2c"], ds)
    assert result.status.startswith("missing arm") and not result.passed and math.isnan(result.fraction)


def _proteasome_cohort() -> xr.Dataset:
    """Two seeds of 30 patients in which higher proteasome means a larger tumour burden (worse outcome)."""
    rng = np.random.default_rng(1)
    n, seeds = 60, [0] * 30 + [1] * 30
    proteasome = rng.lognormal(0.0, 0.4, n)
    scenario = {"name": "ball", "arms": [{"name": "standard product", "products": [{"day": 2, "cells": 1e6}]}]}
    tumour = np.repeat((proteasome * (1 + 0.1 * rng.random(n)))[:, None], TIME.size, axis=1)
    prot = np.repeat(proteasome[:, None], TIME.size, axis=1)
    return make_dataset({"standard product": {"car_t_proteasome": prot, "tumor_live": tumour}}, n,
                        scenario=scenario, seeds=seeds)


def test_proteasome_scatter_names_each_seeds_correlation():
    import matplotlib.pyplot as plt

    ds = _proteasome_cohort()
    fig, ax = plt.subplots()
    R._draw_proteasome_scatter(ax, ds)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    rho = F.proteasome_spearman(ds)[:, 0]
    assert labels == [f"seed {s}: rho {r:.2f}, p {p:.1g} (n 30)" for s, (r, p) in zip((0, 1), F.proteasome_spearman(ds))]
    assert np.all(rho < -0.8)


def test_proteasome_correlation_per_seed():
    ds = _proteasome_cohort()
    result = R.evaluate(F.BY_ID["4e"], ds)
    assert result.n_draws == 2 and result.seeds == (0, 1)
    assert result.effect < -0.8 and result.p_value < 0.05 and result.holds
    assert "2 seeds x 30 patients" in result.note


def test_catalogue_ids_sources_and_selection():
    ids = [f.id for f in F.FINDINGS]
    assert len(ids) == len(set(ids))
    assert {f.number for f in F.FINDINGS} == set(range(1, 8))
    citations = yaml.safe_load(open(__import__("tmesim").__path__[0] + "/params/citations.yaml"))
    assert all(key in citations for f in F.FINDINGS for key in f.source)
    assert [f.id for f in F.select(["2"])] == ["2a", "2b", "2c", "2d", "2e", "2f"]
    assert [f.id for f in F.select(["3g", "1a"])] == ["1a", "3g"]
    assert {f.id for f in F.select(["lymphoma_car_subsets"])} == {f.id for f in F.FINDINGS if f.number == 5}
    assert [f.id for f in F.select(["finding3_pgrmc2_tumor_control"])] == ["3g"]
    # every check runs on one of its finding's scenarios, and the figure's scenario has checks
    assert all(f.scenario in F.SCENARIOS[f.number] for f in F.FINDINGS)
    assert all(any(f.scenario == names[0] for f in F.FINDINGS if f.number == n) for n, names in F.SCENARIOS.items())
    with pytest.raises(InputError, match="unknown finding"):
        F.select(["8"])


# ------------------------------------------------------------------ runner
def test_seed_plan_splits_draws_over_seeds():
    assert R.seed_plan(20, 0) == [(0, 5), (1, 5), (2, 5), (3, 5)]
    assert R.seed_plan(3, 4) == [(4, 3)]
    assert R.seed_plan(7, 0) == [(0, 4), (1, 3)]
    with pytest.raises(InputError):
        R.seed_plan(0, 0)


def test_concatenated_draws_keep_seeds_and_renumber_patients():
    a = make_dataset({"x": {"tumor_live": flat(1.0, 2)}}, 2)
    b = make_dataset({"x": {"tumor_live": flat(2.0, 3)}}, 3)
    b["solver_status"][0, 1] = 1
    b["solver_message"][0, 1] = "m"
    ds = R._concat_patients([a, b], [5, 6])
    assert ds["patient"].values.tolist() == [0, 1, 2, 3, 4]
    assert ds["seed"].values.tolist() == [5, 5, 6, 6, 6]
    assert ds["solver_message"].values[0].tolist() == ["ok", "ok", "ok", "m", "ok"]
    assert ds["solver_status"].values[0].tolist() == [0, 0, 0, 1, 0]
    assert ds["event_kind"].dims == ("arm", "event")  # per-arm variables are not stacked along patient
    assert json.loads(ds.attrs["seed"]) == [5, 6]


def test_missing_scenario_is_reported_and_fails(tmp_path):
    check = F.Finding("8a", "t", (), "no_such_scenario_yet", "c", "u", lambda ds: np.ones(1), F.BELOW_1)
    [result] = R.run_findings(draws=2, findings=[check], out=tmp_path)
    assert result.status == "missing scenario" and not result.passed
    assert list(tmp_path.iterdir()) == []  # no figure without a simulation


def test_json_records_lead_with_the_contract_fields(tmp_path):
    result = R.evaluate(F.BY_ID["1a"], _finding1_dataset(np.full(3, 0.5)))
    missing = R._not_run(F.BY_ID["2a"], "missing scenario")
    path = R.write_json([result, missing], tmp_path / "r.json")
    records = json.loads(path.read_text())
    assert list(records[0])[:5] == ["id", "holds", "fraction", "effect", "unit"]
    assert records[0]["holds"] is True and records[0]["effect"] == pytest.approx(0.5)
    assert records[1]["fraction"] is None and records[1]["status"] == "missing scenario"


def test_figure_of_a_finding_renders(tmp_path):
    ds = make_dataset({"control": {"tumor_live": flat(1e6, 3), "tumor_slc7a11": flat(1.0, 3)},
                       "anti-PD-1": {"tumor_live": flat(1e5, 3), "tumor_slc7a11": flat(0.5, 3)}}, 3)
    results = [R.evaluate(F.BY_ID["1a"], ds), R.evaluate(F.BY_ID["1b"], ds)]
    [path] = R.write_figures(results, {("finding1_ifng_ferroptosis", "draws"): ds}, tmp_path)
    assert path.name == "finding1.png" and path.stat().st_size > 0


# --------------------------------------------------------------------- CLI
def test_cli_reproduce_exit_code_and_json(tmp_path, monkeypatch):
    from tmesim import cli

    good = R.evaluate(F.BY_ID["1a"], _finding1_dataset(np.full(3, 0.5)))
    bad = R.evaluate(F.BY_ID["1b"], _finding1_dataset(np.full(3, 0.5)))  # no tumor_gsh -> missing variable
    info = R._not_run(F.BY_ID["2e"], "missing scenario")
    calls = {}

    def fake(ids, **kwargs):
        calls.update(kwargs, ids=ids)
        return [good, bad, info] if "1b" in (ids or []) else [good, info]

    monkeypatch.setattr(R, "run_findings", fake)
    runner = CliRunner()
    out = runner.invoke(cli.app, ["reproduce", "1a", "2e", "--draws", "3", "--out", str(tmp_path / "f"),
                                  "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    assert calls["draws"] == 3 and calls["ids"] == ["1a", "2e"]
    assert [r["id"] for r in json.loads((tmp_path / "r.json").read_text())] == ["1a", "2e"]
    out = runner.invoke(cli.app, ["reproduce", "1a", "1b", "--out", str(tmp_path / "f")])
    assert out.exit_code == 1
    assert "missing variable" in out.output and "failing: 1b" in out.output
    # 3 of 3 draws cannot settle a 90% share: the run says so and names the check
    said = " ".join(out.output.split())
    assert f"Not settled by {R.DEFAULT_DRAWS} draws" in said and "required share): 1a;" in said
    # the spontaneous-rejection share per scenario is printed as a model metric (none rejected here)
    assert "Spontaneous rejection (model metric)" in said and "finding1_ifng_ferroptosis" in said
    assert "0/3" in said and "0.0% (0.0-56.1%)" in said


def test_cli_reproduce_rejects_bad_input():
    from tmesim import cli

    out = CliRunner().invoke(cli.app, ["reproduce", "99"])
    assert isinstance(out.exception, InputError)
    out = CliRunner().invoke(cli.app, ["reproduce", "--draws", "0"])
    assert isinstance(out.exception, InputError)


def test_a_self_rejecting_draw_is_evaluated_and_counted_in_the_rejection_metric():
    """No draw is left out: a tumour rejected untreated is a model failure, counted as a share with its
    Wilson interval, and a draw rejected in every arm before treatment (a tie) does not hold."""
    from tmesim.reproduce.runner import (evaluate, rejected_before_treatment, rejected_untreated,
                                         share_interval, spontaneous_rejection)

    scenario = {"name": "s", "arms": [{"name": "control"},
                                      {"name": "treated", "doses": [{"drug": "anti_pd1", "dose": 1, "start_day": 6}]}]}
    grow = np.exp(0.1 * TIME)
    vanished = np.where(TIME < 3, 1.0, 1e-6)
    # draws 0-2: established tumours, treatment helps; draw 3: rejected in every arm before day 6 (a tie),
    # though the treated arm's residue is smaller, so its effect alone reads as "holds"
    tum_c = np.stack([grow, grow, grow, vanished])
    tum_t = np.stack([grow * 0.5, grow * 0.5, grow * 0.5, vanished * 0.999])
    ds = make_dataset({"control": {"tumor_live": tum_c}, "treated": {"tumor_live": tum_t}}, 4, scenario=scenario)
    assert rejected_untreated(ds).tolist() == [False, False, False, True]
    assert rejected_before_treatment(ds).tolist() == [False, False, False, True]
    check = F.Finding("9a", "t", (), "s", "c", "u", F.ratio(F.AUC(), "treated", "control"), F.BELOW_1)
    values, holds, _ = check.evaluate(ds)
    assert holds.tolist() == [True, True, True, True]  # the tie's ratio is 0.999...: below 1 by its residue
    result = evaluate(check, ds)
    assert result.n_draws == 4 and result.n_ties == 1  # every draw evaluated
    assert result.fraction == 0.75 and not result.holds  # the tie does not hold: 3 of 4 < 90%
    assert result.n_rejected_untreated == 1 and result.n_rejection_draws == 4
    assert result.spontaneous_rejection == 0.25
    lo, hi = share_interval(1, 4)
    assert (result.spontaneous_rejection_lo, result.spontaneous_rejection_hi) == (lo, hi)
    assert 0.0 < lo < 0.25 < hi < 1.0
    assert "1/4 rejected untreated" in result.note and "counted as not holding" in result.note
    rejection = spontaneous_rejection(ds)
    assert (rejection.n_draws, rejection.n_rejected, rejection.n_ties) == (4, 1, 1)
    record = json.loads(json.dumps(result.to_json()))
    assert record["spontaneous_rejection"] == 0.25 and record["n_rejected_untreated"] == 1
    assert "n_excluded" not in record
    # without treatment in the scenario there is no rejection by this definition, and no tie
    untreated = make_dataset({"control": {"tumor_live": tum_c}, "treated": {"tumor_live": tum_t}}, 4)
    assert not rejected_untreated(untreated).any()
    assert evaluate(check, untreated).n_ties == 0


def test_the_wilson_interval_of_the_rejection_share():
    """37 of 200 (the B16 count before this change): Wilson 95% 13.7-24.5%, not the Wald 13.2-23.9%."""
    from tmesim.reproduce.runner import Rejection

    r = Rejection(200, 37, 0)
    lo, hi = r.interval
    assert r.share == pytest.approx(0.185)
    assert lo == pytest.approx(0.1373, abs=5e-4) and hi == pytest.approx(0.2448, abs=5e-4)
    assert r.label() == "37/200 rejected untreated (18.5%, 95% CI 13.7-24.5%)"
    assert math.isnan(Rejection(0, 0, 0).share) and all(math.isnan(x) for x in Rejection(0, 0, 0).interval)
    lo0, hi0 = Rejection(20, 0, 0).interval
    assert lo0 == 0.0 and hi0 == pytest.approx(0.161, abs=1e-3)  # none of 20 still allows 16%


def test_a_tie_does_not_hold_with_the_mechanism_cut_either():
    """The control reads every draw too; a draw rejected everywhere before treatment does not hold."""
    from tmesim.reproduce.runner import evaluate_cut

    scenario = {"name": "s", "arms": [{"name": "control"},
                                      {"name": "treated", "doses": [{"drug": "anti_pd1", "dose": 1, "start_day": 6}]}]}
    grow = np.exp(0.1 * TIME)
    vanished = np.where(TIME < 3, 1.0, 1e-6)
    ds = make_dataset({"control": {"tumor_live": np.stack([grow, vanished])},
                       "treated": {"tumor_live": np.stack([grow * 0.5, vanished * 0.5])}}, 2, scenario=scenario)
    check = F.Finding("9a", "t", (), "s", "c", "u", F.ratio(F.AUC(), "treated", "control"), F.BELOW_1)
    fraction, n, _ = evaluate_cut(check, ds)
    assert (fraction, n) == (0.5, 2)


def test_draws_rejected_without_treatment_after_it_starts_count_as_spontaneous_rejection():
    from tmesim.reproduce.runner import rejected_before_treatment, rejected_untreated
    from tmesim.results import untreated_arms

    scenario = {"name": "s", "arms": [{"name": "control"},
                                      {"name": "knockout", "parameters": {"tumor_ifngr_loss": 1.0}},
                                      {"name": "treated", "doses": [{"drug": "anti_pd1", "dose": 1, "start_day": 6}]}]}
    grow = np.exp(0.1 * TIME)
    late_rejection = np.where(TIME < 10, grow, 1e-6)  # after the first dose, but in the untreated arm
    dip_and_regrow = np.where((TIME > 8) & (TIME < 12), 1e-3, grow)
    tum = np.stack([grow, late_rejection, dip_and_regrow])
    ds = make_dataset({"control": {"tumor_live": tum}, "knockout": {"tumor_live": tum},
                       "treated": {"tumor_live": tum * 0.5}}, 3, scenario=scenario)
    assert untreated_arms(ds) == ["control"]
    assert rejected_untreated(ds).tolist() == [False, True, True]
    assert not rejected_before_treatment(ds).any()  # the treated arm met a tumour: no tie


def test_a_draw_counts_as_rejected_when_any_untreated_tumour_line_is_rejected():
    """Each tumour line (genotype arm without treatment) must take, as each line takes in mice."""
    from tmesim.reproduce.runner import rejected_untreated
    from tmesim.results import untreated_arms

    scenario = {"name": "s", "arms": [
        {"name": "control"}, {"name": "KO control", "knobs": {"tumor_ifngr_loss": 1}},
        {"name": "treated", "doses": [{"drug": "anti_pd1", "dose": 1, "start_day": 6}]},
        {"name": "KO treated", "knobs": {"tumor_ifngr_loss": 1},
         "doses": [{"drug": "anti_pd1", "dose": 1, "start_day": 6}]}]}
    grow = np.exp(0.1 * TIME)
    regress = np.where(TIME < 6, 1.0, 1e-4)  # the wild-type line regresses by itself after day 6
    wt = np.stack([grow, regress, grow])
    ko = np.stack([grow, grow, regress])
    ds = make_dataset({"control": {"tumor_live": wt}, "KO control": {"tumor_live": ko},
                       "treated": {"tumor_live": wt * 0.5}, "KO treated": {"tumor_live": ko * 0.5}}, 3,
                      scenario=scenario)
    assert untreated_arms(ds) == ["control", "KO control"]
    assert rejected_untreated(ds).tolist() == [False, True, True]
