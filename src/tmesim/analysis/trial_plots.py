"""Figures of a virtual trial, from its per-patient table and kept time series.

:func:`plot_trial` writes ``figures/<name>.png``:

* ``survival``: Kaplan-Meier curves of the survival endpoint (PFS, solid; EFS,
  leukaemia) per arm, with 95% bands;
* ``waterfall``: per arm, each patient's best % change (solid; coloured by best
  overall response, with the PR and PD thresholds) or log10 change of burden at
  the remission day (leukaemia; coloured by MRD-negative / remission / neither);
* ``spider``: % change from baseline over time (solid) or burden over time
  (leukaemia) of the first :data:`SPIDER_PATIENTS` patients of each arm;
* ``swimmer``: time on study of the first :data:`SWIMMER_PATIENTS` patients of
  each arm, with response (or remission) and progression (or relapse) marked;
* ``biomarkers``: baseline biomarker against the continuous outcome, per arm,
  with Spearman's rho.

Figures are :class:`matplotlib.figure.Figure` objects (Agg, no pyplot state).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..trials.endpoints import OUTCOME, SURVIVAL
from .plots import panel_figure
from .trial_summary import biomarker_columns

DPI = 120
SPIDER_PATIENTS = 30
SWIMMER_PATIENTS = 30
MAX_BIOMARKERS = 6
RECIST_COLOURS = {"CR": "#1a9850", "PR": "#91cf60", "SD": "#fee08b", "PD": "#d73027", "NE": "#999999"}
LEUKEMIA_COLOURS = {"MRD-negative": "#1a9850", "remission": "#91cf60", "no remission": "#d73027"}


def arm_colours(arms) -> dict[str, tuple]:
    palette = matplotlib.colormaps["tab10"].colors
    return {arm: palette[i % len(palette)] for i, arm in enumerate(arms)}


def _ok(patients: pd.DataFrame) -> pd.DataFrame:
    return patients[patients["status"] == 0]


def _panels(n: int, title: str) -> tuple[Figure, list]:
    return panel_figure(n, title, size=(4.6, 3.4), title_in=0.5)


def figure_survival(patients: pd.DataFrame, cohort) -> Figure:
    """Kaplan-Meier curves of the survival endpoint, one per arm."""
    from .survival import kaplan_meier

    time_col, event_col = SURVIVAL[cohort.endpoints.type]
    label = {"pfs_days": "progression-free survival", "efs_days": "event-free survival"}[time_col]
    colours = arm_colours(cohort.arms)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    ok = _ok(patients)
    for arm in cohort.arms:
        sub = ok[ok["arm"] == arm]
        kmf = kaplan_meier(sub[time_col], sub[event_col].astype(bool), label=arm)
        if kmf is None:
            continue
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        ax.step(sf.index, sf.to_numpy(), where="post", color=colours[arm], label=f"{arm} (n={len(sub)})")
        ax.fill_between(ci.index, ci.iloc[:, 0], ci.iloc[:, 1], step="post", color=colours[arm], alpha=0.2,
                        linewidth=0)
    ax.set_xlabel(f"days from baseline (day {cohort.baseline_day:g})")
    ax.set_ylabel(f"{label} (probability)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Kaplan-Meier: {label}, 95% bands")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    return fig


def figure_waterfall(patients: pd.DataFrame, cohort) -> Figure:
    """Best % change (solid) or log10 burden change at the remission day (leukaemia), sorted, per arm."""
    cfg = cohort.endpoints
    fig, axes = _panels(len(cohort.arms), "Waterfall: " + ("best change from baseline" if cfg.type == "solid"
                                                           else f"burden at day {cfg.remission_day:g} vs baseline"))
    ok = _ok(patients)
    for ax, arm in zip(axes, cohort.arms):
        sub = ok[ok["arm"] == arm]
        if cfg.type == "solid":
            sub = sub[np.isfinite(sub["best_change_pct"].to_numpy(dtype=float))]
            y = sub["best_change_pct"].to_numpy(dtype=float)
            classes = sub["recist"].astype(str).to_numpy()
            colours = RECIST_COLOURS
            ylabel = f"best change in {cfg.measure} (%)"
        else:
            y = sub["log10_burden_at_remission"].to_numpy(dtype=float) - np.log10(
                np.maximum(sub["baseline_cells"].to_numpy(dtype=float), 1.0))
            classes = np.where(sub["mrd_negative"].fillna(False).to_numpy(dtype=bool), "MRD-negative",
                               np.where(sub["remission"].fillna(False).to_numpy(dtype=bool), "remission",
                                        "no remission"))
            colours = LEUKEMIA_COLOURS
            ylabel = "log10 change in burden"
        order = np.argsort(-y, kind="stable")
        x = np.arange(y.size)
        ax.vlines(x, 0, y[order], colors=[colours.get(c, "#999999") for c in classes[order]],
                  linewidth=max(0.2, min(6.0, 300.0 / max(y.size, 1))))
        if cfg.type == "solid":
            ax.axhline(cfg.partial_response_pct, color="k", linestyle="--", linewidth=0.8)
            ax.axhline(cfg.progressive_disease_pct, color="k", linestyle=":", linewidth=0.8)
            top = float(np.nanpercentile(y, 99)) if y.size else 0.0
            ax.set_ylim(-105, max(50.0, min(top * 1.1, 400.0)))
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(f"{arm} (n={y.size})", fontsize=10)
        ax.set_xlabel("patients, sorted")
        ax.set_ylabel(ylabel)
        present = [c for c in colours if c in set(classes)]
        handles = [Patch(color=colours[c], label=c) for c in present]
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    return fig


def _spider_data(folder: Path, cohort, n: int):
    """The kept time series of the first ``n`` patients (by id), read part by part."""
    import xarray as xr

    from ..trials.store import TIMESERIES

    parts, have = [], 0
    for f in sorted((Path(folder) / TIMESERIES).glob("part-*.nc")):
        with xr.open_dataset(f) as ds:
            take = ds[[cohort.endpoints.size_variable, "solver_status"]].isel(patient=slice(0, n - have)).load()
        parts.append(take)
        have += take.sizes["patient"]
        if have >= n:
            break
    if not parts:
        return None
    return xr.concat(parts, dim="patient").sortby("patient").isel(patient=slice(0, n))


def figure_spider(folder: Path, patients: pd.DataFrame, cohort) -> Figure | None:
    """% change from baseline (solid) or burden (leukaemia) over time, first patients of each arm."""
    ds = _spider_data(folder, cohort, SPIDER_PATIENTS)
    if ds is None:
        return None
    cfg = cohort.endpoints
    fig, axes = _panels(len(cohort.arms), f"Spider plot: first {ds.sizes['patient']} patients per arm")
    t = ds["time"].values
    keep = t >= cohort.baseline_day - 1e-9
    ok = _ok(patients).set_index(["arm", "patient"])
    for ax, arm in zip(axes, cohort.arms):
        y = ds[cfg.size_variable].sel(arm=arm).values.astype(float)[:, keep]
        for k, pid in enumerate(ds["patient"].values):
            if (arm, pid) not in ok.index:
                continue
            if cfg.type == "solid":
                power = 1.0 / 3.0 if cfg.measure == "diameter" else 1.0
                with np.errstate(divide="ignore", invalid="ignore"):
                    line = 100.0 * ((y[k] / y[k, 0]) ** power - 1.0)
                cls = str(ok.loc[(arm, pid), "recist"])
                ax.plot(t[keep] - cohort.baseline_day, line, color=RECIST_COLOURS.get(cls, "#999999"),
                        linewidth=0.8, alpha=0.8)
            else:
                ax.semilogy(t[keep] - cohort.baseline_day, np.maximum(y[k], 1e-1), linewidth=0.8, alpha=0.8)
        if cfg.type == "solid":
            ax.axhline(cfg.partial_response_pct, color="k", linestyle="--", linewidth=0.8)
            ax.axhline(cfg.progressive_disease_pct, color="k", linestyle=":", linewidth=0.8)
            ax.set_ylim(-105, 300)
            ax.set_ylabel(f"change in {cfg.measure} (%)")
        else:
            for level, style, label in ((cfg.remission_below_cells, "--", "remission"),
                                        (cfg.mrd_below_cells, ":", "MRD")):
                ax.axhline(level, color="k", linestyle=style, linewidth=0.8, label=label)
            ax.set_ylabel("leukaemic burden (cells)")
            ax.legend(fontsize=7)
        ax.set_xlabel("days from baseline")
        ax.set_title(arm, fontsize=10)
    return fig


def figure_swimmer(patients: pd.DataFrame, cohort) -> Figure:
    """Time on study of the first patients of each arm, response and progression marked."""
    cfg = cohort.endpoints
    time_col, event_col = SURVIVAL[cfg.type]
    colours = arm_colours(cohort.arms)
    ok = _ok(patients)
    rows = pd.concat([ok[ok["arm"] == arm].head(SWIMMER_PATIENTS) for arm in cohort.arms])
    fig = Figure(figsize=(7.0, max(3.0, 0.14 * len(rows) + 1.2)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    ax.barh(y, rows[time_col].to_numpy(dtype=float), color=[colours[a] for a in rows["arm"]], height=0.7)
    if cfg.type == "solid":
        start = rows["response_day"].to_numpy(dtype=float)
        ax.plot(start, y, "o", color="k", markersize=3, label="response (CR/PR)")
    else:
        remission = rows["remission"].fillna(False).to_numpy(dtype=bool)
        ax.plot(np.where(remission, cfg.remission_day, np.nan), y, "o", color="k", markersize=3, label="remission")
    event = rows[event_col].fillna(False).to_numpy(dtype=bool)
    ends = rows[time_col].to_numpy(dtype=float)
    ax.plot(np.where(event, ends, np.nan), y, "x", color="k", markersize=4,
            label="progression or death" if cfg.type == "solid" else "no remission or relapse")
    ax.plot(np.where(~event, ends, np.nan), y, ">", color="grey", markersize=3, label="censored (event-free)")
    ax.set_yticks(y, [f"{a[:12]} #{p}" for a, p in zip(rows["arm"], rows["patient"])], fontsize=5)
    ax.set_xlabel("days from baseline")
    ax.set_title(f"Swimmer plot: first {SWIMMER_PATIENTS} patients per arm")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def figure_biomarkers(patients: pd.DataFrame, cohort) -> Figure | None:
    """Each baseline biomarker against the continuous outcome, per arm, with Spearman's rho."""
    from scipy.stats import spearmanr

    columns = biomarker_columns(patients)[:MAX_BIOMARKERS]
    if not columns:
        return None
    outcome, _ = OUTCOME[cohort.endpoints.type]
    colours = arm_colours(cohort.arms)
    fig, axes = _panels(len(columns), f"Baseline biomarkers vs {outcome.replace('_', ' ')}")
    ok = _ok(patients)
    for ax, col in zip(axes, columns):
        for arm in cohort.arms:
            sub = ok[ok["arm"] == arm]
            x = sub[col].to_numpy(dtype=float)
            y = sub[outcome].to_numpy(dtype=float)
            fine = np.isfinite(x) & np.isfinite(y)
            rho = math.nan
            if fine.sum() >= 3 and np.ptp(x[fine]) > 0 and np.ptp(y[fine]) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rho = spearmanr(x[fine], y[fine])[0]
            ax.scatter(x[fine], y[fine], s=4, alpha=0.4, color=colours[arm], rasterized=True,
                       label=f"{arm}: rho {rho:.2f}")
        ax.set_xlabel(col)
        ax.set_ylabel(outcome)
        ax.legend(fontsize=6)
    return fig


def plot_trial(patients: pd.DataFrame, cohort, folder: Path) -> list[Path]:
    """Write every trial figure to ``folder/figures/<name>.png``; return the files written."""
    from ..trials.store import FIGURES, write_atomic

    out = Path(folder) / FIGURES
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "survival": figure_survival(patients, cohort),
        "waterfall": figure_waterfall(patients, cohort),
        "spider": figure_spider(folder, patients, cohort),
        "swimmer": figure_swimmer(patients, cohort),
        "biomarkers": figure_biomarkers(patients, cohort),
    }
    written = []
    for name, fig in figures.items():
        if fig is None:
            continue
        written.append(write_atomic(out / f"{name}.png", lambda tmp, f=fig: f.savefig(tmp, dpi=DPI, format="png")))
    return written
