"""``tmesim reproduce --scale spatial``: findings 1, 2 and 5 run by the spatial engine.

Each check's well-mixed scenario gets a spatial twin (:func:`spatial_twin`): the same parameter set, arms,
doses, knobs and CAR T products, run by the spatial engine (docs/spatial.md) as a user runs it, not in the
well-mixed limit (:mod:`tmesim.spatial.limit`): a 2D square of :data:`SIDE_SITES` sites of 20 um with a disc
of tumour cells of radius :data:`RADIUS_UM` in the middle, the set's diffusion coefficients, oxygen and nutrient
consumption, vessels on the engine's default share of the sites (anywhere, so the tumour is perfused), host
immune cells at the set's ratios around and in it, recruitment and doses scaled by the domain's share of the
whole tumour (``initial_tumor_cells``). The field steps are :data:`FIELD_DT_MINUTES` (the engine's defaults
are 1 min, and 0.1 min for oxygen): see docs/findings.md ("At the spatial scale") for what that costs and
changes. Each twin runs :data:`HORIZON_DAYS` days, which may be shorter than the well-mixed scenario (the
reason is in :data:`HORIZON_NOTES`); a check's windows clip to it as they do for any run.

Replicates play the role of robustness draws: a spatial run puts them on the results' ``patient`` axis, so
the checks of :mod:`.findings` evaluate them unchanged (:func:`tmesim.reproduce.runner.evaluate`), and the
share of replicates in which a check holds is its ``fraction``. The replicates' seeds are spawned from the
scenario's seed (plus ``seed``) and shared by the arms, so arms are paired replicate for replicate.
Mechanism controls (:func:`tmesim.reproduce.runner.cut_scenario`) run on request only (``controls``): they
add a run of the whole twin per mechanism (one for findings 1 and 2 together, three for finding 5), which
more than doubles the time.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError
from . import findings as F
from . import runner

#: The findings (DESIGN.md section 6) with a spatial twin.
SPATIAL_FINDINGS = (1, 2, 5)
#: Default replicates per arm: an odd number, so that a share is never a tie, and few, so that the three
#: findings run in about 20 minutes on two shared cores (docs/findings.md, "At the spatial scale").
DEFAULT_REPLICATES = 3
MAX_REPLICATES = 100
#: Sites per edge of the square 2D domain (20-um sites: 640 um). With the disc below it holds the B16 tumour's
#: growth to day 21 without filling (~780 cells), and one arm and replicate for 21 days took 12-23 s.
SIDE_SITES = 32
SITE_UM = 20.0
#: Radius (um) of the tumour disc at the start: 113 tumour cells, so that the initial infiltrate at the set's
#: ratios (0.005 CD8 and 0.1 macrophages per tumour cell) has a few cells of each kind.
RADIUS_UM = 120.0
#: Field and oxygen sub-steps (min), half the 6-min cell step. The fields are most of a step's time; at 3 min
#: a step costs about 0.45 of one at 1 min and 0.13 of one at the defaults (oxygen at 0.1 min), and the oxygen
#: the tumour's cells see moves from 16.6 mmHg (0.1 min) to 15.8 (1-3 min) at day 4 (docs/findings.md).
FIELD_DT_MINUTES = 3.0
#: Scenario -> simulated days of its twin.
HORIZON_DAYS: dict[str, float] = {
    "finding1_ifng_ferroptosis": 21.0,
    "finding2_icb_ferroptosis_inducers": 21.0,
    "lymphoma_car_subsets": 21.0,
}
#: Scenario -> why its twin's horizon is what it is (said in each result's note and in the docs).
HORIZON_NOTES: dict[str, str] = {
    "finding1_ifng_ferroptosis": "21 d, not 30: the biomarker window is d7-21; 1e's AUC runs d0-21",
    "finding2_icb_ferroptosis_inducers": "21 d, not 30: the AUCs run d0-21 (15 days of treatment from d6)",
    "lymphoma_car_subsets": "21 d, not 35: 14 days after the d7 infusion; AUCs, kills and means run to d21",
}
#: Output interval (hours) of a twin: the well-mixed scenarios' 6 h.
OUTPUT_INTERVAL_HOURS = 6.0

Progress = Callable[[str, float], None]


# ------------------------------------------------------------------ input
def check_replicates(replicates: int) -> None:
    """Raise :class:`InputError` (naming ``--replicates``) unless ``1 <= replicates <= MAX_REPLICATES``."""
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)):
        raise InputError("--replicates", f"must be a whole number, got {replicates!r}")
    if not 1 <= replicates <= MAX_REPLICATES:
        raise InputError("--replicates", f"must be between 1 and {MAX_REPLICATES}, got {replicates}",
                         f"{DEFAULT_REPLICATES} by default")


def select(ids: Sequence[str] | None = None, findings: Sequence[F.Finding] = F.FINDINGS) -> list[F.Finding]:
    """The checks named by ``ids`` (as :func:`.findings.select`; every check of :data:`SPATIAL_FINDINGS` when
    empty), all of which must belong to a finding with a spatial twin.

    Raises
    ------
    tmesim.errors.InputError
        For an unknown id, or one of a finding without a spatial twin (naming those available).
    """
    available = ", ".join(map(str, SPATIAL_FINDINGS))
    if not ids:
        return [f for f in findings if f.number in SPATIAL_FINDINGS]
    chosen = F.select(ids, findings)
    other = sorted({f.number for f in chosen if f.number not in SPATIAL_FINDINGS})
    if other:
        which = ", ".join(map(str, other))
        raise InputError("ID", f"finding{'s' if len(other) > 1 else ''} {which} {'have' if len(other) > 1 else 'has'} "
                               f"no spatial twin", f"at --scale spatial choose from findings {available}")
    return chosen


# ------------------------------------------------------------------- twin
def spatial_twin(scenario, *, replicates: int = DEFAULT_REPLICATES, seed: int = 0, days: float | None = None,
                 side: int | None = None, radius_um: float | None = None):
    """The spatial twin of a well-mixed ``scenario`` (see the module docstring).

    Parameters
    ----------
    scenario : a well-mixed :class:`tmesim.scenario.Scenario` (one patient per arm: no cohort).
    replicates : independent runs of each arm (>= 1), on the results' ``patient`` axis.
    seed : offset added to the scenario's seed; the replicates' seeds are spawned from the sum.
    days : simulated days (default :data:`HORIZON_DAYS` of the scenario, else the scenario's own).
    side : sites per edge of the square domain (default :data:`SIDE_SITES`; 20-um sites).
    radius_um : radius of the tumour disc at the start, um (default :data:`RADIUS_UM`).

    Returns
    -------
    Scenario with ``scale: spatial``: the same name, parameter set, parameter changes, arms (knobs, doses,
    products) and output interval.
    """
    check_replicates(replicates)
    side = SIDE_SITES if side is None else int(side)
    radius_um = RADIUS_UM if radius_um is None else float(radius_um)
    days = HORIZON_DAYS.get(scenario.name, scenario.days) if days is None else float(days)
    section = {"dimensions": 2, "domain_um": [SITE_UM * side] * 2, "site_um": SITE_UM,
               "field_dt_minutes": FIELD_DT_MINUTES, "oxygen_dt_minutes": FIELD_DT_MINUTES,
               "geometry": {"kind": "spheroid", "radius_um": radius_um},
               "replicates": int(replicates), "snapshot_interval_hours": 0, "checkpoint_interval_hours": 0}
    return scenario.with_overrides(days=min(days, scenario.days), seed=scenario.seed + seed, scale="spatial",
                                   spatial=section, cohort={"size": 1})


def cut_twin(scenario, mechanism: F.Mechanism, where: str = "mechanism", **twin: Any):
    """The spatial twin (:func:`spatial_twin`, keyword arguments as there) of ``scenario`` with ``mechanism``
    cut in every arm (:func:`.runner.cut_scenario`); a spatial run has no cohort, so the cut values hold in
    every replicate."""
    return spatial_twin(runner.cut_scenario(scenario, mechanism, where=where), **twin)


def simulate(scenario, progress: Callable[[float], None] | None = None) -> xr.Dataset:
    """Run a spatial twin; replicates are on ``patient`` with a ``seed`` coordinate (the twin's seed)."""
    from ..simulation import Simulation

    ds = Simulation(scenario).run(progress)
    return ds.assign_coords(seed=("patient", np.full(ds.sizes["patient"], scenario.seed)))


# ------------------------------------------------------------------- run
def run_spatial_findings(ids: Sequence[str] | None = None, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
                         out: Path | str | None = None, progress: Progress | None = None, controls: bool = False,
                         findings: Sequence[F.Finding] = F.FINDINGS, **twin: Any) -> list[runner.Result]:
    """Run the checks named by ``ids`` (every check of :data:`SPATIAL_FINDINGS` by default) on spatial twins.

    Parameters
    ----------
    ids : check ids (``"2c"``), finding numbers (``"2"``) or scenario names, of findings 1, 2 and 5.
    replicates : replicates per arm (>= 1); a check holds if its direction is right in at least its required
        share (90%) of them.
    seed : offset added to each scenario's seed.
    out : folder for one figure per finding (``finding<N>.png``); none when None.
    progress : called as ``progress(description, fraction_done)``.
    controls : also run each required check's mechanism control on the same replicates (one more twin run
        per scenario and mechanism). Without them, kinds other than ``structural`` are ``not controlled``.
    twin : ``days``, ``side``, ``radius_um`` of :func:`spatial_twin` (quick tests).

    Returns
    -------
    list of :class:`.runner.Result`, in catalogue order, as :func:`.runner.run_findings` gives them; ``n_draws``
    counts replicates and ``note`` gives the twin (domain, horizon). A check that reads a variable or an arm
    the spatial run does not have gets the status ``missing data: ...`` naming it (and fails); a scenario that
    cannot run gives its checks its error as status.

    Raises
    ------
    tmesim.errors.InputError
        For a bad ``replicates``, an id outside :data:`SPATIAL_FINDINGS`, or bad ``effects.yaml``.
    """
    from .effects import effect_fields, effects
    from .ledger import calibrated_on

    check_replicates(replicates)
    chosen = select(ids, findings)
    data = effects()
    by_scenario: dict[str, list[F.Finding]] = {}
    for f in chosen:
        by_scenario.setdefault(f.scenario, []).append(f)
    scenarios = {name: runner._load(name) for name in by_scenario}
    cut_jobs: dict[tuple[str, F.Mechanism], list[F.Finding]] = {}
    if controls:
        for f in chosen:
            if f.mechanism is not None and not (f.informational or f.structural) and scenarios[f.scenario][0] is not None:
                cut_jobs.setdefault((f.scenario, f.mechanism), []).append(f)
    options = dict(replicates=replicates, seed=seed, **twin)
    # every twin is built before anything runs: a bad mechanism or option is an input error, not a status
    twins = {name: spatial_twin(scn, **options) for name, (scn, _) in scenarios.items() if scn is not None}
    cut_twins = {key: cut_twin(scenarios[key[0]][0], key[1], where=f"mechanism of check {checks[0].id}", **options)
                 for key, checks in cut_jobs.items()}
    n_jobs = max(len(twins) + len(cut_twins), 1)

    def stepper(j: int, label: str):
        return (lambda frac: progress(label, (j + frac) / n_jobs)) if progress else None

    results: dict[str, runner.Result] = {}
    datasets: dict[tuple[str, str], xr.Dataset] = {}
    seconds: dict[str, float] = {}
    for j, (name, checks) in enumerate(by_scenario.items()):
        scn, why = scenarios[name]
        if scn is None:
            results.update({f.id: runner._not_run(f, why) for f in checks})
            continue
        t0 = time.perf_counter()
        ds, why = _run(twins[name], stepper(j, f"{name} (spatial)"))
        seconds[name] = time.perf_counter() - t0
        if ds is None:
            results.update({f.id: runner._not_run(f, why) for f in checks})
            continue
        datasets[(name, "draws")] = ds
        for f in checks:
            results[f.id] = _evaluate(f, ds, twins[name], seconds[name])
    cuts: dict[str, tuple[float, int, float]] = {}
    cut_failed: dict[str, str] = {}
    for j, ((name, mechanism), cut) in enumerate(cut_twins.items(), start=len(twins)):
        checks = [f for f in cut_jobs[(name, mechanism)] if results[f.id].status == "ok"]
        if not checks:
            continue
        ds, why = _run(cut, stepper(j, f"{name} (spatial), {mechanism.label} cut"))
        for f in checks:
            if ds is None:
                cut_failed[f.id] = f"mechanism control did not run ({why})"
            else:
                cuts[f.id] = runner.evaluate_cut(f, ds, np.ones(ds.sizes["patient"], dtype=bool))
    ordered = []
    for f in chosen:
        r = results[f.id]
        fraction_cut, n_cut, effect_cut = cuts.get(f.id, (math.nan, 0, math.nan))
        kind, reason = runner.classify(r.holds, f.informational, f.structural, fraction_cut, r.status)
        if kind == "not controlled":
            reason = cut_failed.get(f.id) or (reason if controls else
                                              "mechanism controls not run at the spatial scale (--controls runs them)")
        ledger = calibrated_on(f.id, scenarios[f.scenario][0])
        ordered.append(replace(
            r, mechanism=f.mechanism.overrides if f.mechanism else (),
            mechanism_label=f.mechanism.label if f.mechanism else "", fraction_cut=fraction_cut, n_cut=n_cut,
            effect_cut=effect_cut, kind=kind, kind_reason=reason, calibrated_on=ledger, fitted=bool(ledger),
            **effect_fields(f.id, r.effect, r.lo, r.hi, data)))
    if out is not None:
        write_figures(ordered, datasets, Path(out), replicates)
    if progress:
        progress("done", 1.0)
    return ordered


def _run(twin, progress) -> tuple[xr.Dataset | None, str]:
    """The twin's Dataset, or ``(None, why)``: one broken scenario must not stop the others."""
    try:
        return simulate(twin, progress), ""
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- reported as the checks' status
        return None, f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"


def describe(twin) -> str:
    """One line saying what a twin is: domain, tumour, field step, horizon and its reason."""
    sp = twin.spatial
    shape = "x".join(str(n) for n in sp.shape[::-1])
    horizon = HORIZON_NOTES[twin.name] if HORIZON_DAYS.get(twin.name) == twin.days else f"{twin.days:g} d"
    return (f"spatial twin: {shape} sites of {sp.site_um:g} um, tumour disc r {sp.geometry.radius_um:g} um, "
            f"fields at {sp.field_dt_minutes:g} min; {horizon}")


def _evaluate(finding: F.Finding, ds: xr.Dataset, twin, seconds: float) -> runner.Result:
    """:func:`.runner.evaluate` on the replicates, with a missing variable or arm reported as ``missing data``
    and the twin described in the note."""
    r = runner.evaluate(finding, ds)
    # what findings.MissingData says: "missing variable 'x'", "missing arm 'x'"
    status = f"missing data: {r.status.removeprefix('missing ')}" if r.status.startswith("missing ") else r.status
    unresolved = ""
    if r.status == "ok" and isinstance(finding.holds_per_draw, F.Direction):
        # a replicate with no immune cell acting leaves arms that differ by rounding only (ratios 1 +/- 1e-7):
        # its direction is noise, counted as the check's criterion says but named here (the verdict is unchanged)
        values = np.asarray(r.values, dtype=float)
        n = int(np.sum(np.isfinite(values) & ~finding.holds_per_draw.resolved(values, runner.CUT_RESOLUTION)))
        unresolved = f"{n} of {values.size} replicates within {runner.CUT_RESOLUTION:g} of the threshold" if n else ""
    note = "; ".join(filter(None, [r.note, unresolved, describe(twin), f"{seconds:.0f} s for the scenario"]))
    if status != r.status:
        kind, reason = runner.classify(False, finding.informational, finding.structural, status=status)
        return replace(r, status=status, note=note, kind=kind, kind_reason=reason)
    return replace(r, note=note)


# ---------------------------------------------------------------- outputs
def to_json(results: Sequence[runner.Result], replicates: int) -> list[dict[str, Any]]:
    """JSON records: ``scale`` (``"spatial"``), ``replicates`` and ``share_of_replicates`` (the share in which
    the check holds, = ``fraction``) first, then :meth:`.runner.Result.to_json`."""
    return [{"scale": "spatial", "replicates": int(replicates), "share_of_replicates": r.to_json()["fraction"],
             **r.to_json()} for r in results]


def write_json(results: Sequence[runner.Result], path: Path, replicates: int) -> Path:
    """Write :func:`to_json` as a JSON list, atomically (a killed run leaves no half-written file)."""
    from ..io.outputs import write_text_atomic

    return write_text_atomic(Path(path), json.dumps(to_json(results, replicates), indent=2) + "\n")


def write_figures(results: Sequence[runner.Result], datasets: dict[tuple[str, str], xr.Dataset], out: Path,
                  replicates: int) -> list[Path]:
    """One PNG per finding (``finding<N>.png``): :func:`.runner.figure_finding` over the replicates (median and
    10-90% band), titled as a spatial run."""
    import textwrap

    from ..analysis.plots import DPI

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number in dict.fromkeys(r.finding for r in results):
        rs = [r for r in results if r.finding == number]
        ds = datasets.get((rs[0].scenario, "draws"))
        if ds is None:
            continue
        fig = runner.figure_finding(number, ds, rs)
        statement = textwrap.fill(f"Finding {number} at the spatial scale: {F.STATEMENTS.get(number, '')}", 120)
        fig.suptitle(f"{statement}\nscenario {rs[0].scenario}, spatial twin; {replicates} replicates per arm "
                     f"(median, {int(runner.BAND[0] * 100)}-{int(runner.BAND[1] * 100)}% band); bars: share of "
                     "replicates in which each check holds", fontsize="medium")
        for ax in fig.axes:
            if ax.get_xlabel().startswith("share of draws"):
                ax.set_xlabel("share of replicates in which the direction holds")
        path = out / f"finding{number}.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)
    return written
