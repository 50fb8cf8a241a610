"""FROZEN copy (7bd9782), do not edit. Catalogue of the well-mixed model's state variables and derived outputs.

Each entry is ``(name, units, long_name, group, atol)``. The position in the
list is the index in the state vector; module attributes with the entry's name
hold that index so compiled code reads ``S.tumor_live`` as a constant.
State variables come first (``core``, integrated implicitly), then cumulative
counters (``quad``: they feed nothing back and are integrated explicitly).
``atol`` is the absolute tolerance of the integrator in the entry's unit;
for cytokines 1e-4 pM is far below any receptor's affinity (pM range) and
lets the first hours, when cytokines rise from zero, take longer steps. The
tumour's mean intracellular states take 1e-5 of their unit (of the death
threshold for lipid peroxide, 10 nM of glutathione against millimolar
levels): it binds only where a state is below about 0.1, and there the
steps under daily IKE were set by lipid-peroxide digits with no biological
meaning (1e-7 took 8% more steps; 1e-4 let the accuracy test's glutathione
error reach 1.2e-3 at rtol 1e-4).
"""

from __future__ import annotations

import sys

_AXIS = [
    ("mito_depolarization", "1", "mitochondrial depolarisation (fraction of mitochondria)", 1e-6),
    ("proteasome", "1", "proteasome activity (relative to rested T cell)", 1e-6),
    ("free_heme", "1", "free regulatory heme (relative to rested T cell)", 1e-6),
    ("nuclear_heme", "1", "nuclear heme (relative to rested T cell)", 1e-6),
    ("bach2", "1", "BACH2 (relative to rested T cell)", 1e-6),
    ("pd1", "1", "PD-1 expression (relative to rested T cell)", 1e-6),
    ("lipid_peroxide", "1", "lipid peroxide (relative; 1 = ferroptosis threshold)", 1e-6),
    ("cd36", "1", "CD36 expression (relative to rested T cell)", 1e-6),
]


def _axis(prefix: str, who: str):
    return [(f"{prefix}_{n}", u, f"{who} {ln}", "exhaustion_axis", a) for n, u, ln, a in _AXIS]


CORE = [
    ("tumor_antigen_positive", "cell", "viable tumor cells carrying the CAR antigen", "tumor", 1.0),
    ("tumor_antigen_negative", "cell", "viable tumor cells lacking the CAR antigen (escape subclone)", "tumor", 1.0),
    ("tumor_dead_apoptotic", "cell", "apoptotic tumor corpses awaiting clearance", "tumor", 1.0),
    ("tumor_dead_ferroptotic", "cell", "ferroptotic tumor corpses awaiting clearance", "tumor", 1.0),
    ("tumor_dead_necrotic", "cell", "necrotic tumor corpses awaiting clearance", "tumor", 1.0),
    ("tumor_stat1", "1", "tumor STAT1 activity (0..1)", "tumor_signalling", 1e-5),
    ("tumor_slc7a11", "1", "tumor SLC7A11 expression (relative)", "tumor_ferroptosis", 1e-5),
    ("tumor_acsl4", "1", "tumor ACSL4 expression (relative)", "tumor_ferroptosis", 1e-5),
    ("tumor_gsh", "mM", "tumor glutathione", "tumor_ferroptosis", 1e-5),
    ("tumor_labile_iron", "uM", "tumor labile iron pool", "tumor_ferroptosis", 1e-5),
    ("tumor_pufa_pl", "1", "tumor PUFA-phospholipids (relative)", "tumor_ferroptosis", 1e-5),
    ("tumor_lipid_peroxide", "1", "tumor lipid peroxide (relative; 1 = death threshold)", "tumor_ferroptosis", 1e-5),
    ("cd8_effector", "cell", "host CD8 T cells, effector", "t_cells", 1e-3),
    ("cd8_progenitor_exhausted", "cell", "host CD8 T cells, progenitor exhausted (TCF1+)", "t_cells", 1e-3),
    ("cd8_terminal_exhausted", "cell", "host CD8 T cells, terminally exhausted (TIM-3+)", "t_cells", 1e-3),
    ("cd8_anergic", "cell", "host CD8 T cells, anergic", "t_cells", 1e-3),
    ("cd8_senescent", "cell", "host CD8 T cells, senescent", "t_cells", 1e-3),
    ("cd4_effector", "cell", "host CD4 T cells, effector/helper", "t_cells", 1e-3),
    ("cd4_progenitor_exhausted", "cell", "host CD4 T cells, progenitor exhausted", "t_cells", 1e-3),
    ("cd4_terminal_exhausted", "cell", "host CD4 T cells, terminally exhausted", "t_cells", 1e-3),
    ("treg", "cell", "regulatory T cells", "t_cells", 1e-3),
    ("car_cd8_stem_memory", "cell", "CD8 CAR T cells, stem-like memory (TCF1+ PD-1-)", "car_t_cells", 1e-3),
    ("car_cd8_effector", "cell", "CD8 CAR T cells, effector", "car_t_cells", 1e-3),
    ("car_cd8_progenitor_exhausted", "cell", "CD8 CAR T cells, progenitor exhausted", "car_t_cells", 1e-3),
    ("car_cd8_terminal_exhausted", "cell", "CD8 CAR T cells, terminally exhausted", "car_t_cells", 1e-3),
    ("car_cd4_stem_memory", "cell", "CD4 CAR T cells, stem-like memory (TCF1+ PD-1-)", "car_t_cells", 1e-3),
    ("car_cd4_effector", "cell", "CD4 CAR T cells, effector", "car_t_cells", 1e-3),
    ("car_cd4_progenitor_exhausted", "cell", "CD4 CAR T cells, progenitor exhausted", "car_t_cells", 1e-3),
    ("car_cd4_terminal_exhausted", "cell", "CD4 CAR T cells, terminally exhausted", "car_t_cells", 1e-3),
    ("nk", "cell", "NK cells", "innate", 1e-3),
    ("macrophage_m1", "cell", "M1-like tumor-associated macrophages", "innate", 1e-3),
    ("macrophage_m2", "cell", "M2-like tumor-associated macrophages", "innate", 1e-3),
    *_axis("host_t", "host T cell"),
    *_axis("car_t", "CAR T cell"),
    ("ifng", "pM", "IFN-gamma", "cytokines", 1e-4),
    ("il12", "pM", "IL-12", "cytokines", 1e-4),
    ("il10", "pM", "IL-10", "cytokines", 1e-4),
    ("tgfb", "pM", "TGF-beta", "cytokines", 1e-4),
    ("il2", "pM", "IL-2", "cytokines", 1e-4),
    ("cxcl9", "pM", "CXCL9/10", "cytokines", 1e-4),
]

QUAD = [
    ("kills_cd8", "cell", "tumor cells killed by host CD8 T cells (cumulative)", "deaths", 1.0),
    ("kills_cd4", "cell", "tumor cells killed by host CD4 T cells (cumulative)", "deaths", 1.0),
    ("kills_car_cd8", "cell", "tumor cells killed by CD8 CAR T cells (cumulative)", "deaths", 1.0),
    ("kills_car_cd4", "cell", "tumor cells killed by CD4 CAR T cells (cumulative)", "deaths", 1.0),
    ("kills_nk", "cell", "tumor cells killed by NK cells (cumulative)", "deaths", 1.0),
    ("kills_macrophage", "cell", "tumor cells killed by M1-like macrophages (cumulative)", "deaths", 1.0),
    ("deaths_ifng_apoptosis", "cell", "tumor apoptosis induced by IFN-gamma (cumulative)", "deaths", 1.0),
    ("deaths_ferroptosis", "cell", "tumor ferroptotic deaths (cumulative)", "deaths", 1.0),
    ("deaths_necrosis", "cell", "tumor necrotic deaths (cumulative)", "deaths", 1.0),
    ("t_cell_ferroptosis", "cell", "T cell ferroptotic deaths (cumulative)", "deaths", 1e-3),
]

AUX = [
    ("tumor_live", "cell", "viable tumor cells (both clones)", "tumor"),
    ("oxygen", "mmHg", "tumor oxygen (mean)", "metabolites"),
    ("glucose", "mM", "tumor interstitial glucose", "metabolites"),
    ("tryptophan", "uM", "tumor interstitial tryptophan", "metabolites"),
    ("kynurenine", "uM", "tumor interstitial kynurenine", "metabolites"),
    ("cystine", "uM", "tumor interstitial cystine", "metabolites"),
    ("extracellular_iron", "1", "extracellular iron available to tumor (relative)", "metabolites"),
    ("ros", "1", "extracellular ROS/NO (relative)", "metabolites"),
    ("ox_lipid_signal", "1", "ferroptotic corpse signal (fraction of tissue cells)", "metabolites"),
    ("tumor_cystine_uptake", "1", "tumor cystine uptake (relative)", "tumor_ferroptosis"),
    ("tumor_gpx4_activity", "1", "tumor GPX4 activity (relative)", "tumor_ferroptosis"),
    ("tumor_ferroptosis_hazard", "1/day", "tumor ferroptotic death hazard", "tumor_ferroptosis"),
    ("tumor_pdl1", "1", "tumor PD-L1 (relative)", "tumor_signalling"),
    ("tumor_mhc1", "1", "tumor MHC-I (relative)", "tumor_signalling"),
    ("tumor_ido1", "1", "tumor IDO1 (relative)", "tumor_signalling"),
    ("host_t_stimulation", "1", "antigen stimulation of host T cells (0..1)", "exhaustion_axis"),
    ("car_t_stimulation", "1", "antigen stimulation of CAR T cells (0..1)", "exhaustion_axis"),
    ("host_t_pd1_inhibition", "1", "host T cell function lost to PD-1 (0..1)", "exhaustion_axis"),
    ("pd1_blockade", "1", "PD-1/PD-L1 axis blockade (0..1)", "drugs"),
]

NAMES = [e[0] for e in CORE + QUAD]
AUX_NAMES = [e[0] for e in AUX]
N_CORE = len(CORE)
N_STATE = len(CORE) + len(QUAD)
N_AUX_BASE = len(AUX)

_mod = sys.modules[__name__]
for _i, _n in enumerate(NAMES):
    setattr(_mod, _n, _i)
AXIS_LEN = len(_AXIS)


# Derived outputs: ``S.aux_oxygen`` etc. index the aux vector; drug
# concentrations follow the named entries (see protocols.drugs).
for _i, _n in enumerate(AUX_NAMES):
    setattr(_mod, "aux_" + _n, _i)


def atol() -> "list[float]":
    """Absolute tolerance of each state variable, in its own unit."""
    return [e[4] for e in CORE + QUAD]


def info(name: str) -> tuple[str, str, str]:
    """``(units, long_name, group)`` of a state variable or derived output."""
    for e in CORE + QUAD + AUX:
        if e[0] == name:
            return e[1], e[2], e[3]
    raise KeyError(name)
