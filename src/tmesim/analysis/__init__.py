"""Analysis of run outputs: per-arm summary tables and figures.

Reads only the engine's output Dataset, never the model internals.
"""

from tmesim.analysis.plots import plot_run
from tmesim.analysis.summary import summarize

__all__ = ["plot_run", "summarize"]
