"""Read a PhysiCell hypothesis-rules file into immutable :class:`Rule` records.

The format is PhysiCell's "cell behaviour hypothesis grammar" (CBHG) CSV, one
rule a row (``docs/rules.md``):

* version 3 (and 2, the same layout), 8 columns: ``cell type, signal,
  increases|decreases, behavior, saturation value, half-max, Hill power,
  applies to dead (0/1)``;
* version 1, 9 columns: the same with a base value after the behaviour;
* version 0, 10 columns: ``cell type, behavior, min, base, max, signal,
  direction, half-max, Hill power, applies to dead``.

Comma- or tab-separated; lines starting with ``//`` or ``#`` are comments;
blank lines are skipped; fields are stripped; an optional header row (a first
row with no number and no direction in it) is skipped. The version comes from
the column count unless the caller names it.

Every problem is an :class:`~tmesim.errors.InputError` naming the file, the
row (its 1-based line number) and the column, with the fix; the first problem
found stops the read, as PhysiCell stops on a bad rule.
"""

from __future__ import annotations

import csv
import difflib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tmesim.errors import InputError

from . import vocabulary as vocab

if TYPE_CHECKING:
    from .evaluate import CompiledRules

#: Column names of each layout, by version (version 2 has version 3's layout).
LAYOUTS: dict[int, tuple[str, ...]] = {
    3: ("cell type", "signal", "direction", "behavior", "saturation value", "half-max", "Hill power",
        "applies to dead"),
    1: ("cell type", "signal", "direction", "behavior", "base value", "saturation value", "half-max",
        "Hill power", "applies to dead"),
    0: ("cell type", "behavior", "minimum value", "base value", "maximum value", "signal", "direction",
        "half-max", "Hill power", "applies to dead"),
}
_LAYOUT_OF_VERSION = {0: 0, 1: 1, 2: 3, 3: 3}
_VERSION_OF_COLUMNS = {len(cols): v for v, cols in LAYOUTS.items()}
_NUMERIC = {v: tuple(i for i, c in enumerate(cols) if c not in ("cell type", "signal", "direction", "behavior"))
            for v, cols in LAYOUTS.items()}
DIRECTIONS = ("increases", "decreases")


class RulesWarning(UserWarning):
    """A rules file read with something the caller should see (no rules, skipped rules)."""


@dataclass(frozen=True)
class Rule:
    """One rule: in ``cell_type``, ``signal`` ``direction`` ``behavior``.

    Attributes
    ----------
    cell_type : canonical cell type (:data:`~tmesim.rules.vocabulary.CELL_TYPE_NAMES`).
    signal : canonical signal name.
    direction : ``"increases"`` or ``"decreases"``.
    behavior : canonical behaviour name.
    saturation : the value the behaviour tends to as the signal saturates
        (PhysiCell's "max response"), in the behaviour's unit.
    half_max : signal level of half the response, in the signal's unit (> 0).
    hill_power : Hill power (> 0).
    applies_to_dead : whether the rule also acts on dead cells.
    row : 1-based line number in the file.
    file_base : the base value column of a version 0/1 file, kept for
        reference only: tmesim always takes the base from the cell program.
    """

    cell_type: str
    signal: str
    direction: str
    behavior: str
    saturation: float
    half_max: float
    hill_power: float
    applies_to_dead: bool
    row: int
    file_base: float | None = None

    @property
    def increases(self) -> bool:
        """True for an ``increases`` rule."""
        return self.direction == "increases"

    def sentence(self, pooled_saturation: float | None = None) -> str:
        """The rule in English, as PhysiCell's ``detailed_rules.txt`` writes it.

        Parameters
        ----------
        pooled_saturation : the saturation PhysiCell uses for this rule's
            (cell type, behaviour, direction) group, in the behaviour's unit,
            when other rows pool with it (see :meth:`RuleSet.pooled_saturation`);
            ``None`` or the rule's own value prints the rule's own.

        Returns
        -------
        str
            E.g. ``"In cd8_t_cell, ifng increases attack tumor from <base>
            towards 0.01 1/min with half-max 1 pM and Hill power 4; does not
            apply to dead cells."`` ``<base>`` is the behaviour's value from
            the cell's program at run time.
        """
        beh_unit = _unit(vocab.BEHAVIORS[self.behavior].unit)
        sig_unit = _unit(vocab.SIGNALS[self.signal].unit)
        base = "<base>" if self.file_base is None else f"<base> (file: {_num(self.file_base)})"
        towards = f"{_num(self.saturation)}{beh_unit}"
        if pooled_saturation is not None and pooled_saturation != self.saturation:
            which = "largest" if self.increases else "smallest"
            kind = "increasing" if self.increases else "decreasing"
            towards = (f"{_num(pooled_saturation)}{beh_unit} (the {which} saturation of the {kind} rules of "
                       f"this behaviour; this row gives {_num(self.saturation)})")
        dead = "applies to dead cells too" if self.applies_to_dead else "does not apply to dead cells"
        return (f"In {self.cell_type}, {self.signal} {self.direction} {self.behavior} from {base} towards "
                f"{towards} with half-max {_num(self.half_max)}{sig_unit} and Hill power {_num(self.hill_power)}; "
                f"{dead}.")


@dataclass(frozen=True)
class UnmappedRule:
    """A rule naming a PhysiCell signal or behaviour tmesim has no counterpart for.

    Kept (and warned about) only when the caller accepts unmapped names; it
    is never evaluated.

    Attributes
    ----------
    row : 1-based line number in the file.
    cell_type : canonical cell type.
    signal, direction, behavior : as written (normalised spacing and case).
    name : the unmapped name.
    reason : why it maps to nothing.
    """

    row: int
    cell_type: str
    signal: str
    direction: str
    behavior: str
    name: str
    reason: str

    def sentence(self) -> str:
        """One line saying which rule was skipped and why."""
        return (f"row {self.row} skipped: in {self.cell_type}, {self.signal} {self.direction} {self.behavior}: "
                f"'{self.name}' maps to nothing in tmesim ({self.reason})")


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, immutable.

    Attributes
    ----------
    source : the file (or label) they came from.
    version : the format version (as given, or 3, 1 or 0 from the column
        count); ``None`` when the file has no rule rows.
    header : whether a header row was skipped.
    rules : the rules, in file order (a legacy ``phagocytose dead cell`` row
        gives three).
    unmapped : rules skipped because they name PhysiCell signals or
        behaviours that map to nothing (only with ``accept_unmapped``).
    warnings : what the caller should show the user (no rules; skipped rules).
    """

    source: str
    version: int | None
    header: bool
    rules: tuple[Rule, ...]
    unmapped: tuple[UnmappedRule, ...] = ()
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    @property
    def cell_types(self) -> tuple[str, ...]:
        """Cell types with at least one rule, in the vocabulary's order."""
        present = {r.cell_type for r in self.rules}
        return tuple(t for t in vocab.CELL_TYPE_NAMES if t in present)

    def pooled_saturation(self, rule: Rule) -> float:
        """The saturation PhysiCell 1.14 uses for ``rule``'s direction of its behaviour.

        PhysiCell keeps one maximum and one minimum per (cell type,
        behaviour): each increasing row raises the maximum to its value if
        larger, each decreasing row lowers the minimum if smaller. So the
        increasing rules pool towards the largest of their saturation values,
        the decreasing ones towards the smallest (see ``docs/rules.md``).

        Parameters
        ----------
        rule : one of this set's rules.

        Returns
        -------
        float
            In the behaviour's unit.
        """
        values = [r.saturation for r in self.rules if (r.cell_type, r.behavior, r.direction)
                  == (rule.cell_type, rule.behavior, rule.direction)]
        return max(values) if rule.increases else min(values)

    def sentences(self) -> list[str]:
        """Every rule in English (:meth:`Rule.sentence`), in file order (skipped rules are in :attr:`warnings`)."""
        return [r.sentence(self.pooled_saturation(r)) for r in self.rules]

    def compile(self, *, signal_names=None, behavior_names=None) -> CompiledRules:
        """Flatten the rules for the evaluator (:func:`tmesim.rules.evaluate.compile_rules`)."""
        from .evaluate import compile_rules

        return compile_rules(self.rules, signal_names=signal_names, behavior_names=behavior_names)


def _num(x: float) -> str:
    """Shortest readable text of ``x`` that reads back as ``x`` (0.01, 4, 9e+09, 0.0123456789)."""
    short = f"{x:.6g}"
    return short if float(short) == x else repr(x)


def _unit(unit: str) -> str:
    return "" if unit == "1" else f" {unit}"


def _parse_version(version) -> int | None:
    if version is None:
        return None
    fix = "give 0, 1, 2 or 3 (the rules format version), or leave it out to detect it from the column count"
    try:
        v = float(str(version).strip())
    except ValueError:
        raise InputError("version", f"got {version!r}", fix) from None
    if v not in (0.0, 1.0, 2.0, 3.0):
        raise InputError("version", f"got {version!r}", fix)
    return int(v)


def _split(line: str) -> list[str]:
    """Fields of one line: comma-separated, else tab-separated (as PhysiCell tries)."""
    candidates = []
    for delim in (",", "\t"):
        if delim in line:
            candidates.append([f.strip() for f in next(csv.reader([line], delimiter=delim))])
    for fields in candidates:
        if len(fields) in _VERSION_OF_COLUMNS:
            return fields
    return candidates[0] if candidates else [line.strip()]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(fields: list[str]) -> bool:
    """A first row with no number, no direction and no cell type first is a header."""
    try:
        vocab.resolve_cell_type(fields[0])
        return False
    except vocab.UnknownName:
        pass
    return not any(_is_number(f) or vocab.normalize(f) in DIRECTIONS for f in fields)


class _Reader:
    def __init__(self, source: str, version: int | None, accept_unmapped: bool):
        self.source = source
        self.version = version
        self.layout = None if version is None else _LAYOUT_OF_VERSION[version]
        self.layout_row: int | None = None
        self.accept_unmapped = accept_unmapped
        self.rules: list[Rule] = []
        self.unmapped: list[UnmappedRule] = []
        self.warnings: list[str] = []
        self.seen: dict[tuple, int] = {}
        self.header = False

    # ---- locations and errors ----
    def where(self, row: int, col: int | None = None) -> str:
        text = f"{self.source} row {row}"
        if col is not None:
            text += f" column {col + 1} ({LAYOUTS[self.layout][col]})"
        return text

    def columns_error(self, row: int, fields: list[str]) -> InputError:
        n = len(fields)
        trailing = " (the last field is empty: remove the trailing delimiter)" if fields and fields[-1] == "" else ""
        if self.layout is None:
            problem = f"{n} columns; a rule has 8 (version 2/3), 9 (version 1) or 10 (version 0)"
            fix = "version 3: " + ", ".join(LAYOUTS[3]) + trailing
        else:
            cols = LAYOUTS[self.layout]
            since = (f"version {self.version}" if self.layout_row is None
                     else f"row {self.layout_row} (version {self.version})")
            problem = f"{n} columns, but {since} has {len(cols)}"
            fix = "columns: " + ", ".join(cols) + trailing
        return InputError(self.where(row), problem, fix)

    # ---- rows ----
    def read(self, text: str) -> RuleSet:
        first = True
        for row, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("//") or line.startswith("#"):
                continue
            fields = _split(line)
            if all(f == "" for f in fields):
                continue  # a spreadsheet's empty row: ",,,,,,,"
            if first:
                first = False
                if _is_header(fields):
                    self.header = True
                    continue
            if self.layout is None:
                if len(fields) not in _VERSION_OF_COLUMNS:
                    raise self.columns_error(row, fields)
                self.layout = self.version = _VERSION_OF_COLUMNS[len(fields)]
                self.layout_row = row
            elif len(fields) != len(LAYOUTS[self.layout]):
                raise self.columns_error(row, fields)
            self.row(row, fields)
        if not self.rules and not self.unmapped:
            self.warn(f"{self.source}: no rules (only comments, blank lines or a header)")
        return RuleSet(self.source, self.version, self.header, tuple(self.rules), tuple(self.unmapped),
                       tuple(self.warnings))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def col(self, name: str) -> int:
        return LAYOUTS[self.layout].index(name)

    def row(self, row: int, fields: list[str]) -> None:
        for i, f in enumerate(fields):
            if f == "":
                raise InputError(self.where(row, i), "is empty", "every column of a rule needs a value")
        # names, in column order of the version 3 layout
        c_type, c_sig, c_dir, c_beh = (self.col(n) for n in ("cell type", "signal", "direction", "behavior"))
        cell_type = self.cell_type(row, c_type, fields[c_type])
        signal, sig_unmapped = self.signal(row, c_sig, fields[c_sig], cell_type)
        direction = self.direction(row, c_dir, fields[c_dir])
        behaviors, beh_unmapped = self.behavior(row, c_beh, fields[c_beh], cell_type)

        # numbers, in column order
        values = {}
        for i in _NUMERIC[self.layout]:
            values[LAYOUTS[self.layout][i]] = self.number(row, i, fields[i])
        c_hm, c_hp, c_dead = (self.col(n) for n in ("half-max", "Hill power", "applies to dead"))
        if values["half-max"] <= 0:
            unit = "" if signal is None else f" ({signal.unit})"
            raise InputError(self.where(row, c_hm), f"must be > 0, got {fields[c_hm]}",
                             f"the half-max is the signal level of half the response, in the signal's unit{unit}")
        if values["Hill power"] <= 0:
            raise InputError(self.where(row, c_hp), f"must be > 0, got {fields[c_hp]}",
                             "the Hill power sets how sharp the response is: 1 graded, 4-8 switch-like")
        if values["applies to dead"] not in (0.0, 1.0):
            raise InputError(self.where(row, c_dead), f"must be 0 or 1, got {fields[c_dead]!r}",
                             "write 1 if the rule also acts on dead cells, 0 if only on live cells")
        if self.layout == 0:
            c_sat = self.col("maximum value" if direction == "increases" else "minimum value")
        else:
            c_sat = self.col("saturation value")
        saturation = values[LAYOUTS[self.layout][c_sat]]
        file_base = values.get("base value")

        if sig_unmapped or beh_unmapped:
            entry, text = sig_unmapped or beh_unmapped
            self.remember(row, (cell_type, vocab.normalize(fields[c_beh]), vocab.normalize(fields[c_sig]),
                                direction), f"{fields[c_sig]} {direction} {fields[c_beh]}", cell_type)
            skipped = UnmappedRule(row, cell_type, vocab.normalize(fields[c_sig]), direction,
                                   vocab.normalize(fields[c_beh]), text, entry.reason)
            self.unmapped.append(skipped)
            self.warn(f"{self.source}: {skipped.sentence()}")
            return
        for beh in behaviors:
            if not beh.lower <= saturation <= beh.upper:
                raise InputError(self.where(row, c_sat),
                                 f"{fields[c_sat]} is outside the values '{beh.name}' can take "
                                 f"({vocab.format_range(beh.lower, beh.upper)}, {beh.unit})",
                                 "give a saturation value in that range")
        for beh in behaviors:
            self.remember(row, (cell_type, beh.name, signal.name, direction),
                          f"{signal.name} {direction} {beh.name}", cell_type)
            self.rules.append(Rule(cell_type, signal.name, direction, beh.name, saturation, values["half-max"],
                                   values["Hill power"], values["applies to dead"] == 1.0, row, file_base))

    def remember(self, row: int, key: tuple, what: str, cell_type: str) -> None:
        if key in self.seen:
            raise InputError(self.where(row), f"repeats row {self.seen[key]}: in {cell_type}, {what}",
                             "PhysiCell stops on a repeated (cell type, signal, direction, behaviour); "
                             "delete one of the two rows")
        self.seen[key] = row

    # ---- fields ----
    def cell_type(self, row: int, col: int, text: str) -> str:
        try:
            return vocab.resolve_cell_type(text)
        except vocab.UnknownName as exc:
            raise InputError(self.where(row, col), f"unknown cell type {text!r}",
                             _did_you_mean(exc.suggestions, "cell types: " + ", ".join(vocab.CELL_TYPE_NAMES)))

    def signal(self, row: int, col: int, text: str, cell_type: str):
        try:
            return vocab.resolve_signal(text, cell_type), None
        except vocab.UnmappedName as exc:
            return None, self.unmapped_name(row, col, exc)
        except vocab.NotForCellType as exc:
            raise InputError(self.where(row, col), f"signal '{exc.entry.name}' does not exist in {cell_type} "
                             f"cells: {exc.why}", "use a signal of this cell type (see 'tmesim rules vocabulary')")
        except vocab.UnknownName as exc:
            raise InputError(self.where(row, col), f"unknown signal {text!r}",
                             _did_you_mean(exc.suggestions, "see 'tmesim rules vocabulary' for the signals"))

    def behavior(self, row: int, col: int, text: str, cell_type: str):
        try:
            behaviors = vocab.resolve_behavior(text, cell_type)
        except vocab.UnmappedName as exc:
            return (), self.unmapped_name(row, col, exc)
        except vocab.NotForCellType as exc:
            raise InputError(self.where(row, col), f"behaviour '{exc.entry.name}' does not exist in {cell_type} "
                             f"cells: {exc.why}", "use a behaviour of this cell type (see 'tmesim rules vocabulary')")
        except vocab.ReadOnlyState as exc:
            fix = (f"to act on it, use {_quoted(exc.acting)}" if exc.acting
                   else f"use custom:{exc.state} as a signal instead")
            raise InputError(self.where(row, col), f"custom:{exc.state} is a state rules may read but not set", fix)
        except vocab.UnknownName as exc:
            raise InputError(self.where(row, col), f"unknown behaviour {text!r}",
                             _did_you_mean(exc.suggestions, "see 'tmesim rules vocabulary' for the behaviours"))
        for beh in behaviors:
            if beh.name == f"transform to {cell_type}":
                raise InputError(self.where(row, col), f"a {cell_type} cell cannot transform to its own type",
                                 "name another cell type")
        return behaviors, None

    def unmapped_name(self, row: int, col: int, exc: vocab.UnmappedName):
        entry = exc.entry
        if not self.accept_unmapped:
            fix = (f"{entry.fix}, or delete the row" if entry.fix else "delete the row") + (
                ", or skip it with a warning: --accept-unmapped, accept_unmapped=True")
            raise InputError(self.where(row, col), f"'{vocab.normalize(exc.text)}' is a PhysiCell {_kind(entry.kind)} "
                             f"that maps to nothing in tmesim: {entry.reason}", fix)
        return entry, vocab.normalize(exc.text)

    def direction(self, row: int, col: int, text: str) -> str:
        key = vocab.normalize(text)
        if key in DIRECTIONS:
            return key
        near = tuple(difflib.get_close_matches(key, DIRECTIONS, n=1, cutoff=0.5))
        raise InputError(self.where(row, col), f"must be 'increases' or 'decreases', got {text!r}",
                         _did_you_mean(near, "write increases or decreases"))

    def number(self, row: int, col: int, text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise InputError(self.where(row, col), f"{text!r} is not a number",
                             "write a decimal number such as 0.01 or 1e-3") from None
        if not math.isfinite(x):
            raise InputError(self.where(row, col), f"must be a finite number, got {text!r}",
                             "write a finite number (a large one such as 1e9 for a near-certain event)")
        return x


def _kind(kind: str) -> str:
    return "behaviour" if kind == "behavior" else kind


def _quoted(names) -> str:
    return " or ".join(f"'{n}'" for n in names)


def _did_you_mean(suggestions, otherwise: str) -> str:
    if suggestions:
        return f"did you mean {_quoted(suggestions)}?"
    return otherwise


def parse_rules(text: str, *, source: str = "<rules>", version=None, accept_unmapped: bool = False) -> RuleSet:
    """Parse the text of a rules file.

    Parameters
    ----------
    text : the file's contents.
    source : name used in error messages (normally the file's path).
    version : the format version, 0, 1, 2 or 3 (int or text such as
        ``"3.0"``); ``None`` detects it from the column count of the first
        rule (8: version 3, 9: version 1, 10: version 0).
    accept_unmapped : skip rules naming PhysiCell signals or behaviours that
        map to nothing in tmesim, with a :class:`RulesWarning` each, instead
        of raising.

    Returns
    -------
    RuleSet
        The rules (an empty set, with a warning, when there are none).

    Raises
    ------
    InputError
        The first bad row, naming the source, row and column, with the fix.
    """
    rules = _Reader(source, _parse_version(version), accept_unmapped).read(text)
    _emit(rules)
    return rules


def _emit(rules: RuleSet) -> None:
    """Issue the rule set's warnings as :class:`RulesWarning`, attributed to the caller of the public function."""
    for message in rules.warnings:
        warnings.warn(message, RulesWarning, stacklevel=3)


def read_rules(path, *, version=None, accept_unmapped: bool = False) -> RuleSet:
    """Read a rules file (PhysiCell's CBHG CSV).

    Parameters
    ----------
    path : the file (str or Path). UTF-8; a byte-order mark is ignored.
    version, accept_unmapped : as :func:`parse_rules`.

    Returns
    -------
    RuleSet
        The rules, immutable; ``.compile()`` flattens them for the evaluator.

    Raises
    ------
    InputError
        A missing or unreadable file, or the first bad row.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), "no such rules file", "check the path")
    if p.is_dir():
        raise InputError(str(p), "is a directory, not a rules file", "give the CSV file itself")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(p), f"is not UTF-8 text (byte {exc.start})", "save the rules as UTF-8 CSV") from None
    except OSError as exc:
        raise InputError(str(p), f"cannot be read ({exc.strerror})", "check the file's permissions") from None
    rules = _Reader(str(p), _parse_version(version), accept_unmapped).read(text)
    _emit(rules)
    return rules
