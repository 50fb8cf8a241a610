"""Cohort files and the patients' draws: validation, units, truncation, the Gaussian copula, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr

from tmesim.errors import InputError
from tmesim.trials import list_cohorts, load_cohort
from tmesim.trials.sampling import draw_patients, normal_scores, patient_seed_sequence, to_internal

SHIPPED = ("ball_car_t_proteasome", "b16_anti_pd1_ferroptosis")


def cohort_file(tmp_path, **changes):
    data = {
        "name": "test_cohort",
        "scenario": "b16_icb_ferroptosis",
        "arms": ["anti-PD-1", "anti-PD-1 + IKE"],
        "days": 20,
        "patients": 10,
        "seed": 3,
        "parameters": {
            "tumor_growth_rate": {"distribution": "lognormal", "median": 0.45, "sigma": 0.2, "unit": "1/day"},
            "recruit_m1_fraction": {"distribution": "normal", "mean": 0.3, "sd": 0.1, "bounds": [0.1, 0.5]},
            "initial_m1_fraction": {"distribution": "uniform", "low": 0.2, "high": 0.4},
            "tumor_ifngr_loss": {"distribution": "categorical", "values": [0, 1], "weights": [3, 1]},
        },
        "correlations": [{"between": ["recruit_m1_fraction", "initial_m1_fraction"], "rho": 0.7}],
        "endpoints": {"type": "solid"},
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "cohort.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_cohorts_load(name):
    assert name in dict(list_cohorts())
    cohort = load_cohort(name)
    assert cohort.n_patients >= 100 and len(cohort.arms) == 2 and cohort.draws


def test_the_shipped_spatial_cohort_loads_with_one_patient_per_task():
    cohort = load_cohort("b16_spatial_anti_pd1_ferroptosis")
    assert cohort.scenario.scale == "spatial" and cohort.scenario.spatial.replicates == 1
    assert cohort.batch_size == 1 and load_cohort("b16_spatial_anti_pd1_ferroptosis", batch_size=3).batch_size == 3
    assert [d.name for d in cohort.draws] == ["ifng_diffusion", "tumor_slc7a11_overexpression"]
    assert load_cohort("b16_anti_pd1_ferroptosis").batch_size == 250  # well-mixed: one compiled call per batch


def test_run_seeds_depend_on_the_seed_and_patient_only():
    from tmesim.trials.sampling import patient_run_seed, run_seeds

    spatial = load_cohort("b16_spatial_anti_pd1_ferroptosis")
    seeds = run_seeds(spatial, [0, 1, 2, 7])
    assert list(seeds) == [patient_run_seed(1, i) for i in (0, 1, 2, 7)]
    assert list(run_seeds(spatial.with_overrides(patients=100), [7])) == [seeds[3]]
    assert len(set(seeds)) == 4 and patient_run_seed(2, 7) != seeds[3]
    assert all(0 <= s < 2**63 for s in seeds)
    assert run_seeds(load_cohort("b16_anti_pd1_ferroptosis"), [0]) is None


def test_units_are_converted_to_the_catalogue_unit(tmp_path):
    cohort = load_cohort(cohort_file(tmp_path))
    growth = next(d for d in cohort.draws if d.name == "tumor_growth_rate")
    assert growth.unit == "1/day" and growth.factor == pytest.approx(1 / 1440)
    values = draw_patients(cohort, range(5))
    internal = to_internal(cohort, values)
    np.testing.assert_allclose(internal["tumor_growth_rate"], values["tumor_growth_rate"] / 1440)
    # a parameter without a unit is read in the unit its parameter set gives
    frac = next(d for d in cohort.draws if d.name == "recruit_m1_fraction")
    assert frac.unit == "1" and frac.factor == 1.0


def test_draws_do_not_depend_on_the_number_of_patients_or_their_grouping(tmp_path):
    small = load_cohort(cohort_file(tmp_path), patients=10)
    large = load_cohort(cohort_file(tmp_path), patients=5000)
    a = draw_patients(small, range(10))
    b = draw_patients(large, [7, 3, 9, 0, 1, 2, 4, 5, 6, 8])
    for name in a:
        np.testing.assert_array_equal(a[name][[7, 3, 9, 0, 1, 2, 4, 5, 6, 8]], b[name])
    other_seed = load_cohort(cohort_file(tmp_path), seed=4)
    assert not np.array_equal(draw_patients(other_seed, range(10))["tumor_growth_rate"], a["tumor_growth_rate"])


def test_patient_seed_is_the_spawned_child():
    children = np.random.SeedSequence(11).spawn(4)
    assert np.random.default_rng(children[3]).random() == np.random.default_rng(patient_seed_sequence(11, 3)).random()


def test_marginals_bounds_copula_and_categories(tmp_path):
    cohort = load_cohort(cohort_file(tmp_path, patients=4000))
    v = draw_patients(cohort, range(4000))
    growth = v["tumor_growth_rate"]
    assert np.median(growth) == pytest.approx(0.45, rel=0.03)
    assert np.std(np.log(growth)) == pytest.approx(0.2, rel=0.05)
    m1 = v["recruit_m1_fraction"]
    assert m1.min() >= 0.1 and m1.max() <= 0.5  # truncated, not clipped: no pile-up at the bounds
    assert np.mean(m1 == 0.1) == 0 and np.mean(m1 == 0.5) == 0
    u = v["initial_m1_fraction"]
    assert u.min() >= 0.2 and u.max() <= 0.4
    # Gaussian copula with rho 0.7: Spearman's rho is (6/pi) asin(rho/2) = 0.683
    assert spearmanr(m1, u)[0] == pytest.approx(6 / np.pi * np.arcsin(0.35), abs=0.03)
    assert abs(spearmanr(growth, u)[0]) < 0.05
    assert set(np.unique(v["tumor_ifngr_loss"])) == {0.0, 1.0}
    assert np.mean(v["tumor_ifngr_loss"]) == pytest.approx(0.25, abs=0.02)
    z = normal_scores(cohort, range(4000))
    np.testing.assert_allclose(np.corrcoef(z.T), cohort.cholesky @ cohort.cholesky.T, atol=0.04)


BAD = [
    ({"parameters": {"tumour_growth_rate": {"distribution": "lognormal", "median": 1, "sigma": 0.1}}},
     "parameters.tumour_growth_rate", "tumor_growth_rate"),
    ({"parameters": {"tumor_growth_rate": {"distribution": "lognormal", "median": 0.4, "sigma": -0.2}}},
     "parameters.tumor_growth_rate.sigma", "greater than 0"),
    ({"parameters": {"tumor_growth_rate": {"distribution": "normal", "mean": 0.4, "sd": 0.1, "bounds": [0.5, 0.3]}}},
     "parameters.tumor_growth_rate", "lower bound 0.5 is not below the upper bound 0.3"),
    ({"parameters": {"recruit_m1_fraction": {"distribution": "normal", "mean": 0.3, "sd": 0.1, "bounds": [-0.1, 0.5]}}},
     "parameters.recruit_m1_fraction.bounds", "below recruit_m1_fraction's minimum"),
    ({"parameters": {"tumor_growth_rate": {"distribution": "gamma", "shape": 2}}},
     "parameters.tumor_growth_rate", "lognormal"),
    ({"parameters": {"tumor_growth_rate": {"distribution": "lognormal", "median": 0.4, "sigma": 0.1, "unit": "mM"}}},
     "parameters.tumor_growth_rate.unit", "not compatible"),
    ({"correlations": [{"between": ["recruit_m1_fraction", "initial_m1_fraction"], "rho": 0.9},
                       {"between": ["recruit_m1_fraction", "tumor_growth_rate"], "rho": 0.9},
                       {"between": ["initial_m1_fraction", "tumor_growth_rate"], "rho": -0.9}]},
     "correlations", "not positive definite"),
    ({"correlations": [{"between": ["recruit_m1_fraction", "nope"], "rho": 0.5}]},
     "correlations[0].between[1]", "not a drawn parameter"),
    ({"patients": 0}, "patients", "greater than or equal to 1"),
    ({"endpoints": {"type": "lymphoma"}}, "endpoints", "solid"),
    ({"endpoints": {"type": "leukemia", "remission_below_cells": 1e9}}, "endpoints.mrd_below_cells", "missing"),
    ({"arms": ["anti-PD1"]}, "arms[0]", "anti-PD-1"),
    ({"reference_arm": "control"}, "reference_arm", "not one of the trial's arms"),
    ({"solver": {"rtool": 1e-5}}, "solver.rtool", "rtol"),
    ({"scenario": "b16_icb"}, "scenario", "unknown scenario"),
    ({"sizes": 3}, "sizes", "unknown key"),
]


@pytest.mark.parametrize(("changes", "field", "words"), BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_cohort_files_name_the_field_and_the_fix(tmp_path, changes, field, words):
    with pytest.raises(InputError) as exc:
        load_cohort(cohort_file(tmp_path, **changes))
    assert exc.value.field == field
    assert words in str(exc.value)


def test_overrides_are_checked(tmp_path):
    with pytest.raises(InputError) as exc:
        load_cohort(cohort_file(tmp_path), patients=0)
    assert exc.value.field == "--patients"
    with pytest.raises(InputError):
        load_cohort(cohort_file(tmp_path), batch_size=-1)


def test_fingerprint_ignores_batch_size_but_not_patients(tmp_path):
    base = load_cohort(cohort_file(tmp_path))
    assert base.fingerprint() == load_cohort(cohort_file(tmp_path), batch_size=3).fingerprint()
    assert base.fingerprint() != load_cohort(cohort_file(tmp_path), patients=11).fingerprint()
    assert base.fingerprint() != load_cohort(cohort_file(tmp_path), seed=9).fingerprint()


def test_baseline_day_is_the_first_dose(tmp_path):
    assert load_cohort(cohort_file(tmp_path)).baseline_day == 6.0
    assert load_cohort("ball_car_t_proteasome").baseline_day == 0.0
