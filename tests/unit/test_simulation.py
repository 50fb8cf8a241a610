"""The orchestrator (tmesim.Simulation, SolverOptions) and the readers of the results contract
(tmesim.results) on short real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tmesim
from tmesim import results as R
from tmesim.errors import InputError
from tmesim.scenario import load_scenario
from tmesim.simulation import Simulation, SolverOptions, simulate
from tmesim.status import SolverStatus


@pytest.fixture(scope="module")
def short():
    return load_scenario("b16_icb_ferroptosis").with_overrides(days=2.0)


@pytest.fixture(scope="module")
def short_ds(short):
    return Simulation(short).run()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"rtol": -1.0}, "solver.rtol"), ({"rtol": 0.0}, "solver.rtol"), ({"rtol": 2.0}, "solver.rtol"),
    ({"rtol": math.nan}, "solver.rtol"), ({"max_step_days": 0.0}, "solver.max_step_days"),
    ({"max_steps": 0}, "solver.max_steps"), ({"max_steps": True}, "solver.max_steps"),
    ({"jacobian_every": 1.5}, "solver.jacobian_every"), ({"progress_chunks": -2}, "solver.progress_chunks"),
    ({"method": "rk4"}, "solver.method"),
])
def test_solver_options_check_themselves(kwargs, field):
    with pytest.raises(InputError) as info:
        SolverOptions(**kwargs)
    assert info.value.field == field


def test_solver_options_are_immutable_and_describe_themselves():
    opts = SolverOptions(rtol=1e-5)
    with pytest.raises(Exception):
        opts.rtol = 1.0
    assert "rtol=1e-05" in opts.describe() and "method=ros34pw2" in opts.describe()


def test_simulation_from_a_name_with_a_seed(short):
    sim = Simulation("b16_icb_ferroptosis", seed=7)
    assert sim.scenario.seed == 7 and sim.seed_sequence.entropy == 7
    assert "b16_icb_ferroptosis" in repr(sim) and "4 arms x 1 patients" in repr(sim)
    with pytest.raises(InputError, match="scenario"):
        Simulation(42)
    with pytest.raises(InputError, match="solver"):
        Simulation(short, solver={"rtol": 1e-3})


def test_clock_lands_on_the_end(short):
    sim = Simulation(short.with_overrides(days=1.1))
    np.testing.assert_allclose(sim.output_days(), [0.0, 0.25, 0.5, 0.75, 1.0, 1.1])


def test_events_are_the_protocol_per_arm(short):
    events = Simulation(short).events()
    assert list(events) == [a.name for a in short.arms]
    assert events["control"] == []
    combo = events["anti-PD-1 + IKE"]
    assert {e.target for e in combo} == {"anti_pd1", "ike"}
    assert combo == sorted(combo, key=lambda e: e.day)
    assert all(e.kind == "dose" and e.unit == "mg/kg" for e in combo)


def test_simulate_is_the_one_line_form(short, short_ds):
    ds = tmesim.simulate(short)
    np.testing.assert_array_equal(ds.tumor_live.values, short_ds.tumor_live.values)
    assert tmesim.Simulation is Simulation


def test_patient_values_set_the_cohort_and_yield_to_arm_knobs(short):
    scn = short.with_overrides(arms=[{"name": "wt"}, {"name": "KO", "knobs": {"tumor_ifngr_loss": 1.0}}])
    growth = np.array([0.3, 0.45, 0.6]) / 1440.0
    sim = Simulation(scn, patient_values={"tumor_growth_rate": growth, "tumor_ifngr_loss": np.array([0.0, 0.5, 0.0])})
    assert sim.scenario.cohort.size == 3
    ds = sim.run()
    np.testing.assert_array_equal(R.parameter(ds, "tumor_growth_rate").sel(arm="wt").values, growth)
    np.testing.assert_array_equal(R.parameter(ds, "tumor_ifngr_loss").sel(arm="wt").values, [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(R.parameter(ds, "tumor_ifngr_loss").sel(arm="KO").values, [1.0, 1.0, 1.0])
    assert ds.tumor_live.sel(arm="wt").isel(time=-1).values.argmax() == 2  # the fastest-growing patient


@pytest.mark.parametrize(("values", "match"), [
    ({"tumor_growth_rte": [1.0]}, "patient_values.tumor_growth_rte"),
    ({"tumor_growth_rate": [1.0, 2.0], "tumor_ifngr_loss": [0.0]}, "different numbers of patients"),
    ({"tumor_growth_rate": []}, "no patients"),
])
def test_bad_patient_values(short, values, match):
    with pytest.raises(InputError, match=match):
        Simulation(short, patient_values={k: np.array(v) for k, v in values.items()}).compile()


# ------------------------------------------------------------------ results
def test_parameter_values_and_units(short_ds):
    da = R.parameter(short_ds, "stat1_time_constant")
    assert da.attrs["units"] == "min" and float(da.sel(arm="control", patient=0)) == pytest.approx(6 * 60.0)


def test_pools_by_lineage_and_state(short_ds):
    cd8 = R.t_cell_count(short_ds, lineage="cd8")
    manual = sum(R.variable(short_ds, n) for n in R.t_pools(short_ds, lineage="cd8"))
    np.testing.assert_allclose(cd8.values, manual.values, rtol=1e-12)
    assert R.variable(short_ds, "cd8_progenitor_exhausted").attrs["long_name"].endswith("(TCF1+)")
    assert R.variable(short_ds, "car_cd4_effector").attrs["group"] == "car_t_cells"
    assert float(R.car_t_cells(short_ds).max()) == 0.0
    with pytest.raises(KeyError):
        R.variable(short_ds, "cd9_effector")


def test_failure_summary_and_raise(short, short_ds):
    assert R.failure_summary(short_ds) is None
    R.raise_on_failure(short_ds)
    failed = simulate(short, solver=SolverOptions(max_steps=3))
    assert (failed.solver_status == SolverStatus.MAX_STEPS).all()
    line = R.failure_summary(failed)
    assert line.startswith("integration failed in 4 of 4 runs; first: arm 'control', patient 0: too many steps")
    assert R.successful(failed).tumor_live.isnull().all()


def test_untreated_and_first_treatment(short_ds):
    # the Dataset lists the events the run reached: a 2-day run reaches no dose (the first is on day 6)
    assert R.untreated_arms(short_ds) == [str(a) for a in short_ds.arm.values]
    assert R.first_treatment_day(short_ds) is None
