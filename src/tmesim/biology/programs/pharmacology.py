"""Drug exposure -> effect: which process each drug acts on, and how strongly.

Every drug acts on one *exposure channel* (a process of the cells:
PD-1/PD-L1 engagement, system Xc-, GPX4, ...). Its effect is
``emax * C / (ec50 + C)`` at the concentration ``C`` (mg/L) the cells see;
drugs on the same channel combine by independent action (Bliss): the first
drug of a channel sets it, each further one adds ``1 - (1 - a)(1 - b)``
(anti-PD-1 with anti-PD-L1; liproxstatin-1 with ferrostatin-1). Cell
programs read the channel values (0..1), never drug names.

Exposure in the tissue is one-compartment kinetics: a dose raises the
concentration by ``dose / volume`` and it decays with the drug's half-life
(the parameter set decides: mouse anti-PD-1 about 22 h, human about 20-26
days). The well-mixed engine evaluates it in closed form
(:func:`concentration`); a spatial engine reads drug fields instead.
"""

from __future__ import annotations

import sys
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from ..._jit import kernel
from ..common import occupancy
from ..groups import ParamGroup

#: Exposure channels, in order: the processes drugs act on (values 0..1).
CHANNELS = (
    "pd1_blockade",       # PD-1/PD-L1 engagement blocked
    "ctla4_blockade",     # CTLA-4 blocked: more priming, Treg depletion
    "xc_inhibition",      # system Xc- (SLC7A11) transport inhibited
    "cystine_depletion",  # extracellular cystine/cysteine degraded
    "gpx4_inhibition",    # GPX4 inhibited (tumour and T cells)
    "rta_block",          # lipid radicals trapped (ferroptosis inhibitors)
    "iron_chelation",     # labile iron chelated
    "tlr_agonism",        # TLR7/8 agonism of macrophages
    "csf1r_inhibition",   # CSF1R signalling inhibited
    "heme_import_block",  # nuclear haem import (PGRMC2) blocked
    "ido_inhibition",     # IDO1 inhibited
)
N_CHANNELS = len(CHANNELS)


@dataclass(frozen=True)
class Drug:
    """A drug: its name, the exposure channel it acts on, its target and a one-line description."""

    name: str
    channel: str
    target: str
    description: str

    def param(self, what: str) -> str:
        """Name of one of its parameters: ``half_life``, ``volume``, ``ec50`` or ``emax``."""
        return f"{self.name}_{what}"


DRUGS: tuple[Drug, ...] = (
    Drug("anti_pd1", "pd1_blockade", "PD-1 on T cells",
         "anti-PD-1 antibody: blocks PD-1/PD-L1 engagement, reinvigorates progenitor-exhausted T cells"),
    Drug("anti_pdl1", "pd1_blockade", "PD-L1 on tumour", "anti-PD-L1 antibody: blocks PD-1/PD-L1 engagement"),
    Drug("anti_ctla4", "ctla4_blockade", "CTLA-4",
         "anti-CTLA-4 antibody: more priming and recruitment of T cells, depletes Tregs"),
    Drug("ike", "xc_inhibition", "system Xc-", "imidazole ketone erastin: system Xc- (SLC7A11) inhibitor"),
    Drug("cysteinase", "cystine_depletion", "extracellular cystine", "cyst(e)inase: degrades extracellular cystine/cysteine"),
    Drug("rsl3", "gpx4_inhibition", "GPX4", "RSL3: covalent GPX4 inhibitor (acts on tumour and T cells)"),
    Drug("liproxstatin", "rta_block", "lipid radicals", "liproxstatin-1: radical-trapping antioxidant, ferroptosis inhibitor"),
    Drug("ferrostatin", "rta_block", "lipid radicals", "ferrostatin-1: radical-trapping antioxidant, ferroptosis inhibitor"),
    Drug("deferoxamine", "iron_chelation", "labile iron", "deferoxamine: iron chelator"),
    Drug("tlr78_agonist", "tlr_agonism", "TAM polarisation", "TLR7/8 agonist (e.g. resiquimod): repolarises TAMs to M1-like"),
    Drug("csf1r_inhibitor", "csf1r_inhibition", "TAM recruitment/survival",
         "CSF1R inhibitor: blocks TAM recruitment, depletes M2-like TAMs"),
    Drug("pgrmc2_blocker", "heme_import_block", "nuclear heme import", "PGRMC2 blocker: prevents heme's nuclear import in T cells"),
    Drug("ido_inhibitor", "ido_inhibition", "IDO1", "IDO1 inhibitor (e.g. epacadostat)"),
)
N_DRUGS = len(DRUGS)
#: Each drug's channel index, and whether it is the first drug of its channel (compile-time tables).
DRUG_CHANNEL = np.array([CHANNELS.index(d.channel) for d in DRUGS], dtype=np.int64)
FIRST_OF_CHANNEL = np.array([[e.channel for e in DRUGS].index(d.channel) == i for i, d in enumerate(DRUGS)])
_BY_CHANNEL = [[i for i, d in enumerate(DRUGS) if d.channel == c] for c in CHANNELS]
MAX_PER_CHANNEL = max(len(b) for b in _BY_CHANNEL)
#: The drugs of each channel, padded with -1.
CHANNEL_DRUGS = np.array([b + [-1] * (MAX_PER_CHANNEL - len(b)) for b in _BY_CHANNEL], dtype=np.int64)

#: ``EX.<channel>``: the channel's index in an exposure vector (numba folds it into a constant).
EX = namedtuple("ExposureIndex", CHANNELS)(*range(N_CHANNELS))

_PK = ("half_life", "volume", "ec50", "emax")
#: Per-drug pharmacokinetics and effect, as vectors over :data:`DRUGS`:
#: half-life (min), volume of distribution (L/kg), ec50 (mg/L), emax (0..1).
PARAMS = ParamGroup("drugs", fields=_PK, vectors={w: N_DRUGS for w in _PK},
                    doc="per-drug half-life, volume of distribution, ec50 and emax (vectors over DRUGS)")
#: The catalogue parameter behind each element of each vector field.
SOURCES = {w: tuple(d.param(w) for d in DRUGS) for w in _PK}

_mod = sys.modules[__name__]
for _i, _d in enumerate(DRUGS):
    setattr(_mod, _d.name, _i)


@kernel
def concentration(c0, t0, t, half_life):
    """Concentration (mg/L) at ``t`` (min) of a drug at ``c0`` (mg/L) at ``t0`` (min), one-compartment decay."""
    k = np.log(2.0) / half_life
    return c0 * np.exp(-k * (t - t0))


@kernel
def exposures(conc, pk, out):
    """Fill ``out`` (length :data:`N_CHANNELS`) with each channel's exposure (0..1).

    Parameters
    ----------
    conc : concentration of each drug of :data:`DRUGS` (mg/L) where the cell is.
    pk : the resolved :data:`PARAMS` record (vectors ``ec50`` in mg/L, ``emax``).
    out : written; ``out[EX.<channel>]`` is the channel's effect.
    """
    for c in range(N_CHANNELS):
        d = CHANNEL_DRUGS[c, 0]
        e = occupancy(conc[d], pk.ec50[d], pk.emax[d])
        for k in range(1, MAX_PER_CHANNEL):
            d = CHANNEL_DRUGS[c, k]
            if d >= 0:
                e = 1.0 - (1.0 - e) * (1.0 - occupancy(conc[d], pk.ec50[d], pk.emax[d]))
        out[c] = e
