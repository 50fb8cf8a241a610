"""tmesim's vocabulary for hypothesis rules: cell types, signals and behaviours.

A rules file (PhysiCell's "cell behaviour hypothesis grammar", see
``docs/rules.md``) names a cell type, a signal the cell reads and a behaviour
the rule moves. This module holds the names tmesim's spatial engine knows, as
data: each with its unit, its meaning and what it is inside tmesim (a field
at the cell's lattice site, an intracellular state, a rate of the cell
program). Names follow PhysiCell 1.14.2 (``core/PhysiCell_signal_behavior.cpp``)
with its synonyms; tmesim adds its own states and behaviours (ferroptosis,
exhaustion, macrophage polarisation).

PhysiCell names that have no counterpart on tmesim's lattice (mechanics,
adhesion, fusion, basement membrane, internalised substrates, ...) are kept in
:data:`UNMAPPED` with the reason and a fix, so a rule using one is named in an
error (or, when the caller accepts them, a warning), never dropped silently.

Lookups take any spelling PhysiCell accepts, case- and space-insensitively
(``"Contact with BM"`` = ``"contact with basement membrane"``), and return the
canonical entry. The module imports nothing from tmesim but the standard
library, so the spatial engine can import it cheaply.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

INF = math.inf

# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CellType:
    """A cell type rules may name.

    Attributes
    ----------
    name : canonical name, used in rules and as the engine's type label.
    meaning : one line for a reader.
    maps_to : the cell program in tmesim that gives its base behaviours.
    synonyms : other spellings accepted in a rules file.
    """

    name: str
    meaning: str
    maps_to: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Substrate:
    """A diffusing field (substrate) of the spatial engine.

    Attributes
    ----------
    name : canonical name (as in rules: ``ifng``, ``ifng secretion``).
    unit : unit of its concentration at a lattice site.
    meaning : one line for a reader.
    kind : ``"field"`` (metabolite, cytokine, chemokine) or ``"drug"``.
    diffuses : whether the spatial engine carries it as a diffusing field. ``iron`` does not: the iron a
        cell sees is set by its neighbouring macrophages (``biology.macrophage.extracellular_iron``), so
        it has no gradient and cells cannot secrete, take up or follow it.
    """

    name: str
    unit: str
    meaning: str
    kind: str
    diffuses: bool = True


@dataclass(frozen=True)
class State:
    """A per-cell intracellular state rules may read (``custom:<name>``).

    Attributes
    ----------
    name : canonical name (without the ``custom:`` prefix).
    unit : its unit (``1`` = dimensionless or relative).
    meaning : one line for a reader.
    cell_types : the cell types that carry it.
    maps_to : the state or function in tmesim's cell programs.
    target : what a rule on the *behaviour* ``custom:<name>`` moves (the
        level the program relaxes the state towards), or ``None`` when the
        state is dynamic and rules may only read it.
    """

    name: str
    unit: str
    meaning: str
    cell_types: tuple[str, ...]
    maps_to: str
    target: str | None = None


@dataclass(frozen=True)
class Entry:
    """A signal or a behaviour, after expansion of its family template.

    Attributes
    ----------
    name : canonical name as written in a rule.
    kind : ``"signal"`` or ``"behavior"``.
    unit : unit of the signal (a rule's half-max is in it) or of the
        behaviour (a rule's saturation value is in it).
    meaning : one line for a reader.
    maps_to : what it is inside tmesim.
    family : the template it was expanded from, e.g. ``"<substrate> uptake"``.
    cell_types : the cell types whose rules may use it.
    lower, upper : the range a behaviour's value may take (a rule's
        saturation value is checked against it); infinite for signals.
    synonyms : other spellings accepted in a rules file.
    """

    name: str
    kind: str
    unit: str
    meaning: str
    maps_to: str
    family: str
    cell_types: tuple[str, ...]
    lower: float = -INF
    upper: float = INF
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unmapped:
    """A PhysiCell signal or behaviour that maps to nothing in tmesim.

    Attributes
    ----------
    name : the PhysiCell name (canonical spelling).
    kind : ``"signal"`` or ``"behavior"``.
    family : the template it was expanded from.
    reason : why tmesim has no counterpart.
    fix : what to write instead, or ``None``.
    synonyms : PhysiCell's other spellings.
    """

    name: str
    kind: str
    family: str
    reason: str
    fix: str | None = None
    synonyms: tuple[str, ...] = ()


class UnknownName(LookupError):
    """A name that is not in tmesim's vocabulary (nor among the unmapped ones).

    Attributes
    ----------
    kind : ``"cell type"``, ``"signal"`` or ``"behavior"``.
    text : the name as written.
    suggestions : the nearest valid names (may be empty).
    """

    def __init__(self, kind: str, text: str, suggestions: tuple[str, ...]):
        self.kind = kind
        self.text = text
        self.suggestions = suggestions
        super().__init__(f"unknown {kind} {text!r}")


class UnmappedName(LookupError):
    """A PhysiCell name that maps to nothing in tmesim (see :data:`UNMAPPED`)."""

    def __init__(self, entry: Unmapped, text: str):
        self.entry = entry
        self.text = text
        super().__init__(f"PhysiCell {entry.kind} {text!r} maps to nothing in tmesim: {entry.reason}")


class ReadOnlyState(LookupError):
    """A ``custom:<state>`` behaviour for a state rules may read but not set.

    Attributes
    ----------
    state : the state's name.
    text : the behaviour as written.
    acting : the behaviours that move this state, if any.
    """

    def __init__(self, state: str, text: str, acting: tuple[str, ...]):
        self.state = state
        self.text = text
        self.acting = acting
        super().__init__(f"custom:{state} is a dynamic state rules may read, not set")


class NotForCellType(LookupError):
    """A signal or behaviour that exists, but not for the given cell type."""

    def __init__(self, entry: Entry, cell_type: str, why: str):
        self.entry = entry
        self.cell_type = cell_type
        self.why = why
        super().__init__(f"{entry.kind} {entry.name!r} is not available to {cell_type}: {why}")


# --------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------

T_CELL_TYPES = ("cd8_t_cell", "cd4_t_cell", "car_cd8_t_cell", "car_cd4_t_cell")

CELL_TYPES: tuple[CellType, ...] = (
    CellType("tumor", "tumour cell", "biology.growth, signalling, ferroptosis (tumour program)", ("tumour",)),
    CellType("cd8_t_cell", "host CD8 T cell", "biology.killing, exhaustion (T cell program)"),
    CellType("cd4_t_cell", "host CD4 T cell (helper)", "biology.killing, exhaustion (T cell program)"),
    CellType("car_cd8_t_cell", "CD8 CAR T cell", "biology.killing, exhaustion (T cell program, CAR product)"),
    CellType("car_cd4_t_cell", "CD4 CAR T cell", "biology.killing, exhaustion (T cell program, CAR product)"),
    CellType("treg", "regulatory T cell", "T cell program (suppression)"),
    CellType("nk_cell", "NK cell", "biology.killing.nk_kill_rate (NK program)"),
    CellType("macrophage", "tumour-associated macrophage, M1-like or M2-like (custom:m1_like)",
             "biology.macrophage (macrophage program)"),
)
CELL_TYPE_NAMES: tuple[str, ...] = tuple(c.name for c in CELL_TYPES)
#: Type index used by the compiled rules and the engine's per-cell type array.
CELL_TYPE_INDEX: dict[str, int] = {name: i for i, name in enumerate(CELL_TYPE_NAMES)}
ALL_TYPES = CELL_TYPE_NAMES

_DRUG = "drug concentration (tumour-exposed)"
SUBSTRATES: tuple[Substrate, ...] = (
    Substrate("oxygen", "mmHg", "oxygen partial pressure", "field"),
    Substrate("glucose", "mM", "interstitial glucose", "field"),
    Substrate("cystine", "uM", "extracellular cystine (imported by system Xc-)", "field"),
    Substrate("tryptophan", "uM", "interstitial tryptophan", "field"),
    Substrate("kynurenine", "uM", "interstitial kynurenine (IDO1 product)", "field"),
    Substrate("iron", "1", "extracellular iron available to cells (relative to macrophage-free tissue), set by the "
              "neighbouring macrophages (M2-like export it, M1-like retain it)", "field", diffuses=False),
    Substrate("ifng", "pM", "IFN-gamma", "field"),
    Substrate("il12", "pM", "IL-12", "field"),
    Substrate("il2", "pM", "IL-2", "field"),
    Substrate("il10", "pM", "IL-10", "field"),
    Substrate("tgfb", "pM", "TGF-beta", "field"),
    Substrate("cxcl9", "pM", "CXCL9/10 (T cell chemokine)", "field"),
    Substrate("anti_pd1", "mg/L", f"anti-PD-1 antibody, {_DRUG}", "drug"),
    Substrate("anti_pdl1", "mg/L", f"anti-PD-L1 antibody, {_DRUG}", "drug"),
    Substrate("anti_ctla4", "mg/L", f"anti-CTLA-4 antibody, {_DRUG}", "drug"),
    Substrate("ike", "mg/L", f"imidazole ketone erastin (system Xc- inhibitor), {_DRUG}", "drug"),
    Substrate("cysteinase", "mg/L", f"cyst(e)inase (degrades cystine), {_DRUG}", "drug"),
    Substrate("rsl3", "mg/L", f"RSL3 (GPX4 inhibitor), {_DRUG}", "drug"),
    Substrate("liproxstatin", "mg/L", f"liproxstatin-1 (radical-trapping antioxidant), {_DRUG}", "drug"),
    Substrate("ferrostatin", "mg/L", f"ferrostatin-1 (radical-trapping antioxidant), {_DRUG}", "drug"),
    Substrate("deferoxamine", "mg/L", f"deferoxamine (iron chelator), {_DRUG}", "drug"),
    Substrate("tlr78_agonist", "mg/L", f"TLR7/8 agonist (repolarises TAMs), {_DRUG}", "drug"),
    Substrate("csf1r_inhibitor", "mg/L", f"CSF1R inhibitor (depletes M2-like TAMs), {_DRUG}", "drug"),
    Substrate("pgrmc2_blocker", "mg/L", f"PGRMC2 blocker (blocks haem's nuclear import), {_DRUG}", "drug"),
    Substrate("ido_inhibitor", "mg/L", f"IDO1 inhibitor, {_DRUG}", "drug"),
)
SUBSTRATE_NAMES: tuple[str, ...] = tuple(s.name for s in SUBSTRATES)

_TARGET = "the level the cell program relaxes it towards"
STATES: tuple[State, ...] = (
    State("stat1", "1", "STAT1 activity, 0 (none) .. 1 (maximal)", ("tumor",),
          "tumour STAT1 state (biology.signalling.stat1_rate)", f"STAT1 target activity: {_TARGET}"),
    State("slc7a11", "1", "SLC7A11 (system Xc-) expression, relative to an unstimulated cell", ("tumor",),
          "tumour SLC7A11 state (biology.ferroptosis.slc7a11_target)", f"SLC7A11 target: {_TARGET}"),
    State("acsl4", "1", "ACSL4 expression, relative to an unstimulated cell", ("tumor",),
          "tumour ACSL4 state (biology.ferroptosis.acsl4_target)", f"ACSL4 target: {_TARGET}"),
    State("gsh", "mM", "glutathione", ("tumor",), "tumour GSH state (biology.ferroptosis.gsh_rate)"),
    State("labile_iron", "uM", "labile iron pool", ("tumor",),
          "tumour labile iron state (biology.ferroptosis.labile_iron_rate)"),
    State("pufa_pl", "1", "PUFA-phospholipids, relative to an unstimulated cell", ("tumor",),
          "tumour PUFA-PL state (biology.ferroptosis.pufa_pl_rate)"),
    State("lipid_peroxide", "1", "lipid peroxide, relative (1 = ferroptosis threshold)", ("tumor",) + T_CELL_TYPES,
          "lipid peroxide state (biology.ferroptosis.lipid_peroxide_rate, t_cell_lipid_peroxide_rate)"),
    State("pdl1", "1", "PD-L1, relative to an unstimulated cell", ("tumor",),
          "tumour PD-L1 (biology.signalling.induced_level)", "PD-L1 level set by STAT1 (signalling.induced_level)"),
    State("mhc1", "1", "MHC-I, relative to an unstimulated cell", ("tumor",),
          "tumour MHC-I (biology.signalling.induced_level)", "MHC-I level set by STAT1 (signalling.induced_level)"),
    State("mito_depolarization", "1", "fraction of depolarised mitochondria", T_CELL_TYPES,
          "T cell exhaustion axis (biology.exhaustion.mito_depolarization_rate)"),
    State("proteasome", "1", "proteasome activity, relative to a rested T cell", T_CELL_TYPES,
          "T cell exhaustion axis (biology.exhaustion.proteasome_rate)", f"proteasome target: {_TARGET}"),
    State("free_heme", "1", "free regulatory haem, relative to a rested T cell", T_CELL_TYPES,
          "T cell exhaustion axis (biology.exhaustion.free_heme_rate)"),
    State("nuclear_heme", "1", "nuclear haem, relative to a rested T cell", T_CELL_TYPES,
          "T cell exhaustion axis (biology.exhaustion.nuclear_heme_rate)"),
    State("bach2", "1", "BACH2, relative to a rested T cell", T_CELL_TYPES,
          "T cell exhaustion axis (biology.exhaustion.bach2_rate)", f"BACH2 target: {_TARGET}"),
    State("pd1", "1", "PD-1 expression, relative to a rested T cell", T_CELL_TYPES,
          "T cell exhaustion axis (biology.exhaustion.pd1_rate)", f"PD-1 target: {_TARGET}"),
    State("exhaustion", "1",
          "exhaustion stage: 0 effector or stem-like, 1 progenitor exhausted (TCF1+), 2 terminally exhausted (TIM-3+)",
          T_CELL_TYPES, "T cell subset (biology.exhaustion: exhaustion, terminal commitment, reinvigoration)"),
    State("m1_like", "1", "macrophage polarisation: 1 M1-like, 0 M2-like", ("macrophage",),
          "macrophage M1/M2 state (biology.macrophage.m2_to_m1_rate, m1_to_m2_rate)"),
)
STATE_BY_NAME: dict[str, State] = {s.name: s for s in STATES}

_NOT_A_FIELD = ("{} is not a diffusing field in tmesim's spatial engine: the iron a cell sees is set by its "
                "neighbouring macrophages' polarisation (M2-like export it, M1-like retain it)")
_HITS = ("tmesim's contact killing is by whole, instantaneous hits: a kill takes contact_hits_to_kill hits "
         "(Weigelin 2021), each repaired at the damage repair rate; an attack has no duration or damage rate")

_PHAGOCYTOSIS = ("corpse clearance: a corpse is cleared with its passive rate (corpse_clearance_rate) plus the "
                 "hazards of its neighbours; a macrophage's is phagocytosis_rate / (number of neighbour sites)")

_MECHANICS = ("mechanics: tmesim's cells sit on lattice sites and move by hops; there are no forces, springs, "
              "adhesion or attachments")


def _type_alias_names(type_name: str) -> tuple[str, ...]:
    ct = CELL_TYPES[CELL_TYPE_INDEX[type_name]]
    return (ct.name,) + ct.synonyms


def _build() -> tuple[dict[str, Entry], dict[str, Entry], dict[str, Unmapped]]:
    signals: list[Entry] = []
    behaviors: list[Entry] = []
    unmapped: list[Unmapped] = []

    def sig(name, unit, meaning, maps_to, family=None, cell_types=ALL_TYPES, synonyms=()):
        signals.append(Entry(name, "signal", unit, meaning, maps_to, family or name, tuple(cell_types),
                             synonyms=tuple(synonyms)))

    def beh(name, unit, meaning, maps_to, family=None, cell_types=ALL_TYPES, lower=0.0, upper=INF, synonyms=()):
        behaviors.append(Entry(name, "behavior", unit, meaning, maps_to, family or name, tuple(cell_types),
                               lower, upper, tuple(synonyms)))

    def nomap(name, kind, reason, fix=None, family=None, synonyms=()):
        unmapped.append(Unmapped(name, kind, family or name, reason, fix, tuple(synonyms)))

    # ---- signals ----
    for s in SUBSTRATES:
        if not s.diffuses:
            sig(s.name, s.unit, f"{s.meaning}, at the cell's lattice site",
                "biology.macrophage.extracellular_iron of the cell's Moore neighbourhood", "<substrate>")
            nomap(f"gradient of {s.name}", "signal", _NOT_A_FIELD.format(s.name), f"read '{s.name}' itself",
                  synonyms=(f"{s.name} gradient", f"grad({s.name})"))
        else:
            sig(s.name, s.unit, f"{s.meaning} at the cell's lattice site", "spatial field value at the cell's site",
                "<substrate>")
            sig(f"gradient of {s.name}", f"{s.unit}/um", f"magnitude of the {s.name} gradient at the cell's site",
                "finite-difference gradient of the field", "gradient of <substrate>",
                synonyms=(f"{s.name} gradient", f"grad({s.name})"))
        nomap(f"intracellular {s.name}", "signal", "tmesim does not track internalised substrate amounts",
              "read an intracellular state, e.g. custom:labile_iron or custom:gsh "
              "(see 'tmesim rules vocabulary')", "intracellular <substrate>", (f"internalized {s.name}",))
    for st in STATES:
        sig(f"custom:{st.name}", st.unit, st.meaning, st.maps_to, "custom:<state>", st.cell_types,
            (f"custom: {st.name}", f"intracellular {st.name}"))
    sig("pressure", "1", "crowding: fraction of the cell's lattice neighbourhood that is occupied (0..1)",
        "lattice occupancy (stands in for PhysiCell's simple pressure, about 1 at confluence)")
    sig("volume", "um^3", "cell volume: the lattice site's (site_um^3; one cell a site)",
        "the lattice site's volume (the same for every cell type)")
    sig("damage", "1", "sub-lethal hits the cell carries (contact_hits_to_kill of them kill; each is repaired at "
        "the damage repair rate)", "contact-killing hits of the cell (cells.hits)")
    sig("damage delivered", "1", "hits this cell has landed on the cells it attacked, in total",
        "contact-killing record of the attacker (cells.delivered)", synonyms=("total damage delivered",))
    sig("attacking", "1", "1 if the cell landed a hit in the last step, else 0 (a hit is instantaneous)",
        "contact-killing record of the attacker (cells.attacking)", synonyms=("is attacking",))
    nomap("total attack time", "signal", _HITS, "read 'damage delivered' (the hits this cell has landed)")
    sig("dead", "1", "1 if the cell is dead (a corpse), else 0", "cell life state", synonyms=("is dead",))
    sig("apoptotic", "1", "1 if the cell is an apoptotic corpse, else 0", "cell death kind",
        synonyms=("is_apoptotic", "is apoptotic"))
    sig("necrotic", "1", "1 if the cell is a necrotic corpse, else 0", "cell death kind",
        synonyms=("is_necrotic", "is necrotic"))
    sig("ferroptotic", "1", "1 if the cell is a ferroptotic corpse, else 0 (tmesim)", "cell death kind",
        synonyms=("is_ferroptotic", "is ferroptotic"))
    sig("time", "min", "simulation time", "the engine's clock", synonyms=("current time", "global time"))
    for ct in CELL_TYPE_NAMES:
        sig(f"contact with {ct}", "cell", f"number of {ct} cells (live or dead) on neighbouring lattice sites",
            "lattice neighbourhood count", "contact with <cell type>",
            synonyms=tuple(f"contact with {a}" for a in _type_alias_names(ct)[1:]))
    sig("contact with live cell", "cell", "number of live cells on neighbouring sites", "lattice neighbourhood count",
        synonyms=("contact with live cells",))
    sig("contact with dead cell", "cell", "number of corpses on neighbouring sites", "lattice neighbourhood count",
        synonyms=("contact with dead cells",))
    sig("contact with apoptotic cell", "cell", "number of apoptotic corpses on neighbouring sites",
        "lattice neighbourhood count", synonyms=("contact with apoptotic cells",))
    sig("contact with necrotic cell", "cell", "number of necrotic corpses on neighbouring sites",
        "lattice neighbourhood count", synonyms=("contact with necrotic cells",))
    sig("contact with other dead cell", "cell",
        "number of corpses neither apoptotic nor necrotic (in tmesim: ferroptotic) on neighbouring sites",
        "lattice neighbourhood count", synonyms=("contact with other dead cells",))
    nomap("contact with basement membrane", "signal", "tmesim's lattice has no basement membrane",
          synonyms=("contact with BM",))

    # ---- behaviours ----
    for s in SUBSTRATES:
        amount = f"{s.unit}*um^3/min"
        if not s.diffuses:
            for name, fix in ((f"{s.name} secretion", "m2 polarization"), (f"{s.name} uptake", "m1 polarization"),
                              (f"{s.name} export", "m2 polarization")):
                nomap(name, "behavior", _NOT_A_FIELD.format(s.name),
                      f"rule on the macrophages' polarisation (e.g. '{fix}'), which sets the iron cells see")
            nomap(f"chemotactic response to {s.name}", "behavior", _NOT_A_FIELD.format(s.name),
                  "use the chemotactic response to a diffusing field", synonyms=(f"chemotactic sensitivity to {s.name}",))
            nomap(f"{s.name} secretion target", "behavior", _NOT_A_FIELD.format(s.name),
                  synonyms=(f"{s.name} secretion saturation density",))
            continue
        beh(f"{s.name} secretion", amount,
            f"release of {s.name} per cell (concentration x volume per minute; divide by a site's volume for "
            "its concentration rate)", "secretion term of the cell program", "<substrate> secretion")
        beh(f"{s.name} uptake", "1/min", f"uptake rate constant of {s.name} (fraction of the local amount per minute)",
            "uptake term of the cell program", "<substrate> uptake")
        beh(f"{s.name} export", amount, f"net export of {s.name} per cell (negative: net import)",
            "net export term (no cell program has one: base 0; a negative value is a first-order uptake at the "
            "local concentration, so the field cannot go negative)", "<substrate> export",
            lower=-INF)
        beh(f"chemotactic response to {s.name}", "1",
            f"weight of the {s.name} gradient in the choice of lattice moves (negative: moves away)",
            "biased random walk on the lattice", "chemotactic response to <substrate>", lower=-INF,
            synonyms=(f"chemotactic sensitivity to {s.name}",))
        nomap(f"{s.name} secretion target", "behavior",
              "tmesim's cells secrete at a rate, without PhysiCell's saturation (target) density",
              f"use '{s.name} secretion'", "<substrate> secretion target",
              (f"{s.name} secretion saturation density",))
    beh("cycle entry", "1/min", "division hazard", "biology.growth.proliferation_rate (and T cell expansion)",
        synonyms=("exit from cycle phase 0",))
    for k in range(1, 6):
        nomap(f"exit from cycle phase {k}", "behavior",
              "tmesim's cell cycle is one step; there are no later phases",
              "use 'cycle entry' (the division hazard)", "exit from cycle phase <1..5>")
    beh("apoptosis", "1/min", "apoptotic death hazard", "death hazards of the cell program "
        "(e.g. biology.growth.ifng_apoptosis_hazard)")
    beh("necrosis", "1/min", "necrotic death hazard", "biology.growth.necrosis_hazard")
    beh("ferroptosis", "1/min", "ferroptotic death hazard (tmesim)", "biology.ferroptosis.ferroptosis_hazard")
    beh("migration speed", "um/min", "speed of lattice moves (hop rate x site spacing)", "movement of the engine")
    beh("migration bias", "1", "how strongly moves follow the chemotactic direction (0 random .. 1 directed)",
        "movement of the engine", upper=1.0)
    beh("migration persistence time", "min", "mean time a cell keeps its direction of motion",
        "movement of the engine")
    for ct in CELL_TYPE_NAMES:
        aliases = _type_alias_names(ct)[1:]
        beh(f"attack {ct}", "1/min", f"hazard of a hit (an instantaneous attack) on a neighbouring live {ct} cell",
            "contact killing (biology.killing.t_cell_kill_rate, nk_kill_rate)", "attack <cell type>",
            synonyms=tuple(f"attack {a}" for a in aliases))
        beh(f"transform to {ct}", "1/min", f"hazard of becoming a {ct} cell (intracellular states start at rest)",
            "type change of the engine (no built-in program uses it: base 0)", "transform to <cell type>",
            synonyms=tuple(f"transition to {a}" for a in _type_alias_names(ct))
            + tuple(f"transform to {a}" for a in aliases))
        beh(f"immunogenicity to {ct}", "1",
            f"multiplier of the attack hazard of {ct} cells on this cell (antigen/MHC-I recognition)",
            "recognition term of contact killing", "immunogenicity to <cell type>",
            synonyms=tuple(f"immunogenicity to {a}" for a in aliases))
        nomap(f"phagocytose {ct}", "behavior",
              "tmesim does not model engulfment of live cells; macrophages kill live cells by contact",
              f"use 'attack {ct}'", "phagocytose <cell type>", tuple(f"phagocytose {a}" for a in aliases))
        nomap(f"fuse to {ct}", "behavior", "a lattice site holds one cell; tmesim has no cell fusion",
              family="fuse to <cell type>", synonyms=tuple(f"fuse to {a}" for a in aliases))
        nomap(f"asymmetric division to {ct}", "behavior",
              "tmesim's daughters keep the parent's type; daughter fates (stem-like share) are part of the T cell "
              "program", family="asymmetric division to <cell type>",
              synonyms=tuple(f"asymmetric division to {a}" for a in aliases))
        nomap(f"adhesive affinity to {ct}", "behavior", _MECHANICS, family="adhesive affinity to <cell type>",
              synonyms=tuple(f"adhesive affinity to {a}" for a in aliases))
    nomap("attack damage rate", "behavior", _HITS, "use 'attack <cell type>' (how often hits land) or the "
          "target's 'damage repair rate'")
    nomap("attack duration", "behavior", _HITS, "use 'attack <cell type>' (how often hits land)")
    beh("damage repair rate", "1/min", "hazard with which each sub-lethal hit a cell carries is repaired",
        "contact killing: recovery from sub-lethal hits (1 / hit_recovery_time)")
    beh("phagocytose apoptotic cell", "1/min", "hazard with which the cell clears each neighbouring apoptotic corpse",
        _PHAGOCYTOSIS,
        synonyms=("phagocytosis of apoptotic cell", "phagocytosis of apoptotic cells"))
    beh("phagocytose necrotic cell", "1/min", "hazard with which the cell clears each neighbouring necrotic corpse",
        _PHAGOCYTOSIS,
        synonyms=("phagocytosis of necrotic cell", "phagocytosis of necrotic cells"))
    beh("phagocytose other dead cell", "1/min",
        "hazard with which the cell clears each neighbouring corpse that is neither apoptotic nor necrotic (in "
        "tmesim: ferroptotic)", _PHAGOCYTOSIS,
        synonyms=("phagocytosis of other dead cell", "phagocytosis of other dead cells"))
    for st in STATES:
        if st.target is None:
            continue
        upper = 1.0 if st.name == "stat1" else INF
        beh(f"custom:{st.name}", st.unit, st.target, st.maps_to, "custom:<state>", st.cell_types, upper=upper,
            synonyms=(f"custom: {st.name}",))
    beh("exhaustion", "1/min", "hazard of an effector becoming progenitor exhausted (tmesim)",
        "biology.exhaustion.exhaustion_rate", cell_types=T_CELL_TYPES)
    beh("terminal exhaustion", "1/min", "hazard of a progenitor exhausted cell becoming terminally exhausted (tmesim)",
        "biology.exhaustion.terminal_commitment_rate", cell_types=T_CELL_TYPES)
    beh("reinvigoration", "1/min", "hazard of a progenitor exhausted cell returning to effector (tmesim)",
        "biology.exhaustion.reinvigoration_rate", cell_types=T_CELL_TYPES)
    beh("m1 polarization", "1/min", "hazard of an M2-like macrophage becoming M1-like (tmesim)",
        "biology.macrophage.m2_to_m1_rate", cell_types=("macrophage",))
    beh("m2 polarization", "1/min", "hazard of an M1-like macrophage becoming M2-like (tmesim)",
        "biology.macrophage.m1_to_m2_rate", cell_types=("macrophage",))
    for name in ("cell-cell adhesion", "cell-cell adhesion elastic constant", "relative maximum adhesion distance",
                 "cell-cell repulsion", "cell attachment rate", "cell detachment rate",
                 "maximum number of cell attachments"):
        nomap(name, "behavior", _MECHANICS)
    nomap("cell-BM adhesion", "behavior", _MECHANICS + "; no basement membrane", synonyms=("cell-membrane adhesion",))
    nomap("cell-BM repulsion", "behavior", _MECHANICS + "; no basement membrane", synonyms=("cell-membrane repulsion",))
    nomap("is_movable", "behavior", _MECHANICS, "set 'migration speed' to 0 to hold a cell in place",
          synonyms=("movable", "is movable"))
    nomap("damage rate", "behavior",
          "in PhysiCell 1.14 this is a cell's own damage accumulation (cell integrity), which tmesim does not model",
          "for how much damage attackers deal use 'attack <cell type>' (tmesim's attacks are whole hits; "
          "PhysiCell before 1.14 used 'damage rate' for an attacker's damage per minute)")

    sig_by = {e.name: e for e in signals}
    beh_by = {e.name: e for e in behaviors}
    none_by = {u.name: u for u in unmapped}
    assert len(sig_by) == len(signals) and len(beh_by) == len(behaviors) and len(none_by) == len(unmapped)
    return sig_by, beh_by, none_by


SIGNALS, BEHAVIORS, UNMAPPED = _build()

#: Legacy names that stand for several behaviours: PhysiCell 1.14 split
#: ``phagocytose dead cell`` into the apoptotic, necrotic and other-dead
#: variants; a rule on the old name is read as one rule on each.
LEGACY_BEHAVIORS: dict[str, tuple[str, ...]] = {
    "phagocytose dead cell": ("phagocytose apoptotic cell", "phagocytose necrotic cell",
                              "phagocytose other dead cell"),
}
_LEGACY_SYNONYMS = {"phagocytosis of dead cell": "phagocytose dead cell",
                    "phagocytosis of dead cells": "phagocytose dead cell"}

#: Behaviours that move a read-only state (named in the error for ``custom:<state>``).
_ACTING_ON = {"exhaustion": ("exhaustion", "terminal exhaustion", "reinvigoration"),
              "m1_like": ("m1 polarization", "m2 polarization"),
              "lipid_peroxide": ("ferroptosis",)}

#: The states rules may read but not set (they are dynamic; see :class:`State`).
READ_ONLY_STATES = tuple(s.name for s in STATES if s.target is None)


def normalize(text: str) -> str:
    """The lookup key of a name: lower case, single spaces.

    Parameters
    ----------
    text : a name as written in a rules file.

    Returns
    -------
    str
        ``text`` stripped, lower-cased, with runs of whitespace made one space.
    """
    return " ".join(text.strip().lower().split())


def _index(entries) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in entries:
        for alias in (e.name,) + e.synonyms:
            key = normalize(alias)
            if key in out and out[key] != e.name:
                raise AssertionError(f"name {alias!r} means both {out[key]!r} and {e.name!r}")
            out[key] = e.name
    return out


_SIGNAL_KEYS = _index(SIGNALS.values())
_BEHAVIOR_KEYS = _index(BEHAVIORS.values())
_UNMAPPED_SIGNAL_KEYS = _index(u for u in UNMAPPED.values() if u.kind == "signal")
_UNMAPPED_BEHAVIOR_KEYS = _index(u for u in UNMAPPED.values() if u.kind == "behavior")
_CELL_TYPE_KEYS = _index(CELL_TYPES)
_LEGACY_KEYS = {normalize(k): k for k in LEGACY_BEHAVIORS} | {normalize(k): v for k, v in _LEGACY_SYNONYMS.items()}
_READ_ONLY_KEYS = {normalize(f"{p}{s}"): s for s in READ_ONLY_STATES for p in ("custom:", "custom: ")}
assert not set(_SIGNAL_KEYS) & set(_UNMAPPED_SIGNAL_KEYS)
assert not set(_BEHAVIOR_KEYS) & (set(_UNMAPPED_BEHAVIOR_KEYS) | set(_LEGACY_KEYS))


def _suggest(text: str, keys) -> tuple[str, ...]:
    return tuple(difflib.get_close_matches(normalize(text), list(keys), n=3, cutoff=0.6))


def _canonical_suggestions(text: str, key_map: dict[str, str]) -> tuple[str, ...]:
    seen: list[str] = []
    for key in _suggest(text, key_map):
        if key_map[key] not in seen:
            seen.append(key_map[key])
    return tuple(seen)


def resolve_cell_type(text: str) -> str:
    """The canonical cell type a rules file's name stands for.

    Parameters
    ----------
    text : the cell type as written (e.g. ``"tumour"``).

    Returns
    -------
    str
        One of :data:`CELL_TYPE_NAMES`.

    Raises
    ------
    UnknownName
        With the nearest valid names.
    """
    key = normalize(text)
    if key in _CELL_TYPE_KEYS:
        return _CELL_TYPE_KEYS[key]
    raise UnknownName("cell type", text, _canonical_suggestions(text, _CELL_TYPE_KEYS))


def _check_type(entry: Entry, cell_type: str | None) -> Entry:
    if cell_type is not None and cell_type not in entry.cell_types:
        if entry.name.startswith("custom:"):
            why = f"it is a state of {', '.join(entry.cell_types)} cells"
        else:
            why = f"only {', '.join(entry.cell_types)} cells have it"
        raise NotForCellType(entry, cell_type, why)
    return entry


def resolve_signal(text: str, cell_type: str | None = None) -> Entry:
    """The signal a rules file's name stands for.

    Parameters
    ----------
    text : the signal as written (any PhysiCell synonym, any case).
    cell_type : canonical cell type of the rule, to check that cells of that
        type have the signal (intracellular states are type-specific); ``None``
        skips the check.

    Returns
    -------
    Entry
        The canonical signal.

    Raises
    ------
    UnmappedName
        A PhysiCell signal tmesim has no counterpart for.
    NotForCellType
        A signal the cell type does not carry.
    UnknownName
        Anything else, with the nearest valid names.
    """
    key = normalize(text)
    if key in _SIGNAL_KEYS:
        return _check_type(SIGNALS[_SIGNAL_KEYS[key]], cell_type)
    if key in _UNMAPPED_SIGNAL_KEYS:
        raise UnmappedName(UNMAPPED[_UNMAPPED_SIGNAL_KEYS[key]], text)
    raise UnknownName("signal", text, _canonical_suggestions(text, _SIGNAL_KEYS))


def resolve_behavior(text: str, cell_type: str | None = None) -> tuple[Entry, ...]:
    """The behaviour(s) a rules file's name stands for.

    Parameters
    ----------
    text : the behaviour as written (any PhysiCell synonym, any case).
    cell_type : canonical cell type of the rule, to check the behaviour is
        one that type's program has; ``None`` skips the check.

    Returns
    -------
    tuple of Entry
        One canonical behaviour; three for the legacy ``phagocytose dead
        cell`` (see :data:`LEGACY_BEHAVIORS`).

    Raises
    ------
    UnmappedName, NotForCellType, UnknownName
        As :func:`resolve_signal`.
    ReadOnlyState
        ``custom:<state>`` for a state rules may only read.
    """
    key = normalize(text)
    if key in _BEHAVIOR_KEYS:
        return (_check_type(BEHAVIORS[_BEHAVIOR_KEYS[key]], cell_type),)
    if key in _LEGACY_KEYS:
        return tuple(_check_type(BEHAVIORS[n], cell_type) for n in LEGACY_BEHAVIORS[_LEGACY_KEYS[key]])
    if key in _UNMAPPED_BEHAVIOR_KEYS:
        raise UnmappedName(UNMAPPED[_UNMAPPED_BEHAVIOR_KEYS[key]], text)
    if key in _READ_ONLY_KEYS:
        state = _READ_ONLY_KEYS[key]
        raise ReadOnlyState(state, text, _ACTING_ON.get(state, ()))
    raise UnknownName("behavior", text, _canonical_suggestions(text, _BEHAVIOR_KEYS | _LEGACY_KEYS))


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------


def format_range(lower: float, upper: float) -> str:
    """A behaviour's allowed values as text: ``"any"``, ``">= 0"`` or ``"0..1"``."""
    if lower == -INF and upper == INF:
        return "any"
    if upper == INF:
        return f">= {lower:g}"
    return f"{lower:g}..{upper:g}"


def _families(entries) -> list[list]:
    fams: dict[str, list] = {}
    for e in entries:
        fams.setdefault(e.family, []).append(e)
    return list(fams.values())


def _family_unit(group: list[Entry]) -> str:
    units = {e.unit for e in group}
    if len(units) == 1:
        return units.pop()
    fam = group[0].family
    if fam.startswith("gradient of"):
        return "<substrate unit>/um"
    if fam in ("<substrate> secretion", "<substrate> export"):
        return "<substrate unit>*um^3/min"
    if fam == "<substrate>":
        return "<substrate unit>"
    return "<state unit>"


def _who(cell_types: tuple[str, ...]) -> str:
    return "all" if cell_types == ALL_TYPES else ",".join(cell_types)


def _family_who(group: list[Entry]) -> str:
    kinds = {e.cell_types for e in group}
    return _who(group[0].cell_types) if len(kinds) == 1 else "the state's cells"


def _family_range(group: list[Entry]) -> str:
    ranges = [(e.name, format_range(e.lower, e.upper)) for e in group]
    common = max({r for _, r in ranges}, key=[r for _, r in ranges].count)
    odd = [f"{n} {r}" for n, r in ranges if r != common]
    return common + (f" ({', '.join(odd)})" if odd else "")


def _table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def format_vocabulary() -> str:
    """The whole vocabulary as plain text, for ``tmesim rules vocabulary``.

    Returns
    -------
    str
        Sections: cell types; substrates with units; intracellular states with
        units and carriers; signals and behaviours (families written once,
        e.g. ``<substrate> uptake``) with units, allowed range, the cell types
        that have them and meaning; synonyms; and the PhysiCell names that map
        to nothing, with why.
    """
    out: list[str] = []
    out.append("Cell types (type index, name, meaning, cell program)")
    out += _table([(str(i), c.name, c.meaning, c.maps_to) for i, c in enumerate(CELL_TYPES)])
    out.append("")
    out.append("Substrates: fields and drugs (<substrate> below stands for each)")
    out += _table([(s.name, s.unit, s.kind, s.meaning) for s in SUBSTRATES])
    out.append("")
    out.append("Intracellular states (<state> below; read as custom:<state> or intracellular <state>; "
               "[read only]: no rule may set it)")
    out += _table([(s.name, s.unit, _who(s.cell_types), s.meaning + ("" if s.target else " [read only]"))
                   for s in STATES])
    out.append("")
    out.append("Signals (name, unit, meaning; a rule's half-max is in the signal's unit)")
    rows = []
    for group in _families(SIGNALS.values()):
        e = group[0]
        rows.append((e.family, _family_unit(group), e.meaning if len(group) == 1 else _FAMILY_MEANINGS[e.family]))
    out += _table(rows)
    out.append("")
    out.append("Behaviours (name, unit, allowed values, cell types, meaning; a rule's saturation value is in the "
               "behaviour's unit and range)")
    rows = []
    for group in _families(BEHAVIORS.values()):
        e = group[0]
        rows.append((e.family, _family_unit(group), _family_range(group), _family_who(group),
                     e.meaning if len(group) == 1 else _FAMILY_MEANINGS[e.family]))
    out += _table(rows)
    out.append("")
    out.append("Legacy names")
    for old, new in LEGACY_BEHAVIORS.items():
        also = [k for k, v in _LEGACY_SYNONYMS.items() if v == old]
        out.append(f"  {old} (also: {', '.join(also)}) -> one rule on each of: {', '.join(new)}")
    out.append("")
    out.append("Synonyms (PhysiCell's other spellings; names match case- and space-insensitively)")
    rows = []
    for group in _families(list(SIGNALS.values()) + list(BEHAVIORS.values())):
        e = group[0]
        shown = [_template(x, e.family, e.name) for x in e.synonyms]
        shown = [x for x in shown if "tumour" not in x]  # spelled out once below
        if shown:
            rows.append((e.family, ", ".join(dict.fromkeys(shown))))
    rows.append(("tumor", "tumour, wherever a cell type is named"))
    out += _table(rows)
    out.append("")
    out.append("PhysiCell names that map to nothing in tmesim (a rule naming one is an error; "
               "with --accept-unmapped it is skipped with a warning)")
    by_reason: dict[tuple[str, str, str | None], list[str]] = {}
    for group in _families(UNMAPPED.values()):
        u = group[0]
        fix = _template(u.fix, u.family, u.name) if u.fix else None
        syn = [_template(x, u.family, u.name) for x in u.synonyms if "tumour" not in x]
        label = u.family + (f" (also: {', '.join(syn)})" if syn else "")
        by_reason.setdefault((u.kind, u.reason, fix), []).append(label)
    for (kind, reason, fix), names in by_reason.items():
        out.append(f"  {'signals' if kind == 'signal' else 'behaviours'}: {', '.join(names)}")
        out.append(f"      why: {reason}" + (f"; instead: {fix}" if fix else ""))
    return "\n".join(out)


_FAMILY_MEANINGS = {
    "<substrate>": "concentration of the substrate at the cell's lattice site",
    "gradient of <substrate>": "magnitude of the substrate's gradient at the cell's site",
    "custom:<state>": "an intracellular state (as a behaviour: the level the program relaxes it towards)",
    "contact with <cell type>": "number of cells of that type (live or dead) on neighbouring lattice sites",
    "<substrate> secretion": "release per cell (concentration x volume per minute)",
    "<substrate> uptake": "uptake rate constant (fraction of the local amount per minute)",
    "<substrate> export": "net export per cell (negative: net import)",
    "chemotactic response to <substrate>": "weight of the substrate's gradient in lattice moves (negative: away)",
    "attack <cell type>": "hazard of a hit (an instantaneous attack) on a neighbouring live cell of that type",
    "transform to <cell type>": "hazard of becoming that type (states start at rest; base 0)",
    "immunogenicity to <cell type>": "multiplier of that type's attack hazard on this cell",
}


def _template(text: str, family: str, name: str) -> str:
    """``text`` (a synonym or fix of the entry ``name``) written with its family's placeholder."""
    if "<substrate>" in family:
        words = name.replace("(", " ").replace(")", " ").split()
        sub = next(s for s in SUBSTRATE_NAMES if s in words)
        return " ".join("<substrate>" if w == sub else w for w in text.split(" ")).replace(
            f"({sub})", "(<substrate>)").replace(f"'{sub} ", "'<substrate> ")
    if "<cell type>" in family:
        ct = name.split()[-1]
        return text.replace(f" {ct}", " <cell type>")
    if family == "custom:<state>":
        st = name.split(":", 1)[1]
        return text.replace(st, "<state>")
    if family.startswith("exit from cycle phase"):
        return text.replace(name, family)
    return text
