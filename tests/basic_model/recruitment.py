"""FROZEN copy (7bd9782), do not edit. Recruitment of immune cells into the tumour and cytokine bookkeeping."""

from __future__ import annotations

from ._jit import kernel
from .common import hill

AVOGADRO = 6.02214076e23


@kernel
def recruitment_rate(max_cells_per_min, tumor_cells, tumor_half, chemokine_pM, chemokine_half, chemokine_weight, boost):
    """Influx of a host immune population (cells/min).

    Scales with tumour size (saturating at ``tumor_half`` cells) and with the
    CXCL9/10 chemokine gradient it creates, times an external ``boost``
    (e.g. anti-CTLA-4 priming, host immune competence).
    """
    size = hill(tumor_cells, tumor_half, 1.0)
    chem = 1.0 + chemokine_weight * hill(chemokine_pM, chemokine_half, 1.0)
    return max_cells_per_min * size * chem * boost


@kernel
def secretion_to_concentration_rate(molecules_per_min, volume_um3):
    """Convert a secretion flux (molecules/min) into a concentration rate
    (pM/min) in a volume given in cubic micrometres (1 um^3 = 1e-15 L)."""
    return molecules_per_min / (AVOGADRO * volume_um3 * 1e-15) * 1e12


@kernel
def cytokine_rate(conc_pM, production_pM_per_min, decay_per_min, uptake_per_min, receptor_fraction):
    """Rate of change of a cytokine concentration (pM/min).

    Production, free decay, and receptor-mediated uptake by the fraction of
    tissue that bears the receptor: consumption, not a single decay constant,
    sets the cytokine's reach (Centofanti 2023; Hoekstra 2020).
    """
    return production_pM_per_min - (decay_per_min + uptake_per_min * receptor_fraction) * conc_pM
