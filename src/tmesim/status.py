"""Integration status of one simulated row (an arm x patient): a value, not an exception.

Engines report a status per row instead of raising, so one failed patient
never stops a cohort; the results carry it as ``solver_status`` (with CF
``flag_values``/``flag_meanings``) and ``solver_message``. Compiled code
compares against these integer values.
"""

from __future__ import annotations

from enum import IntEnum


class SolverStatus(IntEnum):
    """Why a row's integration ended."""

    OK = 0
    MAX_STEPS = 1
    STEP_SIZE = 2
    NONFINITE = 3

    @property
    def message(self) -> str:
        """What the status means, in a sentence a user can act on."""
        return _MESSAGES[self]


_MESSAGES = {
    SolverStatus.OK: "ok",
    SolverStatus.MAX_STEPS: "too many steps (the system may be too stiff or oscillating)",
    SolverStatus.STEP_SIZE: "step size underflow: the error could not be controlled",
    SolverStatus.NONFINITE: "a variable became NaN, infinite or negative",
}
