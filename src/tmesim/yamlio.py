"""Strict reading of the YAML files users write (scenarios, parameter sets).

PyYAML's ``safe_load`` is lenient where a typo costs a result: a repeated key
silently replaces the first (an arm's second ``doses:`` dropped the first
list), a binary or non-UTF-8 file ends in a ``UnicodeDecodeError`` traceback
and a deeply nested document in a ``RecursionError``. :func:`load_text` and
:func:`read_text` turn each into an :class:`~tmesim.errors.InputError` naming
the file and the line, and :func:`load_text` also returns the line of every
key and item (``{path: line}``) so that a schema error further on can name
the line too (:func:`line_of`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

#: libyaml's parser where PyYAML has it (parameter sets are long: ~0.1 s a set in pure Python).
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Largest file read (bytes): a scenario or a parameter set is a few tens of kB.
MAX_BYTES = 5 * 1024 * 1024
#: Deepest nesting of mappings and lists accepted (a scenario needs 5 levels, a parameter set 3).
MAX_DEPTH = 50

Path_ = tuple[str | int, ...]


class _StrictLoader(_BASE):  # type: ignore[misc, valid-type]
    """Safe loader that refuses a key repeated in one mapping."""

    where = ""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value  # as written; 'a' and "a" are one key
                else:
                    raise InputError(f"{self.where}, line {key_node.start_mark.line + 1}",
                                     "a mapping key must be a plain value, not a list or mapping")
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise InputError(f"{self.where}, line {line}", f"duplicate key {key!r} (first given at line "
                                     f"{seen[key]})", "give each key once; the second would silently replace the first")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_text(path: str | Path, what: str) -> str:
    """The text of a user's file, or :class:`InputError` naming ``what`` (e.g. ``"scenario"``) when
    it is missing, a directory, unreadable, too large, binary or not UTF-8 (with the line of the
    first bad byte)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(what, f"{p} is a directory, not a file", "give the path of a YAML file")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(what, f"file not found: {p}") from None
    except OSError as exc:
        raise InputError(what, f"cannot read {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise InputError(what, f"{p} is {len(data) / 1e6:.1f} MB, more than a YAML {what} can be "
                         f"({MAX_BYTES / 1e6:.0f} MB)", "is this the right file?")
    return decode(data, str(p))


def shipped(folder) -> list[tuple[str, str]]:
    """``(name, description)`` of every YAML file shipped in ``folder`` (an importlib resource), by file name;
    the description's whitespace collapsed to single spaces."""
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            doc = yaml.load(entry.read_text(), Loader=_BASE)
            out.append((entry.name[:-5], " ".join(str(doc.get("description", "")).split())))
    return out


def shipped_or_file(name_or_path: Any, folder, what: str) -> tuple[str, str, Path]:
    """``(text, where, path)`` of a user's YAML file or of the one shipped in ``folder`` by that name.

    A name with a ``.yaml``/``.yml`` suffix or a folder in it, or an existing file, is a path (read by
    :func:`read_text`); anything else is the name of a shipped file, and an unknown name is an
    :class:`InputError` naming ``what`` (e.g. ``"scenario"``) with the nearest shipped name or the list.
    """
    if not isinstance(name_or_path, (str, Path)):
        raise InputError(what, f"expected a {what.replace('_', ' ')} name or a path, got {type(name_or_path).__name__}")
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml") or len(p.parts) > 1 or p.exists():
        return read_text(p, what), str(p), p
    entry = folder.joinpath(f"{name_or_path}.yaml")
    if not entry.is_file():
        known = [n for n, _ in shipped(folder)]
        close = difflib.get_close_matches(str(name_or_path), known, n=1, cutoff=0.6)
        raise InputError(what, f"unknown {what.replace('_', ' ')} {str(name_or_path)!r}",
                         f"did you mean {close[0]!r}?" if close else f"shipped: {', '.join(known)}")
    return entry.read_text(), str(name_or_path), Path(str(entry))


def decode(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped), or :class:`InputError` naming the
    line of a NUL byte (a binary file) or of the first byte that is not UTF-8."""
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise InputError(f"{where}, line {line}", "not a text file (it holds a NUL byte)", "give a YAML text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{where}, line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
                         "save the file as UTF-8") from None


def _too_deep(text: str, where: str) -> InputError | None:
    """An error naming the line where nesting first exceeds :data:`MAX_DEPTH`, else None (an event
    scan: iterative, so it cannot itself exceed Python's recursion limit)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_BASE):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return InputError(f"{where}, line {event.start_mark.line + 1}",
                                      f"nested more than {MAX_DEPTH} levels deep", "is this the right file?")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


def _lines(node, where: str) -> dict[Path_, int]:
    """``{path: line}`` of every key and item below ``node`` (iteratively); :class:`InputError` where
    the nesting first exceeds :data:`MAX_DEPTH`."""
    out: dict[Path_, int] = {}
    stack = [(node, ())]
    while stack:
        current, here = stack.pop()
        if len(here) >= MAX_DEPTH and isinstance(current, (yaml.MappingNode, yaml.SequenceNode)):
            raise InputError(f"{where}, line {current.start_mark.line + 1}", f"nested more than {MAX_DEPTH} levels deep",
                             "is this the right file?")
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode):
                    p = here + (key_node.value,)
                    out[p] = key_node.start_mark.line + 1
                    stack.append((value_node, p))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                p = here + (i,)
                out[p] = item.start_mark.line + 1
                stack.append((item, p))
    return out


def load_text(text: str, where: str) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML document strictly: ``(data, {path: line})``.

    Raises :class:`InputError` naming ``where`` and the line for malformed
    YAML, a repeated key, or nesting deeper than :data:`MAX_DEPTH`.
    """
    loader = _StrictLoader(text)
    loader.where = where
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _lines(node, where)  # before constructing: refuses a document nested too deeply
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        at = f", line {mark.line + 1}" if mark else ""
        if problem and "nesting depth" in problem:  # libyaml's own limit (1000 levels)
            raise InputError(f"{where}{at}", f"nested more than {MAX_DEPTH} levels deep", "is this the right file?") from None
        raise InputError(f"{where}{at}", "malformed YAML" + (f": {problem}" if problem else ""),
                         "check the indentation and brackets there") from None
    except RecursionError:  # PyYAML's pure-Python parser recurses once per level
        raise _too_deep(text, where) or InputError(where, f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
    return data, lines


def line_of(lines: dict[Path_, int], loc) -> int | None:
    """The line of the longest prefix of ``loc`` (a pydantic error location) that ``lines`` holds."""
    loc = tuple(loc)
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None
