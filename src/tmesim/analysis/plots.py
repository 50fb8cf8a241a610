"""Figures of a run, read from the engine's output Dataset.

Each figure has a builder ``figure_<name>(ds, colours) -> Figure | None`` that
returns ``None`` when the run has none of the figure's variables;
:func:`plot_run` saves every figure that exists as ``<name>.png``. Variables are
chosen by their ``group`` attribute where the contract gives one, axes are
labelled from ``long_name`` and ``units``, and each arm keeps one colour in
every figure. With more than one patient, lines are the median across patients
and the shaded band is the interquartile range (the legend says so). Cell
counts are drawn on log axes from 0.1 cell; other axes print each tick's
value in full (no offset or exponent above the axis). A pool or death mode
that never reaches one cell in any arm is left out (no empty panels or lines
at zero).

Figures are built as :class:`matplotlib.figure.Figure` objects, which render
with the Agg backend and never enter pyplot's global state, so nothing needs
closing and the module is safe on headless machines and in threads.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import matplotlib
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from tmesim.analysis.summary import safe_ratio
from tmesim.biology.programs.t_cell import STATES as T_CELL_STATES
from tmesim.results import T_CELL_LINEAGES, car_t_cells, death_variables, mask_empty_pool, successful, t_pools, variable

Colours = dict[str, tuple[float, float, float]]

#: Preferred panel order of the tumour ferroptosis axis; other variables of the
#: group follow in Dataset order.
FERROPTOSIS_ORDER = (
    "tumor_slc7a11",
    "tumor_cystine_uptake",
    "tumor_gsh",
    "tumor_gpx4_activity",
    "tumor_lipid_peroxide",
)
LINEAGE_STYLES = {"cd8": "-", "cd4": "--", "car_cd8": ":", "car_cd4": "-."}
LINEAGE_LABELS = {"cd8": "CD8", "cd4": "CD4", "car_cd8": "CAR CD8", "car_cd4": "CAR CD4"}
DIMENSIONLESS = {"", "1", "dimensionless"}
CELL_UNITS = {"cell", "cells"}
PANEL_SIZE_IN = (4.2, 3.0)
DPI = 150


def arm_colours(ds: xr.Dataset) -> Colours:
    """One colour per arm, in scenario order, shared by every figure.

    Parameters
    ----------
    ds
        Engine output with an ``arm`` coordinate.

    Returns
    -------
    dict
        Arm label -> RGB tuple from matplotlib's ``tab10`` cycle (``tab20``
        beyond ten arms).
    """
    arms = [str(arm) for arm in ds["arm"].values]
    palette = matplotlib.colormaps["tab10" if len(arms) <= 10 else "tab20"].colors
    return {arm: palette[i % len(palette)] for i, arm in enumerate(arms)}


def axis_label(da: xr.DataArray) -> str:
    """Axis label ``"<long_name> (<units>)"`` from a variable's attributes.

    Parameters
    ----------
    da
        Variable with optional ``long_name`` and ``units`` attributes.

    Returns
    -------
    str
        The label; the unit is left out for dimensionless quantities.
    """
    name = str(da.attrs.get("long_name", da.name))
    units = str(da.attrs.get("units", ""))
    return name if units in DIMENSIONLESS else f"{name} ({units})"


def group_variables(ds: xr.Dataset, group: str, first: Sequence[str] = ()) -> list[str]:
    """Variables whose ``group`` attribute is ``group``.

    Parameters
    ----------
    ds
        Engine output.
    group
        Group name from the engine contract, e.g. ``"cytokines"``.
    first
        Names to put first, in this order, when present.

    Returns
    -------
    list of str
        Matching variable names: ``first`` ones, then the rest in Dataset order.
    """
    members = [str(name) for name, da in ds.data_vars.items() if da.attrs.get("group") == group]
    return [name for name in first if name in members] + [name for name in members if name not in first]


def _time_label(ds: xr.Dataset) -> str:
    time = ds["time"]
    units = time.attrs.get("units", "day")
    return f"{time.attrs.get('long_name', 'time')} ({units})"


def panel_figure(n_panels: int, title: str, size: tuple[float, float] = PANEL_SIZE_IN,
                 title_in: float = 0.4) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_panels`` panels of ``size`` inches, three to a row, under ``title`` (``title_in``
    inches of room for it); returns it and the panels' axes (unused grid cells hidden)."""
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + title_in), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n_panels]


def _median_and_band(da: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray | None]:
    """Median across patients and its interquartile band (None with one patient)."""
    if "patient" not in da.dims:
        return da, None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        median = da.median("patient")
        band = da.quantile([0.25, 0.75], "patient") if da.sizes["patient"] > 1 else None
    return median, band


def _tick_label(value: float, _position=None) -> str:
    """A tick's value in full, to 3 significant digits (``2.5e9``, ``0.35``): no offset or shared exponent."""
    return f"{value:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def plain_ticks(ax: Axes) -> None:
    """Label a linear y axis tick by tick (matplotlib would move a shared offset or exponent above it)."""
    if ax.get_yscale() == "linear":
        ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))


def n_patients(ds: xr.Dataset | xr.DataArray) -> int:
    """Patients in ``ds`` (1 without a ``patient`` dimension)."""
    return int(ds.sizes.get("patient", 1))


def band_handle(n: int) -> Patch:
    """Legend entry of the shaded band: the interquartile range across ``n`` patients."""
    return Patch(facecolor="0.6", alpha=0.35, label=f"interquartile range\n({n} patients)")


def populated(da: xr.DataArray, threshold: float = 1.0) -> bool:
    """Whether a count ever reaches ``threshold`` (one cell) in some arm, patient and time."""
    return bool((da >= threshold).any())


def draw_arms(ax: Axes, da: xr.DataArray, colours: Colours, *, linestyle: str = "-", label: bool = True,
              band: bool = True) -> None:
    """Draw one line per arm (median across patients, with its IQR band).

    Parameters
    ----------
    ax
        Axes to draw into; the x axis is time in days.
    da
        Variable on ``(arm, patient, time)``.
    colours
        Arm -> colour, from :func:`arm_colours`.
    linestyle
        Matplotlib line style of every line.
    label
        Whether the lines carry the arm names for a legend.
    band
        Whether to shade the interquartile range (with more than one patient).
    """
    median, quartiles_all = _median_and_band(da)
    band = quartiles_all if band else None
    time = da["time"].values
    for arm in median["arm"].values:
        colour = colours[str(arm)]
        ax.plot(time, median.sel(arm=arm).values, color=colour, linestyle=linestyle,
                label=str(arm) if label else None)
        if band is not None:
            quartiles = band.sel(arm=arm)
            ax.fill_between(time, quartiles.isel(quantile=0).values, quartiles.isel(quantile=1).values,
                            color=colour, alpha=0.2, linewidth=0)


def _variable_grid(ds: xr.Dataset, arrays: Iterable[xr.DataArray], title: str, colours: Colours,
                   *, log_y: bool = False) -> Figure | None:
    """One panel per variable (titled by its long_name when there are several), one line per arm."""
    arrays = list(arrays)
    if not arrays:
        return None
    fig, axes = panel_figure(len(arrays), title)
    for ax, da in zip(axes, arrays):
        draw_arms(ax, da, colours)
        ax.set_xlabel(_time_label(ds))
        units = str(da.attrs.get("units", ""))
        if len(arrays) > 1:
            # the panel title names the variable; the y axis only needs its unit
            ax.set_title(textwrap.fill(str(da.attrs.get("long_name", da.name)), 40), fontsize="medium")
            ax.set_ylabel(units if units not in DIMENSIONLESS else "relative")
        else:
            ax.set_ylabel(axis_label(da))
        if log_y or (units in CELL_UNITS and populated(da)):
            # cell counts span decades (expansion, clearance)
            ax.set_yscale("log")
            floor_cell_axis(ax)
        plain_ticks(ax)
    handles, _ = axes[0].get_legend_handles_labels()
    if n_patients(ds) > 1:
        handles.append(band_handle(n_patients(ds)))
    axes[0].legend(handles=handles, title="arm", fontsize="small")
    return fig


#: Lowest cell count shown on a log axis (cells): below one cell a population
#: is gone, and the mean-field decay towards 1e-100 cells would squash the
#: rest of the axis.
CELL_AXIS_FLOOR = 0.1


def floor_cell_axis(ax: Axes) -> None:
    """Cut a log-scale cell-count axis at :data:`CELL_AXIS_FLOOR` and mark one cell.

    Does nothing when the data stay above the floor. The top is set again from the data,
    since matplotlib's log-scale margin (a share of the whole range) would otherwise keep
    the many decades the data spent below the floor (1e-240 .. 1e12 cells -> top at 1e24).
    """
    low, high = ax.get_ylim()
    if low < CELL_AXIS_FLOOR < high:
        top = ax.dataLim.y1
        decades = math.log10(top / CELL_AXIS_FLOOR) if top > CELL_AXIS_FLOOR else 1.0
        ax.set_ylim(CELL_AXIS_FLOOR, max(top, CELL_AXIS_FLOOR) * 10.0 ** (ax.margins()[1] * decades))
        ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":", zorder=0)
        ax.annotate("1 cell", (0.99, 1.0), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                    fontsize="small", color="0.4")


def figure_tumor_burden(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """Live tumour cells per arm (log scale, cells, from 0.1 cell) against time (days)."""
    if "tumor_live" not in ds:
        return None
    return _variable_grid(ds, [ds["tumor_live"]], "Tumour burden", colours, log_y=True)


def figure_death_modes(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """Cumulative tumour cell deaths (cells, log axes) by mode (killing, ferroptosis, necrosis), one panel
    per mode that kills at least one cell in some arm."""
    arrays = [ds[name] for name in death_variables(ds) if populated(ds[name])]
    return _variable_grid(ds, arrays, "Cumulative tumour cell deaths by mode", colours)


def figure_t_cell_states(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """T cells (cells, log axes) by state, one panel per state; colour = arm, line style = lineage
    (endogenous / CAR). Only pools that hold at least one cell in some arm are drawn (no CAR T lines
    in a run without CAR T cells, no stem-like memory panel without them); with a cohort, the
    interquartile band is shaded for the first lineage of each panel only (the others' bands would
    overlap into a blur), as the legend says."""
    pools = [name for name in t_pools(ds) if populated(variable(ds, name))]
    if not pools:
        return None
    lineage_of = dict(zip(ds["t_pool"].values.tolist(), ds["lineage"].values.tolist()))
    state_of = dict(zip(ds["t_pool"].values.tolist(), ds["state"].values.tolist()))
    found_lineages = {lineage_of[name] for name in pools}
    present = [state for state in T_CELL_STATES if any(state_of[name] == state for name in pools)]
    fig, axes = panel_figure(len(present), "T cell states")
    for ax, state in zip(axes, present):
        names = [name for name in pools if state_of[name] == state]
        for k, name in enumerate(names):
            draw_arms(ax, variable(ds, name), colours, linestyle=LINEAGE_STYLES[lineage_of[name]], label=False,
                      band=k == 0)
        ax.set_title(state.replace("_", " ") + ("" if len(names) < 2 or n_patients(ds) < 2
                                               else f" (band: {LINEAGE_LABELS[lineage_of[names[0]]]})"))
        ax.set_xlabel(_time_label(ds))
        ax.set_ylabel(f"T cells ({ds['t_cells'].attrs.get('units', 'cell')})")
        ax.set_yscale("log")
        floor_cell_axis(ax)
    handles = [Line2D([], [], color=colour, label=arm) for arm, colour in colours.items()]
    handles += [Line2D([], [], color="0.3", linestyle=LINEAGE_STYLES[lineage], label=LINEAGE_LABELS[lineage])
                for lineage in T_CELL_LINEAGES if lineage in found_lineages]
    if n_patients(ds) > 1:
        handles.append(band_handle(n_patients(ds)))
    axes[0].legend(handles=handles, title="arm / lineage", fontsize="small")
    return fig


def figure_ferroptosis_axis(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """Tumour ferroptosis axis: SLC7A11, cystine uptake, GSH, GPX4 activity, lipid peroxides
    (per live tumour cell; not drawn once the tumour is gone)."""
    arrays = [mask_empty_pool(ds, ds[name]) for name in group_variables(ds, "tumor_ferroptosis", FERROPTOSIS_ORDER)]
    return _variable_grid(ds, arrays, "Tumour ferroptosis axis", colours)


def figure_exhaustion_axis(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """T cell exhaustion axis: mitochondria, proteasome, free and nuclear haem, BACH2.

    A CAR T pool's panels are drawn only where the pool holds a cell (none in a run without CAR T cells).
    """
    car_pool = car_t_cells(ds)
    arrays = [mask_empty_pool(ds, ds[name], car_pool) for name in group_variables(ds, "exhaustion_axis")]
    arrays = [da for da in arrays if bool(da.notnull().any())]
    return _variable_grid(ds, arrays, "T cell exhaustion axis (mitochondria-proteasome-haem-BACH2)", colours)


def m1_fraction(ds: xr.Dataset) -> xr.DataArray:
    """M1-like share of tumour-associated macrophages, ``m1 / (m1 + m2)`` (dimensionless, NaN without TAMs)."""
    fraction = safe_ratio(ds["macrophage_m1"], ds["macrophage_m1"] + ds["macrophage_m2"])
    fraction.name = "macrophage_m1_fraction"
    fraction.attrs = {"units": "1", "long_name": "M1 fraction of TAMs", "group": "innate"}
    return fraction


def figure_macrophages(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """TAM polarisation: M1-like and M2-like macrophages (cells) and the M1 fraction."""
    arrays = [ds[name] for name in ("macrophage_m1", "macrophage_m2") if name in ds]
    if len(arrays) == 2:
        arrays.append(m1_fraction(ds))
    return _variable_grid(ds, arrays, "Tumour-associated macrophage polarisation", colours)


def figure_cytokines(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """Cytokine concentrations (group ``cytokines``), one panel each."""
    arrays = [ds[name] for name in group_variables(ds, "cytokines")]
    return _variable_grid(ds, arrays, "Cytokines", colours)


#: File stem -> figure builder, in the order :func:`plot_run` writes them.
FIGURES: dict[str, Callable[[xr.Dataset, Colours], Figure | None]] = {
    "tumor_burden": figure_tumor_burden,
    "death_modes": figure_death_modes,
    "t_cell_states": figure_t_cell_states,
    "tumor_ferroptosis_axis": figure_ferroptosis_axis,
    "exhaustion_axis": figure_exhaustion_axis,
    "macrophages": figure_macrophages,
    "cytokines": figure_cytokines,
}


def plot_run(ds: xr.Dataset, out_dir: Path, progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write the standard figures of a run as PNG files.

    Patients whose integration failed (``solver_status != 0``) are left out.

    Parameters
    ----------
    ds
        Engine output (see ``docs/architecture.md``).
    out_dir
        Folder to write into; created if missing.
    progress
        Called as ``progress(done, total)`` before each figure and at the end.

    Returns
    -------
    list of pathlib.Path
        The files written, in :data:`FIGURES` order; a figure whose variables
        are all absent is skipped.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = successful(ds)
    colours = arm_colours(ds)
    written = []
    for k, (stem, build) in enumerate(FIGURES.items()):
        if progress is not None:
            progress(k, len(FIGURES))
        fig = build(data, colours)
        if fig is None:
            continue
        path = out_dir / f"{stem}.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)
    if progress is not None:
        progress(len(FIGURES), len(FIGURES))
    return written
