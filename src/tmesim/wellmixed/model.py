"""Right-hand side of the well-mixed tumour-immune model: pools, transitions, closures.

One tumour compartment holds populations (cells), the mean intracellular
state of each population and the interstitial concentrations of cytokines.
All biology is in the cell programs (:mod:`tmesim.biology.programs`), called
here with pool means: the tumour cell program (STAT1 targets, the
ferroptosis core, growth and death hazards), the T cell program once per
kind (host TCR and CAR T cells: sensing, the exhaustion axis, function and
fate), the NK and macrophage programs, Tregs, and drug exposure -> effect.
What this module adds is what only a well-mixed model has:

* pools and the transitions between them (effector -> progenitor exhausted
  -> terminally exhausted, stem-like memory <-> effector, anergy,
  senescence, M1 <-> M2, corpses and their clearance), with the programs'
  hazards as rates;
* closures for what space would otherwise provide: quasi-steady metabolites
  from tumour size (oxygen, glucose, tryptophan), recruitment by tumour
  size, antigen and targets shared among effectors, iron and ROS from the
  macrophages' share of the tissue, the tissue volume cytokines dilute into,
  and their uptake by the receptor-bearing share of all cells.

The equations are written out in docs/model.md. ``evaluate`` fills ``dydt``
(state units per minute) and ``aux`` (derived outputs, then drug
concentrations in mg/L, then the drug exposure channels as work space).
Drug concentrations are exact: ``c0 * exp(-k (t - t0))`` within a dosing
segment.
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..biology import killing as kil
from ..biology import macrophage as mac
from ..biology import recruitment as rec
from ..biology.programs import macrophage, nk, pharmacology, t_cell, tumor
from ..biology.programs.pharmacology import EX, N_CHANNELS, N_DRUGS
from ..protocols.schedule import (
    DOSE_CONCENTRATION,
    DOSE_DRUG,
    EVENT_DOSE,
    INFUSION_AXIS,
    INFUSION_CD4,
    INFUSION_CD8,
    INFUSION_MEMORY_FRACTION,
)
from . import state as S
from .layout import ROW

#: Derived outputs the engine stores: the named ones, then each drug's concentration.
N_AUX_OUT = S.N_AUX_BASE + N_DRUGS
A0 = S.N_AUX_BASE  # first drug slot in aux
#: First exposure channel in aux (work space, not stored).
A_EX = N_AUX_OUT
N_AUX = N_AUX_OUT + N_CHANNELS
#: Below about this many viable cells (cells) the tumour's intracellular
#: states are held (see ``evaluate``): far below one cell, it has no cells.
TUMOR_STATE_MIN_CELLS = 1e-3


@kernel
def _t_pool(y, dydt, i_eff, i_prog, i_term, influx, prolif_eff, prolif_prog, to_prog, to_term, reinvig, death_eff, death_prog, death_term, ferro):
    """Effector -> progenitor-exhausted -> terminally exhausted bookkeeping for
    one T cell pool (cells/min); returns the pool's ferroptotic deaths/min."""
    e, pr, te = y[i_eff], y[i_prog], y[i_term]
    dydt[i_eff] += influx + (prolif_eff - to_prog - death_eff - ferro) * e + reinvig * pr
    dydt[i_prog] += to_prog * e + (prolif_prog - to_term - reinvig - death_prog - ferro) * pr
    dydt[i_term] += to_term * pr - (death_term + ferro) * te
    return ferro * (e + pr + te)


@kernel
def _pool(y, first, last):
    """Cells in the contiguous state range ``first..last`` (inclusive)."""
    total = 0.0
    for i in range(first, last + 1):
        total += y[i]
    return total


@kernel
def _host_t_pool(y):
    """Host conventional T cells (cells): every CD8 and CD4 state, Tregs excluded."""
    return _pool(y, S.cd8_effector, S.cd4_terminal_exhausted)


@kernel
def _car_pool(y):
    """CAR T cells (cells): every compartment of the CD8 and CD4 CAR lineages."""
    return _pool(y, S.car_cd8_stem_memory, S.car_cd4_terminal_exhausted)


@kernel
def _memory_pool(y, dydt, i_mem, i_eff, division, stem_daughters, form, death, ferro):
    """Stem-like memory <-> effector bookkeeping for one CAR T lineage (cells/min).

    Memory cells divide at ``division`` (1/min); a fraction ``stem_daughters``
    of the daughters stay stem-like, the rest join the effectors; effectors
    return to memory at ``form`` (1/min). Returns the memory cells'
    ferroptotic deaths/min.
    """
    m, e = y[i_mem], y[i_eff]
    dydt[i_mem] += (division * (2.0 * stem_daughters - 1.0) - death - ferro) * m + form * e
    dydt[i_eff] += 2.0 * division * (1.0 - stem_daughters) * m - form * e
    return ferro * m


@kernel
def _functional(y, i_eff, i_prog, i_term, pt):
    """Effector-equivalents of a lineage's effector, progenitor- and terminally exhausted pools (cells):
    each state weighted by its function (:data:`~tmesim.biology.programs.t_cell.PARAMS`)."""
    return y[i_eff] + pt.progenitor_function * y[i_prog] + pt.terminal_function * y[i_term]


@kernel
def evaluate(t, y, p, drug_c0, drug_t0, dydt, aux):
    """Fill ``dydt`` (per minute) and ``aux`` for state ``y`` at time ``t`` (min).

    Parameters
    ----------
    t : time (min).
    y : state vector (see :mod:`.state`), units per variable.
    p : a resolved parameter row (:data:`.layout.ROW`).
    drug_c0, drug_t0 : drug concentration (mg/L) at segment start and the
        segment start time (min), per drug.
    dydt, aux : outputs, overwritten.
    """
    for i in range(dydt.shape[0]):
        dydt[i] = 0.0
    pt, ph, pc, ti, cy = p.tumor, p.host_t, p.car_t, p.tissue, p.cytokines

    # ------------------------------------------------- drugs -> exposures
    for d in range(N_DRUGS):
        aux[A0 + d] = pharmacology.concentration(drug_c0[d], drug_t0[d], t, p.drugs.half_life[d])
    x = aux[A_EX:]
    pharmacology.exposures(aux[A0:A_EX], p.drugs, x)

    # ---------------------------------------------------------- populations
    # two clones share the tumour program and its mean intracellular state: the one carrying the CAR
    # antigen and an antigen-negative subclone (present at the start and/or born by antigen loss)
    tum_pos, tum_neg = y[S.tumor_antigen_positive], y[S.tumor_antigen_negative]
    tum = tum_pos + tum_neg
    dead = y[S.tumor_dead_apoptotic] + y[S.tumor_dead_ferroptotic] + y[S.tumor_dead_necrotic]
    cd8e, cd8a, cd8s = y[S.cd8_effector], y[S.cd8_anergic], y[S.cd8_senescent]
    cd4e = y[S.cd4_effector]
    treg = y[S.treg]
    c8e, c4e = y[S.car_cd8_effector], y[S.car_cd4_effector]
    nk_cells, m1, m2 = y[S.nk], y[S.macrophage_m1], y[S.macrophage_m2]
    host_t = _host_t_pool(y)
    car_t = _car_pool(y)
    lymph = host_t + car_t + treg + nk_cells
    total = tum + dead + lymph + m1 + m2 + 1.0
    volume = total * ti.tissue_volume_per_cell * ti.interstitial_fraction  # um^3
    tum_ref = tum + dead + 1.0

    ifng, il12, il10, tgfb, il2, cxcl9 = y[S.ifng], y[S.il12], y[S.il10], y[S.tgfb], y[S.il2], y[S.cxcl9]
    il12_free = il12 * (1.0 - p.host.il12_blockade)
    host_ifngr = 1.0 - p.host.host_ifngr_loss
    competence = p.host.host_immune_competence

    # --------------------------- closures: quasi-steady microenvironment
    oxygen = ti.oxygen_vessel * ti.oxygen_supply_factor / (1.0 + (total / ti.hypoxia_size_half) ** 0.5)
    glucose = ti.glucose_plasma * ti.glucose_supply_factor / (1.0 + (total / ti.glucose_size_half) ** 0.5)
    stat1 = y[S.tumor_stat1]
    sig = tumor.signals(stat1, x, pt)
    tryptophan = ti.tryptophan_plasma * ti.tryptophan_supply_factor / (1.0 + ti.ido1_tryptophan_consumption * sig.ido1 * tum / total)
    kynurenine = ti.tryptophan_plasma * ti.tryptophan_supply_factor - tryptophan
    cystine = ti.cystine_plasma * (1.0 - x[EX.cystine_depletion])
    fe_ext, ros = macrophage.iron_and_ros(m1 / total, m2 / total, x, p.macrophage)
    ox_signal = y[S.tumor_dead_ferroptotic] / total
    lipid_level = ti.tme_lipid_level * (1.0 + ti.dead_cell_lipid_release * dead / total)

    # ------------------------------------------------------ tumour cells
    env = tumor.TumorEnv(ifng, cystine, fe_ext, ros, oxygen, glucose, (tum + dead) / ti.tumor_carrying_capacity)
    fate = tumor.intracellular_rates(y, S.tumor_stat1, env, x, pt, dydt, S.tumor_stat1)
    # The mean intracellular state of an extinct tumour means nothing; holding
    # it still stops it from driving the step size for the rest of the run.
    presence = tum / (tum + TUMOR_STATE_MIN_CELLS)
    for i in range(S.tumor_stat1, S.tumor_lipid_peroxide + 1):
        dydt[i] *= presence

    # ---------------------------------------- T, NK cells and macrophages
    ah = S.host_t_mito_depolarization
    ac = S.car_t_mito_depolarization
    # host and CAR T cells sense the same environment with the same sensing parameters
    signals = t_cell.sense(t_cell.TCellEnv(oxygen, glucose, tryptophan, kynurenine, il10, tgfb, il12_free, il2), ph)
    # antigen-bearing tumour cells are shared among the T cells of a kind
    stim_h = t_cell.stimulation(tum, sig.mhc1, host_t, ph)
    stim_c = t_cell.stimulation(tum_pos, sig.mhc1, car_t, pc)  # CAR T cells see antigen-positive cells only
    fh = t_cell.program(y, ah, stim_h, signals, sig.pdl1, sig.mhc1, ifng, ros, x, ph)
    fc = t_cell.program(y, ac, stim_c, signals, sig.pdl1, sig.mhc1, ifng, ros, x, pc)
    fn = nk.program(il12_free, ifng, host_ifngr, sig.mhc1, p.nk)
    fm = macrophage.program(ifng, il12_free, il10, tgfb, ox_signal, host_ifngr, x, p.macrophage)

    # ------------------------------------------------------------- killing
    n_cd8 = _functional(y, S.cd8_effector, S.cd8_progenitor_exhausted, S.cd8_terminal_exhausted, ph)
    n_cd4 = _functional(y, S.cd4_effector, S.cd4_progenitor_exhausted, S.cd4_terminal_exhausted, ph)
    n_c8 = _functional(y, S.car_cd8_effector, S.car_cd8_progenitor_exhausted, S.car_cd8_terminal_exhausted, pc)
    n_c4 = _functional(y, S.car_cd4_effector, S.car_cd4_progenitor_exhausted, S.car_cd4_terminal_exhausted, pc)
    cap_cd8 = fh.kill_rate * n_cd8 * (1.0 - fh.lipid_dysfunction)
    cap_cd4 = fh.kill_rate * ph.cd4_kill_fraction * n_cd4 * (1.0 - fh.lipid_dysfunction)
    cap_c8 = fc.kill_rate * n_c8 * (1.0 - fc.lipid_dysfunction)
    cap_c4 = fc.kill_rate * pc.cd4_kill_fraction * n_c4 * (1.0 - fc.lipid_dysfunction)
    # innate killing acts on the tumour line by its innate susceptibility (an escaped line: below 1)
    cap_nk = fn.kill_rate * pt.tumor_innate_susceptibility * nk_cells * (1.0 - signals.suppression)
    cap_m1 = macrophage.killing(m1, il10, p.macrophage) * pt.tumor_innate_susceptibility
    cap_any = cap_cd8 + cap_cd4 + cap_nk + cap_m1  # killers that see both clones alike
    cap_car = cap_c8 + cap_c4  # CAR T cells kill antigen-positive cells only
    # effectors that outnumber their targets share them
    effectors = cd8e + cd4e + c8e + c4e + nk_cells + m1 + 1.0
    kills_any = cap_any * kil.target_availability(tum, effectors, ti.kill_saturation_ratio)
    kills_car = cap_car * kil.target_availability(tum_pos, effectors, ti.kill_saturation_ratio)
    kills = kills_any + kills_car
    share_any = kills_any / (cap_any + 1e-300)
    share_car = kills_car / (cap_car + 1e-300)
    neg_share = tum_neg / (tum + 1e-300)  # the antigen-negative clone's part of the shared kills

    net = fate.proliferation - fate.ifng_apoptosis - fate.ferroptosis - fate.necrosis - fate.basal_death
    loss = tumor.antigen_loss_rate(fate.proliferation, pt) * tum_pos
    dydt[S.tumor_antigen_positive] = net * tum_pos - loss - kills_any * (1.0 - neg_share) - kills_car
    dydt[S.tumor_antigen_negative] = net * tum_neg + loss - kills_any * neg_share
    clear = mac.clearance_rate(ti.corpse_clearance_rate, p.macrophage.phagocytosis_rate, (m1 + m2) / tum_ref)
    dydt[S.tumor_dead_apoptotic] = kills + (fate.ifng_apoptosis + fate.basal_death) * tum - clear * y[S.tumor_dead_apoptotic]
    dydt[S.tumor_dead_ferroptotic] = fate.ferroptosis * tum - clear * y[S.tumor_dead_ferroptotic]
    dydt[S.tumor_dead_necrotic] = fate.necrosis * tum - clear * y[S.tumor_dead_necrotic]
    dydt[S.kills_cd8] = cap_cd8 * share_any
    dydt[S.kills_cd4] = cap_cd4 * share_any
    dydt[S.kills_car_cd8] = cap_c8 * share_car
    dydt[S.kills_car_cd4] = cap_c4 * share_car
    dydt[S.kills_nk] = cap_nk * share_any
    dydt[S.kills_macrophage] = cap_m1 * share_any
    dydt[S.deaths_ifng_apoptosis] = fate.ifng_apoptosis * tum
    dydt[S.deaths_ferroptosis] = fate.ferroptosis * tum
    dydt[S.deaths_necrosis] = fate.necrosis * tum

    # --------------------------------------------------------- recruitment
    size_sig = tum + dead
    boost_host = competence * (1.0 + ti.ctla4_priming_boost * x[EX.ctla4_blockade]) * (1.0 + ti.dead_cell_priming_boost * dead / tum_ref)
    infl_cd8 = rec.recruitment_rate(ti.cd8_recruitment_max, size_sig, ti.recruitment_size_half, cxcl9, ti.cxcl9_half, ti.cxcl9_recruitment_weight, boost_host)
    infl_cd4 = infl_cd8 * ti.cd4_to_cd8_recruitment
    infl_treg = rec.recruitment_rate(ti.treg_recruitment_max, size_sig, ti.recruitment_size_half, 0.0, 1.0, 0.0, competence)
    infl_nk = rec.recruitment_rate(ti.nk_recruitment_max, size_sig, ti.recruitment_size_half, cxcl9, ti.cxcl9_half, ti.cxcl9_recruitment_weight, competence)
    infl_mac = rec.recruitment_rate(ti.macrophage_recruitment_max, size_sig, ti.recruitment_size_half, 0.0, 1.0, 0.0, 1.0)

    # ------------------------------------------------------------ T pools
    tf = _t_pool(y, dydt, S.cd8_effector, S.cd8_progenitor_exhausted, S.cd8_terminal_exhausted, infl_cd8,
                 fh.proliferation, fh.progenitor_proliferation, fh.to_progenitor, fh.to_terminal, fh.reinvigoration,
                 ph.effector_death_rate + fh.ifng_toxicity, ph.progenitor_death_rate + fh.ifng_toxicity,
                 ph.terminal_death_rate + fh.ifng_toxicity, fh.ferroptosis)
    tf += _t_pool(y, dydt, S.cd4_effector, S.cd4_progenitor_exhausted, S.cd4_terminal_exhausted, infl_cd4,
                  fh.proliferation, fh.progenitor_proliferation, fh.to_progenitor, fh.to_terminal, fh.reinvigoration,
                  ph.effector_death_rate + fh.ifng_toxicity, ph.progenitor_death_rate + fh.ifng_toxicity,
                  ph.terminal_death_rate + fh.ifng_toxicity, fh.ferroptosis)
    tf += _t_pool(y, dydt, S.car_cd8_effector, S.car_cd8_progenitor_exhausted, S.car_cd8_terminal_exhausted, 0.0,
                  fc.proliferation, fc.progenitor_proliferation, fc.to_progenitor, fc.to_terminal, fc.reinvigoration,
                  pc.effector_death_rate + fc.ifng_toxicity, pc.progenitor_death_rate + fc.ifng_toxicity,
                  pc.terminal_death_rate + fc.ifng_toxicity, fc.ferroptosis)
    tf += _t_pool(y, dydt, S.car_cd4_effector, S.car_cd4_progenitor_exhausted, S.car_cd4_terminal_exhausted, 0.0,
                  fc.proliferation, fc.progenitor_proliferation, fc.to_progenitor, fc.to_terminal, fc.reinvigoration,
                  pc.effector_death_rate + fc.ifng_toxicity, pc.progenitor_death_rate + fc.ifng_toxicity,
                  pc.terminal_death_rate + fc.ifng_toxicity, fc.ferroptosis)
    # stem-like memory CAR T cells feed the effector pools and re-form from them as antigen wanes
    d_mem = pc.memory_death_rate + fc.ifng_toxicity
    tf += _memory_pool(y, dydt, S.car_cd8_stem_memory, S.car_cd8_effector, fc.memory_proliferation,
                       fc.daughter_stem_share, fc.memory_formation, d_mem, fc.ferroptosis)
    tf += _memory_pool(y, dydt, S.car_cd4_stem_memory, S.car_cd4_effector, fc.memory_proliferation,
                       fc.daughter_stem_share, fc.memory_formation, d_mem, fc.ferroptosis)
    # anergy (stimulation without help) and senescence (replicative/oxidative) of host CD8
    dydt[S.cd8_effector] += fh.anergy_exit * cd8a - (fh.anergy + fh.senescence) * cd8e
    dydt[S.cd8_anergic] = fh.anergy * cd8e - (fh.anergy_exit + ph.effector_death_rate) * cd8a
    dydt[S.cd8_senescent] = fh.senescence * cd8e - ph.senescent_death_rate * cd8s
    _, _, treg_growth, treg_il10, treg_tgfb = t_cell.treg_fate(signals.help, x, p.treg)
    dydt[S.treg] = infl_treg + treg_growth * treg
    dydt[S.t_cell_ferroptosis] = tf

    # NK cells: recruited, expanded by IL-12
    dydt[S.nk] = infl_nk + fn.net_growth * nk_cells

    # --------------------------------------------------------- macrophages
    into_m1, into_m2 = macrophage.recruitment(infl_mac, x, p.macrophage)
    dydt[S.macrophage_m1] = into_m1 + fm.to_m1 * m2 - (fm.to_m2 + fm.death) * m1
    dydt[S.macrophage_m2] = into_m2 + fm.to_m2 * m1 - (fm.to_m1 + fm.death + fm.m2_csf1r_depletion) * m2

    # ------------------------------------------------------- exhaustion axes
    # recruits arrive rested and pull the host pool's mean axis towards rest
    dil_h = (infl_cd8 + infl_cd4) / (host_t + 1.0)
    block, gpx4_inh, rta = x[EX.heme_import_block], x[EX.gpx4_inhibition], x[EX.rta_block]
    t_cell.axis_rates(y, ah, stim_h, fh.drivers, 0.0, block, gpx4_inh, rta, lipid_level, ros, dil_h, ph, dydt, ah)
    t_cell.axis_rates(y, ac, stim_c, fc.drivers, 0.0, block, gpx4_inh, rta, lipid_level, ros, 0.0, pc, dydt, ac)

    # ------------------------------------------------------------ cytokines
    ifng_src = (
        fh.ifng_secretion * (n_cd8 + ph.cd4_ifng_fold * n_cd4)
        + fc.ifng_secretion * (n_c8 + pc.cd4_ifng_fold * n_c4)
        + nk.ifng_secretion(nk_cells, fn.activation, tum / (nk_cells + 1.0), p.nk)
    )
    # every host cell bears IFNGR, including the stroma the model does not track,
    # so tumour IFNGR loss leaves the stromal sink (Bach1997; consumption sets reach, Centofanti2023)
    f_stroma = ti.stromal_cell_fraction
    receptor = (1.0 - f_stroma) * (tum * (1.0 - pt.tumor_ifngr_loss) + (lymph + m1 + m2) * host_ifngr) / total + f_stroma * host_ifngr
    dydt[S.ifng] = rec.cytokine_rate(ifng, rec.secretion_to_concentration_rate(ifng_src, volume), cy.ifng_decay_rate, cy.ifng_uptake_rate, receptor)
    mac_il12, mac_il10, mac_tgfb, mac_cxcl9 = macrophage.secretion(m1, m2, ifng, host_ifngr, p.macrophage)
    il12_src = mac_il12 * competence
    dydt[S.il12] = rec.cytokine_rate(il12, rec.secretion_to_concentration_rate(il12_src, volume), cy.il12_decay_rate, cy.il12_uptake_rate, lymph / total)
    tumor_cxcl9, tumor_il10, tumor_tgfb = tumor.secretion(tum, sig.cxcl9, pt)
    il10_src = mac_il10 + treg_il10 * treg + tumor_il10
    dydt[S.il10] = rec.cytokine_rate(il10, rec.secretion_to_concentration_rate(il10_src, volume), cy.il10_decay_rate, 0.0, 0.0)
    tgfb_src = mac_tgfb + treg_tgfb * treg + tumor_tgfb
    dydt[S.tgfb] = rec.cytokine_rate(tgfb, rec.secretion_to_concentration_rate(tgfb_src, volume), cy.tgfb_decay_rate, 0.0, 0.0)
    # IL-2 from activated CD4 effectors, and a fraction of that from CD8 effectors
    il2_src = ph.il2_secretion * (fh.activation * (cd4e + ph.cd8_il2_fraction * cd8e)
                                  + fc.activation * (c4e + pc.cd8_il2_fraction * c8e))
    dydt[S.il2] = rec.cytokine_rate(il2, rec.secretion_to_concentration_rate(il2_src, volume), cy.il2_decay_rate, cy.il2_uptake_rate, (host_t + car_t + treg) / total)
    cxcl9_src = tumor_cxcl9 + mac_cxcl9
    dydt[S.cxcl9] = rec.cytokine_rate(cxcl9, rec.secretion_to_concentration_rate(cxcl9_src, volume), cy.cxcl9_decay_rate, 0.0, 0.0)

    # -------------------------------------------------------------- outputs
    aux[S.aux_tumor_live] = tum
    aux[S.aux_oxygen] = oxygen
    aux[S.aux_glucose] = glucose
    aux[S.aux_tryptophan] = tryptophan
    aux[S.aux_kynurenine] = kynurenine
    aux[S.aux_cystine] = cystine
    aux[S.aux_extracellular_iron] = fe_ext
    aux[S.aux_ros] = ros
    aux[S.aux_ox_lipid_signal] = ox_signal
    aux[S.aux_tumor_cystine_uptake] = fate.cystine_uptake
    aux[S.aux_tumor_gpx4_activity] = fate.gpx4_activity
    aux[S.aux_tumor_ferroptosis_hazard] = fate.ferroptosis * 1440.0
    aux[S.aux_tumor_pdl1] = sig.pdl1
    aux[S.aux_tumor_mhc1] = sig.mhc1
    aux[S.aux_tumor_ido1] = sig.ido1
    aux[S.aux_host_t_stimulation] = stim_h
    aux[S.aux_car_t_stimulation] = stim_c
    aux[S.aux_host_t_pd1_inhibition] = fh.pd1_inhibition
    aux[S.aux_pd1_blockade] = x[EX.pd1_blockade]


@kernel
def _below(y_before, y, first, last, threshold):
    """Whether the cells in the state range ``first..last`` fell below ``threshold`` (cells) over a step
    (from ``y_before`` to ``y``); if so, zeroes them in ``y``."""
    if _pool(y_before, first, last) >= threshold > _pool(y, first, last):
        for i in range(first, last + 1):
            y[i] = 0.0
        return 1
    return 0


@kernel
def extinguish(y_before, y, p):
    """Extinction below one cell: a population that falls below ``extinction_cells`` (cells; one cell of
    the whole modelled body) over an accepted step, from ``y_before`` to ``y``, is set to exactly zero in
    ``y``, and with no influx it stays there: a fraction of a cell cannot regrow. Returns how many
    populations died out.

    The populations are each tumour clone (antigen-positive, antigen-negative) and each CAR T lineage
    (CD8, CD4: all its states together). Host T cells, Tregs, NK cells and macrophages are recruited
    from the rest of the body at a rate (the pool is a local share of a body-wide population), so they
    are left continuous. A clone that has never reached one cell (an antigen-negative subclone still being
    born by antigen loss) is an expected count, below one a probability, and is kept until it has been a
    whole cell and falls back below one.
    """
    thr = p.tissue.extinction_cells
    n = _below(y_before, y, S.tumor_antigen_positive, S.tumor_antigen_positive, thr)
    n += _below(y_before, y, S.tumor_antigen_negative, S.tumor_antigen_negative, thr)
    n += _below(y_before, y, S.car_cd8_stem_memory, S.car_cd8_terminal_exhausted, thr)
    n += _below(y_before, y, S.car_cd4_stem_memory, S.car_cd4_terminal_exhausted, thr)
    return n


@kernel
def apply_event(kind, payload, y, drug_c0):
    """Apply a dosing event to the state (in place).

    ``EVENT_DOSE``: the payload holds the drug index and the concentration
    increment (mg/L). ``EVENT_INFUSION``: CAR T cells (CD8 and CD4 counts,
    the product's stem-like memory fraction, then its exhaustion axis); the
    pool's mean axis becomes the cell-weighted mean. The payload
    layout is defined in :mod:`tmesim.protocols.schedule`.
    """
    if kind == EVENT_DOSE:
        drug_c0[int(payload[DOSE_DRUG])] += payload[DOSE_CONCENTRATION]
        return
    n8 = payload[INFUSION_CD8]
    n4 = payload[INFUSION_CD4]
    fm = payload[INFUSION_MEMORY_FRACTION]
    old = _car_pool(y)
    new = n8 + n4
    if old + new > 0.0:
        for j in range(S.AXIS_LEN):
            i = S.car_t_mito_depolarization + j
            y[i] = (old * y[i] + new * payload[INFUSION_AXIS + j]) / (old + new)
    y[S.car_cd8_stem_memory] += n8 * fm
    y[S.car_cd8_effector] += n8 * (1.0 - fm)
    y[S.car_cd4_stem_memory] += n4 * fm
    y[S.car_cd4_effector] += n4 * (1.0 - fm)


@kernel
def rebase_drugs(t, drug_c0, drug_t0, p):
    """Move each drug's reference point to time ``t`` (min): ``c0 <- C(t)``."""
    for d in range(N_DRUGS):
        drug_c0[d] = pharmacology.concentration(drug_c0[d], drug_t0[d], t, p.drugs.half_life[d])
        drug_t0[d] = t


def initial_state(p) -> np.ndarray:
    """State at time 0 of a resolved parameter row ``p`` (:data:`.layout.ROW`).

    Populations scale with the initial tumour; the tumour's intracellular
    state starts at its resting state (no IFN-gamma, no drug) in the iron the
    initial macrophages leave it; cytokines at zero (they equilibrate within
    hours); T cell axes rested.
    """
    ini = p["initial"]
    y = np.zeros(S.N_STATE)
    tum = ini["initial_tumor_cells"]
    positive = p["tumor"]["tumor_car_antigen_fraction"]
    y[S.tumor_antigen_positive] = tum * positive
    y[S.tumor_antigen_negative] = tum * (1.0 - positive)
    y[S.cd8_effector] = tum * ini["initial_cd8_per_tumor_cell"]
    y[S.cd4_effector] = tum * ini["initial_cd4_per_tumor_cell"]
    y[S.treg] = tum * ini["initial_treg_per_tumor_cell"]
    y[S.nk] = tum * ini["initial_nk_per_tumor_cell"]
    mac_total = tum * ini["initial_macrophages_per_tumor_cell"]
    y[S.macrophage_m1] = mac_total * ini["initial_m1_fraction"]
    y[S.macrophage_m2] = mac_total * (1.0 - ini["initial_m1_fraction"])
    total = tum + y[S.cd8_effector] + y[S.cd4_effector] + y[S.treg] + y[S.nk] + mac_total + 1.0
    pm = p["macrophage"]
    fe_ext = mac.extracellular_iron(y[S.macrophage_m1] / total, y[S.macrophage_m2] / total, pm["m2_iron_export"],
                                    pm["m1_iron_retention"], 0.0)
    y[S.tumor_stat1:S.tumor_stat1 + S.TUMOR_STATE_LEN] = tumor.resting_state(p["tumor"], fe_ext)
    for off in (S.host_t_mito_depolarization, S.car_t_mito_depolarization):
        y[off:off + S.AXIS_LEN] = t_cell.rested_axis()
    return y


#: The row dtype this model reads (for callers that build rows by hand).
ROW_DTYPE = ROW.dtype
