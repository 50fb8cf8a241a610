"""Per-patient clinical endpoints from a run's Dataset (one row per arm and patient).

Solid tumours (:class:`~.cohort.SolidEndpoints`), RECIST 1.1-like (Eisenhauer 2009)
on the model's cell counts, assessed at the output times from the baseline day on
(or every ``assessment_every_days``):

* change from baseline in the chosen measure: diameter ``(N/N0)^(1/3) - 1`` (RECIST
  measures diameters; a sphere at constant cell density) or volume ``N/N0 - 1``;
* CR: burden below ``complete_response_fraction`` of baseline (RECIST's
  "disappearance": the default 1% of the cells is a 10 mm lesion shrunk to ~2 mm,
  below the 10 mm RECIST calls measurable); PR: change <= ``partial_response_pct``
  (-30%); PD: change from the nadir so far (baseline included) >=
  ``progressive_disease_pct`` (+20%) while the burden is above the CR level (the
  analogue of RECIST's 5 mm absolute increase: regrowth counts once detectable);
  SD otherwise; with ``confirm_progression`` (iRECIST, Seymour 2017), a PD counts
  only if the next assessment is still PD against the same nadir (dated at the
  first; a PD at the last assessment counts);
* best overall response: the best class up to and including the first PD (no
  confirmation of CR/PR, as in a randomised trial); an SD counts only from
  ``stable_disease_min_days`` after baseline (default 0);
* time to progression (first PD; censored at the last assessment), progression-free
  survival (progression or, with ``death_above_cells``, the first time the burden
  reaches that lethal size), duration of response (first CR/PR to progression or
  death; censored at the last assessment).

Leukaemia (:class:`~.cohort.LeukemiaEndpoints`): complete remission and MRD
negativity (burden below the cohort's thresholds at ``remission_day`` after
baseline), relapse (after remission, the burden back at ``relapse_above_cells``),
event-free survival (event: no remission, at the remission day, or relapse) and the
time mean of log10 burden from baseline (as finding 4e measures outcome).

Times are days from the baseline day. Rows whose integration failed keep their
status and message; their endpoints are missing (NaN / None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import results as R

RECIST_ORDER = ("CR", "PR", "SD", "PD")

#: Numeric per-patient endpoints by endpoint type (what ``tmesim sensitivity --endpoint`` accepts).
NUMERIC = {
    "solid": ("best_change_pct", "final_change_pct", "ttp_days", "pfs_days", "dor_days", "log10_burden_mean"),
    "leukemia": ("log10_burden_at_remission", "log10_min_burden", "log10_burden_mean", "efs_days", "relapse_day"),
}
#: Per type: the time-to-event endpoint (time, event) of the survival analysis.
SURVIVAL = {"solid": ("pfs_days", "pfs_event"), "leukemia": ("efs_days", "efs_event")}
#: Per type: the continuous outcome for biomarkers (lower is better) and the binary response for ROC AUC.
OUTCOME = {"solid": ("best_change_pct", "objective_response"), "leukemia": ("log10_burden_mean", "mrd_negative")}


def _interp_rows(t: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``y`` (rows, time) linearly interpolated at the times ``at`` (clipped to ``t``), (rows, len(at))."""
    at = np.clip(np.asarray(at, dtype=float), t[0], t[-1])
    j = np.clip(np.searchsorted(t, at, side="right") - 1, 0, t.size - 2) if t.size > 1 else np.zeros(at.size, int)
    if t.size == 1:
        return np.repeat(y[:, :1], at.size, axis=1)
    w = (at - t[j]) / (t[j + 1] - t[j])
    return y[:, j] * (1.0 - w) + y[:, j + 1] * w


def assessment_days(t: np.ndarray, baseline: float, every: float | None) -> np.ndarray:
    """Assessment times after baseline: every output time, or every ``every`` days (days, absolute)."""
    if every is None:
        return t[t > baseline + 1e-9]
    n = int(np.floor((t[-1] - baseline) / every + 1e-9))
    return baseline + every * np.arange(1, n + 1)


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True per row, -1 where none."""
    if mask.shape[1] == 0:
        return np.full(mask.shape[0], -1)
    idx = np.argmax(mask, axis=1)
    return np.where(mask.any(axis=1), idx, -1)


def _log10_mean(t: np.ndarray, y: np.ndarray, start: float) -> np.ndarray:
    """Time mean of log10(max(y, 1)) from ``start`` to the end (trapezoid), per row."""
    grid = np.concatenate(([start], t[t > start + 1e-9]))
    if grid.size < 2:
        return np.log10(np.maximum(_interp_rows(t, y, grid)[:, 0], 1.0))
    vals = np.log10(np.maximum(_interp_rows(t, y, grid), 1.0))
    return np.trapezoid(vals, grid, axis=1) / (grid[-1] - grid[0])


def solid_endpoints(t: np.ndarray, size: np.ndarray, cfg, baseline: float) -> dict[str, np.ndarray]:
    """RECIST-like endpoints of rows of ``size`` (rows, time; cells) on times ``t`` (days)."""
    rows = size.shape[0]
    s0 = _interp_rows(t, size, [baseline])[:, 0]
    ta = assessment_days(t, baseline, cfg.assessment_every_days)
    out: dict[str, np.ndarray] = {"baseline_cells": s0}
    with np.errstate(divide="ignore", invalid="ignore"):
        valid = s0 > 0
        s = _interp_rows(t, size, ta) if ta.size else np.zeros((rows, 0))
        power = 1.0 / 3.0 if cfg.measure == "diameter" else 1.0
        change = 100.0 * ((s / s0[:, None]) ** power - 1.0)
        nadir = np.minimum.accumulate(np.concatenate([s0[:, None], s], axis=1), axis=1)[:, :-1]
        from_nadir = 100.0 * ((s / nadir) ** power - 1.0)
        cr_level = cfg.complete_response_fraction * s0
        is_cr = s < cr_level[:, None]
        is_pr = change <= cfg.partial_response_pct
        is_pd = (from_nadir >= cfg.progressive_disease_pct) & ~is_cr & (s >= cr_level[:, None])
        if cfg.confirm_progression and ta.size > 1:
            # iRECIST: unconfirmed PD (iUPD) at k counts only if k+1 is still PD against the same nadir;
            # a PD at the last assessment cannot be reset and counts
            still = (100.0 * ((s[:, 1:] / nadir[:, :-1]) ** power - 1.0) >= cfg.progressive_disease_pct) \
                & (s[:, 1:] >= cr_level[:, None])
            is_pd = np.concatenate([is_pd[:, :-1] & still, is_pd[:, -1:]], axis=1)
        final_change = 100.0 * ((_interp_rows(t, size, [t[-1]])[:, 0] / s0) ** power - 1.0)
    first_pd = _first(is_pd)
    k = np.arange(ta.size)[None, :]
    upto = np.where(first_pd[:, None] >= 0, k <= first_pd[:, None], True)  # assessments counted for the BOR
    any_cr = (is_cr & upto).any(axis=1)
    any_pr = (is_pr & upto & ~is_pd).any(axis=1)
    any_sd = (~is_pd & upto & (ta - baseline >= cfg.stable_disease_min_days - 1e-9)[None, :]).any(axis=1)
    bor = np.where(any_cr, "CR", np.where(any_pr, "PR", np.where(any_sd, "SD", "PD"))).astype(object)
    no_assessment = ta.size == 0
    bor[~valid | no_assessment] = "NE"
    best = np.where(upto, change, np.inf).min(axis=1) if ta.size else np.full(rows, np.nan)
    last = (ta[-1] - baseline) if ta.size else 0.0
    progressed = first_pd >= 0
    ttp = np.where(progressed, ta[np.maximum(first_pd, 0)] - baseline if ta.size else 0.0, last)
    # death: the first output time from baseline at which the burden reaches the lethal size
    after = t >= baseline - 1e-9
    if cfg.death_above_cells is not None:
        dead_mask = (size[:, after] >= cfg.death_above_cells)
        first_death = _first(dead_mask)
        died = first_death >= 0
        death_day = np.where(died, t[after][np.maximum(first_death, 0)] - baseline, np.nan)
    else:
        died = np.zeros(rows, dtype=bool)
        death_day = np.full(rows, np.nan)
    pfs = np.where(died & (~progressed | (death_day < ttp)), death_day, ttp)
    pfs_event = progressed | died
    responded_mask = (is_cr | is_pr) & upto & ~is_pd
    first_resp = _first(responded_mask)
    responder = np.isin(bor, ("CR", "PR"))
    resp_day = np.where(responder & (first_resp >= 0), ta[np.maximum(first_resp, 0)] - baseline if ta.size else 0.0,
                        np.nan)
    dor = np.where(responder, pfs - resp_day, np.nan)
    out.update({
        "best_change_pct": np.where(valid, best, np.nan),
        "final_change_pct": np.where(valid, final_change, np.nan),
        "recist": bor,
        "objective_response": responder,
        "progressed": progressed & valid,
        "ttp_days": np.where(valid, ttp, np.nan),
        "died": died,
        "death_day": death_day,
        "pfs_days": np.where(valid, pfs, np.nan),
        "pfs_event": pfs_event & valid,
        "response_day": resp_day,
        "dor_days": dor,
        "dor_event": np.where(responder, pfs_event, False),
        "log10_burden_mean": _log10_mean(t, size, baseline),
    })
    return out


def leukemia_endpoints(t: np.ndarray, burden: np.ndarray, cfg, baseline: float) -> dict[str, np.ndarray]:
    """Remission, MRD, relapse and EFS of rows of ``burden`` (rows, time; cells) on times ``t`` (days)."""

    b0 = _interp_rows(t, burden, [baseline])[:, 0]
    day = baseline + cfg.remission_day
    evaluable = day <= t[-1] + 1e-9
    b_rem = _interp_rows(t, burden, [day])[:, 0]
    remission = (b_rem < cfg.remission_below_cells) & evaluable
    mrd_negative = (b_rem < cfg.mrd_below_cells) & evaluable
    later = t > day + 1e-9
    back = burden[:, later] >= cfg.relapse_threshold
    first_back = _first(back)
    relapse = remission & (first_back >= 0)
    relapse_day = np.where(relapse, t[later][np.maximum(first_back, 0)] - baseline if later.any() else np.nan, np.nan)
    horizon = t[-1] - baseline
    efs = np.where(~remission, cfg.remission_day, np.where(relapse, relapse_day, horizon))
    window = burden[:, t >= baseline - 1e-9]
    with np.errstate(divide="ignore"):
        log_rem = np.log10(np.maximum(b_rem, 1.0))
        log_min = np.log10(np.maximum(window.min(axis=1), 1.0))
    out = {
        "baseline_cells": b0,
        "log10_burden_at_remission": np.where(evaluable, log_rem, np.nan),
        "log10_min_burden": log_min,
        "remission": remission,
        "mrd_negative": mrd_negative,
        "relapse": relapse,
        "relapse_day": relapse_day,
        "efs_days": np.where(evaluable, efs, np.nan),
        "efs_event": (~remission | relapse) & evaluable,
        "log10_burden_mean": _log10_mean(t, burden, baseline),
    }
    return out


def patient_endpoints(ds: xr.Dataset, cfg, baseline: float) -> pd.DataFrame:
    """One row per (arm, patient) of ``ds``: ``arm``, ``patient``, ``status``, ``message``, ``solver_steps``
    and the endpoints of ``cfg`` (solid or leukaemia); failed rows have missing endpoints."""
    arms = [str(a) for a in ds["arm"].values]
    patients = ds["patient"].values
    size = R.variable(ds, cfg.size_variable).transpose("arm", "patient", "time").values
    t = ds["time"].values
    rows = size.reshape(-1, t.size)
    compute = solid_endpoints if cfg.type == "solid" else leukemia_endpoints
    with np.errstate(invalid="ignore", over="ignore"):
        values = compute(t, np.nan_to_num(rows, nan=0.0), cfg, baseline)
    status = ds["solver_status"].values.reshape(-1).astype(int)
    failed = status != 0
    table = pd.DataFrame({
        "patient": np.tile(patients, len(arms)).astype(np.int64),
        "arm": np.repeat(arms, len(patients)),
        "status": status,
        "message": ds["solver_message"].values.reshape(-1).astype(str),
        "solver_steps": ds["solver_steps"].values.reshape(-1).astype(np.int64),
    })
    for name, column in values.items():
        column = np.asarray(column)
        if column.dtype == bool:
            column = pd.array(column, dtype="boolean")
            column[failed] = pd.NA
        elif column.dtype == object:
            column = pd.array(column, dtype="string")
            column[failed] = pd.NA
        else:
            column = np.where(failed, np.nan, column.astype(float))
        table[name] = column
    return table
