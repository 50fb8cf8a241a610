"""The tumour STAT1 hub: IFN-gamma sensing and what STAT1 switches on.

IFN-gamma activates JAK1/STAT1 through IFNGR. Bystander cells need hours of
exposure before their phenotype changes (Thibaut 2020), so STAT1 activity is a
state with its own time constant rather than an instant switch. STAT1 then
represses system Xc- and induces ACSL4 (see :mod:`.ferroptosis`) and raises
PD-L1, MHC-I, IDO1 and CXCL9/10.
"""

from __future__ import annotations

from .._jit import kernel
from .common import hill, relax


@kernel
def stat1_target(ifng_pM, ifngr_fraction, ec50_pM, hill_n):
    """STAT1 activity (0..1) a cell relaxes towards at IFN-gamma ``ifng_pM`` (pM).

    ``ifngr_fraction``: IFNGR/JAK1/STAT1 signalling left (1 intact, 0 knocked out); ``ec50_pM`` (pM) and
    ``hill_n``: half-maximal activation and Hill power.
    """
    return ifngr_fraction * hill(ifng_pM, ec50_pM, hill_n)


@kernel
def stat1_rate(stat1, ifng_pM, ifngr_fraction, ec50_pM, hill_n, tau_min):
    """Rate of change of STAT1 activity (fraction 0..1, per minute).

    Parameters
    ----------
    stat1 : STAT1 activity, 0 (none) .. 1 (maximal).
    ifng_pM : IFN-gamma concentration the cell sees (pM).
    ifngr_fraction : IFNGR/JAK1/STAT1 signalling left (1 intact, 0 knocked out).
    ec50_pM, hill_n : concentration of half-maximal STAT1 activation and Hill power.
    tau_min : time constant of STAT1 activation and decay (minutes).
    """
    return relax(stat1, stat1_target(ifng_pM, ifngr_fraction, ec50_pM, hill_n), tau_min)


@kernel
def induced_level(stat1, basal, max_fold):
    """Expression of a STAT1 target relative to the unstimulated cell.

    ``basal * (1 + (max_fold - 1) * stat1)``: 1x at rest, ``max_fold`` at full
    STAT1 (PD-L1, MHC-I, IDO1, CXCL9/10).
    """
    return basal * (1.0 + (max_fold - 1.0) * stat1)
