"""T cell exhaustion: the mitochondria-proteasome-haem-BACH2 axis, its
drivers and the state transitions they set.

Axis (Nature 2026, doi 10.1038/s41586-026-10250-y; Yu 2020): chronic antigen
stimulation depolarises mitochondria; depolarised mitochondria raise
proteasome activity, which degrades haem-containing mitochondrial proteins and
frees regulatory haem; PGRMC2 imports haem into the nucleus, where it
inactivates BACH2, the factor that keeps T cells stem-like. Losing BACH2
commits progenitor-exhausted (TCF1+) cells to terminal exhaustion.

Drivers that accelerate exhaustion (Scharping 2021; Ma 2021; Xu 2021; Philip
2017): hypoxia, glucose shortage, tryptophan shortage with kynurenine, IL-10,
TGF-beta, PD-1 engagement, T cell lipid peroxidation.

Units: mitochondrial depolarisation 0..1 (fraction of mitochondria);
proteasome activity, free and nuclear haem, BACH2 and PD-1 relative to a
rested T cell (1 = baseline, haem 1 = rested level); rates per minute.
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from .common import hill, hill_down, relax


@kernel
def driver_load(
    hypoxia,
    glucose_lack,
    tryptophan_lack,
    il10_signal,
    tgfb_signal,
    lipid_dysfunction,
    w_hypoxia,
    w_glucose,
    w_tryptophan,
    w_il10,
    w_tgfb,
    w_lipid,
):
    """Multiplier (>= 1) on exhaustion progression from environmental drivers.

    Each input is a 0..1 signal; ``1 + sum(w_i * signal_i)``.
    """
    return 1.0 + (
        w_hypoxia * hypoxia
        + w_glucose * glucose_lack
        + w_tryptophan * tryptophan_lack
        + w_il10 * il10_signal
        + w_tgfb * tgfb_signal
        + w_lipid * lipid_dysfunction
    )


@kernel
def mito_depolarization_rate(depol, stimulation, drivers, k_depol, k_repair):
    """Rate of change of the depolarised mitochondrial fraction (1/min).

    Stimulation (0..1, chronic antigen) times environmental drivers
    depolarises mitochondria; mitophagy and biogenesis repair them.
    """
    return k_depol * stimulation * drivers * (1.0 - depol) - k_repair * depol


@kernel
def proteasome_target(depol, expression_fold, induction_max, inhibition):
    """Proteasome activity (relative) a T cell relaxes towards: ``expression * (1 + induction_max * depol) *
    (1 - inhibition)`` (see :func:`proteasome_rate`)."""
    return expression_fold * (1.0 + induction_max * depol) * (1.0 - inhibition)


@kernel
def proteasome_rate(proteasome, depol, expression_fold, induction_max, inhibition, tau_min):
    """Rate of change of proteasome activity (relative, per minute).

    Target ``expression * (1 + induction_max * depol) * (1 - inhibition)``:
    depolarised mitochondria raise proteasome activity; ``expression`` is a
    cell-intrinsic (product) trait, ``inhibition`` a proteasome inhibitor such
    as bortezomib.
    """
    return relax(proteasome, proteasome_target(depol, expression_fold, induction_max, inhibition), tau_min)


@kernel
def free_heme_rate(free_heme, nuclear_heme, proteasome, depol, depol_gain, k_clear, k_import, import_block, k_export):
    """Rate of change of free (cytosolic regulatory) haem (relative, per minute).

    Released when the proteasome degrades haem-containing proteins,
    ``k_clear * proteasome * (1 + depol_gain * depol)``: depolarised
    mitochondria supply more of them, and a rested cell (proteasome 1,
    depol 0) sits at free haem 1. Cleared by haem oxygenase (``k_clear``),
    imported into the nucleus by PGRMC2 (``import_block`` 0..1 blocks it) and
    exported back.
    """
    release = k_clear * proteasome * (1.0 + depol_gain * depol)
    imported = k_import * (1.0 - import_block) * free_heme
    return release - k_clear * free_heme - imported + k_export * nuclear_heme


@kernel
def nuclear_heme_rate(free_heme, nuclear_heme, k_import, import_block, k_export):
    """Rate of change of nuclear haem (relative, per minute)."""
    return k_import * (1.0 - import_block) * free_heme - k_export * nuclear_heme


@kernel
def bach2_target(nuclear_heme, nuclear_heme_rest, half_heme, hill_n):
    """BACH2 (relative) a T cell relaxes towards: repressed by nuclear haem, 1 at the resting level
    ``nuclear_heme_rest`` (see :func:`bach2_rate`)."""
    return hill_down(nuclear_heme, half_heme, hill_n) / hill_down(nuclear_heme_rest, half_heme, hill_n)


@kernel
def bach2_rate(bach2, nuclear_heme, nuclear_heme_rest, half_heme, hill_n, tau_min):
    """Rate of change of BACH2 (relative, per minute): nuclear haem represses it.

    The target is normalised so a rested cell (nuclear haem at its resting
    level ``nuclear_heme_rest``) has BACH2 = 1.
    """
    return relax(bach2, bach2_target(nuclear_heme, nuclear_heme_rest, half_heme, hill_n), tau_min)


@kernel
def pd1_target(stimulation, induction_max):
    """PD-1 expression (relative) a T cell relaxes towards: ``1 + induction_max * stimulation`` (TCR-driven)."""
    return 1.0 + induction_max * stimulation


@kernel
def pd1_rate(pd1, stimulation, induction_max, tau_min):
    """Rate of change of PD-1 expression (relative, per minute); TCR-driven."""
    return relax(pd1, pd1_target(stimulation, induction_max), tau_min)


@kernel
def pd1_inhibition(pd1, pdl1, blockade, max_inhibition, half):
    """Fraction of effector function lost to PD-1/PD-L1 engagement (0..1).

    Engagement ~ PD-1 x PD-L1 (relative levels) x (1 - antibody blockade).
    """
    engagement = pd1 * pdl1 * (1.0 - blockade)
    return max_inhibition * hill(engagement, half, 2.0)


@kernel
def exhaustion_rate(stimulation, drivers, pd1_engaged, k_exhaust, w_pd1):
    """Effector -> progenitor-exhausted transition hazard (1/min)."""
    return k_exhaust * stimulation * drivers * (1.0 + w_pd1 * pd1_engaged)


@kernel
def terminal_commitment_rate(bach2, stimulation, drivers, k_terminal, bach2_half, hill_n):
    """Progenitor-exhausted -> terminally exhausted hazard (1/min).

    Rises as BACH2 falls (``1 - BACH2`` through a Hill function) under
    continued stimulation and drivers.
    """
    loss = np.maximum(1.0 - bach2, 0.0)
    return k_terminal * stimulation * drivers * hill(loss, bach2_half, hill_n)


@kernel
def reinvigoration_rate(pd1_blockade, bach2, k_reinvigorate):
    """Progenitor-exhausted -> effector hazard under checkpoint blockade (1/min).

    Only progenitors respond (Philip 2017: terminal cells are epigenetically
    fixed); stem-like cells with more BACH2 respond more.
    """
    return k_reinvigorate * pd1_blockade * np.minimum(bach2, 1.5)


@kernel
def stem_like_share(bach2, max_share):
    """Share (0..1) of T cells that are, or stay, stem-like: ``max_share * min(BACH2, 1)``.

    BACH2 enforces the stem-like program and restrains terminal
    differentiation (Yao 2021). Used for a CAR T product's stem-like memory
    share at infusion; the share of a dividing stem-like cell's daughters
    that stay stem-like is :func:`daughter_stem_share`.
    """
    return max_share * np.minimum(bach2, 1.0)


@kernel
def daughter_stem_share(bach2, stimulation, rest_share, stimulated_share):
    """Share (0..1) of a dividing stem-like T cell's daughters that stay stem-like.

    ``min(BACH2, 1) * (rest_share + (stimulated_share - rest_share) * stimulation)``.
    Under weak antigen stimulation stem-like cells mostly renew themselves
    (``rest_share``); under saturating stimulation the division that follows
    synapse formation is asymmetric, one daughter effector-fated and one
    memory-fated (Chang 2007: ``stimulated_share`` 1/2), so antigen drives
    differentiation and a stem-like pool can at best hold its size while it
    feeds effectors. BACH2 restrains effector differentiation (Yao 2021), so
    the share scales with it (capped at 1).
    """
    return np.minimum(bach2, 1.0) * (rest_share + (stimulated_share - rest_share) * stimulation)


@kernel
def memory_formation_rate(stimulation, bach2, k_form):
    """Effector -> stem-like memory hazard (1/min) as antigen wanes.

    Effector cells return to memory when stimulation falls (contraction);
    BACH2 (capped at 1) is needed for memory formation (Roychoudhuri 2016,
    Yao 2021). ``k_form`` is CARTmath's effector-to-memory rate (Barros 2021).
    """
    return k_form * (1.0 - stimulation) * np.minimum(bach2, 1.0)


@kernel
def anergy_rate(stimulation, help_signal, k_anergy):
    """Effector -> anergic hazard (1/min): stimulation without help (IL-2)."""
    return k_anergy * stimulation * (1.0 - help_signal)


@kernel
def anergy_exit_rate(help_signal, k_exit):
    """Anergic -> effector hazard (1/min): IL-2/help reverses anergy."""
    return k_exit * help_signal


@kernel
def senescence_rate(division_rate, ros_rel, k_senescence):
    """Effector -> senescent hazard (1/min): replicative and oxidative stress.

    Proportional to the division rate (1/min) and to ROS; irreversible.
    """
    return k_senescence * division_rate * ros_rel


@kernel
def antigen_stimulation(antigen_per_t_cell, half):
    """TCR/CAR stimulation (0..1) from antigen-bearing targets per T cell."""
    return hill(antigen_per_t_cell, half, 1.0)
