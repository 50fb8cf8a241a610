"""Exceptions that carry a one-line, user-facing message.

The CLI turns :class:`InputError` into a single line on stderr and exit code 2,
and :class:`SimulationError` into a single line and exit code 3. Library users
catch them as ordinary exceptions.
"""

from __future__ import annotations


class TmesimError(Exception):
    """Base class of every error tmesim raises on purpose."""


class InputError(TmesimError, ValueError):
    """Bad user input: a scenario, parameter, unit, file or command-line value.

    Parameters
    ----------
    field
        Where the problem is, e.g. ``"arms[1].doses[0].dose"`` or
        ``"parameters.tumor_growth_rate"``.
    problem
        What is wrong, e.g. ``"must be >= 0, got -3"``.
    fix
        Optional hint, e.g. ``"did you mean 'tumor_growth_rate'?"``.
    """

    def __init__(self, field: str, problem: str, fix: str | None = None):
        self.field = field
        self.problem = problem
        self.fix = fix
        msg = f"{field}: {problem}" if field else problem
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class SimulationError(TmesimError, RuntimeError):
    """A run that went numerically wrong (NaN, negative population, solver failure)."""
