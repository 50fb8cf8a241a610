"""``tmesim reproduce``: check that the model reproduces the findings of DESIGN.md section 6.

Each check (:class:`Finding`) compares arms of a shipped scenario over
robustness draws (every parameter scaled by an independent log-normal factor of
about +/-25%, several seeds) and holds only if its direction is right in at
least 90% of the draws. See :mod:`.findings` for the checks and :mod:`.runner`
for how they run.
"""

from tmesim.reproduce.findings import FINDINGS, Finding, MissingData, select
from tmesim.reproduce.runner import Result, evaluate, run_findings, simulate_draws, write_json

__all__ = ["FINDINGS", "Finding", "MissingData", "Result", "evaluate", "run_findings", "select", "simulate_draws",
           "write_json"]
