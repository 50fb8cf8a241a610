"""FROZEN copy (7bd9782), do not edit. Killing of tumour cells by immune effectors.

Per-effector kill rates (kills per effector per minute) for CD8 T cells (MHC-I
restricted, perforin/granzyme), CAR T cells (antigen recognised without MHC),
NK cells (missing-self: favoured on MHC-I-low targets, boosted by IL-12) and
M1-like macrophages. In vivo CTLs kill about 2-16 targets per day (Halle 2016).
The well-mixed engine multiplies a per-effector rate by the effector count and
a target-availability factor; the spatial engine turns it into a contact
hazard.
"""

from __future__ import annotations

from ._jit import kernel
from .common import hill


@kernel
def target_availability(targets, effectors, half_ratio):
    """Fraction of the maximal per-effector kill rate that targets allow.

    ``T / (T + half_ratio * E)`` (Beddington-DeAngelis form): effectors that
    outnumber their targets share them.
    """
    return targets / (targets + half_ratio * effectors + 1e-12)


@kernel
def t_cell_kill_rate(max_per_min, function, recognition, pd1_inhibition, tgfb_suppression, il12_boost):
    """Kills per T cell per minute.

    Parameters
    ----------
    max_per_min : maximal kill rate of a fully functional effector (1/min).
    function : relative cytotoxic capacity of the cell's state (effector 1,
        progenitor/terminal exhausted lower).
    recognition : antigen recognition (MHC-I level relative to baseline for
        TCR cells, 1 for CAR cells on antigen-positive targets).
    pd1_inhibition, tgfb_suppression : fractions of function lost (0..1).
    il12_boost : multiplier >= 1 from IL-12 signalling.
    """
    return max_per_min * function * recognition * (1.0 - pd1_inhibition) * (1.0 - tgfb_suppression) * il12_boost


@kernel
def nk_kill_rate(max_per_min, mhc1_rel, mhc1_inhibition_max, activation):
    """Kills per NK cell per minute: missing-self, times activation (>= 1).

    MHC-I inhibits NK killing: ``1 - inh_max * MHC / (1 + MHC)`` normalised so
    an unstimulated target (MHC-I = 1) gives ``1 - inh_max/2``.
    """
    inhibition = mhc1_inhibition_max * mhc1_rel / (1.0 + mhc1_rel)
    return max_per_min * (1.0 - inhibition) * activation


@kernel
def nk_target_engagement(targets_per_nk, half):
    """Fraction (0..1) of NK cells engaged by targets: ``hill(targets per NK, half, 1)``.

    NK cells secrete IFN-gamma when activating receptors engage a target;
    cytokines (IL-12) raise how much, but do not replace the trigger.
    """
    return hill(targets_per_nk, half, 1.0)


@kernel
def cytokine_boost(conc, half, max_boost):
    """Multiplier ``1 + max_boost * hill(conc, half, 1)`` from a stimulating cytokine."""
    return 1.0 + max_boost * hill(conc, half, 1.0)


@kernel
def suppression(conc, half, max_suppression):
    """Fraction of function suppressed by an inhibitory cytokine (IL-10, TGF-beta)."""
    return max_suppression * hill(conc, half, 1.0)
