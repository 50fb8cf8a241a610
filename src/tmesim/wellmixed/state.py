"""Catalogue of the well-mixed model's state variables and derived outputs.

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

from ..biology.programs.t_cell import AXIS
from ..biology.programs.tumor import STATE as TUMOR_STATE


def _schema(prefix: str, schema, atol: float, group, who: str = ""):
    """State entries of a cell program's schema (:class:`~tmesim.biology.schema.StateSchema`) as the mean
    state of a pool: names under ``prefix``, long names after ``who``; ``group`` is a group name or a
    function of the variable's name."""
    return [(f"{prefix}_{v.name}", v.unit, f"{who} {v.long_name}" if who else v.long_name,
             group(v.name) if callable(group) else group, atol) for v in schema]


#: T cell pools (lineage, state, long name): host CD8 and CD4 T cells, then the CAR T lineages.
HOST_POOLS = (
    ("cd8", "effector", "host CD8 T cells, effector"),
    ("cd8", "progenitor_exhausted", "host CD8 T cells, progenitor exhausted (TCF1+)"),
    ("cd8", "terminal_exhausted", "host CD8 T cells, terminally exhausted (TIM-3+)"),
    ("cd8", "anergic", "host CD8 T cells, anergic"),
    ("cd8", "senescent", "host CD8 T cells, senescent"),
    ("cd4", "effector", "host CD4 T cells, effector/helper"),
    ("cd4", "progenitor_exhausted", "host CD4 T cells, progenitor exhausted"),
    ("cd4", "terminal_exhausted", "host CD4 T cells, terminally exhausted"),
)
CAR_POOLS = tuple((lineage, state, f"{who} CAR T cells, {what}")
                  for lineage, who in (("car_cd8", "CD8"), ("car_cd4", "CD4"))
                  for state, what in (("stem_memory", "stem-like memory (TCF1+ PD-1-)"), ("effector", "effector"),
                                      ("progenitor_exhausted", "progenitor exhausted"),
                                      ("terminal_exhausted", "terminally exhausted")))
#: Variable name -> (lineage, state) of every T cell pool (Tregs are a population of their own).
T_CELL_POOLS = {f"{lineage}_{state}": (lineage, state) for lineage, state, _ in HOST_POOLS + CAR_POOLS}


def _t_pools(pools, group):
    return [(f"{lineage}_{state}", "cell", long_name, group, 1e-3) for lineage, state, long_name in pools]


CORE = [
    ("tumor_live", "cell", "viable tumor cells", "tumor", 1.0),
    ("tumor_dead_apoptotic", "cell", "apoptotic tumor corpses awaiting clearance", "tumor", 1.0),
    ("tumor_dead_ferroptotic", "cell", "ferroptotic tumor corpses awaiting clearance", "tumor", 1.0),
    ("tumor_dead_necrotic", "cell", "necrotic tumor corpses awaiting clearance", "tumor", 1.0),
    *_schema("tumor", TUMOR_STATE, 1e-5, lambda n: "tumor_signalling" if n == "stat1" else "tumor_ferroptosis"),
    *_t_pools(HOST_POOLS, "t_cells"),
    ("treg", "cell", "regulatory T cells", "t_cells", 1e-3),
    *_t_pools(CAR_POOLS, "car_t_cells"),
    ("nk", "cell", "NK cells", "innate", 1e-3),
    ("macrophage_m1", "cell", "M1-like tumor-associated macrophages", "innate", 1e-3),
    ("macrophage_m2", "cell", "M2-like tumor-associated macrophages", "innate", 1e-3),
    *_schema("host_t", AXIS, 1e-6, "exhaustion_axis", "host T cell"),
    *_schema("car_t", AXIS, 1e-6, "exhaustion_axis", "CAR T cell"),
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
AXIS_LEN = len(AXIS)
TUMOR_STATE_LEN = len(TUMOR_STATE)


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
