"""The well-mixed engine's parameter row: the cell programs' groups plus its own closures.

One row per (arm, virtual patient): every cell program's resolved parameter
group (:mod:`tmesim.biology.programs`), host T cells and CAR T cells as two
kinds of the one T cell program, and the groups only the well-mixed model
reads: :data:`TISSUE` (its quasi-steady metabolites from tumour size,
recruitment by tumour size, target sharing, corpse clearance, the tissue's
volume and stromal share) and :data:`INITIAL` (initial populations).
:func:`tmesim.params.resolve.resolve` turns parameter values into rows of
:data:`ROW`; compiled code reads ``p.tumor.tumor_growth_rate``,
``p.car_t.proliferation_rate``.
"""

from __future__ import annotations

from ..biology.groups import Layout, ParamGroup, Slot
from ..biology.programs import cytokines, macrophage, nk, pharmacology, t_cell, tumor

TISSUE = ParamGroup(
    "tissue",
    fields=(
        "tumor_carrying_capacity", "oxygen_vessel", "oxygen_supply_factor", "hypoxia_size_half", "glucose_plasma",
        "glucose_supply_factor", "glucose_size_half", "tryptophan_plasma", "tryptophan_supply_factor",
        "ido1_tryptophan_consumption", "cystine_plasma", "tissue_volume_per_cell", "interstitial_fraction",
        "stromal_cell_fraction", "tme_lipid_level", "dead_cell_lipid_release", "kill_saturation_ratio",
        "corpse_clearance_rate", "recruitment_size_half", "cd8_recruitment_max", "cd4_to_cd8_recruitment",
        "treg_recruitment_max", "nk_recruitment_max", "macrophage_recruitment_max", "cxcl9_half",
        "cxcl9_recruitment_weight", "ctla4_priming_boost", "dead_cell_priming_boost", "extinction_cells",
    ),
    doc="the well-mixed closures: metabolites and recruitment from tumour size, target sharing, clearance, volume, "
        "extinction below one cell",
)

INITIAL = ParamGroup(
    "initial",
    fields=("initial_tumor_cells", "initial_cd8_per_tumor_cell", "initial_cd4_per_tumor_cell",
            "initial_treg_per_tumor_cell", "initial_nk_per_tumor_cell", "initial_macrophages_per_tumor_cell",
            "initial_m1_fraction"),
    doc="initial populations, per initial tumour cell",
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
))
