"""The self-contained HTML report of a virtual trial (``report.html``).

One page a scientist opens in a browser, with nothing to fetch: every figure is
embedded as a ``data:image/png;base64`` URI and the styles are inline. Sections,
each a ``<section id=...>`` whose tables carry ids (so tests and scripts can
find them): ``summary``, ``arms`` (tables ``arms-summary`` and ``arms``), ``comparisons`` (table
``comparisons``), ``figures``, ``biomarkers`` (table ``biomarkers``), ``failed``
(table ``failed``), ``cohort`` (table ``distributions`` and the cohort file),
``parameters`` (table ``parameters``: the scenario's resolved parameters with
unit, source and kind) and ``provenance`` (table ``provenance``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import platform
from pathlib import Path

import pandas as pd

REPORT_TABLES = ("arms-summary", "arms", "comparisons", "biomarkers", "failed", "distributions", "parameters", "provenance")

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
td.text{text-align:left;white-space:normal;max-width:40em;min-width:4em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
.note{color:#555;font-size:.9em}
"""

FIGURE_CAPTIONS = {
    "survival": "Kaplan-Meier curves of the survival endpoint per arm, with 95% pointwise bands.",
    "waterfall": "Waterfall: each patient's best change (solid tumours; colours: best overall response) or change "
                 "of burden at the remission day (leukaemia).",
    "spider": "Spider plot: change from baseline over time (solid) or leukaemic burden (leukaemia), first patients "
              "of each arm.",
    "swimmer": "Swimmer plot: time on study, response and events, first patients of each arm.",
    "biomarkers": "Baseline biomarkers against the continuous outcome, with Spearman's rho per arm.",
}


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "not reached" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def html_table(df: pd.DataFrame, table_id: str, max_rows: int | None = None) -> str:
    """``df`` as an HTML table with ``id=table_id`` (floats to 4 significant digits, NaN as ``-``, inf as
    'not reached'); at most ``max_rows`` rows, with a note of how many were left out."""
    note = ""
    if max_rows is not None and len(df) > max_rows:
        note = f'<p class="note">{len(df) - max_rows} more rows in the files.</p>'
        df = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for value in row:
            text = _fmt(value)
            cls = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{note}'


def embed_png(path: Path) -> str:
    """A ``data:`` URI of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def parameter_table(cohort) -> pd.DataFrame:
    """The scenario's resolved parameters (as given: value, unit, source, kind); drawn ones say so."""
    drawn = {d.name for d in cohort.draws}
    rows = []
    for r in cohort.scenario.base_parameters.records():
        rows.append({"parameter": r.name, "value": float(r.given_value), "unit": r.given_unit,
                     "source": r.source, "kind": r.source_kind,
                     "in this trial": "drawn per patient" if r.name in drawn else "fixed",
                     "description": r.description})
    return pd.DataFrame(rows)


def distribution_table(cohort) -> pd.DataFrame:
    rows = []
    for d in cohort.draws:
        spec = d.distribution.model_dump(exclude_none=True, exclude={"unit", "bounds"})
        kind = spec.pop("distribution")
        lo, hi = d.bounds
        rows.append({"parameter": d.name, "distribution": kind,
                     "arguments": ", ".join(f"{k}={v}" for k, v in spec.items()), "unit": d.unit,
                     "effective bounds": f"[{_fmt(lo) if lo is not None else '-inf'}, "
                                         f"{_fmt(hi) if hi is not None else 'inf'}]",
                     "median": d.median()})
    for c in cohort.spec.correlations:
        rows.append({"parameter": f"{c.between[0]} ~ {c.between[1]}", "distribution": "Gaussian copula",
                     "arguments": f"rho={c.rho}", "unit": "", "effective bounds": "", "median": math.nan})
    return pd.DataFrame(rows, columns=["parameter", "distribution", "arguments", "unit", "effective bounds", "median"])


def arms_at_a_glance(arms: pd.DataFrame, cohort) -> pd.DataFrame:
    """The main per-arm results, one column per arm: counts, rates and medians with their 95% intervals."""
    def pct(r, name):
        v = r[f"{name}_rate"]
        return "-" if not math.isfinite(v) else f"{100 * v:.1f}% ({100 * r[name + '_lo']:.1f}-{100 * r[name + '_hi']:.1f})"

    def days(r, name):
        m, lo, hi = r[f"median_{name}_days"], r[f"median_{name}_lo"], r[f"median_{name}_hi"]
        return "not reached" if m == lo == hi == math.inf else f"{_fmt(m)} ({_fmt(lo)}-{_fmt(hi)})"

    solid = cohort.endpoints.type == "solid"
    survival = "pfs" if solid else "efs"
    rows = {"patients": lambda r: str(r["patients"]), "failed integrations": lambda r: str(r["failed"])}
    if solid:
        rows["CR / PR / SD / PD / NE"] = lambda r: " / ".join(str(r[c]) for c in ("CR", "PR", "SD", "PD", "NE"))
    for name in (("objective_response", "disease_control") if solid else ("remission", "mrd_negative", "relapse")):
        rows[name.replace("_", " ") + " rate"] = lambda r, n=name: pct(r, n)
    rows[f"median {survival.upper()} (days)"] = lambda r: days(r, survival)
    rows[f"{survival.upper()} at the horizon"] = lambda r: _fmt(float(r[f"{survival}_at_horizon"]))
    rows["hazard ratio vs reference"] = lambda r: ("reference" if r["arm"] == cohort.reference_arm else
                                                   "-" if not math.isfinite(r["hr_lo"]) else
                                                   f"{r['hazard_ratio']:.3g} ({r['hr_lo']:.3g}-{r['hr_hi']:.3g})")
    rows["log-rank p vs reference"] = lambda r: _fmt(float(r["logrank_p"]))
    records = [r for _, r in arms.iterrows()]
    return pd.DataFrame([{"": label, **{str(r["arm"]): cell(r) for r in records}} for label, cell in rows.items()])


def provenance_table(cohort) -> pd.DataFrame:
    import lifelines
    import numpy
    import scipy
    import xarray

    from .. import __version__

    rows = [("tmesim", __version__), ("cohort", cohort.name), ("cohort file", cohort.source),
            ("fingerprint", cohort.fingerprint()), ("scenario", cohort.scenario.name),
            ("parameter set", cohort.scenario.parameter_set), ("seed", str(cohort.seed)),
            ("patients", str(cohort.n_patients)), ("arms", ", ".join(cohort.arms)),
            ("reference arm", cohort.reference_arm), ("baseline day", _fmt(float(cohort.baseline_day))),
            ("horizon (days)", _fmt(float(cohort.spec.days))), ("python", platform.python_version()),
            ("numpy", numpy.__version__), ("scipy", scipy.__version__), ("pandas", pd.__version__),
            ("xarray", xarray.__version__), ("lifelines", lifelines.__version__)]
    return pd.DataFrame(rows, columns=["item", "value"])


def endpoint_note(cohort) -> str:
    cfg = cohort.endpoints
    if cfg.type == "solid":
        every = ("every output" if cfg.assessment_every_days is None else f"every {cfg.assessment_every_days:g} days")
        return (f"Solid-tumour endpoints on <code>{cfg.size_variable}</code> from day {cohort.baseline_day:g}, assessed "
                f"{every}: change in {cfg.measure} from baseline; CR below {cfg.complete_response_fraction:g} of the "
                f"baseline cells, PR at {cfg.partial_response_pct:g}% or less, PD at +{cfg.progressive_disease_pct:g}% "
                "from the nadir (RECIST 1.1 thresholds)"
                + ("; a PD counts only if the next assessment confirms it (iRECIST)" if cfg.confirm_progression else "")
                + "; best overall response up to the first PD. Survival endpoint: "
                "progression-free survival" + (f" (death: burden above {cfg.death_above_cells:g} cells)"
                                                  if cfg.death_above_cells else "") + ".")
    return (f"Leukaemia endpoints on <code>{cfg.size_variable}</code> from day {cohort.baseline_day:g}: remission "
            f"below {cfg.remission_below_cells:g} cells and MRD negativity below {cfg.mrd_below_cells:g} cells at day "
            f"{cfg.remission_day:g}; relapse at {cfg.relapse_threshold:g} cells after remission; event-free survival "
            f"(events: no remission, at day {cfg.remission_day:g}, or relapse).")


def render_report(cohort, patients: pd.DataFrame, arms: pd.DataFrame, comparisons: pd.DataFrame,
                  biomarkers: pd.DataFrame, figures: list[Path]) -> str:
    """The report's HTML text (see the module docstring)."""
    n_failed = int((patients["status"] != 0).sum())
    title = f"Virtual trial: {cohort.name}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        "<section id='summary'><h2>Summary</h2>"
        f"<p>{html.escape(cohort.spec.description or '')}</p>"
        f"<p>{cohort.n_patients} virtual patients x {len(cohort.arms)} arms ({html.escape(', '.join(cohort.arms))}) "
        f"of scenario <code>{html.escape(cohort.scenario.name)}</code>, {cohort.spec.days:g} days, seed {cohort.seed}. "
        f"{n_failed} of {len(patients)} runs failed to integrate and are left out of the statistics.</p>"
        f"<p class='note'>{endpoint_note(cohort)} Response rates carry exact (Clopper-Pearson) 95% intervals; medians "
        "of time-to-event endpoints are Kaplan-Meier medians with 95% intervals ('not reached' when the curve stays "
        "above one half). The arms hold the same virtual patients; tests treat them as independent samples.</p>"
        "</section>")
    parts.append("<section id='arms'><h2>Arms</h2>" + html_table(arms_at_a_glance(arms, cohort), "arms-summary")
                 + "<h3>Every column of arms.csv</h3>" + html_table(arms, "arms") + "</section>")
    parts.append(f"<section id='comparisons'><h2>Comparisons with the reference arm "
                 f"({html.escape(cohort.reference_arm)})</h2>" + html_table(comparisons, "comparisons") + "</section>")
    figs = []
    for path in figures:
        name = Path(path).stem
        figs.append(f"<figure id='figure-{html.escape(name)}'><img alt='{html.escape(name)}' src='{embed_png(path)}'>"
                    f"<figcaption>{html.escape(FIGURE_CAPTIONS.get(name, name))}</figcaption></figure>")
    parts.append("<section id='figures'><h2>Figures</h2>" + "".join(figs) + "</section>")
    parts.append("<section id='biomarkers'><h2>Baseline biomarkers</h2>"
                 "<p class='note'>Spearman's rho against the continuous outcome (lower is better) and the ROC AUC of "
                 "each biomarker for response (0.5: no information; below 0.5: lower values go with response).</p>"
                 + html_table(biomarkers, "biomarkers") + "</section>")
    failed = patients.loc[patients["status"] != 0, ["patient", "arm", "status", "message"]]
    parts.append("<section id='failed'><h2>Failed integrations</h2>"
                 + html_table(failed, "failed", max_rows=50) + "</section>")
    parts.append("<section id='cohort'><h2>Cohort</h2>" + html_table(distribution_table(cohort), "distributions")
                 + "<h3>Cohort file</h3><pre>" + html.escape(cohort.text or json.dumps(cohort.describe(), indent=2))
                 + "</pre><h3>Scenario (resolved)</h3><pre>" + html.escape(cohort.scenario.to_yaml()) + "</pre></section>")
    parts.append("<section id='parameters'><h2>Parameters (resolved, with sources)</h2>"
                 + html_table(parameter_table(cohort), "parameters") + "</section>")
    parts.append("<section id='provenance'><h2>Provenance</h2>" + html_table(provenance_table(cohort), "provenance")
                 + "</section></body></html>")
    return "\n".join(parts)


def write_report(folder: Path, cohort, patients, arms, comparisons, biomarkers, figures) -> Path:
    """Write ``folder/report.html`` (atomically); return its path."""
    from ..trials.store import REPORT_FILE, write_text_atomic

    return write_text_atomic(Path(folder) / REPORT_FILE,
                             render_report(cohort, patients, arms, comparisons, biomarkers, figures))
