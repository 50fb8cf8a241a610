"""The spatial engine's compiled loop over cells: each cell calls its cell program.

One step has two phases.

* :func:`decide` (parallel over cells, ``prange``) reads the lattice, the fields
  and every cell's current state and writes only the cell's own rows of
  output buffers: its next intracellular state (``x_new``), its intents
  (a new differentiation state, death and its mode, one spatial action:
  divide into, move to, or hit a neighbour), what it secretes into and takes up
  from each field over the next step, and diagnostics for the outputs. Every
  random draw is keyed on (seed, step, cell uid, event) (:mod:`.rng`), so the
  result does not depend on threads.
* :func:`apply` (serial, cells in a per-step permutation drawn from the seed)
  applies the intents to the shared lattice: deaths, hits on targets,
  divisions and moves into sites still free.

The biology is the cell programs' (:mod:`tmesim.biology.programs`); this
module only gathers what a cell sees (fields at its site, its Moore
neighbours) and turns hazards into events (probability ``1 - exp(-h dt)``).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._jit import kernel, parallel_kernel
from ..biology import recruitment as rec
from ..biology.common import hill
from ..biology.programs import macrophage, nk, pharmacology, t_cell, tumor
from ..biology.programs.pharmacology import EX, N_CHANNELS, N_DRUGS
from . import rng
from .cells import (
    ALIVE, ANERGIC, APOPTOTIC, BY_CAR_CD4, BY_CAR_CD8, BY_CD4, BY_CD8, BY_MACROPHAGE, BY_NK, CAR_CD4, CAR_CD8, CD4,
    CD8, EFFECTOR, FERROPTOTIC, FREE, M1, M2, MACROPHAGE, NECROTIC, NK, PROGENITOR, SENESCENT, STEM_MEMORY, TERMINAL,
    TREG, TUMOR,
)

# Field indices (the first fields of every spatial run; drug fields follow, see engine.FIELDS).
OXYGEN, GLUCOSE, CYSTINE, TRYPTOPHAN, KYNURENINE, IFNG, IL12, IL10, TGFB, IL2, CXCL9 = range(11)
N_BASE_FIELDS = 11

# Intent columns (int64).
I_STATE, I_DEATH, I_ACTION, I_SITE, I_DAUGHTER, I_REPAIRED, I_CAUSE = range(7)
N_INTENT = 7
# Causes of death worth counting apart (I_CAUSE).
CAUSE_IFNG, CAUSE_FERROPTOSIS = 1, 2
# Actions.
NONE, DIVIDE, MOVE, HIT = 0, 1, 2, 3
# Death intents (besides the corpse modes ALIVE..NECROTIC of cells.py): an immune cell leaves no corpse.
REMOVE = 9
# Diagnostic columns (float64), averaged into the outputs.
(D_STIM, D_PD1_INH, D_PDL1, D_MHC1, D_IDO1, D_GPX4, D_UPTAKE, D_HFER, D_IRON, D_ROS, D_BLOCKADE) = range(11)
N_DIAG = 11


@kernel
def _coords(site, ny, nx):
    z = site // (ny * nx)
    rest = site - z * ny * nx
    y = rest // nx
    return z, y, rest - y * nx


@kernel
def neighbour_site(site, k, offsets, nz, ny, nx):
    """Site of the ``k``-th Moore neighbour of ``site`` (``offsets[k]`` = dz, dy, dx), or -1 outside."""
    z, y, x = _coords(site, ny, nx)
    z2, y2, x2 = z + offsets[k, 0], y + offsets[k, 1], x + offsets[k, 2]
    if z2 < 0 or z2 >= nz or y2 < 0 or y2 >= ny or x2 < 0 or x2 >= nx:
        return -1
    return (z2 * ny + y2) * nx + x2


@kernel
def _free_neighbour(site, occupancy, offsets, nz, ny, nx, u):
    """A free Moore neighbour of ``site`` chosen with the uniform draw ``u``, or -1 if none is free."""
    nn = offsets.shape[0]
    n_free = 0
    for k in range(nn):
        s = neighbour_site(site, k, offsets, nz, ny, nx)
        if s >= 0 and occupancy[s] == -1:
            n_free += 1
    if n_free == 0:
        return -1
    pick = min(int(u * n_free), n_free - 1)
    for k in range(nn):
        s = neighbour_site(site, k, offsets, nz, ny, nx)
        if s >= 0 and occupancy[s] == -1:
            if pick == 0:
                return s
            pick -= 1
    return -1


@kernel
def _exposures(site, fields, drug_field, pk, conc, out):
    """Drug exposures (channels) at ``site`` from the drug fields present (``drug_field[d]`` = field or -1)."""
    for d in range(N_DRUGS):
        f = drug_field[d]
        conc[d] = fields[f, site] if f >= 0 else 0.0
    pharmacology.exposures(conc, pk, out)


@kernel
def _t_kind(kind, p):
    return p.car_t if kind == CAR_CD8 or kind == CAR_CD4 else p.host_t


@kernel
def _state_function(state, pt):
    """Cytotoxic function of a T cell in ``state`` relative to an effector."""
    if state == EFFECTOR:
        return 1.0
    if state == PROGENITOR:
        return pt.progenitor_function
    if state == TERMINAL:
        return pt.terminal_function
    return 0.0


@kernel
def _pick(u, a, b, c, d, e, f):
    """Index (0..5) of the competing hazard chosen by ``u`` in proportion to ``a..f`` (all >= 0; sum > 0)."""
    total = a + b + c + d + e + f
    v = u * total
    if v < a:
        return 0
    v -= a
    if v < b:
        return 1
    v -= b
    if v < c:
        return 2
    v -= c
    if v < d:
        return 3
    v -= d
    if v < e:
        return 4
    return 5


@kernel
def _migrate(i, site, speed, persistence, bias, heading, fields, occupancy, offsets, nz, ny, nx, site_um, dt, seed, step,
             uid, intent):
    """Move intent of a migrating cell: with hazard speed/site_um, to a free neighbour, keeping its heading
    (persistent random walk), else up the CXCL9/10 gradient with probability ``bias``, else at random."""
    if not rng.happens(speed / site_um, dt, seed, step, uid, rng.MOVE):
        return
    nn = offsets.shape[0]
    u = rng.uniform(seed, step, uid, rng.HEADING)
    keep = np.exp(-dt / persistence) if persistence > 0.0 else 0.0
    if heading >= 0 and u < keep:
        s = neighbour_site(site, heading, offsets, nz, ny, nx)
        if s >= 0 and occupancy[s] == -1:
            intent[i, I_ACTION] = MOVE
            intent[i, I_SITE] = s
            return
    if rng.uniform(seed, step, uid, rng.SITE) < bias:
        best, best_c = -1, fields[CXCL9, site]
        for k in range(nn):
            s = neighbour_site(site, k, offsets, nz, ny, nx)
            if s >= 0 and occupancy[s] == -1 and fields[CXCL9, s] > best_c:
                best, best_c = s, fields[CXCL9, s]
        if best >= 0:
            intent[i, I_ACTION] = MOVE
            intent[i, I_SITE] = best
            return
    s = _free_neighbour(site, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, uid, rng.TARGET))
    if s >= 0:
        intent[i, I_ACTION] = MOVE
        intent[i, I_SITE] = s


@parallel_kernel
def decide(n, site, kind, state, dead, antigen, hits, heading, uid, x, occupancy, fields, drug_field, offsets, nz, ny, nx,
           site_um, dt, seed, step, rows, volume_um3, x_new, intent, diag, export, uptake, conc_buf, ex_buf, dx_buf):
    """Phase 1 of a step: every cell decides from what it sees (see the module docstring).

    ``rows`` holds the run's resolved parameter row (a record array of one row: numba's parallel loops take
    arrays, not records). ``export``/``uptake`` (fields x slots) receive each cell's release (field
    unit/min) and first-order uptake (1/min) for the next field step; ``volume_um3`` is a site's
    interstitial volume.
    """
    for i in prange(n):
        _decide_cell(i, site, kind, state, dead, antigen, hits, heading, uid, x, occupancy, fields, drug_field, offsets,
                     nz, ny, nx, site_um, dt, seed, step, rows, volume_um3, x_new, intent, diag, export, uptake,
                     conc_buf, ex_buf, dx_buf)


@kernel
def _decide_cell(i, site, kind, state, dead, antigen, hits, heading, uid, x, occupancy, fields, drug_field, offsets, nz,
                 ny, nx, site_um, dt, seed, step, rows, volume_um3, x_new, intent, diag, export, uptake, conc_buf, ex_buf,
                 dx_buf):
    """What cell ``i`` decides this step (see :func:`decide`)."""
    p = rows[0]
    pt, ph, pm, pn, tr, ts, cy = p.tumor, p.host_t, p.macrophage, p.nk, p.transport, p.tissue, p.cytokines
    host_ifngr = 1.0 - p.host.host_ifngr_loss
    il12_free_factor = 1.0 - p.host.il12_blockade
    nn = offsets.shape[0]
    hits_to_kill = tr.contact_hits_to_kill
    for f in range(export.shape[0]):
        export[f, i] = 0.0
        uptake[f, i] = 0.0
    for j in range(N_INTENT):
        intent[i, j] = 0
    for j in range(N_DIAG):
        diag[i, j] = np.nan
    for j in range(x.shape[1]):
        x_new[i, j] = x[i, j]
    k = kind[i]
    if k == FREE:
        return
    s = site[i]
    intent[i, I_STATE] = state[i]
    id_ = uid[i]
    ex = ex_buf[i]
    _exposures(s, fields, drug_field, p.drugs, conc_buf[i], ex)
    if dead[i] != ALIVE:
        # a corpse is cleared passively and by the macrophages next to it
        macs = 0
        for kk in range(nn):
            t = neighbour_site(s, kk, offsets, nz, ny, nx)
            if t >= 0 and occupancy[t] >= 0 and kind[occupancy[t]] == MACROPHAGE:
                macs += 1
        h = ts.corpse_clearance_rate + pm.phagocytosis_rate * macs / nn
        if rng.happens(h, dt, seed, step, id_, rng.CLEAR):
            intent[i, I_DEATH] = REMOVE
        return
    oxygen, glucose = fields[OXYGEN, s], fields[GLUCOSE, s]
    uptake[OXYGEN, i] = tr.cell_oxygen_uptake_rate
    uptake[GLUCOSE, i] = tr.cell_glucose_uptake_rate
    ifng = fields[IFNG, s]
    il12_free = fields[IL12, s] * il12_free_factor
    if k == TUMOR:
        # the macrophages next to it set the iron and ROS it sees
        m1, m2 = _macrophages(s, kind, dead, state, occupancy, offsets, nz, ny, nx)
        fe_ext, ros = macrophage.iron_and_ros(m1 / (nn + 1.0), m2 / (nn + 1.0), ex, pm)
        env = tumor.TumorEnv(ifng, fields[CYSTINE, s], fe_ext, ros, oxygen, glucose, 0.0)
        sig = tumor.signals(x[i, 0], ex, pt)
        dx = dx_buf[i]
        fate = tumor.intracellular_rates(x[i], 0, env, ex, pt, dx, 0)
        # explicit midpoint step of the intracellular state
        for j in range(x.shape[1]):
            x_new[i, j] = max(x[i, j] + 0.5 * dt * dx[j], 0.0)
        tumor.intracellular_rates(x_new[i], 0, env, ex, pt, dx, 0)
        for j in range(x.shape[1]):
            x_new[i, j] = max(x[i, j] + dt * dx[j], 0.0)
        h_death = fate.ifng_apoptosis + fate.basal_death + fate.ferroptosis + fate.necrosis
        if rng.happens(h_death, dt, seed, step, id_, rng.DEATH):
            mode = _pick(rng.uniform(seed, step, id_, rng.DEATH_MODE), fate.ifng_apoptosis, fate.basal_death,
                         fate.ferroptosis, fate.necrosis, 0.0, 0.0)
            intent[i, I_DEATH] = APOPTOTIC if mode <= 1 else (FERROPTOTIC if mode == 2 else NECROTIC)
            intent[i, I_CAUSE] = CAUSE_IFNG if mode == 0 else 0
        elif rng.happens(fate.proliferation, dt, seed, step, id_, rng.DIVIDE):
            t = _free_neighbour(s, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, id_, rng.SITE))
            if t >= 0:
                intent[i, I_ACTION] = DIVIDE
                intent[i, I_SITE] = t
        # sub-lethal hits are repaired one by one
        if hits[i] > 0 and tr.hit_recovery_time > 0.0:
            repaired = 0
            for h_ in range(hits[i]):
                if rng.uniform(seed, step, id_, rng.REPAIR * 16 + h_) < 1.0 - np.exp(-dt / tr.hit_recovery_time):
                    repaired += 1
            intent[i, I_REPAIRED] = repaired
        cxcl9_src, il10_src, tgfb_src = tumor.secretion(1.0, sig.cxcl9, pt)
        export[CXCL9, i] = rec.secretion_to_concentration_rate(cxcl9_src, volume_um3)
        export[IL10, i] = rec.secretion_to_concentration_rate(il10_src, volume_um3)
        export[TGFB, i] = rec.secretion_to_concentration_rate(tgfb_src, volume_um3)
        uptake[IFNG, i] = cy.ifng_uptake_rate * (1.0 - pt.tumor_ifngr_loss)
        uptake[CYSTINE, i] = tr.tumor_cystine_uptake_rate * fate.cystine_uptake
        trp_use = tr.ido1_tryptophan_uptake_rate * sig.ido1
        uptake[TRYPTOPHAN, i] = trp_use
        export[KYNURENINE, i] = trp_use * fields[TRYPTOPHAN, s]
        diag[i, D_PDL1], diag[i, D_MHC1], diag[i, D_IDO1] = sig.pdl1, sig.mhc1, sig.ido1
        diag[i, D_GPX4], diag[i, D_UPTAKE], diag[i, D_HFER] = fate.gpx4_activity, fate.cystine_uptake, fate.ferroptosis
        diag[i, D_IRON], diag[i, D_ROS], diag[i, D_BLOCKADE] = fe_ext, ros, ex[EX.pd1_blockade]
        return
    # immune cells take up the cytokines they bear receptors for
    uptake[IFNG, i] = cy.ifng_uptake_rate * host_ifngr
    if k == MACROPHAGE:
        fm = macrophage.program(ifng, il12_free, fields[IL10, s], fields[TGFB, s], 0.0, host_ifngr, ex, pm)
        m1_cells = 1.0 if state[i] == M1 else 0.0
        il12_src, il10_src, tgfb_src, cxcl9_src = macrophage.secretion(m1_cells, 1.0 - m1_cells, ifng, host_ifngr, pm)
        export[IL12, i] = rec.secretion_to_concentration_rate(il12_src * p.host.host_immune_competence, volume_um3)
        export[IL10, i] = rec.secretion_to_concentration_rate(il10_src, volume_um3)
        export[TGFB, i] = rec.secretion_to_concentration_rate(tgfb_src, volume_um3)
        export[CXCL9, i] = rec.secretion_to_concentration_rate(cxcl9_src, volume_um3)
        death = fm.death + (fm.m2_csf1r_depletion if state[i] == M2 else 0.0)
        if rng.happens(death, dt, seed, step, id_, rng.DEATH):
            intent[i, I_DEATH] = REMOVE
            return
        switch = fm.to_m2 if state[i] == M1 else fm.to_m1
        if rng.happens(switch, dt, seed, step, id_, rng.TRANSITION):
            intent[i, I_STATE] = M2 if state[i] == M1 else M1
        if state[i] == M1:
            _contact_hit(i, s, macrophage.killing(1.0, fields[IL10, s], pm), 1.0, False, kind, dead, antigen,
                         occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        if intent[i, I_ACTION] == NONE:
            _migrate(i, s, tr.macrophage_speed, tr.migration_persistence_time, tr.chemotaxis_bias, heading[i],
                     fields, occupancy, offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent)
        return
    uptake[IL12, i] = cy.il12_uptake_rate
    if k == NK:
        targets, mhc1 = _targets(s, False, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt)
        fn = nk.program(il12_free, ifng, host_ifngr, mhc1, pn)
        export[IFNG, i] = rec.secretion_to_concentration_rate(nk.ifng_secretion(1.0, fn.activation, targets, pn),
                                                              volume_um3)
        if rng.happens(fn.death, dt, seed, step, id_, rng.DEATH):
            intent[i, I_DEATH] = REMOVE
            return
        # IL-10 and TGF-beta suppress NK cytotoxicity as they do T cells'
        suppress = t_cell.sense(t_cell.TCellEnv(oxygen, glucose, fields[TRYPTOPHAN, s], fields[KYNURENINE, s],
                                                fields[IL10, s], fields[TGFB, s], il12_free, fields[IL2, s]),
                                ph).suppression
        if targets > 0:
            _contact_hit(i, s, fn.kill_rate * (1.0 - suppress), 1.0, False, kind, dead, antigen, occupancy, offsets,
                         nz, ny, nx, dt, seed, step, id_, intent)
        elif rng.happens(fn.division, dt, seed, step, id_, rng.DIVIDE):
            t = _free_neighbour(s, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, id_, rng.SITE))
            if t >= 0:
                intent[i, I_ACTION] = DIVIDE
                intent[i, I_SITE] = t
        if intent[i, I_ACTION] == NONE and targets == 0:
            _migrate(i, s, tr.nk_speed, tr.migration_persistence_time, tr.chemotaxis_bias, heading[i], fields,
                     occupancy, offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent)
        return
    # T cells (host, CAR, Treg)
    uptake[IL2, i] = cy.il2_uptake_rate
    env = t_cell.TCellEnv(oxygen, glucose, fields[TRYPTOPHAN, s], fields[KYNURENINE, s], fields[IL10, s],
                          fields[TGFB, s], il12_free, fields[IL2, s])
    if k == TREG:
        sg = t_cell.sense(env, ph)
        division, death, _, il10_src, tgfb_src = t_cell.treg_fate(sg.help, ex, p.treg)
        export[IL10, i] = rec.secretion_to_concentration_rate(il10_src, volume_um3)
        export[TGFB, i] = rec.secretion_to_concentration_rate(tgfb_src, volume_um3)
        if rng.happens(death, dt, seed, step, id_, rng.DEATH):
            intent[i, I_DEATH] = REMOVE
            return
        if rng.happens(division, dt, seed, step, id_, rng.DIVIDE):
            t = _free_neighbour(s, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, id_, rng.SITE))
            if t >= 0:
                intent[i, I_ACTION] = DIVIDE
                intent[i, I_SITE] = t
        if intent[i, I_ACTION] == NONE:
            _migrate(i, s, tr.t_cell_speed, tr.migration_persistence_time, tr.chemotaxis_bias, heading[i], fields,
                     occupancy, offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent)
        return
    pk_ = _t_kind(k, p)
    car = k == CAR_CD8 or k == CAR_CD4
    cd4 = k == CD4 or k == CAR_CD4
    sg = t_cell.sense(env, pk_)
    targets, mhc1 = _targets(s, car, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt)
    pdl1 = _target_pdl1(s, car, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt)
    stim = t_cell.stimulation(targets, mhc1, 0.0, pk_)
    # lipid available for CD36 uptake: the TME's level, raised by neighbouring corpses
    corpses = 0
    for kk in range(nn):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t >= 0 and occupancy[t] >= 0 and dead[occupancy[t]] != ALIVE:
            corpses += 1
    lipid_level = ts.tme_lipid_level * (1.0 + ts.dead_cell_lipid_release * corpses / (nn + 1.0))
    m1, m2 = _macrophages(s, kind, dead, state, occupancy, offsets, nz, ny, nx)
    ros = macrophage.iron_and_ros(m1 / (nn + 1.0), m2 / (nn + 1.0), ex, pm)[1]
    f = t_cell.program(x[i], 0, stim, sg, pdl1, mhc1, ifng, ros, ex, pk_)
    dx = dx_buf[i]
    block, gpx4_inh = ex[EX.heme_import_block], ex[EX.gpx4_inhibition]
    t_cell.axis_rates(x[i], 0, stim, f.drivers, 0.0, block, gpx4_inh, lipid_level, ros, 0.0, pk_, dx, 0)
    for j in range(x.shape[1]):
        x_new[i, j] = max(x[i, j] + 0.5 * dt * dx[j], 0.0)
    t_cell.axis_rates(x_new[i], 0, stim, f.drivers, 0.0, block, gpx4_inh, lipid_level, ros, 0.0, pk_, dx, 0)
    for j in range(x.shape[1]):
        x_new[i, j] = max(x[i, j] + dt * dx[j], 0.0)
    st = state[i]
    function = _state_function(st, pk_)
    lineage = pk_.cd4_kill_fraction if cd4 else 1.0
    ifng_fold = pk_.cd4_ifng_fold if cd4 else 1.0
    export[IFNG, i] = rec.secretion_to_concentration_rate(f.ifng_secretion * function * ifng_fold, volume_um3)
    il2_share = 1.0 if cd4 else pk_.cd8_il2_fraction
    if st == EFFECTOR:
        export[IL2, i] = rec.secretion_to_concentration_rate(pk_.il2_secretion * f.activation * il2_share,
                                                             volume_um3)
    diag[i, D_STIM], diag[i, D_PD1_INH] = stim, f.pd1_inhibition
    # death
    base = (pk_.effector_death_rate if st == EFFECTOR or st == ANERGIC else
            (pk_.progenitor_death_rate if st == PROGENITOR else
             (pk_.terminal_death_rate if st == TERMINAL else
              (pk_.senescent_death_rate if st == SENESCENT else pk_.memory_death_rate))))
    h_death = base + f.ifng_toxicity + f.ferroptosis
    if rng.happens(h_death, dt, seed, step, id_, rng.DEATH):
        intent[i, I_DEATH] = REMOVE
        if rng.uniform(seed, step, id_, rng.DEATH_MODE) * h_death < f.ferroptosis:
            intent[i, I_CAUSE] = CAUSE_FERROPTOSIS
        return
    # state transitions (competing hazards)
    a_, b_, c_ = 0.0, 0.0, 0.0
    if st == EFFECTOR:
        a_ = f.to_progenitor
        b_ = f.anergy if (k == CD8) else 0.0
        c_ = f.senescence if (k == CD8) else 0.0
        d_ = f.memory_formation if car else 0.0
        total = a_ + b_ + c_ + d_
        if total > 0.0 and rng.happens(total, dt, seed, step, id_, rng.TRANSITION):
            which = _pick(rng.uniform(seed, step, id_, rng.DAUGHTER + 32), a_, b_, c_, d_, 0.0, 0.0)
            intent[i, I_STATE] = (PROGENITOR, ANERGIC, SENESCENT, STEM_MEMORY)[which]
    elif st == PROGENITOR:
        total = f.to_terminal + f.reinvigoration
        if total > 0.0 and rng.happens(total, dt, seed, step, id_, rng.TRANSITION):
            which = _pick(rng.uniform(seed, step, id_, rng.DAUGHTER + 32), f.to_terminal, f.reinvigoration,
                          0.0, 0.0, 0.0, 0.0)
            intent[i, I_STATE] = TERMINAL if which == 0 else EFFECTOR
    elif st == ANERGIC:
        if rng.happens(f.anergy_exit, dt, seed, step, id_, rng.TRANSITION):
            intent[i, I_STATE] = EFFECTOR
    # contact killing by cells with cytotoxic function and targets next to them
    engaged = targets > 0.0
    if engaged and function > 0.0:
        rate = f.kill_rate * function * lineage * (1.0 - f.lipid_dysfunction)
        _contact_hit(i, s, rate, hits_to_kill, car, kind, dead, antigen, occupancy, offsets, nz, ny, nx, dt, seed,
                     step, id_, intent)
    # division
    if intent[i, I_ACTION] == NONE:
        division = (f.proliferation if st == EFFECTOR else
                    (f.progenitor_proliferation if st == PROGENITOR else
                     (f.memory_proliferation if st == STEM_MEMORY else 0.0)))
        if division > 0.0 and rng.happens(division, dt, seed, step, id_, rng.DIVIDE):
            t = _free_neighbour(s, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, id_, rng.SITE))
            if t >= 0:
                intent[i, I_ACTION] = DIVIDE
                intent[i, I_SITE] = t
                daughter = st
                if st == STEM_MEMORY:
                    q = f.daughter_stem_share
                    if rng.uniform(seed, step, id_, rng.DAUGHTER) >= q:
                        intent[i, I_STATE] = EFFECTOR
                    daughter = STEM_MEMORY if rng.uniform(seed, step, id_, rng.DAUGHTER + 1) < q else EFFECTOR
                intent[i, I_DAUGHTER] = daughter
    # migration: T cells arrest on antigen-bearing targets
    if intent[i, I_ACTION] == NONE and not engaged:
        _migrate(i, s, tr.t_cell_speed, tr.migration_persistence_time, tr.chemotaxis_bias, heading[i], fields,
                 occupancy, offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent)


@kernel
def _macrophages(s, kind, dead, state, occupancy, offsets, nz, ny, nx):
    """Live M1-like and M2-like macrophages next to ``s``."""
    m1 = 0
    m2 = 0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t >= 0 and occupancy[t] >= 0:
            j = occupancy[t]
            if kind[j] == MACROPHAGE and dead[j] == ALIVE:
                if state[j] == M1:
                    m1 += 1
                else:
                    m2 += 1
    return m1, m2


@kernel
def _targets(s, car, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt):
    """Live tumour cells next to ``s`` that a cell can recognise (CAR: antigen-positive ones) and their mean
    MHC-I (relative; 1 without targets)."""
    count = 0.0
    mhc = 0.0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t < 0:
            continue
        j = occupancy[t]
        if j >= 0 and kind[j] == TUMOR and dead[j] == ALIVE and (antigen[j] > 0 or not car):
            count += 1.0
            mhc += 1.0 + (pt.mhc1_induction_fold - 1.0) * x[j, 0]
    return count, (mhc / count if count > 0.0 else 1.0)


@kernel
def _target_pdl1(s, car, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt):
    """Mean PD-L1 (relative) of the recognisable live tumour cells next to ``s`` (1 without targets)."""
    count = 0.0
    pdl1 = 0.0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t < 0:
            continue
        j = occupancy[t]
        if j >= 0 and kind[j] == TUMOR and dead[j] == ALIVE and (antigen[j] > 0 or not car):
            count += 1.0
            pdl1 += 1.0 + (pt.pdl1_induction_fold - 1.0) * x[j, 0]
    return pdl1 / count if count > 0.0 else 1.0


@kernel
def _contact_hit(i, s, kill_rate, hits_to_kill, car, kind, dead, antigen, occupancy, offsets, nz, ny, nx, dt, seed,
                 step, uid, intent):
    """Hit intent: with hazard ``kill_rate x hits_to_kill`` (a kill takes ``hits_to_kill`` hits, so kills come
    at ``kill_rate`` when hits add up), one recognisable live tumour neighbour, chosen at random, is hit."""
    if not rng.happens(kill_rate * hits_to_kill, dt, seed, step, uid, rng.KILL):
        return
    count = 0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t >= 0 and occupancy[t] >= 0:
            j = occupancy[t]
            if kind[j] == TUMOR and dead[j] == ALIVE and (antigen[j] > 0 or not car):
                count += 1
    if count == 0:
        return
    pick = min(int(rng.uniform(seed, step, uid, rng.TARGET) * count), count - 1)
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t >= 0 and occupancy[t] >= 0:
            j = occupancy[t]
            if kind[j] == TUMOR and dead[j] == ALIVE and (antigen[j] > 0 or not car):
                if pick == 0:
                    intent[i, I_ACTION] = HIT
                    intent[i, I_SITE] = j
                    return
                pick -= 1


_KILLER = np.array([0, BY_CD8, BY_CD4, BY_CAR_CD8, BY_CAR_CD4, 0, BY_NK, BY_MACROPHAGE], dtype=np.int8)


@kernel
def apply(order, site, kind, state, dead, antigen, hits, heading, killer, uid, x, x_new, intent, occupancy, offsets,
          nz, ny, nx, hits_to_kill, counters, births_site, births_parent, births_state):
    """Phase 2 of a step: apply the cells' intents in ``order`` (see the module docstring).

    ``counters`` accumulates deaths by mode and kills by class (indices of :data:`engine.COUNTERS`).
    Divisions are recorded as births (site, parent slot, daughter state) for the engine to add; returns
    their number.
    """
    n = order.size
    # intracellular states advance together
    for i in range(n):
        if kind[i] != FREE:
            for j in range(x.shape[1]):
                x[i, j] = x_new[i, j]
    n_births = 0
    for o in range(n):
        i = order[o]
        if kind[i] == FREE:
            continue
        death = intent[i, I_DEATH]
        if death == REMOVE:
            if dead[i] == ALIVE and kind[i] != TUMOR and intent[i, I_CAUSE] == CAUSE_FERROPTOSIS:
                counters[9] += 1.0
            occupancy[site[i]] = -1
            kind[i] = FREE
            continue
        if dead[i] != ALIVE:
            continue
        if death != ALIVE:
            dead[i] = death
            if death == APOPTOTIC:
                if intent[i, I_CAUSE] == CAUSE_IFNG:
                    counters[6] += 1.0  # basal apoptosis makes a corpse but is not counted, as in the well-mixed model
            elif death == FERROPTOTIC:
                counters[7] += 1.0
            else:
                counters[8] += 1.0
            continue
        state[i] = intent[i, I_STATE]
        hits[i] = max(hits[i] - intent[i, I_REPAIRED], 0)
        action = intent[i, I_ACTION]
        if action == HIT:
            j = intent[i, I_SITE]
            if kind[j] == TUMOR and dead[j] == ALIVE:
                hits[j] += 1
                if hits[j] >= hits_to_kill:
                    dead[j] = APOPTOTIC
                    killer[j] = _KILLER[kind[i]]
                    counters[_KILLER[kind[i]] - 1] += 1.0
        elif action == MOVE:
            t = intent[i, I_SITE]
            if occupancy[t] == -1:
                occupancy[site[i]] = -1
                occupancy[t] = i
                # the heading is the neighbour index that leads from the old site to the new one
                for kk in range(offsets.shape[0]):
                    if neighbour_site(site[i], kk, offsets, nz, ny, nx) == t:
                        heading[i] = kk
                site[i] = t
        elif action == DIVIDE:
            t = intent[i, I_SITE]
            if occupancy[t] == -1:
                occupancy[t] = -2  # reserved for the daughter
                births_site[n_births] = t
                births_parent[n_births] = i
                births_state[n_births] = intent[i, I_DAUGHTER] if kind[i] != TUMOR else 0
                n_births += 1
    return n_births
