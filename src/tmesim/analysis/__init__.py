"""Analysis of run outputs: per-arm summary tables and figures.

Reads only the results contract (:mod:`tmesim.results`), never the model internals.
"""

from pathlib import Path

from tmesim.analysis.plots import plot_run
from tmesim.analysis.summary import summarize

SUMMARY_FILE = "summary.csv"
FIGURES_DIR = "figures"

__all__ = ["FIGURES_DIR", "SUMMARY_FILE", "plot_run", "summarize", "write_analysis"]


def write_analysis(ds, folder: Path, progress=None) -> list[Path]:
    """Write a run's analysis into ``folder``: ``summary.csv`` (:func:`summarize`) and ``figures/*.png``
    (:func:`plot_run`, which calls ``progress(done, total)`` as it draws). Returns the files written."""
    folder = Path(folder)
    summarize(ds).to_csv(folder / SUMMARY_FILE)
    return [folder / SUMMARY_FILE, *plot_run(ds, folder / FIGURES_DIR, progress=progress)]
