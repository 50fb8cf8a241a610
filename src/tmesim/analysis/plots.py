"""Figures of a run, read from the engine's output Dataset.

Each figure has a builder ``figure_<name>(ds, colours) -> Figure | None`` that
returns ``None`` when the run has none of the figure's variables;
:func:`plot_run` saves every figure that exists as ``<name>.png``. Variables are
chosen by their ``group`` attribute where the contract gives one, axes are
labelled from ``long_name`` and ``units``, and each arm keeps one colour in
every figure. With more than one patient, lines are the median across patients
and the shaded band is the interquartile range.

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


def _new_figure(n_panels: int, title: str) -> tuple[Figure, list[Axes]]:
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(PANEL_SIZE_IN[0] * ncols, PANEL_SIZE_IN[1] * nrows + 0.4), layout="constrained")
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


def draw_arms(ax: Axes, da: xr.DataArray, colours: Colours, *, linestyle: str = "-", label: bool = True) -> None:
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
    """
    median, band = _median_and_band(da)
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
    fig, axes = _new_figure(len(arrays), title)
    for ax, da in zip(axes, arrays):
        draw_arms(ax, da, colours)
        ax.set_xlabel(_time_label(ds))
        if len(arrays) > 1:
            # the panel title names the variable; the y axis only needs its unit
            ax.set_title(textwrap.fill(str(da.attrs.get("long_name", da.name)), 40), fontsize="medium")
            units = str(da.attrs.get("units", ""))
            ax.set_ylabel(units if units not in DIMENSIONLESS else "relative")
        else:
            ax.set_ylabel(axis_label(da))
        if log_y:
            ax.set_yscale("log")
    axes[0].legend(title="arm", fontsize="small")
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
    fig = _variable_grid(ds, [ds["tumor_live"]], "Tumour burden", colours, log_y=True)
    floor_cell_axis(fig.axes[0])
    return fig


def figure_death_modes(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """Cumulative tumour cell deaths (cells) by mode (killing, ferroptosis, necrosis), one panel per mode."""
    arrays = [ds[name] for name in death_variables(ds)]
    return _variable_grid(ds, arrays, "Cumulative tumour cell deaths by mode", colours)


def figure_t_cell_states(ds: xr.Dataset, colours: Colours) -> Figure | None:
    """T cells (cells) by state, one panel per state; colour = arm, line style = lineage (endogenous / CAR)."""
    pools = t_pools(ds)
    if not pools:
        return None
    lineage_of = dict(zip(ds["t_pool"].values.tolist(), ds["lineage"].values.tolist()))
    found_lineages = set(lineage_of.values())
    present = [state for state in T_CELL_STATES if t_pools(ds, state=state)]
    fig, axes = _new_figure(len(present), "T cell states")
    for ax, state in zip(axes, present):
        for name in t_pools(ds, state=state):
            draw_arms(ax, variable(ds, name), colours, linestyle=LINEAGE_STYLES[lineage_of[name]], label=False)
        ax.set_title(state.replace("_", " "))
        ax.set_xlabel(_time_label(ds))
        ax.set_ylabel(f"T cells ({ds['t_cells'].attrs.get('units', 'cell')})")
    handles = [Line2D([], [], color=colour, label=arm) for arm, colour in colours.items()]
    handles += [Line2D([], [], color="0.3", linestyle=LINEAGE_STYLES[lineage], label=LINEAGE_LABELS[lineage])
                for lineage in T_CELL_LINEAGES if lineage in found_lineages]
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


def plot_run(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """Write the standard figures of a run as PNG files.

    Patients whose integration failed (``solver_status != 0``) are left out.

    Parameters
    ----------
    ds
        Engine output (see ``docs/architecture.md``).
    out_dir
        Folder to write into; created if missing.

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
    for stem, build in FIGURES.items():
        fig = build(data, colours)
        if fig is None:
            continue
        path = out_dir / f"{stem}.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)
    return written
