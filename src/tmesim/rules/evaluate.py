"""Evaluate hypothesis rules over arrays of cells, with PhysiCell 1.14's semantics.

For each cell and each behaviour that has rules in the cell's type (PhysiCell
``core/PhysiCell_rules.cpp``, ``Hypothesis_Rule::evaluate``)::

    S_up   = sum over increasing rules j of (s_j / h_j) ** n_j
    S_down = sum over decreasing rules j of (s_j / h_j) ** n_j
    H      = S / (1 + S)                 (1 when S is infinite)
    U      = b + (M - b) * H_up
    out    = U + (m - U) * H_down

``b`` is the base value: the behaviour's value from tmesim's cell program for
that cell (the engine fills a base matrix). ``M`` and ``m`` are PhysiCell's
per-(cell type, behaviour) maximum and minimum: the largest saturation value
of the increasing rules and the smallest of the decreasing ones; as in
PhysiCell, where a behaviour has rules in both directions the base folds into
both (``M = max(M, b)``, ``m = min(m, b)``), because PhysiCell's parser sets
the minimum from the base on each increasing row and the maximum from the
base on each decreasing row. For a dead cell the signal of a rule not flagged
``applies_to_dead`` counts as 0, and if no rule of a behaviour applies the
value is left unchanged.

Two choices go beyond PhysiCell, both no-ops for valid input: a negative
signal counts as 0 (as ``biology.common.hill`` does: solver undershoot of a
field must not turn a Hill term into NaN), and an infinite S gives H = 1
(PhysiCell's ``inf/inf`` would be NaN for a steep rule far past its half-max).

:func:`evaluate_rules` is the compiled kernel (struct of arrays, ``prange``
over cells, deterministic); :func:`evaluate_cell` is its body for one cell,
which the spatial engine calls inside its own loop over cells;
:func:`evaluate_reference` is a plain numpy version built from the
:class:`~tmesim.rules.reader.Rule` records, the test oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import prange

from tmesim._jit import kernel, parallel_kernel

from . import vocabulary as vocab
from .reader import Rule


@dataclass(frozen=True, eq=False)
class CompiledRules:
    """Rules flattened into arrays for :func:`evaluate_rules`.

    Rules are grouped by (cell type, behaviour); the groups of type ``t`` are
    ``type_group_start[t]:type_group_start[t+1]`` and the rules (terms) of
    group ``g`` are ``group_term_start[g]:group_term_start[g+1]``, in file
    order. All arrays are read-only.

    Attributes
    ----------
    cell_types : type names; a cell's type index is its position here
        (:data:`~tmesim.rules.vocabulary.CELL_TYPE_NAMES`).
    signal_names : the columns of the signals matrix the engine fills.
    behavior_names : the columns of the base-behaviour matrix.
    type_group_start : int64, ``(n_types + 1,)``.
    group_behavior : int64 column of each group's behaviour, ``(n_groups,)``.
    group_max : float64, M: largest saturation of the group's increasing
        rules (0 where it has none; not used then).
    group_min : float64, m: smallest saturation of its decreasing rules.
    group_has_up, group_has_down : bool, whether the group has increasing /
        decreasing rules.
    group_term_start : int64, ``(n_groups + 1,)``.
    term_signal : int64 signal column of each rule, ``(n_rules,)``.
    term_half_max, term_hill_power : float64 per rule.
    term_up : bool, True for an increasing rule.
    term_applies_to_dead : bool per rule.
    """

    cell_types: tuple[str, ...]
    signal_names: tuple[str, ...]
    behavior_names: tuple[str, ...]
    type_group_start: np.ndarray
    group_behavior: np.ndarray
    group_max: np.ndarray
    group_min: np.ndarray
    group_has_up: np.ndarray
    group_has_down: np.ndarray
    group_term_start: np.ndarray
    term_signal: np.ndarray
    term_half_max: np.ndarray
    term_hill_power: np.ndarray
    term_up: np.ndarray
    term_applies_to_dead: np.ndarray

    @property
    def n_rules(self) -> int:
        """Number of rules (terms)."""
        return int(self.term_signal.size)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The flat arrays in the kernel's argument order."""
        return (self.type_group_start, self.group_behavior, self.group_max, self.group_min, self.group_has_up,
                self.group_has_down, self.group_term_start, self.term_signal, self.term_half_max,
                self.term_hill_power, self.term_up, self.term_applies_to_dead)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _columns(given, needed: list[str], what: str) -> tuple[str, ...]:
    if given is None:
        return tuple(needed)
    given = tuple(given)
    if len(set(given)) != len(given):
        raise ValueError(f"{what} names repeat a column: {given}")
    missing = [n for n in needed if n not in given]
    if missing:
        raise ValueError(f"the rules use {what}s with no column: {', '.join(missing)}")
    return given


def compile_rules(rules: Sequence[Rule], *, signal_names: Sequence[str] | None = None,
                  behavior_names: Sequence[str] | None = None) -> CompiledRules:
    """Flatten rules into the arrays :func:`evaluate_rules` reads.

    Parameters
    ----------
    rules : the rules (e.g. ``read_rules(path).rules``); duplicates are
        assumed already rejected by the reader.
    signal_names : the engine's signal columns (canonical names); ``None``
        uses the signals the rules name, in order of first use.
    behavior_names : the engine's behaviour columns; ``None`` uses the
        behaviours the rules name, in order of first use.

    Returns
    -------
    CompiledRules

    Raises
    ------
    ValueError
        A rule's signal or behaviour has no column in the given names.
    """
    rules = tuple(rules)
    signals = _columns(signal_names, list(dict.fromkeys(r.signal for r in rules)), "signal")
    behaviors = _columns(behavior_names, list(dict.fromkeys(r.behavior for r in rules)), "behavior")
    s_col = {n: i for i, n in enumerate(signals)}
    b_col = {n: i for i, n in enumerate(behaviors)}
    n_types = len(vocab.CELL_TYPE_NAMES)

    groups: dict[tuple[int, str], list[Rule]] = {}
    for r in rules:
        groups.setdefault((vocab.CELL_TYPE_INDEX[r.cell_type], r.behavior), []).append(r)
    keys = sorted(groups, key=lambda k: k[0])  # stable: behaviours keep their order of first use

    type_group_start = np.zeros(n_types + 1, np.int64)
    for t, _ in keys:
        type_group_start[t + 1] += 1
    type_group_start = np.cumsum(type_group_start)

    n_groups = len(keys)
    group_behavior = np.empty(n_groups, np.int64)
    group_max = np.zeros(n_groups)
    group_min = np.zeros(n_groups)
    group_has_up = np.zeros(n_groups, np.bool_)
    group_has_down = np.zeros(n_groups, np.bool_)
    group_term_start = np.zeros(n_groups + 1, np.int64)
    terms: list[Rule] = []
    for g, key in enumerate(keys):
        members = groups[key]
        group_behavior[g] = b_col[key[1]]
        ups = [r.saturation for r in members if r.increases]
        downs = [r.saturation for r in members if not r.increases]
        group_has_up[g], group_has_down[g] = bool(ups), bool(downs)
        group_max[g] = max(ups) if ups else 0.0
        group_min[g] = min(downs) if downs else 0.0
        terms += members
        group_term_start[g + 1] = len(terms)

    return CompiledRules(
        cell_types=vocab.CELL_TYPE_NAMES,
        signal_names=signals,
        behavior_names=behaviors,
        type_group_start=_frozen(type_group_start),
        group_behavior=_frozen(group_behavior),
        group_max=_frozen(group_max),
        group_min=_frozen(group_min),
        group_has_up=_frozen(group_has_up),
        group_has_down=_frozen(group_has_down),
        group_term_start=_frozen(group_term_start),
        term_signal=_frozen(np.array([s_col[r.signal] for r in terms], np.int64)),
        term_half_max=_frozen(np.array([r.half_max for r in terms], np.float64)),
        term_hill_power=_frozen(np.array([r.hill_power for r in terms], np.float64)),
        term_up=_frozen(np.array([r.increases for r in terms], np.bool_)),
        term_applies_to_dead=_frozen(np.array([r.applies_to_dead for r in terms], np.bool_)),
    )


@kernel
def _saturating(s):
    """S / (1 + S), and 1 for infinite S."""
    if s == np.inf:
        return 1.0
    return s / (1.0 + s)


@kernel
def evaluate_cell(i, signals, base, out, t, is_dead, type_group_start, group_behavior, group_max, group_min,
                  group_has_up, group_has_down, group_term_start, term_signal, term_half_max, term_hill_power, term_up,
                  term_applies_to_dead):
    """Apply the rules of cell type ``t`` to row ``i`` (the one evaluation both this module and the engine run).

    Copies ``base[i]`` into ``out[i]`` (every column, in the behaviours' units) and moves each behaviour that
    has rules in type ``t`` as the module docstring says, reading the signals ``signals[i]`` (each in its
    unit). ``is_dead``: whether the cell is dead (its rules not flagged ``applies_to_dead`` then read 0).
    ``out`` may be ``base``. The remaining arguments are :meth:`CompiledRules.arrays`.
    """
    for k in range(base.shape[1]):
        out[i, k] = base[i, k]
    for g in range(type_group_start[t], type_group_start[t + 1]):
        applies = False
        s_up = 0.0
        s_down = 0.0
        for j in range(group_term_start[g], group_term_start[g + 1]):
            if is_dead and not term_applies_to_dead[j]:
                continue  # its signal counts as 0
            applies = True
            x = signals[i, term_signal[j]]
            if x < 0.0:
                x = 0.0
            term = (x / term_half_max[j]) ** term_hill_power[j]
            if term_up[j]:
                s_up += term
            else:
                s_down += term
        if not applies:
            continue
        col = group_behavior[g]
        b = base[i, col]
        hi = b
        lo = b
        if group_has_up[g]:
            hi = group_max[g]
            if group_has_down[g] and b > hi:
                hi = b
        if group_has_down[g]:
            lo = group_min[g]
            if group_has_up[g] and b < lo:
                lo = b
        u = b + (hi - b) * _saturating(s_up)
        out[i, col] = u + (lo - u) * _saturating(s_down)


@parallel_kernel
def _apply_kernel(signals, base, cell_type, dead, type_group_start, group_behavior, group_max, group_min,
                  group_has_up, group_has_down, group_term_start, term_signal, term_half_max, term_hill_power,
                  term_up, term_applies_to_dead, out):
    for i in prange(base.shape[0]):
        evaluate_cell(i, signals, base, out, cell_type[i], dead[i], type_group_start, group_behavior, group_max,
                      group_min, group_has_up, group_has_down, group_term_start, term_signal, term_half_max,
                      term_hill_power, term_up, term_applies_to_dead)


def _check_inputs(compiled: CompiledRules, signals, base, cell_type, dead):
    signals = np.ascontiguousarray(signals, dtype=np.float64)
    base = np.ascontiguousarray(base, dtype=np.float64)
    cell_type = np.ascontiguousarray(cell_type, dtype=np.int64)
    dead = np.ascontiguousarray(dead, dtype=np.bool_)
    n = base.shape[0] if base.ndim == 2 else -1
    if base.ndim != 2 or base.shape[1] != len(compiled.behavior_names):
        raise ValueError(f"base must be (n_cells, {len(compiled.behavior_names)}) for behaviours "
                         f"{compiled.behavior_names}, got shape {base.shape}")
    if signals.shape != (n, len(compiled.signal_names)):
        raise ValueError(f"signals must be ({n}, {len(compiled.signal_names)}) for signals "
                         f"{compiled.signal_names}, got shape {signals.shape}")
    if cell_type.shape != (n,) or dead.shape != (n,):
        raise ValueError(f"cell_type and dead must be ({n},), got {cell_type.shape} and {dead.shape}")
    if n and (cell_type.min() < 0 or cell_type.max() >= len(compiled.cell_types)):
        raise ValueError(f"cell_type must index {compiled.cell_types}, got values "
                         f"{cell_type.min()}..{cell_type.max()}")
    return signals, base, cell_type, dead


def evaluate_rules(compiled: CompiledRules, signals, base, cell_type, dead, out=None) -> np.ndarray:
    """Apply the rules to every cell (compiled, parallel over cells).

    Parameters
    ----------
    compiled : from :func:`compile_rules` or ``RuleSet.compile()``.
    signals : float64 ``(n_cells, len(compiled.signal_names))``, each signal
        in its unit (``tmesim rules vocabulary``).
    base : float64 ``(n_cells, len(compiled.behavior_names))``, each
        behaviour's value from the cell's program, in the behaviour's unit.
    cell_type : int ``(n_cells,)``, index into ``compiled.cell_types``.
    dead : bool ``(n_cells,)``.
    out : optional float64 array shaped like ``base`` to write into; it may
        be ``base`` itself (in place).

    Returns
    -------
    numpy.ndarray
        The behaviours after the rules, in their units: ``base`` where a cell
        has no rule for a behaviour (or none applies to it, being dead).
    """
    signals, base, cell_type, dead = _check_inputs(compiled, signals, base, cell_type, dead)
    if out is None:
        out = np.empty_like(base)
    elif out.shape != base.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {base.shape}")
    _apply_kernel(signals, base, cell_type, dead, *compiled.arrays(), out)
    return out


def evaluate_reference(rules: Sequence[Rule], signals, signal_names: Sequence[str], base,
                       behavior_names: Sequence[str], cell_type, dead) -> np.ndarray:
    """Plain numpy evaluation straight from the rule records (the test oracle).

    Written independently of :func:`compile_rules` and the kernel: it groups
    the :class:`~tmesim.rules.reader.Rule` records itself and vectorises over
    the cells of each type.

    Parameters
    ----------
    rules : the rules.
    signals : float64 ``(n_cells, len(signal_names))``.
    signal_names : the signal of each column of ``signals``.
    base : float64 ``(n_cells, len(behavior_names))``, the programs' values.
    behavior_names : the behaviour of each column of ``base``.
    cell_type : int ``(n_cells,)``, index into
        :data:`~tmesim.rules.vocabulary.CELL_TYPE_NAMES`.
    dead : bool ``(n_cells,)``.

    Returns
    -------
    numpy.ndarray
        As :func:`evaluate_rules`.
    """
    signals = np.asarray(signals, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    cell_type = np.asarray(cell_type)
    dead = np.asarray(dead, dtype=bool)
    out = base.copy()
    groups: dict[tuple[str, str], list[Rule]] = {}
    for r in rules:
        groups.setdefault((r.cell_type, r.behavior), []).append(r)
    for (ctype, behavior), members in groups.items():
        cells = np.flatnonzero(cell_type == vocab.CELL_TYPE_INDEX[ctype])
        if cells.size == 0:
            continue
        col = list(behavior_names).index(behavior)
        b = base[cells, col]
        sums = {True: np.zeros(cells.size), False: np.zeros(cells.size)}
        applies = np.zeros(cells.size, bool)
        for r in members:
            use = ~dead[cells] | r.applies_to_dead
            x = np.maximum(signals[cells, list(signal_names).index(r.signal)], 0.0)
            with np.errstate(over="ignore"):
                sums[r.increases] += np.where(use, (x / r.half_max) ** r.hill_power, 0.0)
            applies |= use
        ups = [r.saturation for r in members if r.increases]
        downs = [r.saturation for r in members if not r.increases]
        hi = b if not ups else (np.maximum(max(ups), b) if downs else np.full(cells.size, max(ups)))
        lo = b if not downs else (np.minimum(min(downs), b) if ups else np.full(cells.size, min(downs)))
        with np.errstate(invalid="ignore"):
            h_up = np.where(np.isinf(sums[True]), 1.0, sums[True] / (1.0 + sums[True]))
            h_down = np.where(np.isinf(sums[False]), 1.0, sums[False] / (1.0 + sums[False]))
        u = b + (hi - b) * h_up
        out[cells, col] = np.where(applies, u + (lo - u) * h_down, b)
    return out
