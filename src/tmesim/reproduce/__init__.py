"""``tmesim reproduce``: check that the model reproduces the findings of DESIGN.md section 6.

Each check (:class:`Finding`) compares arms of a shipped scenario over
robustness draws (every parameter scaled by an independent log-normal factor of
about +/-25%, several seeds) and holds only if its direction is right in at
least 90% of the draws. Each required check names the :class:`Mechanism` it
claims (or is structural: true by construction); its control reruns the same
draws with that mechanism cut, and the check is ``mechanistic`` only if it then
fails (see :func:`classify`). The calibration ledger (:mod:`.ledger`) says
whether anything was calibrated on it (``fitted``) or not (``predicted``), and
:mod:`.effects` what the literature says of its effect's size (a magnitude to
compare with, or "direction only"). See
:mod:`.findings` for the checks and :mod:`.runner` for how they run.
"""

from tmesim.reproduce.findings import FINDINGS, Finding, Mechanism, MissingData, select
from tmesim.reproduce.runner import KINDS, Result, classify, evaluate, run_findings, simulate_draws, write_json

__all__ = ["FINDINGS", "Finding", "KINDS", "Mechanism", "MissingData", "Result", "classify", "evaluate", "run_findings",
           "select", "simulate_draws", "write_json"]
