"""The cell programs (tmesim.biology.programs): closed-form values, the direction of each driver,
resting states that are steady, and the parameter groups they read.

Each program is called as the engines call it: with a resolved parameter row of the base set
(``tmesim.params.resolve``), a state vector and offset, an environment and an exposure vector.
Expected values are computed here by hand from the same parameters.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from tmesim.biology.groups import Layout, ParamGroup, Slot
from tmesim.biology.programs import macrophage, nk, pharmacology, t_cell, tumor
from tmesim.biology.programs.pharmacology import CHANNELS, DRUGS, EX, N_CHANNELS
from tmesim.params import load_parameter_set
from tmesim.params.index import COLUMN
from tmesim.params.resolve import resolve, resolve_group
from tmesim.wellmixed.layout import ROW


def hill(x, k, n):
    return x**n / (k**n + x**n)


@pytest.fixture(scope="module")
def values():
    return load_parameter_set("mouse_b16_icb_ferroptosis").vector()


@pytest.fixture(scope="module")
def row(values):
    return resolve(values, ROW)[0]


def no_drug():
    return np.zeros(N_CHANNELS)


def exposure(**channels):
    ex = no_drug()
    for name, value in channels.items():
        ex[CHANNELS.index(name)] = value
    return ex


# ------------------------------------------------------------ pharmacology
class TestPharmacology:
    def test_each_drug_acts_on_its_channel_only(self, row):
        pk = row.drugs
        for d, drug in enumerate(DRUGS):
            conc = np.zeros(len(DRUGS))
            conc[d] = 3.0 * pk.ec50[d]
            out = np.empty(N_CHANNELS)
            pharmacology.exposures(conc, pk, out)
            c = CHANNELS.index(drug.channel)
            assert out[c] == pytest.approx(pk.emax[d] * 0.75), drug.name  # emax * C / (ec50 + C) at C = 3 ec50
            assert np.count_nonzero(out) == 1, drug.name

    def test_drugs_on_one_channel_combine_by_independent_action(self, row):
        pk = row.drugs
        i, j = DRUGS.index(next(d for d in DRUGS if d.name == "anti_pd1")), \
            DRUGS.index(next(d for d in DRUGS if d.name == "anti_pdl1"))
        conc = np.zeros(len(DRUGS))
        conc[i], conc[j] = pk.ec50[i], 4.0 * pk.ec50[j]
        out = np.empty(N_CHANNELS)
        pharmacology.exposures(conc, pk, out)
        a, b = 0.5 * pk.emax[i], 0.8 * pk.emax[j]
        assert out[EX.pd1_blockade] == pytest.approx(1.0 - (1.0 - a) * (1.0 - b), rel=1e-14)

    def test_no_drug_no_exposure_and_negative_concentration_counts_as_none(self, row):
        out = np.full(N_CHANNELS, np.nan)
        pharmacology.exposures(np.zeros(len(DRUGS)), row.drugs, out)
        assert (out == 0.0).all()
        pharmacology.exposures(np.full(len(DRUGS), -1.0), row.drugs, out)
        assert (out == 0.0).all()

    def test_concentration_halves_every_half_life(self):
        assert pharmacology.concentration(8.0, 100.0, 100.0 + 3 * 60.0, 60.0) == pytest.approx(1.0, rel=1e-12)
        assert pharmacology.concentration(8.0, 100.0, 100.0, 60.0) == 8.0

    def test_every_drug_has_a_channel_and_every_channel_a_drug(self):
        assert {d.channel for d in DRUGS} == set(CHANNELS)


# ------------------------------------------------------------------ tumour
class TestTumor:
    def test_stat1_targets(self, row):
        p = row.tumor
        rest = tumor.signals(0.0, no_drug(), p)
        assert tuple(rest) == (1.0, 1.0, 1.0, 1.0)
        full = tumor.signals(1.0, exposure(ido_inhibition=0.25), p)
        assert full.pdl1 == pytest.approx(p.pdl1_induction_fold)
        assert full.mhc1 == pytest.approx(p.mhc1_induction_fold)
        assert full.cxcl9 == pytest.approx(p.cxcl9_induction_fold)
        assert full.ido1 == pytest.approx(0.75 * p.ido1_induction_fold)
        half = tumor.signals(0.5, no_drug(), p)
        assert half.pdl1 == pytest.approx(1.0 + 0.5 * (p.pdl1_induction_fold - 1.0))

    def _resting(self, row):
        p = row.tumor
        fe = 1.0
        x = tumor.resting_state(p, fe)
        env = tumor.TumorEnv(0.0, p.cystine_plasma, fe, 1.0, p.oxygen_vessel, p.glucose_plasma, 0.0)
        return p, x, env

    def test_resting_state_is_steady(self, row):
        """At rest (no IFN-gamma, no drug, plasma cystine, iron 1, ROS 1) nothing moves but PUFA-PL: the
        switch's derived constants hold lipid peroxide at the line's resting level. The resting chain
        consumes PUFA-PL at ``peroxidation_pufa_cost`` x propagation, which the resting state (PUFA-PL at
        the supply) leaves out: its true steady state sits that over the turnover rate lower (0.35% with
        the base set), a drift the test pins to its closed form."""
        p, x, env = self._resting(row)
        dx = np.full(x.size, np.nan)
        tumor.intracellular_rates(x, 0, env, no_drug(), p, dx, 0)
        steady = [i for i, n in enumerate(tumor.STATE.names) if n != "pufa_pl"]
        np.testing.assert_allclose(dx[steady], 0.0, atol=1e-14)
        propagation = p.lipid_propagation_rate * x[tumor.X.labile_iron] * x[tumor.X.pufa_pl] * x[tumor.X.lipid_peroxide]
        assert dx[tumor.X.pufa_pl] == pytest.approx(-p.peroxidation_pufa_cost * propagation, rel=1e-12)
        assert -dx[tumor.X.pufa_pl] / p.pufa_pl_turnover_rate < 0.01
        assert x[tumor.X.lipid_peroxide] == p.tumor_lipid_peroxide_resting

    def test_switch_constants_follow_the_resting_state(self, row):
        p = row.tumor
        gsh0 = p.gsh_synthesis_rate / p.gsh_turnover_rate
        act0 = gsh0 / (p.gpx4_gsh_km + gsh0)
        iron0 = p.iron_import_rate / p.iron_export_rate
        vg = p.gpx4_capacity_margin * p.lipid_propagation_rate * iron0 * p.ferroptosis_threshold / act0
        assert p.gpx4_max_rate == pytest.approx(vg, rel=1e-14)
        l0 = p.tumor_lipid_peroxide_resting
        removal = vg * act0 * l0 / (p.gpx4_lpo_km + l0) + p.fsp1_rate * l0
        ki = (removal - p.lipid_propagation_rate * iron0 * l0) / iron0
        assert p.lipid_initiation_rate == pytest.approx(ki, rel=1e-12)

    @pytest.mark.parametrize(("rest_factor", "export_factor"), [(1.0, 1.0), (1.4, 0.7), (0.6, 1.3)])
    def test_the_resting_iron_pool_is_the_proliferation_reference_in_every_draw(self, values, rest_factor,
                                                                               export_factor):
        """The import rate follows from the line's resting pool and its export rate, so whatever a draw
        does to either, the pool the iron equation rests at is ``labile_iron_rest`` and a resting
        tumour proliferates at its full rate (before, the import rate was varied on its own and a
        draw's resting tumour could be iron-limited)."""
        v = values.copy()
        v[COLUMN["labile_iron_rest"]] *= rest_factor
        v[COLUMN["iron_export_rate"]] *= export_factor
        p = resolve(v, ROW)[0].tumor
        assert p.iron_import_rate == pytest.approx(p.labile_iron_rest * p.iron_export_rate, rel=1e-15)
        x = tumor.resting_state(p, 1.0)
        assert x[tumor.X.labile_iron] == pytest.approx(p.labile_iron_rest, rel=1e-14)
        env = tumor.TumorEnv(0.0, p.cystine_plasma, 1.0, 1.0, p.oxygen_vessel, p.glucose_plasma, 0.0)
        dx = np.full(x.size, np.nan)
        fate = tumor.intracellular_rates(x, 0, env, no_drug(), p, dx, 0)
        assert dx[tumor.X.labile_iron] == pytest.approx(0.0, abs=1e-15)
        assert fate.proliferation == pytest.approx(p.tumor_growth_rate, rel=1e-12)

    def test_a_line_without_resting_iron_has_no_switch(self, values):
        v = values.copy()
        v[COLUMN["labile_iron_rest"]] = 0.0
        p = resolve_group(v, tumor.PARAMS)[0]
        assert p.gpx4_max_rate == 0.0 and p.lipid_initiation_rate == 0.0

    @pytest.mark.parametrize("set_name", ["mouse_b16_icb_ferroptosis", "human_ball_cd19car"])
    def test_the_resting_ferroptosis_hazard_is_the_stated_one_in_every_draw(self, set_name):
        """The Hill power follows from the line's resting hazard, so whatever a draw does to the maximal
        rate, the threshold, the resting lipid peroxide or the hazard itself, a resting tumour cell dies by
        ferroptosis at ``tumor_ferroptosis_resting_hazard`` (before, the power was drawn on its own and
        moved the resting hazard 0.001-0.22/day over two sd of B16 draws)."""
        base = load_parameter_set(set_name).vector()
        rng = np.random.default_rng(3)
        v = base * np.exp(0.25 * rng.standard_normal((400, base.size)))
        rows = resolve_group(v, tumor.PARAMS)
        assert np.all(rows.ferroptosis_hill >= 1.0)
        for p in rows[:50]:
            x = tumor.resting_state(p, 1.0)
            env = tumor.TumorEnv(0.0, p.cystine_plasma, 1.0, 1.0, p.oxygen_vessel, p.glucose_plasma, 0.0)
            fate = tumor.intracellular_rates(x, 0, env, no_drug(), p, np.empty(x.size), 0)
            assert fate.ferroptosis == pytest.approx(p.tumor_ferroptosis_resting_hazard, rel=1e-12)
        rest = rows.ferroptosis_max_rate * hill(rows.tumor_lipid_peroxide_resting, rows.ferroptosis_threshold,
                                                rows.ferroptosis_hill)
        np.testing.assert_allclose(rest, rows.tumor_ferroptosis_resting_hazard, rtol=1e-12)

    def test_the_derived_ferroptosis_hill_of_the_base_set(self, row):
        """At the B16 set's values (0.01/day at rest, 24/day at most, resting lipid peroxide 0.02 of the
        threshold) the power is ln(q / (1 - q)) / ln(0.02), q = 0.01 / 24: 1.99, the 2.0 the set assumed."""
        q = (0.01 / 24.0)
        assert row.tumor.ferroptosis_hill == pytest.approx(math.log(q / (1.0 - q)) / math.log(0.02), rel=1e-9)
        assert row.host_t.t_cell_ferroptosis_hill == 2.0

    @pytest.mark.parametrize(("overrides", "says"), [
        ({"tumor_ferroptosis_resting_hazard": 0.0}, "not one >= 1"),
        ({"tumor_ferroptosis_resting_hazard": 1.0}, "not one >= 1"),
        ({"tumor_lipid_peroxide_resting": 0.5, "ferroptosis_threshold": 0.4}, "not one >= 1"),
    ])
    def test_a_resting_hazard_no_power_gives_is_an_input_error(self, values, overrides, says):
        from tmesim.errors import InputError
        v = values.copy()
        for name, value in overrides.items():
            v[COLUMN[name]] = value / 1440.0 if name.endswith(("hazard", "rate")) else value
        with pytest.raises(InputError, match=f"tumor_ferroptosis_resting_hazard: .*{says}"):
            resolve(v, ROW)

    @pytest.mark.parametrize("resting_hazard", [0.0, 0.01 / 1440.0])
    def test_a_line_without_ferroptosis_needs_no_power(self, values, resting_hazard):
        """``ferroptosis_max_rate`` 0 turns ferroptosis off (an ablation): no hazard anywhere, power 1,
        whatever resting hazard the set states."""
        v = values.copy()
        v[COLUMN["ferroptosis_max_rate"]] = 0.0
        v[COLUMN["tumor_ferroptosis_resting_hazard"]] = resting_hazard
        assert resolve(v, ROW)[0].tumor.ferroptosis_hill == 1.0

    def test_fate_at_reference_conditions(self, row):
        """Proliferation is the maximal rate where oxygen, glucose and iron sit at their references
        with room to grow and no STAT1; every hazard is its closed form."""
        p, x, env = self._resting(row)
        x = x.copy()
        x[tumor.X.labile_iron] = p.labile_iron_rest
        fate = tumor.intracellular_rates(x, 0, env, no_drug(), p, np.empty(x.size), 0)
        assert fate.proliferation == pytest.approx(p.tumor_growth_rate, rel=1e-12)
        assert fate.ifng_apoptosis == 0.0
        assert fate.basal_death == p.tumor_basal_death_rate
        lpo = x[tumor.X.lipid_peroxide]
        assert fate.ferroptosis == pytest.approx(p.ferroptosis_max_rate * hill(lpo, p.ferroptosis_threshold,
                                                                              p.ferroptosis_hill))
        necrosis = p.necrosis_max_rate * (1.0 - hill(p.oxygen_vessel, p.necrosis_oxygen_half, tumor.NECROSIS_HILL))
        assert fate.necrosis == pytest.approx(necrosis)
        assert fate.cystine_uptake == pytest.approx(1.0)
        crowded = tumor.intracellular_rates(x, 0, env._replace(occupied_fraction=0.25), no_drug(), p, np.empty(7), 0)
        assert crowded.proliferation == pytest.approx(0.75 * p.tumor_growth_rate, rel=1e-12)

    @pytest.mark.parametrize(("change", "variable", "sign"), [
        ({"env": {"ifng": 100.0}}, "stat1", +1),
        ({"ex": {"xc_inhibition": 0.8}}, "gsh", -1),
        ({"env": {"cystine": 5.0}}, "gsh", -1),
        ({"ex": {"gpx4_inhibition": 0.8}}, "lipid_peroxide", +1),
        ({"ex": {"rta_block": 0.8}}, "lipid_peroxide", -1),
        ({"env": {"ros": 3.0}}, "lipid_peroxide", +1),
        ({"ex": {"iron_chelation": 0.8}}, "labile_iron", -1),
        ({"env": {"extracellular_iron": 2.0}}, "labile_iron", +1),
    ])
    def test_direction_of_each_driver(self, row, change, variable, sign):
        p, x, env = self._resting(row)
        ex = exposure(**change.get("ex", {}))
        env2 = env._replace(**change.get("env", {}))
        dx = np.empty(x.size)
        tumor.intracellular_rates(x, 0, env2, ex, p, dx, 0)
        assert sign * dx[tumor.STATE.names.index(variable)] > 0.0

    def test_state_read_and_written_at_offsets(self, row):
        p, x, env = self._resting(row)
        big = np.concatenate([np.full(3, np.nan), x, np.full(2, np.nan)])
        out = np.full(12, np.nan)
        fate_a = tumor.intracellular_rates(big, 3, env, no_drug(), p, out, 5)
        fate_b = tumor.intracellular_rates(x, 0, env, no_drug(), p, np.empty(7), 0)
        assert fate_a == fate_b and np.isnan(out[:5]).all() and np.isfinite(out[5:]).all()

    def test_secretion_scales_with_cells(self, row):
        p = row.tumor
        cx, il10, tgfb = tumor.secretion(1000.0, 2.0, p)
        assert cx == pytest.approx(p.tumor_cxcl9_secretion * 2000.0)
        assert il10 == pytest.approx(p.tumor_il10_secretion * 1000.0)
        assert tgfb == pytest.approx(p.tumor_tgfb_secretion * 1000.0)


# ------------------------------------------------------------------ T cells
def _env(p, **kw):
    base = dict(oxygen=38.0, glucose=8.0, tryptophan=60.0, kynurenine=0.0, il10=0.0, tgfb=0.0, il12=0.0, il2=0.0)
    base.update(kw)
    return t_cell.TCellEnv(**base)


class TestTCell:
    def test_sense_closed_form(self, row):
        p = row.host_t
        s = t_cell.sense(_env(p, oxygen=p.t_cell_hypoxia_half, il10=p.il10_half, tgfb=p.tgfb_half,
                              il12=p.il12_half, il2=p.il2_half, glucose=p.t_cell_glucose_half), p)
        assert s.hypoxia == pytest.approx(0.5)
        assert s.glucose_lack == pytest.approx(0.5) and s.nutrient == pytest.approx(0.5)
        assert s.il10 == pytest.approx(0.5) and s.tgfb == pytest.approx(0.5) and s.help == pytest.approx(0.5)
        assert s.il12_boost == pytest.approx(1.0 + 0.5 * p.il12_max_boost)
        supp = 1.0 - (1.0 - 0.5 * p.tgfb_max_suppression) * (1.0 - 0.5 * p.il10_max_suppression)
        assert s.suppression == pytest.approx(supp)
        assert s.growth_support == pytest.approx(s.il12_boost * 0.5 * (1.0 - supp) * (1.0 + 0.5 * p.il2_proliferation_boost))

    def test_tryptophan_lack_from_shortage_or_kynurenine(self, row):
        p = row.host_t
        plenty = t_cell.sense(_env(p, tryptophan=1e6), p).tryptophan_lack
        short = t_cell.sense(_env(p, tryptophan=p.t_cell_tryptophan_half), p).tryptophan_lack
        kyn = t_cell.sense(_env(p, tryptophan=1e6, kynurenine=p.kynurenine_half), p).tryptophan_lack
        assert plenty == pytest.approx(0.0, abs=1e-4) and short == pytest.approx(0.5) and kyn == pytest.approx(0.5, abs=1e-4)

    def test_rested_axis_is_steady_without_antigen(self, row):
        for p in (row.host_t, row.car_t):
            x = t_cell.rested_axis()
            dx = np.full(x.size, np.nan)
            t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, p, dx, 0)
            if p.proteasome_expression == 1.0:
                np.testing.assert_allclose(dx, 0.0, atol=1e-15)

    @pytest.mark.parametrize(("kwargs", "variable", "sign"), [
        ({"stimulation": 1.0}, "mito_depolarization", +1),
        ({"stimulation": 1.0}, "pd1", +1),
        ({"proteasome_inhibition": 0.5}, "proteasome", -1),
        ({"heme_import_block": 0.5}, "nuclear_heme", -1),
        ({"lipid_level": 2.0}, "lipid_peroxide", +1),
    ])
    def test_axis_drivers(self, row, kwargs, variable, sign):
        args = dict(stimulation=0.0, drivers=1.0, proteasome_inhibition=0.0, heme_import_block=0.0,
                    gpx4_inhibition=0.0, rta_block=0.0, lipid_level=0.0, ros=1.0, dilution=0.0)
        args.update(kwargs)
        x = t_cell.rested_axis()
        dx = np.empty(x.size)
        t_cell.axis_rates(x, 0, *args.values(), row.host_t, dx, 0)
        assert sign * dx[t_cell.AXIS.names.index(variable)] > 0.0

    def test_gpx4_inhibition_slows_t_cell_lipid_peroxide_clearance(self, row):
        x = t_cell.rested_axis()
        x[t_cell.A.lipid_peroxide] = 0.5
        rates = []
        for inh in (0.0, 0.9):
            dx = np.empty(x.size)
            t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, inh, 0.0, 1.0, 1.0, 0.0, row.host_t, dx, 0)
            rates.append(dx[t_cell.A.lipid_peroxide])
        assert rates[1] > rates[0]

    def test_radical_trapping_slows_t_cell_lipid_peroxidation_by_its_share(self, row):
        """Liproxstatin-1 and ferrostatin-1 trap the same share of lipid radicals in T cells as in tumour cells:
        the production term falls by exactly that share; GPX4's clearance is untouched."""
        x = t_cell.rested_axis()
        x[t_cell.A.lipid_peroxide] = 0.0
        production = []
        for rta in (0.0, 0.75):
            dx = np.empty(x.size)
            t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, rta, 2.0, 1.5, 0.0, row.host_t, dx, 0)
            production.append(dx[t_cell.A.lipid_peroxide])
        # a rested cell (CD36 1) takes up 1 / CD36_ref of the rate stated for a TIL in the reference milieu
        ref = 1.0 + row.host_t.t_cell_cd36_induction_max / (row.host_t.t_cell_cd36_lipid_half + 1.0)
        assert production[0] == pytest.approx(row.host_t.t_cell_lipid_uptake_rate / ref * 2.0 * 1.5, rel=1e-12)
        assert production[1] == pytest.approx(0.25 * production[0], rel=1e-12)

    def test_dilution_pulls_a_pool_towards_rest(self, row):
        x = np.array([0.5, 2.0, 2.0, 2.0, 0.5, 2.0, 0.4, 2.5])
        dx0, dx1 = np.empty(x.size), np.empty(x.size)
        t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, row.host_t, dx0, 0)
        t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.01, row.host_t, dx1, 0)
        np.testing.assert_allclose(dx1 - dx0, 0.01 * (t_cell.AXIS.rest - x), rtol=1e-12, atol=1e-15)

    def test_cd36_rises_in_a_lipid_rich_tumour_and_not_at_rest(self, row):
        """CD36 relaxes towards ``1 + induction_max * lipid / (half + lipid)``: it stays at rest in culture
        (lipid 0), rises in the shipped TME's lipid milieu, more where dying tumour cells add lipid, and
        falls back towards rest once the lipid is gone, with its time constant."""
        p = row.host_t
        x = t_cell.rested_axis()
        dx = np.empty(x.size)
        rises = []
        for lipid in (0.0, 1.0, 3.0):
            t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, lipid, 1.0, 0.0, p, dx, 0)
            rises.append(dx[t_cell.A.cd36])
        assert rises[0] == 0.0 and 0.0 < rises[1] < rises[2]
        target = 1.0 + p.t_cell_cd36_induction_max * 3.0 / (p.t_cell_cd36_lipid_half + 3.0)
        assert rises[2] == pytest.approx((target - 1.0) / p.t_cell_cd36_time_constant, rel=1e-12)
        x[t_cell.A.cd36] = 2.5
        t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, p, dx, 0)
        assert dx[t_cell.A.cd36] == pytest.approx(-1.5 / p.t_cell_cd36_time_constant, rel=1e-12)

    def test_lipid_uptake_scales_with_cd36(self, row):
        """Lipid peroxide production is proportional to the cell's CD36 (and no lipid, no uptake), and a TIL at
        the CD36 of the reference milieu (lipid 1) takes up at the set's ``t_cell_lipid_uptake_rate``."""
        production = []
        for cd36, lipid in ((1.0, 1.5), (3.0, 1.5), (3.0, 0.0)):
            x = t_cell.rested_axis()
            x[t_cell.A.cd36] = cd36
            dx = np.empty(x.size)
            t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, lipid, 1.0, 0.0, row.host_t, dx, 0)
            production.append(dx[t_cell.A.lipid_peroxide])
        assert production[1] == pytest.approx(3.0 * production[0], rel=1e-12) and production[0] > 0.0
        assert production[2] == 0.0
        p = row.host_t
        x = t_cell.rested_axis()
        x[t_cell.A.cd36] = 1.0 + p.t_cell_cd36_induction_max / (p.t_cell_cd36_lipid_half + 1.0)
        dx = np.empty(x.size)
        t_cell.axis_rates(x, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, p, dx, 0)
        assert dx[t_cell.A.lipid_peroxide] == pytest.approx(p.t_cell_lipid_uptake_rate, rel=1e-12)

    def test_a_car_product_leaves_manufacture_with_resting_cd36(self, row, values):
        """Culture has no lipid milieu: a product's CD36 stays at rest (1, low) through manufacturing,
        with or without bortezomib, and rises only in the tumour."""
        from tmesim.protocols import products

        product = resolve_group(values[None, :], products.PARAMS)[0]
        for bortezomib in (False, True):
            axis = products.manufacture(row.car_t, product, bortezomib)
            assert axis[t_cell.A.cd36] == 1.0 and axis[t_cell.A.lipid_peroxide] == 0.0

    def test_stimulation_by_kind(self, row):
        """TCR cells see MHC-I-presented antigen at the tumour's antigenicity; CAR cells their antigen on the
        antigen-positive share, whatever the MHC-I. Targets are shared among the T cells of a kind."""
        host, car = row.host_t, row.car_t
        k = host.antigen_per_t_cell_half
        assert t_cell.stimulation(k, 1.0, 0.0, host) == pytest.approx(hill(k * host.antigen_density, k, 1))
        assert t_cell.stimulation(k, 5.0, 0.0, host) > t_cell.stimulation(k, 1.0, 0.0, host)
        assert t_cell.stimulation(k, 5.0, 0.0, car) == t_cell.stimulation(k, 1.0, 0.0, car)
        assert t_cell.stimulation(k, 1.0, 9.0, host) == pytest.approx(hill(k * host.antigen_density / 10.0, k, 1))

    def test_program_closed_form(self, row):
        p = row.host_t
        x = t_cell.rested_axis()
        x[t_cell.A.mito_depolarization] = 0.2
        x[t_cell.A.bach2] = 0.6
        signals = t_cell.sense(_env(p), p)
        blockade = 0.5
        f = t_cell.program(x, 0, 0.4, signals, 2.0, 3.0, 0.0, 1.0, exposure(pd1_blockade=blockade), p)
        engagement = 1.0 * 2.0 * (1.0 - blockade)
        pd1_inh = p.pd1_max_inhibition * hill(engagement, p.pd1_engagement_half, 2.0)
        fit = 1.0 - p.depolarization_function_loss * 0.2
        assert f.pd1_inhibition == pytest.approx(pd1_inh)
        assert f.fitness == pytest.approx(fit)
        kill = p.ctl_max_kill_rate * fit * 3.0 * (1 - pd1_inh) * (1 - signals.suppression) * signals.il12_boost
        assert f.kill_rate == pytest.approx(kill)
        assert f.proliferation == pytest.approx(p.proliferation_rate * 0.4 * signals.growth_support * (1 - pd1_inh) * fit)
        assert f.reinvigoration == pytest.approx(p.reinvigoration_rate * blockade * 0.6)
        assert f.ifng_toxicity == 0.0  # host T cells are not killed by IFN-gamma
        assert f.activation == pytest.approx(0.4 * (1 - pd1_inh) * (1 - signals.suppression))
        assert f.ifng_secretion == pytest.approx(p.t_cell_ifng_secretion * f.activation)

    def test_no_antigen_no_division_no_exhaustion(self, row):
        signals = t_cell.sense(_env(row.host_t), row.host_t)
        f = t_cell.program(t_cell.rested_axis(), 0, 0.0, signals, 1.0, 1.0, 0.0, 1.0, no_drug(), row.host_t)
        assert f.proliferation == 0.0 and f.to_progenitor == 0.0 and f.to_terminal == 0.0 and f.activation == 0.0

    def test_car_kind_differs_where_its_sources_say(self, row, values):
        car, host = row.car_t, row.host_t
        assert car.proliferation_rate == values[COLUMN["car_proliferation_rate"]]
        assert car.kill_fold == values[COLUMN["car_kill_fold"]] and host.kill_fold == 1.0
        # CAR T cells see full antigen density on the antigen-positive cells the engines give them as targets;
        # the line's antigen-positive share is the tumour program's (a subclone, not a dilution)
        assert car.antigen_density == 1.0
        assert row.tumor.tumor_car_antigen_fraction == values[COLUMN["tumor_car_antigen_fraction"]]
        assert host.antigen_density == values[COLUMN["tumor_antigenicity"]]
        assert host.mhc_restricted == 1.0 and car.mhc_restricted == 0.0
        assert car.exhaustion_rate == host.exhaustion_rate == values[COLUMN["exhaustion_rate"]]
        assert host.nuclear_heme_rest == pytest.approx(host.heme_nuclear_import_rate / host.heme_nuclear_export_rate)

    def test_ifng_toxicity_and_knockout_of_the_car_kind(self, values):
        v = values.copy()
        v[COLUMN["car_ifng_toxicity"]] = 0.01
        v[COLUMN["car_ifng_knockout"]] = 1.0
        car = resolve(v, ROW)[0].car_t
        signals = t_cell.sense(_env(car), car)
        f = t_cell.program(t_cell.rested_axis(), 0, 0.5, signals, 1.0, 1.0, car.ifng_half, 1.0, no_drug(), car)
        assert f.ifng_toxicity == pytest.approx(0.005)
        assert f.ifng_secretion == 0.0 and f.activation > 0.0

    def test_treg_fate(self, row):
        p = row.treg
        division, death, growth, il10, tgfb = t_cell.treg_fate(0.5, exposure(ctla4_blockade=0.4), p)
        assert division == pytest.approx(0.5 * p.treg_proliferation_rate)
        assert death == pytest.approx(p.treg_death_rate + 0.4 * p.ctla4_treg_depletion)
        assert growth == pytest.approx(division - death)
        assert (il10, tgfb) == (p.treg_il10_secretion, p.treg_tgfb_secretion)


# ------------------------------------------------------------------ NK cells
class TestNK:
    def test_closed_form_and_missing_self(self, row):
        p = row.nk
        f = nk.program(p.il12_half, p.ifng_half, 1.0, 1.0, p)
        act = 1.0 + 0.5 * p.nk_il12_boost + 0.5 * p.nk_ifng_boost
        assert f.activation == pytest.approx(act)
        assert f.kill_rate == pytest.approx(p.nk_max_kill_rate * (1.0 - p.nk_mhc1_inhibition * 0.5) * act)
        assert f.division == pytest.approx(p.nk_proliferation_rate * 0.5 * p.nk_il12_boost)
        assert f.death == p.nk_death_rate and f.net_growth == pytest.approx(f.division - f.death)
        # missing self: more MHC-I on the targets, less NK killing
        assert nk.program(0.0, 0.0, 1.0, 5.0, p).kill_rate < nk.program(0.0, 0.0, 1.0, 1.0, p).kill_rate

    def test_host_ifngr_loss_removes_ifng_priming(self, row):
        p = row.nk
        assert nk.program(0.0, 1e3, 0.0, 1.0, p).activation == 1.0
        assert nk.program(0.0, 1e3, 1.0, 1.0, p).activation > 1.0

    def test_ifng_only_from_engaged_cells(self, row):
        p = row.nk
        assert nk.ifng_secretion(100.0, 2.0, 0.0, p) == 0.0
        half = nk.ifng_secretion(100.0, 2.0, p.nk_target_engagement_half, p)
        assert half == pytest.approx(p.nk_ifng_secretion * 100.0 * 2.0 * 0.5)


# --------------------------------------------------------------- macrophages
class TestMacrophage:
    def test_polarisation_directions(self, row):
        p = row.macrophage
        base = macrophage.program(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, no_drug(), p)
        assert base.to_m1 == pytest.approx(p.m2_to_m1_rate) and base.to_m2 == pytest.approx(p.m1_to_m2_rate)
        assert macrophage.program(1e3, 0.0, 0.0, 0.0, 0.0, 1.0, no_drug(), p).to_m1 > base.to_m1
        assert macrophage.program(1e3, 0.0, 0.0, 0.0, 0.0, 0.0, no_drug(), p).to_m1 == pytest.approx(base.to_m1)
        assert macrophage.program(0.0, 0.0, 1e3, 0.0, 0.0, 1.0, no_drug(), p).to_m2 > base.to_m2
        assert macrophage.program(0.0, 0.0, 0.0, 0.0, 0.5, 1.0, no_drug(), p).to_m2 > base.to_m2
        tlr = macrophage.program(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, exposure(tlr_agonism=1.0), p)
        assert tlr.to_m2 == 0.0 and tlr.to_m1 > base.to_m1
        csf = macrophage.program(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, exposure(csf1r_inhibition=0.5), p)
        assert csf.m2_csf1r_depletion == pytest.approx(0.5 * p.csf1r_m2_depletion) and base.m2_csf1r_depletion == 0.0

    def test_recruitment_fate(self, row):
        p = row.macrophage
        m1, m2 = macrophage.recruitment(100.0, no_drug(), p)
        assert (m1, m2) == pytest.approx((100.0 * p.recruit_m1_fraction, 100.0 * (1.0 - p.recruit_m1_fraction)))
        m1c, m2c = macrophage.recruitment(100.0, exposure(csf1r_inhibition=1.0), p)
        assert m2c == 0.0
        assert m1c == pytest.approx(100.0 * (p.recruit_m1_fraction + (1 - p.recruit_m1_fraction) * p.csf1r_monocyte_redirect))

    def test_iron_and_ros(self, row):
        p = row.macrophage
        fe0, ros0 = macrophage.iron_and_ros(0.0, 0.0, no_drug(), p)
        assert (fe0, ros0) == (1.0, 1.0)
        fe_m2, _ = macrophage.iron_and_ros(0.0, 0.1, no_drug(), p)
        fe_m1, ros_m1 = macrophage.iron_and_ros(0.1, 0.0, no_drug(), p)
        assert fe_m2 > 1.0 > fe_m1 and ros_m1 > 1.0
        assert macrophage.iron_and_ros(0.0, 0.1, exposure(iron_chelation=0.5), p)[0] == pytest.approx(0.5 * fe_m2)

    def test_killing_and_secretion(self, row):
        p = row.macrophage
        assert macrophage.killing(10.0, 0.0, p) == pytest.approx(10.0 * p.m1_kill_rate)
        assert macrophage.killing(10.0, p.il10_half, p) == pytest.approx(10.0 * p.m1_kill_rate * (1 - 0.5 * p.il10_max_suppression))
        il12, il10, tgfb, cxcl9 = macrophage.secretion(10.0, 20.0, 0.0, 1.0, p)
        assert il12 == pytest.approx(10.0 * p.m1_il12_secretion + 20.0 * p.m2_il12_secretion)
        assert (il10, tgfb) == pytest.approx((20.0 * p.m2_il10_secretion, 20.0 * p.m2_tgfb_secretion))
        assert cxcl9 == pytest.approx(10.0 * p.m1_cxcl9_secretion)
        induced = macrophage.secretion(10.0, 20.0, p.ifng_half, 1.0, p)
        assert induced[0] == pytest.approx(il12 * (1.0 + 0.5 * p.il12_ifng_induction))
        assert macrophage.secretion(10.0, 20.0, p.ifng_half, 0.0, p)[0] == pytest.approx(il12)  # needs host IFNGR


# ---------------------------------------------------------- groups, resolve
class TestGroups:
    def test_layout_reads_every_catalogue_parameter_once_resolved(self, row, values):
        assert row.tumor.tumor_growth_rate == values[COLUMN["tumor_growth_rate"]]
        assert row.drugs.half_life[DRUGS.index(next(d for d in DRUGS if d.name == "ike"))] == values[COLUMN["ike_half_life"]]
        assert row.tissue.kill_saturation_ratio == values[COLUMN["kill_saturation_ratio"]]

    def test_groups_reject_repeated_or_unsourced_fields(self):
        with pytest.raises(ValueError, match="repeated"):
            ParamGroup("g", fields=("a", "a"))
        with pytest.raises(ValueError, match="derive"):
            ParamGroup("g", fields=("a",), derived=("b",))
        with pytest.raises(ValueError, match="does not read"):
            Slot("s", ParamGroup("g", fields=("a",)), {"b": "x"})
        with pytest.raises(ValueError, match="repeated slot"):
            Layout((Slot("s", ParamGroup("g", fields=("a",))), Slot("s", ParamGroup("h", fields=("b",)))))

    def test_unknown_source_is_named(self, values):
        g = ParamGroup("g", fields=("tumor_growth_rate_typo",))
        with pytest.raises(KeyError, match="g.tumor_growth_rate_typo"):
            resolve_group(values, g)

    def test_rows_resolve_independently(self, values):
        many = np.stack([values, values * 1.1])
        rows = resolve(many, ROW)
        assert rows[1].tumor.tumor_growth_rate == pytest.approx(1.1 * rows[0].tumor.tumor_growth_rate)
        single = resolve(many[1], ROW)[0]
        assert single.tumor.gpx4_max_rate == rows[1].tumor.gpx4_max_rate


def test_biology_needs_only_numpy_and_numba():
    """A spatial engine (or any user) can import the cell programs without the configuration stack."""
    # numba imports what it needs itself (scipy, yaml for its config): count only what tmesim adds
    code = ("import sys, numpy, numba; before = {m.split('.')[0] for m in sys.modules}; "
            "import tmesim.biology.programs.t_cell, tmesim.biology.programs.tumor, "
            "tmesim.biology.programs.macrophage, tmesim.biology.programs.nk, tmesim.biology.groups; "
            "added = {m.split('.')[0] for m in sys.modules} - before; "
            "print(sorted(added - {'tmesim', '__future__'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_programs_never_touch_wellmixed():
    import ast
    from pathlib import Path

    import tmesim.biology

    root = Path(tmesim.biology.__file__).parent
    for path in [*root.glob("*.py"), *root.glob("programs/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "wellmixed" not in node.module and "params" not in node.module, (path.name, node.module)
