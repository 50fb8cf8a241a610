"""Per-arm summary table of a run.

Reads only the results contract (:mod:`tmesim.results`, docs/architecture.md):
dimensions ``arm``, ``patient`` and ``time`` (days), cell counts in cells, T
cells by lineage and state, ``solver_status`` on ``(arm, patient)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from tmesim.errors import InputError
from tmesim.results import TERMINAL_STATE, death_variables, failed, successful, t_cell_count


def safe_ratio(numerator: xr.DataArray, denominator: xr.DataArray) -> xr.DataArray:
    """Element-wise ratio that is NaN, without a warning, where the denominator is not positive.

    Parameters
    ----------
    numerator, denominator
        Arrays in the same unit (e.g. cells).

    Returns
    -------
    xarray.DataArray
        ``numerator / denominator`` (dimensionless), NaN where ``denominator <= 0``.
    """
    return numerator / denominator.where(denominator > 0)


def terminal_exhaustion_fraction(ds: xr.Dataset) -> xr.DataArray:
    """Fraction of non-regulatory T cells that are terminally exhausted.

    The run summary's measure: every lineage and every state, anergic and
    senescent cells included. The findings' per-lineage measure
    (:func:`tmesim.reproduce.findings.terminal_fraction`) counts only the
    states of :data:`T_CELL_PATH_STATES`, because exhaustion drivers also
    move cells into anergy, and a share of all cells would then mix the two.

    Parameters
    ----------
    ds
        Engine output.

    Returns
    -------
    xarray.DataArray
        Terminal-exhausted / all non-Treg T cells (endogenous and CAR, CD8 and
        CD4), dimensionless, on ``(arm, patient, time)``. NaN where there are
        no T cells (or no T cell variables at all).
    """
    if "t_cells" not in ds:
        template = ds["tumor_live"] if "tumor_live" in ds else next(iter(ds.data_vars.values()))
        return xr.full_like(template, np.nan, dtype=float)
    fraction = safe_ratio(t_cell_count(ds, state=TERMINAL_STATE), t_cell_count(ds))
    fraction.attrs = {
        "units": "1",
        "long_name": "terminally exhausted fraction of T cells",
        "group": "t_cells",
    }
    return fraction


def per_patient_metrics(ds: xr.Dataset) -> xr.Dataset:
    """Summary metrics of every ``(arm, patient)`` trajectory.

    Parameters
    ----------
    ds
        Engine output; ``tumor_live`` (cells) on ``(arm, patient, time)``, time
        in days.

    Returns
    -------
    xarray.Dataset
        On ``(arm, patient)``: ``tumor_final_cells``, ``tumor_min_cells``,
        ``tumor_auc_cell_days`` (trapezoid rule over time), ``tumor_change_pct``
        (final vs first time point, percent), ``<deaths_variable>_cells``
        (final cumulative deaths), ``terminal_exhaustion_fraction`` (final,
        dimensionless).
    """
    if "tumor_live" not in ds:
        raise InputError("dataset", "has no variable 'tumor_live'", "pass the output of simulate()")
    tumor = ds["tumor_live"]
    first, final = tumor.isel(time=0), tumor.isel(time=-1)
    metrics = {
        "tumor_final_cells": final,
        "tumor_min_cells": tumor.min("time"),
        "tumor_auc_cell_days": tumor.integrate("time"),
        "tumor_change_pct": 100.0 * (safe_ratio(final, first) - 1.0),
    }
    for name in death_variables(ds):
        metrics[f"{name}_cells"] = ds[name].isel(time=-1)
    metrics["terminal_exhaustion_fraction"] = terminal_exhaustion_fraction(ds).isel(time=-1)
    return xr.Dataset({key: value.drop_vars("time", errors="ignore") for key, value in metrics.items()})


def summarize(ds: xr.Dataset) -> pd.DataFrame:
    """Per-arm summary table of a run.

    Each metric is computed per patient and reported as the median across the
    patients whose integration succeeded (with one patient, its value).

    Parameters
    ----------
    ds
        Engine output (see ``docs/architecture.md``).

    Returns
    -------
    pandas.DataFrame
        One row per arm (index ``arm``, scenario order) with columns
        ``tumor_final_cells``, ``tumor_min_cells``, ``tumor_auc_cell_days``,
        ``tumor_change_pct`` (%), ``deaths_killing_cells``,
        ``deaths_ferroptosis_cells``, ``deaths_necrosis_cells`` (one per
        ``deaths_*`` variable present), ``terminal_exhaustion_fraction``
        (dimensionless, NaN without T cells), ``n_patients`` and ``n_failed``
        (patients with ``solver_status != 0``).

    Examples
    --------
    >>> table = summarize(ds)                                  # doctest: +SKIP
    >>> table.loc["anti-PD-1", "tumor_final_cells"]            # doctest: +SKIP
    """
    metrics = per_patient_metrics(successful(ds))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        medians = metrics.median("patient")
    table = medians.to_dataframe()
    table = table[list(metrics.data_vars)]
    table["n_patients"] = ds.sizes["patient"]
    table["n_failed"] = failed(ds).sum("patient").to_series().astype(int)
    table.index.name = "arm"
    return table
