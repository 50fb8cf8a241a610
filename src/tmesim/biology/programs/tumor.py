"""The tumour cell program: STAT1 hub -> system Xc-/GSH/GPX4/iron/lipid peroxide
-> growth and death hazards, and what a tumour cell secretes.

A tumour cell carries :data:`STATE` (STAT1 activity, SLC7A11, ACSL4, GSH,
labile iron, PUFA-phospholipids, lipid peroxide). Given the environment it
sees (:class:`TumorEnv`) and its drug exposures (a vector indexed by
:data:`~.pharmacology.EX`), :func:`intracellular_rates` writes the rates of
change of that state and :func:`fate` returns its proliferation and death
hazards. The well-mixed engine calls these with a population's mean state;
the spatial engine with each cell's state and local fields.

The ferroptosis switch is stated by the line's resting state
(``tumor_lipid_peroxide_resting`` and ``gpx4_capacity_margin``), its death
hazard by the hazard at rest (``tumor_ferroptosis_resting_hazard``), and the
iron pool by its resting level (``labile_iron_rest``): the initiation rate,
the maximal GPX4 rate, the hazard's Hill power and the iron import rate are
derived once per parameter row at resolution (:func:`derive`), not in the
kernels.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..._jit import program as program_kernel
from ...errors import InputError
from .. import ferroptosis as fer
from .. import growth as gr
from .. import signalling as sig
from ..common import relax
from ..groups import ParamGroup
from ..schema import StateSchema, StateVariable
from .pharmacology import EX

STATE = StateSchema("tumor_cell", (
    StateVariable("stat1", "1", "tumor STAT1 activity (0..1)", 0.0),
    StateVariable("slc7a11", "1", "tumor SLC7A11 expression (relative)"),
    StateVariable("acsl4", "1", "tumor ACSL4 expression (relative)", 1.0),
    StateVariable("gsh", "mM", "tumor glutathione"),
    StateVariable("labile_iron", "uM", "tumor labile iron pool"),
    StateVariable("pufa_pl", "1", "tumor PUFA-phospholipids (relative)"),
    StateVariable("lipid_peroxide", "1", "tumor lipid peroxide (relative; 1 = death threshold)"),
))
X = STATE.index
#: Hill power of the necrosis hazard's fall with oxygen (PhysiCell's necrosis ramp, 5 -> 2.5 mmHg).
NECROSIS_HILL = 6.0

#: What a tumour cell sees: IFN-gamma (pM), cystine (uM), extracellular iron available to it (relative to
#: TAM-free tissue), ROS (relative), oxygen (mmHg), glucose (mM) and the occupied fraction of its space (0..1).
TumorEnv = namedtuple("TumorEnv", "ifng cystine extracellular_iron ros oxygen glucose occupied_fraction")
#: STAT1 targets relative to an unstimulated cell: PD-L1, MHC-I, IDO1 (after IDO inhibition), CXCL9/10.
TumorSignals = namedtuple("TumorSignals", "pdl1 mhc1 ido1 cxcl9")
#: Levels a tumour cell's STAT1 activity (0..1), SLC7A11 and ACSL4 (relative) relax towards (see :func:`targets`).
TumorTargets = namedtuple("TumorTargets", "stat1 slc7a11 acsl4")
#: Hazards and rates (1/min): proliferation, apoptosis by IFN-gamma, ferroptosis, necrosis, basal death;
#: cystine uptake and GPX4 activity (relative).
TumorFate = namedtuple("TumorFate", "proliferation ifng_apoptosis ferroptosis necrosis basal_death cystine_uptake gpx4_activity")


def derive(v):
    """The iron import rate, the ferroptosis switch's rate constants and the Hill power of its death hazard
    of a line from its resting state (arrays over rows).

    The line's resting labile iron pool ``labile_iron_rest`` (uM, at reference
    extracellular iron) fixes the import rate (uM/min) as the pool times the
    export rate (1/min), so that the pool the iron equation rests at is the
    level proliferation is normalised to. At rest (no IFN-gamma, no drug,
    full SLC7A11 and cystine, PUFA supply 1, ROS 1) the line's GSH is
    synthesis / turnover and its labile iron that pool. The maximal GPX4 rate makes its capacity
    ``gpx4_capacity_margin`` times chain propagation at the death threshold
    (:func:`~tmesim.biology.ferroptosis.gpx4_max_rate_at_rest`), and the
    initiation rate holds lipid peroxide at ``tumor_lipid_peroxide_resting``
    (:func:`~tmesim.biology.ferroptosis.initiation_rate_at_rest`). Knobs
    (SLC7A11 over-expression, GPX4 loss, PUFA supply), drugs, IFN-gamma and
    TAM iron act on top of that state. A line with no resting iron or
    glutathione has no switch to calibrate: both constants are 0. The Hill power of the ferroptosis
    hazard gives the line ``tumor_ferroptosis_resting_hazard`` at its resting lipid peroxide
    (:func:`ferroptosis_hill`).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        gsh0 = v["gsh_synthesis_rate"] / np.maximum(v["gsh_turnover_rate"], 1e-300)
        act0 = fer.gpx4_activity(gsh0, v["gpx4_gsh_km"], 1.0, 0.0)
        iron0 = v["labile_iron_rest"]
        k_gpx4 = fer.gpx4_max_rate_at_rest(v["gpx4_capacity_margin"], v["ferroptosis_threshold"],
                                           v["lipid_propagation_rate"], iron0, 1.0, act0)
        k_init = fer.initiation_rate_at_rest(v["tumor_lipid_peroxide_resting"], k_gpx4, v["lipid_propagation_rate"],
                                             v["fsp1_rate"], v["gpx4_lpo_km"], iron0, 1.0, act0)
    has_switch = (act0 > 0.0) & (iron0 > 0.0)
    return {"lipid_initiation_rate": np.where(has_switch, k_init, 0.0),
            "gpx4_max_rate": np.where(has_switch, k_gpx4, 0.0),
            "iron_import_rate": v["labile_iron_rest"] * v["iron_export_rate"],
            "ferroptosis_hill": ferroptosis_hill(v)}


def ferroptosis_hill(v):
    """Hill power of the ferroptosis hazard per row (arrays over rows): the power at which the hazard at the
    line's resting lipid peroxide is its stated resting hazard
    (:func:`~tmesim.biology.ferroptosis.ferroptosis_hill_at_rest`). A row without ferroptosis
    (``ferroptosis_max_rate`` 0, e.g. an ablation) has no hazard to shape, at rest or anywhere: power 1,
    whatever resting hazard it states.

    Raises :class:`~tmesim.errors.InputError` naming the parameters where no power >= 1 gives the stated
    hazard (a resting hazard of 0 or above the hazard at power 1, or lipid peroxide resting at or above
    the threshold).
    """
    hazard, max_rate = np.asarray(v["tumor_ferroptosis_resting_hazard"]), np.asarray(v["ferroptosis_max_rate"])
    lpo, threshold = np.asarray(v["tumor_lipid_peroxide_resting"]), np.asarray(v["ferroptosis_threshold"])
    none = max_rate <= 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        n = fer.ferroptosis_hill_at_rest(hazard, np.where(none, 1.0, max_rate), lpo, threshold)
        bad = ~none & ~(np.isfinite(n) & (n >= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = f" (parameter row {i} of {bad.size})" if not bad.all() else ""
        per_day = 1440.0
        r = lpo[i] / threshold[i]
        most = max_rate[i] * r / (1.0 + r) * per_day if 0.0 < r < 1.0 else 0.0
        raise InputError("parameters.tumor_ferroptosis_resting_hazard",
                         f"{hazard[i] * per_day:.3g}/day at resting lipid peroxide {lpo[i]:.3g} (threshold "
                         f"{threshold[i]:.3g}, ferroptosis_max_rate {max_rate[i] * per_day:.3g}/day) needs a "
                         f"ferroptosis Hill power of {n[i]:.3g}, not one >= 1{row}",
                         f"give a resting hazard above 0 and at most {most:.3g}/day, the hazard at power 1, with "
                         "tumor_lipid_peroxide_resting below ferroptosis_threshold")
    return np.where(none, 1.0, n)


PARAMS = ParamGroup(
    "tumor_cell",
    fields=(
        "tumor_growth_rate", "tumor_basal_death_rate", "tumor_oxygen_half", "tumor_glucose_half", "tumor_iron_half",
        "labile_iron_rest", "oxygen_vessel", "glucose_plasma", "necrosis_oxygen_half", "necrosis_max_rate",
        "stat1_cytostasis_max", "ifng_apoptosis_max_rate",
        "tumor_ifngr_loss", "stat1_ifng_ec50", "stat1_hill", "stat1_time_constant",
        "pdl1_induction_fold", "mhc1_induction_fold", "cxcl9_induction_fold", "ido1_induction_fold",
        "slc7a11_repression_max", "tumor_slc7a11_overexpression", "xc_time_constant", "acsl4_induction_max",
        "acsl4_time_constant", "cystine_plasma", "cystine_km", "gsh_synthesis_rate", "gsh_turnover_rate", "gpx4_gsh_km",
        "tumor_gpx4_loss", "iron_export_rate", "chelation_max_rate", "pufa_supply",
        "pufa_pl_turnover_rate", "peroxidation_pufa_cost", "tumor_lipid_peroxide_resting", "lipid_propagation_rate",
        "gpx4_capacity_margin", "gpx4_lpo_km", "fsp1_rate", "ferroptosis_threshold", "tumor_ferroptosis_resting_hazard",
        "ferroptosis_max_rate", "tumor_cxcl9_secretion", "tumor_il10_secretion", "tumor_tgfb_secretion",
        "tumor_car_antigen_fraction", "tumor_car_antigen_loss_per_division", "tumor_innate_susceptibility",
    ),
    derived=("lipid_initiation_rate", "gpx4_max_rate", "iron_import_rate", "ferroptosis_hill"),
    derive=derive,
    doc="the tumour cell program: growth, STAT1 targets, the ferroptosis core, death hazards, secretion, CAR antigen",
)


@program_kernel
def signals(stat1, ex, p):
    """STAT1 targets of a tumour cell with STAT1 activity ``stat1`` (:class:`TumorSignals`, relative).

    ``ex``: drug exposures (:data:`~.pharmacology.EX`); IDO inhibition lowers IDO1's activity.
    """
    pdl1 = sig.induced_level(stat1, 1.0, p.pdl1_induction_fold)
    mhc1 = sig.induced_level(stat1, 1.0, p.mhc1_induction_fold)
    ido1 = sig.induced_level(stat1, 1.0, p.ido1_induction_fold) * (1.0 - ex[EX.ido_inhibition])
    cxcl9 = sig.induced_level(stat1, 1.0, p.cxcl9_induction_fold)
    return TumorSignals(pdl1, mhc1, ido1, cxcl9)


@program_kernel
def targets(x, off, env, p):
    """The levels a tumour cell's STAT1 (0..1, from the IFN-gamma it sees), SLC7A11 and ACSL4 (relative, from
    its STAT1) relax towards: a :class:`TumorTargets`. ``x[off:]`` is its state (:data:`STATE`), ``env`` a
    :class:`TumorEnv`, ``p`` the resolved :data:`PARAMS` record."""
    stat1 = x[off + X.stat1]
    return TumorTargets(sig.stat1_target(env.ifng, 1.0 - p.tumor_ifngr_loss, p.stat1_ifng_ec50, p.stat1_hill),
                        fer.slc7a11_target(stat1, p.slc7a11_repression_max, p.tumor_slc7a11_overexpression),
                        fer.acsl4_target(stat1, p.acsl4_induction_max))


@program_kernel
def intracellular_rates(x, off, env, ex, p, dxdt, doff):
    """Write the rates of change of a tumour cell's state (``x[off:]``, :data:`STATE` order) into ``dxdt[doff:]``.

    Units per minute of each variable's unit (:data:`STATE`). ``env`` is a
    :class:`TumorEnv`, ``ex`` the drug exposures, ``p`` the resolved
    :data:`PARAMS` record. Returns the cell's :class:`TumorFate`.
    """
    return rates_towards(x, off, env, ex, p, targets(x, off, env, p), dxdt, doff)


@program_kernel
def rates_towards(x, off, env, ex, p, tg, dxdt, doff):
    """:func:`intracellular_rates` with the targets of STAT1, SLC7A11 and ACSL4 given (``tg``, a
    :class:`TumorTargets`; e.g. moved by hypothesis rules) instead of computed from the cell's state;
    the time constants stay the program's. Returns the cell's :class:`TumorFate`."""
    stat1 = x[off + X.stat1]
    slc = x[off + X.slc7a11]
    acsl4 = x[off + X.acsl4]
    gsh = x[off + X.gsh]
    iron = x[off + X.labile_iron]
    pufa = x[off + X.pufa_pl]
    lpo = x[off + X.lipid_peroxide]
    rta_block = ex[EX.rta_block]
    uptake = fer.cystine_uptake(slc, ex[EX.xc_inhibition], env.cystine, p.cystine_km, p.cystine_plasma)
    gpx4_act = fer.gpx4_activity(gsh, p.gpx4_gsh_km, 1.0 - p.tumor_gpx4_loss, ex[EX.gpx4_inhibition])
    propagation = fer.peroxidation_propagation(iron, pufa, lpo, p.lipid_propagation_rate, rta_block)
    dxdt[doff + X.stat1] = relax(stat1, tg.stat1, p.stat1_time_constant)
    dxdt[doff + X.slc7a11] = relax(slc, tg.slc7a11, p.xc_time_constant)
    dxdt[doff + X.acsl4] = relax(acsl4, tg.acsl4, p.acsl4_time_constant)
    dxdt[doff + X.gsh] = fer.gsh_rate(gsh, uptake, p.gsh_synthesis_rate, p.gsh_turnover_rate)
    dxdt[doff + X.labile_iron] = fer.labile_iron_rate(iron, env.extracellular_iron, p.iron_import_rate, p.iron_export_rate,
                                                      p.chelation_max_rate * ex[EX.iron_chelation])
    dxdt[doff + X.pufa_pl] = fer.pufa_pl_rate(pufa, acsl4, p.pufa_supply, p.pufa_pl_turnover_rate, propagation,
                                              p.peroxidation_pufa_cost)
    dxdt[doff + X.lipid_peroxide] = fer.lipid_peroxide_rate(lpo, iron, pufa, env.ros, gpx4_act, propagation,
                                                            p.lipid_initiation_rate, rta_block, p.gpx4_max_rate,
                                                            p.gpx4_lpo_km, p.fsp1_rate)
    return TumorFate(
        gr.proliferation_rate(p.tumor_growth_rate, env.oxygen, p.tumor_oxygen_half, p.oxygen_vessel, env.glucose,
                              p.tumor_glucose_half, p.glucose_plasma, iron, p.tumor_iron_half, p.labile_iron_rest,
                              env.occupied_fraction, stat1, p.stat1_cytostasis_max),
        gr.ifng_apoptosis_hazard(stat1, p.ifng_apoptosis_max_rate),
        fer.ferroptosis_hazard(lpo, p.ferroptosis_threshold, p.ferroptosis_hill, p.ferroptosis_max_rate),
        gr.necrosis_hazard(env.oxygen, p.necrosis_oxygen_half, NECROSIS_HILL, p.necrosis_max_rate),
        p.tumor_basal_death_rate,
        uptake,
        gpx4_act,
    )


@program_kernel
def antigen_loss_rate(proliferation, p):
    """Rate (1/min) at which an antigen-positive tumour cell dividing at ``proliferation`` (1/min) gives
    an antigen-negative daughter: a division loses the CAR antigen in one of its two daughters with
    probability ``tumor_car_antigen_loss_per_division`` (:func:`daughter_antigen` draws the same event
    for one cell)."""
    return proliferation * p.tumor_car_antigen_loss_per_division


@program_kernel
def daughter_antigen(parent_antigen, u, p):
    """The CAR antigen (1 present, 0 lost) of the new daughter of a dividing tumour cell whose antigen is
    ``parent_antigen`` (0/1), given a uniform draw ``u`` in [0, 1): lost with probability
    ``tumor_car_antigen_loss_per_division`` (the per-cell form of :func:`antigen_loss_rate`); never regained."""
    if parent_antigen > 0 and u >= p.tumor_car_antigen_loss_per_division:
        return 1
    return 0


@program_kernel
def secretion(tumor_cells, cxcl9_level, p):
    """Secretion by ``tumor_cells`` tumour cells (molecules/min): CXCL9/10 (at its induced level, relative),
    IL-10 and TGF-beta."""
    return (p.tumor_cxcl9_secretion * tumor_cells * cxcl9_level, p.tumor_il10_secretion * tumor_cells,
            p.tumor_tgfb_secretion * tumor_cells)


def resting_state(p, extracellular_iron) -> np.ndarray:
    """A tumour cell's state at rest (:data:`STATE` order): no IFN-gamma, no drug.

    ``p`` is a resolved :data:`PARAMS` record (or a mapping of its fields),
    ``extracellular_iron`` the iron available to it (relative). SLC7A11 sits
    at its over-expression level, GSH at synthesis x SLC7A11 / turnover,
    labile iron at import x iron / export, PUFA-PL at the supply, lipid
    peroxide at the line's resting level.
    """
    slc = p["tumor_slc7a11_overexpression"]
    x = STATE.rest.copy()
    x[X.slc7a11] = slc
    x[X.gsh] = p["gsh_synthesis_rate"] * slc / p["gsh_turnover_rate"]
    x[X.labile_iron] = p["iron_import_rate"] * extracellular_iron / p["iron_export_rate"]
    x[X.pufa_pl] = p["pufa_supply"]
    x[X.lipid_peroxide] = p["tumor_lipid_peroxide_resting"]
    return x
