"""The variables every engine reports: names, units, meanings and figure groups.

This is the vocabulary of the results contract (:mod:`tmesim.results`): the
well-mixed engine integrates these quantities as pool totals and pool means
(:mod:`tmesim.wellmixed.state` adds its solver tolerances and order), the
spatial engine counts and averages its cells and fields into the same names,
so every summary, figure and check reads both scales alike. Each entry is
``(name, units, long_name, group)``.
"""

from __future__ import annotations

from .biology.programs.t_cell import AXIS
from .biology.programs.tumor import STATE as TUMOR_STATE


def schema_means(prefix: str, schema, group, who: str = "") -> list[tuple[str, str, str, str]]:
    """Entries for the mean state of a cell program's schema (:class:`~tmesim.biology.schema.StateSchema`)
    over a population: names under ``prefix``, long names after ``who``; ``group`` is a group name or a
    function of the variable's name."""
    return [(f"{prefix}_{v.name}", v.unit, f"{who} {v.long_name}" if who else v.long_name,
             group(v.name) if callable(group) else group) for v in schema]


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
    return [(f"{lineage}_{state}", "cell", long_name, group) for lineage, state, long_name in pools]


#: Populations, mean intracellular states and cytokines, in the well-mixed state's order.
STATE = [
    ("tumor_antigen_positive", "cell", "viable tumor cells carrying the CAR antigen", "tumor"),
    ("tumor_antigen_negative", "cell", "viable tumor cells lacking the CAR antigen (escape subclone)", "tumor"),
    ("tumor_dead_apoptotic", "cell", "apoptotic tumor corpses awaiting clearance", "tumor"),
    ("tumor_dead_ferroptotic", "cell", "ferroptotic tumor corpses awaiting clearance", "tumor"),
    ("tumor_dead_necrotic", "cell", "necrotic tumor corpses awaiting clearance", "tumor"),
    *schema_means("tumor", TUMOR_STATE, lambda n: "tumor_signalling" if n == "stat1" else "tumor_ferroptosis"),
    *_t_pools(HOST_POOLS, "t_cells"),
    ("treg", "cell", "regulatory T cells", "t_cells"),
    *_t_pools(CAR_POOLS, "car_t_cells"),
    ("nk", "cell", "NK cells", "innate"),
    ("macrophage_m1", "cell", "M1-like tumor-associated macrophages", "innate"),
    ("macrophage_m2", "cell", "M2-like tumor-associated macrophages", "innate"),
    *schema_means("host_t", AXIS, "exhaustion_axis", "host T cell"),
    *schema_means("car_t", AXIS, "exhaustion_axis", "CAR T cell"),
    ("ifng", "pM", "IFN-gamma", "cytokines"),
    ("il12", "pM", "IL-12", "cytokines"),
    ("il10", "pM", "IL-10", "cytokines"),
    ("tgfb", "pM", "TGF-beta", "cytokines"),
    ("il2", "pM", "IL-2", "cytokines"),
    ("cxcl9", "pM", "CXCL9/10", "cytokines"),
]

#: Cumulative counters of deaths (they feed nothing back).
COUNTERS = [
    ("kills_cd8", "cell", "tumor cells killed by host CD8 T cells (cumulative)", "deaths"),
    ("kills_cd4", "cell", "tumor cells killed by host CD4 T cells (cumulative)", "deaths"),
    ("kills_car_cd8", "cell", "tumor cells killed by CD8 CAR T cells (cumulative)", "deaths"),
    ("kills_car_cd4", "cell", "tumor cells killed by CD4 CAR T cells (cumulative)", "deaths"),
    ("kills_nk", "cell", "tumor cells killed by NK cells (cumulative)", "deaths"),
    ("kills_macrophage", "cell", "tumor cells killed by M1-like macrophages (cumulative)", "deaths"),
    ("deaths_ifng_apoptosis", "cell", "tumor apoptosis induced by IFN-gamma (cumulative)", "deaths"),
    ("deaths_ferroptosis", "cell", "tumor ferroptotic deaths (cumulative)", "deaths"),
    ("deaths_necrosis", "cell", "tumor necrotic deaths (cumulative)", "deaths"),
    ("t_cell_ferroptosis", "cell", "T cell ferroptotic deaths (cumulative)", "deaths"),
]

#: Counters only the spatial engine keeps: kills the well-mixed model has no way to make (a rules file's attack
#: behaviour given to a cell type that has no killing program of its own).
SPATIAL_COUNTERS = [
    ("kills_other", "cell", "tumor cells killed by other cell types through rules (cumulative)", "deaths"),
]

#: Quantities derived from the state at each output time.
DERIVED = [
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

_INFO = {e[0]: e[1:] for e in STATE + COUNTERS + SPATIAL_COUNTERS + DERIVED}


def info(name: str) -> tuple[str, str, str]:
    """``(units, long_name, group)`` of a reported variable."""
    return _INFO[name]
