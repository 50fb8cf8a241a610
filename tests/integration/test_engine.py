"""Well-mixed engine end to end: every shipped scenario runs, the Dataset
follows the results contract (docs/architecture.md), runs are reproducible,
cohorts are paired, the flagship behaves in the expected direction and failed
rows are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
import yaml

import tmesim
from tmesim import results as R
from tmesim.errors import SimulationError
from tmesim.params.index import NAMES as PARAM_NAMES
from tmesim.protocols import drugs
from tmesim.scenario import build_scenario, list_scenarios, load_scenario
from tmesim.simulation import Simulation, SolverOptions, simulate
from tmesim.status import SolverStatus
from tmesim.wellmixed import state as S

check = R.raise_on_failure
V = R.variable

GROUPS = {"tumor", "tumor_ferroptosis", "tumor_signalling", "t_cells", "car_t_cells", "innate", "exhaustion_axis",
          "cytokines", "metabolites", "drugs", "deaths"}
KEY_VARIABLES = [
    "tumor_live", "tumor_dead_apoptotic", "tumor_dead_ferroptotic", "tumor_dead_necrotic",
    "deaths_killing", "deaths_ferroptosis", "deaths_necrosis",
    "cd8_effector", "cd8_progenitor_exhausted", "cd8_terminal_exhausted", "cd8_anergic", "cd8_senescent",
    "cd4_effector", "cd4_progenitor_exhausted", "cd4_terminal_exhausted", "treg",
    *[f"car_{c}_{s}" for c in ("cd8", "cd4") for s in ("stem_memory", "effector", "progenitor_exhausted", "terminal_exhausted")],
    "nk", "macrophage_m1", "macrophage_m2",
]
#: The shipped well-mixed scenarios (the spatial ones report NaN means for empty populations, which the
#: well-mixed checks below refuse; tests/unit/test_spatial_rules.py runs the shipped spatial example).
SCENARIOS = [name for name, _ in list_scenarios() if load_scenario(name).scale == "wellmixed"]
FLAGSHIP_ARMS = ("control", "anti-PD-1", "IKE", "anti-PD-1 + IKE")
DOSING_START, IKE_LAST_DOSE = 6.0, 19.0  # flagship schedule (days)


def _without_created(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs.pop("created", None)
    return out


@pytest.fixture(scope="module")
def short_flagship():
    scn = load_scenario().with_overrides(days=8)
    return scn, simulate(scn)


@pytest.fixture(scope="module")
def flagship_30():
    scn = load_scenario()
    assert scn.days == 30 and tuple(a.name for a in scn.arms) == FLAGSHIP_ARMS
    return simulate(scn)


# ---------------------------------------------------------- every scenario
@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_runs_cleanly(name):
    scn = load_scenario(name)
    if scn.scale == "spatial":  # hours of 3D lattice; run for two steps in tests/unit/test_bench_spatial.py
        pytest.skip("spatial scenario: checked by test_bench_spatial.py")
    scn = scn.with_overrides(days=min(scn.days, 12.0))
    ds = simulate(scn)
    assert list(ds.arm.values) == [a.name for a in scn.arms]
    assert (ds.solver_status.values == 0).all(), ds.solver_message.values
    assert (ds.solver_message.values == "ok").all()
    check(ds)  # raises on failure, NaN or negative state
    for var in S.NAMES:
        values = V(ds, var).values
        assert np.isfinite(values).all(), var
        assert (values >= 0).all(), (var, values.min())
    for var in S.AUX_NAMES:
        assert np.isfinite(ds[var].values).all(), var
    # the tumour is there and finite-sized
    assert (ds.tumor_live.isel(time=0) > 0).all()


# -------------------------------------------------------------- contract
class TestDatasetContract:
    def test_dimensions_and_coordinates(self, short_flagship):
        scn, ds = short_flagship
        assert list(ds.arm.values) == [a.name for a in scn.arms]
        assert ds.arm.dtype.kind in "UO"
        np.testing.assert_array_equal(ds.patient.values, [0])
        step = scn.output_interval_hours / 24.0
        np.testing.assert_allclose(ds.time.values, np.arange(0.0, scn.days + 1e-9, step))
        assert ds.time.attrs["units"] == "day"
        assert ds.solver_status.dims == ("arm", "patient")
        assert ds.solver_status.dtype.kind == "i"
        assert ds.solver_status.attrs["flag_meanings"].split() == [s.name.lower() for s in SolverStatus]
        # T cell pools by lineage and state, as coordinates
        assert ds.t_cells.dims == ("arm", "patient", "time", "t_pool")
        assert set(ds.lineage.values) == {"cd8", "cd4", "car_cd8", "car_cd4"}
        assert R.t_pools(ds, lineage="cd8", state="terminal_exhausted") == ["cd8_terminal_exhausted"]
        assert R.t_pools(ds, state="stem_memory") == ["car_cd8_stem_memory", "car_cd4_stem_memory"]

    def test_parameter_values_per_patient_with_units(self, short_flagship):
        scn, ds = short_flagship
        assert ds.parameter_values.dims == ("arm", "patient", "parameter")
        assert list(ds.parameter.values) == list(PARAM_NAMES)
        growth = R.parameter(ds, "tumor_growth_rate")
        assert growth.attrs["units"] == "1/min"
        assert float(growth.sel(arm="control", patient=0)) == pytest.approx(0.45 / 1440, rel=1e-12)

    def test_events_are_the_protocol(self, short_flagship):
        scn, ds = short_flagship
        assert R.events(ds, "control") == []
        ike = R.events(ds, "IKE")
        assert [e["time"] for e in ike] == [6.0, 7.0, 8.0]  # daily from day 6: the doses an 8-day run reached
        assert {e["kind"] for e in ike} == {"dose"} and {e["target"] for e in ike} == {"ike"}
        assert ike[0]["amount"] == 40.0 and ike[0]["unit"] == "mg/kg"
        assert ds.event_time.attrs["units"] == "day"
        assert R.first_treatment_day(ds) == 6.0
        assert R.untreated_arms(ds) == ["control"]

    def test_every_output_has_units_long_name_group(self, short_flagship):
        _, ds = short_flagship
        on_grid = [v for v in ds.data_vars if ds[v].dims[:3] == ("arm", "patient", "time")]
        assert len(on_grid) >= len(S.NAMES) + len(S.AUX_NAMES) - len(S.T_CELL_POOLS) + 1
        for var in on_grid:
            attrs = ds[var].attrs
            assert isinstance(attrs.get("units"), str), var
            assert str(attrs.get("long_name", "")).strip(), var
            assert attrs.get("group") in GROUPS, (var, attrs.get("group"))
            assert attrs.get("role") in ("state", "derived"), var
        assert set(ds.data_vars) - set(on_grid) == {"solver_status", "solver_message", "solver_steps",
                                                    "parameter_values", "event_time", "event_kind", "event_target",
                                                    "event_amount", "event_unit", "event_detail"}

    def test_key_variables_present(self, short_flagship):
        _, ds = short_flagship
        missing = [v for v in KEY_VARIABLES if v not in ds and v not in ds.t_pool]
        assert not missing
        for v in KEY_VARIABLES:
            assert V(ds, v).attrs["units"] == "cell", v
        for d in drugs.DRUGS:
            assert ds[f"drug_{d.name}"].attrs["group"] == "drugs"

    def test_provenance_attrs(self, short_flagship):
        scn, ds = short_flagship
        assert ds.attrs["engine"] == "wellmixed"
        assert ds.attrs["tmesim_version"] == tmesim.__version__
        assert int(ds.attrs["seed"]) == scn.seed
        assert build_scenario(yaml.safe_load(ds.attrs["scenario"])) == scn
        params = json.loads(ds.attrs["parameters"])
        assert set(params) == set(PARAM_NAMES)
        for name, rec in params.items():
            assert set(rec) >= {"value", "unit", "source"}, name
            assert rec["value"] == pytest.approx(scn.base_parameters[name], rel=1e-12), name
        assert "rtol=0.0001" in ds.attrs["solver"]

    def test_no_wall_clock_in_attrs(self, short_flagship):
        # identical reruns need attrs free of wall-clock time
        _, ds = short_flagship
        assert "created" not in ds.attrs

    def test_arm_parameters_recorded_where_knobs_differ(self):
        scn = build_scenario({
            "name": "knobbed", "days": 2,
            "arms": [{"name": "wt"}, {"name": "OE", "knobs": {"tumor_slc7a11_overexpression": 3}}],
        })
        ds = simulate(scn)
        per_arm = json.loads(ds.attrs["arm_parameters"])
        assert "wt" not in per_arm
        assert per_arm["OE"]["tumor_slc7a11_overexpression"]["value"] == 3.0
        # and the knob acts: the over-expressing tumour starts with 3x SLC7A11
        assert float(ds.tumor_slc7a11.sel(arm="OE").isel(patient=0, time=0)) == pytest.approx(3.0)

    def test_cumulative_counters_never_decrease(self, short_flagship):
        _, ds = short_flagship
        for var in [n for n in S.NAMES if n.startswith(("kills_", "deaths_"))] + ["deaths_killing"]:
            steps = ds[var].diff("time").values
            scale = float(np.abs(ds[var]).max()) + 1.0
            assert (steps >= -1e-6 * scale).all(), var

    def test_drug_exposure_follows_schedule(self, short_flagship):
        _, ds = short_flagship
        before = ds.time < DOSING_START
        assert float(np.abs(ds.drug_anti_pd1.sel(arm="control")).max()) == 0.0
        assert float(np.abs(ds.drug_ike.where(before, 0.0)).max()) == 0.0
        assert float(ds.drug_ike.sel(arm="IKE", time=DOSING_START).squeeze()) > 0.0
        assert float(ds.drug_anti_pd1.sel(arm="IKE").max()) == 0.0
        assert float(ds.pd1_blockade.sel(arm="anti-PD-1", time=DOSING_START + 0.5).squeeze()) > 0.0


# --------------------------------------------------------- reproducibility
def test_same_scenario_and_seed_gives_identical_dataset(short_flagship):
    scn, ds = short_flagship
    xr.testing.assert_identical(_without_created(simulate(scn)), _without_created(ds))


def test_rows_are_independent_of_the_batch(short_flagship):
    scn, ds = short_flagship
    only = scn.model_copy(update={"arms": [scn.arms[3]]})
    alone = simulate(only)
    for var in ("tumor_live", "tumor_gsh", "cd8_effector", "ifng"):
        np.testing.assert_array_equal(V(alone, var).sel(arm=scn.arms[3].name).values,
                                      V(ds, var).sel(arm=scn.arms[3].name).values, err_msg=var)


def test_progress_chunks_do_not_change_results(short_flagship):
    scn, ds = short_flagship
    seen = []
    one = simulate(scn, solver=SolverOptions(progress_chunks=1), progress=seen.append)
    assert seen == [1.0]
    for var in ("tumor_live", "tumor_gsh", "cd8_effector"):
        np.testing.assert_allclose(V(one, var).values, V(ds, var).values, rtol=2e-3, atol=1e-6, err_msg=var)
    fractions = []
    simulate(scn, solver=SolverOptions(progress_chunks=5), progress=fractions.append)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 5


# ------------------------------------------------------------------ cohort
@pytest.fixture(scope="module")
def cohort():
    scn = load_scenario().with_overrides(days=8, cohort={"size": 4, "variability": {"all": 0.2}})
    return scn, simulate(scn)


class TestCohort:
    def test_patients_differ(self, cohort):
        scn, ds = cohort
        assert ds.sizes["patient"] == 4
        assert (ds.solver_status == 0).all()
        final = ds.tumor_live.sel(arm="control").isel(time=-1).values
        assert len(np.unique(np.round(final, 6))) == 4
        assert final.max() > 1.05 * final.min()

    def test_same_patient_in_every_arm(self, cohort):
        scn, ds = cohort
        batch = Simulation(scn).compile()
        p = batch.values.reshape(len(scn.arms), 4, -1)
        np.testing.assert_array_equal(ds.parameter_values.values, p)  # the results carry each row's values
        for a in range(1, len(scn.arms)):
            np.testing.assert_array_equal(p[a], p[0])  # flagship arms share parameters
        assert not np.array_equal(p[0, 0], p[0, 1])
        # identical trajectories until the first dose (solver tolerance apart)
        pre = ds.sel(time=slice(0, DOSING_START - 0.25))
        for arm in FLAGSHIP_ARMS[1:]:
            np.testing.assert_allclose(pre.tumor_live.sel(arm=arm).values, pre.tumor_live.sel(arm="control").values,
                                       rtol=1e-3)

    def test_seed_sets_the_cohort(self, cohort):
        scn, ds = cohort
        small = scn.with_overrides(days=1)
        a = simulate(small)
        b = simulate(small)
        c = simulate(small.with_overrides(seed=scn.seed + 1))
        xr.testing.assert_identical(_without_created(a), _without_created(b))
        assert not np.allclose(a.tumor_live.isel(time=-1).values, c.tumor_live.isel(time=-1).values)


# -------------------------------------------------------------- direction
class TestFlagshipDirection:
    def test_combination_controls_tumour_better_than_control(self, flagship_30):
        final = flagship_30.tumor_live.sel(time=30.0).squeeze("patient")
        assert (flagship_30.solver_status == 0).all()
        assert float(final.sel(arm="control")) > float(final.sel(arm="anti-PD-1 + IKE"))
        assert float(final.sel(arm="control")) > float(final.sel(arm="anti-PD-1"))

    def test_combination_beats_either_agent_alone(self, flagship_30):
        final = flagship_30.tumor_live.sel(time=30.0).squeeze("patient")
        combo = float(final.sel(arm="anti-PD-1 + IKE"))
        assert combo < float(final.sel(arm="anti-PD-1"))
        assert combo < float(final.sel(arm="IKE"))

    def test_ike_lowers_tumour_gsh_while_dosed(self, flagship_30):
        dosed = flagship_30.tumor_gsh.sel(time=slice(DOSING_START + 1, IKE_LAST_DOSE)).squeeze("patient")
        assert float(dosed.sel(arm="IKE").mean()) < float(dosed.sel(arm="control").mean())
        assert (dosed.sel(arm="IKE") < dosed.sel(arm="control")).all()

    def test_arms_identical_before_treatment(self, flagship_30):
        pre = flagship_30.tumor_live.sel(time=slice(0, DOSING_START - 0.25)).squeeze("patient")
        for arm in FLAGSHIP_ARMS[1:]:
            np.testing.assert_allclose(pre.sel(arm=arm).values, pre.sel(arm="control").values, rtol=1e-3)

    def test_untreated_tumour_grows(self, flagship_30):
        control = flagship_30.tumor_live.sel(arm="control").squeeze("patient")
        assert float(control.sel(time=30.0)) > float(control.sel(time=0.0))


# ------------------------------------------------------- CAR T products
CAR_POOL = [f"car_{c}_{s}" for c in ("cd8", "cd4") for s in ("stem_memory", "effector", "progenitor_exhausted",
                                                             "terminal_exhausted")]


@pytest.fixture(scope="module")
def ball_60():
    return simulate(load_scenario("ball_car_bortezomib").with_overrides(days=60))


def _car(ds, arm, day):
    x = ds.sel(arm=arm, time=day).squeeze("patient")
    memory = float(V(x, "car_cd8_stem_memory") + V(x, "car_cd4_stem_memory"))
    return memory, sum(float(V(x, v)) for v in CAR_POOL)


class TestCarProducts:
    def test_bortezomib_product_enters_with_more_stem_like_memory(self, ball_60):
        # manufacturing with bortezomib keeps BACH2, and BACH2 sets the stem-like share
        m_std, c_std = _car(ball_60, "standard product", 0.5)
        m_bz, c_bz = _car(ball_60, "bortezomib product", 0.5)
        assert 0.0 < m_std / c_std < m_bz / c_bz < 1.0

    def test_car_t_cells_persist_as_memory_after_clearance(self, ball_60):
        for arm in ("standard product", "bortezomib product"):
            x = ball_60.sel(arm=arm, time=60.0).squeeze("patient")
            # the CAR T cells' targets are gone; what is left is the antigen-negative clone they cannot touch,
            # which the leukaemia's escaped innate killing no longer clears (a few thousand cells, growing back)
            assert float(x.tumor_antigen_positive) < 1.0
            assert 1e2 < float(x.tumor_antigen_negative) < 1e5
            memory, total = _car(ball_60, arm, 60.0)
            assert total > 1e7 and memory / total > 0.5
        assert _car(ball_60, "bortezomib product", 60.0)[1] > _car(ball_60, "standard product", 60.0)[1]

    def test_the_culture_state_relaxes_after_infusion_a_lifelong_edit_does_not(self):
        # a culture of twice the proteasome expression makes a product of twice the proteasome activity, which
        # relaxes in the patient (time constant 24 h) to what the cells' own expression sets; a genetic edit of
        # twice the expression keeps it doubled for life
        product = {"day": 0, "cells": 1.0e8, "cd4_fraction": 0.5}
        scn = load_scenario("ball_car_bortezomib").with_overrides(days=7, arms=[
            {"name": "standard", "products": [product]},
            {"name": "culture x2", "products": [product], "parameters": {"car_culture_proteasome_expression": 2.0}},
            {"name": "edit x2", "products": [{**product, "proteasome_expression": 2.0}]}])
        ds = simulate(scn)
        prot = {a: V(ds.sel(arm=a).squeeze("patient"), "car_t_proteasome") for a in ("standard", "culture x2", "edit x2")}
        at = {a: (float(x.sel(time=0.0)), float(x.sel(time=7.0))) for a, x in prot.items()}
        assert at["standard"][0] == pytest.approx(1.6355, abs=1e-3)
        assert at["culture x2"][0] / at["standard"][0] == pytest.approx(2.0, rel=1e-3)
        assert at["edit x2"][0] / at["standard"][0] == pytest.approx(2.0, rel=1e-3)
        assert at["culture x2"][1] / at["standard"][1] == pytest.approx(1.0, abs=0.02)
        assert at["edit x2"][1] / at["standard"][1] == pytest.approx(2.0, rel=0.02)

    @pytest.mark.parametrize("self_renewal", [0.8, 1.0])
    def test_effectors_dominate_the_expansion_peak(self, self_renewal):
        # CD19 CAR T cells at peak expansion in B-ALL are effector-memory (CD8CARBALL2022): antigen makes
        # stem-like cells divide asymmetrically (Chang2007), even where they fully renew themselves at rest
        scn = load_scenario("ball_car_bortezomib").with_overrides(
            days=30, parameters={"car_memory_self_renewal_max": self_renewal})
        ds = simulate(scn)
        for arm in ("standard product", "bortezomib product"):
            x = ds.sel(arm=arm).squeeze("patient")
            total = sum(V(x, v) for v in CAR_POOL)
            peak = int(total.argmax("time"))
            memory = float((V(x, "car_cd8_stem_memory") + V(x, "car_cd4_stem_memory"))[peak])
            assert float(x.time[peak]) > 2.0  # the pool expands first
            assert memory / float(total[peak]) < 0.5

    def test_untreated_arm_has_no_car_t_cells(self, ball_60):
        assert _car(ball_60, "untreated", 60.0)[1] == 0.0


def _runs_by_value(scenario, days, arms, parameter, values):
    """Run two arms of a shipped scenario for ``days`` at each value of one parameter: value -> Dataset."""
    scn = load_scenario(scenario).with_overrides(days=days)
    scn = scn.with_overrides(arms=[a.model_dump() for a in scn.arms if a.name in arms])
    return {v: simulate(scn.with_overrides(parameters={parameter: v})) for v in values}


@pytest.fixture(scope="module")
def tam_21():
    return _runs_by_value("finding6_tam_polarization", 21, ("anti-PD-1", "CSF1R inhibitor + anti-PD-1"),
                          "csf1r_monocyte_redirect", (0.0, 1.0))


def _tams(ds, arm, day):
    x = ds.sel(arm=arm, time=day).squeeze("patient")
    return float(x.macrophage_m1), float(x.macrophage_m2)


class TestCsf1rInhibition:
    def test_depletes_tams_and_raises_the_m1_share(self, tam_21):
        m1_a, m2_a = _tams(tam_21[1.0], "anti-PD-1", 14.0)
        m1_c, m2_c = _tams(tam_21[1.0], "CSF1R inhibitor + anti-PD-1", 14.0)
        assert m1_c + m2_c < 0.8 * (m1_a + m2_a)
        assert m1_c / (m1_c + m2_c) > m1_a / (m1_a + m2_a) + 0.1

    def test_blocked_monocytes_enter_as_m1_when_redirected(self, tam_21):
        # MacDonald 2010: anti-CSF1R leaves inflammatory monocyte recruitment intact
        arm = "CSF1R inhibitor + anti-PD-1"
        assert _tams(tam_21[1.0], arm, 14.0)[0] > 1.2 * _tams(tam_21[0.0], arm, 14.0)[0]
        # without the drug the parameter changes nothing
        a0, a1 = tam_21[0.0].sel(arm="anti-PD-1"), tam_21[1.0].sel(arm="anti-PD-1")
        np.testing.assert_array_equal(a0.macrophage_m1.values, a1.macrophage_m1.values)


@pytest.fixture(scope="module")
def ifngr_14():
    return _runs_by_value("finding1_ifng_ferroptosis", 14, ("anti-PD-1", "IFNGR-KO + anti-PD-1"),
                          "stromal_cell_fraction", (0.0, 0.11))


def _ifng_mean(ds, arm):
    x = ds.sel(arm=arm).squeeze("patient").sel(time=slice(7.0, 14.0))
    return float(x.ifng.mean())


class TestStromalIfngSink:
    """Host stroma bears IFNGR (Bach 1997), so a tumour's IFNGR loss does not remove the IFN-gamma sink."""

    def test_stroma_takes_up_ifng_left_by_ifngr_ko_tumour_cells(self, ifngr_14):
        ko = "IFNGR-KO + anti-PD-1"
        without, with_stroma = _ifng_mean(ifngr_14[0.0], ko), _ifng_mean(ifngr_14[0.11], ko)
        assert with_stroma < 0.5 * without
        # the stroma is a small share of the sink of a receptor-bearing tumour
        wt0, wt1 = _ifng_mean(ifngr_14[0.0], "anti-PD-1"), _ifng_mean(ifngr_14[0.11], "anti-PD-1")
        assert wt1 == pytest.approx(wt0, rel=0.05)
        # and IFN-gamma in the KO tumour still exceeds the wild type's, which consumes it
        assert with_stroma > wt1


@pytest.fixture(scope="module")
def lymphoma_35():
    return simulate(load_scenario("lymphoma_car_subsets"))


def _auc(ds, arm):
    x = ds.sel(arm=arm).squeeze("patient")
    return float(np.trapezoid(x.tumor_live.values, x.time.values))


class TestHostContext:
    """CAR T IFN-gamma is needed in immunocompetent hosts (Boulch 2021), less so
    without host lymphocytes and myeloid IL-12 (Bailey 2022)."""

    def test_nsg_like_host_controls_worse_with_the_intact_product(self, lymphoma_35):
        assert _auc(lymphoma_35, "1:1 in NSG-like host") > 1.1 * _auc(lymphoma_35, "CD4:CD8 1:1")

    def test_ifng_knockout_costs_less_without_a_competent_host(self, lymphoma_35):
        penalty_host = _auc(lymphoma_35, "1:1 IFNg-KO CAR") / _auc(lymphoma_35, "CD4:CD8 1:1")
        penalty_nsg = _auc(lymphoma_35, "1:1 IFNg-KO CAR in NSG-like host") / _auc(lymphoma_35, "1:1 in NSG-like host")
        assert penalty_host > 1.0
        assert penalty_nsg < penalty_host

    def test_nsg_like_host_recruits_no_host_cells(self, lymphoma_35):
        x = lymphoma_35.sel(arm="1:1 in NSG-like host").squeeze("patient")
        assert float(x.il12.max()) == 0.0
        assert float(x.nk.isel(time=-1)) < float(x.nk.isel(time=0))


# ---------------------------------------------------------------- failures
class TestFailureReporting:
    def test_step_budget_failure_is_reported_per_row(self, short_flagship):
        scn, _ = short_flagship
        ds = simulate(scn, solver=SolverOptions(max_steps=5))
        status = ds.solver_status.values
        assert (status == SolverStatus.MAX_STEPS).all()
        for message in ds.solver_message.values.ravel():
            assert message.startswith(SolverStatus.MAX_STEPS.message)
            assert "t = " in message and " d" in message
        with pytest.raises(SimulationError) as info:
            check(ds)
        assert "control" in str(info.value) and f"in {len(scn.arms)} of {len(scn.arms)} runs" in str(info.value)
        with pytest.raises(SimulationError):
            simulate(scn, solver=SolverOptions(max_steps=5), raise_on_failure=True)

    def test_failure_message_names_a_variable(self, short_flagship):
        # a step-budget failure names the variable whose error limited the last step
        scn, _ = short_flagship
        ds = simulate(scn, solver=SolverOptions(max_steps=5))
        for message in ds.solver_message.values.ravel():
            assert any(f"variable {name} " in message for name in S.NAMES), message

    def test_failing_row_does_not_kill_the_others(self):
        scn = load_scenario().with_overrides(days=20)
        full = simulate(scn, solver=SolverOptions(progress_chunks=1))
        steps = full.solver_steps.values[:, 0]
        lo, hi = int(steps.min()), int(steps.max())
        assert hi > lo + 10, "needs arms of different step counts"
        budget = (lo + hi) // 2
        ds = simulate(scn, solver=SolverOptions(progress_chunks=1, max_steps=budget))
        ok = steps <= budget
        assert ok.any() and (~ok).any()
        np.testing.assert_array_equal(ds.solver_status.values[:, 0] == 0, ok)
        failed_arms = [str(a) for a in full.arm.values[~ok]]
        assert sorted(str(a) for a in ds.arm.values[R.failed(ds).values[:, 0]]) == sorted(failed_arms)
        assert (ds.solver_message.values[ok, 0] == "ok").all()
        # the rows that succeeded are exactly as in the unconstrained run
        for arm in full.arm.values[ok]:
            for var in ("tumor_live", "tumor_gsh", "cd8_effector"):
                np.testing.assert_array_equal(V(ds, var).sel(arm=arm).values, V(full, var).sel(arm=arm).values)
        with pytest.raises(SimulationError) as info:
            check(ds)
        assert failed_arms[0] in str(info.value)

    def test_check_flags_negative_state(self, short_flagship):
        _, ds = short_flagship
        bad = ds.copy(deep=True)
        bad["t_cells"][1, 0, 5, list(bad.t_pool.values).index("cd8_effector")] = -1.0
        with pytest.raises(SimulationError) as info:
            check(bad)
        assert "cd8_effector" in str(info.value) and "anti-PD-1" in str(info.value)
        bad = ds.copy(deep=True)
        bad["tumor_gsh"][2, 0, 3] = np.nan
        with pytest.raises(SimulationError, match="tumor_gsh is nan in arm 'IKE'"):
            check(bad)
        check(ds)  # the original is fine
