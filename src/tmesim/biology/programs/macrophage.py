"""The macrophage program: M1/M2 polarisation, iron handling, killing and secretion.

TAMs move between M1-like (IFN-gamma, IL-12, TLR agonists, CSF1R
inhibition) and M2-like states (IL-10, TGF-beta, oxidised lipids from
ferroptotic cells). The state sets what a macrophage does to its
neighbours: M1-like cells retain iron, make ROS/NO, IL-12 and CXCL9/10 and
kill; M2-like cells export iron and make IL-10 and TGF-beta (Qian 2026
review). CSF1R signalling drives monocyte-to-M2 differentiation and M2
survival, so its inhibition keeps M2-fated recruits off that path (a share
of them enters M1-like instead: inflammatory monocytes need no CSF1R),
depletes M2-like TAMs and re-educates the survivors.
"""

from __future__ import annotations

from collections import namedtuple

from ..._jit import program as program_kernel
from .. import killing as kil
from .. import macrophage as mac
from ..common import hill
from ..groups import ParamGroup
from .pharmacology import EX

PARAMS = ParamGroup(
    "macrophage",
    fields=(
        "m2_to_m1_rate", "m1_to_m2_rate", "m1_ifng_weight", "m1_il12_weight", "m1_tlr_weight", "m1_csf1r_weight",
        "m2_il10_weight", "m2_tgfb_weight", "m2_ox_lipid_weight", "ox_lipid_half", "ifng_half", "il12_half",
        "il10_half", "tgfb_half", "il10_max_suppression", "macrophage_death_rate", "csf1r_m2_depletion",
        "recruit_m1_fraction", "csf1r_monocyte_redirect", "m2_iron_export", "m1_iron_retention", "m1_ros",
        "m1_kill_rate", "phagocytosis_rate", "m1_il12_secretion", "m2_il12_secretion", "il12_ifng_induction",
        "m2_il10_secretion", "m2_tgfb_secretion", "m1_cxcl9_secretion", "cxcl9_induction_fold",
    ),
    doc="the macrophage program: polarisation, recruitment fate, death, iron, ROS, killing, secretion",
)

#: Per-cell hazards (1/min): polarisation M2 -> M1 and M1 -> M2, death, and the extra death of M2-like
#: cells that CSF1R inhibition causes.
MacrophageFate = namedtuple("MacrophageFate", "to_m1 to_m2 death m2_csf1r_depletion")


@program_kernel
def program(ifng, il12, il10, tgfb, ox_lipid, host_ifngr, ex_, p):
    """Polarisation and death hazards of a macrophage: a :class:`MacrophageFate`.

    Parameters
    ----------
    ifng, il12, il10, tgfb : cytokines the cell sees (pM; IL-12 after any blockade).
    ox_lipid : signal of ferroptotic corpses (fraction of neighbouring cells).
    host_ifngr : the host's IFNGR signalling left (1 intact, 0 knocked out); IFN-gamma acts only through it.
    ex_ : drug exposures (:data:`~.pharmacology.EX`): TLR7/8 agonism, CSF1R inhibition.
    p : the resolved :data:`PARAMS` record.
    """
    tlr = ex_[EX.tlr_agonism]
    csf1r = ex_[EX.csf1r_inhibition]
    return MacrophageFate(
        mac.m2_to_m1_rate(p.m2_to_m1_rate, ifng, p.ifng_half, il12, p.il12_half, tlr, p.m1_ifng_weight,
                          p.m1_il12_weight, p.m1_tlr_weight, host_ifngr, csf1r, p.m1_csf1r_weight),
        mac.m1_to_m2_rate(p.m1_to_m2_rate, il10, p.il10_half, tgfb, p.tgfb_half, ox_lipid, p.ox_lipid_half,
                          p.m2_il10_weight, p.m2_tgfb_weight, p.m2_ox_lipid_weight, tlr),
        p.macrophage_death_rate,
        p.csf1r_m2_depletion * csf1r,
    )


@program_kernel
def recruitment(recruits, ex_, p):
    """Where ``recruits`` newly recruited monocytes go (same unit, e.g. cells/min): ``(into M1-like, into M2-like)``.

    A share ``recruit_m1_fraction`` enters M1-like; the rest are M2-fated and need CSF1R, so CSF1R
    inhibition turns a share ``csf1r_monocyte_redirect`` of those it blocks M1-like and loses the rest.
    """
    csf1r = ex_[EX.csf1r_inhibition]
    m2_fated = recruits * (1.0 - p.recruit_m1_fraction)
    return recruits * p.recruit_m1_fraction + m2_fated * csf1r * p.csf1r_monocyte_redirect, m2_fated * (1.0 - csf1r)


@program_kernel
def killing(m1_cells, il10, p):
    """Tumour cells ``m1_cells`` M1-like macrophages can kill per minute (IL-10 suppresses it)."""
    return p.m1_kill_rate * m1_cells * (1.0 - kil.suppression(il10, p.il10_half, p.il10_max_suppression))


@program_kernel
def secretion(m1_cells, m2_cells, ifng, host_ifngr, p):
    """Secretion by ``m1_cells`` M1-like and ``m2_cells`` M2-like macrophages (molecules/min):
    ``(IL-12, IL-10, TGF-beta, CXCL9/10)``. Host IFN-gamma sensing is required for the IL-12 burst
    (Boulch 2021) and induces CXCL9/10."""
    il12 = mac.il12_secretion(m1_cells, m2_cells, ifng, p.ifng_half, host_ifngr, p.m1_il12_secretion,
                              p.m2_il12_secretion, p.il12_ifng_induction, 0.0)
    cxcl9 = p.m1_cxcl9_secretion * m1_cells * (1.0 + (p.cxcl9_induction_fold - 1.0) * host_ifngr * hill(ifng, p.ifng_half, 1.0))
    return il12, p.m2_il10_secretion * m2_cells, p.m2_tgfb_secretion * m2_cells, cxcl9


@program_kernel
def iron_and_ros(m1_share, m2_share, ex_, p):
    """Extracellular iron available to tumour cells and ROS (both relative to TAM-free tissue) next to
    macrophages making up ``m1_share`` and ``m2_share`` of the cells (M2-like export iron, M1-like retain it
    and make ROS/NO); a chelator removes its share of the iron."""
    return (mac.extracellular_iron(m1_share, m2_share, p.m2_iron_export, p.m1_iron_retention, ex_[EX.iron_chelation]),
            mac.ros_level(m1_share, p.m1_ros))
