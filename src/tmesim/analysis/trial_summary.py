"""Per-arm tables of a virtual trial, read from its per-patient table (``patients.parquet``).

* :func:`arm_table` (``arms.csv``): counts, response rates with exact 95%
  intervals, the median of the survival endpoint with its 95% interval, and the
  comparison with the reference arm (Cox hazard ratio with interval and p,
  log-rank p);
* :func:`comparison_table`: those comparisons alone, one row per arm;
* :func:`biomarker_table`: per arm and baseline biomarker (drawn parameters,
  baseline variables), Spearman's rho (and p) against the continuous outcome and
  the ROC AUC of the biomarker for response.

Failed integrations (``status != 0``) are counted and left out of every statistic.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..trials.batch import BASELINE_PREFIX, PARAM_PREFIX
from ..trials.endpoints import OUTCOME, SURVIVAL
from .survival import cox_hazard_ratio, logrank, median_survival, response_rate, survival_at


def _ok(patients: pd.DataFrame) -> pd.DataFrame:
    return patients[patients["status"] == 0]


def _rate(row: dict, name: str, mask: pd.Series, n: int) -> None:
    k = int(mask.fillna(False).astype(bool).sum())
    rate, lo, hi = response_rate(k, n)
    row[f"n_{name}"] = k
    row[f"{name}_rate"], row[f"{name}_lo"], row[f"{name}_hi"] = rate, lo, hi


def _median(values: pd.Series) -> float:
    """Median of the finite values (NaN, without a warning, when there are none)."""
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else math.nan


def comparison_table(patients: pd.DataFrame, cohort) -> pd.DataFrame:
    """Per arm: Cox hazard ratio against the reference arm (with 95% interval and p) and log-rank p, on the
    survival endpoint (PFS for solid tumours, EFS for leukaemia)."""
    time_col, event_col = SURVIVAL[cohort.endpoints.type]
    ok = _ok(patients)
    ref = ok[ok["arm"] == cohort.reference_arm]
    rows = []
    for arm in cohort.arms:
        sub = ok[ok["arm"] == arm]
        row = {"arm": arm, "reference_arm": cohort.reference_arm, "endpoint": time_col.removesuffix("_days")}
        if arm == cohort.reference_arm:
            row.update(hazard_ratio=1.0, hr_lo=math.nan, hr_hi=math.nan, cox_p=math.nan, logrank_stat=math.nan,
                       logrank_p=math.nan)
        else:
            hr, lo, hi, p = cox_hazard_ratio(ref[time_col], ref[event_col].astype(bool), sub[time_col],
                                             sub[event_col].astype(bool))
            stat, lp = logrank(ref[time_col], ref[event_col].astype(bool), sub[time_col], sub[event_col].astype(bool))
            row.update(hazard_ratio=hr, hr_lo=lo, hr_hi=hi, cox_p=p, logrank_stat=stat, logrank_p=lp)
        rows.append(row)
    return pd.DataFrame(rows)


def arm_table(patients: pd.DataFrame, cohort) -> pd.DataFrame:
    """One row per arm (the cohort's order); see the module docstring."""
    kind = cohort.endpoints.type
    time_col, event_col = SURVIVAL[kind]
    horizon = float(cohort.spec.days - cohort.baseline_day)
    rows = []
    for arm in cohort.arms:
        allrows = patients[patients["arm"] == arm]
        sub = _ok(allrows)
        n = len(sub)
        row = {"arm": arm, "patients": len(allrows), "failed": int((allrows["status"] != 0).sum()), "evaluable": n}
        if kind == "solid":
            for cls in ("CR", "PR", "SD", "PD", "NE"):
                row[cls] = int((sub["recist"] == cls).sum())
            evaluable = sub[sub["recist"] != "NE"]
            _rate(row, "objective_response", evaluable["objective_response"], len(evaluable))
            _rate(row, "disease_control", evaluable["recist"].isin(["CR", "PR", "SD"]), len(evaluable))
            row["median_best_change_pct"] = _median(sub["best_change_pct"])
        else:
            _rate(row, "remission", sub["remission"], n)
            _rate(row, "mrd_negative", sub["mrd_negative"], n)
            remitters = sub[sub["remission"].fillna(False).astype(bool)]
            _rate(row, "relapse", remitters["relapse"], len(remitters))
            row["median_log10_burden_mean"] = _median(sub["log10_burden_mean"])
        med, lo, hi = median_survival(sub[time_col], sub[event_col].astype(bool))
        name = time_col.removesuffix("_days")
        row[f"{name}_events"] = int(sub[event_col].fillna(False).astype(bool).sum())
        row[f"median_{name}_days"], row[f"median_{name}_lo"], row[f"median_{name}_hi"] = med, lo, hi
        row[f"{name}_at_horizon"] = survival_at(sub[time_col], sub[event_col].astype(bool), horizon)
        if kind == "solid":
            med, lo, hi = median_survival(sub["ttp_days"], sub["progressed"].astype(bool))
            row["median_ttp_days"] = med
            responders = sub[sub["objective_response"].fillna(False).astype(bool)]
            med, lo, hi = median_survival(responders["dor_days"], responders["dor_event"].astype(bool))
            row["median_dor_days"], row["median_dor_lo"], row["median_dor_hi"] = med, lo, hi
        rows.append(row)
    table = pd.DataFrame(rows)
    comparisons = comparison_table(patients, cohort).drop(columns=["endpoint"])
    return table.merge(comparisons, on="arm", how="left")


def biomarker_columns(patients: pd.DataFrame) -> list[str]:
    """The baseline biomarker columns of a trial's table: drawn parameters and baseline variables."""
    return [c for c in patients.columns if c.startswith((PARAM_PREFIX, BASELINE_PREFIX))]


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (Mann-Whitney U / (n1 n0)); NaN when
    either class is empty. 0.5 is no association; below 0.5, lower scores go with response."""
    from scipy.stats import mannwhitneyu

    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (pos.size * neg.size))


def _spread(x: np.ndarray) -> float:
    return float(x.max() - x.min()) if x.size else 0.0


def biomarker_table(patients: pd.DataFrame, cohort) -> pd.DataFrame:
    """Per arm and biomarker: Spearman rho and p against the outcome, and ROC AUC for response."""
    from scipy.stats import spearmanr

    outcome, response = OUTCOME[cohort.endpoints.type]
    ok = _ok(patients)
    rows = []
    for arm in cohort.arms:
        sub = ok[ok["arm"] == arm]
        y = sub[outcome].to_numpy(dtype=float)
        r = sub[response].fillna(False).to_numpy(dtype=bool)
        for col in biomarker_columns(patients):
            x = sub[col].to_numpy(dtype=float)
            fine = np.isfinite(x) & np.isfinite(y)
            rho = p = math.nan
            if fine.sum() >= 3 and _spread(x[fine]) > 0 and _spread(y[fine]) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rho, p = spearmanr(x[fine], y[fine])
            finite = np.isfinite(x)
            auc = roc_auc(x[finite], r[finite]) if _spread(x[finite]) > 0 else math.nan
            rows.append({"arm": arm, "biomarker": col, "outcome": outcome, "spearman_rho": float(rho),
                         "spearman_p": float(p), "response": response, "roc_auc": auc,
                         "responders": int(r.sum()), "n": int(len(sub))})
    return pd.DataFrame(rows)
