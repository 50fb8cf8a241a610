"""A plain-numpy implementation of one spatial engine step, to time the engine against and to check it by.

``tmesim bench spatial`` times one step of :class:`~tmesim.spatial.engine.SpatialRun`
(compiled kernels) against this module doing the same work with numpy on one
core, from the same state, and compares what both computed. It has three parts:

* :func:`decide_reference`: the per-cell pass of :func:`.kernels.decide`,
  vectorised over cells with numpy. Every cell gathers the fields at its site
  and the drug exposures there, and scans its Moore neighbourhood (occupant,
  kind, state, death of each neighbour). **Tumour cells and corpses** (about
  90% of the cells in the benchmark) then do all of their work: the tumour
  cell program (:func:`tumor.intracellular_rates`, twice, for the midpoint
  step of the intracellular state; :func:`tumor.signals`; the TAM iron and ROS
  next to the cell), death with its mode, division into a free neighbour,
  repair of sub-lethal hits, secretion and uptake; a corpse its clearance.
  **Macrophages** run their program (polarisation, death, secretion). **T,
  NK and Treg cells** (about 1%) get only their uptake and two keyed draws;
  the contact hits and migration of immune cells are not computed. So the
  reference does less than the engine: its time is a lower bound. The cell
  programs are the engine's own source, run by CPython on numpy arrays
  holding all the cells at once (:func:`plain` swaps every compiled kernel a
  program calls for its Python source); the random draws are the engine's
  counter-based draws (:mod:`.rng`), computed on uint64 arrays.
* :func:`fields_reference`: the fields over the cell step with the engine's
  sub-steps (oxygen at its own step), each sub-step by
  :func:`.bench_fields.reference_step` (numpy, the solver's scheme), with the
  cells' releases and uptakes binned into voxels.
* :func:`apply_reference`: the intents applied in the step's permutation: the
  intracellular states copied with one numpy assignment, then a Python loop
  over the cells that have something to apply (a death, a state change, a
  hit, a move, a division or a repaired hit), with :func:`.kernels.apply`'s
  rules.

Births (adding the daughter cells), recruitment at vessels and protocol
events run the same Python code in both and are not part of the reference.
"""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np

from ..biology import recruitment as rec
from ..biology.programs import macrophage, pharmacology, tumor
from ..biology.programs.pharmacology import EX, N_CHANNELS, N_DRUGS
from . import cells as C
from . import kernels as K
from . import rng
from .bench_fields import reference_step

# --------------------------------------------------------------------------
# the engine's source, run by CPython on arrays
# --------------------------------------------------------------------------

_PLAIN: dict = {}


class _PlainModule:
    """A module whose compiled kernels read as their Python source (see :func:`plain`)."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        return plain(value) if _is_kernel(value) else value


def _is_kernel(value) -> bool:
    return hasattr(value, "py_func") and callable(value)


def plain(kernel):
    """The Python source of a numba ``kernel``, calling the Python source of every kernel it calls.

    Given numpy arrays where the kernel takes scalars, the result computes
    the kernel for all of them at once (the cell programs are written with
    ``np.maximum`` and arithmetic, without branches on cell values).
    """
    fn = getattr(kernel, "py_func", kernel)
    if fn in _PLAIN:
        return _PLAIN[fn]
    glob = dict(fn.__globals__)
    new = types.FunctionType(fn.__code__, glob, fn.__name__, fn.__defaults__, fn.__closure__)
    _PLAIN[fn] = new
    for name in fn.__code__.co_names:
        value = glob.get(name)
        if _is_kernel(value):
            glob[name] = plain(value)
        elif isinstance(value, types.ModuleType) and value.__name__.startswith("tmesim."):
            glob[name] = _PlainModule(value)
    return new


def uniform(seed: int, step: int, uid: np.ndarray, event: int) -> np.ndarray:
    """:func:`.rng.uniform` for an array of uids (the same draws)."""
    with np.errstate(over="ignore"):
        return plain(rng.uniform)(seed, step, np.asarray(uid, dtype=np.uint64), event)


def happens(hazard, dt, seed, step, uid, event) -> np.ndarray:
    """:func:`.rng.happens` for arrays of hazards and uids."""
    return uniform(seed, step, uid, event) < 1.0 - np.exp(-np.asarray(hazard) * dt)


# --------------------------------------------------------------------------
# decide
# --------------------------------------------------------------------------


def neighbours(site: np.ndarray, offsets: np.ndarray, shape3) -> np.ndarray:
    """Sites of the Moore neighbours of ``site`` (``(n_offsets, n)``; -1 outside the lattice)."""
    nz, ny, nx = shape3
    z = site // (ny * nx)
    rest = site - z * ny * nx
    y = rest // nx
    x = rest - y * nx
    z2 = z[None, :] + offsets[:, 0:1]
    y2 = y[None, :] + offsets[:, 1:2]
    x2 = x[None, :] + offsets[:, 2:3]
    inside = (z2 >= 0) & (z2 < nz) & (y2 >= 0) & (y2 < ny) & (x2 >= 0) & (x2 < nx)
    return np.where(inside, (z2 * ny + y2) * nx + x2, -1)


def _pick(u, hazards) -> np.ndarray:
    """:func:`.kernels._pick` for arrays: index of the competing hazard chosen by ``u``."""
    total = hazards[0]
    for h in hazards[1:]:
        total = total + h
    v = u * total
    out = np.full(np.shape(u), len(hazards) - 1, dtype=np.int64)
    undecided = np.ones(np.shape(u), dtype=bool)
    for j, h in enumerate(hazards[:-1]):
        hit = undecided & (v < h)
        out[hit] = j
        undecided &= ~hit
        v = v - h
    return out


def _free_pick(nb_site, nb_free, u) -> np.ndarray:
    """:func:`.kernels._free_neighbour` for arrays: the free neighbour chosen by ``u`` (or -1)."""
    n_free = nb_free.sum(axis=0)
    pick = np.minimum((u * n_free).astype(np.int64), n_free - 1)
    rank = np.cumsum(nb_free, axis=0) - 1
    chosen = nb_free & (rank == pick[None, :])
    k = np.argmax(chosen, axis=0)
    return np.where(n_free > 0, nb_site[k, np.arange(nb_site.shape[1])], -1)


def decide_reference(n, site, kind, state, dead, antigen, hits, uid, x, occupancy, fields, drug_field, offsets,
                     shape3, site_um, dt, seed, step, p, volume_um3) -> dict:
    """The per-cell pass of one step in numpy (see the module docstring for what it covers).

    Arguments are those of :func:`.kernels.decide` (``p`` is the resolved parameter row,
    ``rows[0]``). Returns arrays over the ``n`` slots: ``x_new`` (n, 7), ``intent`` (n,
    :data:`.kernels.N_INTENT`), ``export`` and ``uptake`` (fields, n), and two masks over the
    slots: ``exact``, the cells whose every intent the reference computes as the engine does
    (live tumour cells and corpses), and ``exact_fate``, those whose death, state, secretion
    and uptake it computes (``exact`` and the macrophages, whose hits and moves it does not).
    """
    pt, pm, tr, ts, cy = p.tumor, p.macrophage, p.transport, p.tissue, p.cytokines
    host_ifngr = 1.0 - p.host.host_ifngr_loss
    il12_free_factor = 1.0 - p.host.il12_blockade
    F = fields.shape[0]
    site, kind, state, dead = site[:n], kind[:n], state[:n], dead[:n]
    uid, x = uid[:n], x[:n]
    nn = offsets.shape[0]
    x_new = x.copy()
    intent = np.zeros((n, K.N_INTENT), dtype=np.int64)
    export = np.zeros((F, n))
    uptake = np.zeros((F, n))
    present = kind != C.FREE
    intent[present, K.I_STATE] = state[present]
    s = np.where(present, site, 0)
    local = fields[:, s]  # (F, n): what every cell sees at its site
    conc = np.zeros((N_DRUGS, n))
    for d in range(N_DRUGS):
        if drug_field[d] >= 0:
            conc[d] = local[drug_field[d]]
    ex = np.zeros((N_CHANNELS, n))
    plain(pharmacology.exposures)(conc, p.drugs, ex)
    # the Moore neighbourhood: occupant and its kind, state and death
    nb_site = neighbours(s, offsets, shape3)
    nb_slot = np.where(nb_site >= 0, occupancy[np.maximum(nb_site, 0)], -1)
    has = nb_slot >= 0
    j = np.maximum(nb_slot, 0)
    nb_kind = np.where(has, kind[j], C.FREE)
    nb_alive = has & (dead[j] == C.ALIVE)
    nb_free = (nb_site >= 0) & (nb_slot == -1)
    mac = nb_kind == C.MACROPHAGE
    m1 = (mac & nb_alive & (state[j] == C.M1)).sum(axis=0)
    m2 = (mac & nb_alive & (state[j] != C.M1)).sum(axis=0)

    # corpses: cleared passively and by the macrophages next to them
    corpse = present & (dead != C.ALIVE)
    i = np.flatnonzero(corpse)
    h = ts.corpse_clearance_rate + pm.phagocytosis_rate * mac[:, i].sum(axis=0) / nn
    intent[i[happens(h, dt, seed, step, uid[i], rng.CLEAR)], K.I_DEATH] = K.REMOVE

    live = present & (dead == C.ALIVE)
    uptake[K.OXYGEN, live] = tr.cell_oxygen_uptake_rate
    uptake[K.GLUCOSE, live] = tr.cell_glucose_uptake_rate

    # live tumour cells: the tumour cell program
    i = np.flatnonzero(live & (kind == C.TUMOR))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exi = ex[:, i]
        fe_ext, ros = plain(macrophage.iron_and_ros)(m1[i] / (nn + 1.0), m2[i] / (nn + 1.0), exi, pm)
        env = tumor.TumorEnv(local[K.IFNG, i], local[K.CYSTINE, i], fe_ext, ros, local[K.OXYGEN, i],
                             local[K.GLUCOSE, i], 0.0)
        xi = x[i].T
        sig = plain(tumor.signals)(xi[0], exi, pt)
        dx = np.empty_like(xi)
        fate = plain(tumor.intracellular_rates)(xi, 0, env, exi, pt, dx, 0)
        mid = np.maximum(xi + 0.5 * dt * dx, 0.0)
        plain(tumor.intracellular_rates)(mid, 0, env, exi, pt, dx, 0)
        x_new[i] = np.maximum(xi + dt * dx, 0.0).T
        h_death = fate.ifng_apoptosis + fate.basal_death + fate.ferroptosis + fate.necrosis
    uid_i = uid[i]
    dies = happens(h_death, dt, seed, step, uid_i, rng.DEATH)
    mode = _pick(uniform(seed, step, uid_i, rng.DEATH_MODE),
                 [fate.ifng_apoptosis, np.broadcast_to(fate.basal_death, i.shape), fate.ferroptosis, fate.necrosis,
                  np.zeros(i.shape), np.zeros(i.shape)])
    death = np.where(mode <= 1, C.APOPTOTIC, np.where(mode == 2, C.FERROPTOTIC, C.NECROTIC))
    intent[i[dies], K.I_DEATH] = death[dies]
    intent[i[dies & (mode == 0)], K.I_CAUSE] = K.CAUSE_IFNG
    divides = ~dies & happens(fate.proliferation, dt, seed, step, uid_i, rng.DIVIDE)
    target = _free_pick(nb_site[:, i], nb_free[:, i], uniform(seed, step, uid_i, rng.SITE))
    ok = divides & (target >= 0)
    intent[i[ok], K.I_ACTION] = K.DIVIDE
    intent[i[ok], K.I_SITE] = target[ok]
    if tr.hit_recovery_time > 0.0 and hits[i].max(initial=0) > 0:
        hi = hits[:n][i].astype(np.int64)
        repaired = np.zeros(i.size, dtype=np.int64)
        for h_ in range(int(hi.max())):
            repaired += (h_ < hi) & (uniform(seed, step, uid_i, rng.REPAIR * 16 + h_)
                                     < 1.0 - np.exp(-dt / tr.hit_recovery_time))
        intent[i, K.I_REPAIRED] = repaired
    to_rate = plain(rec.secretion_to_concentration_rate)
    cxcl9_src, il10_src, tgfb_src = plain(tumor.secretion)(1.0, sig.cxcl9, pt)
    export[K.CXCL9, i] = to_rate(cxcl9_src, volume_um3)
    export[K.IL10, i] = to_rate(il10_src, volume_um3)
    export[K.TGFB, i] = to_rate(tgfb_src, volume_um3)
    uptake[K.IFNG, i] = cy.ifng_uptake_rate * (1.0 - pt.tumor_ifngr_loss)
    uptake[K.CYSTINE, i] = tr.tumor_cystine_uptake_rate * fate.cystine_uptake
    trp_use = tr.ido1_tryptophan_uptake_rate * sig.ido1
    uptake[K.TRYPTOPHAN, i] = trp_use
    export[K.KYNURENINE, i] = trp_use * local[K.TRYPTOPHAN, i]

    # immune cells take up the cytokines they bear receptors for
    immune = live & (kind != C.TUMOR)
    uptake[K.IFNG, immune] = cy.ifng_uptake_rate * host_ifngr
    # macrophages: polarisation, death, secretion
    i = np.flatnonzero(live & (kind == C.MACROPHAGE))
    il12_free = local[K.IL12, i] * il12_free_factor
    n_cells = has[:, i].sum(axis=0)
    n_ferroptotic = (has[:, i] & (dead[j[:, i]] == C.FERROPTOTIC)).sum(axis=0)
    ox_lipid = np.where(n_cells > 0, n_ferroptotic / np.maximum(n_cells, 1), 0.0)
    fm = plain(macrophage.program)(local[K.IFNG, i], il12_free, local[K.IL10, i], local[K.TGFB, i], ox_lipid,
                                   host_ifngr, ex[:, i], pm)
    is_m1 = state[i] == C.M1
    m1_cells = is_m1.astype(float)
    il12_src, il10_src, tgfb_src, cxcl9_src = plain(macrophage.secretion)(m1_cells, 1.0 - m1_cells, local[K.IFNG, i],
                                                                          host_ifngr, pm)
    export[K.IL12, i] = to_rate(il12_src * p.host.host_immune_competence, volume_um3)
    export[K.IL10, i] = to_rate(il10_src, volume_um3)
    export[K.TGFB, i] = to_rate(tgfb_src, volume_um3)
    export[K.CXCL9, i] = to_rate(cxcl9_src, volume_um3)
    mdeath = fm.death + np.where(is_m1, 0.0, fm.m2_csf1r_depletion)
    gone = happens(mdeath, dt, seed, step, uid[i], rng.DEATH)
    intent[i[gone], K.I_DEATH] = K.REMOVE
    switch = np.where(is_m1, fm.to_m2, fm.to_m1)
    flips = ~gone & happens(switch, dt, seed, step, uid[i], rng.TRANSITION)
    intent[i[flips], K.I_STATE] = np.where(is_m1[flips], C.M2, C.M1)
    # macrophages' contact hits and migration: the draws only
    happens(tr.macrophage_speed / site_um, dt, seed, step, uid[i], rng.MOVE)
    # T, NK and Treg cells: uptake and two draws (death, migration), not their programs
    i = np.flatnonzero(immune & (kind != C.MACROPHAGE))
    uptake[K.IL12, i] = cy.il12_uptake_rate
    lymph = i[kind[i] != C.NK]
    uptake[K.IL2, lymph] = cy.il2_uptake_rate
    happens(p.host_t.effector_death_rate, dt, seed, step, uid[i], rng.DEATH)
    happens(tr.t_cell_speed / site_um, dt, seed, step, uid[i], rng.MOVE)
    exact = (present & (dead != C.ALIVE)) | (live & (kind == C.TUMOR))
    exact_fate = exact | (live & (kind == C.MACROPHAGE))
    return {"x_new": x_new, "intent": intent, "export": export, "uptake": uptake, "exact": exact,
            "exact_fate": exact_fate}


# --------------------------------------------------------------------------
# fields
# --------------------------------------------------------------------------


def field_substeps(duration: float, dt_max: float, specs) -> list[int]:
    """Sub-steps each field takes over ``duration`` (as :meth:`.fields.FieldSolver.advance`)."""
    return [max(1, math.ceil(duration / min(dt_max, s.dt_max or dt_max) - 1e-9)) for s in specs]


def fields_reference(values, lattice, specs, plasma, vessels, duration: float, dt_max: float, voxels, export,
                     uptake, plasma_until=None) -> np.ndarray:
    """The fields after ``duration`` minutes, each field on its own sub-steps, in numpy.

    ``values`` (fields, *shape) is not modified; ``plasma`` the vessels' plasma value per
    field and ``plasma_until`` its value at the end of ``duration`` (what the engine passed to
    :meth:`.fields.FieldSolver.set_plasma`; each sub-step then takes the value interpolated to its
    end; None: held at ``plasma``); ``voxels``, ``export``, ``uptake`` the cells' sparse sources (one
    entry per cell). Returns new values.
    """
    F = len(specs)
    nvox = int(np.prod(lattice.shape))
    out = np.array(values, dtype=float).reshape((F,) + tuple(lattice.shape))
    steps = field_substeps(duration, dt_max, specs)
    end = plasma if plasma_until is None else plasma_until
    for f, spec in enumerate(specs):
        E = np.bincount(voxels, weights=export[f], minlength=nvox).reshape((1,) + tuple(lattice.shape))
        U = np.bincount(voxels, weights=uptake[f], minlength=nvox).reshape((1,) + tuple(lattice.shape))
        c = out[f:f + 1]
        n = steps[f]
        h = duration / n
        for i in range(n):
            cp = float(plasma[f]) + (float(end[f]) - float(plasma[f])) * ((i + 1) / n)
            c = reference_step(c, lattice, [dataclasses.replace(spec, vessel_plasma_value=cp)], h, "mixed",
                               export=E, uptake=U, vessels=vessels)
        out[f] = c[0]
    return out


# --------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------

def apply_reference(order, site, kind, state, dead, antigen, hits, heading, killer, delivered, attacking, x, x_new,
                    intent, occupancy, offsets, shape3, hits_to_kill, rest_x, counters) -> list[tuple[int, int, int]]:
    """:func:`.kernels.apply` in numpy and Python (arrays modified in place); returns the births
    as ``(site, parent slot, daughter state)``."""
    n = order.size
    present = kind[:n] != C.FREE
    attacking[:n] = 0
    x[:n][present] = x_new[:n][present]
    it = intent[:n]
    todo = present & ((it[:, K.I_DEATH] != 0) | (it[:, K.I_ACTION] != K.NONE) | (it[:, K.I_STATE] != state[:n])
                      | (it[:, K.I_REPAIRED] != 0) | (it[:, K.I_KIND] > 0))
    births = []
    for i in order[todo[order]]:
        i = int(i)
        if kind[i] == C.FREE:
            continue
        death = it[i, K.I_DEATH]
        if death == K.REMOVE:
            if dead[i] == C.ALIVE and kind[i] != C.TUMOR and it[i, K.I_CAUSE] == K.CAUSE_FERROPTOSIS:
                counters[9] += 1.0
            occupancy[site[i]] = -1
            kind[i] = C.FREE
            continue
        if dead[i] != C.ALIVE:
            continue
        if death != C.ALIVE:
            dead[i] = death
            if death == C.APOPTOTIC:
                if it[i, K.I_CAUSE] == K.CAUSE_IFNG:
                    counters[6] += 1.0
            elif death == C.FERROPTOTIC:
                counters[7] += 1.0
            else:
                counters[8] += 1.0
            continue
        state[i] = it[i, K.I_STATE]
        if it[i, K.I_KIND] > 0:  # a change of type (rules): the new type's resting state, no hits, no killer
            kind[i] = it[i, K.I_KIND] - 1
            antigen[i] = it[i, K.I_ANTIGEN]
            hits[i] = 0
            killer[i] = C.BY_NONE
            x[i] = rest_x[kind[i]]
            continue
        hits[i] = max(int(hits[i]) - int(it[i, K.I_REPAIRED]), 0)
        action = it[i, K.I_ACTION]
        t = int(it[i, K.I_SITE])
        if action == K.HIT:
            if kind[t] != C.FREE and dead[t] == C.ALIVE:
                hits[t] += 1
                delivered[i] += 1
                attacking[i] = 1
                if hits[t] >= hits_to_kill:
                    if kind[t] == C.TUMOR:
                        dead[t] = C.APOPTOTIC
                        killer[t] = C.KILLER_OF_KIND[kind[i]]
                        counters[K._KILL_COUNTER[killer[t]]] += 1.0
                    else:  # a killed immune cell leaves no corpse
                        occupancy[site[t]] = -1
                        kind[t] = C.FREE
        elif action == K.MOVE:
            if occupancy[t] == -1:
                occupancy[site[i]] = -1
                occupancy[t] = i
                nb = neighbours(np.array([site[i]]), offsets, shape3)[:, 0]
                heading[i] = int(np.flatnonzero(nb == t)[-1])
                site[i] = t
        elif action == K.DIVIDE:
            if occupancy[t] == -1:
                occupancy[t] = -2
                births.append((t, i, int(it[i, K.I_DAUGHTER]) if kind[i] != C.TUMOR else 0))
    return births
