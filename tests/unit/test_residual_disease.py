"""Residual disease in the well-mixed engine: extinction below one cell, regrowth from a few cells, and the
antigen-negative subclone that CAR T cells neither kill nor see (docs/model.md, "Residual disease")."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import xarray as xr

from tmesim import load_scenario, simulate
from tmesim.biology.programs import tumor
from tmesim.protocols import drugs as D
from tmesim.simulation import Simulation
from tmesim.wellmixed import model as M
from tmesim.wellmixed import state as S

SCENARIO = "ball_car_bortezomib"


def _run(arm: str, days: float, **parameters) -> xr.Dataset:
    """One patient of the B-ALL CAR T scenario's ``arm`` over ``days`` (daily outputs), with parameter values
    (``{value, unit}``) replaced."""
    scn = load_scenario(SCENARIO)
    scn = scn.with_overrides(parameters=parameters or None, days=days, output_interval_hours=24,
                             arms=[a.model_dump() for a in scn.arms if a.name == arm])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate(scn).isel(arm=0, patient=0)


def _per_day(value: float) -> dict:
    return {"value": value, "unit": "1/day"}


#: No immune killing and no death but the basal rate.
NO_KILLING = {"ctl_max_kill_rate": _per_day(0.0), "nk_max_kill_rate": _per_day(0.0), "m1_kill_rate": _per_day(0.0),
              "ifng_apoptosis_max_rate": _per_day(0.0), "necrosis_max_rate": _per_day(0.0),
              "ferroptosis_max_rate": {"value": 0.0, "unit": "1/h"}}
#: A leukaemia that only dies (no growth), from 100 cells: it crosses one cell after ln(100) = 4.6 days.
DYING = {"tumor_growth_rate": _per_day(0.0), "tumor_basal_death_rate": _per_day(1.0),
         "initial_tumor_cells": {"value": 100.0, "unit": "cell"}, **NO_KILLING}


def test_a_population_that_falls_below_one_cell_is_exactly_zero_and_stays_there():
    x = _run("untreated", 20, **DYING)
    live = x.tumor_live.values
    days = x.time.values
    # before the crossing it follows the death rate; after it, exactly zero for good
    np.testing.assert_allclose(live[days <= 4], 100.0 * np.exp(-days[days <= 4]), rtol=1e-2)
    assert (live[days >= 5] == 0.0).all()
    assert x.tumor_antigen_positive.values[-1] == 0.0 and x.tumor_antigen_negative.values[-1] == 0.0


def test_without_the_extinction_event_the_same_tumour_lingers_as_a_fraction_of_a_cell():
    x = _run("untreated", 20, extinction_cells={"value": 0.0, "unit": "cell"}, **DYING)
    live = x.tumor_live.values
    assert 0.0 < live[-1] < 1e-5
    # the tumour's absolute tolerance is one cell, so far below a cell the decay is followed only roughly
    assert live[-1] == pytest.approx(100.0 * np.exp(-20.0), rel=0.5)


def test_a_few_cells_with_no_car_t_cells_grow_back():
    """Five leukaemic cells, untreated: they are above one cell, so nothing goes extinct, and they grow back
    (measured: 21-fold in 60 days). With the killers off they grow by the same factor per cell as five
    million cells do (32.2- against 31.6-fold: the set's 0.0565/day, a little faster with the labile iron
    the macrophages leave; the rest is the tumour's absolute tolerance of one cell)."""
    x = _run("untreated", 60, initial_tumor_cells={"value": 5.0, "unit": "cell"})
    live = x.tumor_live.values
    assert (live > 0.0).all() and (np.diff(live) > 0.0).all()
    assert 10.0 < live[-1] / 5.0 < np.exp(0.0565 * 60.0)
    few = _run("untreated", 60, initial_tumor_cells={"value": 5.0, "unit": "cell"}, **NO_KILLING)
    many = _run("untreated", 60, initial_tumor_cells={"value": 5e6, "unit": "cell"}, **NO_KILLING)
    assert few.tumor_live.values[-1] / 5.0 == pytest.approx(many.tumor_live.values[-1] / 5e6, rel=0.03)
    assert many.tumor_live.values[-1] / 5e6 == pytest.approx(np.exp(0.0565 * 60.0), rel=0.1)


def test_antigen_loss_at_division_matches_the_closed_form_of_pure_growth():
    """With growth only (no death, no killing), each division of an antigen-positive cell gives an
    antigen-negative daughter with probability mu, so antigen-positive cells grow at (1 - mu) times the
    division rate, whatever its time course: P(t) = N0 (N(t) / N0)^(1 - mu), with N the whole tumour."""
    mu = 0.05
    x = _run("untreated", 10, tumor_growth_rate=_per_day(0.5), tumor_basal_death_rate=_per_day(0.0),
             tumor_car_antigen_loss_per_division={"value": mu, "unit": "1"},
             initial_tumor_cells={"value": 1e6, "unit": "cell"}, **NO_KILLING)
    total, pos, neg = x.tumor_live.values, x.tumor_antigen_positive.values, x.tumor_antigen_negative.values
    assert neg[0] == 0.0 and total[-1] > 50 * 1e6  # a pure antigen-positive start, grown ~e^5-fold
    np.testing.assert_allclose(pos, 1e6 * (total / 1e6) ** (1.0 - mu), rtol=1e-3)
    np.testing.assert_allclose(neg / total, 1.0 - (total / 1e6) ** (-mu), rtol=1e-3)
    assert neg[-1] / total[-1] == pytest.approx(0.22, abs=0.01)  # 1 - e^(-5 mu) at e^5-fold growth


def test_an_antigen_negative_start_is_a_subclone_not_a_dilution():
    x = _run("standard product", 1, tumor_car_antigen_fraction={"value": 0.25, "unit": "1"})
    assert x.tumor_antigen_positive.values[0] == pytest.approx(0.25 * 3e10)
    assert x.tumor_antigen_negative.values[0] == pytest.approx(0.75 * 3e10)


@functools.lru_cache(maxsize=1)
def _row():
    """The resolved parameter row of the B-ALL standard-product arm (one patient)."""
    scn = load_scenario(SCENARIO).with_overrides(days=8, cohort={"size": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = Simulation(scn).compile()
    return batch.params[list(batch.arms).index("standard product")]


def _rates(y):
    dydt, aux = np.zeros(S.N_STATE), np.zeros(M.N_AUX)
    M.evaluate(3 * 1440.0, y, _row(), np.zeros(D.N_DRUGS), np.zeros(D.N_DRUGS), dydt, aux)
    return dydt, aux


def _state(positive: float, negative: float) -> np.ndarray:
    """The initial state with the tumour split as given and CAR T cells, host CD8 T cells and NK cells present."""
    y = M.initial_state(_row())
    y[S.tumor_antigen_positive], y[S.tumor_antigen_negative] = positive, negative
    y[S.car_cd8_effector] = y[S.car_cd4_effector] = 1e8
    y[S.cd8_effector] = y[S.nk] = 1e8
    return y


def test_the_antigen_negative_clone_escapes_car_t_cells_but_not_host_t_or_nk_cells():
    dy_neg, aux_neg = _rates(_state(0.0, 1e9))
    dy_pos, aux_pos = _rates(_state(1e9, 0.0))
    # CAR T cells neither kill nor are stimulated by antigen-negative cells ...
    assert dy_neg[S.kills_car_cd8] == 0.0 and dy_neg[S.kills_car_cd4] == 0.0
    assert aux_neg[S.aux_car_t_stimulation] == 0.0
    assert dy_pos[S.kills_car_cd8] > 0.0 and aux_pos[S.aux_car_t_stimulation] > 0.4
    # ... while host CD8 T cells, NK cells and macrophages kill them at a rate of the same order
    for kills in (S.kills_cd8, S.kills_nk, S.kills_macrophage):
        assert dy_neg[kills] > 0.0
        # on the positive tumour CAR T cells take a share of the targets (Beddington-DeAngelis),
        # so the other killers' rates can only be lower there
        assert dy_pos[kills] <= dy_neg[kills] < 10.0 * dy_pos[kills]
    # the antigen-negative pool loses exactly what the non-CAR killers take
    kills = (S.kills_cd8, S.kills_cd4, S.kills_car_cd8, S.kills_car_cd4, S.kills_nk, S.kills_macrophage)
    # same growth and death hazards (the clones share the program's mean state): what differs is who kills
    np.testing.assert_allclose(dy_neg[S.tumor_antigen_negative] + sum(dy_neg[k] for k in kills),
                               dy_pos[S.tumor_antigen_positive] + dy_pos[S.tumor_antigen_negative]
                               + sum(dy_pos[k] for k in kills), rtol=1e-9)
    assert dy_pos[S.tumor_antigen_negative] > 0.0  # antigen loss feeds it from the positive clone
    assert dy_neg[S.tumor_antigen_positive] == 0.0


def test_extinction_acts_on_crossing_one_cell_for_tumour_clones_and_car_t_lineages():
    p = _row()
    before = M.initial_state(p)
    before[S.tumor_antigen_positive], before[S.tumor_antigen_negative] = 2.0, 0.5
    before[S.car_cd8_stem_memory], before[S.car_cd8_effector] = 0.7, 0.6  # the lineage: 1.3 cells
    before[S.car_cd4_effector] = 5.0
    after = before.copy()
    after[S.tumor_antigen_positive] = 0.9  # crossed
    after[S.tumor_antigen_negative] = 0.4  # never a whole cell: an expected count, kept
    after[S.car_cd8_stem_memory], after[S.car_cd8_effector] = 0.5, 0.4  # the lineage crossed
    after[S.car_cd4_effector] = 4.0
    assert M.extinguish(before, after, p) == 2
    assert after[S.tumor_antigen_positive] == 0.0 and after[S.tumor_antigen_negative] == 0.4
    assert after[S.car_cd8_stem_memory] == 0.0 and after[S.car_cd8_effector] == 0.0
    assert after[S.car_cd4_effector] == 4.0
    assert after[S.cd8_effector] == before[S.cd8_effector]  # host T cells are recruited: left continuous


def test_a_daughter_loses_the_antigen_with_the_per_division_probability():
    p = _row().tumor
    mu = p.tumor_car_antigen_loss_per_division
    assert mu == pytest.approx(1e-6)
    assert tumor.daughter_antigen(1, mu / 2, p) == 0 and tumor.daughter_antigen(1, mu, p) == 1
    assert tumor.daughter_antigen(0, 0.9, p) == 0  # never regained
    assert tumor.antigen_loss_rate(2.0, p) == pytest.approx(2.0 * mu)


def test_the_log_burden_metric_reads_an_extinct_leukaemia_as_zero_log_cells():
    """4d's metric meets exact zeros now: log10(0) is floored at one cell (0 log10 cells), finite, and a
    burden that dies out earlier has the lower mean."""
    import xarray as xr

    from tmesim.reproduce import findings as F

    t = np.arange(5.0)
    burden = np.array([[[1e4, 1e2, 0.0, 0.0, 0.0]], [[1e4, 1e2, 1e1, 0.0, 0.0]]])
    ds = xr.Dataset({"tumor_live": (("arm", "patient", "time"), burden)},
                    coords={"arm": ["early", "late"], "patient": [0], "time": t})
    early, late = F.LogBurden()(ds, "early"), F.LogBurden()(ds, "late")
    assert np.isfinite(early).all() and np.isfinite(late).all()
    # trapezoid over log10 values 4, 2, 0, 0, 0 (days 0-4): (3 + 1 + 0 + 0) / 4 = 1
    assert early[0] == pytest.approx(1.0) and late[0] == pytest.approx((3 + 1.5 + 0.5) / 4)


def _resting_net_growth(**overrides) -> tuple[float, float]:
    """Per-cell net growth and innate (NK + M1) kill hazard (1/day) of 100 untreated leukaemic cells in a host
    whose marrow innate cells are at the set's resting levels (its initial NK and macrophages, which
    outnumber the clone ~1e7-fold), with no leukaemia-reactive T cells (a host the disease has not primed)
    and no cytokines; ``overrides`` replace parameter values ({value, unit})."""
    scn = load_scenario(SCENARIO).with_overrides(parameters=overrides or None, days=8, cohort={"size": 1},
                                                 arms=[{"name": "untreated"}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = Simulation(scn).compile().params[0]
    y = M.initial_state(p)
    y[S.tumor_antigen_positive], y[S.tumor_antigen_negative] = 100.0, 0.0
    y[S.cd8_effector] = y[S.cd4_effector] = 0.0
    dydt, aux = np.zeros(S.N_STATE), np.zeros(M.N_AUX)
    M.evaluate(0.0, y, p, np.zeros(D.N_DRUGS), np.zeros(D.N_DRUGS), dydt, aux)
    per_day = 1440.0 / 100.0
    return dydt[S.tumor_antigen_positive] * per_day, (dydt[S.kills_nk] + dydt[S.kills_macrophage]) * per_day


def test_a_small_leukaemia_outgrows_the_resting_innate_cells_it_grew_among():
    """The escape condition (docs/model.md section 8): a leukaemia that grew to disease from few cells was not
    controlled by its host's resting innate cells. At the set's innate susceptibility 0.0256, NK and M1
    killing take half the growth rate (0.028 of 0.0565/day) and the clone grows at +0.028/day (0.029/day
    before the set stated its resting ferroptotic hazard, 0.001/day where the fitted Hill power 3 gave
    4e-5/day); at full susceptibility they would kill it at 1.10/day, 19.5x faster than it grows (net
    -1.05/day)."""
    net, innate = _resting_net_growth()
    # nothing else acts on it at rest but its resting ferroptosis (growth a little above 0.0565/day in the labile
    # iron the macrophages leave)
    assert net == pytest.approx(0.0565 - innate - 0.001, rel=0.03)
    assert innate == pytest.approx(0.5 * 0.0565, rel=0.02)
    assert net == pytest.approx(0.0277, rel=0.03) and net > 0.0
    net_full, innate_full = _resting_net_growth(tumor_innate_susceptibility={"value": 1.0, "unit": "1"})
    assert innate_full == pytest.approx(1.1037, rel=1e-3) and net_full < -1.0


def test_an_antigen_negative_relapse_is_possible_and_full_innate_killing_prevents_it():
    """The nominal patient, standard product, one year. Measured: the leukaemia falls to a nadir of 550
    cells on day 78 (all antigen-negative; the CAR T cells' targets are gone), then regrows and has 4.1e8
    cells on day 365, still growing: an antigen-negative relapse, not yet at the relapse threshold (5e9
    cells, the cohort's) within the year. Before the set stated its resting ferroptotic hazard (the Hill
    power fitted at 3, now derived: 2.28) the nadir was 1,900 cells on day 64 and the threshold was
    reached on day 343: the steeper-at-low-peroxide hazard kills more of the clone while the CAR T cells'
    IFN-gamma raises its lipid peroxide (docs/findings.md). At full innate susceptibility (1, a leukaemia
    that could not have grown) the same clone dies out on day 54."""
    x = _run("standard product", 365)
    live, days = x.tumor_live.values, x.time.values
    nadir = int(live.argmin())
    assert 1e2 < live[nadir] < 1e4 and 50 < days[nadir] < 90
    assert x.tumor_antigen_positive.values[-1] == 0.0
    assert x.tumor_antigen_negative.values[-1] == live[-1] > 1e8
    assert live[-1] > live[-30] > live[nadir]
    full = _run("standard product", 365, tumor_innate_susceptibility={"value": 1.0, "unit": "1"})
    assert full.tumor_live.values[-1] == 0.0 and (full.tumor_live.values[days >= 60] == 0.0).all()
