"""The spatial engine: cells on a lattice, diffusing fields, the cell programs called per cell.

:func:`run` is what :meth:`tmesim.Simulation.run` calls for ``scale: spatial``.
Each (arm, replicate) is one :class:`SpatialRun`: a lattice of sites (one
cell per site, one field voxel per site), the fields of :data:`BASE_FIELDS`
plus one field per drug the scenario doses, vessels, and the cell table. A
step of ``dt`` minutes:

1. applies the protocol events due (a dose raises the drug's plasma
   concentration, which reaches the tissue through the vessels; a CAR T
   infusion places the manufactured product's cells next to vessels);
2. advances the fields over ``dt`` (in sub-steps of ``field_dt_minutes``) with what every cell
   released and takes up (:class:`tmesim.spatial.fields.FieldSolver`; oxygen at its own shorter step);
3. lets every cell decide from its site and neighbours by calling its cell
   program (:func:`.kernels.decide`, parallel) and applies the decisions
   (:func:`.kernels.apply`, serial, in a permutation drawn from the seed);
4. recruits host immune cells at vessels (the well-mixed recruitment rates,
   spread over the vessels and scaled by the CXCL9/10 each one sees).

Outputs are the results contract (:mod:`tmesim.results`): the same variables
as the well-mixed engine (cell counts by type and state, mean intracellular
states, mean field concentrations at the tumour's cells, cumulative deaths by
mode), with replicates on the ``patient`` dimension. Randomness is keyed on
(seed, step, cell, event) (:mod:`.rng`), so a run is bit-identical whatever
the number of threads, and a resumed run ends as the uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import xarray as xr

from ..biology.programs import t_cell, tumor
from ..biology.programs.pharmacology import DRUGS, N_DRUGS
from ..biology.programs.tumor import STATE as TUMOR_STATE
from ..biology.programs.tumor import resting_state
from ..biology.recruitment import recruitment_rate
from ..errors import InputError, SimulationError
from ..params.index import CATALOGUE, NAMES
from ..params.resolve import resolve, resolve_group
from ..protocols import products
from ..protocols.events import DOSE, INFUSION, arm_events
from ..protocols.schedule import MIN_PER_DAY
from .. import results as R
from ..results import assemble
from ..status import SolverStatus
from .. import variables as V
from . import behaviors as B
from . import cells as C
from . import kernels as K
from .config import read_positions
from .fields import FieldSolver, FieldSpec
from .lattice import Lattice
from .layout import ROW

ENGINE = "spatial"
#: The fields of every spatial run, with their units (drug fields follow: ``drug_<name>``, mg/L).
BASE_FIELDS = (("oxygen", "mmHg"), ("glucose", "mM"), ("cystine", "uM"), ("tryptophan", "uM"), ("kynurenine", "uM"),
               ("ifng", "pM"), ("il12", "pM"), ("il10", "pM"), ("tgfb", "pM"), ("il2", "pM"), ("cxcl9", "pM"))
ANTIBODIES = ("anti_pd1", "anti_pdl1", "anti_ctla4")
COUNTERS = K.COUNTERS
#: The phases of a step timed in :attr:`SpatialRun.phase_seconds`.
PHASES = ("events", "decide", "fields", "apply", "births", "recruit", "other")
#: Share of a whole tumour a spatial domain stands for is its tumour cells over the parameter set's
#: ``initial_tumor_cells``: recruitment and infusions scale with it (see :meth:`SpatialRun.scale`).


def moore_offsets(ndim: int) -> np.ndarray:
    """(dz, dy, dx) of the Moore neighbourhood: 8 neighbours in 2D, 26 in 3D."""
    rng = (-1, 0, 1)
    dz = (0,) if ndim == 2 else rng
    return np.array([(a, b, c) for a in dz for b in rng for c in rng if (a, b, c) != (0, 0, 0)], dtype=np.int64)


class SpatialRun:
    """One arm and replicate of a spatial scenario, advanced step by step.

    Parameters
    ----------
    scenario : the spatial scenario.
    arm : arm index.
    values : the arm's parameter values (catalogue order, internal units).
    seed : this replicate's seed (non-negative int).
    """

    def __init__(self, scenario, arm: int, values: np.ndarray, seed: int):
        cfg = scenario.spatial
        self.scenario, self.arm, self.seed = scenario, arm, int(seed)
        self.values = np.asarray(values, dtype=float)
        self.rows = resolve(self.values, ROW)
        self.p = self.rows[0]
        self.dt = cfg.dt_minutes
        self.site_um = cfg.site_um
        shape = cfg.shape
        self.lattice = Lattice(shape, cfg.site_um)
        self.shape3 = (1,) * (3 - len(shape)) + tuple(shape)
        self.n_sites = int(np.prod(shape))
        self.offsets = moore_offsets(len(shape))
        self.volume_um3 = cfg.site_um ** 3 * self.p.tissue.interstitial_fraction
        self.events = [e for e in arm_events(scenario, arm) if e.kind in (DOSE, INFUSION)]
        self.event_ptr = 0
        self.step_index = 0
        #: Wall seconds spent in each phase of :meth:`step` (summed over steps; see there).
        self.phase_seconds = dict.fromkeys(PHASES, 0.0)
        self.counters = np.zeros(len(COUNTERS))
        drugs_used = sorted({e.target for ev in (arm_events(scenario, a) for a in range(len(scenario.arms)))
                             for e in ev if e.kind == DOSE} | set(B.field_drugs(scenario.rules)),
                            key=[d.name for d in DRUGS].index)
        self.drug_names = tuple(drugs_used)
        self.drug_field = np.full(N_DRUGS, -1, dtype=np.int64)
        for j, name in enumerate(self.drug_names):
            self.drug_field[[d.name for d in DRUGS].index(name)] = K.N_BASE_FIELDS + j
        self.plasma_c0 = np.zeros(N_DRUGS)
        self.plasma_t0 = np.zeros(N_DRUGS)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED]))
        self.vessels = self._place_vessels(rng)
        self._vessel_sites = np.flatnonzero(self.vessels)
        self._anti_ctla4 = [d.name for d in DRUGS].index("anti_ctla4")
        self.fields = FieldSolver(self.lattice, self._field_specs(), vessels=self.vessels.reshape(shape),
                                  scheme=cfg.field_scheme)
        self.cells = C.Cells(self.n_sites, capacity=1024)
        self._place_initial_cells(rng)
        self.reference_tumor_cells = max(self._count_tumor(), 1)
        #: The scenario's hypothesis rules bound to this run's fields (docs/rules.md, section 7).
        self.rules = B.bind(scenario.rules, tuple(n for n, _ in BASE_FIELDS) + self.drug_names)
        self._rest_x = self._resting_states()

    # ----------------------------------------------------------------- set-up
    def _field_specs(self) -> list[FieldSpec]:
        p, tr, ts, cy = self.p, self.p.transport, self.p.tissue, self.p.cytokines
        kv = tr.vessel_supply_rate
        o2 = ts.oxygen_vessel * ts.oxygen_supply_factor
        glc = ts.glucose_plasma * ts.glucose_supply_factor
        trp = ts.tryptophan_plasma * ts.tryptophan_supply_factor
        perfused = dict(boundary="dirichlet", vessel_supply_rate=kv)
        # the stroma the model does not track takes up IFN-gamma too (every host cell bears IFNGR, Bach1997)
        stroma_ifng = cy.ifng_uptake_rate * (1.0 - p.host.host_ifngr_loss) * ts.stromal_cell_fraction
        specs = [
            FieldSpec("oxygen", "mmHg", tr.oxygen_diffusion, tr.oxygen_decay_rate, boundary_value=o2,
                      vessel_plasma_value=o2, initial_value=o2, dt_max=self.scenario.spatial.oxygen_dt_minutes,
                      **perfused),
            FieldSpec("glucose", "mM", tr.glucose_diffusion, 0.0, boundary_value=glc, vessel_plasma_value=glc,
                      initial_value=glc, **perfused),
            FieldSpec("cystine", "uM", tr.small_molecule_diffusion, 0.0, boundary_value=ts.cystine_plasma,
                      vessel_plasma_value=ts.cystine_plasma, initial_value=ts.cystine_plasma, **perfused),
            FieldSpec("tryptophan", "uM", tr.small_molecule_diffusion, 0.0, boundary_value=trp, vessel_plasma_value=trp,
                      initial_value=trp, **perfused),
            FieldSpec("kynurenine", "uM", tr.small_molecule_diffusion, 0.0, **perfused),
            FieldSpec("ifng", "pM", tr.ifng_diffusion, cy.ifng_decay_rate + stroma_ifng),
            FieldSpec("il12", "pM", tr.il12_diffusion, cy.il12_decay_rate),
            FieldSpec("il10", "pM", tr.il10_diffusion, cy.il10_decay_rate),
            FieldSpec("tgfb", "pM", tr.tgfb_diffusion, cy.tgfb_decay_rate),
            FieldSpec("il2", "pM", tr.il2_diffusion, cy.il2_decay_rate),
            FieldSpec("cxcl9", "pM", tr.cxcl9_diffusion, cy.cxcl9_decay_rate),
        ]
        for name in self.drug_names:
            d = tr.antibody_diffusion if name in ANTIBODIES else tr.small_molecule_diffusion
            specs.append(FieldSpec(f"drug_{name}", "mg/L", d, 0.0, vessel_supply_rate=kv))
        return specs

    def _centre_distance(self) -> np.ndarray:
        """Distance (um) of every site's centre from the domain's centre."""
        axes = [(np.arange(n) + 0.5 - n / 2.0) * self.site_um for n in self.shape3]
        zz, yy, xx = np.meshgrid(*axes, indexing="ij")
        return np.sqrt(zz ** 2 + yy ** 2 + xx ** 2).ravel()

    def _tumor_sites(self) -> np.ndarray:
        g = self.scenario.spatial.geometry
        if g.kind == "spheroid":
            return np.flatnonzero(self._centre_distance() <= g.radius_um)
        if g.kind == "slab":
            nx = self.shape3[2]
            x = (np.arange(self.n_sites) % nx + 0.5 - nx / 2.0) * self.site_um
            return np.flatnonzero(np.abs(x) <= g.thickness_um / 2.0)
        if g.kind == "scattered":
            # round(density x sites) sites drawn from a stream of their own, so vessels ("outside") and cells
            # see the same tumour
            n = max(1, int(round(g.density * self.n_sites)))
            pick = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5CA7])).choice(
                self.n_sites, size=n, replace=False)
            return np.sort(pick)
        return np.array([], dtype=np.int64)

    def _place_vessels(self, rng) -> np.ndarray:
        cfg = self.scenario.spatial.vessels
        mask = np.zeros(self.n_sites, dtype=bool)
        if cfg.placement == "file":
            mask[read_positions(self.scenario.spatial, cfg.file, "spatial.vessels.file")[0]] = True
            return mask
        candidates = np.arange(self.n_sites)
        if cfg.placement == "outside":
            outside = np.ones(self.n_sites, dtype=bool)
            outside[self._tumor_sites()] = False
            candidates = np.flatnonzero(outside)
        n = int(round(cfg.density * self.n_sites))
        if n > 0 and candidates.size:
            mask[rng.choice(candidates, size=min(n, candidates.size), replace=False)] = True
        return mask

    def _resting_states(self) -> np.ndarray:
        """The intracellular state a new cell of each kind starts with (kinds x ``N_X``), as :meth:`_add` gives
        it; a cell that transforms takes its new kind's."""
        rest = np.zeros((len(C.KIND_NAMES), C.N_X))
        rest[C.TUMOR] = self._tumor_x()
        for kind in (C.CD8, C.CD4, C.CAR_CD8, C.CAR_CD4, C.TREG):
            rest[kind] = t_cell.rested_axis()
        return rest

    def _tumor_x(self, fe_ext: float = 1.0) -> np.ndarray:
        """A new tumour cell's state at rest (computed once per run: reading the parameter record per cell
        took most of the set-up time of a large run)."""
        rest = getattr(self, "_tumor_rest", None)
        if rest is None or rest[0] != fe_ext:
            x = np.zeros(C.N_X)  # the tumour state is narrower than the T cell axis: the rest of the row is 0
            x[:len(TUMOR_STATE)] = resting_state(self.p.tumor, fe_ext)
            rest = self._tumor_rest = (fe_ext, x)
        return rest[1]

    def _place_initial_cells(self, rng) -> None:
        g = self.scenario.spatial.geometry
        if g.kind == "file":
            sites, types = read_positions(self.scenario.spatial, g.file, "spatial.geometry.file", with_type=True)
            for s, t in zip(sites, types):
                if self.cells.occupancy[s] != -1:
                    continue
                self._add(int(s), int(t), rng)
            return
        tumor_sites = self._tumor_sites()
        for s in tumor_sites:
            self._add(int(s), C.TUMOR, rng)
        n_tumor = tumor_sites.size
        ini = self.p.initial
        counts = [(C.CD8, ini.initial_cd8_per_tumor_cell), (C.CD4, ini.initial_cd4_per_tumor_cell),
                  (C.TREG, ini.initial_treg_per_tumor_cell), (C.NK, ini.initial_nk_per_tumor_cell),
                  (C.MACROPHAGE, ini.initial_macrophages_per_tumor_cell)]
        margin = self._centre_distance() <= (g.radius_um or 0.0) + g.immune_margin_um if g.kind == "spheroid" else None
        free = np.flatnonzero((self.cells.occupancy == -1) & (margin if margin is not None else True))
        rng.shuffle(free)
        k = 0
        for kind, per_tumor in counts:
            n = int(rng.poisson(per_tumor * n_tumor))
            for _ in range(n):
                if k >= free.size:
                    break
                self._add(int(free[k]), kind, rng, m1=rng.random() < ini.initial_m1_fraction)
                k += 1
        if g.immune_shell is not None:
            self._place_shell(g, rng)

    def _place_shell(self, g, rng) -> None:
        """Immune cells in a shell around the spheroid (:class:`.config.ImmuneShell`), as PhysiCell's
        cancer-immune sample seeds its T cells."""
        shell = g.immune_shell
        kind = C.KIND_NAMES.index(shell.cell_type)
        ndim = self.scenario.spatial.dimensions
        mean = g.radius_um + shell.gap_um + 0.5 * shell.thickness_um
        sd = 0.33 * 0.5 * shell.thickness_um
        half = np.array(self.shape3[::-1][:ndim]) * self.site_um / 2.0  # x, y[, z] half-extents
        placed, draws = 0, 0
        m1_fraction = self.p.initial.initial_m1_fraction
        while placed < shell.count and draws < 20 * shell.count:
            n = shell.count - placed
            theta = rng.random(n) * 2.0 * np.pi
            r = rng.normal(mean, sd, n) if sd > 0 else np.full(n, mean)
            if ndim == 3:
                phi = np.arccos(2.0 * rng.random(n) - 1.0)
                pos = np.stack([r * np.cos(theta) * np.sin(phi), r * np.sin(theta) * np.sin(phi), r * np.cos(phi)], 1)
            else:
                pos = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
            draws += n
            idx = np.floor((pos + half) / self.site_um).astype(np.int64)
            inside = np.all((idx >= 0) & (idx < np.array(self.shape3[::-1][:ndim])), axis=1)
            for row in np.flatnonzero(inside):
                x, y = idx[row, 0], idx[row, 1]
                z = idx[row, 2] if ndim == 3 else 0
                site = int((z * self.shape3[1] + y) * self.shape3[2] + x)
                if self.cells.occupancy[site] == -1:
                    self._add(site, kind, rng, m1=rng.random() < m1_fraction)
                    placed += 1

    def _add(self, site: int, kind: int, rng=None, m1: bool = True, state: int | None = None,
             x: np.ndarray | None = None, antigen: int | None = None) -> int:
        if kind == C.TUMOR:
            x0 = self._tumor_x() if x is None else x
            if antigen is None:
                if getattr(self, "_antigen_density", None) is None:  # read the record once, not per cell
                    self._antigen_density = float(self.p.tumor.tumor_car_antigen_fraction)
                antigen = int(rng.random() < self._antigen_density) if rng is not None else 1
            st = 0
        elif kind == C.MACROPHAGE:
            x0 = np.zeros(C.N_X)
            st = C.M1 if m1 else C.M2
            antigen = 0
        elif kind == C.NK:
            x0, st, antigen = np.zeros(C.N_X), 0, 0
        else:
            x0 = t_cell.rested_axis() if x is None else x
            st = C.EFFECTOR if state is None else state
            antigen = 0
        return self.cells.add(site, kind, st, x0, antigen)

    def _count_tumor(self) -> int:
        c = self.cells
        return int(np.count_nonzero((c.kind[:c.n] == C.TUMOR) & (c.dead[:c.n] == C.ALIVE)))

    # ------------------------------------------------------------------ step
    @property
    def time(self) -> float:
        """Simulated time (min)."""
        return self.step_index * self.dt

    def scale(self) -> float:
        """Share of the whole tumour the domain stands for: its tumour cells over ``initial_tumor_cells``."""
        whole = self.values[NAMES.index("initial_tumor_cells")]
        return self.reference_tumor_cells / max(whole, 1.0)

    def _apply_events(self) -> None:
        from ..biology.programs import pharmacology

        t = self.time
        while self.event_ptr < len(self.events) and self.events[self.event_ptr].day * MIN_PER_DAY <= t + 1e-9:
            e = self.events[self.event_ptr]
            self.event_ptr += 1
            for d in range(N_DRUGS):
                self.plasma_c0[d] = pharmacology.concentration(self.plasma_c0[d], self.plasma_t0[d], t,
                                                               self.p.drugs.half_life[d])
                self.plasma_t0[d] = t
            if e.kind == DOSE:
                d = [x.name for x in DRUGS].index(e.target)
                self.plasma_c0[d] += e.amount / self.p.drugs.volume[d]
            else:
                self._infuse(e)

    def _infuse(self, e) -> None:
        prod = e.product
        product_row = resolve_group(self.values, products.PARAMS)[0]
        axis = products.manufacture(self.p.car_t, product_row, prod.manufacturing == "bortezomib")
        memory = products.memory_fraction(product_row, axis)
        n = int(np.random.default_rng(np.random.SeedSequence([self.seed, 0x1AF, self.event_ptr])).poisson(
            prod.cells * self.scale()))
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xCA7, self.event_ptr]))
        vessel_sites = np.flatnonzero(self.vessels)
        free = np.flatnonzero(self.cells.occupancy == -1)
        if vessel_sites.size:
            near = np.zeros(self.n_sites, dtype=bool)
            for s in vessel_sites:
                for k in range(self.offsets.shape[0]):
                    t = K.neighbour_site(s, k, self.offsets, *self.shape3)
                    if t >= 0:
                        near[t] = True
            near[vessel_sites] = True
            preferred = free[near[free]]
            free = np.concatenate([rng.permutation(preferred), rng.permutation(free[~near[free]])])
        else:
            free = rng.permutation(free)
        for j in range(min(n, free.size)):
            kind = C.CAR_CD4 if rng.random() < prod.cd4_fraction else C.CAR_CD8
            state = C.STEM_MEMORY if rng.random() < memory else C.EFFECTOR
            self._add(int(free[j]), kind, state=state, x=axis.copy())

    def _plasma(self, time: float | None = None) -> np.ndarray:
        """Drug concentrations in plasma (mg/L), per drug of DRUGS, at ``time`` (min; default now). Doses
        enter at the start of a step only, so within a step the plasma is the clearance of its start value."""
        from ..biology.programs import pharmacology

        t = self.time if time is None else time
        return np.array([pharmacology.concentration(self.plasma_c0[d], self.plasma_t0[d], t,
                                                    self.p.drugs.half_life[d]) for d in range(N_DRUGS)])

    def _vessel_plasma(self, plasma: np.ndarray) -> np.ndarray:
        """Each field's plasma value (field unit) given the drugs' plasma levels (mg/L, per drug of DRUGS)."""
        cpl = np.array([s.vessel_plasma_value for s in self.fields.specs])
        for j, name in enumerate(self.drug_names):
            cpl[K.N_BASE_FIELDS + j] = plasma[[d.name for d in DRUGS].index(name)]
        cys = [d.name for d in DRUGS].index("cysteinase")
        if self.drug_field[cys] >= 0:  # cyst(e)inase degrades cystine in plasma
            from ..biology.common import occupancy
            cpl[K.CYSTINE] *= 1.0 - occupancy(plasma[cys], self.p.drugs.ec50[cys], self.p.drugs.emax[cys])
        return cpl

    def step(self) -> None:
        """Advance the run by one step of ``dt`` minutes.

        The wall time of each phase is added to :attr:`phase_seconds` (``events``, ``decide``, ``fields``,
        ``apply``, ``births``, ``recruit``, ``other``: the Python work between them).
        """
        clock = time.perf_counter
        t0 = clock()
        self._apply_events()
        c = self.cells
        n = c.n
        values = self.fields.values.reshape(len(self.fields.specs), -1)
        cpl = self._vessel_plasma(self._plasma())
        cpl_end = self._vessel_plasma(self._plasma(self.time + self.dt))
        if self.drug_field[[d.name for d in DRUGS].index("cysteinase")] >= 0:
            # the tissue beyond the faces is perfused by the same plasma (the well-mixed engine's cystine is
            # plasma x (1 - depletion)); faces held at the undepleted level undid the drug (docs/spatial.md).
            # A face holds one value over the step: the plasma's at mid-step, half a step behind at most
            self.fields.set_boundary_value(K.CYSTINE, 0.5 * (cpl[K.CYSTINE] + cpl_end[K.CYSTINE]))
        # the vessels exchange with the plasma as it clears over the step, taken at the end of each field
        # sub-step (backward Euler's time): held at its start value, a falling plasma put the tissue a cell
        # step behind it (docs/spatial-fields.md, "Vessels fed by a changing plasma")
        self.fields.set_plasma(cpl, until=cpl_end)
        F = values.shape[0]
        self._ensure_buffers(n, F)
        b = self._buf
        t1 = clock()
        self._decide(n)
        t2 = clock()
        self._diag_means = self._diagnostic_means(b["diag"][:n], c.kind[:n], c.dead[:n])
        live = c.kind[:n] != C.FREE
        t3 = clock()
        cfg = self.scenario.spatial
        self.fields.advance(self.dt, cfg.field_dt_minutes, export=b["export"][:, :n][:, live],
                            uptake=b["uptake"][:, :n][:, live], voxels=c.site[:n][live], rtol=cfg.field_rtol,
                            atol=cfg.field_atol)
        t4 = clock()
        order = np.random.default_rng(np.random.SeedSequence([self.seed, 0x0DE, self.step_index])).permutation(n)
        births = self._births
        nb = K.apply(order, c.site, c.kind, c.state, c.dead, c.antigen, c.hits, c.heading, c.killer, c.delivered,
                     c.attacking, c.x, b["x_new"], b["intent"], c.occupancy, self.offsets, *self.shape3,
                     int(self.p.transport.contact_hits_to_kill), self._rest_x, self.counters, births["site"],
                     births["parent"], births["state"])
        t5 = clock()
        loss = float(self.p.tumor.tumor_car_antigen_loss_per_division)
        # drawn only where antigen can be lost, so runs without it keep their random streams
        loss_rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xA6E, self.step_index])) if loss > 0.0 else None
        for j in range(nb):
            s, parent = int(births["site"][j]), int(births["parent"][j])
            c.occupancy[s] = -1
            kind = int(c.kind[parent])
            if kind == C.FREE:  # killed (by a rule's attack) after it divided this step
                continue
            antigen = int(c.antigen[parent])
            if kind == C.TUMOR and antigen and loss > 0.0:  # antigen loss at division (the tumour program's)
                antigen = tumor.daughter_antigen(antigen, loss_rng.random(), self.p.tumor)
            self._add(s, kind, state=int(births["state"][j]), x=c.x[parent].copy(), antigen=antigen,
                      m1=c.state[parent] == C.M1)
        t6 = clock()
        self._recruit()
        t7 = clock()
        c.compact()
        self.step_index += 1
        t8 = clock()
        ps = self.phase_seconds
        ps["events"] += t1 - t0
        ps["decide"] += t2 - t1
        ps["fields"] += t4 - t3
        ps["apply"] += t5 - t4
        ps["births"] += t6 - t5
        ps["recruit"] += t7 - t6
        ps["other"] += (t3 - t2) + (t8 - t7)

    @staticmethod
    def _diagnostic_means(diag, kind, dead) -> dict[str, float]:
        """Means of the cells' diagnostics this step: tumour quantities over live tumour cells, T cell ones over
        host and CAR T cells (NaN where a population is empty)."""
        tumor = (kind == C.TUMOR) & (dead == C.ALIVE)
        host = (kind == C.CD8) | (kind == C.CD4)
        car = (kind == C.CAR_CD8) | (kind == C.CAR_CD4)

        def mean(mask, col, scale=1.0):
            return float(diag[mask, col].mean()) * scale if mask.any() else math.nan

        return {
            "tumor_cystine_uptake": mean(tumor, K.D_UPTAKE), "tumor_gpx4_activity": mean(tumor, K.D_GPX4),
            "tumor_pdl1": mean(tumor, K.D_PDL1), "tumor_mhc1": mean(tumor, K.D_MHC1), "tumor_ido1": mean(tumor, K.D_IDO1),
            "extracellular_iron": mean(tumor, K.D_IRON), "ros": mean(tumor, K.D_ROS),
            "pd1_blockade": mean(tumor, K.D_BLOCKADE),
            "tumor_ferroptosis_hazard": mean(tumor, K.D_HFER, MIN_PER_DAY),
            "host_t_stimulation": mean(host, K.D_STIM), "host_t_pd1_inhibition": mean(host, K.D_PD1_INH),
            "car_t_stimulation": mean(car, K.D_STIM),
        }

    def _decide(self, n: int) -> None:
        """Phases 0-1 of a step on the first ``n`` slots: the rules' signals (if any) and every cell's decision
        into the per-step buffers. Changes nothing but the buffers (draws are counter-based)."""
        c, b, rules = self.cells, self._buf, self.rules
        values = self.fields.values.reshape(len(self.fields.specs), -1)
        if rules.n_rules:
            self._rules_cells = (c.kind[:n].copy(), c.dead[:n].copy())  # who the rules saw (rule_values)
            K.sense(n, c.site, c.kind, c.state, c.dead, c.antigen, c.hits, c.delivered, c.attacking, c.x, c.occupancy,
                    values, self.drug_field, self.offsets, *self.shape3, self.site_um, self.time, self.rows,
                    b["rules"], rules.exposed.arrays(), rules.tables())
        K.decide(n, c.site, c.kind, c.state, c.dead, c.antigen, c.hits, c.heading, c.uid, c.x, c.occupancy, values,
                 self.drug_field, self.offsets, *self.shape3, self.site_um, self.dt, self.seed, self.step_index, self.rows,
                 self.volume_um3, b["x_new"], b["intent"], b["diag"], b["export"], b["uptake"], b["behavior"],
                 b["rules"][K.RB_EXPOSED], b["rules"][K.RB_CHEMOTAXIS], rules.tables(), b["rules"],
                 rules.own.arrays() if rules.own.n_rules else None)

    def _ensure_buffers(self, n: int, F: int) -> None:
        """The per-step buffers, for at least ``n`` slots and ``F`` fields. They follow the slots in use with
        an eighth more room (so a growing tumour reallocates them rarely), not the cell table's capacity,
        which doubles: the buffers are most of the memory per cell."""
        if getattr(self, "_buf_cap", 0) < n or self._buf["export"].shape[0] != F:
            cap = n + n // 8 + 64
            self._buf = {
                "x_new": np.zeros((cap, C.N_X)), "intent": np.zeros((cap, K.N_INTENT), dtype=np.int64),
                "diag": np.zeros((cap, K.N_DIAG)), "export": np.zeros((F, cap)), "uptake": np.zeros((F, cap)),
                "behavior": np.zeros((cap, B.N_ROW)), "rules": self._rules_buffers(cap, F),
            }
            self._births = {"site": np.zeros(cap, dtype=np.int64), "parent": np.zeros(cap, dtype=np.int64),
                            "state": np.zeros(cap, dtype=np.int64)}
            self._buf_cap = cap

    def _rules_buffers(self, cap: int, F: int) -> tuple[np.ndarray, ...]:
        """The rules' per-cell buffers (``K.RB_*`` order), each with no rows where the rules need none."""
        r = self.rules
        rows = cap if r.n_rules else 0
        exposed = cap if r.any_exposed else 0
        chemotaxis = cap if (r.kind_flags & B.K_CHEMOTAXIS).any() else 0
        return (np.zeros((rows, len(r.signal_names))), np.zeros((rows, len(r.own.behavior_names))),
                np.zeros((rows, len(r.own.behavior_names))), np.zeros((exposed, B.N_EXPOSED)),
                np.zeros((exposed, B.N_EXPOSED)), np.zeros((chemotaxis, F)))

    def rule_values(self) -> dict[str, np.ndarray]:
        """What the rules saw and did in the last step, one row per cell as the step began (before deaths,
        births and compaction moved the table): ``kind`` and ``dead`` (the cells' type index and death mode),
        ``signals`` (columns ``rules.signal_names``, each in its unit), ``base`` and ``result`` (columns
        ``rules.own.behavior_names``: the programs' values and the rules' result, in the behaviours' units;
        NaN where the cell's type has no rule on that behaviour), ``exposed_base``/``exposed`` (columns
        :data:`.behaviors.EXPOSED_NAMES`), ``behavior`` (the behaviour row the draws used, columns
        :data:`.behaviors.ROW_NAMES`). Rows of cells whose type has no rules hold no meaning in the rules'
        arrays. Empty before the first step of a run with rules. For tests and inspection."""
        if not hasattr(self, "_rules_cells"):
            return {}
        kind, dead = self._rules_cells
        n = kind.size
        rb = self._buf["rules"]
        names = ("signals", "base", "result", "exposed_base", "exposed")
        out = {"kind": kind.copy(), "dead": dead.copy()}
        out.update({k: a[:n].copy() for k, a in zip(names, rb[:5])})
        out["behavior"] = self._buf["behavior"][:n].copy()
        return out

    def _recruit(self) -> None:
        """Host immune cells enter at vessels: the well-mixed recruitment rates (cells/min at this tumour's size,
        times the domain's share of the whole tumour), spread over the vessels, each scaled by its CXCL9/10."""
        vessel_sites = self._vessel_sites
        if vessel_sites.size == 0:
            return
        ts, host = self.p.tissue, self.p.host
        c = self.cells
        tumor = c.kind[:c.n] == C.TUMOR
        n_tumor = int(np.count_nonzero(tumor & (c.dead[:c.n] == C.ALIVE)))
        dead = int(np.count_nonzero(tumor)) - n_tumor
        size = (n_tumor + dead) / max(self.scale(), 1e-300)  # the whole tumour's cells this domain stands for
        d = self._anti_ctla4
        from ..biology.common import occupancy

        ctla4 = float(occupancy(self._plasma()[d], self.p.drugs.ec50[d], self.p.drugs.emax[d]))
        competence = float(host.host_immune_competence)
        boost = competence * (1.0 + ts.ctla4_priming_boost * ctla4) * (
            1.0 + ts.dead_cell_priming_boost * dead / (n_tumor + dead + 1.0))
        cxcl9 = self.fields.values.reshape(len(self.fields.specs), -1)[K.CXCL9, vessel_sites]
        share = self.scale() / vessel_sites.size
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xEC7, self.step_index]))
        half, w, k_half = float(ts.recruitment_size_half), float(ts.cxcl9_recruitment_weight), float(ts.cxcl9_half)
        plan = [(C.CD8, ts.cd8_recruitment_max, boost, w), (C.CD4, ts.cd8_recruitment_max * ts.cd4_to_cd8_recruitment,
                                                              boost, w),
                (C.TREG, ts.treg_recruitment_max, competence, 0.0), (C.NK, ts.nk_recruitment_max, competence, w),
                (C.MACROPHAGE, ts.macrophage_recruitment_max, 1.0, 0.0)]
        for kind, max_rate, b_, weight in plan:
            rates = recruitment_rate(float(max_rate) * share, size, half, cxcl9, k_half, weight, b_)
            counts = rng.poisson(np.asarray(rates) * self.dt)
            for v in np.flatnonzero(counts):
                for _ in range(int(counts[v])):
                    s = self._free_site_near(int(vessel_sites[v]), rng)
                    if s < 0:
                        break
                    if kind == C.MACROPHAGE:
                        self._recruit_macrophage(s, rng)
                    else:
                        self._add(s, kind)

    def _recruit_macrophage(self, site: int, rng) -> None:
        from ..biology.programs import macrophage

        ex = np.zeros(len(t_cell.EX))
        conc = np.zeros(N_DRUGS)
        from ..biology.programs import pharmacology

        values = self.fields.values.reshape(len(self.fields.specs), -1)
        for d in range(N_DRUGS):
            f = self.drug_field[d]
            conc[d] = values[f, site] if f >= 0 else 0.0
        pharmacology.exposures(conc, self.p.drugs, ex)
        into_m1, into_m2 = macrophage.recruitment(1.0, ex, self.p.macrophage)
        u = rng.random()
        if u < into_m1:
            self._add(site, C.MACROPHAGE, m1=True)
        elif u < into_m1 + into_m2:
            self._add(site, C.MACROPHAGE, m1=False)

    def _free_site_near(self, site: int, rng) -> int:
        if self.cells.occupancy[site] == -1:
            return site
        free = [t for k in range(self.offsets.shape[0])
                if (t := K.neighbour_site(site, k, self.offsets, *self.shape3)) >= 0 and self.cells.occupancy[t] == -1]
        return int(free[rng.integers(len(free))]) if free else -1

    # --------------------------------------------------------------- outputs
    def observe(self) -> dict[str, float]:
        """The reported variables now (:mod:`tmesim.variables`): counts, means over cells, field means at the
        tumour's cells (over the domain without tumour cells)."""
        c = self.cells
        n = c.n
        kind, state, dead, x = c.kind[:n], c.state[:n], c.dead[:n], c.x[:n]
        out: dict[str, float] = {}
        tumor = (kind == C.TUMOR) & (dead == C.ALIVE)
        out["tumor_live"] = float(tumor.sum())
        positive = c.antigen[:n] > 0
        out["tumor_antigen_positive"] = float((tumor & positive).sum())
        out["tumor_antigen_negative"] = float((tumor & ~positive).sum())
        for mode, name in ((C.APOPTOTIC, "apoptotic"), (C.FERROPTOTIC, "ferroptotic"), (C.NECROTIC, "necrotic")):
            out[f"tumor_dead_{name}"] = float(((kind == C.TUMOR) & (dead == mode)).sum())
        for j, v in enumerate(TUMOR_STATE):
            out[f"tumor_{v.name}"] = float(x[tumor, j].mean()) if tumor.any() else math.nan
        for name, (lineage, st) in V.T_CELL_POOLS.items():
            k = {"cd8": C.CD8, "cd4": C.CD4, "car_cd8": C.CAR_CD8, "car_cd4": C.CAR_CD4}[lineage]
            out[name] = float(((kind == k) & (state == t_cell.STATES.index(st))).sum())
        out["treg"] = float((kind == C.TREG).sum())
        out["nk"] = float((kind == C.NK).sum())
        out["macrophage_m1"] = float(((kind == C.MACROPHAGE) & (state == C.M1)).sum())
        out["macrophage_m2"] = float(((kind == C.MACROPHAGE) & (state == C.M2)).sum())
        host = (kind == C.CD8) | (kind == C.CD4)
        car = (kind == C.CAR_CD8) | (kind == C.CAR_CD4)
        for j, v in enumerate(t_cell.AXIS):
            out[f"host_t_{v.name}"] = float(x[host, j].mean()) if host.any() else math.nan
            out[f"car_t_{v.name}"] = float(x[car, j].mean()) if car.any() else math.nan
        values = self.fields.values.reshape(len(self.fields.specs), -1)
        where = c.site[:n][tumor] if tumor.any() else np.arange(self.n_sites)
        for f, (name, _) in enumerate(BASE_FIELDS):
            out[name] = float(values[f, where].mean())
        for j, k in enumerate(COUNTERS):
            out[k] = float(self.counters[j])
        means = getattr(self, "_diag_means", None)
        if means is None:  # before the first step: what the first step's decisions will read now
            self._ensure_buffers(n, len(self.fields.specs))
            self._decide(n)
            means = self._diagnostic_means(self._buf["diag"][:n], kind, dead)
        out.update(means)
        n_cells = np.count_nonzero(kind != C.FREE)
        out["ox_lipid_signal"] = float(((kind == C.TUMOR) & (dead == C.FERROPTOTIC)).sum()) / max(n_cells, 1)
        plasma = self._plasma()
        for d, drug in enumerate(DRUGS):
            f = self.drug_field[d]
            out[f"drug_{drug.name}"] = float(values[f, where].mean()) if f >= 0 else float(plasma[d] * 0.0)
        return out

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs (the cells, the fields, the clock, the PK state, the counters)."""
        d = {f"cells_{k}": v for k, v in self.cells.state_dict().items()}
        d.update(fields=self.fields.values.copy(), step_index=np.array(self.step_index), event_ptr=np.array(self.event_ptr),
                 plasma_c0=self.plasma_c0.copy(), plasma_t0=self.plasma_t0.copy(), counters=self.counters.copy(),
                 reference_tumor_cells=np.array(self.reference_tumor_cells), field_time=np.array(self.fields.time),
                 field_substep_hint=self.fields.substep_hint.copy())
        for k, v in (getattr(self, "_diag_means", None) or {}).items():
            d[f"diag_{k}"] = np.array(v)
        return d

    def load_state_dict(self, d) -> None:
        self.cells = C.Cells.from_state_dict({k[6:]: d[k] for k in d if k.startswith("cells_")}, self.n_sites)
        self.fields.set_values(d["fields"])
        self.fields.time = float(d["field_time"])
        if "field_substep_hint" in d:   # the error controller's next sub-step counts (a checkpoint without: 1)
            self.fields.substep_hint[:] = d["field_substep_hint"]
        self.step_index = int(d["step_index"])
        self.event_ptr = int(d["event_ptr"])
        self.plasma_c0[:] = d["plasma_c0"]
        self.plasma_t0[:] = d["plasma_t0"]
        self.counters[:] = d["counters"]
        self.reference_tumor_cells = int(d["reference_tumor_cells"])
        self._diag_means = {k[5:]: float(d[k]) for k in d if k.startswith("diag_")} or None


def rules_text(scenario) -> str:
    """The scenario's hypothesis rules as the results carry them: the file and every rule as a sentence (what
    ``tmesim rules check`` prints); empty without rules."""
    rules = scenario.rules
    if rules is None:
        return ""
    return "\n".join([f"{rules.source}: {len(rules)} rules"] + rules.sentences())


def run_seed(seed_sequence: np.random.SeedSequence) -> int:
    """The run seed (a non-negative 63-bit int) a SeedSequence gives: its first 64-bit word, halved."""
    return int(seed_sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def replicate_seeds(scenario, n: int | None = None) -> list[int]:
    """One seed per replicate (``n``, default ``spatial.replicates``), spawned from the scenario's seed (shared
    by the arms: a paired design)."""
    root = np.random.SeedSequence(scenario.seed)
    return [run_seed(child) for child in root.spawn(scenario.spatial.replicates if n is None else n)]


def run_seeds(simulation) -> list[int]:
    """The seeds of a simulation's replicates: its ``patient_seeds`` when given (a virtual trial's patients),
    else spawned from the scenario's seed, one per patient of its ``patient_values`` when given."""
    if simulation.patient_seeds is not None:
        return [int(s) for s in simulation.patient_seeds]
    return replicate_seeds(simulation.scenario, simulation.n_patients)


def run_values(simulation, n: int) -> np.ndarray:
    """Parameter values (arm, replicate, parameter; internal units) of ``n`` replicates: each arm's set, with
    the simulation's per-patient values where the arm does not set the parameter itself (as the well-mixed
    engine builds its rows, :func:`tmesim.protocols.schedule.arm_patient_rows`, CAR T product traits included)."""
    return _arm_rows(simulation.scenario, simulation.patient_values, n)


def _arm_rows(scenario, patient_values, n: int) -> np.ndarray:
    from ..protocols.schedule import arm_patient_rows, patient_columns

    cols, given = patient_columns(scenario, patient_values, n)
    ones = np.ones((n, len(NAMES)))
    return np.stack([arm_patient_rows(scenario, a, ones, cols, given) for a in range(len(scenario.arms))])


def new_run(scenario, arm: int = 0, replicate: int = 0) -> "SpatialRun":
    """One arm and replicate of ``scenario`` as :func:`run` builds it (the arm's parameter row with its CAR T
    products' traits, the replicate's seed), to step by hand."""
    seeds = replicate_seeds(scenario)
    return SpatialRun(scenario, arm, _arm_rows(scenario, None, len(seeds))[arm, replicate], seeds[replicate])


def run(simulation, progress: Callable[[float], None] | None = None, recorder=None) -> xr.Dataset:
    """Run every arm and replicate of a spatial ``simulation``; return the results Dataset.

    ``recorder`` (:class:`.outputs.Recorder`) receives snapshots at the scenario's snapshot times and
    checkpoints at its checkpoint times; if its folder holds a checkpoint, the run continues from it and
    ends as the uninterrupted run would (the draws are keyed on seed, step and cell).
    """
    scenario = simulation.scenario
    cfg = scenario.spatial
    days = simulation.output_days()
    step_of = lambda day: int(round(day * MIN_PER_DAY / cfg.dt_minutes))  # noqa: E731
    out_steps = np.array([step_of(d) for d in days], dtype=np.int64)
    end_step = int(out_steps[-1])
    snap_steps = _every(cfg.snapshot_interval_hours, cfg.dt_minutes, end_step)
    check_steps = _every(cfg.checkpoint_interval_hours, cfg.dt_minutes, end_step) if recorder is not None else set()
    seeds = run_seeds(simulation)
    A, R = len(scenario.arms), len(seeds)
    names = _output_names(scenario)
    series = np.full((len(names), A, R, days.size), np.nan)
    status = np.zeros((A, R), dtype=np.int64)
    messages = np.full((A, R), SolverStatus.OK.message, dtype=object)
    steps = np.zeros((A, R), dtype=np.int64)
    values_all = run_values(simulation, R)
    first_row, saved = 0, None
    if recorder is not None:
        saved = recorder.load_checkpoint()
        if saved is not None:
            if str(saved["scenario"]) != scenario.to_yaml():
                raise InputError("--resume", "the checkpoint belongs to another scenario",
                                 "resume with the scenario.yaml of the run folder")
            if (str(saved["rules"]) if "rules" in saved else "") != rules_text(scenario):
                raise InputError("--resume", f"the rules file {scenario.spatial.rules} changed since the run started",
                                 "restore it, or start a new run")
            _check_layout("series", saved["series"].shape, series.shape)
            series[...] = saved["series"]
            status[...], steps[...] = saved["status"], saved["steps"]
            messages[...] = saved["messages"].astype(object)
            first_row = int(saved["row"])
    total = A * R * max(end_step, 1)
    for row in range(first_row, A * R):
        a, r = divmod(row, R)
        sim = SpatialRun(scenario, a, values_all[a, r], seeds[r])
        if saved is not None and row == first_row and "run_step_index" in saved:
            state = {k[4:]: saved[k] for k in saved if k.startswith("run_")}
            fresh = sim.state_dict()
            for k, v in state.items():
                if k in fresh:   # the cell table's rows are its cells: only the columns must agree
                    _check_layout(k, v.shape[k.startswith("cells_"):], fresh[k].shape[k.startswith("cells_"):])
            sim.load_state_dict(state)
        saved = None
        try:
            k = int(np.searchsorted(out_steps, sim.step_index))
            while True:
                if k < out_steps.size and sim.step_index == out_steps[k]:
                    obs = sim.observe()
                    for j, name in enumerate(names):
                        series[j, a, r, k] = obs[name]
                    k += 1
                if recorder is not None and sim.step_index in snap_steps:
                    recorder.snapshot(sim, scenario.arms[a].name, r, sim.step_index * cfg.dt_minutes / MIN_PER_DAY)
                if sim.step_index >= end_step:
                    break
                sim.step()
                if progress is not None and sim.step_index % 10 == 0:
                    progress((row * max(end_step, 1) + sim.step_index) / total)
                if sim.step_index in check_steps and sim.step_index < end_step:
                    recorder.checkpoint(_checkpoint(scenario, row, series, status, messages, steps, sim))
        except SimulationError as exc:
            status[a, r] = SolverStatus.NONFINITE
            messages[a, r] = f"{SolverStatus.NONFINITE.message}; {exc}"
        steps[a, r] = sim.step_index
        if recorder is not None and row + 1 < A * R:
            recorder.checkpoint(_checkpoint(scenario, row + 1, series, status, messages, steps, None))
    if recorder is not None:
        recorder.finish()
    if progress is not None:
        progress(1.0)
    return _dataset(simulation, days, dict(zip(names, series)), status, messages, steps, values_all, seeds)


def _every(hours: float, dt_minutes: float, end_step: int) -> set[int]:
    """The steps every ``hours`` (none for 0), from 0 to ``end_step`` inclusive."""
    if hours <= 0:
        return set()
    every = max(1, int(round(hours * 60.0 / dt_minutes)))
    return set(range(0, end_step + 1, every)) | {end_step}


def _output_names(scenario) -> list[str]:
    drugs = [f"drug_{d.name}" for d in DRUGS]
    return [e[0] for e in V.STATE + V.COUNTERS + V.SPATIAL_COUNTERS + V.DERIVED] + drugs


def _check_layout(name: str, saved: tuple, expected: tuple) -> None:
    """Refuse a checkpoint whose array ``name`` has another shape than this version of tmesim writes
    (a checkpoint from an older version: e.g. before T cells' CD36 widened every cell's state to 8)."""
    if tuple(saved) != tuple(expected):
        raise InputError("--resume", f"the checkpoint's {name} has shape {tuple(saved)}, this version of tmesim "
                                     f"writes {tuple(expected)}: it was written by another version",
                         "start the run again in a new folder (a checkpoint resumes only with the version that wrote it)")


def _checkpoint(scenario, row, series, status, messages, steps, sim) -> dict[str, np.ndarray]:
    state = {"scenario": np.array(scenario.to_yaml()), "rules": np.array(rules_text(scenario)), "row": np.array(row),
             "series": series, "status": status,
             "messages": messages.astype(str), "steps": steps}
    if sim is not None:
        state.update({f"run_{k}": v for k, v in sim.state_dict().items()})
    return state


def _population_means() -> frozenset[str]:
    """Names of the reported means over a population's cells (tumour states, host and CAR T cell axes, cell
    diagnostics): NaN at times when the population has no cells."""
    empty = np.zeros(0, dtype=np.int8)
    diag = SpatialRun._diagnostic_means(np.zeros((0, K.N_DIAG)), empty, empty)
    return frozenset([f"tumor_{v.name}" for v in TUMOR_STATE] + [f"host_t_{v.name}" for v in t_cell.AXIS]
                     + [f"car_t_{v.name}" for v in t_cell.AXIS] + list(diag))


def _dataset(simulation, days, series, status, messages, steps, values_all, seeds) -> xr.Dataset:
    scenario = simulation.scenario
    variables = {}
    means = _population_means()
    for name, array in series.items():
        if name in V.T_CELL_POOLS:
            continue
        if name.startswith("drug_"):
            attrs = {"units": "mg/L", "long_name": f"{name[5:]} concentration (mean at the tumour's cells)",
                     "group": "drugs", "role": "derived"}
        else:
            units, long_name, group = V.info(name)
            role = "derived" if any(name == e[0] for e in V.DERIVED) else "state"
            attrs = {"units": units, "long_name": long_name, "group": group, "role": role}
            if name in means:
                attrs[R.EMPTY_POPULATION_ATTR] = R.EMPTY_POPULATION_NOTE
        variables[name] = (array, attrs)
    kills = [n for n in COUNTERS if n.startswith("kills_")]
    variables["deaths_killing"] = (sum(series[n] for n in kills),
                                   {"units": "cell", "long_name": "tumor cells killed by immune contact (cumulative)",
                                    "group": "deaths", "role": "derived"})
    pools = list(V.T_CELL_POOLS)
    t_cells = np.stack([series[p] for p in pools], axis=-1)
    t_pools = [(p, *V.T_CELL_POOLS[p], V.info(p)[1]) for p in pools]
    events = []
    for a in range(len(scenario.arms)):
        events.append([e for e in arm_events(scenario, a) if e.day <= days[-1] + 1e-9])
    cfg = scenario.spatial
    return assemble(scenario, engine=ENGINE, days=days, arms=[a.name for a in scenario.arms], variables=variables,
                    t_cells=t_cells, t_pools=t_pools, status=status, messages=messages, steps=steps,
                    parameter_values=values_all, parameter_names=NAMES,
                    parameter_units=[CATALOGUE[n]["unit"] for n in NAMES], events=events,
                    extra_attrs={"lattice_shape": list(cfg.shape), "site_um": cfg.site_um, "dt_minutes": cfg.dt_minutes,
                                 "replicate_seeds": [str(s) for s in seeds],
                                 "rules": rules_text(scenario)})
