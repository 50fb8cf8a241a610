"""The drug catalogue for protocols: names, targets, and the parameters of their PK/PD.

Every drug follows one-compartment pharmacokinetics: a dose of ``D`` mg/kg
raises the tumour-exposed concentration by ``D / V`` mg/L (``V`` =
``<drug>_volume`` in L/kg) and the concentration decays with half-life
``<drug>_half_life``. Its effect is ``emax * C / (ec50 + C)`` on the exposure
channel it acts on. What each drug does is the pharmacology program's
(:mod:`tmesim.biology.programs.pharmacology`, where the table lives);
half-lives are a property of the parameter set (mouse anti-PD-1 about 22 h;
human about 20-26 days), not of this module.
"""

from __future__ import annotations

from ..biology.programs.pharmacology import DRUGS, N_DRUGS, Drug

BY_NAME = {d.name: d for d in DRUGS}

__all__ = ["BY_NAME", "DRUGS", "N_DRUGS", "Drug", "get"]


def get(name: str) -> Drug:
    """The drug called ``name``; raises KeyError listing the known drugs."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown drug {name!r}; known: {', '.join(BY_NAME)}") from None
