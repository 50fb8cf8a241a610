"""The NK cell program: activation by IL-12 and IFN-gamma, missing-self killing, IFN-gamma on engagement.

IL-12 drives NK expansion and cytotoxicity; IFN-gamma, through the host's
IFNGR, only primes cytotoxicity. NK cells are inhibited by MHC-I on their
targets (missing self) and secrete IFN-gamma when activating receptors
engage a target: cytokines raise how much, but do not replace the trigger.
"""

from __future__ import annotations

from collections import namedtuple

from ..._jit import program as program_kernel
from .. import killing as kil
from ..common import hill
from ..groups import ParamGroup

PARAMS = ParamGroup(
    "nk_cell",
    fields=("nk_max_kill_rate", "nk_mhc1_inhibition", "nk_il12_boost", "nk_ifng_boost", "nk_proliferation_rate",
            "nk_death_rate", "nk_target_engagement_half", "nk_ifng_secretion", "il12_half", "ifng_half"),
    doc="the NK cell program: activation, killing, IFN-gamma secretion, IL-12-driven division",
)

#: An NK cell's activation (>= 1), kill rate (kills/min, before IL-10/TGF-beta suppression), division and
#: death hazards and their difference (1/min).
NKFate = namedtuple("NKFate", "activation kill_rate division death net_growth")


@program_kernel
def program(il12, ifng, host_ifngr, mhc1, p):
    """Activation, killing and growth of an NK cell (or a pool's mean cell): an :class:`NKFate`.

    Parameters
    ----------
    il12, ifng : IL-12 available (after any blockade) and IFN-gamma (pM) the cell sees.
    host_ifngr : the host's IFNGR signalling left (1 intact, 0 knocked out).
    mhc1 : MHC-I of its targets (relative).
    p : the resolved :data:`PARAMS` record.
    """
    il12_boost = kil.cytokine_boost(il12, p.il12_half, p.nk_il12_boost)
    act = il12_boost + p.nk_ifng_boost * host_ifngr * hill(ifng, p.ifng_half, 1.0)
    division = p.nk_proliferation_rate * (il12_boost - 1.0)
    return NKFate(
        act,
        kil.nk_kill_rate(p.nk_max_kill_rate, mhc1, p.nk_mhc1_inhibition, act),
        division,
        p.nk_death_rate,
        division - p.nk_death_rate,
    )


@program_kernel
def ifng_secretion(nk_cells, activation, targets_per_nk, p):
    """IFN-gamma secreted by ``nk_cells`` NK cells at ``activation`` (molecules/min): only those whose
    activating receptors engage a target secrete (``targets_per_nk`` tumour cells per NK cell within reach)."""
    return p.nk_ifng_secretion * nk_cells * activation * kil.nk_target_engagement(targets_per_nk, p.nk_target_engagement_half)
