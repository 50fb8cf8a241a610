"""The spatial engine's parameter row: the cell programs' groups plus what space needs.

The cell programs read the same groups as in the well-mixed engine (host T
cells and CAR T cells as two kinds of the one T cell program). Instead of the
well-mixed closures, the spatial engine reads :data:`TRANSPORT` (diffusion,
uptake, vessel exchange, motility, contact killing) and :data:`TISSUE` (plasma
levels and supply factors at the vessels, recruitment at the vessels, corpse
clearance, the stroma's IFN-gamma sink) and :data:`INITIAL` (immune cells per
initial tumour cell; the tumour itself comes from the scenario's geometry).
"""

from __future__ import annotations

from ..biology.groups import Layout, ParamGroup, Slot
from ..biology.programs import cytokines, macrophage, nk, pharmacology, t_cell, tumor

TRANSPORT = ParamGroup(
    "transport",
    fields=(
        "oxygen_diffusion", "oxygen_decay_rate", "cell_oxygen_uptake_rate", "glucose_diffusion",
        "cell_glucose_uptake_rate", "small_molecule_diffusion", "tumor_cystine_uptake_rate",
        "ido1_tryptophan_uptake_rate", "ifng_diffusion", "il12_diffusion", "il10_diffusion", "tgfb_diffusion",
        "il2_diffusion", "cxcl9_diffusion", "antibody_diffusion", "vessel_supply_rate", "t_cell_speed", "nk_speed",
        "macrophage_speed", "migration_persistence_time", "chemotaxis_bias", "contact_hits_to_kill",
        "hit_recovery_time",
    ),
    doc="diffusion, uptake, vessel exchange, motility and contact killing",
)

TISSUE = ParamGroup(
    "spatial_tissue",
    fields=(
        "oxygen_vessel", "oxygen_supply_factor", "glucose_plasma", "glucose_supply_factor", "tryptophan_plasma",
        "tryptophan_supply_factor", "cystine_plasma", "interstitial_fraction", "stromal_cell_fraction",
        "tme_lipid_level", "dead_cell_lipid_release", "corpse_clearance_rate", "recruitment_size_half",
        "cd8_recruitment_max", "cd4_to_cd8_recruitment", "treg_recruitment_max", "nk_recruitment_max",
        "macrophage_recruitment_max", "cxcl9_half", "cxcl9_recruitment_weight", "ctla4_priming_boost",
        "dead_cell_priming_boost",
    ),
    doc="plasma levels and supply at vessels, recruitment at vessels, clearance, the stroma's IFN-gamma sink",
)

INITIAL = ParamGroup(
    "spatial_initial",
    fields=("initial_cd8_per_tumor_cell", "initial_cd4_per_tumor_cell", "initial_treg_per_tumor_cell",
            "initial_nk_per_tumor_cell", "initial_macrophages_per_tumor_cell", "initial_m1_fraction"),
    doc="immune cells per initial tumour cell",
)

ROW = Layout((
    Slot("drugs", pharmacology.PARAMS, pharmacology.SOURCES),
    Slot("tumor", tumor.PARAMS),
    Slot("host_t", t_cell.PARAMS, t_cell.KINDS["host"]),
    Slot("car_t", t_cell.PARAMS, t_cell.KINDS["car"]),
    Slot("treg", t_cell.TREG_PARAMS),
    Slot("nk", nk.PARAMS),
    Slot("macrophage", macrophage.PARAMS),
    Slot("cytokines", cytokines.PARAMS),
    Slot("host", cytokines.HOST_PARAMS),
    Slot("tissue", TISSUE),
    Slot("initial", INITIAL),
    Slot("transport", TRANSPORT),
))
