"""Hypothesis rules: PhysiCell's rules CSV read, checked and evaluated over tmesim's cell programs.

A spatial scenario may name a rules file in PhysiCell's "cell behaviour
hypothesis grammar" (``docs/rules.md``). The spatial engine fills, each
step, a signals matrix and a base-behaviour matrix (the values its cell
programs computed, for the behaviours the rules name) and evaluates the rules
on them (:func:`~.evaluate.evaluate_cell` inside its loop over cells, the body
of :func:`evaluate_rules`); the rules move the behaviours from their base
values towards the rules' saturation values (``tmesim.spatial.behaviors``).

* :mod:`.vocabulary`: the cell types, signals and behaviours rules may name,
  with units, and the PhysiCell names that map to nothing in tmesim;
* :mod:`.reader`: :func:`read_rules` -> :class:`RuleSet` of :class:`Rule`;
* :mod:`.evaluate`: :func:`compile_rules`, :func:`evaluate_rules` (numba,
  parallel over cells) and :func:`evaluate_reference` (numpy oracle).

Imports only numpy, numba (for the evaluator, on first use), the standard
library and ``tmesim.errors``/``tmesim._jit``.
"""

from __future__ import annotations

from .reader import Rule, RuleSet, RulesWarning, UnmappedRule, parse_rules, read_rules
from .vocabulary import CELL_TYPE_INDEX, CELL_TYPE_NAMES, format_vocabulary

_LAZY = {"CompiledRules", "compile_rules", "evaluate_rules", "evaluate_reference"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module 'tmesim.rules' has no attribute {name!r}")


__all__ = ["CELL_TYPE_INDEX", "CELL_TYPE_NAMES", "CompiledRules", "Rule", "RuleSet", "RulesWarning", "UnmappedRule",
           "compile_rules", "evaluate_reference", "evaluate_rules", "format_vocabulary", "parse_rules", "read_rules"]
