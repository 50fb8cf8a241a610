"""The T cell program: environment signals -> the exhaustion axis -> function and fate.

A T cell carries the exhaustion axis :data:`AXIS` (mitochondrial
depolarisation, proteasome activity, free and nuclear haem, BACH2, PD-1,
lipid peroxide, and the CD36 that sets its lipid uptake). :func:`sense` turns the environment it sees into signals
(hypoxia, nutrient lack, IL-10/TGF-beta suppression, IL-12 and IL-2 support);
:func:`axis_rates` advances the axis (the one axis function: the engines and
CAR T cell manufacturing all call it); :func:`program` returns the cell's
function (kill rate, cytokine secretion) and its fate hazards (exhaustion,
terminal commitment, reinvigoration, anergy, senescence, ferroptosis,
division) as a :class:`TCellFate`.

Host (TCR) and CAR T cells run the same program with different parameter
rows: :data:`PARAMS` is resolved once per kind, with the sources in
:data:`KINDS` (a CAR T cell proliferates at ``car_proliferation_rate``,
recognises its antigen without MHC-I, may lack IFN-gamma, ...). Regulatory
T cells have their own small program (:func:`treg_fate`).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..._jit import program as program_kernel
from .. import exhaustion as ex
from .. import ferroptosis as fer
from .. import killing as kil
from ..common import hill, relax
from ..groups import ParamGroup
from ..schema import StateSchema, StateVariable
from .pharmacology import EX

AXIS = StateSchema("t_cell_axis", (
    StateVariable("mito_depolarization", "1", "mitochondrial depolarisation (fraction of mitochondria)", 0.0),
    StateVariable("proteasome", "1", "proteasome activity (relative to rested T cell)", 1.0),
    StateVariable("free_heme", "1", "free regulatory heme (relative to rested T cell)", 1.0),
    StateVariable("nuclear_heme", "1", "nuclear heme (relative to rested T cell)", 1.0),
    StateVariable("bach2", "1", "BACH2 (relative to rested T cell)", 1.0),
    StateVariable("pd1", "1", "PD-1 expression (relative to rested T cell)", 1.0),
    StateVariable("lipid_peroxide", "1", "lipid peroxide (relative; 1 = ferroptosis threshold)", 0.0),
    StateVariable("cd36", "1", "CD36 expression (relative to rested T cell)", 1.0),
))
A = AXIS.index
#: Differentiation states of a T cell lineage, along the path and off it.
STATES = ("stem_memory", "effector", "progenitor_exhausted", "terminal_exhausted", "anergic", "senescent")
#: The states on the differentiation path (stem-like memory -> effector -> progenitor exhausted ->
#: terminally exhausted); anergic and senescent cells have left it.
PATH_STATES = STATES[:4]

#: What a T cell sees: oxygen (mmHg), glucose (mM), tryptophan and kynurenine (uM), IL-10, TGF-beta,
#: available IL-12 (after any blockade) and IL-2 (pM).
TCellEnv = namedtuple("TCellEnv", "oxygen glucose tryptophan kynurenine il10 tgfb il12 il2")
#: Environmental signals (0..1 unless noted): hypoxia, glucose lack, tryptophan lack (GCN2/AhR), IL-10 and
#: TGF-beta signalling, function suppressed by them, IL-12 boost (>= 1), IL-2 help, nutrient (glucose)
#: sufficiency, and the growth support of division (>= 0) they add up to.
TCellSignals = namedtuple("TCellSignals",
                          "hypoxia glucose_lack tryptophan_lack il10 tgfb suppression il12_boost help nutrient growth_support")
#: A T cell's function and fate (rates and hazards in 1/min, kill rate in kills/min, secretion in molecules/min):
#: see :func:`program`.
TCellFate = namedtuple("TCellFate", (
    "stimulation drivers lipid_dysfunction pd1_inhibition fitness kill_rate proliferation progenitor_proliferation "
    "to_progenitor to_terminal reinvigoration ferroptosis ifng_toxicity daughter_stem_share memory_formation "
    "memory_proliferation anergy anergy_exit senescence activation ifng_secretion"))


def derive(v):
    """Nuclear haem of a rested T cell (relative): nuclear import / export rate constants."""
    return {"nuclear_heme_rest": v["heme_nuclear_import_rate"] / v["heme_nuclear_export_rate"]}


PARAMS = ParamGroup(
    "t_cell",
    fields=(
        # sensing the environment
        "t_cell_hypoxia_half", "t_cell_glucose_half", "t_cell_tryptophan_half", "kynurenine_half", "il10_half",
        "il10_max_suppression", "tgfb_half", "tgfb_max_suppression", "il12_half", "il12_max_boost", "il2_half",
        "il2_proliferation_boost", "ifng_half",
        # antigen and function
        "antigen_density", "mhc_restricted", "antigen_per_t_cell_half", "ctl_max_kill_rate", "kill_fold",
        "cd4_kill_fraction", "progenitor_function", "terminal_function", "depolarization_function_loss",
        "pd1_max_inhibition", "pd1_engagement_half",
        # division and death
        "proliferation_rate", "progenitor_proliferation_rate", "blockade_progenitor_boost", "effector_death_rate",
        "progenitor_death_rate", "terminal_death_rate", "senescent_death_rate", "ifng_toxicity", "t_cell_ferroptosis_max_rate",
        "t_cell_ferroptosis_hill",
        # exhaustion and its drivers
        "exhaustion_rate", "w_pd1", "w_hypoxia", "w_glucose", "w_tryptophan", "w_il10", "w_tgfb", "w_lipid",
        "depolarization_exhaustion_weight", "terminal_commitment_rate", "bach2_loss_half", "bach2_loss_hill",
        "reinvigoration_rate", "anergy_rate", "anergy_exit_rate", "senescence_per_division",
        # the axis
        "mito_depolarization_rate", "mito_repair_rate", "proteasome_expression", "proteasome_induction_max",
        "proteasome_time_constant", "heme_depolarization_gain", "heme_clearance_rate", "heme_nuclear_import_rate",
        "heme_nuclear_export_rate", "bach2_heme_half", "bach2_heme_hill", "bach2_time_constant", "pd1_induction_max",
        "pd1_time_constant", "t_cell_lipid_uptake_rate", "t_cell_gpx4_rate", "t_cell_cd36_induction_max",
        "t_cell_cd36_lipid_half", "t_cell_cd36_time_constant",
        # stem-like memory (CAR T cells)
        "memory_self_renewal_max", "memory_self_renewal_stimulated", "memory_formation_rate", "memory_death_rate",
        "memory_proliferation_fold",
        # secretion
        "t_cell_ifng_secretion", "ifng_knockout", "cd4_ifng_fold", "il2_secretion", "cd8_il2_fraction",
    ),
    derived=("nuclear_heme_rest",),
    derive=derive,
    doc="the T cell program (one row per kind: host TCR T cells, CAR T cells)",
)

_CAR_MEMORY = {
    "memory_self_renewal_max": "car_memory_self_renewal_max",
    "memory_self_renewal_stimulated": "car_memory_self_renewal_stimulated",
    "memory_formation_rate": "car_memory_formation_rate",
    "memory_death_rate": "car_memory_death_rate",
    "memory_proliferation_fold": "car_memory_proliferation_fold",
}
#: Where each kind's kind-specific fields come from (catalogue names or constants); every other field is
#: the catalogue parameter of the same name. Host T cells recognise MHC-I-presented antigen at the
#: tumour's antigenicity; CAR T cells their CAR antigen at full density, on the antigen-positive tumour
#: cells only (the engines pass those as the targets: the well-mixed engine's antigen-positive pool, the
#: spatial engine's cells with the antigen flag).
KINDS = {
    "host": {
        "antigen_density": "tumor_antigenicity", "mhc_restricted": 1.0, "kill_fold": 1.0,
        "proliferation_rate": "t_cell_proliferation_rate", "proteasome_expression": 1.0, "ifng_toxicity": 0.0,
        "ifng_knockout": 0.0, **_CAR_MEMORY,
    },
    "car": {
        "antigen_density": 1.0, "mhc_restricted": 0.0, "kill_fold": "car_kill_fold",
        "proliferation_rate": "car_proliferation_rate", "proteasome_expression": "car_proteasome_expression",
        "ifng_toxicity": "car_ifng_toxicity", "ifng_knockout": "car_ifng_knockout", **_CAR_MEMORY,
    },
}


@program_kernel
def sense(env, p):
    """The signals a T cell derives from its environment ``env`` (:class:`TCellEnv`): a :class:`TCellSignals`.

    GCN2 senses tryptophan shortage and AhR kynurenine, so fitness is lost
    to either; IL-10 and TGF-beta suppress function independently; IL-12
    boosts it; IL-2 helps division.
    """
    il10_sig = hill(env.il10, p.il10_half, 1.0)
    tgfb_sig = hill(env.tgfb, p.tgfb_half, 1.0)
    il12_boost = kil.cytokine_boost(env.il12, p.il12_half, p.il12_max_boost)
    help_sig = hill(env.il2, p.il2_half, 1.0)
    suppress = 1.0 - (1.0 - kil.suppression(env.tgfb, p.tgfb_half, p.tgfb_max_suppression)) * (
        1.0 - kil.suppression(env.il10, p.il10_half, p.il10_max_suppression))
    nutrient = hill(env.glucose, p.t_cell_glucose_half, 1.0)
    return TCellSignals(
        1.0 - hill(env.oxygen, p.t_cell_hypoxia_half, 2.0),
        1.0 - hill(env.glucose, p.t_cell_glucose_half, 1.0),
        1.0 - hill(env.tryptophan, p.t_cell_tryptophan_half, 1.0) * (1.0 - hill(env.kynurenine, p.kynurenine_half, 1.0)),
        il10_sig,
        tgfb_sig,
        suppress,
        il12_boost,
        help_sig,
        nutrient,
        il12_boost * nutrient * (1.0 - suppress) * (1.0 + p.il2_proliferation_boost * help_sig),
    )


#: Levels a T cell's proteasome activity, BACH2 and PD-1 (relative to a rested cell) relax towards.
AxisTargets = namedtuple("AxisTargets", "proteasome bach2 pd1")


@program_kernel
def axis_targets(x, off, stimulation, proteasome_inhibition, p):
    """The levels a T cell's proteasome activity (from its depolarisation and any inhibitor, 0..1), BACH2 (from
    its nuclear haem) and PD-1 (from its stimulation, 0..1) relax towards: an :class:`AxisTargets` (relative).
    ``x[off:]`` is its axis (:data:`AXIS`), ``p`` the resolved :data:`PARAMS` record of its kind."""
    return AxisTargets(
        ex.proteasome_target(x[off + A.mito_depolarization], p.proteasome_expression, p.proteasome_induction_max,
                             proteasome_inhibition),
        ex.bach2_target(x[off + A.nuclear_heme], p.nuclear_heme_rest, p.bach2_heme_half, p.bach2_heme_hill),
        ex.pd1_target(stimulation, p.pd1_induction_max))


@program_kernel
def axis_rates(x, off, stimulation, drivers, proteasome_inhibition, heme_import_block, gpx4_inhibition, rta_block,
               lipid_level, ros, dilution, p, dxdt, doff):
    """Write the rates of change of an exhaustion axis (``x[off:]``, :data:`AXIS` order) into ``dxdt[doff:]``.

    Parameters
    ----------
    x, off : the axis state and its offset.
    stimulation : antigen stimulation (0..1).
    drivers : environmental multiplier on exhaustion (>= 1, :func:`~tmesim.biology.exhaustion.driver_load`).
    proteasome_inhibition : proteasome inhibitor (0..1; bortezomib during manufacturing).
    heme_import_block : nuclear haem import blocked (0..1).
    gpx4_inhibition : GPX4 inhibited (0..1).
    rta_block : lipid radicals trapped by radical-trapping antioxidants (0..1).
    lipid_level : the lipid milieu the cell sees (relative; 0 in culture): it induces CD36
        (:func:`~tmesim.biology.ferroptosis.cd36_target`) and CD36 takes it up.
    ros : extracellular ROS (relative).
    dilution : influx of rested cells over the pool (1/min): a pool's mean axis relaxes towards rest at this
        rate (0 for one cell).
    p : the resolved :data:`PARAMS` record of the cell's kind (its ``proteasome_expression`` is the cell's).
    dxdt, doff : output and its offset (per minute).
    """
    axis_rates_towards(x, off, axis_targets(x, off, stimulation, proteasome_inhibition, p), stimulation, drivers,
                       heme_import_block, gpx4_inhibition, rta_block, lipid_level, ros, dilution, p, dxdt, doff)


@program_kernel
def axis_rates_towards(x, off, tg, stimulation, drivers, heme_import_block, gpx4_inhibition, rta_block, lipid_level,
                       ros, dilution, p, dxdt, doff):
    """:func:`axis_rates` with the targets of proteasome activity, BACH2 and PD-1 given (``tg``, an
    :class:`AxisTargets`; e.g. moved by hypothesis rules) instead of computed from the axis; the time
    constants stay the program's. Arguments as :func:`axis_rates`; writes per minute into ``dxdt[doff:]``."""
    depol = x[off + A.mito_depolarization]
    prot = x[off + A.proteasome]
    fheme = x[off + A.free_heme]
    nheme = x[off + A.nuclear_heme]
    bach2 = x[off + A.bach2]
    pd1 = x[off + A.pd1]
    lpo = x[off + A.lipid_peroxide]
    cd36 = x[off + A.cd36]
    k_imp = p.heme_nuclear_import_rate
    k_exp = p.heme_nuclear_export_rate
    dxdt[doff + A.mito_depolarization] = ex.mito_depolarization_rate(depol, stimulation, drivers, p.mito_depolarization_rate,
                                                                     p.mito_repair_rate) - dilution * depol
    dxdt[doff + A.proteasome] = relax(prot, tg.proteasome, p.proteasome_time_constant) + dilution * (1.0 - prot)
    dxdt[doff + A.free_heme] = ex.free_heme_rate(fheme, nheme, prot, depol, p.heme_depolarization_gain, p.heme_clearance_rate,
                                                 k_imp, heme_import_block, k_exp) + dilution * (1.0 - fheme)
    dxdt[doff + A.nuclear_heme] = ex.nuclear_heme_rate(fheme, nheme, k_imp, heme_import_block, k_exp) + dilution * (1.0 - nheme)
    dxdt[doff + A.bach2] = relax(bach2, tg.bach2, p.bach2_time_constant) + dilution * (1.0 - bach2)
    dxdt[doff + A.pd1] = relax(pd1, tg.pd1, p.pd1_time_constant) + dilution * (1.0 - pd1)
    # CD36 rises towards a level set by the lipid milieu over days and takes up lipid in proportion; the uptake
    # rate is stated for a TIL at the CD36 it reaches in the reference milieu (lipid level 1)
    uptake = fer.cd36_uptake_share(cd36, p.t_cell_cd36_induction_max, p.t_cell_cd36_lipid_half) * lipid_level
    dxdt[doff + A.lipid_peroxide] = fer.t_cell_lipid_peroxide_rate(lpo, uptake, ros, gpx4_inhibition, rta_block,
                                                                   p.t_cell_lipid_uptake_rate,
                                                                   p.t_cell_gpx4_rate) - dilution * lpo
    dxdt[doff + A.cd36] = relax(cd36, fer.cd36_target(lipid_level, p.t_cell_cd36_induction_max, p.t_cell_cd36_lipid_half),
                                p.t_cell_cd36_time_constant) + dilution * (1.0 - cd36)


@program_kernel
def stimulation(targets, mhc1, t_cells, p):
    """Antigen stimulation (0..1) of a T cell of this kind that shares ``targets`` antigen-bearing tumour
    cells with ``t_cells`` other T cells of its kind.

    TCR cells see antigen in proportion to the targets' MHC-I (relative) and the tumour's antigenicity;
    CAR cells see their antigen whatever the MHC-I, on antigen-positive targets only (pass those).
    """
    recognition = mhc1 if p.mhc_restricted > 0.0 else 1.0
    return ex.antigen_stimulation(targets * recognition * p.antigen_density / (t_cells + 1.0), p.antigen_per_t_cell_half)


@program_kernel
def program(x, off, stim, signals, pdl1, mhc1, ifng, ros, ex_, p):
    """Function and fate of a T cell (or a pool's mean cell) of one kind: a :class:`TCellFate`.

    Parameters
    ----------
    x, off : its exhaustion axis (:data:`AXIS`) and offset.
    stim : antigen stimulation (0..1, :func:`stimulation`).
    signals : :class:`TCellSignals` from :func:`sense`.
    pdl1, mhc1 : PD-L1 and MHC-I of its targets (relative).
    ifng : IFN-gamma it sees (pM; toxic to some CAR T cells).
    ros : extracellular ROS (relative).
    ex_ : drug exposures (:data:`~.pharmacology.EX`).
    p : the resolved :data:`PARAMS` record of its kind.

    Returns
    -------
    TCellFate, per cell and minute: ``kill_rate`` of a fully functional effector (kills/min; scale by the
    state's function ``progenitor_function``/``terminal_function`` and by ``1 - lipid_dysfunction``),
    division rates of effectors, progenitors and stem-like memory cells, the transition hazards
    effector -> progenitor exhausted (``to_progenitor``) -> terminally exhausted (``to_terminal``),
    progenitor -> effector under PD-1 blockade (``reinvigoration``), effector <-> anergic and effector ->
    senescent, stem-like memory <-> effector (``daughter_stem_share``, ``memory_formation``), the
    ferroptosis and IFN-gamma toxicity death hazards, and IFN-gamma secretion per effector (molecules/min;
    ``cd4_ifng_fold`` times more by CD4 cells) at its ``activation`` (0..1). IL-2 is secreted at
    ``il2_secretion`` x ``activation`` by CD4 effectors and ``cd8_il2_fraction`` of that by CD8 effectors.
    """
    depol = x[off + A.mito_depolarization]
    bach2 = x[off + A.bach2]
    lpo = x[off + A.lipid_peroxide]
    blockade = ex_[EX.pd1_blockade]
    lpo_dys = hill(lpo, 1.0, 2.0)
    drv = ex.driver_load(signals.hypoxia, signals.glucose_lack, signals.tryptophan_lack, signals.il10, signals.tgfb,
                         lpo_dys, p.w_hypoxia, p.w_glucose, p.w_tryptophan, p.w_il10, p.w_tgfb, p.w_lipid)
    pd1_inh = ex.pd1_inhibition(x[off + A.pd1], pdl1, blockade, p.pd1_max_inhibition, p.pd1_engagement_half)
    # depolarised mitochondria cost function directly (Yu 2020)
    fit = 1.0 - p.depolarization_function_loss * depol
    recognition = mhc1 if p.mhc_restricted > 0.0 else 1.0
    kill = kil.t_cell_kill_rate(p.ctl_max_kill_rate, fit, recognition, pd1_inh, signals.suppression,
                                signals.il12_boost) * p.kill_fold
    prolif = p.proliferation_rate * stim * signals.growth_support * (1.0 - pd1_inh) * fit
    # memory cells divide faster than effectors (same signal and growth support); BACH2 and antigen decide
    # their daughters' fate
    act = stim * (1.0 - pd1_inh) * (1.0 - signals.suppression) * (1.0 - lpo_dys)
    return TCellFate(
        stim,
        drv,
        lpo_dys,
        pd1_inh,
        fit,
        kill,
        prolif,
        p.progenitor_proliferation_rate * stim * np.minimum(bach2, 1.5) * (1.0 + p.blockade_progenitor_boost * blockade)
        * signals.growth_support,
        ex.exhaustion_rate(stim, drv, pd1_inh, p.exhaustion_rate, p.w_pd1) * (1.0 + p.depolarization_exhaustion_weight * depol),
        ex.terminal_commitment_rate(bach2, stim, drv, p.terminal_commitment_rate, p.bach2_loss_half, p.bach2_loss_hill),
        ex.reinvigoration_rate(blockade, bach2, p.reinvigoration_rate),
        fer.ferroptosis_hazard(lpo, 1.0, p.t_cell_ferroptosis_hill, p.t_cell_ferroptosis_max_rate),
        # a kind without IFN-gamma toxicity does not depend on IFN-gamma at all (0, not 0 x hill)
        p.ifng_toxicity * hill(ifng, p.ifng_half, 1.0) if p.ifng_toxicity > 0.0 else 0.0,
        ex.daughter_stem_share(bach2, stim, p.memory_self_renewal_max, p.memory_self_renewal_stimulated),
        ex.memory_formation_rate(stim, bach2, p.memory_formation_rate),
        prolif * p.memory_proliferation_fold,
        ex.anergy_rate(stim, signals.help, p.anergy_rate),
        ex.anergy_exit_rate(signals.help, p.anergy_exit_rate),
        ex.senescence_rate(prolif, ros, p.senescence_per_division),
        act,
        p.t_cell_ifng_secretion * act * (1.0 - p.ifng_knockout),
    )


def rested_axis() -> np.ndarray:
    """The exhaustion axis of a rested T cell (:data:`AXIS` order)."""
    return AXIS.rest.copy()


TREG_PARAMS = ParamGroup(
    "treg",
    fields=("treg_proliferation_rate", "treg_death_rate", "ctla4_treg_depletion", "treg_il10_secretion",
            "treg_tgfb_secretion"),
    doc="regulatory T cells: IL-2-driven division, death (CTLA-4 blockade depletes them), IL-10/TGF-beta secretion",
)


@program_kernel
def treg_fate(help_signal, ex_, p):
    """A regulatory T cell's division and death hazards and their difference (1/min), and its IL-10 and
    TGF-beta secretion (molecules/min): ``(division, death, net_growth, il10, tgfb)``. ``help_signal``: IL-2
    help (0..1); anti-CTLA-4 (``EX.ctla4_blockade``) depletes Tregs."""
    division = p.treg_proliferation_rate * help_signal
    depletion = p.ctla4_treg_depletion * ex_[EX.ctla4_blockade]
    return (division, p.treg_death_rate + depletion, division - p.treg_death_rate - depletion,
            p.treg_il10_secretion, p.treg_tgfb_secretion)
