"""FROZEN COPY of tmesim.wellmixed.model at 7bd9782 (before the cell-programs redesign): the twin
the composed model is tested against (tests/integration/test_model_twin.py). Do not edit.

Right-hand side of the well-mixed tumour-immune model.

One tumour compartment holds populations (cells) with the mean intracellular
state of each population and the interstitial concentrations of cytokines.
Fast metabolites (oxygen, glucose, tryptophan, cystine, iron, ROS) are taken
at quasi-steady state. Every biological process is a call into
:mod:`tmesim.biology`; this module only does the bookkeeping of who is where.
The equations are written out in docs/model.md.

``evaluate`` fills ``dydt`` (state units per minute) and ``aux`` (derived
outputs, then drug concentrations in mg/L). Drug concentrations are exact:
``c0 * exp(-k (t - t0))`` within a dosing segment.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from . import exhaustion as ex
from . import ferroptosis as fer
from . import growth as gr
from . import killing as kil
from . import macrophage as mac
from . import recruitment as rec
from . import signalling as sig
from .common import hill, occupancy
from . import index as P
from . import drugs as D
from .schedule import DOSE_CONCENTRATION, DOSE_DRUG, EVENT_DOSE, INFUSION_AXIS, INFUSION_CD4, INFUSION_CD8, INFUSION_MEMORY_FRACTION
from . import state as S

N_AUX = S.N_AUX_BASE + D.N_DRUGS
A0 = S.N_AUX_BASE  # first drug slot in aux
#: Below about this many viable cells (cells) the tumour's intracellular
#: states are held (see ``evaluate``): far below one cell, it has no cells.
TUMOR_STATE_MIN_CELLS = 1e-3


@kernel
def _drug_concentration(d, t, drug_c0, drug_t0, p):
    """Concentration (mg/L) of drug ``d`` at ``t`` (min): one-compartment decay."""
    k = np.log(2.0) / p[P.anti_pd1_half_life + 4 * d]
    return drug_c0[d] * np.exp(-k * (t - drug_t0[d]))


@kernel
def _switch_constants(p):
    """Lipid-peroxidation initiation rate (1/min/uM) and maximal GPX4 rate (1/min) of a row's
    tumour line from its resting state: iron import/export, GSH synthesis/turnover at full
    SLC7A11 and cystine, the reference PUFA supply (1) and ROS (1). Knobs (SLC7A11
    over-expression, GPX4 loss, PUFA supply) act on top of it. A line with no resting iron
    or glutathione has no switch to calibrate (both 0)."""
    gsh0 = p[P.gsh_synthesis_rate] / max(p[P.gsh_turnover_rate], 1e-300)
    act0 = fer.gpx4_activity(gsh0, p[P.gpx4_gsh_km], 1.0, 0.0)
    iron0 = p[P.iron_import_rate] / max(p[P.iron_export_rate], 1e-300)
    if act0 <= 0.0 or iron0 <= 0.0:
        return 0.0, 0.0
    k_gpx4 = fer.gpx4_max_rate_at_rest(p[P.gpx4_capacity_margin], p[P.ferroptosis_threshold], p[P.lipid_propagation_rate],
                                       iron0, 1.0, act0)
    k_init = fer.initiation_rate_at_rest(p[P.tumor_lipid_peroxide_resting], k_gpx4, p[P.lipid_propagation_rate],
                                         p[P.fsp1_rate], p[P.gpx4_lpo_km], iron0, 1.0, act0)
    return k_init, k_gpx4


@kernel
def _drug_effect(aux, p, drug, first_param):
    """``emax * C/(ec50 + C)`` for a drug whose ec50/emax follow its half-life
    and volume in the parameter vector (see params/catalogue.yaml order)."""
    return occupancy(aux[A0 + drug], p[first_param + 2], p[first_param + 3])


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
def _axis(y, dydt, off, p, stim, drivers, expression, proteasome_inhibition, import_block, gpx4_inhibition, rta_block, lipid_rel, ros, dilution):
    """Mean exhaustion axis of one T cell pool (states at ``off``..``off+7``).

    ``dilution`` (1/min) is fresh-cell influx over pool size: recruits arrive
    rested (depolarisation 0, everything else 1, lipid peroxide 0, CD36 1) and
    pull the mean towards that state. CD36 relaxes towards a level the lipid
    milieu sets and scales lipid uptake.
    """
    depol = y[off]
    prot = y[off + 1]
    fheme = y[off + 2]
    nheme = y[off + 3]
    bach2 = y[off + 4]
    pd1 = y[off + 5]
    lpo = y[off + 6]
    cd36 = y[off + 7]
    k_imp = p[P.heme_nuclear_import_rate]
    k_exp = p[P.heme_nuclear_export_rate]
    dydt[off] = ex.mito_depolarization_rate(depol, stim, drivers, p[P.mito_depolarization_rate], p[P.mito_repair_rate]) - dilution * depol
    dydt[off + 1] = ex.proteasome_rate(prot, depol, expression, p[P.proteasome_induction_max], proteasome_inhibition, p[P.proteasome_time_constant]) + dilution * (1.0 - prot)
    dydt[off + 2] = ex.free_heme_rate(fheme, nheme, prot, depol, p[P.heme_depolarization_gain], p[P.heme_clearance_rate], k_imp, import_block, k_exp) + dilution * (1.0 - fheme)
    dydt[off + 3] = ex.nuclear_heme_rate(fheme, nheme, k_imp, import_block, k_exp) + dilution * (1.0 - nheme)
    dydt[off + 4] = ex.bach2_rate(bach2, nheme, k_imp / k_exp, p[P.bach2_heme_half], p[P.bach2_heme_hill], p[P.bach2_time_constant]) + dilution * (1.0 - bach2)
    dydt[off + 5] = ex.pd1_rate(pd1, stim, p[P.pd1_induction_max], p[P.pd1_time_constant]) + dilution * (1.0 - pd1)
    dydt[off + 7] = (1.0 + p[P.t_cell_cd36_induction_max] * hill(lipid_rel, p[P.t_cell_cd36_lipid_half], 1.0) - cd36) / p[P.t_cell_cd36_time_constant] + dilution * (1.0 - cd36)
    cd36_ref = 1.0 + p[P.t_cell_cd36_induction_max] * hill(1.0, p[P.t_cell_cd36_lipid_half], 1.0)
    dydt[off + 6] = fer.t_cell_lipid_peroxide_rate(lpo, cd36 / cd36_ref * lipid_rel, ros, gpx4_inhibition, rta_block, p[P.t_cell_lipid_uptake_rate], p[P.t_cell_gpx4_rate]) - dilution * lpo


@kernel
def evaluate(t, y, p, drug_c0, drug_t0, dydt, aux):
    """Fill ``dydt`` (per minute) and ``aux`` for state ``y`` at time ``t`` (min).

    Parameters
    ----------
    t : time (min).
    y : state vector (see :mod:`.state`), units per variable.
    p : parameter vector in internal units (see :mod:`tmesim.params.index`).
    drug_c0, drug_t0 : drug concentration (mg/L) at segment start and the
        segment start time (min), per drug.
    dydt, aux : outputs, overwritten.
    """
    for i in range(dydt.shape[0]):
        dydt[i] = 0.0

    # ---------------------------------------------------------------- drugs
    for d in range(D.N_DRUGS):
        aux[A0 + d] = _drug_concentration(d, t, drug_c0, drug_t0, p)
    pd1_blockade = 1.0 - (1.0 - _drug_effect(aux, p, D.anti_pd1, P.anti_pd1_half_life)) * (
        1.0 - _drug_effect(aux, p, D.anti_pdl1, P.anti_pdl1_half_life)
    )
    ctla4 = _drug_effect(aux, p, D.anti_ctla4, P.anti_ctla4_half_life)
    xc_inhibition = _drug_effect(aux, p, D.ike, P.ike_half_life)
    cystine_depletion = _drug_effect(aux, p, D.cysteinase, P.cysteinase_half_life)
    gpx4_inhibition = _drug_effect(aux, p, D.rsl3, P.rsl3_half_life)
    rta_block = 1.0 - (1.0 - _drug_effect(aux, p, D.liproxstatin, P.liproxstatin_half_life)) * (
        1.0 - _drug_effect(aux, p, D.ferrostatin, P.ferrostatin_half_life)
    )
    chelation = _drug_effect(aux, p, D.deferoxamine, P.deferoxamine_half_life)
    tlr = _drug_effect(aux, p, D.tlr78_agonist, P.tlr78_agonist_half_life)
    csf1r = _drug_effect(aux, p, D.csf1r_inhibitor, P.csf1r_inhibitor_half_life)
    heme_import_block = _drug_effect(aux, p, D.pgrmc2_blocker, P.pgrmc2_blocker_half_life)
    ido_inhibition = _drug_effect(aux, p, D.ido_inhibitor, P.ido_inhibitor_half_life)

    # ---------------------------------------------------------- populations
    tum_pos, tum_neg = y[S.tumor_antigen_positive], y[S.tumor_antigen_negative]
    tum = tum_pos + tum_neg
    dead = y[S.tumor_dead_apoptotic] + y[S.tumor_dead_ferroptotic] + y[S.tumor_dead_necrotic]
    cd8e, cd8p, cd8t = y[S.cd8_effector], y[S.cd8_progenitor_exhausted], y[S.cd8_terminal_exhausted]
    cd8a, cd8s = y[S.cd8_anergic], y[S.cd8_senescent]
    cd4e, cd4p, cd4t = y[S.cd4_effector], y[S.cd4_progenitor_exhausted], y[S.cd4_terminal_exhausted]
    treg = y[S.treg]
    c8e, c8p, c8t = y[S.car_cd8_effector], y[S.car_cd8_progenitor_exhausted], y[S.car_cd8_terminal_exhausted]
    c4e, c4p, c4t = y[S.car_cd4_effector], y[S.car_cd4_progenitor_exhausted], y[S.car_cd4_terminal_exhausted]
    nk, m1, m2 = y[S.nk], y[S.macrophage_m1], y[S.macrophage_m2]
    host_t = _host_t_pool(y)
    car_t = _car_pool(y)
    lymph = host_t + car_t + treg + nk
    total = tum + dead + lymph + m1 + m2 + 1.0
    volume = total * p[P.tissue_volume_per_cell] * p[P.interstitial_fraction]  # um^3
    tum_ref = tum + dead + 1.0
    m1_ratio = m1 / total
    m2_ratio = m2 / total

    ifng, il12, il10, tgfb, il2, cxcl9 = y[S.ifng], y[S.il12], y[S.il10], y[S.tgfb], y[S.il2], y[S.cxcl9]
    il12_eff = il12 * (1.0 - p[P.il12_blockade])
    host_ifngr = 1.0 - p[P.host_ifngr_loss]
    tumor_ifngr = 1.0 - p[P.tumor_ifngr_loss]
    competence = p[P.host_immune_competence]

    # ------------------------------------------- quasi-steady microenvironment
    oxygen = p[P.oxygen_vessel] * p[P.oxygen_supply_factor] / (1.0 + (total / p[P.hypoxia_size_half]) ** 0.5)
    glucose = p[P.glucose_plasma] * p[P.glucose_supply_factor] / (1.0 + (total / p[P.glucose_size_half]) ** 0.5)
    stat1 = y[S.tumor_stat1]
    ido1 = sig.induced_level(stat1, 1.0, p[P.ido1_induction_fold]) * (1.0 - ido_inhibition)
    tryptophan = p[P.tryptophan_plasma] * p[P.tryptophan_supply_factor] / (1.0 + p[P.ido1_tryptophan_consumption] * ido1 * tum / total)
    kynurenine = p[P.tryptophan_plasma] * p[P.tryptophan_supply_factor] - tryptophan
    cystine = p[P.cystine_plasma] * (1.0 - cystine_depletion)
    fe_ext = mac.extracellular_iron(m1_ratio, m2_ratio, p[P.m2_iron_export], p[P.m1_iron_retention], chelation)
    ros = mac.ros_level(m1_ratio, p[P.m1_ros])
    ox_signal = y[S.tumor_dead_ferroptotic] / total
    lipid_rel = p[P.tme_lipid_level] * (1.0 + p[P.dead_cell_lipid_release] * dead / total)

    # -------------------------------------------------- tumour STAT1 targets
    pdl1 = sig.induced_level(stat1, 1.0, p[P.pdl1_induction_fold])
    mhc1 = sig.induced_level(stat1, 1.0, p[P.mhc1_induction_fold])

    # ------------------------------------------------------- ferroptosis core
    slc = y[S.tumor_slc7a11]
    acsl4 = y[S.tumor_acsl4]
    gsh = y[S.tumor_gsh]
    iron = y[S.tumor_labile_iron]
    pufa = y[S.tumor_pufa_pl]
    lpo = y[S.tumor_lipid_peroxide]
    uptake = fer.cystine_uptake(slc, xc_inhibition, cystine, p[P.cystine_km], p[P.cystine_plasma])
    gpx4_act = fer.gpx4_activity(gsh, p[P.gpx4_gsh_km], 1.0 - p[P.tumor_gpx4_loss], gpx4_inhibition)
    propagation = fer.peroxidation_propagation(iron, pufa, lpo, p[P.lipid_propagation_rate], rta_block)
    k_init, k_gpx4 = _switch_constants(p)
    h_fer = fer.ferroptosis_hazard(lpo, p[P.ferroptosis_threshold], p[P.ferroptosis_hill], p[P.ferroptosis_max_rate])

    dydt[S.tumor_stat1] = sig.stat1_rate(stat1, ifng, tumor_ifngr, p[P.stat1_ifng_ec50], p[P.stat1_hill], p[P.stat1_time_constant])
    dydt[S.tumor_slc7a11] = (fer.slc7a11_target(stat1, p[P.slc7a11_repression_max], p[P.tumor_slc7a11_overexpression]) - slc) / p[P.xc_time_constant]
    dydt[S.tumor_acsl4] = (fer.acsl4_target(stat1, p[P.acsl4_induction_max]) - acsl4) / p[P.acsl4_time_constant]
    dydt[S.tumor_gsh] = fer.gsh_rate(gsh, uptake, p[P.gsh_synthesis_rate], p[P.gsh_turnover_rate])
    dydt[S.tumor_labile_iron] = fer.labile_iron_rate(iron, fe_ext, p[P.iron_import_rate], p[P.iron_export_rate], p[P.chelation_max_rate] * chelation)
    dydt[S.tumor_pufa_pl] = fer.pufa_pl_rate(pufa, acsl4, p[P.pufa_supply], p[P.pufa_pl_turnover_rate], propagation, p[P.peroxidation_pufa_cost])
    dydt[S.tumor_lipid_peroxide] = fer.lipid_peroxide_rate(
        lpo, iron, pufa, ros, gpx4_act, propagation, k_init, rta_block, k_gpx4, p[P.gpx4_lpo_km], p[P.fsp1_rate]
    )
    # The mean intracellular state of an extinct tumour means nothing; holding
    # it still stops it from driving the step size for the rest of the run.
    presence = tum / (tum + TUMOR_STATE_MIN_CELLS)
    for i in range(S.tumor_stat1, S.tumor_lipid_peroxide + 1):
        dydt[i] *= presence

    # ------------------------------------------------- T cell signals/drivers
    stim_host = ex.antigen_stimulation(tum * mhc1 * p[P.tumor_antigenicity] / (host_t + 1.0), p[P.antigen_per_t_cell_half])
    stim_car = ex.antigen_stimulation(tum_pos / (car_t + 1.0), p[P.antigen_per_t_cell_half])
    hypoxia = 1.0 - hill(oxygen, p[P.t_cell_hypoxia_half], 2.0)
    glucose_lack = 1.0 - hill(glucose, p[P.t_cell_glucose_half], 1.0)
    # GCN2 senses tryptophan shortage, AhR senses kynurenine: fitness lost to either
    trp_lack = 1.0 - hill(tryptophan, p[P.t_cell_tryptophan_half], 1.0) * (1.0 - hill(kynurenine, p[P.kynurenine_half], 1.0))
    il10_sig = hill(il10, p[P.il10_half], 1.0)
    tgfb_sig = hill(tgfb, p[P.tgfb_half], 1.0)
    il12_boost = kil.cytokine_boost(il12_eff, p[P.il12_half], p[P.il12_max_boost])
    help_sig = hill(il2, p[P.il2_half], 1.0)
    suppress = 1.0 - (1.0 - kil.suppression(tgfb, p[P.tgfb_half], p[P.tgfb_max_suppression])) * (
        1.0 - kil.suppression(il10, p[P.il10_half], p[P.il10_max_suppression])
    )
    nutrient = hill(glucose, p[P.t_cell_glucose_half], 1.0)

    ah = S.host_t_mito_depolarization
    ac = S.car_t_mito_depolarization
    host_lpo_dys = hill(y[ah + 6], 1.0, 2.0)
    car_lpo_dys = hill(y[ac + 6], 1.0, 2.0)
    drv_host = ex.driver_load(hypoxia, glucose_lack, trp_lack, il10_sig, tgfb_sig, host_lpo_dys,
                              p[P.w_hypoxia], p[P.w_glucose], p[P.w_tryptophan], p[P.w_il10], p[P.w_tgfb], p[P.w_lipid])
    drv_car = ex.driver_load(hypoxia, glucose_lack, trp_lack, il10_sig, tgfb_sig, car_lpo_dys,
                             p[P.w_hypoxia], p[P.w_glucose], p[P.w_tryptophan], p[P.w_il10], p[P.w_tgfb], p[P.w_lipid])
    pd1_inh_host = ex.pd1_inhibition(y[ah + 5], pdl1, pd1_blockade, p[P.pd1_max_inhibition], p[P.pd1_engagement_half])
    pd1_inh_car = ex.pd1_inhibition(y[ac + 5], pdl1, pd1_blockade, p[P.pd1_max_inhibition], p[P.pd1_engagement_half])
    # depolarised mitochondria cost function directly (Yu 2020)
    fit_host = 1.0 - p[P.depolarization_function_loss] * y[ah]
    fit_car = 1.0 - p[P.depolarization_function_loss] * y[ac]

    # ------------------------------------------------------------- killing
    f_prog = p[P.progenitor_function]
    f_term = p[P.terminal_function]
    k_t = p[P.ctl_max_kill_rate]
    base_host = kil.t_cell_kill_rate(k_t, fit_host, mhc1, pd1_inh_host, suppress, il12_boost)
    base_car = kil.t_cell_kill_rate(k_t, fit_car, 1.0, pd1_inh_car, suppress, il12_boost)
    cap_cd8 = base_host * (cd8e + f_prog * cd8p + f_term * cd8t) * (1.0 - host_lpo_dys)
    cap_cd4 = base_host * p[P.cd4_kill_fraction] * (cd4e + f_prog * cd4p + f_term * cd4t) * (1.0 - host_lpo_dys)
    cap_c8 = base_car * p[P.car_kill_fold] * (c8e + f_prog * c8p + f_term * c8t) * (1.0 - car_lpo_dys)
    cap_c4 = base_car * p[P.car_kill_fold] * p[P.cd4_kill_fraction] * (c4e + f_prog * c4p + f_term * c4t) * (1.0 - car_lpo_dys)
    # IL-12 drives NK expansion and cytotoxicity; IFN-gamma (through host IFNGR) only primes cytotoxicity
    nk_il12 = kil.cytokine_boost(il12_eff, p[P.il12_half], p[P.nk_il12_boost])
    nk_act = nk_il12 + p[P.nk_ifng_boost] * host_ifngr * hill(ifng, p[P.ifng_half], 1.0)
    innate = p[P.tumor_innate_susceptibility]  # the line's escape from innate killing
    cap_nk = kil.nk_kill_rate(p[P.nk_max_kill_rate], mhc1, p[P.nk_mhc1_inhibition], nk_act) * innate * nk * (1.0 - suppress)
    cap_m1 = p[P.m1_kill_rate] * innate * m1 * (1.0 - kil.suppression(il10, p[P.il10_half], p[P.il10_max_suppression]))
    cap_any = cap_cd8 + cap_cd4 + cap_nk + cap_m1
    cap_car = cap_c8 + cap_c4
    effectors = cd8e + cd4e + c8e + c4e + nk + m1 + 1.0
    kills_any = cap_any * kil.target_availability(tum, effectors, p[P.kill_saturation_ratio])
    kills_car = cap_car * kil.target_availability(tum_pos, effectors, p[P.kill_saturation_ratio])
    kills = kills_any + kills_car
    share_any = kills_any / (cap_any + 1e-300)
    share_car = kills_car / (cap_car + 1e-300)
    neg_share = tum_neg / (tum + 1e-300)

    h_ifng = gr.ifng_apoptosis_hazard(stat1, p[P.ifng_apoptosis_max_rate])
    h_nec = gr.necrosis_hazard(oxygen, p[P.necrosis_oxygen_half], 6.0, p[P.necrosis_max_rate])
    prolif = gr.proliferation_rate(
        p[P.tumor_growth_rate], oxygen, p[P.tumor_oxygen_half], p[P.oxygen_vessel], glucose, p[P.tumor_glucose_half],
        p[P.glucose_plasma], iron, p[P.tumor_iron_half], p[P.labile_iron_rest], (tum + dead) / p[P.tumor_carrying_capacity],
        stat1, p[P.stat1_cytostasis_max],
    )
    net = prolif - h_ifng - h_fer - h_nec - p[P.tumor_basal_death_rate]
    loss = prolif * p[P.tumor_car_antigen_loss_per_division] * tum_pos
    dydt[S.tumor_antigen_positive] = net * tum_pos - loss - kills_any * (1.0 - neg_share) - kills_car
    dydt[S.tumor_antigen_negative] = net * tum_neg + loss - kills_any * neg_share
    clear = mac.clearance_rate(p[P.corpse_clearance_rate], p[P.phagocytosis_rate], (m1 + m2) / tum_ref)
    dydt[S.tumor_dead_apoptotic] = kills + (h_ifng + p[P.tumor_basal_death_rate]) * tum - clear * y[S.tumor_dead_apoptotic]
    dydt[S.tumor_dead_ferroptotic] = h_fer * tum - clear * y[S.tumor_dead_ferroptotic]
    dydt[S.tumor_dead_necrotic] = h_nec * tum - clear * y[S.tumor_dead_necrotic]
    dydt[S.kills_cd8] = cap_cd8 * share_any
    dydt[S.kills_cd4] = cap_cd4 * share_any
    dydt[S.kills_car_cd8] = cap_c8 * share_car
    dydt[S.kills_car_cd4] = cap_c4 * share_car
    dydt[S.kills_nk] = cap_nk * share_any
    dydt[S.kills_macrophage] = cap_m1 * share_any
    dydt[S.deaths_ifng_apoptosis] = h_ifng * tum
    dydt[S.deaths_ferroptosis] = h_fer * tum
    dydt[S.deaths_necrosis] = h_nec * tum

    # ---------------------------------------------------------- host T cells
    size_sig = tum + dead
    boost_host = competence * (1.0 + p[P.ctla4_priming_boost] * ctla4) * (1.0 + p[P.dead_cell_priming_boost] * dead / tum_ref)
    infl_cd8 = rec.recruitment_rate(p[P.cd8_recruitment_max], size_sig, p[P.recruitment_size_half], cxcl9, p[P.cxcl9_half], p[P.cxcl9_recruitment_weight], boost_host)
    infl_cd4 = infl_cd8 * p[P.cd4_to_cd8_recruitment]
    infl_treg = rec.recruitment_rate(p[P.treg_recruitment_max], size_sig, p[P.recruitment_size_half], 0.0, 1.0, 0.0, competence)
    infl_nk = rec.recruitment_rate(p[P.nk_recruitment_max], size_sig, p[P.recruitment_size_half], cxcl9, p[P.cxcl9_half], p[P.cxcl9_recruitment_weight], competence)
    infl_mac = rec.recruitment_rate(p[P.macrophage_recruitment_max], size_sig, p[P.recruitment_size_half], 0.0, 1.0, 0.0, 1.0)

    growth_support = il12_boost * nutrient * (1.0 - suppress) * (1.0 + p[P.il2_proliferation_boost] * help_sig)
    prolif_host = p[P.t_cell_proliferation_rate] * stim_host * growth_support * (1.0 - pd1_inh_host) * fit_host
    prolif_car = p[P.car_proliferation_rate] * stim_car * growth_support * (1.0 - pd1_inh_car) * fit_car
    bach2_h = y[ah + 4]
    bach2_c = y[ac + 4]
    to_prog_h = ex.exhaustion_rate(stim_host, drv_host, pd1_inh_host, p[P.exhaustion_rate], p[P.w_pd1]) * (1.0 + p[P.depolarization_exhaustion_weight] * y[ah])
    to_prog_c = ex.exhaustion_rate(stim_car, drv_car, pd1_inh_car, p[P.exhaustion_rate], p[P.w_pd1]) * (1.0 + p[P.depolarization_exhaustion_weight] * y[ac])
    to_term_h = ex.terminal_commitment_rate(bach2_h, stim_host, drv_host, p[P.terminal_commitment_rate], p[P.bach2_loss_half], p[P.bach2_loss_hill])
    to_term_c = ex.terminal_commitment_rate(bach2_c, stim_car, drv_car, p[P.terminal_commitment_rate], p[P.bach2_loss_half], p[P.bach2_loss_hill])
    reinv_h = ex.reinvigoration_rate(pd1_blockade, bach2_h, p[P.reinvigoration_rate])
    reinv_c = ex.reinvigoration_rate(pd1_blockade, bach2_c, p[P.reinvigoration_rate])
    prog_self_h = p[P.progenitor_proliferation_rate] * stim_host * np.minimum(bach2_h, 1.5) * (1.0 + p[P.blockade_progenitor_boost] * pd1_blockade) * growth_support
    prog_self_c = p[P.progenitor_proliferation_rate] * stim_car * np.minimum(bach2_c, 1.5) * (1.0 + p[P.blockade_progenitor_boost] * pd1_blockade) * growth_support
    h_tfer_h = fer.ferroptosis_hazard(y[ah + 6], 1.0, p[P.t_cell_ferroptosis_hill], p[P.t_cell_ferroptosis_max_rate])
    h_tfer_c = fer.ferroptosis_hazard(y[ac + 6], 1.0, p[P.t_cell_ferroptosis_hill], p[P.t_cell_ferroptosis_max_rate])
    d_e, d_p, d_t = p[P.effector_death_rate], p[P.progenitor_death_rate], p[P.terminal_death_rate]
    car_ifng_tox = p[P.car_ifng_toxicity] * hill(ifng, p[P.ifng_half], 1.0)

    tf = _t_pool(y, dydt, S.cd8_effector, S.cd8_progenitor_exhausted, S.cd8_terminal_exhausted, infl_cd8,
                 prolif_host, prog_self_h, to_prog_h, to_term_h, reinv_h, d_e, d_p, d_t, h_tfer_h)
    tf += _t_pool(y, dydt, S.cd4_effector, S.cd4_progenitor_exhausted, S.cd4_terminal_exhausted, infl_cd4,
                  prolif_host, prog_self_h, to_prog_h, to_term_h, reinv_h, d_e, d_p, d_t, h_tfer_h)
    tf += _t_pool(y, dydt, S.car_cd8_effector, S.car_cd8_progenitor_exhausted, S.car_cd8_terminal_exhausted, 0.0,
                  prolif_car, prog_self_c, to_prog_c, to_term_c, reinv_c, d_e + car_ifng_tox, d_p + car_ifng_tox, d_t + car_ifng_tox, h_tfer_c)
    tf += _t_pool(y, dydt, S.car_cd4_effector, S.car_cd4_progenitor_exhausted, S.car_cd4_terminal_exhausted, 0.0,
                  prolif_car, prog_self_c, to_prog_c, to_term_c, reinv_c, d_e + car_ifng_tox, d_p + car_ifng_tox, d_t + car_ifng_tox, h_tfer_c)
    # stem-like memory CAR T cells feed the effector pools and re-form from them as antigen wanes
    # memory cells divide faster than effectors (same CAR signal and growth support); BACH2 and antigen decide their daughters' fate
    stem_q = ex.daughter_stem_share(bach2_c, stim_car, p[P.car_memory_self_renewal_max], p[P.car_memory_self_renewal_stimulated])
    mem_form = ex.memory_formation_rate(stim_car, bach2_c, p[P.car_memory_formation_rate])
    d_mem = p[P.car_memory_death_rate] + car_ifng_tox
    prolif_mem = prolif_car * p[P.car_memory_proliferation_fold]
    tf += _memory_pool(y, dydt, S.car_cd8_stem_memory, S.car_cd8_effector, prolif_mem, stem_q, mem_form, d_mem, h_tfer_c)
    tf += _memory_pool(y, dydt, S.car_cd4_stem_memory, S.car_cd4_effector, prolif_mem, stem_q, mem_form, d_mem, h_tfer_c)
    # anergy (stimulation without help) and senescence (replicative/oxidative) of host CD8
    to_anergy = ex.anergy_rate(stim_host, help_sig, p[P.anergy_rate])
    from_anergy = ex.anergy_exit_rate(help_sig, p[P.anergy_exit_rate])
    to_sen = ex.senescence_rate(prolif_host, ros, p[P.senescence_per_division])
    dydt[S.cd8_effector] += from_anergy * cd8a - (to_anergy + to_sen) * cd8e
    dydt[S.cd8_anergic] = to_anergy * cd8e - (from_anergy + d_e) * cd8a
    dydt[S.cd8_senescent] = to_sen * cd8e - p[P.senescent_death_rate] * cd8s
    dydt[S.treg] = infl_treg + (p[P.treg_proliferation_rate] * help_sig - p[P.treg_death_rate] - p[P.ctla4_treg_depletion] * ctla4) * treg
    dydt[S.t_cell_ferroptosis] = tf

    # NK cells: recruited, expanded by IL-12
    dydt[S.nk] = infl_nk + (p[P.nk_proliferation_rate] * (nk_il12 - 1.0) - p[P.nk_death_rate]) * nk

    # ---------------------------------------------------------- macrophages
    k21 = mac.m2_to_m1_rate(p[P.m2_to_m1_rate], ifng, p[P.ifng_half], il12_eff, p[P.il12_half], tlr,
                            p[P.m1_ifng_weight], p[P.m1_il12_weight], p[P.m1_tlr_weight], host_ifngr,
                            csf1r, p[P.m1_csf1r_weight])
    k12 = mac.m1_to_m2_rate(p[P.m1_to_m2_rate], il10, p[P.il10_half], tgfb, p[P.tgfb_half], ox_signal, p[P.ox_lipid_half],
                            p[P.m2_il10_weight], p[P.m2_tgfb_weight], p[P.m2_ox_lipid_weight], tlr)
    # CSF1R signalling drives monocyte-to-M2 differentiation and M2 survival: its
    # inhibition keeps M2-fated recruits off that path (a share of them enters
    # M1-like instead: inflammatory monocytes need no CSF1R), depletes M2-like
    # TAMs and, in k21, re-educates the survivors
    m2_fated = infl_mac * (1.0 - p[P.recruit_m1_fraction])
    dydt[S.macrophage_m1] = infl_mac * p[P.recruit_m1_fraction] + m2_fated * csf1r * p[P.csf1r_monocyte_redirect] + k21 * m2 - (
        k12 + p[P.macrophage_death_rate]) * m1
    dydt[S.macrophage_m2] = m2_fated * (1.0 - csf1r) + k12 * m1 - (
        k21 + p[P.macrophage_death_rate] + p[P.csf1r_m2_depletion] * csf1r) * m2

    # ------------------------------------------------------- exhaustion axes
    dil_h = (infl_cd8 + infl_cd4) / (host_t + 1.0)
    _axis(y, dydt, ah, p, stim_host, drv_host, 1.0, 0.0, heme_import_block, gpx4_inhibition, rta_block, lipid_rel, ros, dil_h)
    _axis(y, dydt, ac, p, stim_car, drv_car, p[P.car_proteasome_expression], 0.0, heme_import_block, gpx4_inhibition, rta_block, lipid_rel, ros, 0.0)

    # ------------------------------------------------------------ cytokines
    act_h = stim_host * (1.0 - pd1_inh_host) * (1.0 - suppress) * (1.0 - host_lpo_dys)
    act_c = stim_car * (1.0 - pd1_inh_car) * (1.0 - suppress) * (1.0 - car_lpo_dys)
    s_t = p[P.t_cell_ifng_secretion]
    ifng_src = (
        s_t * act_h * (cd8e + f_prog * cd8p + f_term * cd8t + p[P.cd4_ifng_fold] * (cd4e + f_prog * cd4p + f_term * cd4t))
        + s_t * act_c * (1.0 - p[P.car_ifng_knockout]) * (c8e + f_prog * c8p + f_term * c8t + p[P.cd4_ifng_fold] * (c4e + f_prog * c4p + f_term * c4t))
        + p[P.nk_ifng_secretion] * nk * nk_act * kil.nk_target_engagement(tum / (nk + 1.0), p[P.nk_target_engagement_half])
    )
    # every host cell bears IFNGR, including the stroma the model does not track,
    # so tumour IFNGR loss leaves the stromal sink (Bach1997; consumption sets reach, Centofanti2023)
    f_stroma = p[P.stromal_cell_fraction]
    receptor = (1.0 - f_stroma) * (tum * tumor_ifngr + (lymph + m1 + m2) * host_ifngr) / total + f_stroma * host_ifngr
    dydt[S.ifng] = rec.cytokine_rate(ifng, rec.secretion_to_concentration_rate(ifng_src, volume), p[P.ifng_decay_rate], p[P.ifng_uptake_rate], receptor)
    il12_src = mac.il12_secretion(m1, m2, ifng, p[P.ifng_half], host_ifngr, p[P.m1_il12_secretion], p[P.m2_il12_secretion], p[P.il12_ifng_induction], 0.0) * competence
    dydt[S.il12] = rec.cytokine_rate(il12, rec.secretion_to_concentration_rate(il12_src, volume), p[P.il12_decay_rate], p[P.il12_uptake_rate], lymph / total)
    il10_src = p[P.m2_il10_secretion] * m2 + p[P.treg_il10_secretion] * treg + p[P.tumor_il10_secretion] * tum
    dydt[S.il10] = rec.cytokine_rate(il10, rec.secretion_to_concentration_rate(il10_src, volume), p[P.il10_decay_rate], 0.0, 0.0)
    tgfb_src = p[P.m2_tgfb_secretion] * m2 + p[P.treg_tgfb_secretion] * treg + p[P.tumor_tgfb_secretion] * tum
    dydt[S.tgfb] = rec.cytokine_rate(tgfb, rec.secretion_to_concentration_rate(tgfb_src, volume), p[P.tgfb_decay_rate], 0.0, 0.0)
    il2_src = p[P.il2_secretion] * (act_h * (cd4e + p[P.cd8_il2_fraction] * cd8e) + act_c * (c4e + p[P.cd8_il2_fraction] * c8e))
    dydt[S.il2] = rec.cytokine_rate(il2, rec.secretion_to_concentration_rate(il2_src, volume), p[P.il2_decay_rate], p[P.il2_uptake_rate], (host_t + car_t + treg) / total)
    cxcl9_src = p[P.tumor_cxcl9_secretion] * tum * sig.induced_level(stat1, 1.0, p[P.cxcl9_induction_fold]) + p[P.m1_cxcl9_secretion] * m1 * (
        1.0 + (p[P.cxcl9_induction_fold] - 1.0) * host_ifngr * hill(ifng, p[P.ifng_half], 1.0))
    dydt[S.cxcl9] = rec.cytokine_rate(cxcl9, rec.secretion_to_concentration_rate(cxcl9_src, volume), p[P.cxcl9_decay_rate], 0.0, 0.0)

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
    aux[S.aux_tumor_cystine_uptake] = uptake
    aux[S.aux_tumor_gpx4_activity] = gpx4_act
    aux[S.aux_tumor_ferroptosis_hazard] = h_fer * 1440.0
    aux[S.aux_tumor_pdl1] = pdl1
    aux[S.aux_tumor_mhc1] = mhc1
    aux[S.aux_tumor_ido1] = ido1
    aux[S.aux_host_t_stimulation] = stim_host
    aux[S.aux_car_t_stimulation] = stim_car
    aux[S.aux_host_t_pd1_inhibition] = pd1_inh_host
    aux[S.aux_pd1_blockade] = pd1_blockade


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
    for d in range(D.N_DRUGS):
        drug_c0[d] = _drug_concentration(d, t, drug_c0, drug_t0, p)
        drug_t0[d] = t


def initial_state(p: np.ndarray) -> np.ndarray:
    """State at time 0 from the initial-condition parameters.

    Populations scale with the initial tumour; intracellular states start at
    their resting steady state (no IFN-gamma, no drug); cytokines at zero
    (they equilibrate within hours); T cell axes rested.
    """
    y = np.zeros(S.N_STATE)
    tum = p[P.initial_tumor_cells]
    y[S.tumor_antigen_positive] = tum * p[P.tumor_car_antigen_fraction]
    y[S.tumor_antigen_negative] = tum * (1.0 - p[P.tumor_car_antigen_fraction])
    y[S.cd8_effector] = tum * p[P.initial_cd8_per_tumor_cell]
    y[S.cd4_effector] = tum * p[P.initial_cd4_per_tumor_cell]
    y[S.treg] = tum * p[P.initial_treg_per_tumor_cell]
    y[S.nk] = tum * p[P.initial_nk_per_tumor_cell]
    mac_total = tum * p[P.initial_macrophages_per_tumor_cell]
    y[S.macrophage_m1] = mac_total * p[P.initial_m1_fraction]
    y[S.macrophage_m2] = mac_total * (1.0 - p[P.initial_m1_fraction])
    slc = p[P.tumor_slc7a11_overexpression]
    y[S.tumor_slc7a11] = slc
    y[S.tumor_acsl4] = 1.0
    y[S.tumor_gsh] = p[P.gsh_synthesis_rate] * slc / p[P.gsh_turnover_rate]
    total = tum + y[S.cd8_effector] + y[S.cd4_effector] + y[S.treg] + y[S.nk] + mac_total + 1.0
    fe_ext = mac.extracellular_iron(y[S.macrophage_m1] / total, y[S.macrophage_m2] / total, p[P.m2_iron_export], p[P.m1_iron_retention], 0.0)
    y[S.tumor_labile_iron] = p[P.iron_import_rate] * fe_ext / p[P.iron_export_rate]
    y[S.tumor_pufa_pl] = p[P.pufa_supply]
    y[S.tumor_lipid_peroxide] = p[P.tumor_lipid_peroxide_resting]
    for off in (S.host_t_mito_depolarization, S.car_t_mito_depolarization):
        y[off:off + S.AXIS_LEN] = (0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0)
    return y
