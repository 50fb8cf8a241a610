"""Tumour ferroptosis core.

Chain (Wang 2019; Liao 2022; Yang 2014; Dixon 2012): STAT1 represses
SLC7A11/SLC3A2 (system Xc-) and induces ACSL4. Xc- imports cystine, which feeds
glutathione (GSH) synthesis; GPX4 uses GSH to reduce phospholipid
hydroperoxides. Labile iron initiates and propagates lipid peroxidation of
PUFA-containing phospholipids (PUFA-PL, made by ACSL4) in an autocatalytic
chain, braked by GPX4 (saturable), FSP1/CoQ10 and radical-trapping
antioxidants (ferrostatin-1, liproxstatin-1). Peroxidation consumes PUFA-PL.
Past a threshold the membrane fails: the death hazard rises steeply.

Units: SLC7A11, ACSL4, PUFA-PL, cystine uptake and lipid peroxide are relative
to an unstressed cell (1 = baseline; lipid peroxide 1 = death threshold
scale); GSH in mM; labile iron in uM; rates per minute.
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from .common import hill


@kernel
def slc7a11_target(stat1, repression_max, overexpression_fold):
    """Steady-state SLC7A11 expression (relative) for a STAT1 activity.

    The endogenous gene is repressed by STAT1 down to ``1 - repression_max``;
    an over-expression transgene (``overexpression_fold`` > 1, driven by a
    foreign promoter) adds ``fold - 1`` that STAT1 does not repress.
    """
    return (1.0 - repression_max * stat1) + (overexpression_fold - 1.0)


@kernel
def acsl4_target(stat1, induction_max):
    """Steady-state ACSL4 expression (relative): ``1 + induction_max * stat1``."""
    return 1.0 + induction_max * stat1


@kernel
def cystine_uptake(slc7a11, xc_inhibition, cystine_uM, km_uM, cystine_ref_uM):
    """System Xc- cystine import relative to an untreated cell in plasma cystine.

    Michaelis-Menten in extracellular cystine, proportional to transporter
    expression, reduced by an Xc- inhibitor (``xc_inhibition`` 0..1, e.g. IKE).
    """
    sat = cystine_uM / (km_uM + cystine_uM)
    sat_ref = cystine_ref_uM / (km_uM + cystine_ref_uM)
    return slc7a11 * (1.0 - xc_inhibition) * sat / sat_ref


@kernel
def gsh_rate(gsh_mM, uptake_rel, synthesis_mM_per_min, turnover_per_min):
    """Rate of change of GSH (mM/min): synthesis fed by cystine, first-order loss."""
    return synthesis_mM_per_min * uptake_rel - turnover_per_min * gsh_mM


@kernel
def gpx4_activity(gsh_mM, km_gsh_mM, gpx4_fraction, gpx4_inhibition):
    """GPX4 activity (relative to a GSH-saturated enzyme).

    ``gpx4_fraction`` is the enzyme left (genetic loss sets 0); an inhibitor
    such as RSL3 removes ``gpx4_inhibition`` of it.
    """
    return gpx4_fraction * (1.0 - gpx4_inhibition) * gsh_mM / (km_gsh_mM + gsh_mM)


@kernel
def labile_iron_rate(iron_uM, extracellular_iron_rel, import_uM_per_min, export_per_min, chelation_per_min):
    """Rate of change of the labile iron pool (uM/min).

    Transferrin-receptor import proportional to extracellular iron (relative),
    ferroportin export and ferritin storage as one first-order loss, plus
    removal by a chelator (deferoxamine).
    """
    return import_uM_per_min * extracellular_iron_rel - (export_per_min + chelation_per_min) * iron_uM


@kernel
def peroxidation_propagation(iron_uM, pufa_pl, lipid_peroxide, k_propagation, rta_block):
    """Autocatalytic chain propagation (relative units per minute).

    Iron-catalysed (Fenton) and proportional to oxidisable PUFA-PL; a
    radical-trapping antioxidant blocks a fraction ``rta_block``.
    """
    return k_propagation * iron_uM * pufa_pl * lipid_peroxide * (1.0 - rta_block)


@kernel
def pufa_pl_rate(pufa_pl, acsl4, pufa_supply_rel, turnover_per_min, propagation, cost):
    """Rate of change of PUFA-containing phospholipids (relative, per minute).

    ACSL4 esterifies PUFA (supply relative to baseline) into phospholipids,
    which turn over and are consumed by peroxidation: ``cost`` units of
    PUFA-PL per unit of propagated peroxide.
    """
    return turnover_per_min * (acsl4 * pufa_supply_rel - pufa_pl) - cost * propagation


@kernel
def lipid_peroxide_rate(
    lipid_peroxide,
    iron_uM,
    pufa_pl,
    ros_rel,
    gpx4_act,
    propagation,
    k_initiation,
    rta_block,
    k_gpx4,
    km_gpx4,
    k_fsp1,
):
    """Rate of change of phospholipid hydroperoxide (relative, per minute).

    Initiation by iron and ROS on PUFA-PL, autocatalytic propagation, reduction
    by GPX4 (saturable in substrate: ``k_gpx4 * act * L / (km + L)``) and by
    FSP1/CoQ10 and basal repair (first order ``k_fsp1``). Saturable GPX4 against
    autocatalysis makes the system bistable: a low steady state while GPX4
    keeps up, a runaway once it cannot.
    """
    initiation = k_initiation * iron_uM * pufa_pl * ros_rel * (1.0 - rta_block)
    removal = k_gpx4 * gpx4_act * lipid_peroxide / (km_gpx4 + lipid_peroxide) + k_fsp1 * lipid_peroxide
    return initiation + propagation - removal


@kernel
def gpx4_max_rate_at_rest(capacity_margin, threshold, k_propagation, iron0_uM, pufa0, gpx4_act0):
    """Maximal GPX4 rate (1/min) of :func:`lipid_peroxide_rate` for a tumour line whose resting
    GPX4 capacity is ``capacity_margin`` times chain propagation at the death ``threshold``.

    At rest: labile iron ``iron0_uM``, PUFA-PL ``pufa0`` (relative), GPX4 activity
    ``gpx4_act0`` (relative), ROS 1, no drug. Stating the switch by what a line
    is at rest (this and :func:`initiation_rate_at_rest`) keeps its resting
    distance to runaway what its parameters say when the rates around it vary.
    """
    return capacity_margin * k_propagation * iron0_uM * pufa0 * threshold / gpx4_act0


@kernel
def initiation_rate_at_rest(resting_lpo, k_gpx4, k_propagation, k_fsp1, km_gpx4, iron0_uM, pufa0, gpx4_act0):
    """Initiation rate (1/min/uM) of :func:`lipid_peroxide_rate` that holds lipid peroxide at
    ``resting_lpo`` (relative) at rest (see :func:`gpx4_max_rate_at_rest`): removal by GPX4 and
    FSP1 minus propagation there, per unit of iron x PUFA-PL; never negative."""
    drive = k_propagation * iron0_uM * pufa0
    removal = k_gpx4 * gpx4_act0 * resting_lpo / (km_gpx4 + resting_lpo) + k_fsp1 * resting_lpo
    return np.maximum(removal - drive * resting_lpo, 0.0) / (iron0_uM * pufa0)


@kernel
def ferroptosis_hill_at_rest(resting_hazard, max_rate, resting_lpo, threshold):
    """Hill power of :func:`ferroptosis_hazard` that gives a tumour line the death hazard
    ``resting_hazard`` (1/min) at its resting lipid peroxide ``resting_lpo`` (relative).

    Solves ``max_rate * hill(resting_lpo, threshold, n) = resting_hazard`` for ``n``:
    with ``r = resting_lpo / threshold`` and ``q = resting_hazard / max_rate``,
    ``n = ln(q / (1 - q)) / ln(r)``. It is real and >= 1 (a threshold, not a
    concave rise) for ``0 < r < 1`` and ``0 < q <= r / (1 + r)``, the hazard at
    ``n = 1``; outside that the result is not a usable power (nan, inf or below 1)
    and the caller reports it (:func:`~tmesim.biology.programs.tumor.derive`).
    """
    q = resting_hazard / max_rate
    return np.log(q / (1.0 - q)) / np.log(resting_lpo / threshold)


@kernel
def ferroptosis_hazard(lipid_peroxide, threshold, hill_n, max_per_min):
    """Ferroptotic death hazard (1/min): steep Hill rise past ``threshold``."""
    return max_per_min * hill(lipid_peroxide, threshold, hill_n)


@kernel
def cd36_target(lipid_level, induction_max, lipid_half):
    """The CD36 expression (relative to a rested T cell) a T cell relaxes towards in a lipid milieu
    ``lipid_level`` (relative; 0 in culture): ``1 + induction_max * lipid / (lipid_half + lipid)``.

    CD8 TILs up-regulate CD36 as the tumour's lipids (fatty acids, cholesterol, oxidised LDL and
    phospholipids) accumulate around them (Ma 2021; Xu 2021); a T cell outside lipid-rich tissue keeps
    its resting level (1).
    """
    return 1.0 + induction_max * hill(lipid_level, lipid_half, 1.0)


@kernel
def cd36_uptake_share(cd36, induction_max, lipid_half):
    """A T cell's lipid uptake relative to a TIL at the CD36 it reaches in the reference milieu (lipid level 1,
    :func:`cd36_target`): ``cd36 / cd36_target(1)``.

    ``t_cell_lipid_uptake_rate`` is stated for CD36-high TILs in the tumour's lipid milieu (Ma 2021: the
    uptake that drives their ferroptosis goes through the CD36 the TME induced), so the CD36 state moves
    uptake around that level: a cell fresh from the blood or from culture (CD36 1) takes up
    ``1 / cd36_target(1)`` of it, and a milieu richer than the reference more.
    """
    return cd36 / cd36_target(1.0, induction_max, lipid_half)


@kernel
def t_cell_lipid_peroxide_rate(lipid_peroxide, lipid_uptake_rel, ros_rel, gpx4_inhibition, rta_block, k_uptake,
                               k_gpx4):
    """Rate of change of T cell lipid peroxide (relative; 1 = dysfunction scale; per minute).

    CD36-mediated uptake of fatty acids and oxidised LDL in lipid-rich TMEs
    (Ma 2021; Xu 2021; ``lipid_uptake_rel``: the cell's CD36, relative to a
    rested cell, times the lipid it sees, relative), amplified by ROS, cleared by GPX4, which GPX4
    inhibitors block in T cells as in tumour cells. Radical-trapping
    antioxidants (liproxstatin-1, ferrostatin-1; ``rta_block``, 0..1) trap the
    same share of lipid radicals in T cells as in tumour cells
    (:func:`lipid_peroxide_rate`): vitamin E rescues GPX4-deficient T cells
    (Matsushita 2015) and ferrostatin-1 CD36-high intratumoral CD8 T cells (Ma 2021).
    """
    production = k_uptake * lipid_uptake_rel * ros_rel * (1.0 - rta_block)
    return production - k_gpx4 * (1.0 - gpx4_inhibition) * lipid_peroxide
