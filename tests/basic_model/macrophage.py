"""FROZEN copy (7bd9782), do not edit. Tumour-associated macrophage polarisation, iron handling and clearance.

TAMs move between M1-like (IFN-gamma, IL-12, TLR agonists) and M2-like
(IL-10, TGF-beta, CSF1, and oxidised lipids / KRAS-G12D exosomes released by
ferroptotic tumour cells: Dai 2020). M1-like cells retain iron (ferritin), make
ROS/NO and IL-12; M2-like cells export iron (ferroportin, LCN2), make IL-10 and
TGF-beta (Qian 2026 review). Both clear dead cells.
"""

from __future__ import annotations

from ._jit import kernel
from .common import hill


@kernel
def m2_to_m1_rate(k_base, ifng_pM, ifng_half, il12_pM, il12_half, tlr_agonism, w_ifng, w_il12, w_tlr, ifngr_fraction,
                  csf1r_inhibition, w_csf1r):
    """M2 -> M1 repolarisation hazard (1/min).

    IFN-gamma acts only through host IFNGR (``ifngr_fraction``); TLR7/8
    agonism (0..1) repolarises directly. CSF1 signalling holds the M2
    program, so CSF1R inhibition (0..1) re-educates the TAMs it does not
    deplete (Pyonteck 2013; Zhu 2014).
    """
    drive = (
        w_ifng * ifngr_fraction * hill(ifng_pM, ifng_half, 1.0)
        + w_il12 * hill(il12_pM, il12_half, 1.0)
        + w_tlr * tlr_agonism
        + w_csf1r * csf1r_inhibition
    )
    return k_base * (1.0 + drive)


@kernel
def m1_to_m2_rate(k_base, il10_pM, il10_half, tgfb_pM, tgfb_half, ox_lipid, ox_lipid_half, w_il10, w_tgfb, w_ox, tlr_agonism):
    """M1 -> M2 polarisation hazard (1/min); a TLR agonist holds cells M1."""
    drive = (
        w_il10 * hill(il10_pM, il10_half, 1.0)
        + w_tgfb * hill(tgfb_pM, tgfb_half, 1.0)
        + w_ox * hill(ox_lipid, ox_lipid_half, 1.0)
    )
    return k_base * (1.0 + drive) * (1.0 - tlr_agonism)


@kernel
def extracellular_iron(m1_per_tumor_cell, m2_per_tumor_cell, export_per_m2, retention_per_m1, chelation):
    """Extracellular iron available to tumour cells (relative to TAM-free tissue).

    M2-like TAMs export iron, M1-like TAMs sequester it; a chelator removes a
    fraction ``chelation``.
    """
    return (1.0 + export_per_m2 * m2_per_tumor_cell) / (1.0 + retention_per_m1 * m1_per_tumor_cell) * (1.0 - chelation)


@kernel
def ros_level(m1_per_tumor_cell, ros_per_m1):
    """Extracellular ROS/NO (relative to TAM-free tissue): M1 oxidative burst."""
    return 1.0 + ros_per_m1 * m1_per_tumor_cell


@kernel
def il12_secretion(m1, m2, ifng_pM, ifng_half, ifngr_fraction, per_m1, per_m2, ifng_fold, blockade):
    """IL-12 secretion by host myeloid cells (molecules per minute, summed).

    Host IFN-gamma sensing is required for the IL-12 burst (Boulch 2021);
    ``blockade`` is the neutralised fraction.
    """
    induction = 1.0 + ifng_fold * ifngr_fraction * hill(ifng_pM, ifng_half, 1.0)
    return (per_m1 * m1 + per_m2 * m2) * induction * (1.0 - blockade)


@kernel
def clearance_rate(k_passive, k_phagocytosis, macrophages_per_tumor_cell):
    """Dead-cell clearance hazard (1/min): passive disintegration plus efferocytosis."""
    return k_passive + k_phagocytosis * macrophages_per_tumor_cell
