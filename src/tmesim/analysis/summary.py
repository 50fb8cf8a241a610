"""Per-arm summary table of a run.

Reads only the engine's output Dataset (see ``docs/architecture.md``, "Engine
contract"): dimensions ``arm``, ``patient`` and ``time`` (days), cell counts in
cells, ``solver_status`` on ``(arm, patient)``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from tmesim.errors import InputError

#: Non-regulatory T cell lineages and states, in display order. A state
#: variable is named ``<lineage>_<state>``; ``treg`` is not among them.
T_CELL_LINEAGES = ("cd8", "cd4", "car_cd8", "car_cd4")
T_CELL_STATES = ("stem_memory", "effector", "progenitor_exhausted", "terminal_exhausted", "anergic", "senescent")
#: The states on the differentiation path (stem-like memory -> effector ->
#: progenitor exhausted -> terminally exhausted); anergic and senescent cells
#: have left it.
T_CELL_PATH_STATES = T_CELL_STATES[:4]
_T_CELL_STATE = re.compile(
    rf"^(?P<lineage>{'|'.join(T_CELL_LINEAGES)})_(?P<state>{'|'.join(T_CELL_STATES)})$"
)

TERMINAL_STATE = "terminal_exhausted"
DEATHS_PREFIX = "deaths_"


def t_cell_states(ds: xr.Dataset) -> dict[str, tuple[str, str]]:
    """Find the non-regulatory T cell state variables of a run.

    Parameters
    ----------
    ds
        Engine output.

    Returns
    -------
    dict
        Variable name -> ``(lineage, state)``, e.g.
        ``"car_cd8_terminal_exhausted" -> ("car_cd8", "terminal_exhausted")``,
        in the Dataset's variable order. Lineages are ``cd8``, ``cd4``,
        ``car_cd8`` and ``car_cd4``; ``treg`` is never included.
    """
    found = {}
    for name in ds.data_vars:
        match = _T_CELL_STATE.match(str(name))
        if match:
            found[str(name)] = (match["lineage"], match["state"])
    return found


#: Prefix of the CAR T pool's mean exhaustion-axis variables (``car_t_bach2``, ...).
CAR_AXIS_PREFIX = "car_t_"
#: Groups of the tumour cells' mean intracellular state (SLC7A11, GSH, STAT1, ...).
TUMOR_STATE_GROUPS = ("tumor_signalling", "tumor_ferroptosis")


def car_t_cells(ds: xr.Dataset) -> xr.DataArray:
    """CAR T cells (cells): every state of the ``car_cd8`` and ``car_cd4`` lineages, 0 when the run has none."""
    names = [name for name, (lineage, _) in t_cell_states(ds).items() if lineage.startswith("car_")]
    return sum((ds[name] for name in names), xr.zeros_like(ds["time"], dtype=float))


def mask_empty_pool(ds: xr.Dataset, da: xr.DataArray, car_pool: xr.DataArray | None = None) -> xr.DataArray:
    """``da`` with NaN wherever it is the mean state of a pool that holds under one cell.

    The pools are the CAR T cells (variables ``car_t_*``) and the live tumour
    cells (groups in :data:`TUMOR_STATE_GROUPS`). The engine keeps the mean
    state of an empty pool defined (before infusion, in an arm without CAR T
    cells, after a tumour is cleared), and drugs still act on it; it is not
    data. Other variables are returned unchanged. ``car_pool`` is
    :func:`car_t_cells` of ``ds`` when the caller already has it (masking
    several CAR variables of a large cohort then sums the pool once).
    """
    if str(da.name).startswith(CAR_AXIS_PREFIX):
        pool = car_t_cells(ds) if car_pool is None else car_pool
    elif da.attrs.get("group") in TUMOR_STATE_GROUPS and "tumor_live" in ds:
        pool = ds["tumor_live"]
    else:
        return da
    return da.where(pool >= 1.0)


def death_variables(ds: xr.Dataset) -> list[str]:
    """Names of the cumulative death-count variables (``deaths_*``), in Dataset order.

    Parameters
    ----------
    ds
        Engine output.

    Returns
    -------
    list of str
        E.g. ``["deaths_killing", "deaths_ferroptosis", "deaths_necrosis"]``.
    """
    return [str(name) for name in ds.data_vars if str(name).startswith(DEATHS_PREFIX)]


def successful(ds: xr.Dataset) -> xr.Dataset:
    """Mask the trajectories of patients whose integration failed.

    Parameters
    ----------
    ds
        Engine output with ``solver_status`` on ``(arm, patient)``.

    Returns
    -------
    xarray.Dataset
        The same Dataset with every ``(arm, patient)`` whose ``solver_status``
        is nonzero set to NaN, so medians and quantiles skip it (``ds``
        itself, not a copy, when every integration succeeded).
    """
    ok = ds["solver_status"] == 0
    return ds if bool(ok.all()) else ds.where(ok)


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
    states = t_cell_states(ds)
    template = ds["tumor_live"] if "tumor_live" in ds else next(iter(ds.data_vars.values()))
    if not states:
        return xr.full_like(template, np.nan, dtype=float)
    total = sum(ds[name] for name in states)
    terminal = sum(
        (ds[name] for name, (_, state) in states.items() if state == TERMINAL_STATE),
        xr.zeros_like(total),
    )
    fraction = safe_ratio(terminal, total)
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
    table["n_failed"] = (ds["solver_status"] != 0).sum("patient").to_series().astype(int)
    table.index.name = "arm"
    return table
