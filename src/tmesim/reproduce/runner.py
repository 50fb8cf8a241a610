"""Run the reproducibility checks: robustness draws, evaluation, figures.

Robustness draws use the engine's virtual cohort: for a check's scenario the
cohort becomes ``{size: n, variability: {all: 0.25}}`` (every non-knob
parameter scaled by an independent log-normal factor, about +/-25%), so one
:meth:`~tmesim.Simulation.run` call runs every draw of every arm,
paired (draw ``i`` has the same parameters in every arm). The draws are split
over several seeds (:data:`DRAWS_PER_SEED` per seed: seeds ``scenario.seed +
seed``, ``+1``, ...) and concatenated along ``patient`` with a ``seed``
coordinate. Each scenario is simulated once per run and shared by its checks.

Finding 4e runs instead a single-arm cohort of :data:`~.findings.PROTEASOME_COHORT`
(or the scenario's own cohort when it varies the culture's proteasome expression)
once per seed, :data:`~.findings.PROTEASOME_SEEDS` seeds; each seed is one draw.
"""

from __future__ import annotations

import json
import math
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .. import results as R
from ..analysis.plots import floor_cell_axis
from ..errors import InputError
from . import findings as F

#: Robustness draws per seed; a run with ``draws`` draws uses ``ceil(draws / DRAWS_PER_SEED)`` seeds.
DRAWS_PER_SEED = 5
#: Default robustness draws per scenario: a share is then good to ~2.5 points (20 draws leave
#: a 95% interval ~30 points wide, so a check at 91% passes or fails by the luck of its draws).
DEFAULT_DRAWS = 200
BAND = (0.1, 0.9)

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Result:
    """Outcome of one check.

    ``effect`` is the median over draws and ``lo``/``hi`` its 10th/90th
    percentiles, in ``unit``; ``fraction`` is the share of draws in which the
    direction holds; ``status`` is ``"ok"`` or why the check could not run
    (``"missing scenario"``, ``"missing arm 'X'"``, ...), in which case it fails.
    ``n_draws`` draws were evaluated (every draw: none is left out), ``n_failed``
    of them failed to integrate and ``n_ties`` had their tumour rejected in every
    arm before any treatment, so that the check's direction is not shown there:
    they count as not holding (:func:`rejected_before_treatment`). ``fraction_lo``/``fraction_hi`` bound ``fraction``
    by the Wilson 95% interval of a binomial share of ``n_draws``: where it
    straddles the required share, the verdict rests on the draws made
    (:attr:`uncertain`), and more ``--draws`` would settle it.

    Spontaneous rejection, a model metric of the check's scenario (never an exclusion):
    ``n_rejected_untreated`` of the ``n_rejection_draws`` draws it reads had their tumour rejected
    untreated (:func:`rejected_untreated`; established lines such as B16 take in nearly every mouse), their
    share ``spontaneous_rejection`` and its Wilson 95% interval ``spontaneous_rejection_lo``/``_hi``.

    The mechanism control: ``mechanism`` (``(parameter, value)`` pairs that cut the mechanism the check
    names, ``mechanism_label`` in words), ``fraction_cut`` (share of the same ``n_cut`` draws in which the
    direction still holds with the mechanism cut in every arm) and ``effect_cut`` (median effect with it
    cut). ``kind`` is one of :data:`KINDS` (see :func:`classify`), ``kind_reason`` why (for a structural
    check, why it holds by construction). ``calibrated_on`` lists what was set with the check in view
    (parameter names, and ``choice:<id>`` for model choices, :mod:`.ledger`); ``fitted`` is whether anything was.

    Effect size against data (:mod:`.effects`, informational: never changes ``holds`` or the exit code):
    ``effect_kind`` is ``"magnitude"`` (the literature gives a number for the effect), ``"direction only"``
    or ``""`` (no entry: informational checks); ``effect_data`` the number and where it comes from
    (``value`` in ``unit``, the check's effect unit; ``source``, a citation key; ``what``, ``system``,
    ``where``), None without a magnitude; ``ratio_to_data`` the model median over that value (NaN without
    one); ``within_band`` whether the value lies within the model's 10-90% band ``[lo, hi]`` (None without one).
    """

    id: str
    finding: int
    title: str
    scenario: str
    comparison: str
    criterion: str
    unit: str
    effect: float
    lo: float
    hi: float
    fraction: float
    holds: bool
    informational: bool
    status: str
    source: tuple[str, ...] = ()
    n_draws: int = 0
    n_failed: int = 0
    n_ties: int = 0
    seeds: tuple[int, ...] = ()
    p_value: float | None = None
    note: str = ""
    fraction_lo: float = math.nan
    fraction_hi: float = math.nan
    required_fraction: float = F.REQUIRED_FRACTION
    mechanism: tuple[tuple[str, float], ...] = ()
    mechanism_label: str = ""
    fraction_cut: float = math.nan
    n_cut: int = 0
    effect_cut: float = math.nan
    kind: str = ""
    kind_reason: str = ""
    calibrated_on: tuple[str, ...] = ()
    fitted: bool = False
    effect_kind: str = ""
    effect_data: dict[str, Any] | None = None
    ratio_to_data: float = math.nan
    within_band: bool | None = None
    n_rejection_draws: int = 0
    n_rejected_untreated: int = 0
    spontaneous_rejection: float = math.nan
    spontaneous_rejection_lo: float = math.nan
    spontaneous_rejection_hi: float = math.nan
    values: tuple[float, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        """Whether the result lets ``tmesim reproduce`` succeed (informational checks always do)."""
        return self.informational or (self.status == "ok" and self.holds)

    @property
    def uncertain(self) -> bool:
        """Whether the 95% interval of ``fraction`` contains the required share, so that the verdict is
        not settled by the draws made. Checks that must hold in every replicate (a required share of 1,
        e.g. each seed's cohort) are replications, not estimated shares, and are never uncertain."""
        return (self.status == "ok" and self.required_fraction < 1.0
                and self.fraction_lo < self.required_fraction <= self.fraction_hi)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready record: ``id``, ``holds``, ``fraction``, ``effect``, ``unit`` first, then the details
        (NaN as null)."""
        record = asdict(self)
        record["source"] = list(self.source)
        record["seeds"] = list(self.seeds)
        record["values"] = list(self.values)
        record["mechanism"] = {name: value for name, value in self.mechanism}
        record["calibrated_on"] = list(self.calibrated_on)
        record["effect_data"] = None if self.effect_data is None else dict(self.effect_data)
        head = {k: record.pop(k) for k in ("id", "holds", "fraction", "effect", "unit")}
        return _json_safe({**head, **record})


def _json_safe(value):
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(results: Sequence[Result], path: Path) -> Path:
    """Write ``results`` as a JSON list (see :meth:`Result.to_json`), through a temporary file renamed
    into place (a killed run leaves no half-written file)."""
    from ..io.outputs import write_text_atomic

    return write_text_atomic(Path(path), json.dumps([r.to_json() for r in results], indent=2) + "\n")


# ------------------------------------------------------------- simulation
#: Most robustness draws per scenario (each draw is a virtual patient in every arm; 100,000 draws of
#: the largest scenario already take hours on two cores).
MAX_DRAWS = 100_000
#: Largest seed offset: scenario seeds plus the offset plus one per seed used stay within the 64-bit
#: seeds a run can store (:data:`tmesim.scenario.MAX_SEED`).
MAX_SEED_OFFSET = 2**62


def check_draws(draws: int) -> None:
    """Raise :class:`InputError` (naming ``--draws``) unless ``1 <= draws <= MAX_DRAWS``."""
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)):
        raise InputError("--draws", f"must be a whole number, got {draws!r}")
    if draws < 1:
        raise InputError("--draws", f"must be >= 1, got {draws}")
    if draws > MAX_DRAWS:
        raise InputError("--draws", f"must be <= {MAX_DRAWS:,}, got {draws:,}", "a share is good to ~0.2 points at 100,000")


def check_seed(seed: int) -> None:
    """Raise :class:`InputError` (naming ``--seed``) unless ``0 <= seed <= MAX_SEED_OFFSET``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED_OFFSET:
        raise InputError("--seed", f"must be between 0 and 2^62, got {seed!r}",
                         "timeseries.nc stores seeds as 64-bit integers")


def seed_plan(draws: int, first_seed: int, per_seed: int = DRAWS_PER_SEED) -> list[tuple[int, int]]:
    """``(seed, draws)`` pairs splitting ``draws`` over consecutive seeds from ``first_seed``."""
    check_draws(draws)
    n_seeds = math.ceil(draws / per_seed)
    base, extra = divmod(draws, n_seeds)
    return [(first_seed + k, base + (1 if k < extra else 0)) for k in range(n_seeds)]


def _concat_patients(parts: Sequence[xr.Dataset], seeds: Sequence[int]) -> xr.Dataset:
    """Concatenate per-seed runs along ``patient`` (renumbered), with a ``seed`` coordinate on ``patient``."""
    seed_of = np.concatenate([np.full(p.sizes["patient"], s) for p, s in zip(parts, seeds)])
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="patient", data_vars="minimal", coords="minimal",
                                                    compat="override", combine_attrs="override")
    ds = ds.assign_coords(patient=np.arange(ds.sizes["patient"]), seed=("patient", seed_of))
    ds.attrs.update(seed=json.dumps([int(s) for s in seeds]))
    return ds


def _simulate(scenario, progress: Callable[[float], None] | None):
    from ..simulation import Simulation

    return Simulation(scenario).run(progress)


def fixed_variability(variability: dict[str, float], fixed: Sequence[str] = ()) -> dict[str, float]:
    """A cohort's ``variability`` with the parameters ``fixed`` not varied (sd 0 of their log): a mechanism
    control's cut values hold in every draw, while every other parameter keeps its draws (each parameter's
    factors come from its own stream, so the draws stay paired)."""
    return {**variability, **dict.fromkeys(fixed, 0.0)}


def simulate_draws(scenario, draws: int, seed: int = 0, sigma: float = F.ROBUSTNESS_SIGMA,
                   progress: Callable[[float], None] | None = None, fixed: Sequence[str] = ()) -> xr.Dataset:
    """Robustness draws of ``scenario``: ``draws`` patients, every parameter but those ``fixed`` varied by
    ``sigma`` (log), over seeds ``scenario.seed + seed`` onwards (see :func:`seed_plan`)."""
    plan = seed_plan(draws, scenario.seed + seed)
    parts = []
    for k, (s, n) in enumerate(plan):
        scn = scenario.with_overrides(cohort={"size": n, "variability": fixed_variability({"all": sigma}, fixed)},
                                      seed=s)
        parts.append(_simulate(scn, _sub_progress(progress, k, len(plan))))
    return _concat_patients(parts, [s for s, _ in plan])


def proteasome_scenario(scenario, seed: int, size: int | None = None, fixed: Sequence[str] = ()):
    """Single-arm (:data:`~.findings.PROTEASOME_ARM`) cohort of finding 4e for one seed.

    The scenario's own cohort is kept when it varies :data:`~.findings.PROTEASOME_VARIED` (the culture's
    proteasome expression);
    otherwise :data:`~.findings.PROTEASOME_COHORT` is used, with ``size`` patients if given.
    Parameters ``fixed`` are not varied (a mechanism control's cut).
    """
    arms = [a.model_dump() for a in scenario.arms if a.name == F.PROTEASOME_ARM]
    if not arms:
        raise F.MissingData(f"missing arm {F.PROTEASOME_ARM!r}")
    own = scenario.cohort
    if own.size > 1 and F.PROTEASOME_VARIED in own.variability:
        cohort = own.model_dump()
    else:
        cohort = {**F.PROTEASOME_COHORT, **({"size": size} if size else {})}
    cohort = {**cohort, "variability": fixed_variability(cohort.get("variability", {}), fixed)}
    return scenario.with_overrides(arms=arms, cohort=cohort, seed=seed)


def simulate_proteasome_cohort(scenario, seed: int = 0, n_seeds: int = F.PROTEASOME_SEEDS,
                               progress: Callable[[float], None] | None = None,
                               size: int | None = None, fixed: Sequence[str] = ()) -> xr.Dataset:
    """Finding 4e's cohort, once per seed (``scenario.seed + seed`` onwards), concatenated along ``patient``
    (parameters ``fixed`` not varied)."""
    seeds = [scenario.seed + seed + k for k in range(n_seeds)]
    parts = [_simulate(proteasome_scenario(scenario, s, size, fixed), _sub_progress(progress, k, n_seeds))
             for k, s in enumerate(seeds)]
    return _concat_patients(parts, seeds)


def _sub_progress(progress, k: int, n: int):
    if progress is None:
        return None
    return lambda fraction: progress((k + fraction) / n)


# -------------------------------------------------------------- evaluation
def share_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial share ``successes / n`` (NaNs when ``n`` is 0)."""
    if n == 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _quantiles(values: np.ndarray) -> tuple[float, float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    lo, med, hi = np.quantile(finite, [BAND[0], 0.5, BAND[1]])
    return float(med), float(lo), float(hi)


#: A tumour is rejected when it falls below this share of its initial size.
REJECTION_FRACTION = 0.01


def rejected_in_arms(ds: xr.Dataset, arms: Sequence[str]) -> np.ndarray:
    """Per draw, whether its tumour (``tumor_live``) falls below :data:`REJECTION_FRACTION` of its initial
    size (the largest over arms) at any output time in any of ``arms`` (all False without ``arms``)."""
    if not arms:
        return np.zeros(ds.sizes["patient"], dtype=bool)
    tum = ds["tumor_live"]
    initial = tum.isel(time=0).max("arm").values
    return tum.sel(arm=list(arms)).min("time").min("arm").values < REJECTION_FRACTION * initial


def rejected_before_treatment(ds: xr.Dataset) -> np.ndarray:
    """Per draw, whether its tumour is rejected in every arm before the first dose or infusion (below
    :data:`REJECTION_FRACTION` of its initial size at that day in every arm): no treatment ever meets a
    tumour, so no comparison between arms can show a direction in that draw (a tie). All False for a
    scenario without treatment or without ``tumor_live``."""
    day = R.first_treatment_day(ds)
    if day is None or "tumor_live" not in ds:
        return np.zeros(ds.sizes["patient"], dtype=bool)
    tum = ds["tumor_live"]
    initial = tum.isel(time=0).max("arm").values
    return tum.sel(time=day, method="nearest").max("arm").values < REJECTION_FRACTION * initial


def rejected_untreated(ds: xr.Dataset) -> np.ndarray:
    """Per draw, whether its tumour rejects itself without treatment (spontaneous rejection): it falls below
    :data:`REJECTION_FRACTION` of its initial size

    * in every arm before the first dose or infusion (:func:`rejected_before_treatment`), or
    * at any time in any untreated arm (no dose, product or parameter change; :func:`~tmesim.results.untreated_arms`),
      when the scenario has one. Untreated arms that differ by a knob are different tumour lines or hosts
      (finding 1's wild-type and IFNGR-KO tumours): each must take.

    Established lines take in nearly every mouse (B16 does), so such a draw is a model failure, reported as
    the share :func:`spontaneous_rejection`, never a draw left out (DESIGN section 6). A scenario without
    treatment (or without ``tumor_live``) has none by this definition.
    """
    out = rejected_before_treatment(ds)
    if R.first_treatment_day(ds) is None or "tumor_live" not in ds:
        return out
    return out | rejected_in_arms(ds, R.untreated_arms(ds))


@dataclass(frozen=True)
class Rejection:
    """Spontaneous rejection over the draws of one scenario: ``n_rejected`` of ``n_draws`` tumours rejected
    untreated (:func:`rejected_untreated`), their ``share`` and its Wilson 95% interval ``lo``-``hi``;
    ``n_ties`` of the draws are rejected in every arm before any treatment (:func:`rejected_before_treatment`)."""

    n_draws: int
    n_rejected: int
    n_ties: int

    @property
    def share(self) -> float:
        """Share of draws rejected untreated (0..1; NaN without draws)."""
        return self.n_rejected / self.n_draws if self.n_draws else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95% interval of :attr:`share` (:func:`share_interval`)."""
        return share_interval(self.n_rejected, self.n_draws)

    def label(self) -> str:
        """One line: ``"37/200 rejected untreated (18.5%, 95% CI 13.7-24.5%)"``."""
        if not self.n_draws:
            return "no draws"
        lo, hi = self.interval
        return (f"{self.n_rejected}/{self.n_draws} rejected untreated ({100 * self.share:.1f}%, "
                f"95% CI {100 * lo:.1f}-{100 * hi:.1f}%)")


def spontaneous_rejection(ds: xr.Dataset) -> Rejection:
    """The :class:`Rejection` of the draws (patients) of ``ds``; a run of one draw is counted as it is."""
    n = int(ds.sizes.get("patient", 1))
    if "patient" not in ds.dims or "tumor_live" not in ds:
        return Rejection(n, 0, 0)
    return Rejection(n, int(rejected_untreated(ds).sum()), int(rejected_before_treatment(ds).sum()))


def evaluate(finding: F.Finding, ds: xr.Dataset) -> Result:
    """Evaluate one check on a Dataset of robustness draws (patients; or seeds for cohort designs).

    Every draw is evaluated. A draw whose tumour is rejected in every arm before any treatment
    (:func:`rejected_before_treatment`: a tie) cannot show the check's direction and counts as not
    holding (robustness draws only: a cohort design's draw is a whole seed). The share of draws whose
    tumour is rejected untreated (:func:`spontaneous_rejection`) is reported with the result, as a
    model metric.
    """
    return _evaluate(finding, ds, spontaneous_rejection(ds))


def _ties(finding: F.Finding, ds: xr.Dataset) -> np.ndarray | None:
    """Per draw, the ties of ``finding`` on ``ds`` (robustness draws only; None for a cohort design)."""
    if finding.design != "draws" or "patient" not in ds.dims or "tumor_live" not in ds:
        return None
    return rejected_before_treatment(ds)


def _evaluate(finding: F.Finding, ds: xr.Dataset, rejection: Rejection) -> Result:
    """:func:`evaluate` with the scenario's :class:`Rejection` given (the checks sharing one scenario count it once)."""
    base = _base_fields(finding)
    try:
        values, holds, p = finding.evaluate(ds)
        note = finding.note(ds) if finding.note is not None else ""
    except F.MissingData as exc:
        return _not_run(finding, str(exc))
    ties = _ties(finding, ds)
    n_ties = 0
    if ties is not None and ties.size == holds.size:
        n_ties = int(ties.sum())
        holds = holds & ~ties
    seeds = tuple(int(s) for s in dict.fromkeys(np.asarray(ds["seed"].values).tolist())) if "seed" in ds.coords \
        else (int(ds.attrs.get("seed", 0)),)
    n_failed = int(R.failed(ds).any("arm").sum()) if "solver_status" in ds else 0
    if n_failed:
        note = "; ".join(filter(None, [note, f"{n_failed} of {ds.sizes['patient']} patients failed to integrate"]))
    if rejection.n_rejected:
        note = "; ".join(filter(None, [note, f"spontaneous rejection (model metric): {rejection.label()}"]))
    if n_ties:
        note = "; ".join(filter(None, [note, f"{n_ties} rejected in every arm before treatment: counted as not "
                                             "holding (no direction shown)"]))
    fraction = float(np.mean(holds)) if holds.size else math.nan
    share_lo, share_hi = share_interval(int(np.sum(holds)), int(holds.size))
    med, lo, hi = _quantiles(values)
    holds_overall = bool(holds.size and fraction >= finding.required_fraction - 1e-12)
    kind, reason = classify(holds_overall, finding.informational, finding.structural)
    rej_lo, rej_hi = rejection.interval
    return Result(**base, effect=med, lo=lo, hi=hi, fraction=fraction, holds=holds_overall, status="ok",
                  kind=kind, kind_reason=reason,
                  n_draws=int(values.size), n_failed=n_failed, n_ties=n_ties, seeds=seeds,
                  p_value=None if p is None else _quantiles(p)[0], note=note, fraction_lo=share_lo,
                  fraction_hi=share_hi, required_fraction=finding.required_fraction,
                  n_rejection_draws=rejection.n_draws, n_rejected_untreated=rejection.n_rejected,
                  spontaneous_rejection=rejection.share, spontaneous_rejection_lo=rej_lo,
                  spontaneous_rejection_hi=rej_hi, values=tuple(float(v) for v in values))


def _base_fields(finding: F.Finding) -> dict[str, Any]:
    return dict(id=finding.id, finding=finding.number, title=finding.title, scenario=finding.scenario,
                comparison=finding.comparison, criterion=finding.criterion, unit=finding.unit,
                informational=finding.informational, source=tuple(finding.source))


def _not_run(finding: F.Finding, status: str) -> Result:
    kind, reason = classify(False, finding.informational, finding.structural, status=status)
    return Result(**_base_fields(finding), effect=math.nan, lo=math.nan, hi=math.nan, fraction=math.nan,
                  holds=False, status=status, kind=kind, kind_reason=reason)


# ------------------------------------------------------- mechanism controls
#: What a check is (:func:`classify`): ``mechanistic`` (holds, and fails with its mechanism cut),
#: ``not earned`` (holds, and still holds with its mechanism cut), ``structural`` (holds by construction:
#: a sanity check), ``fails`` (does not hold, or could not run), ``informational`` (never counted) and
#: ``not controlled`` (holds, but its control did not run: ``--no-controls``, or the cut run failed).
KINDS = ("mechanistic", "not earned", "structural", "fails", "informational", "not controlled")
#: Largest share of draws in which a check may still hold with its mechanism cut and count as mechanistic.
MAX_FRACTION_CUT = 0.5
#: With its mechanism cut, a draw holds only if its effect lies further than this from the check's
#: threshold (relative to ``max(1, |threshold|)``, in the effect's unit): ten times the engine's relative
#: tolerance (1e-4). A cut often makes two arms identical, and their ratio is then 1 +/- rounding error
#: (2e-16) or a difference 0 +/- solver error (~1e-4 log10 cells in 4d): a direction decided by that is a
#: coin flip, not a surviving effect.
CUT_RESOLUTION = 1e-3


def classify(holds: bool, informational: bool = False, structural: str = "", fraction_cut: float = math.nan,
             status: str = "ok") -> tuple[str, str]:
    """``(kind, reason)`` of a check (:data:`KINDS`) from its intact verdict and its control.

    ``holds``: the intact check holds; ``structural``: why it holds by construction (empty if it names a
    mechanism); ``fraction_cut``: share of draws (0..1) in which it still holds with its mechanism cut
    (NaN when the control did not run); ``status``: ``"ok"`` or why the intact check could not run.
    """
    if informational:
        return "informational", "reported, never counted"
    if status != "ok" or not holds:
        return "fails", "does not hold intact" if status == "ok" else status
    if structural:
        return "structural", structural
    if not math.isfinite(fraction_cut):
        return "not controlled", "its mechanism control did not run"
    if fraction_cut <= MAX_FRACTION_CUT:
        return "mechanistic", f"fails with its mechanism cut (holds in {fraction_cut:.0%} of draws)"
    return "not earned", f"still holds in {fraction_cut:.0%} of draws with its mechanism cut"


def cut_scenario(scenario, mechanism: F.Mechanism, where: str = "mechanism"):
    """``scenario`` with ``mechanism`` cut in every arm: its overrides join each arm's parameter changes
    (winning over the arm's own knobs and changes), so the arms stay paired draw for draw (the cohort's
    factors depend on the seed and the parameter's name only). A control runs it with the cut parameters
    not varied (``fixed`` of :func:`simulate_draws`), so the cut values hold exactly in every draw.

    Raises
    ------
    tmesim.errors.InputError
        Naming ``where`` for an unknown parameter, and the arm for a value the set rejects (out of bounds).
    """
    from ..params import load_parameter_set

    mechanism.check(where)
    stated = load_parameter_set(scenario.parameter_set).by_name  # values are read in the units the set states
    cut = {name: {"value": value, "unit": stated[name].given_unit,
                  "source": f"override: mechanism control ({mechanism.label})"}
           for name, value in mechanism.as_dict().items()}
    arms = []
    for arm in scenario.arms:
        data = arm.model_dump()
        data["parameters"] = {**data["parameters"], **cut}
        arms.append(data)
    return scenario.with_overrides(arms=arms)


def evaluate_cut(finding: F.Finding, ds: xr.Dataset) -> tuple[float, int, float]:
    """``(fraction_cut, n, effect_cut)``: share of the draws of the cut run ``ds`` (every draw, paired with
    the intact run's) in which ``finding`` holds by more than numerical error (:data:`CUT_RESOLUTION`),
    their number and the median effect. As intact, a draw whose tumour is rejected in every arm before any
    treatment does not hold (:func:`rejected_before_treatment`). NaNs (and 0) when the check cannot be read
    on the cut run."""
    try:
        values, holds, _ = finding.evaluate(ds)
    except F.MissingData:
        return math.nan, 0, math.nan
    if not holds.size:
        return math.nan, 0, math.nan
    if isinstance(finding.holds_per_draw, F.Direction):
        holds = holds & finding.holds_per_draw.resolved(values, CUT_RESOLUTION)
    ties = _ties(finding, ds)
    if ties is not None and ties.size == holds.size:
        holds = holds & ~ties
    return float(np.mean(holds)), int(holds.size), _quantiles(values)[0]


def _load(name: str):
    """The scenario, or a status line saying why it cannot run."""
    from ..scenario import list_scenarios, load_scenario

    if name not in {n for n, _ in list_scenarios()}:
        return None, "missing scenario"
    try:
        return load_scenario(name), None
    except InputError as exc:
        return None, f"invalid scenario: {exc}"


def run_findings(ids: Sequence[str] | None = None, draws: int = DEFAULT_DRAWS, seed: int = 0,
                 out: Path | str | None = None, progress: Progress | None = None,
                 findings: Sequence[F.Finding] = F.FINDINGS, days: float | None = None,
                 cohort_size: int | None = None, controls: bool = True) -> list[Result]:
    """Run the checks named by ``ids`` (all by default; see :func:`~.findings.select`), and their mechanism controls.

    Parameters
    ----------
    ids : check ids (``"2c"``), finding numbers (``"2"``) or scenario names.
    draws : robustness draws per scenario (>= 1).
    seed : offset added to each scenario's seed; draws use consecutive seeds from there.
    out : folder for one figure per finding (``finding<N>.png``); no figures when None.
    progress : called as ``progress(description, fraction_done)``.
    findings : the check catalogue (tests pass their own).
    days : override every scenario's duration (quick tests only; windows are clipped to it).
    cohort_size : patients per seed of finding 4e's cohort (default ``PROTEASOME_COHORT["size"]``; quick tests use fewer).
    controls : also run each required check's mechanism control: the same draws (seeds, cohort) with the
        check's :class:`~.findings.Mechanism` cut in every arm, one run per scenario, design and mechanism
        (checks naming the same mechanism share it). Without them, kinds other than ``structural`` are
        ``not controlled``.

    Returns
    -------
    list of Result, in catalogue order, each with its kind (:func:`classify`), calibration ledger
    (:func:`~.ledger.calibrated_on`) and effect size against data (:func:`~.effects.effect_fields`). A scenario that is missing, invalid or fails to simulate gives its
    checks a non-``ok`` status (they fail) rather than raising; a failed control leaves its checks
    ``not controlled``.

    Raises
    ------
    tmesim.errors.InputError
        For an unknown id, a mechanism naming an unknown parameter or a value its set rejects, or bad
        data in ``effects.yaml`` (before anything is simulated).
    """
    from .effects import effect_fields, effects
    from .ledger import calibrated_on

    check_draws(draws)
    chosen = F.select(ids, findings)
    data = effects()  # effect sizes against data: bad data is an input error before anything runs
    jobs: dict[tuple[str, str], list[F.Finding]] = {}
    for f in chosen:
        jobs.setdefault((f.scenario, f.design), []).append(f)
    scenarios: dict[str, Any] = {}
    for name, _ in jobs:
        if name not in scenarios:
            scn, why = _load(name)
            if scn is not None and days is not None:
                scn = scn.with_overrides(days=days)
            scenarios[name] = scn if scn is not None else why
    # the cut scenarios are built before anything runs: a bad mechanism is an input error, not a status
    cut_jobs: dict[tuple[str, str, F.Mechanism], list[F.Finding]] = {}
    for f in chosen:
        if controls and f.mechanism is not None and not (f.informational or f.structural):
            cut_jobs.setdefault((f.scenario, f.design, f.mechanism), []).append(f)
    cut_scenarios = {key: cut_scenario(scenarios[key[0]], key[2], where=f"mechanism of check {checks[0].id}")
                     for key, checks in cut_jobs.items() if not isinstance(scenarios[key[0]], str)}
    n_jobs = len(jobs) + len(cut_scenarios)

    def stepper(j: int, label: str):
        return (lambda frac: progress(label, (j + frac) / n_jobs)) if progress else None

    results: dict[str, Result] = {}
    datasets: dict[tuple[str, str], xr.Dataset] = {}
    for j, ((name, design), checks) in enumerate(jobs.items()):
        scn = scenarios[name]
        if isinstance(scn, str):
            for f in checks:
                results[f.id] = _not_run(f, scn)
            continue
        label = f"{name}" + (" (proteasome cohort)" if design != "draws" else "")
        ds, why = _simulate_design(scn, design, draws, seed, cohort_size, stepper(j, label))
        if ds is None:
            for f in checks:
                results[f.id] = _not_run(f, why)
            continue
        datasets[(name, design)] = ds
        rejection = spontaneous_rejection(ds)
        for f in checks:
            results[f.id] = _evaluate(f, ds, rejection)
    cuts: dict[str, tuple[float, int, float]] = {}
    cut_failed: dict[str, str] = {}
    for j, ((name, design, mechanism), scn) in enumerate(cut_scenarios.items(), start=len(jobs)):
        checks = [f for f in cut_jobs[(name, design, mechanism)] if results[f.id].status == "ok"]
        if not checks:
            continue
        label = f"{name}, {mechanism.label} cut"
        ds, why = _simulate_design(scn, design, draws, seed, cohort_size, stepper(j, label),
                                   fixed=[name for name, _ in mechanism.overrides])
        for f in checks:
            if ds is None:
                cut_failed[f.id] = f"mechanism control did not run ({why})"
            else:
                cuts[f.id] = evaluate_cut(f, ds)
    ordered = []
    for f in chosen:
        r = results[f.id]
        fraction_cut, n_cut, effect_cut = cuts.get(f.id, (math.nan, 0, math.nan))
        kind, reason = classify(r.holds, f.informational, f.structural, fraction_cut, r.status)
        if kind == "not controlled":
            reason = cut_failed.get(f.id) or ("controls skipped (--no-controls)" if not controls else reason)
        scn = scenarios.get(f.scenario)
        ledger = calibrated_on(f.id, None if isinstance(scn, str) else scn)
        ordered.append(replace(
            r, mechanism=f.mechanism.overrides if f.mechanism else (),
            mechanism_label=f.mechanism.label if f.mechanism else "", fraction_cut=fraction_cut, n_cut=n_cut,
            effect_cut=effect_cut, kind=kind, kind_reason=reason, calibrated_on=ledger, fitted=bool(ledger),
            **effect_fields(f.id, r.effect, r.lo, r.hi, data)))
    if out is not None:
        write_figures(ordered, datasets, Path(out))
    if progress:
        progress("done", 1.0)
    return ordered


def _simulate_design(scn, design: str, draws: int, seed: int, cohort_size: int | None,
                     progress: Callable[[float], None] | None, fixed: Sequence[str] = ()) -> tuple[xr.Dataset | None, str]:
    """The draws of one scenario and design (robustness draws, or finding 4e's cohort; parameters ``fixed``
    not varied), or ``(None, why)`` when it cannot run: one broken scenario must not stop the others."""
    try:
        if design == "proteasome_cohort":
            return simulate_proteasome_cohort(scn, seed, progress=progress, size=cohort_size, fixed=fixed), ""
        return simulate_draws(scn, draws, seed, progress=progress, fixed=fixed), ""
    except F.MissingData as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 -- reported as the checks' status
        return None, f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"


# ------------------------------------------------------------------ figures
def write_figures(results: Sequence[Result], datasets: dict[tuple[str, str], xr.Dataset], out: Path) -> list[Path]:
    """One PNG per finding (``finding<N>.png``) whose scenario ran: key variables per arm
    (median and 10-90% band across every draw), the share of draws in which each check holds, and the
    share of draws whose tumour rejected itself untreated (:func:`spontaneous_rejection`) in the title."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number in dict.fromkeys(r.finding for r in results):
        rs = [r for r in results if r.finding == number]
        scenario = rs[0].scenario
        ds = datasets.get((scenario, "draws"))
        cohort = datasets.get((scenario, "proteasome_cohort"))
        if ds is None and cohort is None:
            continue
        others = {r.scenario: datasets[(r.scenario, "draws")] for r in rs
                  if r.scenario != scenario and (r.scenario, "draws") in datasets}
        rejection = spontaneous_rejection(ds) if ds is not None else None
        fig = figure_finding(number, ds, rs, cohort, others, rejection=rejection)
        path = out / f"finding{number}.png"
        from ..analysis.plots import DPI

        fig.savefig(path, dpi=DPI)
        written.append(path)
    return written


def _panel_array(ds: xr.Dataset, panel) -> tuple[np.ndarray | None, str]:
    """(arm, patient, time) values and axis label of one panel spec (a variable, or (label, lineages))."""
    from ..analysis.plots import axis_label

    if isinstance(panel, str):
        try:
            da = R.variable(ds, panel)
        except KeyError:
            return None, panel
        values = np.asarray(R.mask_empty_pool(ds, da).transpose("arm", "patient", "time").values, dtype=float)
        label = axis_label(da)
    else:
        label, lineages = panel
        try:
            values = np.stack([F.terminal_fraction(ds, str(a), lineages) for a in ds["arm"].values])
        except F.MissingData:
            return None, label
    failed = np.asarray(R.failed(ds).transpose("arm", "patient").values) if "solver_status" in ds else None
    if failed is not None:
        values = np.where(failed[:, :, None], np.nan, values)
    return values, label


def figure_finding(number: int, ds: xr.Dataset | None, results: Sequence[Result], cohort: xr.Dataset | None = None,
                   others: dict[str, xr.Dataset] | None = None, rejection: Rejection | None = None):
    """Figure of one finding: its :data:`~.findings.PANELS` per arm, a 4e scatter when a cohort is given,
    the tumour of each of the finding's ``others`` scenarios (name -> draws), and a bar per check with
    the share of draws that hold. ``rejection`` (the draws' spontaneous rejection, a model metric) is named in
    the title when any tumour rejected itself untreated."""
    from matplotlib.figure import Figure

    from ..analysis.plots import PANEL_SIZE_IN, arm_colours

    panels = []  # (kind, payload, label, dataset whose arms the payload has, panel title)
    if ds is not None:
        for spec in F.PANELS.get(number, ("tumor_live",)):
            values, label = _panel_array(ds, spec)
            if values is not None:
                panels.append(("series", values, label, ds, ""))
    if cohort is not None:
        panels.append(("scatter", cohort, "", None, ""))
    for name, other in (others or {}).items():
        values, label = _panel_array(other, "tumor_live")
        if values is not None:
            panels.append(("series", values, label, other, f"scenario {name}"))
    panels.append(("checks", None, "", None, ""))
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(PANEL_SIZE_IN[0] * ncols, PANEL_SIZE_IN[1] * nrows + 0.6), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    n_draws = ds.sizes["patient"] if ds is not None else 0
    rejected_text = (f"\nspontaneous rejection (a model failure, not an exclusion): {rejection.label()}"
                     if rejection is not None and rejection.n_rejected else "")
    statement = textwrap.fill(f"Finding {number}: {F.STATEMENTS.get(number, '')}", 40 * ncols)
    fig.suptitle(f"{statement}\n"
                 f"scenario {results[0].scenario}; {n_draws} robustness draws (median, {int(BAND[0] * 100)}-"
                 f"{int(BAND[1] * 100)}% band){rejected_text}", fontsize="medium")
    for ax, (kind, payload, label, source, title) in zip(axes, panels):
        if kind == "series":
            _draw_series(ax, source, payload, label, arm_colours(source))
            if source is not ds:  # another scenario of the finding, with its own arms
                ax.set_title(title, fontsize="small")
                ax.legend(title="arm", fontsize="x-small")
        elif kind == "scatter":
            _draw_proteasome_scatter(ax, payload)
        else:
            _draw_checks(ax, results)
    if panels and panels[0][0] == "series":
        axes[0].legend(title="arm", fontsize="x-small")
    return fig


def _draw_series(ax, ds, values, label, colours):
    t = np.asarray(ds["time"].values, dtype=float)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        median = np.nanmedian(values, axis=1)
        lo, hi = np.nanquantile(values, BAND, axis=1) if values.shape[1] > 1 else (None, None)
    for i, arm in enumerate(str(a) for a in ds["arm"].values):
        ax.plot(t, median[i], color=colours[arm], label=arm)
        if lo is not None:
            ax.fill_between(t, lo[i], hi[i], color=colours[arm], alpha=0.12, linewidth=0)
    ax.set_xlabel("time (day)")
    ax.set_ylabel(textwrap.fill(label, 40), fontsize="small")
    if (label.endswith("(cell)") or label == "tumor_live") and np.nanmax(values, initial=0.0) > 0:
        # cell counts span many logs (expansion, clearance, persistence); a population absent throughout (e.g.
        # a spatial twin's NK cells) stays on a linear axis at 0, which a log axis cannot show
        ax.set_yscale("log")
        floor_cell_axis(ax)


def _draw_proteasome_scatter(ax, cohort):
    try:
        x, y = F.product_proteasome(cohort), F.proteasome_outcome(cohort)
    except F.MissingData:
        ax.set_visible(False)
        return
    seeds = np.asarray(cohort["seed"].values) if "seed" in cohort.coords else np.zeros(x.size)
    stats = F.proteasome_spearman(cohort)  # rows in seed order, as below
    for (rho, p), s in zip(stats, dict.fromkeys(seeds.tolist())):
        idx = seeds == s
        ax.scatter(x[idx], y[idx], s=6, alpha=0.6, label=f"seed {s}: rho {rho:.2f}, p {p:.1g} (n {int(idx.sum())})")
    ax.set_xlabel("product proteasome (relative)")
    ax.set_ylabel("outcome: -mean log10 tumour cells\nafter infusion (higher is better)")
    ax.set_title("4e: proteasome vs outcome", fontsize="small")
    ax.legend(fontsize="x-small")


def _draw_checks(ax, results):
    ids = [r.id for r in results][::-1]
    fractions = [0.0 if not math.isfinite(r.fraction) else r.fraction for r in results][::-1]
    colours = []
    for r in results[::-1]:
        colours.append("0.6" if r.informational else ("tab:green" if r.holds else "tab:red"))
    ax.barh(ids, fractions, color=colours)
    cut = [(r.id, r.fraction_cut) for r in results[::-1] if r.n_cut and math.isfinite(r.fraction_cut)]
    if cut:
        ax.scatter([c for _, c in cut], [i for i, _ in cut], marker="|", s=120, color="k", zorder=3, clip_on=False)
    ax.axvline(0.9, color="0.3", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of draws in which the direction holds")
    ax.set_title("checks (grey: informational; black tick: share with the mechanism cut)", fontsize="small")
