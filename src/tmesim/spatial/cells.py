"""The cells of a spatial run: a struct of arrays on a lattice, one cell per site.

Every cell has a slot; its columns are numpy arrays indexed by slot (no Python
object per cell). A slot whose ``kind`` is :data:`FREE` holds no cell; new
cells take the end of the table, which grows by doubling and is compacted
when a quarter of its slots are free. ``occupancy`` maps each lattice site to
the slot of the cell there (or -1). Each cell carries the intracellular state
of its cell program in ``x`` (the tumour cell's :data:`~tmesim.biology.programs.tumor.STATE`,
a T cell's exhaustion :data:`~tmesim.biology.programs.t_cell.AXIS`; both have
seven variables) and a unique ``uid`` that keys its random draws.
"""

from __future__ import annotations

import numpy as np

from ..biology.programs.t_cell import AXIS, STATES
from ..biology.programs.tumor import STATE as TUMOR_STATE
from ..rules.vocabulary import CELL_TYPE_NAMES

FREE = -1
#: Cell kinds.
TUMOR, CD8, CD4, CAR_CD8, CAR_CD4, TREG, NK, MACROPHAGE = range(8)
KIND_NAMES = CELL_TYPE_NAMES
assert KIND_NAMES[TUMOR] == "tumor" and KIND_NAMES[MACROPHAGE] == "macrophage"
#: T cell lineages by kind (the results contract's ``lineage`` coordinate).
LINEAGE = {CD8: "cd8", CD4: "cd4", CAR_CD8: "car_cd8", CAR_CD4: "car_cd4"}
#: T cell differentiation states (the ``state`` column of T cells), in :data:`STATES` order.
STEM_MEMORY, EFFECTOR, PROGENITOR, TERMINAL, ANERGIC, SENESCENT = range(len(STATES))
#: Macrophage states.
M1, M2 = 0, 1
#: Death modes of a tumour corpse (``dead`` column; 0 = alive).
ALIVE, APOPTOTIC, FERROPTOTIC, NECROTIC = 0, 1, 2, 3
#: Who killed a tumour cell (``killer`` column; the kills_* counters). ``BY_OTHER``: a type with no killing
#: program of its own (a tumour cell or Treg) that a rules file lets attack.
BY_NONE, BY_CD8, BY_CD4, BY_CAR_CD8, BY_CAR_CD4, BY_NK, BY_MACROPHAGE, BY_OTHER = range(8)
#: Killer class of each cell type (TUMOR, CD8, CD4, CAR_CD8, CAR_CD4, TREG, NK, MACROPHAGE order).
KILLER_OF_KIND = (BY_OTHER, BY_CD8, BY_CD4, BY_CAR_CD8, BY_CAR_CD4, BY_OTHER, BY_NK, BY_MACROPHAGE)
N_X = len(TUMOR_STATE)
assert len(AXIS) == N_X

#: The columns: lattice site, kind, differentiation state, death mode, CAR antigen (0/1), sub-lethal hits
#: carried, heading (Moore neighbour index of the last move, -1 none), killer class, unique id, hits landed on
#: others in total (``delivered``) and whether the cell landed one in the last step (``attacking``).
COLUMNS = {
    "site": np.int64, "kind": np.int8, "state": np.int8, "dead": np.int8, "antigen": np.int8, "hits": np.int8,
    "heading": np.int8, "killer": np.int8, "uid": np.int64, "delivered": np.int32, "attacking": np.int8,
}


class Cells:
    """The cell table: columns (see :data:`COLUMNS`) plus ``x`` (slots x 7), and the site occupancy.

    Parameters
    ----------
    n_sites : lattice sites.
    capacity : initial number of slots.
    """

    def __init__(self, n_sites: int, capacity: int = 1024):
        self.n = 0
        self.next_uid = 0
        self.occupancy = np.full(n_sites, -1, dtype=np.int64)
        self._allocate(max(int(capacity), 16))

    def _allocate(self, capacity: int) -> None:
        old = {name: getattr(self, name, None) for name in [*COLUMNS, "x"]}
        for name, dtype in COLUMNS.items():
            a = np.full(capacity, -1 if name in ("kind", "site") else 0, dtype=dtype)
            if old[name] is not None:
                a[:self.n] = old[name][:self.n]
            setattr(self, name, a)
        x = np.zeros((capacity, N_X))
        if old["x"] is not None:
            x[:self.n] = old["x"][:self.n]
        self.x = x

    @property
    def capacity(self) -> int:
        return self.kind.size

    def add(self, site: int, kind: int, state: int, x: np.ndarray, antigen: int = 1) -> int:
        """Put a new cell at an empty ``site``; returns its slot."""
        if self.occupancy[site] != -1:
            raise ValueError(f"site {site} is occupied")
        if self.n == self.capacity:
            self._allocate(2 * self.capacity)
        i = self.n
        self.n += 1
        self.site[i], self.kind[i], self.state[i], self.dead[i] = site, kind, state, ALIVE
        self.antigen[i], self.hits[i], self.heading[i], self.killer[i] = antigen, 0, -1, BY_NONE
        self.delivered[i], self.attacking[i] = 0, 0
        self.uid[i] = self.next_uid
        self.next_uid += 1
        self.x[i] = x
        self.occupancy[site] = i
        return i

    def compact(self, force: bool = False) -> None:
        """Drop free slots (keeping the order of the others) when a quarter or more are free."""
        used = self.kind[:self.n] != FREE
        n_used = int(used.sum())
        if not force and self.n - n_used < max(self.n // 4, 1):
            return
        keep = np.flatnonzero(used)
        for name in [*COLUMNS, "x"]:
            a = getattr(self, name)
            a[:n_used] = a[keep]
            a[n_used:self.n] = -1 if name in ("kind", "site") else 0
        self.n = n_used
        self.occupancy[:] = -1
        self.occupancy[self.site[:self.n]] = np.arange(self.n)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The table as arrays (used slots only), for checkpoints."""
        out = {name: getattr(self, name)[:self.n].copy() for name in [*COLUMNS, "x"]}
        out["next_uid"] = np.array(self.next_uid)
        return out

    @classmethod
    def from_state_dict(cls, d: dict[str, np.ndarray], n_sites: int) -> "Cells":
        n = d["kind"].size
        cells = cls(n_sites, max(16, 2 * n))
        for name in [*COLUMNS, "x"]:
            if name in d:  # a checkpoint written before a column existed leaves it at its default
                getattr(cells, name)[:n] = d[name]
        cells.n = n
        cells.next_uid = int(d["next_uid"])
        alive = cells.kind[:n] != FREE
        cells.occupancy[cells.site[:n][alive]] = np.flatnonzero(alive)
        return cells
