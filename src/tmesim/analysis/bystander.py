"""Bystander ferroptosis priming in a spatial run: SLC7A11 of antigen-negative tumour cells against their
distance to the nearest IFN-gamma producer, and how far the loss reaches.

Reads a spatial run's cell snapshots (``cells/<arm>_r<replicate>_day<day>.parquet``) and field snapshots
(``fields/<arm>_r<replicate>_day<day>.nc``), never the engine. The quantities, for one snapshot:

* **IFN-gamma producers**: the cells that secrete IFN-gamma in the spatial engine, read from the
  snapshot: T cells (host or CAR, not Tregs) in a state with cytotoxic function (effector, progenitor or
  terminally exhausted; stem-like memory, anergic and senescent cells secrete none) and NK cells, each
  with at least one live tumour cell it recognises among its lattice neighbours (CAR T cells: one that
  carries the CAR antigen). A T cell or NK cell without such a neighbour secretes nothing.
* **Bystanders**: live tumour cells without the CAR antigen. For each, the distance (um, between site
  centres) to the nearest producer, its SLC7A11 relative to resting (``tumor_slc7a11`` over the
  parameter ``tumor_slc7a11_overexpression``, the resting level) and its loss ``1 - relative``.
* **Profile**: the mean loss in distance bins one site wide (edges at 0.5, 1.5, 2.5, ... sites), bins
  with fewer than ``min_cells`` cells left out. The first bin (up to 1.5 sites) holds the cells next to
  a producer.
* **Reach**: the distance at which the profile first falls to half the loss of the first bin, by linear
  interpolation between the mean distances of the two bins either side. It is undefined (NaN) when the
  first bin is empty or shows no loss (below ``min_loss``), and censored (NaN, ``censored`` True) when
  the profile never falls to half within the distances present.
* **Downstream**: the bystanders' lipid peroxide (``tumor_lipid_peroxide``, relative; the shipped sets put
  the ferroptosis threshold at 1) is profiled the same way, and the ferroptotic corpses of antigen-negative
  tumour cells still in the snapshot (corpses are cleared at ``corpse_clearance_rate``, so this counts
  recent deaths) are counted near producers (within ``NEAR_SITES`` sites) and far from them (beyond
  ``FAR_SITES``), each as a share of the antigen-negative cells, live or ferroptotic, at those distances.
* **IFN-gamma e-fold length**: from the IFN-gamma each bystander sees (the field at its site), the
  least-squares slope of log(IFN-gamma) against distance over a window (default 2-10 sites); what the
  field's decay, set by diffusion over uptake, comes to in the run.

Across replicates, :func:`reach_summary` gives each arm's mean, standard error and count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

#: Cell types that secrete IFN-gamma when engaged, and those that recognise only CAR antigen.
PRODUCER_TYPES = ("cd8_t_cell", "cd4_t_cell", "car_cd8_t_cell", "car_cd4_t_cell", "nk_cell")
CAR_TYPES = ("car_cd8_t_cell", "car_cd4_t_cell")
#: T cell states with cytotoxic function (the engine scales a T cell's IFN-gamma by its state's function).
FUNCTIONAL_STATES = ("effector", "progenitor_exhausted", "terminal_exhausted")
#: Below this loss (fraction of resting SLC7A11) next to producers, a profile shows no loss.
MIN_LOSS = 1e-6
#: Fixed losses (fractions of resting SLC7A11) whose reach :func:`analyse_run` reports besides the relative one.
LEVELS = (0.001, 0.003, 0.01, 0.03, 0.1)
#: Distances (sites) within which a cell counts as near a producer, and beyond which as far from one, for the
#: ferroptotic-corpse shares.
NEAR_SITES, FAR_SITES = 3, 10


def _axes(cells: pd.DataFrame) -> list[str]:
    return [c for c in ("x_um", "y_um", "z_um") if c in cells.columns]


def ifng_producers(cells: pd.DataFrame, site_um: float) -> np.ndarray:
    """Which rows of a cell snapshot secrete IFN-gamma (see the module docstring).

    Parameters
    ----------
    cells : a cell snapshot (the columns of :meth:`tmesim.spatial.outputs.Recorder.cell_table`).
    site_um : the lattice site (um); neighbours are the cells within one site along every axis.

    Returns
    -------
    numpy.ndarray of bool, one per row.
    """
    kind = cells["type"].astype(str).to_numpy()
    state = cells["state"].astype(str).to_numpy()
    alive = cells["dead"].astype(str).to_numpy() == "alive"
    candidate = np.isin(kind, PRODUCER_TYPES) & alive & ((kind == "nk_cell") | np.isin(state, FUNCTIONAL_STATES))
    out = np.zeros(len(cells), dtype=bool)
    tumour = (kind == "tumor") & alive
    if not candidate.any() or not tumour.any():
        return out
    pos = cells[_axes(cells)].to_numpy(float)
    antigen = cells["car_antigen"].to_numpy(bool)
    tree = cKDTree(pos[tumour])
    t_antigen = antigen[tumour]
    rows = np.flatnonzero(candidate)
    for row, near in zip(rows, tree.query_ball_point(pos[rows], r=1.01 * site_um, p=np.inf)):
        if near:
            out[row] = bool(np.any(t_antigen[near])) if kind[row] in CAR_TYPES else True
    return out


def bystanders(cells: pd.DataFrame, site_um: float, resting_slc7a11: float = 1.0,
               ifng: np.ndarray | None = None, field_site: Callable | None = None) -> pd.DataFrame:
    """The antigen-negative live tumour cells of a snapshot with their distance to the nearest producer.

    Parameters
    ----------
    cells : a cell snapshot.
    site_um : the lattice site (um).
    resting_slc7a11 : a resting tumour cell's SLC7A11 (the parameter ``tumor_slc7a11_overexpression``).
    ifng, field_site : optionally the IFN-gamma field (array over sites, pM) and a function mapping
        positions (n x ndim, um) to indices into it; adds the column ``ifng_pM``.

    Returns
    -------
    pandas.DataFrame with ``distance_um`` (inf when the snapshot has no producer), ``slc7a11_relative``,
    ``slc7a11_loss``, ``lipid_peroxide`` (relative; the shipped sets put the ferroptosis threshold at 1;
    when the snapshot has it) and the cells' positions.
    """
    if not resting_slc7a11 > 0:
        raise ValueError(f"resting_slc7a11 must be > 0, got {resting_slc7a11}")
    axes = _axes(cells)
    prod = ifng_producers(cells, site_um)
    kind = cells["type"].astype(str).to_numpy()
    mask = (kind == "tumor") & (cells["dead"].astype(str).to_numpy() == "alive") & ~cells["car_antigen"].to_numpy(bool)
    pos = cells.loc[mask, axes].to_numpy(float)
    if prod.any():
        distance, _ = cKDTree(cells.loc[prod, axes].to_numpy(float)).query(pos) if len(pos) else (np.zeros(0), None)
    else:
        distance = np.full(len(pos), np.inf)
    rel = cells.loc[mask, "tumor_slc7a11"].to_numpy(float) / resting_slc7a11
    out = pd.DataFrame({a: pos[:, i] for i, a in enumerate(axes)})
    out["distance_um"] = distance
    out["slc7a11_relative"] = rel
    out["slc7a11_loss"] = 1.0 - rel
    if "tumor_lipid_peroxide" in cells:
        out["lipid_peroxide"] = cells.loc[mask, "tumor_lipid_peroxide"].to_numpy(float)
    if ifng is not None:
        out["ifng_pM"] = np.asarray(ifng).ravel()[field_site(pos)] if len(pos) else np.zeros(0)
    return out


def ferroptotic_shares(cells: pd.DataFrame, site_um: float, near_sites: float = NEAR_SITES,
                       far_sites: float = FAR_SITES) -> tuple[float, float, int]:
    """Ferroptotic corpses among the antigen-negative tumour cells near and far from IFN-gamma producers.

    Parameters
    ----------
    cells : a cell snapshot.
    site_um : the lattice site (um).
    near_sites, far_sites : a cell within ``near_sites`` sites (um / ``site_um``) of the nearest producer is
        near; one beyond ``far_sites`` is far.

    Returns
    -------
    (near share, far share, corpses): the ferroptotic corpses over all antigen-negative tumour cells (live or
    ferroptotic corpses) near and far (dimensionless; NaN where no cell is at that distance or the snapshot
    has no producer), and the number of antigen-negative ferroptotic corpses in the snapshot.
    """
    axes = _axes(cells)
    kind = cells["type"].astype(str).to_numpy()
    dead = cells["dead"].astype(str).to_numpy()
    negative = (kind == "tumor") & ~cells["car_antigen"].to_numpy(bool)
    ferro = negative & (dead == "ferroptotic")
    pool = negative & ((dead == "alive") | (dead == "ferroptotic"))
    prod = ifng_producers(cells, site_um)
    if not prod.any() or not pool.any():
        return math.nan, math.nan, int(ferro.sum())
    d, _ = cKDTree(cells.loc[prod, axes].to_numpy(float)).query(cells.loc[pool, axes].to_numpy(float))
    is_ferro = ferro[pool]
    near, far = d <= near_sites * site_um, d > far_sites * site_um
    share = lambda sel: float(is_ferro[sel].mean()) if sel.any() else math.nan  # noqa: E731
    return share(near), share(far), int(ferro.sum())


def loss_profile(distance_um, values, site_um: float, min_cells: int = 5) -> pd.DataFrame:
    """Mean of ``values`` in distance bins one site wide (edges at 0.5, 1.5, ... sites).

    Returns
    -------
    pandas.DataFrame, one row per bin with at least ``min_cells`` cells: ``bin`` (1 = next to a producer),
    ``distance_um`` (the cells' mean distance), ``mean``, ``cells``.
    """
    d = np.asarray(distance_um, float)
    v = np.asarray(values, float)
    ok = np.isfinite(d) & np.isfinite(v)
    k = np.floor(d[ok] / site_um + 0.5).astype(np.int64)
    frame = pd.DataFrame({"bin": k, "distance_um": d[ok], "mean": v[ok]})
    grouped = frame.groupby("bin").agg(distance_um=("distance_um", "mean"), mean=("mean", "mean"),
                                      cells=("mean", "size")).reset_index()
    return grouped[grouped["cells"] >= min_cells].reset_index(drop=True)


@dataclass(frozen=True)
class Reach:
    """How far the loss reaches in one snapshot (see the module docstring)."""

    reach_um: float
    near_loss: float
    censored: bool


def reach(profile: pd.DataFrame, min_loss: float = MIN_LOSS) -> Reach:
    """The distance at which a :func:`loss_profile` first falls to half its value next to producers.

    Returns
    -------
    Reach; ``reach_um`` is NaN when the first bin is missing or its loss is below ``min_loss`` (no loss to
    halve), or when the profile stays above half to its last bin (``censored``).
    """
    if profile.empty or int(profile["bin"].iloc[0]) != 1:
        return Reach(math.nan, math.nan, False)
    near = float(profile["mean"].iloc[0])
    if not near >= min_loss:
        return Reach(math.nan, near, False)
    half = 0.5 * near
    d = profile["distance_um"].to_numpy(float)
    m = profile["mean"].to_numpy(float)
    below = np.flatnonzero(m <= half)
    if below.size == 0:
        return Reach(math.nan, near, True)
    j = int(below[0])
    # j >= 1: the first bin holds ``near`` > half
    d0, d1, m0, m1 = d[j - 1], d[j], m[j - 1], m[j]
    return Reach(float(d0 + (m0 - half) / (m0 - m1) * (d1 - d0)), near, False)


def level_reach(profile: pd.DataFrame, level: float) -> float:
    """The distance (um) at which a :func:`loss_profile` first falls below a fixed ``level`` of loss (a
    fraction of resting SLC7A11), by linear interpolation between bins: 0 when the cells next to producers
    (the first bin) are already below it or the first bin is missing, NaN when the profile stays at or above
    it to its last bin."""
    if profile.empty or int(profile["bin"].iloc[0]) != 1:
        return 0.0
    d = profile["distance_um"].to_numpy(float)
    m = profile["mean"].to_numpy(float)
    if m[0] < level:
        return 0.0
    below = np.flatnonzero(m < level)
    if below.size == 0:
        return math.nan
    j = int(below[0])
    d0, d1, m0, m1 = d[j - 1], d[j], m[j - 1], m[j]
    return float(d0 + (m0 - level) / (m0 - m1) * (d1 - d0))


def efold_length(profile: pd.DataFrame, start_um: float, stop_um: float) -> float:
    """E-fold length (um) of a positive profile: -1 / slope of log(mean) against distance over the bins whose
    mean distance lies in ``[start_um, stop_um]`` (least squares); NaN with fewer than 3 such bins, a
    non-positive value among them, or a profile that does not fall."""
    sel = profile[(profile["distance_um"] >= start_um) & (profile["distance_um"] <= stop_um)]
    if len(sel) < 3 or not (sel["mean"] > 0).all():
        return math.nan
    slope = np.polyfit(sel["distance_um"].to_numpy(float), np.log(sel["mean"].to_numpy(float)), 1)[0]
    return float(-1.0 / slope) if slope < 0 else math.nan


# ---------------------------------------------------------------------------------------------- run folders
_SNAPSHOT = re.compile(r"^(?P<stem>.+)_r(?P<replicate>\d+)_day(?P<day>[0-9.eE+-]+)$")


@dataclass(frozen=True)
class BystanderResult:
    """The bystander analysis of a run folder (:func:`analyse_run`).

    ``cells``: every bystander of every arm and replicate (:func:`bystanders`, plus ``arm``, ``replicate``);
    ``profiles``: their loss, IFN-gamma and lipid peroxide profiles per arm and replicate; ``reaches``: one
    row per arm and replicate (``reach_um``, ``near_loss``, ``censored``, ``ifng_efold_um``, ``producers``, ``bystanders``,
    ``mean_loss``, ``ferroptotic_corpses``, ``ferroptotic_near_share``, ``ferroptotic_far_share``);
    ``fields``: replicate 0's IFN-gamma field and producer positions per arm, for figures;
    ``day``, ``site_um``.
    """

    cells: pd.DataFrame
    profiles: pd.DataFrame
    reaches: pd.DataFrame
    fields: dict
    day: float
    site_um: float


def _run_setup(run_dir: Path):
    """Arm names, site size, resting SLC7A11 per arm, from the run's ``scenario.yaml``."""
    from tmesim.scenario import load_scenario

    path = run_dir / "scenario.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: give a spatial run folder (tmesim run writes scenario.yaml)")
    scn = load_scenario(path)
    if scn.spatial is None:
        from tmesim.errors import InputError

        raise InputError(str(path), "is a well-mixed scenario",
                         "the bystander analysis reads a spatial run's snapshots")
    arms = [a.name for a in scn.arms]
    resting = {a.name: float(ps["tumor_slc7a11_overexpression"]) for a, ps in zip(scn.arms, scn.arm_parameter_sets)}
    return arms, float(scn.spatial.site_um), resting


def analyse_run(run_dir, day: float | None = None, min_cells: int = 5, efold_window_sites: tuple = (2, 10),
                levels: tuple = LEVELS, arms=None, site_um: float | None = None,
                resting_slc7a11=None) -> BystanderResult:
    """The bystander analysis of every arm and replicate of a spatial run folder at one snapshot day.

    Parameters
    ----------
    run_dir : the run folder (``cells/``, ``fields/``, ``scenario.yaml``).
    day : snapshot day (default: the last day every snapshot of the run has).
    min_cells : fewest cells in a distance bin of a profile.
    efold_window_sites : distance window (sites) of the IFN-gamma e-fold fit.
    levels : fixed losses (fractions of resting SLC7A11) whose :func:`level_reach` each replicate reports
        (columns ``reach_at_<level>_um``).
    arms, site_um, resting_slc7a11 : arm names, site (um) and resting SLC7A11 (a number or
        ``{arm: value}``); read from ``scenario.yaml`` when not given.
    """
    import xarray as xr

    run_dir = Path(run_dir)
    if arms is None or site_um is None or resting_slc7a11 is None:
        arms0, site0, rest0 = _run_setup(run_dir)
        arms = arms0 if arms is None else arms
        site_um = site0 if site_um is None else site_um
        resting_slc7a11 = rest0 if resting_slc7a11 is None else resting_slc7a11
    found: dict[tuple[str, int], dict[float, Path]] = {}
    from tmesim.spatial.outputs import _slug  # how the run folder names an arm's files

    by_stem = {_slug(a): a for a in arms}
    for path in sorted((run_dir / "cells").glob("*.parquet")):
        m = _SNAPSHOT.match(path.stem)
        if m and m["stem"] in by_stem:
            found.setdefault((by_stem[m["stem"]], int(m["replicate"])), {})[float(m["day"])] = path
    if not found:
        raise FileNotFoundError(f"no cell snapshots of the run's arms in {run_dir / 'cells'}")
    if day is None:
        day = min(max(days) for days in found.values())
    cells_rows, profile_rows, reach_rows, fields = [], [], [], {}
    lo, hi = efold_window_sites[0] * site_um, efold_window_sites[1] * site_um
    for arm in arms:
        for rep in sorted(r for a, r in found if a == arm):
            path = found[(arm, rep)].get(day)
            if path is None:
                raise FileNotFoundError(f"no snapshot of arm {arm!r}, replicate {rep} at day {day:g}")
            snap = pd.read_parquet(path)
            field_path = run_dir / "fields" / f"{path.stem}.nc"
            ifng, locate, grid = None, None, None
            if field_path.is_file():
                with xr.open_dataset(field_path) as fds:
                    grid = fds["ifng"].load()
                ifng, locate = grid.values, _locator(grid)
            rest = resting_slc7a11[arm] if isinstance(resting_slc7a11, dict) else float(resting_slc7a11)
            by = bystanders(snap, site_um, rest, ifng, locate)
            prod = ifng_producers(snap, site_um)
            by.insert(0, "replicate", rep)
            by.insert(0, "arm", arm)
            cells_rows.append(by)
            prof = loss_profile(by["distance_um"], by["slc7a11_loss"], site_um, min_cells)
            r = reach(prof)
            at_levels = {level: level_reach(prof, level) for level in levels}
            efold = math.nan
            if "ifng_pM" in by:
                iprof = loss_profile(by["distance_um"], by["ifng_pM"], site_um, min_cells)
                efold = efold_length(iprof, lo, hi)
                prof = prof.merge(iprof[["bin", "mean"]].rename(columns={"mean": "ifng_pM"}), on="bin", how="left")
            if "lipid_peroxide" in by:
                lprof = loss_profile(by["distance_um"], by["lipid_peroxide"], site_um, min_cells)
                prof = prof.merge(lprof[["bin", "mean"]].rename(columns={"mean": "lipid_peroxide"}), on="bin",
                                  how="left")
            near_f, far_f, n_ferro = ferroptotic_shares(snap, site_um)
            prof = prof.rename(columns={"mean": "slc7a11_loss"})
            prof.insert(0, "replicate", rep)
            prof.insert(0, "arm", arm)
            profile_rows.append(prof)
            row = {"arm": arm, "replicate": rep, "reach_um": r.reach_um, "near_loss": r.near_loss,
                   "censored": r.censored, "ifng_efold_um": efold, "producers": int(prod.sum()),
                   "bystanders": len(by), "mean_loss": float(by["slc7a11_loss"].mean()) if len(by) else math.nan,
                   "ferroptotic_corpses": n_ferro, "ferroptotic_near_share": near_f,
                   "ferroptotic_far_share": far_f}
            for level, value in at_levels.items():
                row[f"reach_at_{level:g}_um"] = value
            reach_rows.append(row)
            if rep == min(r_ for a_, r_ in found if a_ == arm) and grid is not None:
                fields[arm] = {"ifng": grid, "producers": snap.loc[prod, _axes(snap)].to_numpy(float)}
    return BystanderResult(pd.concat(cells_rows, ignore_index=True), pd.concat(profile_rows, ignore_index=True),
                           pd.DataFrame(reach_rows), fields, float(day), float(site_um))


def _locator(grid):
    """Positions (n x ndim, um, x first) -> flat index into ``grid`` (an xarray field on site centres)."""
    dims = list(grid.dims)  # array order (z,) y, x
    centres = [grid[d].values for d in dims]
    names = {"x": 0, "y": 1, "z": 2}

    def locate(pos):
        idx = []
        for d, c in zip(dims, centres):
            step = c[1] - c[0] if c.size > 1 else 1.0
            i = np.rint((pos[:, names[d]] - c[0]) / step).astype(np.int64)
            idx.append(np.clip(i, 0, c.size - 1))
        return np.ravel_multi_index(tuple(idx), grid.shape)

    return locate


def reach_summary(reaches: pd.DataFrame, arms=None) -> pd.DataFrame:
    """Per arm: reach (um) mean, standard error and count over the replicates where it is defined, the
    censored count, and the mean and standard error of ``near_loss``, ``mean_loss``, ``ifng_efold_um`` and
    the reaches at fixed levels and the ferroptotic-corpse shares (over the replicates where each is defined)."""
    rows = []
    for arm in arms if arms is not None else list(dict.fromkeys(reaches["arm"])):
        g = reaches[reaches["arm"] == arm]
        row = {"arm": arm, "replicates": len(g)}
        levels = [c for c in reaches.columns if c.startswith("reach_at_")]
        shares = [c for c in ("ferroptotic_near_share", "ferroptotic_far_share") if c in reaches.columns]
        for col in ("reach_um", "near_loss", "mean_loss", "ifng_efold_um", *shares, *levels):
            v = g[col].to_numpy(float)
            v = v[np.isfinite(v)]
            row[col] = float(v.mean()) if v.size else math.nan
            row[f"{col}_se"] = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
            if col == "reach_um":
                row["reach_n"] = int(v.size)
        row["censored"] = int(g["censored"].sum())
        row["producers"] = float(g["producers"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ figures
def mean_profiles(profiles: pd.DataFrame, column: str = "slc7a11_loss", min_replicates: int = 2) -> pd.DataFrame:
    """Per arm and distance bin: the mean over replicates of ``column`` and its standard error, with the
    mean distance; bins present in fewer than ``min_replicates`` replicates are left out."""
    g = profiles.dropna(subset=[column]).groupby(["arm", "bin"], sort=False)
    out = g.agg(distance_um=("distance_um", "mean"), mean=(column, "mean"), sd=(column, "std"),
                n=(column, "size")).reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"])
    return out[out["n"] >= min_replicates].drop(columns="sd").reset_index(drop=True)


def plot_profiles(result: BystanderResult, path, arms=None, title: str | None = None) -> Path:
    """Save the bystander profiles of :func:`analyse_run` to ``path`` (PNG): SLC7A11 relative to resting
    against the distance to the nearest producer (linear, then the loss on a log axis) and the IFN-gamma the
    bystanders see, per arm (mean over replicates; bands: +/- 1 SE)."""
    from matplotlib.figure import Figure
    import matplotlib

    arms = arms if arms is not None else list(dict.fromkeys(result.reaches["arm"]))
    palette = matplotlib.colormaps["tab10"].colors
    fig = Figure(figsize=(14, 4.2), layout="constrained")
    ax_rel, ax_loss, ax_ifng = fig.subplots(1, 3)
    loss = mean_profiles(result.profiles, "slc7a11_loss")
    ifng = mean_profiles(result.profiles, "ifng_pM") if "ifng_pM" in result.profiles else None
    summary = reach_summary(result.reaches, arms).set_index("arm")
    for k, arm in enumerate(arms):
        colour = palette[k % len(palette)]
        p = loss[loss["arm"] == arm]
        r = summary.loc[arm]
        label = arm if not np.isfinite(r["reach_um"]) else f"{arm}: reach {r['reach_um']:.0f} um"
        ax_rel.plot(p["distance_um"], 1.0 - p["mean"], color=colour, label=label)
        ax_rel.fill_between(p["distance_um"], 1.0 - p["mean"] - p["se"], 1.0 - p["mean"] + p["se"], color=colour,
                            alpha=0.2, lw=0)
        pos = p[p["mean"] > 0]
        if len(pos):
            ax_loss.plot(pos["distance_um"], 100 * pos["mean"], color=colour, label=arm)
            ax_loss.fill_between(pos["distance_um"], 100 * np.maximum(pos["mean"] - pos["se"], pos["mean"] * 1e-3),
                                 100 * (pos["mean"] + pos["se"]), color=colour, alpha=0.2, lw=0)
            if np.isfinite(r["reach_um"]):
                ax_loss.axvline(r["reach_um"], color=colour, ls=":", lw=1)
        if ifng is not None:
            q = ifng[(ifng["arm"] == arm) & (ifng["mean"] > 0)]
            if len(q):
                ax_ifng.plot(q["distance_um"], q["mean"], color=colour, label=arm)
                ax_ifng.fill_between(q["distance_um"], np.maximum(q["mean"] - q["se"], q["mean"] * 1e-3),
                                     q["mean"] + q["se"], color=colour, alpha=0.2, lw=0)
    ax_rel.set_ylabel("SLC7A11 relative to resting")
    ax_rel.set_title("antigen-negative tumour cells")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("SLC7A11 loss (% of resting)")
    ax_loss.set_title("loss (log); dotted: reach")
    ax_ifng.set_yscale("log")
    ax_ifng.set_ylabel("IFN-gamma at the cell (pM)")
    ax_ifng.set_title("IFN-gamma the bystanders see")
    for ax in (ax_rel, ax_loss, ax_ifng):
        ax.set_xlabel("distance to the nearest IFN-gamma producer (um)")
    ax_rel.legend(fontsize="x-small")
    fig.suptitle(title or f"Bystander SLC7A11 at day {result.day:g} (mean over replicates, band: +/- 1 SE)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_fields(result: BystanderResult, path, arms=None) -> Path:
    """Save the IFN-gamma field of each arm's first replicate (2D runs; the middle z slice in 3D), with its
    producers marked, to ``path`` (PNG), on one logarithmic colour scale."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    arms = [a for a in (arms if arms is not None else list(result.fields)) if a in result.fields]
    if not arms:
        raise ValueError("the run has no IFN-gamma field snapshots to draw")
    slices = []
    for arm in arms:
        g = result.fields[arm]["ifng"]
        if "z" in g.dims:
            g = g.isel(z=g.sizes["z"] // 2)
        slices.append(g)
    positive = np.concatenate([s.values[s.values > 0].ravel() for s in slices] + [np.array([1e-3])])
    vmax = float(positive.max())
    norm = LogNorm(vmin=max(vmax * 1e-3, float(positive.min())), vmax=vmax)
    ncols = min(len(arms), 3)
    nrows = math.ceil(len(arms) / ncols)
    g0 = slices[0]
    aspect = (g0["y"].size / g0["x"].size) if g0["x"].size else 1.0
    fig = Figure(figsize=(4.6 * ncols, 4.6 * aspect * nrows + 1.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    im = None
    for ax, arm, g in zip(axes, arms, slices):
        dx = float(g["x"][1] - g["x"][0]) if g["x"].size > 1 else result.site_um
        extent = [float(g["x"][0]) - dx / 2, float(g["x"][-1]) + dx / 2, float(g["y"][0]) - dx / 2,
                  float(g["y"][-1]) + dx / 2]
        im = ax.imshow(np.maximum(g.values, norm.vmin), origin="lower", extent=extent, norm=norm, cmap="viridis",
                       interpolation="nearest")
        prod = result.fields[arm]["producers"]
        if len(prod):
            ax.scatter(prod[:, 0], prod[:, 1], s=6, c="white", edgecolors="black", linewidths=0.3)
        ax.set_title(arm, fontsize="small")
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
    for ax in axes[len(arms):]:
        ax.set_visible(False)
    fig.colorbar(im, ax=list(axes[:len(arms)]), shrink=0.8, label="IFN-gamma (pM)")
    fig.suptitle(f"IFN-gamma at day {result.day:g}, replicate 0 (white: IFN-gamma producers)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
