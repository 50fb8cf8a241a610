"""The spatial engine's behaviours as values, and how hypothesis rules bind to them.

Each step, every cell's programs fill a *behaviour row* (:data:`ROW_NAMES`:
hazards, speeds, targets, one attack and one transform hazard per cell type)
and the field exchange buffers (secretion, uptake; net export and the
chemotactic weights where rules name them); the random draws read those
values, never the programs directly (:mod:`.kernels`). A few behaviours are
read by *other* cells in the same step -- a target's immunogenicity, a
phagocyte's clearance hazards, a tumour cell's PD-L1 and MHC-I
(:data:`EXPOSED_NAMES`) -- so they are computed in a pass of their own
before the cells decide.

:func:`bind` turns a :class:`~tmesim.rules.reader.RuleSet` into what the
kernels read: two :class:`~tmesim.rules.evaluate.CompiledRules` (the cell's
own behaviours, with only the columns the rules name, and the exposed ones)
and integer tables saying where each signal comes from and where each
behaviour lives. It imports nothing from the kernels, so they can import its
constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..biology.programs.t_cell import AXIS
from ..biology.programs.tumor import STATE as TUMOR_STATE
from ..rules import vocabulary as vocab
from ..rules.evaluate import CompiledRules, compile_rules

N_KINDS = len(vocab.CELL_TYPE_NAMES)

# ---------------------------------------------------------------------------------------------- behaviour row
#: Columns of a cell's behaviour row, by their rules name (units: ``tmesim rules vocabulary``).
ROW_NAMES: tuple[str, ...] = (
    "cycle entry", "apoptosis", "necrosis", "ferroptosis", "migration speed", "migration bias",
    "migration persistence time", "damage repair rate", "exhaustion", "terminal exhaustion", "reinvigoration",
    "m1 polarization", "m2 polarization", "custom:stat1", "custom:slc7a11", "custom:acsl4", "custom:proteasome",
    "custom:bach2", "custom:pd1",
) + tuple(f"attack {t}" for t in vocab.CELL_TYPE_NAMES) + tuple(f"transform to {t}" for t in vocab.CELL_TYPE_NAMES)
(R_CYCLE, R_APOPTOSIS, R_NECROSIS, R_FERROPTOSIS, R_SPEED, R_BIAS, R_PERSISTENCE, R_REPAIR, R_EXHAUSTION, R_TERMINAL,
 R_REINVIGORATION, R_M1, R_M2, R_STAT1, R_SLC7A11, R_ACSL4, R_PROTEASOME, R_BACH2, R_PD1) = range(19)
#: First column of the attack hazards (one per cell type, in type order), then of the transform hazards.
R_ATTACK = 19
R_TRANSFORM = R_ATTACK + N_KINDS
N_ROW = R_TRANSFORM + N_KINDS
assert len(ROW_NAMES) == N_ROW

#: A field behaviour's slot is ``N_ROW + 4 * field + one of these``.
F_SECRETION, F_UPTAKE, F_EXPORT, F_CHEMOTAXIS = range(4)
_FIELD_FAMILIES = {"<substrate> secretion": F_SECRETION, "<substrate> uptake": F_UPTAKE,
                   "<substrate> export": F_EXPORT, "chemotactic response to <substrate>": F_CHEMOTAXIS}

# ---------------------------------------------------------------------------------------------- exposed row
#: Behaviours other cells read this step: immunogenicity to each type, the three phagocytosis hazards, and a
#: tumour cell's PD-L1 and MHC-I levels.
EXPOSED_NAMES: tuple[str, ...] = tuple(f"immunogenicity to {t}" for t in vocab.CELL_TYPE_NAMES) + (
    "phagocytose apoptotic cell", "phagocytose necrotic cell", "phagocytose other dead cell", "custom:pdl1",
    "custom:mhc1")
E_IMMUNO = 0
E_PHAGOCYTOSE = N_KINDS  # apoptotic, necrotic, other dead (ferroptotic): the corpse's mode - 1
E_PDL1 = E_PHAGOCYTOSE + 3
E_MHC1 = E_PDL1 + 1
N_EXPOSED = E_MHC1 + 1
assert len(EXPOSED_NAMES) == N_EXPOSED

# ---------------------------------------------------------------------------------------------- signals
(S_ZERO, S_FIELD, S_GRADIENT, S_IRON, S_X, S_PDL1, S_MHC1, S_EXHAUSTION, S_M1, S_PRESSURE, S_VOLUME, S_DAMAGE,
 S_DELIVERED, S_ATTACKING, S_DEAD, S_APOPTOTIC, S_NECROTIC, S_FERROPTOTIC, S_TIME, S_CONTACT_KIND, S_CONTACT_LIVE,
 S_CONTACT_DEAD, S_CONTACT_APOPTOTIC, S_CONTACT_NECROTIC, S_CONTACT_FERROPTOTIC) = range(25)
_SIGNAL_BY_NAME = {
    "pressure": S_PRESSURE, "volume": S_VOLUME, "damage": S_DAMAGE, "damage delivered": S_DELIVERED,
    "attacking": S_ATTACKING, "dead": S_DEAD, "apoptotic": S_APOPTOTIC, "necrotic": S_NECROTIC,
    "ferroptotic": S_FERROPTOTIC, "time": S_TIME, "contact with live cell": S_CONTACT_LIVE,
    "contact with dead cell": S_CONTACT_DEAD, "contact with apoptotic cell": S_CONTACT_APOPTOTIC,
    "contact with necrotic cell": S_CONTACT_NECROTIC, "contact with other dead cell": S_CONTACT_FERROPTOTIC,
    "custom:pdl1": S_PDL1, "custom:mhc1": S_MHC1, "custom:exhaustion": S_EXHAUSTION, "custom:m1_like": S_M1,
}
_X_COLUMN = {v.name: j for j, v in enumerate(AXIS)} | {v.name: j for j, v in enumerate(TUMOR_STATE)}
assert list(TUMOR_STATE.names).index("lipid_peroxide") == list(AXIS.names).index("lipid_peroxide")

# ---------------------------------------------------------------------------------------------- per-kind flags
#: The kind has rules on its own behaviours / on exposed ones / on chemotaxis / on transforms / on attacks of
#: types other than the tumour (the programs' only target).
K_OWN, K_EXPOSED, K_CHEMOTAXIS, K_TRANSFORM, K_ATTACK_OTHER = 1, 2, 4, 8, 16
#: Cell types whose programs have no contact attack on tumour cells (tumour cells, Tregs): a rule's
#: ``attack tumor`` is their only one, and :func:`.kernels._attack_others` draws it.
NO_TUMOR_ATTACK_PROGRAM = (vocab.CELL_TYPE_INDEX["tumor"], vocab.CELL_TYPE_INDEX["treg"])


@dataclass(frozen=True, eq=False)
class BoundRules:
    """A rules file bound to one spatial run's fields (see the module docstring).

    Attributes
    ----------
    own : the rules on a cell's own behaviours; its columns are only those the rules name.
    exposed : the rules on :data:`EXPOSED_NAMES` (its columns are all of them, in that order).
    signal_names : the columns of the signals matrix (shared by both).
    sig_code, sig_arg : int64 per signal column: how the engine samples it (``S_*``) and its field, state
        column or cell type.
    kind_signal_start, kind_signal_cols : the signal columns the rules of each cell type read
        (``kind_signal_cols[kind_signal_start[k]:kind_signal_start[k + 1]]``).
    own_slot : int64 per ``own`` column: its row column (< :data:`N_ROW`) or field slot.
    kind_flags : int64 per cell type, ``K_*`` bits.
    exposed_on : bool per exposed column: whether any rule moves it (readers otherwise use the program).
    """

    own: CompiledRules
    exposed: CompiledRules
    signal_names: tuple[str, ...]
    sig_code: np.ndarray
    sig_arg: np.ndarray
    kind_signal_start: np.ndarray
    kind_signal_cols: np.ndarray
    own_slot: np.ndarray
    kind_flags: np.ndarray
    exposed_on: np.ndarray

    @property
    def n_rules(self) -> int:
        """Number of rules bound."""
        return self.own.n_rules + self.exposed.n_rules

    @property
    def any_exposed(self) -> bool:
        """Whether any rule moves an exposed behaviour (the engine then runs its exposed pass)."""
        return bool(self.exposed_on.any())

    def tables(self) -> tuple[np.ndarray, ...]:
        """The integer tables in the kernels' order."""
        return (self.sig_code, self.sig_arg, self.kind_signal_start, self.kind_signal_cols, self.own_slot,
                self.kind_flags, self.exposed_on)


def field_drugs(rules) -> tuple[str, ...]:
    """Drugs whose secretion, uptake, export or chemotaxis the rules name: the engine gives each a field.

    Parameters
    ----------
    rules : a :class:`~tmesim.rules.reader.RuleSet` or ``None``.

    Returns
    -------
    tuple of str
        Drug names (:data:`tmesim.protocols.drugs.DRUGS`), in no particular order.
    """
    drugs = {s.name for s in vocab.SUBSTRATES if s.kind == "drug"}
    out = set()
    for r in rules or ():
        entry = vocab.BEHAVIORS[r.behavior]
        if entry.family in _FIELD_FAMILIES:
            name = _substrate_of(entry)
            if name in drugs:
                out.add(name)
    return tuple(sorted(out))


def _substrate_of(entry) -> str:
    words = entry.name.split()
    return next(s.name for s in vocab.SUBSTRATES if s.name in words)


def _signal_code(name: str, fields: tuple[str, ...]) -> tuple[int, int]:
    entry = vocab.SIGNALS[name]
    if entry.family == "<substrate>":
        if name == "iron":
            return S_IRON, 0
        return (S_FIELD, fields.index(name)) if name in fields else (S_ZERO, 0)
    if entry.family == "gradient of <substrate>":
        sub = name.removeprefix("gradient of ")
        return (S_GRADIENT, fields.index(sub)) if sub in fields else (S_ZERO, 0)
    if entry.family == "contact with <cell type>":
        return S_CONTACT_KIND, vocab.CELL_TYPE_INDEX[name.removeprefix("contact with ")]
    if name in _SIGNAL_BY_NAME:
        return _SIGNAL_BY_NAME[name], 0
    if name.startswith("custom:") and name[7:] in _X_COLUMN:
        return S_X, _X_COLUMN[name[7:]]
    raise AssertionError(f"the spatial engine has no sampler for signal {name!r}")


def _behavior_slot(name: str, fields: tuple[str, ...]) -> int:
    if name in ROW_NAMES:
        return ROW_NAMES.index(name)
    entry = vocab.BEHAVIORS[name]
    if entry.family in _FIELD_FAMILIES:
        return N_ROW + 4 * fields.index(_substrate_of(entry)) + _FIELD_FAMILIES[entry.family]
    raise AssertionError(f"the spatial engine has no slot for behaviour {name!r}")


def bind(rules, fields: tuple[str, ...]) -> BoundRules:
    """Bind a rule set to a run whose fields are ``fields``.

    Parameters
    ----------
    rules : a :class:`~tmesim.rules.reader.RuleSet` (or any iterable of rules), or ``None`` for none.
    fields : the substrate name of each field of the run, in field order (drug fields by the drug's name);
        it must hold every drug of :func:`field_drugs`.

    Returns
    -------
    BoundRules
    """
    rules = tuple(rules or ())
    exposed_rules = [r for r in rules if r.behavior in EXPOSED_NAMES]
    own_rules = [r for r in rules if r.behavior not in EXPOSED_NAMES]
    signal_names = tuple(dict.fromkeys(r.signal for r in rules))
    own = compile_rules(own_rules, signal_names=signal_names)
    exposed = compile_rules(exposed_rules, signal_names=signal_names, behavior_names=EXPOSED_NAMES)
    codes = [_signal_code(s, fields) for s in signal_names]

    flags = np.zeros(N_KINDS, np.int64)
    used: list[list[int]] = [[] for _ in range(N_KINDS)]
    for r in rules:
        k = vocab.CELL_TYPE_INDEX[r.cell_type]
        col = signal_names.index(r.signal)
        if col not in used[k]:
            used[k].append(col)
        if r.behavior in EXPOSED_NAMES:
            flags[k] |= K_EXPOSED
            continue
        flags[k] |= K_OWN
        family = vocab.BEHAVIORS[r.behavior].family
        if family == "chemotactic response to <substrate>":
            flags[k] |= K_CHEMOTAXIS
        elif family == "transform to <cell type>":
            flags[k] |= K_TRANSFORM
        elif family == "attack <cell type>" and r.behavior != "attack tumor":
            flags[k] |= K_ATTACK_OTHER
        elif r.behavior == "attack tumor" and k in NO_TUMOR_ATTACK_PROGRAM:
            flags[k] |= K_ATTACK_OTHER  # no program attacks tumour cells: a rule's attack on them goes this way
    start = np.zeros(N_KINDS + 1, np.int64)
    start[1:] = np.cumsum([len(u) for u in used])
    exposed_on = np.zeros(N_EXPOSED, np.bool_)
    for r in exposed_rules:
        exposed_on[EXPOSED_NAMES.index(r.behavior)] = True
    return BoundRules(
        own=own, exposed=exposed, signal_names=signal_names,
        sig_code=np.array([c for c, _ in codes], np.int64), sig_arg=np.array([a for _, a in codes], np.int64),
        kind_signal_start=start, kind_signal_cols=np.array([c for u in used for c in u], np.int64),
        own_slot=np.array([_behavior_slot(b, fields) for b in own.behavior_names], np.int64),
        kind_flags=flags, exposed_on=exposed_on)
