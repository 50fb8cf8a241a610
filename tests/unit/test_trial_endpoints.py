"""Per-patient endpoints on hand-made trajectories, and the survival and biomarker statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tmesim.analysis.survival import cox_hazard_ratio, logrank, median_survival, response_rate
from tmesim.analysis.trial_summary import roc_auc
from tmesim.trials.cohort import LeukemiaEndpoints, SolidEndpoints
from tmesim.trials.endpoints import leukemia_endpoints, solid_endpoints

T = np.arange(0.0, 41.0, 1.0)  # days
BASE = 1e6


def vol(diameter_ratio):
    """Cells for a diameter ratio to baseline."""
    return BASE * np.asarray(diameter_ratio, dtype=float) ** 3


def traj(points):
    """Piecewise-linear diameter ratio through (day, ratio) points -> cells on T."""
    d, r = zip(*points)
    return vol(np.interp(T, d, r))


def solid(rows, **cfg):
    config = SolidEndpoints(type="solid", **cfg)
    return solid_endpoints(T, np.vstack(rows), config, baseline=0.0)


def test_recist_classes_and_times():
    rows = [
        traj([(0, 1), (10, 0.1), (40, 0.1)]),  # CR: volume 1e-3 of baseline, below 1%
        traj([(0, 1), (10, 0.6), (40, 0.6)]),  # PR: -40% diameter, never progresses
        traj([(0, 1), (40, 1.1)]),  # SD: +10%
        traj([(0, 1), (5, 1.3), (40, 2)]),  # PD: +24% on day 4 (+18% on day 3)
        traj([(0, 1), (10, 0.6), (20, 0.6), (30, 0.85)]),  # PR then PD: +20% from the 0.6 nadir at 0.72
    ]
    out = solid(rows, stable_disease_min_days=7)
    assert list(out["recist"]) == ["CR", "PR", "SD", "PD", "PR"]
    assert solid(rows)["recist"][3] == "SD"  # without a minimum, the SD of days 1-3 counts
    assert list(out["objective_response"]) == [True, True, False, False, True]
    np.testing.assert_allclose(out["best_change_pct"][:3], [-90, -40, 10 * 1 / 40], atol=1e-6)
    assert out["ttp_days"][3] == 4.0
    assert out["progressed"][3] and not out["progressed"][1]
    assert out["ttp_days"][1] == 40.0 and not out["pfs_event"][1]  # censored at the last assessment
    # -30% (0.7) is passed on day 8 (0.76 at day 6, 0.68 at day 8); +20% from the 0.6 nadir (0.72) on day 25 (0.725)
    assert out["response_day"][4] == 8.0
    assert out["ttp_days"][4] == 25.0 and out["dor_days"][4] == 17.0 and out["dor_event"][4]


def test_volume_measure_and_thresholds_are_configurable():
    row = traj([(0, 1), (10, 0.85), (40, 0.85)])  # diameter -15%, volume -38.6%
    assert solid([row])["recist"][0] == "SD"
    assert solid([row], measure="volume")["recist"][0] == "PR"
    assert solid([row], partial_response_pct=-10)["recist"][0] == "PR"


def test_regrowth_below_detection_is_not_progression():
    # falls to 1e-4 of baseline volume (below the 1% CR level), then triples but stays below it
    cells = BASE * np.interp(T, [0, 10, 20, 40], [1, 1e-4, 1e-4, 3e-3])
    out = solid([cells])
    assert out["recist"][0] == "CR" and not out["progressed"][0]


def test_irecist_confirmation_resets_an_unconfirmed_progression():
    flare = traj([(0, 1), (7, 1.3), (14, 0.6), (40, 0.5)])  # immune-related flare then response
    growth = traj([(0, 1), (7, 1.3), (14, 1.5), (40, 2.0)])
    out = solid([flare, growth], assessment_every_days=7)
    assert list(out["recist"]) == ["PD", "PD"]
    confirmed = solid([flare, growth], assessment_every_days=7, confirm_progression=True)
    assert list(confirmed["recist"]) == ["PR", "PD"]
    assert confirmed["ttp_days"][1] == 7.0  # dated at the first, unconfirmed PD
    assert not confirmed["progressed"][0]


def test_death_above_a_lethal_size_ends_progression_free_survival():
    row = traj([(0, 1), (40, 1.15)])  # SD by size
    out = solid([row], death_above_cells=BASE * 1.1 ** 3)
    assert out["recist"][0] == "SD" and out["died"][0]
    assert out["pfs_days"][0] == pytest.approx(27.0) and out["pfs_event"][0]


def test_leukemia_remission_mrd_relapse_and_efs():
    cfg = LeukemiaEndpoints(type="leukemia", remission_day=10, remission_below_cells=1e8, mrd_below_cells=1e4)
    b = 1e10
    rows = np.vstack([
        b * np.exp(-2 * T),  # deep remission, MRD negative, no relapse
        np.interp(T, [0, 10, 20, 40], [b, 1e6, 1e6, 1e9]),  # remission, MRD positive, relapse at 1e8
        np.full(T.size, b),  # no remission
    ])
    out = leukemia_endpoints(T, rows, cfg, baseline=0.0)
    assert list(out["remission"]) == [True, True, False]
    assert list(out["mrd_negative"]) == [True, False, False]
    assert list(out["relapse"]) == [False, True, False]
    relapse_day = 20 + 20 * (1e8 - 1e6) / (1e9 - 1e6)
    assert out["relapse_day"][1] == pytest.approx(math.ceil(relapse_day))
    np.testing.assert_allclose(out["efs_days"], [40, math.ceil(relapse_day), 10])
    assert list(out["efs_event"]) == [False, True, True]
    assert out["log10_burden_at_remission"][2] == pytest.approx(10.0)


def test_response_rate_is_clopper_pearson():
    rate, lo, hi = response_rate(7, 20)
    assert rate == 0.35 and lo == pytest.approx(0.1539, abs=1e-4) and hi == pytest.approx(0.5922, abs=1e-4)
    assert response_rate(0, 10)[1] == 0.0
    assert all(math.isnan(v) for v in response_rate(0, 0))


def test_median_survival_and_hazard_ratio_on_exponential_samples():
    rng = np.random.default_rng(0)
    n = 3000
    ref = rng.exponential(10.0, n)  # hazard 0.1/day, median 10 ln 2
    arm = rng.exponential(20.0, n)  # hazard 0.05/day: HR 0.5
    cens = 30.0
    t_ref, e_ref = np.minimum(ref, cens), ref < cens
    t_arm, e_arm = np.minimum(arm, cens), arm < cens
    med, lo, hi = median_survival(t_ref, e_ref)
    assert lo < 10 * math.log(2) < hi and med == pytest.approx(10 * math.log(2), rel=0.06)
    hr, hr_lo, hr_hi, p = cox_hazard_ratio(t_ref, e_ref, t_arm, e_arm)
    assert hr_lo < 0.5 < hr_hi and p < 1e-10
    stat, lp = logrank(t_ref, e_ref, t_arm, e_arm)
    assert lp < 1e-10
    same = cox_hazard_ratio(t_ref, e_ref, t_ref, e_ref)
    assert same[0] == pytest.approx(1.0) and same[3] > 0.9
    assert median_survival(np.full(5, 30.0), np.zeros(5, bool))[0] == math.inf  # not reached
    assert all(math.isnan(v) for v in cox_hazard_ratio(t_ref, np.zeros(n, bool), t_arm, np.zeros(n, bool)))


def test_roc_auc():
    assert roc_auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert roc_auc([1, 2, 3, 4], [True, True, False, False]) == 0.0
    assert roc_auc([1, 1, 1, 1], [True, False, True, False]) == 0.5
    assert math.isnan(roc_auc([1, 2], [True, True]))


def test_no_assessment_before_the_horizon_is_not_evaluable():
    out = solid([traj([(0, 1), (40, 0.5)])], assessment_every_days=50)
    assert out["recist"][0] == "NE" and np.isnan(out["best_change_pct"][0])
