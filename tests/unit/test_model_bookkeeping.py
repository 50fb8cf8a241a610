"""The well-mixed model's bookkeeping: pools conserve cells under their transitions, and every drug
moves its target the right way through the composed right-hand side.

Conservation: with every source and sink at zero (no recruitment, division, death, clearance), each
transition's outflow is the next pool's inflow, so the host T cells, the CAR T cells, the
macrophages and the tumour (live plus corpses) keep their totals whatever the state.
"""

from __future__ import annotations

import numpy as np
import pytest

from tmesim.biology.programs.pharmacology import DRUGS
from tmesim.params import load_parameter_set
from tmesim.params.index import COLUMN
from tmesim.params.resolve import resolve
from tmesim.wellmixed import model as M
from tmesim.wellmixed import state as S
from tmesim.wellmixed.layout import ROW

HOST = [n for n in S.T_CELL_POOLS if not n.startswith("car_")]
CAR = [n for n in S.T_CELL_POOLS if n.startswith("car_")]
#: Every source and sink of cells, set to zero for the conservation tests.
NO_SOURCES_OR_SINKS = (
    "cd8_recruitment_max", "treg_recruitment_max", "nk_recruitment_max", "macrophage_recruitment_max",
    "t_cell_proliferation_rate", "car_proliferation_rate", "progenitor_proliferation_rate", "effector_death_rate",
    "progenitor_death_rate", "terminal_death_rate", "senescent_death_rate", "t_cell_ferroptosis_max_rate",
    "car_ifng_toxicity", "car_memory_death_rate", "macrophage_death_rate", "csf1r_m2_depletion",
    "tumor_growth_rate", "corpse_clearance_rate", "phagocytosis_rate",
)


def idx(names):
    return [S.NAMES.index(n) for n in names]


def _row(**changes):
    values = load_parameter_set("mouse_b16_icb_ferroptosis").vector()
    for name, value in changes.items():
        values[COLUMN[name]] = value
    return resolve(values, ROW)[0]


def _busy_state(row, rng=None):
    """A mid-treatment-like state: every population present, STAT1 and cytokines up, CAR T cells in."""
    y = M.initial_state(row)
    y[idx(S.T_CELL_POOLS)] = 1e4
    y[S.tumor_dead_apoptotic] = y[S.tumor_dead_ferroptotic] = 1e4
    y[S.tumor_stat1] = 0.5
    y[[S.ifng, S.il12, S.il10, S.tgfb, S.il2, S.cxcl9]] = (20.0, 5.0, 5.0, 5.0, 5.0, 20.0)
    y[S.host_t_lipid_peroxide] = y[S.car_t_lipid_peroxide] = 0.3
    if rng is not None:
        y *= np.exp(rng.uniform(-1.5, 1.5, y.size))
    return y


def _rhs(row, y, conc=None, t=600.0):
    dydt, aux = np.empty(S.N_STATE), np.empty(M.N_AUX)
    c0 = np.zeros(len(DRUGS)) if conc is None else conc
    M.evaluate(t, y, row, c0, np.full(len(DRUGS), t), dydt, aux)
    return dydt, aux


# ------------------------------------------------------------ conservation
def test_t_pool_transitions_conserve_cells():
    rng = np.random.default_rng(1)
    for _ in range(200):
        y = rng.uniform(0, 1e6, S.N_STATE)
        dydt = np.zeros(S.N_STATE)
        rates = rng.uniform(0, 1e-2, 3)
        M._t_pool(y, dydt, S.cd8_effector, S.cd8_progenitor_exhausted, S.cd8_terminal_exhausted, 0.0, 0.0, 0.0,
                  *rates, 0.0, 0.0, 0.0, 0.0)
        trio = idx(["cd8_effector", "cd8_progenitor_exhausted", "cd8_terminal_exhausted"])
        assert abs(dydt[trio].sum()) <= 1e-12 * np.abs(dydt[trio]).sum()
        assert dydt[S.cd8_effector] == pytest.approx(-rates[0] * y[S.cd8_effector] + rates[2] * y[S.cd8_progenitor_exhausted])


def test_memory_pool_conserves_cells_without_division():
    y = np.zeros(S.N_STATE)
    y[S.car_cd8_stem_memory], y[S.car_cd8_effector] = 3e5, 7e5
    dydt = np.zeros(S.N_STATE)
    M._memory_pool(y, dydt, S.car_cd8_stem_memory, S.car_cd8_effector, 0.0, 0.6, 1e-3, 0.0, 0.0)
    assert dydt[S.car_cd8_stem_memory] == pytest.approx(1e-3 * 7e5)
    assert dydt[S.car_cd8_stem_memory] + dydt[S.car_cd8_effector] == pytest.approx(0.0, abs=1e-9)
    # a dividing memory cell makes two daughters: the pair gains the division rate x memory cells
    dydt = np.zeros(S.N_STATE)
    M._memory_pool(y, dydt, S.car_cd8_stem_memory, S.car_cd8_effector, 1e-3, 0.6, 0.0, 0.0, 0.0)
    assert dydt[S.car_cd8_stem_memory] + dydt[S.car_cd8_effector] == pytest.approx(1e-3 * 3e5)


def test_whole_model_conserves_every_population_without_sources_or_sinks():
    row = _row(**{name: 0.0 for name in NO_SOURCES_OR_SINKS})
    rng = np.random.default_rng(2)
    for _ in range(100):
        y = _busy_state(row, rng)
        y[S.tumor_antigen_positive] = 0.5 * y[S.tumor_antigen_negative]  # both clones, CAR T cells killing one
        conc = rng.uniform(0, 5, len(DRUGS)) * (rng.random(len(DRUGS)) < 0.5)
        dydt, _ = _rhs(row, y, conc)
        for pools in (HOST, CAR, ["macrophage_m1", "macrophage_m2"],
                      ["tumor_antigen_positive", "tumor_antigen_negative", "tumor_dead_apoptotic",
                       "tumor_dead_ferroptotic", "tumor_dead_necrotic"]):
            flows = np.abs(dydt[idx(pools)])
            assert abs(dydt[idx(pools)].sum()) <= 1e-9 * max(flows.sum(), 1e-30), (pools, dydt[idx(pools)])
        # every kill is credited to exactly one effector class
        kills = dydt[idx([n for n in S.NAMES if n.startswith("kills_")])].sum()
        into_apoptotic = dydt[S.tumor_dead_apoptotic] - dydt[S.deaths_ifng_apoptosis] - row.tumor.tumor_basal_death_rate * (
            y[S.tumor_antigen_positive] + y[S.tumor_antigen_negative])
        assert kills == pytest.approx(into_apoptotic, rel=1e-9)


# ---------------------------------------------------------- drug -> target
#: drug -> (quantity, +1 if the drug raises it, -1 if it lowers it); "aux:" names a derived output.
DRUG_TARGETS = {
    "anti_pd1": [("aux:pd1_blockade", +1), ("aux:host_t_pd1_inhibition", -1)],
    "anti_pdl1": [("aux:pd1_blockade", +1), ("aux:host_t_pd1_inhibition", -1)],
    "anti_ctla4": [("treg", -1), ("cd8_effector", +1)],
    "ike": [("aux:tumor_cystine_uptake", -1), ("tumor_gsh", -1)],
    "cysteinase": [("aux:cystine", -1), ("tumor_gsh", -1)],
    "rsl3": [("aux:tumor_gpx4_activity", -1), ("tumor_lipid_peroxide", +1), ("host_t_lipid_peroxide", +1)],
    "liproxstatin": [("tumor_lipid_peroxide", -1)],
    "ferrostatin": [("tumor_lipid_peroxide", -1)],
    "deferoxamine": [("aux:extracellular_iron", -1), ("tumor_labile_iron", -1)],
    "tlr78_agonist": [("macrophage_m1", +1), ("macrophage_m2", -1)],
    "csf1r_inhibitor": [("macrophage_m2", -1)],
    "pgrmc2_blocker": [("host_t_nuclear_heme", -1), ("car_t_nuclear_heme", -1)],
    "ido_inhibitor": [("aux:tumor_ido1", -1), ("aux:tryptophan", +1)],
}


def test_every_drug_has_a_target_test():
    assert set(DRUG_TARGETS) == {d.name for d in DRUGS}


@pytest.mark.parametrize("drug", sorted(DRUG_TARGETS))
def test_each_drug_moves_its_target_the_right_way(drug):
    row = _row()
    y = _busy_state(row)
    d = [x.name for x in DRUGS].index(drug)
    conc = np.zeros(len(DRUGS))
    conc[d] = 10.0 * row.drugs.ec50[d]
    without, aux0 = _rhs(row, y)
    with_drug, aux1 = _rhs(row, y, conc)
    for quantity, sign in DRUG_TARGETS[drug]:
        if quantity.startswith("aux:"):
            i = S.AUX_NAMES.index(quantity[4:])
            change = aux1[i] - aux0[i]
        else:
            change = with_drug[S.NAMES.index(quantity)] - without[S.NAMES.index(quantity)]
        assert sign * change > 0.0, (drug, quantity, change)
