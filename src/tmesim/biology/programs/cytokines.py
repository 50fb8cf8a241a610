"""Cytokine turnover and the host's context: decay, receptor uptake, immune competence.

Consumption by receptor-bearing cells, not one decay constant, sets how far
a cytokine reaches (Centofanti 2023; Hoekstra 2020): each cytokine decays
freely and is taken up at a rate per receptor-bearing cell (IFN-gamma by
every cell with IFNGR, tumour and host alike; IL-12 by lymphocytes; IL-2 by
T cells). The host group carries what is the host's rather than any one
cell's: its immune competence (an immunodeficient host recruits and primes
less), IFNGR loss (host cells blind to IFN-gamma) and IL-12 blockade
(neutralising antibody).
"""

from __future__ import annotations

from ..groups import ParamGroup

PARAMS = ParamGroup(
    "cytokines",
    fields=("ifng_decay_rate", "ifng_uptake_rate", "il12_decay_rate", "il12_uptake_rate", "il10_decay_rate",
            "tgfb_decay_rate", "il2_decay_rate", "il2_uptake_rate", "cxcl9_decay_rate"),
    doc="cytokine free decay (1/min) and uptake per receptor-bearing cell (1/min)",
)

HOST_PARAMS = ParamGroup(
    "host",
    fields=("host_immune_competence", "host_ifngr_loss", "il12_blockade"),
    doc="the host: immune competence (0..1), IFNGR signalling lost (0..1), IL-12 neutralised (0..1)",
)
