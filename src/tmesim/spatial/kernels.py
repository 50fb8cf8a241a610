"""The spatial engine's compiled loop over cells: each cell calls its cell program.

One step has up to three phases.

* :func:`sense` (parallel over cells; only when the scenario has hypothesis
  rules, :mod:`tmesim.rules`) samples the signals the rules of each cell's
  type read (fields and gradients at its site, contacts, intracellular
  states, pressure, death flags, time, hits) and evaluates the rules on the
  behaviours other cells read this step (:data:`.behaviors.EXPOSED_NAMES`:
  immunogenicity, phagocytosis, PD-L1 and MHC-I).
* :func:`decide` (parallel over cells, ``prange``) reads the lattice, the fields
  and every cell's current state and writes only the cell's own rows of
  output buffers. Each cell's programs fill its behaviour row
  (:data:`.behaviors.ROW_NAMES`) and its field exchange (secretion and
  uptake; net export; chemotactic weights); where the cell's type has rules,
  the programs' values of the behaviours they name are the *base* they move
  (:func:`tmesim.rules.evaluate.evaluate_cell`); then the cell's next
  intracellular state (``x_new``) and its intents (a new differentiation
  state or cell type, death and its mode, one spatial action: divide into,
  move to, or hit a neighbour) are drawn from the row, and diagnostics
  written for the outputs. Every random draw is keyed on (seed, step, cell
  uid, event) (:mod:`.rng`), so the result does not depend on threads.
* :func:`apply` (serial, cells in a per-step permutation drawn from the seed)
  applies the intents to the shared lattice: deaths, type changes, hits on
  targets, divisions and moves into sites still free.

The biology is the cell programs' (:mod:`tmesim.biology.programs`); this
module only gathers what a cell sees (fields at its site, its Moore
neighbours) and turns hazards into events (probability ``1 - exp(-h dt)``).
Without rules every value reaches the draws as the programs computed it, and
a rule that moves nothing (its signal absent) leaves the draws bit for bit
as they were.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._jit import kernel, parallel_kernel, program as inline_kernel
from ..biology import recruitment as rec
from ..biology.signalling import induced_level
from ..biology.programs import macrophage, nk, pharmacology, t_cell, tumor
from ..biology.programs.pharmacology import EX, N_DRUGS
from ..rules.evaluate import evaluate_cell
from .. import variables as V
from . import rng
from .behaviors import (
    E_IMMUNO, E_MHC1, E_PDL1, E_PHAGOCYTOSE, F_CHEMOTAXIS, F_EXPORT, F_SECRETION, F_UPTAKE, K_ATTACK_OTHER,
    K_CHEMOTAXIS, K_OWN, K_TRANSFORM, N_KINDS, N_ROW, R_ACSL4, R_APOPTOSIS, R_ATTACK, R_BACH2, R_BIAS,
    R_CYCLE, R_EXHAUSTION, R_FERROPTOSIS, R_M1, R_M2, R_NECROSIS, R_PD1, R_PERSISTENCE, R_PROTEASOME,
    R_REINVIGORATION, R_REPAIR, R_SLC7A11, R_SPEED, R_STAT1, R_TERMINAL, R_TRANSFORM, S_APOPTOTIC, S_ATTACKING,
    S_CONTACT_APOPTOTIC, S_CONTACT_DEAD, S_CONTACT_FERROPTOTIC, S_CONTACT_KIND, S_CONTACT_LIVE, S_CONTACT_NECROTIC,
    S_DAMAGE, S_DEAD, S_DELIVERED, S_EXHAUSTION, S_FERROPTOTIC, S_FIELD, S_GRADIENT, S_IRON, S_M1, S_MHC1,
    S_NECROTIC, S_PDL1, S_PRESSURE, S_TIME, S_VOLUME, S_X,
)
from .cells import (
    ALIVE, ANERGIC, APOPTOTIC, BY_NONE, CAR_CD4, CAR_CD8, CD4, CD8, EFFECTOR, FERROPTOTIC, FREE, KILLER_OF_KIND,
    M1, M2, MACROPHAGE, NECROTIC, NK, PROGENITOR, SENESCENT, STEM_MEMORY, TERMINAL, TREG, TUMOR,
)

#: The cumulative counters :func:`apply` keeps, in order (the well-mixed model's and the spatial-only ones).
COUNTERS = [e[0] for e in V.COUNTERS + V.SPATIAL_COUNTERS]
#: Killer class (``cells.BY_*``) of an attacker of each type.
_KILLER = np.array(KILLER_OF_KIND, dtype=np.int8)
#: Index in :data:`COUNTERS` of each killer class's kills_* counter (BY_NONE has none).
_KILL_COUNTER = np.array([-1] + [COUNTERS.index(n) for n in ("kills_cd8", "kills_cd4", "kills_car_cd8", "kills_car_cd4",
                                                                "kills_nk", "kills_macrophage", "kills_other")],
                         dtype=np.int64)

# Field indices (the first fields of every spatial run; drug fields follow, see engine.FIELDS).
OXYGEN, GLUCOSE, CYSTINE, TRYPTOPHAN, KYNURENINE, IFNG, IL12, IL10, TGFB, IL2, CXCL9 = range(11)
N_BASE_FIELDS = 11

# Cells per block of a parallel loop. Each block allocates its own scratch rows (drug concentrations,
# exposures, derivatives) once, so the scratch costs nothing per cell slot; blocks this size keep two to
# sixteen threads busy on tens of thousands of cells.
SCRATCH_CHUNK = 256

# Intent columns (int64). I_KIND is the new cell type + 1 of a cell that transforms (0: none); I_ANTIGEN its
# CAR antigen then.
I_STATE, I_DEATH, I_ACTION, I_SITE, I_DAUGHTER, I_REPAIRED, I_CAUSE, I_KIND, I_ANTIGEN = range(9)
N_INTENT = 9
# Causes of death worth counting apart (I_CAUSE).
CAUSE_IFNG, CAUSE_FERROPTOSIS = 1, 2
# Actions.
NONE, DIVIDE, MOVE, HIT = 0, 1, 2, 3
# Death intents (besides the corpse modes ALIVE..NECROTIC of cells.py): an immune cell leaves no corpse.
REMOVE = 9
# Diagnostic columns (float64), averaged into the outputs.
(D_STIM, D_PD1_INH, D_PDL1, D_MHC1, D_IDO1, D_GPX4, D_UPTAKE, D_HFER, D_IRON, D_ROS, D_BLOCKADE) = range(11)
N_DIAG = 11
#: Largest first-order uptake (1/min) a rule's net import becomes where its field is nearly empty.
MAX_IMPORT_RATE = 1e6
#: The rules buffers (a tuple of 2D float64 arrays, rows = cell slots; empty where the rules need none):
#: signals, own base and result, exposed base and result, chemotactic weights (slots x fields).
RB_SIGNALS, RB_OWN_BASE, RB_OWN, RB_EXPOSED_BASE, RB_EXPOSED, RB_CHEMOTAXIS = range(6)


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


@inline_kernel
def _repair_base(tr):
    """The programs' repair hazard of one sub-lethal hit (1/min): 1 / hit_recovery_time (0: never repaired)."""
    return 1.0 / tr.hit_recovery_time if tr.hit_recovery_time > 0.0 else 0.0


@inline_kernel
def _reset_row(beh, i, tr, full):
    """Cell ``i``'s behaviour row before its programs fill it: zero hazards and speeds, the tissue's migration
    bias and persistence, the programs' hit repair. Without ``full`` only the columns every cell's draws read
    (the others are read only where rules act, and each cell type's program writes its own)."""
    if full:
        for r in range(N_ROW):
            beh[i, r] = 0.0
    else:
        beh[i, R_CYCLE] = 0.0
        beh[i, R_APOPTOSIS] = 0.0
        beh[i, R_NECROSIS] = 0.0
        beh[i, R_FERROPTOSIS] = 0.0
        beh[i, R_SPEED] = 0.0
    beh[i, R_BIAS] = tr.chemotaxis_bias
    beh[i, R_PERSISTENCE] = tr.migration_persistence_time
    beh[i, R_REPAIR] = _repair_base(tr)


@kernel
def _phagocytosis_base(k, pm, nn):
    """A live cell's hazard of clearing one neighbouring corpse (1/min): a macrophage's share of the
    corpse's efferocytosis, ``phagocytosis_rate / nn``; no other cell type clears corpses."""
    return pm.phagocytosis_rate / nn if k == MACROPHAGE else 0.0


# ------------------------------------------------------------------------------------------------- signals
@kernel
def _axis_slope(fields, f, s, pos, n_axis, stride, h):
    """Derivative of field ``f`` along one lattice axis at site ``s`` (central inside, one-sided at a face)."""
    lo = pos > 0
    hi = pos < n_axis - 1
    if lo and hi:
        return (fields[f, s + stride] - fields[f, s - stride]) / (2.0 * h)
    if hi:
        return (fields[f, s + stride] - fields[f, s]) / h
    if lo:
        return (fields[f, s] - fields[f, s - stride]) / h
    return 0.0


@kernel
def _gradient(fields, f, s, nz, ny, nx, h):
    """Magnitude of field ``f``'s gradient at site ``s`` (field unit/um; ``h`` the site spacing, um)."""
    z, y, x_ = _coords(s, ny, nx)
    gx = _axis_slope(fields, f, s, x_, nx, 1, h)
    gy = _axis_slope(fields, f, s, y, ny, nx, h)
    gz = _axis_slope(fields, f, s, z, nz, ny * nx, h)
    return np.sqrt(gx * gx + gy * gy + gz * gz)


@kernel
def _contacts(code, arg, s, kind, dead, occupancy, offsets, nz, ny, nx):
    """Neighbours of site ``s`` counted as a contact signal says (cells of one type, live, dead, or corpses of
    one mode)."""
    count = 0.0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t < 0 or occupancy[t] < 0:
            continue
        j = occupancy[t]
        d = dead[j]
        if ((code == S_CONTACT_KIND and kind[j] == arg) or (code == S_CONTACT_LIVE and d == ALIVE)
                or (code == S_CONTACT_DEAD and d != ALIVE) or (code == S_CONTACT_APOPTOTIC and d == APOPTOTIC)
                or (code == S_CONTACT_NECROTIC and d == NECROTIC)
                or (code == S_CONTACT_FERROPTOTIC and d == FERROPTOTIC)):
            count += 1.0
    return count


@inline_kernel
def _signal(code, arg, i, s, kind, state, dead, hits, delivered, attacking, x, occupancy, fields, offsets, nz, ny,
            nx, site_um, time, ex, p):
    """Cell ``i``'s value of the signal sampled as ``code`` (:mod:`.behaviors`), in the signal's unit."""
    nn = offsets.shape[0]
    if code == S_FIELD:
        return fields[arg, s]
    if code == S_GRADIENT:
        return _gradient(fields, arg, s, nz, ny, nx, site_um)
    if code == S_IRON:
        m1, m2 = _macrophages(s, kind, dead, state, occupancy, offsets, nz, ny, nx)
        return macrophage.iron_and_ros(m1 / (nn + 1.0), m2 / (nn + 1.0), ex, p.macrophage)[0]
    if code == S_X:
        return x[i, arg]
    if code == S_PDL1:
        return induced_level(x[i, 0], 1.0, p.tumor.pdl1_induction_fold)
    if code == S_MHC1:
        return induced_level(x[i, 0], 1.0, p.tumor.mhc1_induction_fold)
    if code == S_EXHAUSTION:
        return 1.0 if state[i] == PROGENITOR else (2.0 if state[i] == TERMINAL else 0.0)
    if code == S_M1:
        return 1.0 if state[i] == M1 else 0.0
    if code == S_PRESSURE:
        occupied = 0.0
        for kk in range(nn):
            t = neighbour_site(s, kk, offsets, nz, ny, nx)
            if t >= 0 and occupancy[t] >= 0:
                occupied += 1.0
        return occupied / nn
    if code == S_VOLUME:
        return site_um * site_um * site_um
    if code == S_DAMAGE:
        return float(hits[i])
    if code == S_DELIVERED:
        return float(delivered[i])
    if code == S_ATTACKING:
        return float(attacking[i])
    if code == S_DEAD:
        return 1.0 if dead[i] != ALIVE else 0.0
    if code == S_APOPTOTIC:
        return 1.0 if dead[i] == APOPTOTIC else 0.0
    if code == S_NECROTIC:
        return 1.0 if dead[i] == NECROTIC else 0.0
    if code == S_FERROPTOTIC:
        return 1.0 if dead[i] == FERROPTOTIC else 0.0
    if code == S_TIME:
        return time
    if code >= S_CONTACT_KIND:
        return _contacts(code, arg, s, kind, dead, occupancy, offsets, nz, ny, nx)
    return 0.0  # S_ZERO: a drug the run has no field for


@parallel_kernel
def sense(n, site, kind, state, dead, antigen, hits, delivered, attacking, x, occupancy, fields, drug_field, offsets,
          nz, ny, nx, site_um, time, rows, rb, expo, tab):
    """Phase 0 of a step with rules (see the module docstring): each cell of a type with rules samples the
    signals they read into ``rb[RB_SIGNALS]``; where rules move exposed behaviours, every cell gets its
    programs' exposed values (``rb[RB_EXPOSED_BASE]``) and the rules' result (``rb[RB_EXPOSED]``).

    ``time`` is the step's start (min); ``expo`` the exposed rules' :meth:`CompiledRules.arrays`; ``tab``
    :meth:`BoundRules.tables`; other arguments as :func:`decide`.
    """
    sig_code, sig_arg, ks_start, ks_cols = tab[0], tab[1], tab[2], tab[3]
    signals, ex_base, exposed = rb[RB_SIGNALS], rb[RB_EXPOSED_BASE], rb[RB_EXPOSED]
    for c in prange((n + SCRATCH_CHUNK - 1) // SCRATCH_CHUNK):
        conc, ex = np.empty(N_DRUGS), np.empty(len(EX))
        for i in range(c * SCRATCH_CHUNK, min(n, (c + 1) * SCRATCH_CHUNK)):
            _sense_cell(i, site, kind, state, dead, antigen, hits, delivered, attacking, x, occupancy, fields,
                        drug_field, offsets, nz, ny, nx, site_um, time, rows, conc, ex, signals, ex_base, exposed, expo,
                        sig_code, sig_arg, ks_start, ks_cols)


@kernel
def _sense_cell(i, site, kind, state, dead, antigen, hits, delivered, attacking, x, occupancy, fields, drug_field,
                offsets, nz, ny, nx, site_um, time, rows, conc, ex, signals, ex_base, exposed, expo, sig_code,
                sig_arg, ks_start, ks_cols):
    """Cell ``i``'s part of :func:`sense` (``conc`` and ``ex``: scratch rows for its drug exposures)."""
    k = kind[i]
    if k == FREE:
        return
    p = rows[0]
    s = site[i]
    exposed_to_drugs = False
    for q in range(ks_start[k], ks_start[k + 1]):
        c = ks_cols[q]
        if sig_code[c] == S_IRON and not exposed_to_drugs:  # (a chelator lowers the iron a cell sees)
            _exposures(s, fields, drug_field, p.drugs, conc, ex)
            exposed_to_drugs = True
        signals[i, c] = _signal(sig_code[c], sig_arg[c], i, s, kind, state, dead, hits, delivered, attacking, x,
                                occupancy, fields, offsets, nz, ny, nx, site_um, time, ex, p)
    if ex_base.shape[0] == 0:
        return
    for t in range(N_KINDS):
        gated = k == TUMOR and (t == CAR_CD8 or t == CAR_CD4)
        ex_base[i, E_IMMUNO + t] = (1.0 if antigen[i] > 0 else 0.0) if gated else 1.0
    phag = _phagocytosis_base(k, p.macrophage, offsets.shape[0])
    for m in range(3):
        ex_base[i, E_PHAGOCYTOSE + m] = phag
    ex_base[i, E_PDL1] = induced_level(x[i, 0], 1.0, p.tumor.pdl1_induction_fold) if k == TUMOR else 1.0
    ex_base[i, E_MHC1] = induced_level(x[i, 0], 1.0, p.tumor.mhc1_induction_fold) if k == TUMOR else 1.0
    evaluate_cell(i, signals, ex_base, exposed, k, dead[i] != ALIVE, *expo)


# ------------------------------------------------------------------------------------------------- own rules
@inline_kernel
def _slot_value(slot, i, beh, export, uptake, chemo, volume_um3):
    """The value of behaviour ``slot`` (:mod:`.behaviors`) of cell ``i`` as the programs left it, in the
    behaviour's unit (secretion: field unit x um^3/min)."""
    if slot < N_ROW:
        return beh[i, slot]
    q = slot - N_ROW
    f = q // 4
    what = q - 4 * f
    if what == F_SECRETION:
        return export[f, i] * volume_um3
    if what == F_UPTAKE:
        return uptake[f, i]
    if what == F_CHEMOTAXIS:
        return chemo[i, f]
    return 0.0  # F_EXPORT: no program exports


@kernel
def _apply_rules(i, k, is_dead, s, beh, export, uptake, fields, volume_um3, signals, base, out, chemo, own, own_slot):
    """Move cell ``i``'s own behaviours by the rules of its type ``k``: fill the base matrix with the programs'
    values of the behaviours those rules name (the others NaN), evaluate, and write back what changed (a
    value the rules leave as it was keeps the programs' form). A net export adds to the secretion; a net
    import becomes a first-order uptake at the local concentration."""
    (type_group_start, group_behavior, group_max, group_min, group_has_up, group_has_down, group_term_start,
     term_signal, term_half_max, term_hill_power, term_up, term_applies_to_dead) = own
    for c in range(base.shape[1]):
        base[i, c] = np.nan
    for g in range(type_group_start[k], type_group_start[k + 1]):
        c = group_behavior[g]
        base[i, c] = _slot_value(own_slot[c], i, beh, export, uptake, chemo, volume_um3)
    evaluate_cell(i, signals, base, out, k, is_dead, type_group_start, group_behavior, group_max, group_min,
                  group_has_up, group_has_down, group_term_start, term_signal, term_half_max, term_hill_power, term_up,
                  term_applies_to_dead)
    for g in range(type_group_start[k], type_group_start[k + 1]):
        c = group_behavior[g]
        v = out[i, c]
        if v == base[i, c]:
            continue
        slot = own_slot[c]
        if slot < N_ROW:
            beh[i, slot] = v
            continue
        q = slot - N_ROW
        f = q // 4
        what = q - 4 * f
        if what == F_SECRETION:
            export[f, i] = v / volume_um3
        elif what == F_UPTAKE:
            uptake[f, i] = v
        elif what == F_CHEMOTAXIS:
            chemo[i, f] = v
    for g in range(type_group_start[k], type_group_start[k + 1]):
        c = group_behavior[g]
        q = own_slot[c] - N_ROW
        if q < 0 or q - 4 * (q // 4) != F_EXPORT or out[i, c] == 0.0:
            continue
        f = q // 4
        export[f, i] += out[i, c] / volume_um3
        if export[f, i] < 0.0:
            if fields[f, s] > 0.0:  # (capped where the field is all but gone: it empties within any step)
                uptake[f, i] += min(-export[f, i] / fields[f, s], MAX_IMPORT_RATE)
            export[f, i] = 0.0


@kernel
def _chemotaxis_base(i, k, chemo):
    """Cell ``i``'s chemotactic weights as the programs have them: immune cells follow CXCL9/10 (weight 1),
    tumour cells nothing."""
    for f in range(chemo.shape[1]):
        chemo[i, f] = 0.0
    if k != TUMOR:
        chemo[i, CXCL9] = 1.0


@inline_kernel
def _held(program_now, program_at_start, held):
    """A target for the midpoint of the state update: the rules' value where they moved it, else the program's."""
    return held if held != program_at_start else program_now


# ------------------------------------------------------------------------------------------------- draws
@inline_kernel
def _attraction(i, s, weighted, chemo, fields):
    """How strongly cell ``i`` is drawn to site ``s``: its chemotactic weights times the fields there (the
    programs: CXCL9/10 alone)."""
    if not weighted:
        return fields[CXCL9, s]
    total = 0.0
    for f in range(chemo.shape[1]):
        w = chemo[i, f]
        if w != 0.0:
            total += w * fields[f, s]
    return total


@kernel
def _migrate(i, site, speed, persistence, bias, heading, weighted, chemo, fields, occupancy, offsets, nz, ny, nx,
             site_um, dt, seed, step, uid, intent):
    """Move intent of a migrating cell: with hazard speed/site_um, to a free neighbour, keeping its heading
    (persistent random walk), else with probability ``bias`` to the free neighbour it is most drawn to
    (:func:`_attraction`) if that beats its own site, else at random."""
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
        best, best_c = -1, _attraction(i, site, weighted, chemo, fields)
        for k in range(nn):
            s = neighbour_site(site, k, offsets, nz, ny, nx)
            if s >= 0 and occupancy[s] == -1:
                c = _attraction(i, s, weighted, chemo, fields)
                if c > best_c:
                    best, best_c = s, c
        if best >= 0:
            intent[i, I_ACTION] = MOVE
            intent[i, I_SITE] = best
            return
    s = _free_neighbour(site, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, uid, rng.TARGET))
    if s >= 0:
        intent[i, I_ACTION] = MOVE
        intent[i, I_SITE] = s


@inline_kernel
def _divide(i, s, hazard, daughter, occupancy, offsets, nz, ny, nx, dt, seed, step, uid, intent):
    """Division intent: with ``hazard`` (1/min), into a free neighbour (none free: no division)."""
    if hazard > 0.0 and rng.happens(hazard, dt, seed, step, uid, rng.DIVIDE):
        t = _free_neighbour(s, occupancy, offsets, nz, ny, nx, rng.uniform(seed, step, uid, rng.SITE))
        if t >= 0:
            intent[i, I_ACTION] = DIVIDE
            intent[i, I_SITE] = t
            intent[i, I_DAUGHTER] = daughter


@kernel
def _repair(i, hits, rate, tr, dt, seed, step, uid, intent):
    """Repair intent: each sub-lethal hit the cell carries is repaired with hazard ``rate`` (1/min) over dt."""
    if hits[i] <= 0 or rate <= 0.0:
        return
    if rate == _repair_base(tr):
        chance = 1.0 - np.exp(-dt / tr.hit_recovery_time)  # the programs' form: an unmoved rate draws as always
    else:
        chance = 1.0 - np.exp(-rate * dt)
    repaired = 0
    for h_ in range(hits[i]):
        if rng.uniform(seed, step, uid, rng.REPAIR * 16 + h_) < chance:
            repaired += 1
    intent[i, I_REPAIRED] = repaired


@kernel
def _rules_death_transform(i, k, s, flags, beh, export, uptake, fields, volume_um3, signals, base, out, chemo, own,
                           own_slot, p, dt, seed, step, uid, intent):
    """For a live macrophage, NK cell or Treg whose behaviour row is filled: the rules on its own behaviours,
    then its death (it leaves no corpse) and a rule-driven change of type. True when it is removed or changes
    type, so that nothing else happens to it this step."""
    if own is not None and (flags & K_OWN) != 0:
        _apply_rules(i, k, False, s, beh, export, uptake, fields, volume_um3, signals, base, out, chemo, own, own_slot)
    if rng.happens(beh[i, R_APOPTOSIS] + beh[i, R_FERROPTOSIS] + beh[i, R_NECROSIS], dt, seed, step, uid, rng.DEATH):
        intent[i, I_DEATH] = REMOVE
        return True
    return (flags & K_TRANSFORM) != 0 and _transform(i, beh, p, dt, seed, step, uid, intent)


@kernel
def _transform(i, beh, p, dt, seed, step, uid, intent):
    """Type change intent: with the summed ``transform to`` hazards, to a type chosen in proportion to them;
    the cell takes that type's resting state (a tumour cell its CAR antigen with the line's antigen-positive
    fraction, a macrophage M1-like with the tissue's initial M1 fraction). Returns whether it happens."""
    total = 0.0
    for t in range(N_KINDS):
        total += beh[i, R_TRANSFORM + t]
    if total <= 0.0 or not rng.happens(total, dt, seed, step, uid, rng.TRANSFORM):
        return False
    v = rng.uniform(seed, step, uid, rng.TRANSFORM_TYPE) * total
    new = -1
    for t in range(N_KINDS):
        h = beh[i, R_TRANSFORM + t]
        if h > 0.0:
            new = t
            if v < h:
                break
            v -= h
    u = rng.uniform(seed, step, uid, rng.TRANSFORM_STATE)
    st, ag = EFFECTOR, 0
    if new == TUMOR:
        st = 0
        ag = 1 if u < p.tumor.tumor_car_antigen_fraction else 0
    elif new == MACROPHAGE:
        st = M1 if u < p.initial.initial_m1_fraction else M2
    elif new == NK:
        st = 0
    intent[i, I_KIND] = new + 1
    intent[i, I_STATE] = st
    intent[i, I_ANTIGEN] = ag
    return True


@kernel
def _target_weight(j, t, ka, gate, weighted, kind, dead, antigen, exposed):
    """Weight of slot ``j`` as a target of a kind-``ka`` attacker among cells of type ``t`` (0: not one): its
    immunogenicity to ``ka`` where rules move immunogenicity (``weighted``), else 1 for a live cell the
    attacker recognises (``gate``: a CAR T cell recognises antigen-positive tumour cells only)."""
    if j < 0 or kind[j] != t or dead[j] != ALIVE:
        return 0.0
    if weighted:
        w = exposed[j, E_IMMUNO + ka]
        return w if w > 0.0 else 0.0
    if gate and antigen[j] <= 0:
        return 0.0
    return 1.0


@kernel
def _targets_weight(s, t, ka, gate, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx):
    """The summed weight of the targets of type ``t`` next to site ``s``, and how many the attacker recognises
    without rules (immunogenicity is relative to one of those)."""
    total = 0.0
    n_base = 0
    for kk in range(offsets.shape[0]):
        t_site = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t_site < 0:
            continue
        j = occupancy[t_site]
        total += _target_weight(j, t, ka, gate, weighted, kind, dead, antigen, exposed)
        if weighted and _target_weight(j, t, ka, gate, False, kind, dead, antigen, exposed) > 0.0:
            n_base += 1
    return total, (n_base if weighted else int(total))


@kernel
def _choose_target(s, t, ka, gate, weighted, total, u, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx):
    """The slot of the target the uniform draw ``u`` picks, in proportion to the weights (``total`` their sum)."""
    v = u * total
    last = -1
    for kk in range(offsets.shape[0]):
        t_site = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t_site < 0:
            continue
        j = occupancy[t_site]
        w = _target_weight(j, t, ka, gate, weighted, kind, dead, antigen, exposed)
        if w > 0.0:
            last = j
            if v < w:
                return j
            v -= w
    return last


@kernel
def _contact_hit(i, s, hazard, ka, gate, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx, dt,
                 seed, step, uid, intent):
    """Hit intent on a tumour neighbour: with ``hazard`` (1/min; the attacker's ``attack tumor``, which for a
    T cell, an NK cell or an M1-like macrophage is its kill rate x hits_to_kill, so kills come at the kill
    rate when hits add up) times the
    targets' mean immunogenicity, one recognisable live tumour neighbour, chosen in proportion to its
    immunogenicity (uniformly without rules on it), is hit."""
    ratio = 1.0
    if weighted:
        total, n_base = _targets_weight(s, TUMOR, ka, gate, True, kind, dead, antigen, exposed, occupancy, offsets,
                                        nz, ny, nx)
        ratio = total / max(n_base, 1)
    if not rng.happens(hazard * ratio, dt, seed, step, uid, rng.KILL):
        return
    total, _ = _targets_weight(s, TUMOR, ka, gate, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz, ny,
                               nx)
    if total <= 0.0:
        return
    intent[i, I_ACTION] = HIT
    intent[i, I_SITE] = _choose_target(s, TUMOR, ka, gate, weighted, total, rng.uniform(seed, step, uid, rng.TARGET),
                                       kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx)


@kernel
def _attack_part(i, t, k, default, beh, s, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx):
    """Hazard (1/min) of a hit on a type-``t`` neighbour by cell ``i`` of kind ``k`` beyond its programs'
    tumour attack: its ``attack <t>`` times its targets' mean immunogenicity (0 without a target)."""
    h = beh[i, R_ATTACK + t]
    if t == default or h <= 0.0:
        return 0.0
    total, n_base = _targets_weight(s, t, k, False, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz,
                                    ny, nx)
    return h * (total / max(n_base, 1))


@kernel
def _attack_others(i, s, k, beh, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx, dt, seed,
                   step, uid, intent):
    """Hit intent from the rules' attacks (any type, as the rules say; a tumour cell's on tumour cells too):
    with the summed hazard of :func:`_attack_part`, a type chosen in proportion, a target of it in
    proportion to its immunogenicity."""
    default = -1 if k == TUMOR or k == TREG else TUMOR  # behaviors.NO_TUMOR_ATTACK_PROGRAM
    total = 0.0
    for t in range(N_KINDS):
        total += _attack_part(i, t, k, default, beh, s, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz,
                              ny, nx)
    if total <= 0.0 or not rng.happens(total, dt, seed, step, uid, rng.ATTACK):
        return
    v = rng.uniform(seed, step, uid, rng.ATTACK_TYPE) * total
    chosen = -1
    for t in range(N_KINDS):
        part = _attack_part(i, t, k, default, beh, s, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz,
                            ny, nx)
        if part > 0.0:
            chosen = t
            if v < part:
                break
            v -= part
    w, _ = _targets_weight(s, chosen, k, False, weighted, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx)
    intent[i, I_ACTION] = HIT
    intent[i, I_SITE] = _choose_target(s, chosen, k, False, weighted, w, rng.uniform(seed, step, uid, rng.ATTACK_TARGET),
                                       kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx)


@inline_kernel
def _act(i, s, k, flags, beh, weighted_hits, heading, chemo, kind, dead, antigen, exposed, fields, occupancy, offsets,
         nz, ny, nx, site_um, dt, seed, step, uid, intent, may_move):
    """What every cell may do last, once its programs' own actions are drawn: the rules' attacks (if it has no
    action yet), then migration (if still none and ``may_move``)."""
    if (flags & K_ATTACK_OTHER) != 0 and intent[i, I_ACTION] == NONE:
        _attack_others(i, s, k, beh, weighted_hits, kind, dead, antigen, exposed, occupancy, offsets, nz, ny, nx, dt,
                       seed, step, uid, intent)
    if may_move and intent[i, I_ACTION] == NONE and beh[i, R_SPEED] > 0.0:
        _migrate(i, s, beh[i, R_SPEED], beh[i, R_PERSISTENCE], beh[i, R_BIAS], heading[i],
                 (flags & K_CHEMOTAXIS) != 0, chemo, fields, occupancy, offsets, nz, ny, nx, site_um, dt, seed, step,
                 uid, intent)


@parallel_kernel
def decide(n, site, kind, state, dead, antigen, hits, heading, uid, x, occupancy, fields, drug_field, offsets, nz, ny, nx,
           site_um, dt, seed, step, rows, volume_um3, x_new, intent, diag, export, uptake, beh, exposed, chemo, tab, rb,
           own):
    """Phase 1 of a step: every cell decides from what it sees (see the module docstring).

    ``rows`` holds the run's resolved parameter row (a record array of one row: numba's parallel loops take
    arrays, not records). ``export``/``uptake`` (fields x slots) receive each cell's release (field
    unit/min) and first-order uptake (1/min) for the next field step; ``volume_um3`` is a site's
    interstitial volume. ``beh`` (slots x :data:`~.behaviors.N_ROW`) receives each cell's behaviour row as
    its draws used it. ``exposed`` and ``chemo`` are ``rb[RB_EXPOSED]`` and ``rb[RB_CHEMOTAXIS]``, ``tab``
    :meth:`~.behaviors.BoundRules.tables`; ``rb`` are the rules buffers (``RB_*``; :func:`sense` filled the
    signals and exposed values) and ``own`` the own rules'
    :meth:`~tmesim.rules.evaluate.CompiledRules.arrays`, ``None`` where no rule moves a cell's own
    behaviours: that compiles a version of the loop without the rules' code in it.
    """
    # the tables a cell reads every step, unpacked once (taking an array out of a tuple per cell costs)
    own_slot, kind_flags, exposed_on = tab[4], tab[5], tab[6]
    signals, base, out = rb[RB_SIGNALS], rb[RB_OWN_BASE], rb[RB_OWN]
    for c in prange((n + SCRATCH_CHUNK - 1) // SCRATCH_CHUNK):
        conc, ex, dx = np.empty(N_DRUGS), np.empty(len(EX)), np.empty(x.shape[1])
        for i in range(c * SCRATCH_CHUNK, min(n, (c + 1) * SCRATCH_CHUNK)):
            _decide_cell(i, site, kind, state, dead, antigen, hits, heading, uid, x, occupancy, fields, drug_field,
                         offsets, nz, ny, nx, site_um, dt, seed, step, rows, volume_um3, x_new, intent, diag, export,
                         uptake, conc, ex, dx, beh, signals, base, out, own, own_slot, kind_flags, exposed_on, exposed,
                         chemo)


@kernel
def _decide_cell(i, site, kind, state, dead, antigen, hits, heading, uid, x, occupancy, fields, drug_field, offsets, nz,
                 ny, nx, site_um, dt, seed, step, rows, volume_um3, x_new, intent, diag, export, uptake, conc, ex, dx,
                 beh, signals, base, out, own, own_slot, kind_flags, exposed_on, exposed, chemo):
    """What cell ``i`` decides this step (see :func:`decide`; ``conc``, ``ex`` and ``dx`` are scratch rows
    (drug concentrations, exposures, derivatives), ``own_slot``, ``kind_flags`` and ``exposed_on`` are from
    ``tab``, ``signals``, ``base`` and ``out`` from ``rb``)."""
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
    _exposures(s, fields, drug_field, p.drugs, conc, ex)
    flags = kind_flags[k]
    if dead[i] != ALIVE:
        # rules that apply to dead cells: on a corpse only the field exchange acts
        if own is not None and (flags & K_OWN) != 0:
            _reset_row(beh, i, tr, True)
            if (flags & K_CHEMOTAXIS) != 0:
                _chemotaxis_base(i, k, chemo)
            _apply_rules(i, k, True, s, beh, export, uptake, fields, volume_um3, signals, base, out, chemo, own, own_slot)
        # a corpse is cleared passively and by the macrophages (and whatever the rules make phagocytes) next to it
        macs = 0
        for kk in range(nn):
            t = neighbour_site(s, kk, offsets, nz, ny, nx)
            if t >= 0 and occupancy[t] >= 0 and kind[occupancy[t]] == MACROPHAGE:
                macs += 1
        h = ts.corpse_clearance_rate + pm.phagocytosis_rate * macs / nn
        col = E_PHAGOCYTOSE + (0 if dead[i] == APOPTOTIC else (1 if dead[i] == NECROTIC else 2))
        if exposed_on[col]:
            moved = 0.0
            for kk in range(nn):
                t = neighbour_site(s, kk, offsets, nz, ny, nx)
                if t >= 0 and occupancy[t] >= 0 and dead[occupancy[t]] == ALIVE:
                    j = occupancy[t]
                    moved += exposed[j, col] - _phagocytosis_base(kind[j], pm, nn)
            h = h + moved
        if rng.happens(h, dt, seed, step, id_, rng.CLEAR):
            intent[i, I_DEATH] = REMOVE
        return
    _reset_row(beh, i, tr, flags != 0)
    if (flags & K_CHEMOTAXIS) != 0:
        _chemotaxis_base(i, k, chemo)
    weighted_hits = exposed_on[E_IMMUNO + k]
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
        tg0 = tumor.targets(x[i], 0, env, pt)
        fate = tumor.rates_towards(x[i], 0, env, ex, pt, tg0, dx, 0)
        apoptosis = fate.ifng_apoptosis + fate.basal_death
        beh[i, R_CYCLE] = fate.proliferation
        beh[i, R_APOPTOSIS] = apoptosis
        beh[i, R_NECROSIS] = fate.necrosis
        beh[i, R_FERROPTOSIS] = fate.ferroptosis
        beh[i, R_STAT1], beh[i, R_SLC7A11], beh[i, R_ACSL4] = tg0.stat1, tg0.slc7a11, tg0.acsl4
        cxcl9_src, il10_src, tgfb_src = tumor.secretion(1.0, sig.cxcl9, pt)
        export[CXCL9, i] = rec.secretion_to_concentration_rate(cxcl9_src, volume_um3)
        export[IL10, i] = rec.secretion_to_concentration_rate(il10_src, volume_um3)
        export[TGFB, i] = rec.secretion_to_concentration_rate(tgfb_src, volume_um3)
        uptake[IFNG, i] = cy.ifng_uptake_rate * (1.0 - pt.tumor_ifngr_loss)
        uptake[CYSTINE, i] = tr.tumor_cystine_uptake_rate * fate.cystine_uptake
        trp_use = tr.ido1_tryptophan_uptake_rate * sig.ido1
        uptake[TRYPTOPHAN, i] = trp_use
        export[KYNURENINE, i] = trp_use * fields[TRYPTOPHAN, s]
        if own is not None and (flags & K_OWN) != 0:
            _apply_rules(i, k, False, s, beh, export, uptake, fields, volume_um3, signals, base, out, chemo, own, own_slot)
        # explicit midpoint step of the intracellular state, towards the targets the rules left
        tg = tumor.TumorTargets(beh[i, R_STAT1], beh[i, R_SLC7A11], beh[i, R_ACSL4])
        if tg.stat1 != tg0.stat1 or tg.slc7a11 != tg0.slc7a11 or tg.acsl4 != tg0.acsl4:
            tumor.rates_towards(x[i], 0, env, ex, pt, tg, dx, 0)
        for j in range(x.shape[1]):
            x_new[i, j] = max(x[i, j] + 0.5 * dt * dx[j], 0.0)
        tgm = tumor.targets(x_new[i], 0, env, pt)
        tumor.rates_towards(x_new[i], 0, env, ex, pt, tumor.TumorTargets(
            _held(tgm.stat1, tg0.stat1, tg.stat1), _held(tgm.slc7a11, tg0.slc7a11, tg.slc7a11),
            _held(tgm.acsl4, tg0.acsl4, tg.acsl4)), dx, 0)
        for j in range(x.shape[1]):
            x_new[i, j] = max(x[i, j] + dt * dx[j], 0.0)
        diag[i, D_PDL1] = exposed[i, E_PDL1] if exposed_on[E_PDL1] else sig.pdl1
        diag[i, D_MHC1] = exposed[i, E_MHC1] if exposed_on[E_MHC1] else sig.mhc1
        diag[i, D_IDO1] = sig.ido1
        diag[i, D_GPX4], diag[i, D_UPTAKE], diag[i, D_HFER] = fate.gpx4_activity, fate.cystine_uptake, beh[i, R_FERROPTOSIS]
        diag[i, D_IRON], diag[i, D_ROS], diag[i, D_BLOCKADE] = fe_ext, ros, ex[EX.pd1_blockade]
        # death, by IFN-gamma apoptosis, basal apoptosis, ferroptosis or necrosis (a rule's change of apoptosis
        # scales both apoptotic causes alike)
        h_apo, h_fer, h_nec = beh[i, R_APOPTOSIS], beh[i, R_FERROPTOSIS], beh[i, R_NECROSIS]
        by_ifng, basal = fate.ifng_apoptosis, fate.basal_death
        if h_apo != apoptosis:
            if apoptosis > 0.0:
                by_ifng, basal = by_ifng * (h_apo / apoptosis), basal * (h_apo / apoptosis)
            else:
                by_ifng, basal = 0.0, h_apo
        h_death = h_apo + h_fer + h_nec
        if rng.happens(h_death, dt, seed, step, id_, rng.DEATH):
            mode = _pick(rng.uniform(seed, step, id_, rng.DEATH_MODE), by_ifng, basal, h_fer, h_nec, 0.0, 0.0)
            intent[i, I_DEATH] = APOPTOTIC if mode <= 1 else (FERROPTOTIC if mode == 2 else NECROTIC)
            intent[i, I_CAUSE] = CAUSE_IFNG if mode == 0 else 0
        elif (flags & K_TRANSFORM) != 0 and _transform(i, beh, p, dt, seed, step, id_, intent):
            return
        else:
            _divide(i, s, beh[i, R_CYCLE], 0, occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        # sub-lethal hits are repaired one by one
        _repair(i, hits, beh[i, R_REPAIR], tr, dt, seed, step, id_, intent)
        if intent[i, I_DEATH] == ALIVE:
            _act(i, s, k, flags, beh, weighted_hits, heading, chemo, kind, dead, antigen, exposed, fields, occupancy,
                 offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent, True)
        return
    # immune cells take up the cytokines they bear receptors for
    uptake[IFNG, i] = cy.ifng_uptake_rate * host_ifngr
    if k == MACROPHAGE:
        # oxidised lipids of ferroptotic corpses push towards M2: the share of the neighbouring cells that are
        # ferroptotic corpses (the well-mixed model's share of all cells)
        fm = macrophage.program(ifng, il12_free, fields[IL10, s], fields[TGFB, s],
                                _ferroptotic_share(s, kind, dead, occupancy, offsets, nz, ny, nx), host_ifngr, ex, pm)
        m1_cells = 1.0 if state[i] == M1 else 0.0
        il12_src, il10_src, tgfb_src, cxcl9_src = macrophage.secretion(m1_cells, 1.0 - m1_cells, ifng, host_ifngr, pm)
        export[IL12, i] = rec.secretion_to_concentration_rate(il12_src * p.host.host_immune_competence, volume_um3)
        export[IL10, i] = rec.secretion_to_concentration_rate(il10_src, volume_um3)
        export[TGFB, i] = rec.secretion_to_concentration_rate(tgfb_src, volume_um3)
        export[CXCL9, i] = rec.secretion_to_concentration_rate(cxcl9_src, volume_um3)
        beh[i, R_APOPTOSIS] = fm.death + (fm.m2_csf1r_depletion if state[i] == M2 else 0.0)
        beh[i, R_M1], beh[i, R_M2] = fm.to_m1, fm.to_m2
        # a kill takes hits_to_kill hits, so hits land that much faster than kills (as for T cells)
        # innate killing acts on the tumour line by its innate susceptibility (as in the well-mixed model)
        beh[i, R_ATTACK + TUMOR] = (macrophage.killing(1.0, fields[IL10, s], pm) * pt.tumor_innate_susceptibility
                                    * hits_to_kill if state[i] == M1 else 0.0)
        beh[i, R_SPEED] = tr.macrophage_speed
        if _rules_death_transform(i, k, s, flags, beh, export, uptake, fields, volume_um3, signals, base, out, chemo,
                                  own, own_slot, p, dt, seed, step, id_, intent):
            return
        switch = beh[i, R_M2] if state[i] == M1 else beh[i, R_M1]
        if rng.happens(switch, dt, seed, step, id_, rng.TRANSITION):
            intent[i, I_STATE] = M2 if state[i] == M1 else M1
        if beh[i, R_ATTACK + TUMOR] > 0.0:
            _contact_hit(i, s, beh[i, R_ATTACK + TUMOR], k, False, weighted_hits, kind, dead, antigen, exposed,
                         occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        if intent[i, I_ACTION] == NONE:
            _divide(i, s, beh[i, R_CYCLE], state[i], occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        _act(i, s, k, flags, beh, weighted_hits, heading, chemo, kind, dead, antigen, exposed, fields, occupancy,
             offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent, True)
        return
    uptake[IL12, i] = cy.il12_uptake_rate
    if k == NK:
        targets, mhc1, _ = _targets(s, False, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt, exposed,
                                    exposed_on[E_MHC1], exposed_on[E_PDL1])
        fn = nk.program(il12_free, ifng, host_ifngr, mhc1, pn)
        export[IFNG, i] = rec.secretion_to_concentration_rate(nk.ifng_secretion(1.0, fn.activation, targets, pn),
                                                              volume_um3)
        # IL-10 and TGF-beta suppress NK cytotoxicity as they do T cells'
        suppress = t_cell.sense(t_cell.TCellEnv(oxygen, glucose, fields[TRYPTOPHAN, s], fields[KYNURENINE, s],
                                                fields[IL10, s], fields[TGFB, s], il12_free, fields[IL2, s]),
                                ph).suppression
        beh[i, R_APOPTOSIS] = fn.death
        beh[i, R_CYCLE] = fn.division
        beh[i, R_ATTACK + TUMOR] = fn.kill_rate * pt.tumor_innate_susceptibility * (1.0 - suppress) * hits_to_kill
        beh[i, R_SPEED] = tr.nk_speed
        if _rules_death_transform(i, k, s, flags, beh, export, uptake, fields, volume_um3, signals, base, out, chemo,
                                  own, own_slot, p, dt, seed, step, id_, intent):
            return
        if targets > 0:
            _contact_hit(i, s, beh[i, R_ATTACK + TUMOR], k, False, weighted_hits, kind, dead, antigen, exposed,
                         occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        else:
            _divide(i, s, beh[i, R_CYCLE], 0, occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        _act(i, s, k, flags, beh, weighted_hits, heading, chemo, kind, dead, antigen, exposed, fields, occupancy,
             offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent, targets == 0)
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
        beh[i, R_APOPTOSIS] = death
        beh[i, R_CYCLE] = division
        beh[i, R_SPEED] = tr.t_cell_speed
        if _rules_death_transform(i, k, s, flags, beh, export, uptake, fields, volume_um3, signals, base, out, chemo,
                                  own, own_slot, p, dt, seed, step, id_, intent):
            return
        _divide(i, s, beh[i, R_CYCLE], 0, occupancy, offsets, nz, ny, nx, dt, seed, step, id_, intent)
        _act(i, s, k, flags, beh, weighted_hits, heading, chemo, kind, dead, antigen, exposed, fields, occupancy,
             offsets, nz, ny, nx, site_um, dt, seed, step, id_, intent, True)
        return
    pk_ = _t_kind(k, p)
    car = k == CAR_CD8 or k == CAR_CD4
    cd4 = k == CD4 or k == CAR_CD4
    sg = t_cell.sense(env, pk_)
    targets, mhc1, pdl1 = _targets(s, car, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt, exposed,
                                   exposed_on[E_MHC1], exposed_on[E_PDL1])
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
    base_death = (pk_.effector_death_rate if st == EFFECTOR or st == ANERGIC else
                  (pk_.progenitor_death_rate if st == PROGENITOR else
                   (pk_.terminal_death_rate if st == TERMINAL else
                    (pk_.senescent_death_rate if st == SENESCENT else pk_.memory_death_rate))))
    beh[i, R_APOPTOSIS] = base_death + f.ifng_toxicity
    beh[i, R_FERROPTOSIS] = f.ferroptosis
    beh[i, R_EXHAUSTION], beh[i, R_TERMINAL], beh[i, R_REINVIGORATION] = f.to_progenitor, f.to_terminal, f.reinvigoration
    # contact killing by cells with cytotoxic function: a kill takes hits_to_kill hits
    beh[i, R_ATTACK + TUMOR] = (f.kill_rate * function * lineage * (1.0 - f.lipid_dysfunction) * hits_to_kill
                                if function > 0.0 else 0.0)
    beh[i, R_CYCLE] = (f.proliferation if st == EFFECTOR else
                       (f.progenitor_proliferation if st == PROGENITOR else
                        (f.memory_proliferation if st == STEM_MEMORY else 0.0)))
    beh[i, R_SPEED] = tr.t_cell_speed
    tg0 = t_cell.axis_targets(x[i], 0, stim, 0.0, pk_)
    beh[i, R_PROTEASOME], beh[i, R_BACH2], beh[i, R_PD1] = tg0.proteasome, tg0.bach2, tg0.pd1
    if own is not None and (flags & K_OWN) != 0:
        _apply_rules(i, k, False, s, beh, export, uptake, fields, volume_um3, signals, base, out, chemo, own, own_slot)
    # explicit midpoint step of the exhaustion axis, towards the targets the rules left
    block, gpx4_inh, rta = ex[EX.heme_import_block], ex[EX.gpx4_inhibition], ex[EX.rta_block]
    tg = t_cell.AxisTargets(beh[i, R_PROTEASOME], beh[i, R_BACH2], beh[i, R_PD1])
    t_cell.axis_rates_towards(x[i], 0, tg, stim, f.drivers, block, gpx4_inh, rta, lipid_level, ros, 0.0, pk_, dx, 0)
    for j in range(x.shape[1]):
        x_new[i, j] = max(x[i, j] + 0.5 * dt * dx[j], 0.0)
    tgm = t_cell.axis_targets(x_new[i], 0, stim, 0.0, pk_)
    t_cell.axis_rates_towards(x_new[i], 0, t_cell.AxisTargets(
        _held(tgm.proteasome, tg0.proteasome, tg.proteasome), _held(tgm.bach2, tg0.bach2, tg.bach2),
        _held(tgm.pd1, tg0.pd1, tg.pd1)), stim, f.drivers, block, gpx4_inh, rta, lipid_level, ros, 0.0, pk_, dx, 0)
    for j in range(x.shape[1]):
        x_new[i, j] = max(x[i, j] + dt * dx[j], 0.0)
    # death
    h_death = beh[i, R_APOPTOSIS] + beh[i, R_FERROPTOSIS] + beh[i, R_NECROSIS]
    if rng.happens(h_death, dt, seed, step, id_, rng.DEATH):
        intent[i, I_DEATH] = REMOVE
        if rng.uniform(seed, step, id_, rng.DEATH_MODE) * h_death < beh[i, R_FERROPTOSIS]:
            intent[i, I_CAUSE] = CAUSE_FERROPTOSIS
        return
    if (flags & K_TRANSFORM) != 0 and _transform(i, beh, p, dt, seed, step, id_, intent):
        return
    # state transitions (competing hazards)
    if st == EFFECTOR:
        a_ = beh[i, R_EXHAUSTION]
        b_ = f.anergy if (k == CD8) else 0.0
        c_ = f.senescence if (k == CD8) else 0.0
        d_ = f.memory_formation if car else 0.0
        total = a_ + b_ + c_ + d_
        if total > 0.0 and rng.happens(total, dt, seed, step, id_, rng.TRANSITION):
            which = _pick(rng.uniform(seed, step, id_, rng.DAUGHTER + 32), a_, b_, c_, d_, 0.0, 0.0)
            intent[i, I_STATE] = (PROGENITOR, ANERGIC, SENESCENT, STEM_MEMORY)[which]
    elif st == PROGENITOR:
        to_terminal, back = beh[i, R_TERMINAL], beh[i, R_REINVIGORATION]
        total = to_terminal + back
        if total > 0.0 and rng.happens(total, dt, seed, step, id_, rng.TRANSITION):
            which = _pick(rng.uniform(seed, step, id_, rng.DAUGHTER + 32), to_terminal, back, 0.0, 0.0, 0.0, 0.0)
            intent[i, I_STATE] = TERMINAL if which == 0 else EFFECTOR
    elif st == ANERGIC:
        if rng.happens(f.anergy_exit, dt, seed, step, id_, rng.TRANSITION):
            intent[i, I_STATE] = EFFECTOR
    # contact killing of the tumour cells next to it (T cells arrest on them)
    engaged = targets > 0.0
    if engaged and beh[i, R_ATTACK + TUMOR] > 0.0:
        _contact_hit(i, s, beh[i, R_ATTACK + TUMOR], k, car, weighted_hits, kind, dead, antigen, exposed, occupancy,
                     offsets, nz, ny, nx, dt, seed, step, id_, intent)
    # division
    if intent[i, I_ACTION] == NONE:
        division = beh[i, R_CYCLE]
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
    _act(i, s, k, flags, beh, weighted_hits, heading, chemo, kind, dead, antigen, exposed, fields, occupancy, offsets,
         nz, ny, nx, site_um, dt, seed, step, id_, intent, not engaged)


@kernel
def _ferroptotic_share(s, kind, dead, occupancy, offsets, nz, ny, nx):
    """Share of the cells next to ``s`` (live or dead) that are ferroptotic corpses (0 with no neighbours)."""
    cells = 0
    ferroptotic = 0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t >= 0 and occupancy[t] >= 0:
            cells += 1
            if dead[occupancy[t]] == FERROPTOTIC:
                ferroptotic += 1
    return ferroptotic / cells if cells > 0 else 0.0


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
def _targets(s, car, kind, dead, antigen, x, occupancy, offsets, nz, ny, nx, pt, exposed, mhc1_ruled, pdl1_ruled):
    """Live tumour cells next to ``s`` that a cell can recognise (CAR: antigen-positive ones), their mean MHC-I
    and mean PD-L1 (relative; 1 without targets): the STAT1-induced levels, or the rules' where rules move
    them (``*_ruled``; :func:`sense` put them in ``exposed``)."""
    count = 0.0
    mhc = 0.0
    pdl1 = 0.0
    for kk in range(offsets.shape[0]):
        t = neighbour_site(s, kk, offsets, nz, ny, nx)
        if t < 0:
            continue
        j = occupancy[t]
        if j >= 0 and kind[j] == TUMOR and dead[j] == ALIVE and (antigen[j] > 0 or not car):
            count += 1.0
            mhc += exposed[j, E_MHC1] if mhc1_ruled else induced_level(x[j, 0], 1.0, pt.mhc1_induction_fold)
            pdl1 += exposed[j, E_PDL1] if pdl1_ruled else induced_level(x[j, 0], 1.0, pt.pdl1_induction_fold)
    if count > 0.0:
        return count, mhc / count, pdl1 / count
    return count, 1.0, 1.0


@kernel
def apply(order, site, kind, state, dead, antigen, hits, heading, killer, delivered, attacking, x, x_new, intent,
          occupancy, offsets, nz, ny, nx, hits_to_kill, rest_x, counters, births_site, births_parent, births_state):
    """Phase 2 of a step: apply the cells' intents in ``order`` (see the module docstring).

    ``counters`` accumulates deaths by mode and kills by class (indices of :data:`engine.COUNTERS`).
    A cell that changes type takes ``rest_x[new type]`` (the resting intracellular state of each type).
    A hit adds one to the target's hits and the attacker's ``delivered`` and sets its ``attacking`` for the
    next step; ``hits_to_kill`` hits kill (a tumour cell becomes an apoptotic corpse, any other cell leaves
    none). Divisions are recorded as births (site, parent slot, daughter state) for the engine to add;
    returns their number.
    """
    n = order.size
    # intracellular states advance together
    for i in range(n):
        attacking[i] = 0
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
        if intent[i, I_KIND] > 0:
            new = intent[i, I_KIND] - 1
            kind[i] = new
            antigen[i] = intent[i, I_ANTIGEN]
            hits[i] = 0
            killer[i] = BY_NONE
            for j in range(x.shape[1]):
                x[i, j] = rest_x[new, j]
            continue
        hits[i] = max(hits[i] - intent[i, I_REPAIRED], 0)
        action = intent[i, I_ACTION]
        if action == HIT:
            j = intent[i, I_SITE]
            if kind[j] != FREE and dead[j] == ALIVE:
                hits[j] += 1
                delivered[i] += 1
                attacking[i] = 1
                if hits[j] >= hits_to_kill:
                    if kind[j] == TUMOR:
                        dead[j] = APOPTOTIC
                        by = _KILLER[kind[i]]
                        killer[j] = by
                        counters[_KILL_COUNTER[by]] += 1.0
                    else:
                        occupancy[site[j]] = -1
                        kind[j] = FREE
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
