"""FROZEN copy (7bd9782), do not edit. The drug catalogue: what each drug acts on and which parameters give its PK/PD.

Every drug follows one-compartment pharmacokinetics: a dose of ``D`` mg/kg
raises the tumour-exposed concentration by ``D / V`` mg/L (``V`` =
``<drug>_volume`` in L/kg) and the concentration decays with half-life
``<drug>_half_life``. Its effect is ``emax * C / (ec50 + C)`` on the target
named here. Half-lives are a property of the parameter set (mouse anti-PD-1
about 22 h; human about 20-26 days), not of this module.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Drug:
    """A drug: its name, the process it acts on, and a one-line description."""

    name: str
    target: str
    description: str

    def param(self, what: str) -> str:
        """Name of one of its parameters: ``half_life``, ``volume``, ``ec50`` or ``emax``."""
        return f"{self.name}_{what}"


DRUGS: tuple[Drug, ...] = (
    Drug("anti_pd1", "PD-1 on T cells", "anti-PD-1 antibody: blocks PD-1/PD-L1 engagement, reinvigorates progenitor-exhausted T cells"),
    Drug("anti_pdl1", "PD-L1 on tumour", "anti-PD-L1 antibody: blocks PD-1/PD-L1 engagement"),
    Drug("anti_ctla4", "CTLA-4", "anti-CTLA-4 antibody: more priming and recruitment of T cells, depletes Tregs"),
    Drug("ike", "system Xc-", "imidazole ketone erastin: system Xc- (SLC7A11) inhibitor"),
    Drug("cysteinase", "extracellular cystine", "cyst(e)inase: degrades extracellular cystine/cysteine"),
    Drug("rsl3", "GPX4", "RSL3: covalent GPX4 inhibitor (acts on tumour and T cells)"),
    Drug("liproxstatin", "lipid radicals", "liproxstatin-1: radical-trapping antioxidant, ferroptosis inhibitor"),
    Drug("ferrostatin", "lipid radicals", "ferrostatin-1: radical-trapping antioxidant, ferroptosis inhibitor"),
    Drug("deferoxamine", "labile iron", "deferoxamine: iron chelator"),
    Drug("tlr78_agonist", "TAM polarisation", "TLR7/8 agonist (e.g. resiquimod): repolarises TAMs to M1-like"),
    Drug("csf1r_inhibitor", "TAM recruitment/survival", "CSF1R inhibitor: blocks TAM recruitment, depletes M2-like TAMs"),
    Drug("pgrmc2_blocker", "nuclear heme import", "PGRMC2 blocker: prevents heme's nuclear import in T cells"),
    Drug("ido_inhibitor", "IDO1", "IDO1 inhibitor (e.g. epacadostat)"),
)

N_DRUGS = len(DRUGS)
BY_NAME = {d.name: d for d in DRUGS}

_mod = sys.modules[__name__]
for _i, _d in enumerate(DRUGS):
    setattr(_mod, _d.name, _i)


def get(name: str) -> Drug:
    """The drug called ``name``; raises KeyError listing the known drugs."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown drug {name!r}; known: {', '.join(BY_NAME)}") from None
