"""Mechanism library (tmesim.biology): each function called directly.

Parameter values are the B16 set's, in internal units (per minute, mM, uM,
relative units), written out here so these tests exercise the mechanism
functions and not a parameter file. Small systems of rates are integrated with
scipy to their steady state or over a few days.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher
from scipy.integrate import solve_ivp

from tmesim.biology import common, exhaustion, ferroptosis, killing, macrophage, signalling

H = 60.0  # min per hour
DAY = 1440.0  # min per day

# ------------------------------------------------------------- ferroptosis
GSH_SYNTHESIS = 1.155 / H  # mM/min
GSH_TURNOVER = 0.231 / H  # 1/min -> resting GSH = 5 mM
GPX4_GSH_KM = 2.0  # mM
K_INIT = 0.0005  # 1/min/uM
K_PROP = 0.012  # 1/min/uM
K_GPX4 = 0.025  # 1/min
KM_GPX4 = 0.5  # relative lipid peroxide
K_FSP1 = 0.003  # 1/min
PUFA_TURNOVER = 1.0 / DAY  # 1/min
PUFA_COST = 0.02
IRON = 1.0  # uM, resting labile iron
CYSTINE, CYSTINE_KM = 50.0, 60.0  # uM

# -------------------------------------------------------- exhaustion axis
DEPOL_GAIN = 4.0  # extra haem release per unit depolarisation
K_CLEAR = 1.0 / DAY
K_IMPORT = 2.0 / DAY
K_EXPORT = 2.0 / DAY
BACH2_HALF, BACH2_HILL, BACH2_TAU = 3.0, 2.0, 48.0 * H


# ======================================================== shared shapes
class TestSharedShapes:
    def test_hill_at_zero_and_negative_is_zero(self):
        assert common.hill(0.0, 2.0, 1.5) == 0.0
        assert common.hill(-3.0, 2.0, 1.5) == 0.0  # negative counts as zero, not NaN
        assert common.hill_down(-3.0, 2.0, 1.5) == 1.0

    def test_hill_half_and_saturation(self):
        assert common.hill(2.0, 2.0, 3.0) == pytest.approx(0.5)
        assert common.hill(2.0, 2.0, 1.0) == pytest.approx(0.5)
        assert common.hill(6.0, 2.0, 2.0) == pytest.approx(36.0 / 40.0)
        assert common.hill(1e9, 2.0, 2.0) == pytest.approx(1.0)
        assert common.hill_down(6.0, 2.0, 2.0) == pytest.approx(4.0 / 40.0)

    def test_hill_steeper_with_higher_power(self):
        # below the half point a higher power gives less, above it more
        assert common.hill(1.0, 2.0, 4.0) < common.hill(1.0, 2.0, 1.0)
        assert common.hill(4.0, 2.0, 4.0) > common.hill(4.0, 2.0, 1.0)

    def test_occupancy_edges(self):
        assert common.occupancy(0.0, 5.0, 0.8) == 0.0
        assert common.occupancy(-1.0, 5.0, 0.8) == 0.0
        assert common.occupancy(5.0, 5.0, 0.8) == pytest.approx(0.4)
        assert common.occupancy(1e12, 5.0, 0.8) == pytest.approx(0.8)

    def test_relax_and_event_probability(self):
        assert common.relax(1.0, 3.0, 4.0) == pytest.approx(0.5)
        assert common.relax(3.0, 3.0, 4.0) == 0.0
        assert common.event_probability(0.0, 10.0) == 0.0
        assert common.event_probability(0.1, 10.0) == pytest.approx(1.0 - np.exp(-1.0))
        # two half steps compose to one full step: step-size independent
        p_half = common.event_probability(0.1, 5.0)
        assert 1.0 - (1.0 - p_half) ** 2 == pytest.approx(common.event_probability(0.1, 10.0))

    def test_hill_on_arrays_with_negative_entries(self):
        x = np.array([-1.0, 0.0, 2.0, 6.0])
        out = common.hill(x, 2.0, 2.0)
        np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 0.9])


def _mechanism_functions():
    out = []
    for name in ("common", "signalling", "ferroptosis", "exhaustion", "macrophage", "growth", "killing", "recruitment"):
        mod = importlib.import_module(f"tmesim.biology.{name}")
        for fname, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__ and not fname.startswith("_"):
                out.append(pytest.param(obj, id=f"{name}.{fname}"))
    return out


@pytest.mark.parametrize("fn", _mechanism_functions())
def test_function_accepts_arrays(fn):
    """Every mechanism function works elementwise on numpy arrays (all
    arguments arrays, and first argument array with scalar parameters)."""
    n_args = len(inspect.signature(fn.py_func).parameters)
    vals = np.array([0.1, 0.4, 0.9, 1.7])
    scalar = np.array([fn(*([v] * n_args)) for v in vals])
    np.testing.assert_allclose(fn(*([vals] * n_args)), scalar, rtol=1e-12)
    mixed = np.array([fn(v, *([0.6] * (n_args - 1))) for v in vals])
    np.testing.assert_allclose(fn(vals, *([0.6] * (n_args - 1))), mixed, rtol=1e-12)
    grid = vals.reshape(2, 2)
    assert np.shape(fn(grid, *([0.6] * (n_args - 1)))) == (2, 2)


def test_at_least_the_documented_modules_are_covered():
    names = {p.id for p in _mechanism_functions()}
    for expected in ("signalling.stat1_rate", "ferroptosis.slc7a11_target", "ferroptosis.lipid_peroxide_rate",
                     "exhaustion.bach2_rate", "macrophage.m2_to_m1_rate"):
        assert expected in names


# ============================================================ STAT1 hub
class TestStat1:
    EC50, N, TAU = 30.0, 1.5, 6.0 * H

    def _steady_stat1(self, ifng_pM, ifngr=1.0):
        sol = solve_ivp(lambda t, s: [signalling.stat1_rate(s[0], ifng_pM, ifngr, self.EC50, self.N, self.TAU)],
                        (0.0, 10 * self.TAU), [0.0], rtol=1e-10, atol=1e-12)
        return sol.y[0, -1]

    def test_ifng_raises_stat1(self):
        assert signalling.stat1_rate(0.0, 0.0, 1.0, self.EC50, self.N, self.TAU) == 0.0
        assert signalling.stat1_rate(0.0, 100.0, 1.0, self.EC50, self.N, self.TAU) > 0.0
        s_low, s_high = self._steady_stat1(3.0), self._steady_stat1(300.0)
        assert 0.0 < s_low < s_high < 1.0
        # steady state is the Hill target
        assert s_high == pytest.approx(common.hill(300.0, self.EC50, self.N), rel=1e-4)
        assert self._steady_stat1(self.EC50) == pytest.approx(0.5, rel=1e-4)

    def test_stat1_relaxes_with_its_time_constant(self):
        target = common.hill(300.0, self.EC50, self.N)
        sol = solve_ivp(lambda t, s: [signalling.stat1_rate(s[0], 300.0, 1.0, self.EC50, self.N, self.TAU)],
                        (0.0, self.TAU), [0.0], rtol=1e-10, atol=1e-12)
        assert sol.y[0, -1] == pytest.approx(target * (1.0 - np.exp(-1.0)), rel=1e-5)

    def test_ifngr_loss_blocks_stat1(self):
        assert signalling.stat1_rate(0.0, 1000.0, 0.0, self.EC50, self.N, self.TAU) == 0.0
        assert self._steady_stat1(1000.0, ifngr=0.5) == pytest.approx(0.5 * self._steady_stat1(1000.0), rel=1e-4)

    def test_ifng_lowers_slc7a11_target(self):
        rest = ferroptosis.slc7a11_target(0.0, 0.7, 1.0)
        stim = ferroptosis.slc7a11_target(self._steady_stat1(300.0), 0.7, 1.0)
        assert rest == pytest.approx(1.0)
        assert stim < rest
        assert ferroptosis.slc7a11_target(1.0, 0.7, 1.0) == pytest.approx(0.3)

    def test_overexpression_transgene_is_not_repressed(self):
        stat1 = np.linspace(0.0, 1.0, 11)
        endogenous = ferroptosis.slc7a11_target(stat1, 0.7, 1.0)
        oe = ferroptosis.slc7a11_target(stat1, 0.7, 3.0)
        # the transgene adds fold - 1 = 2 at every STAT1 level
        np.testing.assert_allclose(oe - endogenous, 2.0)
        # fully stimulated OE cells keep more SLC7A11 than resting wild type
        assert ferroptosis.slc7a11_target(1.0, 0.7, 3.0) > ferroptosis.slc7a11_target(0.0, 0.7, 1.0)

    def test_stat1_induces_acsl4_and_targets(self):
        assert ferroptosis.acsl4_target(0.0, 0.5) == pytest.approx(1.0)
        assert ferroptosis.acsl4_target(1.0, 0.5) == pytest.approx(1.5)
        assert signalling.induced_level(0.0, 1.0, 10.0) == pytest.approx(1.0)
        assert signalling.induced_level(1.0, 1.0, 10.0) == pytest.approx(10.0)


# ============================================================ ferroptosis
def _uptake(xc_inhibition=0.0, cystine=CYSTINE, slc7a11=1.0):
    return ferroptosis.cystine_uptake(slc7a11, xc_inhibition, cystine, CYSTINE_KM, CYSTINE)


class TestCystineGsh:
    def test_uptake_reference_and_inhibition(self):
        assert _uptake() == pytest.approx(1.0)
        assert _uptake(xc_inhibition=0.8) == pytest.approx(0.2)
        assert _uptake(xc_inhibition=1.0) == 0.0
        assert _uptake(slc7a11=0.3) == pytest.approx(0.3)
        # Michaelis-Menten in cystine: halving cystine loses less than half
        assert 0.5 < _uptake(cystine=CYSTINE / 2) < 1.0

    @pytest.mark.parametrize("uptake", [1.0, 0.5, 0.1, 0.0])
    def test_gsh_steady_state_is_proportional_to_uptake(self, uptake):
        sol = solve_ivp(lambda t, g: [ferroptosis.gsh_rate(g[0], uptake, GSH_SYNTHESIS, GSH_TURNOVER)],
                        (0.0, 3 * DAY), [5.0], method="LSODA", rtol=1e-10, atol=1e-12)
        assert sol.y[0, -1] == pytest.approx(5.0 * uptake, abs=1e-6)

    def test_blocking_uptake_depletes_gsh_within_hours(self):
        u = _uptake(xc_inhibition=1.0)
        sol = solve_ivp(lambda t, g: [ferroptosis.gsh_rate(g[0], u, GSH_SYNTHESIS, GSH_TURNOVER)],
                        (0.0, 12 * H), [5.0], rtol=1e-10, atol=1e-12)
        # first-order loss with a 3 h half-life: 1/16 left after 12 h
        assert sol.y[0, -1] == pytest.approx(5.0 / 16.0, rel=1e-3)

    def test_gpx4_activity_follows_gsh(self):
        assert ferroptosis.gpx4_activity(5.0, GPX4_GSH_KM, 1.0, 0.0) == pytest.approx(5.0 / 7.0)
        assert ferroptosis.gpx4_activity(0.0, GPX4_GSH_KM, 1.0, 0.0) == 0.0
        assert ferroptosis.gpx4_activity(5.0, GPX4_GSH_KM, 0.0, 0.0) == 0.0  # genetic loss
        assert ferroptosis.gpx4_activity(5.0, GPX4_GSH_KM, 1.0, 0.75) == pytest.approx(0.25 * 5.0 / 7.0)  # RSL3


def _tumour_ferroptosis_rhs(uptake, rta_block=0.0, gpx4_inhibition=0.0):
    """GSH, PUFA-PL and lipid peroxide of a tumour cell with fixed cystine
    uptake, iron, ACSL4 and ROS (all at rest)."""

    def rhs(t, x):
        gsh, pufa, lpo = x
        act = ferroptosis.gpx4_activity(gsh, GPX4_GSH_KM, 1.0, gpx4_inhibition)
        prop = ferroptosis.peroxidation_propagation(IRON, pufa, lpo, K_PROP, rta_block)
        return [
            ferroptosis.gsh_rate(gsh, uptake, GSH_SYNTHESIS, GSH_TURNOVER),
            ferroptosis.pufa_pl_rate(pufa, 1.0, 1.0, PUFA_TURNOVER, prop, PUFA_COST),
            ferroptosis.lipid_peroxide_rate(lpo, IRON, pufa, 1.0, act, prop, K_INIT, rta_block, K_GPX4, KM_GPX4, K_FSP1),
        ]

    return rhs


def _run_ferroptosis(uptake, days=3.0, **kw):
    sol = solve_ivp(_tumour_ferroptosis_rhs(uptake, **kw), (0.0, days * DAY), [5.0, 1.0, 0.03],
                    method="LSODA", rtol=1e-8, atol=[1e-10, 1e-10, 1e-10], dense_output=True)
    assert sol.success, sol.message
    return sol


class TestLipidPeroxidation:
    def test_intact_gsh_keeps_lipid_peroxide_low(self):
        sol = _run_ferroptosis(_uptake())
        assert np.max(sol.y[2]) < 0.1
        assert sol.y[0, -1] == pytest.approx(5.0, rel=1e-4)
        # and it sits at its low steady state, with no ferroptotic hazard to speak of
        assert abs(_tumour_ferroptosis_rhs(_uptake())(0.0, sol.y[:, -1])[2]) < 1e-8
        assert ferroptosis.ferroptosis_hazard(sol.y[2, -1], 1.0, 2.0, 1.0 / H) < 0.01 / H

    def test_blocked_uptake_lets_lipid_peroxide_run_away(self):
        sol = _run_ferroptosis(_uptake(xc_inhibition=1.0))
        gsh, pufa, lpo = sol.y
        assert gsh[-1] < 0.01  # GSH gone
        assert lpo.max() > 1.0  # past the death threshold
        # the runaway consumes its substrate: PUFA-PL falls
        assert pufa[-1] < 0.5
        # it takes GSH loss first: still low after 2 h, past threshold within 2 days
        assert sol.sol(2 * H)[2] < 0.1
        assert sol.sol(2 * DAY)[2] > 1.0
        assert ferroptosis.ferroptosis_hazard(lpo.max(), 1.0, 2.0, 1.0 / H) > 0.5 / H

    def test_partial_uptake_block_is_bistable_threshold(self):
        # 95% block leaves GSH ~0.25 mM: GPX4 can no longer keep up
        assert _run_ferroptosis(_uptake(xc_inhibition=0.95)).y[2].max() > 1.0
        # 30% block still controlled
        assert _run_ferroptosis(_uptake(xc_inhibition=0.3)).y[2].max() < 0.1

    def test_radical_trapping_antioxidant_stops_runaway(self):
        sol = _run_ferroptosis(_uptake(xc_inhibition=1.0), rta_block=0.9)
        assert sol.y[0, -1] < 0.01  # GSH still gone
        assert sol.y[2].max() < 0.1  # but no runaway

    def test_gpx4_inhibitor_causes_runaway_despite_gsh(self):
        sol = _run_ferroptosis(_uptake(), gpx4_inhibition=1.0)
        assert sol.y[0, -1] == pytest.approx(5.0, rel=1e-3)
        assert sol.y[2].max() > 1.0

    def test_propagation_is_autocatalytic_and_blockable(self):
        assert ferroptosis.peroxidation_propagation(1.0, 1.0, 0.0, K_PROP, 0.0) == 0.0
        p1 = ferroptosis.peroxidation_propagation(1.0, 1.0, 0.5, K_PROP, 0.0)
        assert ferroptosis.peroxidation_propagation(1.0, 1.0, 1.0, K_PROP, 0.0) == pytest.approx(2 * p1)
        assert ferroptosis.peroxidation_propagation(2.0, 1.0, 0.5, K_PROP, 0.0) == pytest.approx(2 * p1)
        assert ferroptosis.peroxidation_propagation(1.0, 1.0, 0.5, K_PROP, 0.9) == pytest.approx(0.1 * p1)

    def test_ferroptosis_hazard_is_half_max_at_threshold(self):
        assert ferroptosis.ferroptosis_hazard(1.0, 1.0, 2.0, 0.02) == pytest.approx(0.01)
        assert ferroptosis.ferroptosis_hazard(0.0, 1.0, 2.0, 0.02) == 0.0
        assert ferroptosis.ferroptosis_hazard(0.1, 1.0, 2.0, 0.02) < ferroptosis.ferroptosis_hazard(3.0, 1.0, 2.0, 0.02)

    def test_labile_iron_steady_state_and_chelation(self):
        imp, exp_ = 0.25 / H, 0.25 / H
        assert ferroptosis.labile_iron_rate(1.0, 1.0, imp, exp_, 0.0) == pytest.approx(0.0, abs=1e-15)
        # chelation lowers the steady state: import / (export + chelation)
        steady = imp * 1.0 / (exp_ + 3 * exp_)
        assert ferroptosis.labile_iron_rate(steady, 1.0, imp, exp_, 3 * exp_) == pytest.approx(0.0, abs=1e-15)
        assert steady == pytest.approx(0.25)


class TestSwitchFromRestingState:
    """The lipid-peroxide switch stated by a line's resting level and GPX4 margin."""

    @staticmethod
    def _constants(resting, margin, iron0, gsh0, k_prop=K_PROP, k_fsp1=K_FSP1, km=KM_GPX4, km_gsh=GPX4_GSH_KM):
        act0 = ferroptosis.gpx4_activity(gsh0, km_gsh, 1.0, 0.0)
        k_gpx4 = ferroptosis.gpx4_max_rate_at_rest(margin, 1.0, k_prop, iron0, 1.0, act0)
        k_init = ferroptosis.initiation_rate_at_rest(resting, k_gpx4, k_prop, k_fsp1, km, iron0, 1.0, act0)
        return k_init, k_gpx4, act0

    def test_resting_level_is_a_steady_state_and_margin_holds(self):
        rng = np.random.default_rng(3)
        for _ in range(50):
            iron0, gsh0 = rng.lognormal(0.0, 0.5), 5.0 * rng.lognormal(0.0, 0.5)
            k_prop, k_fsp1, km = (v * rng.lognormal(0.0, 0.25) for v in (K_PROP, K_FSP1, KM_GPX4))
            k_init, k_gpx4, act0 = self._constants(0.02, 3.0, iron0, gsh0, k_prop, k_fsp1, km)
            prop = ferroptosis.peroxidation_propagation(iron0, 1.0, 0.02, k_prop, 0.0)
            rate = ferroptosis.lipid_peroxide_rate(0.02, iron0, 1.0, 1.0, act0, prop, k_init, 0.0, k_gpx4, km, k_fsp1)
            assert rate == pytest.approx(0.0, abs=1e-15)
            # GPX4 capacity at rest is 3x propagation at the threshold (L = 1)
            assert k_gpx4 * act0 == pytest.approx(3.0 * k_prop * iron0, rel=1e-12)

    def test_more_resting_iron_means_slower_initiation_not_a_closer_runaway(self):
        low, high = self._constants(0.02, 3.0, 1.0, 5.0), self._constants(0.02, 3.0, 1.5, 5.0)
        assert high[0] < low[0] and high[1] > low[1]

    def test_knobs_act_on_top_of_the_resting_state(self):
        # the same line with its cystine import blocked still runs away (GSH gone)
        k_init, k_gpx4, _ = self._constants(0.02, 3.0, IRON, GSH_SYNTHESIS / GSH_TURNOVER)
        act = ferroptosis.gpx4_activity(0.01, GPX4_GSH_KM, 1.0, 0.0)
        lpo = 0.5
        prop = ferroptosis.peroxidation_propagation(IRON, 1.0, lpo, K_PROP, 0.0)
        assert ferroptosis.lipid_peroxide_rate(lpo, IRON, 1.0, 1.0, act, prop, k_init, 0.0, k_gpx4, KM_GPX4, K_FSP1) > 0

    def test_a_low_margin_cannot_give_negative_initiation(self):
        k_init, _, _ = self._constants(0.4, 0.1, IRON, 5.0)
        assert k_init == 0.0


# ===================================================== exhaustion axis
def _heme_axis_steady(proteasome, import_block=0.0, depol=0.0):
    """Steady free haem, nuclear haem and BACH2 at fixed proteasome activity."""

    def rhs(t, x):
        f, n, b = x
        return [
            exhaustion.free_heme_rate(free_heme=f, nuclear_heme=n, proteasome=proteasome, depol=depol, depol_gain=DEPOL_GAIN,
                                      k_clear=K_CLEAR, k_import=K_IMPORT, import_block=import_block, k_export=K_EXPORT),
            exhaustion.nuclear_heme_rate(free_heme=f, nuclear_heme=n, k_import=K_IMPORT, import_block=import_block,
                                         k_export=K_EXPORT),
            exhaustion.bach2_rate(bach2=b, nuclear_heme=n, nuclear_heme_rest=K_IMPORT / K_EXPORT, half_heme=BACH2_HALF,
                                  hill_n=BACH2_HILL, tau_min=BACH2_TAU),
        ]

    sol = solve_ivp(rhs, (0.0, 60 * DAY), [1.0, 1.0, 1.0], method="LSODA", rtol=1e-10, atol=1e-12)
    assert sol.success
    final = sol.y[:, -1]
    np.testing.assert_allclose(rhs(0.0, final), 0.0, atol=1e-9)  # really steady
    return final


class TestHemeBach2:
    def test_rested_axis_is_at_one(self):
        free, nuclear, bach2 = _heme_axis_steady(1.0)
        assert free == pytest.approx(1.0, rel=1e-6)
        assert nuclear == pytest.approx(1.0, rel=1e-6)
        assert bach2 == pytest.approx(1.0, rel=1e-6)

    def test_proteasome_raises_heme_and_lowers_bach2(self):
        f1, n1, b1 = _heme_axis_steady(1.0)
        f3, n3, b3 = _heme_axis_steady(3.0)
        # free haem = release / clearance, proportional to proteasome activity
        assert f3 == pytest.approx(3.0 * f1, rel=1e-6)
        assert n3 == pytest.approx(3.0 * n1, rel=1e-6)
        # BACH2 = hill_down(3, 3, 2) / hill_down(1, 3, 2) = 0.5 / 0.9
        assert b3 == pytest.approx(0.5 / 0.9, rel=1e-5)
        assert b3 < b1

    def test_depolarisation_raises_heme(self):
        f_rest, _, _ = _heme_axis_steady(1.0, depol=0.0)
        f_depol, _, b_depol = _heme_axis_steady(1.0, depol=0.4)
        assert f_depol == pytest.approx((1.0 + DEPOL_GAIN * 0.4) * f_rest, rel=1e-6)
        assert b_depol < 1.0

    def test_import_block_preserves_bach2(self):
        f_open, n_open, b_open = _heme_axis_steady(3.0)
        f_block, n_block, b_block = _heme_axis_steady(3.0, import_block=0.9)
        assert n_block < 0.5 * n_open  # nuclear haem kept out
        assert f_block >= f_open * 0.999  # free haem not the target
        assert b_block > b_open
        assert b_block >= 1.0  # back to (or above) the rested level
        _, n_full, b_full = _heme_axis_steady(3.0, import_block=1.0)
        assert n_full == pytest.approx(0.0, abs=1e-6)
        assert b_full == pytest.approx(1.0 / 0.9, rel=1e-5)

    def test_proteasome_inhibitor_lowers_target(self):
        assert exhaustion.proteasome_rate(1.0, 0.0, 1.0, 2.0, 0.0, 100.0) == pytest.approx(0.0)
        assert exhaustion.proteasome_rate(1.0, 1.0, 1.0, 2.0, 0.0, 100.0) == pytest.approx(2.0 / 100.0)
        assert exhaustion.proteasome_rate(1.0, 0.0, 1.0, 2.0, 0.5, 100.0) == pytest.approx(-0.5 / 100.0)

    def test_terminal_commitment_rises_as_bach2_falls(self):
        args = (1.0, 1.5, 1e-3, 0.3, 2.0)  # stimulation, drivers, k, half, hill
        assert exhaustion.terminal_commitment_rate(1.0, *args) == 0.0
        assert exhaustion.terminal_commitment_rate(1.2, *args) == 0.0  # BACH2 above rest: no commitment
        r_mid = exhaustion.terminal_commitment_rate(0.7, *args)
        r_low = exhaustion.terminal_commitment_rate(0.2, *args)
        assert 0.0 < r_mid < r_low
        assert r_mid == pytest.approx(1e-3 * 1.5 * 0.5, rel=1e-9)  # loss 0.3 = half

    def test_reinvigoration_needs_blockade_and_bach2(self):
        assert exhaustion.reinvigoration_rate(0.0, 1.0, 1e-3) == 0.0
        assert exhaustion.reinvigoration_rate(0.8, 0.5, 1e-3) < exhaustion.reinvigoration_rate(0.8, 1.0, 1e-3)
        assert exhaustion.reinvigoration_rate(1.0, 3.0, 1e-3) == pytest.approx(1.5e-3)  # capped

    def test_drivers_multiply_exhaustion(self):
        w = (1.0, 0.5, 0.5, 0.5, 0.5, 1.0)
        assert exhaustion.driver_load(0, 0, 0, 0, 0, 0, *w) == 1.0
        assert exhaustion.driver_load(1, 0, 0, 0, 0, 0, *w) == pytest.approx(2.0)
        assert exhaustion.driver_load(1, 1, 1, 1, 1, 1, *w) == pytest.approx(5.0)
        base = exhaustion.exhaustion_rate(0.5, 1.0, 0.0, 1e-3, 2.0)
        assert exhaustion.exhaustion_rate(0.5, 2.0, 0.0, 1e-3, 2.0) == pytest.approx(2 * base)
        assert exhaustion.exhaustion_rate(0.5, 1.0, 0.5, 1e-3, 2.0) == pytest.approx(2 * base)

    def test_stem_daughters_follow_bach2(self):
        assert exhaustion.stem_like_share(1.0, 0.8) == pytest.approx(0.8)
        assert exhaustion.stem_like_share(2.0, 0.8) == pytest.approx(0.8)  # capped at BACH2 = 1
        # the pool renews itself (q > 1/2) only while BACH2 > 1 / (2 q_max)
        assert exhaustion.stem_like_share(0.7, 0.8) > 0.5
        assert exhaustion.stem_like_share(0.6, 0.8) < 0.5

    def test_antigen_makes_stem_daughters_divide_asymmetrically(self):
        share = exhaustion.daughter_stem_share
        assert share(1.0, 0.0, 0.8, 0.5) == pytest.approx(0.8)  # weak antigen: mostly self-renewal
        assert share(1.0, 1.0, 0.8, 0.5) == pytest.approx(0.5)  # saturating antigen: one daughter each way
        assert share(1.0, 0.5, 0.8, 0.5) == pytest.approx(0.65)
        assert share(3.0, 1.0, 1.0, 0.5) == pytest.approx(0.5)  # BACH2 capped at 1
        # however much the pool renews itself at rest, antigen drains it while BACH2 is below rest
        assert share(0.9, 1.0, 1.0, 0.5) < 0.5
        assert share(0.5, 0.2, 0.8, 0.5) == pytest.approx(0.5 * 0.74)

    def test_memory_forms_as_antigen_wanes_and_needs_bach2(self):
        k = 0.15 / DAY
        assert exhaustion.memory_formation_rate(1.0, 1.0, k) == 0.0  # saturating antigen: no memory formation
        assert exhaustion.memory_formation_rate(0.0, 1.0, k) == pytest.approx(k)
        assert exhaustion.memory_formation_rate(0.0, 0.3, k) == pytest.approx(0.3 * k)
        assert exhaustion.memory_formation_rate(0.0, 3.0, k) == pytest.approx(k)

    def test_pd1_blockade_removes_inhibition(self):
        engaged = exhaustion.pd1_inhibition(3.0, 3.0, 0.0, 0.8, 2.0)
        assert 0.0 < engaged < 0.8
        assert exhaustion.pd1_inhibition(3.0, 3.0, 1.0, 0.8, 2.0) == 0.0
        assert exhaustion.pd1_inhibition(3.0, 3.0, 0.9, 0.8, 2.0) < engaged


# ============================================================ macrophages
_M21 = dict(k_base=0.045 / DAY, ifng_half=10.0, il12_pM=0.0, il12_half=10.0, tlr_agonism=0.0,
            w_ifng=10.0, w_il12=2.0, w_tlr=10.0, w_csf1r=10.0)
_M12 = dict(k_base=0.25 / DAY, il10_half=100.0, tgfb_pM=0.0, tgfb_half=50.0, ox_lipid=0.0, ox_lipid_half=0.01,
            w_il10=2.0, w_tgfb=2.0, w_ox=2.0)


def _k21(ifng, ifngr=1.0, tlr=0.0, csf1r=0.0):
    a = _M21
    return macrophage.m2_to_m1_rate(a["k_base"], ifng, a["ifng_half"], a["il12_pM"], a["il12_half"], tlr,
                                    a["w_ifng"], a["w_il12"], a["w_tlr"], ifngr, csf1r, a["w_csf1r"])


def _k12(il10, tlr=0.0):
    a = _M12
    return macrophage.m1_to_m2_rate(a["k_base"], il10, a["il10_half"], a["tgfb_pM"], a["tgfb_half"], a["ox_lipid"],
                                    a["ox_lipid_half"], a["w_il10"], a["w_tgfb"], a["w_ox"], tlr)


class TestMacrophagePolarisation:
    def test_ifng_pushes_m1(self):
        assert _k21(0.0) == pytest.approx(_M21["k_base"])
        assert _k21(10.0) == pytest.approx(_M21["k_base"] * 6.0)  # 1 + 10 * 0.5
        assert _k21(100.0) > _k21(10.0) > _k21(0.0)
        assert _k12(0.0) == pytest.approx(_M12["k_base"])  # IFN-gamma does not touch M1 -> M2

    def test_ifng_acts_through_host_ifngr(self):
        assert _k21(100.0, ifngr=0.0) == pytest.approx(_k21(0.0))

    def test_il10_pushes_m2(self):
        assert _k12(100.0) == pytest.approx(_M12["k_base"] * 2.0)  # 1 + 2 * 0.5
        assert _k12(1000.0) > _k12(100.0) > _k12(0.0)

    def test_steady_m1_fraction(self):
        def m1_fraction(ifng, il10):
            return _k21(ifng) / (_k21(ifng) + _k12(il10))

        rest = m1_fraction(0.0, 0.0)
        assert m1_fraction(50.0, 0.0) > rest + 0.2
        assert m1_fraction(0.0, 500.0) < rest

    def test_tlr_agonist_holds_m1(self):
        assert _k12(1000.0, tlr=1.0) == 0.0
        assert _k21(0.0, tlr=0.5) > _k21(0.0)

    def test_csf1r_inhibition_re_educates_m2(self):
        assert _k21(0.0, csf1r=0.9) == pytest.approx(_M21["k_base"] * (1.0 + 10.0 * 0.9))
        assert _k21(10.0, csf1r=0.5) > _k21(10.0)

    def test_m2_exports_iron_m1_retains_it(self):
        assert macrophage.extracellular_iron(0.0, 0.0, 2.0, 2.0, 0.0) == pytest.approx(1.0)
        assert macrophage.extracellular_iron(0.0, 0.5, 2.0, 2.0, 0.0) == pytest.approx(2.0)
        assert macrophage.extracellular_iron(0.5, 0.0, 2.0, 2.0, 0.0) == pytest.approx(0.5)
        assert macrophage.extracellular_iron(0.0, 0.5, 2.0, 2.0, 0.5) == pytest.approx(1.0)

    def test_il12_needs_host_ifngr_for_its_burst(self):
        base = macrophage.il12_secretion(10.0, 0.0, 0.0, 10.0, 1.0, 1.0, 0.1, 9.0, 0.0)
        assert base == pytest.approx(10.0)
        assert macrophage.il12_secretion(10.0, 0.0, 1e6, 10.0, 1.0, 1.0, 0.1, 9.0, 0.0) == pytest.approx(100.0, rel=1e-4)
        assert macrophage.il12_secretion(10.0, 0.0, 1e6, 10.0, 0.0, 1.0, 0.1, 9.0, 0.0) == pytest.approx(base)
        assert macrophage.il12_secretion(10.0, 0.0, 1e6, 10.0, 1.0, 1.0, 0.1, 9.0, 1.0) == 0.0


# ================================================================ killing
def test_nk_ifng_trigger_needs_targets():
    # no tumour cells per NK cell: no engagement, so no target-driven IFN-gamma
    assert killing.nk_target_engagement(0.0, 5.0) == 0.0
    assert killing.nk_target_engagement(5.0, 5.0) == pytest.approx(0.5)
    assert killing.nk_target_engagement(500.0, 5.0) > 0.99
