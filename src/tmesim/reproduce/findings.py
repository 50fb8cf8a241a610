"""The qualitative findings tmesim must reproduce (DESIGN.md section 6), as checks.

Each :class:`Finding` is one check: a comparison between arms of a shipped
scenario, an ``effect`` function that reads the engine's output Dataset (see
``docs/architecture.md``) and returns one value per robustness draw (a
virtual patient of the scenario's cohort), and a ``holds_per_draw`` predicate
on those values. A check holds when its direction is right in at least
``required_fraction`` of the draws (0.9 by default); informational checks are
reported but never fail a run.

Checks are written against scenario arm names and Dataset variable names only;
the metric helpers below (window means, trapezoid AUCs, terminally exhausted
fractions, times relative to a CAR T infusion) are shared by every check.

An arm may be given as a tuple of accepted names (the first present is used)
so a check survives a scenario renaming an arm within known aliases. A missing
arm or variable raises :class:`MissingData`, which the runner reports as the
check's status instead of crashing.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import xarray as xr

from .. import results as R
from ..biology.programs.t_cell import PATH_STATES

ArmRef = str | tuple[str, ...]
Metric = Callable[[xr.Dataset, ArmRef], np.ndarray]

#: Window (days) of the tumour biomarker and treatment-phase comparisons.
TREATMENT_WINDOW = (7.0, 21.0)
#: Window (days) standing for "at day ~21".
LATE_WINDOW = (19.0, 21.0)
#: Window (days) while exhaustion develops under clamped antigen (finding 7):
#: later, every arm has saturated at mostly terminal cells.
ONSET_WINDOW = (4.0, 10.0)
#: Default fraction of draws in which a check's direction must be right.
REQUIRED_FRACTION = 0.9
#: Default log-normal spread of every parameter in a robustness draw (~ +/-25%).
ROBUSTNESS_SIGMA = 0.25
#: Significance level of correlation checks.
ALPHA = 0.05


class MissingData(LookupError):
    """A check needs an arm, variable or event the Dataset does not have."""


# --------------------------------------------------------------- accessors
def arm_name(ds: xr.Dataset, arm: ArmRef) -> str:
    """The arm label in ``ds`` matching ``arm`` (a name, or a tuple of accepted aliases).

    Raises
    ------
    MissingData
        If no alias is an arm of ``ds``.
    """
    names = (arm,) if isinstance(arm, str) else tuple(arm)
    present = {str(a) for a in ds["arm"].values}
    for name in names:
        if name in present:
            return name
    aliases = f" (or {', '.join(map(repr, names[1:]))})" if len(names) > 1 else ""
    raise MissingData(f"missing arm {names[0]!r}{aliases}")


def trajectory(ds: xr.Dataset, arm: ArmRef, *variables: str) -> np.ndarray:
    """Sum of ``variables`` in one arm, as a float array on ``(patient, time)``.

    Patients whose integration failed (``solver_status != 0``) are NaN.
    """
    name = arm_name(ds, arm)
    total = None
    for var in variables:
        try:
            da = R.variable(ds, var)
        except KeyError:
            raise MissingData(f"missing variable {var!r}") from None
        values = np.asarray(da.sel(arm=name).transpose("patient", "time").values, dtype=float)
        total = values if total is None else total + values
    if "solver_status" in ds:
        failed = np.asarray(R.failed(ds).sel(arm=name).values)
        total = np.where(failed[:, None], np.nan, total)
    return total


def times(ds: xr.Dataset) -> np.ndarray:
    """Output times (days)."""
    return np.asarray(ds["time"].values, dtype=float)


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN (without a warning) where the denominator is not positive or not finite."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    ok = np.isfinite(denominator) & (denominator > 0)
    return np.divide(numerator, denominator, out=np.full(np.broadcast(numerator, denominator).shape, np.nan),
                     where=ok)


def clip_window(t: np.ndarray, start: float | None, end: float | None) -> tuple[float, float]:
    """A window ``(start, end)`` in days clipped to the simulated times (``None`` = first / last time).

    A window lying past the end of the run collapses to the last time point.
    """
    lo, hi = float(t[0]), float(t[-1])
    start = lo if start is None else min(max(start, lo), hi)
    end = hi if end is None else min(max(end, lo), hi)
    return min(start, end), end


def at(t: np.ndarray, y: np.ndarray, day: float) -> np.ndarray:
    """Values of ``y`` (patient, time) at ``day`` (linear interpolation, clipped to the run)."""
    day = min(max(day, t[0]), t[-1])
    return np.array([np.interp(day, t, row) for row in np.atleast_2d(y)])


def integral(t: np.ndarray, y: np.ndarray, start: float | None = None, end: float | None = None) -> np.ndarray:
    """Trapezoid integral of ``y`` (patient, time) over ``[start, end]`` days, per patient.

    The window is clipped to the run; its ends are interpolated linearly.
    """
    start, end = clip_window(t, start, end)
    y = np.atleast_2d(y)
    if end <= start:
        return np.zeros(y.shape[0])
    inside = (t > start) & (t < end)
    grid = np.concatenate(([start], t[inside], [end]))
    values = np.stack([np.interp(grid, t, row) for row in y])
    return np.trapezoid(values, grid, axis=1)


def window_mean(t: np.ndarray, y: np.ndarray, start: float | None = None, end: float | None = None) -> np.ndarray:
    """Time average of ``y`` over ``[start, end]`` days (the value at ``end`` when the window collapses)."""
    start, end = clip_window(t, start, end)
    if end <= start:
        return at(t, y, end)
    return integral(t, y, start, end) / (end - start)


def lineage_states(ds: xr.Dataset, lineages: Sequence[str]) -> list[str]:
    """T cell pools of ``ds`` for ``lineages`` in the differentiation-path states
    (:data:`tmesim.biology.programs.t_cell.PATH_STATES`; only CAR T lineages
    have a stem-like memory pool), by lineage, then along the path."""
    return [name for lin in lineages for name in R.t_pools(ds, lineage=lin, state=PATH_STATES)]


def terminal_fraction(ds: xr.Dataset, arm: ArmRef, lineages: Sequence[str] = ("cd8",)) -> np.ndarray:
    """Terminally exhausted share of ``<lineage>_{stem_memory, effector, progenitor_exhausted, terminal_exhausted}``
    (the states the lineage has: only CAR T lineages have a stem-like memory pool).
    Anergic and senescent cells are left out, unlike the run summary's
    :func:`tmesim.analysis.summary.terminal_exhaustion_fraction`.

    Returns an array on (patient, time).

    ``lineages`` e.g. ``("cd8",)`` for host CD8 T cells, ``("car_cd8", "car_cd4")`` for CAR T cells.
    """
    terminal = trajectory(ds, arm, *(f"{lin}_terminal_exhausted" for lin in lineages))
    total = trajectory(ds, arm, *lineage_states(ds, lineages))
    return safe_ratio(terminal, total)


def infusion_day(ds: xr.Dataset, arm: ArmRef) -> float:
    """Day of the first CAR T infusion of ``arm`` (its ``infusion`` events).

    Raises
    ------
    MissingData
        If the arm has no CAR T product.
    """
    name = arm_name(ds, arm)
    days = R.treatment_days(ds, name, ("infusion",))
    if not days:
        raise MissingData(f"arm {name!r} has no CAR T infusion")
    return min(days)


# ----------------------------------------------------------------- metrics
@dataclass(frozen=True)
class Mean:
    """Time average of the sum of ``variables`` over ``window`` (days; relative to the
    arm's CAR T infusion when ``after_infusion``). ``end=None`` runs to the end.

    With ``per_cell`` (a population, e.g. ``"tumor_live"``) the average is
    weighted by that population: the mean over the cells present in the
    window, as a pooled measurement of harvested tumours would give. A mean
    intracellular state is undefined where its population has no cells.
    """

    variables: tuple[str, ...]
    window: tuple[float | None, float | None] = TREATMENT_WINDOW
    after_infusion: bool = False
    per_cell: str | None = None

    def __call__(self, ds: xr.Dataset, arm: ArmRef) -> np.ndarray:
        start, end = _shift(ds, arm, self.window, self.after_infusion)
        y = trajectory(ds, arm, *self.variables)
        if self.per_cell is None:
            return window_mean(times(ds), y, start, end)
        cells = trajectory(ds, arm, self.per_cell)
        return safe_ratio(integral(times(ds), y * cells, start, end), integral(times(ds), cells, start, end))


@dataclass(frozen=True)
class At:
    """Value of the sum of ``variables`` at ``day`` (after the infusion when ``after_infusion``)."""

    variables: tuple[str, ...]
    day: float
    after_infusion: bool = False

    def __call__(self, ds: xr.Dataset, arm: ArmRef) -> np.ndarray:
        day = self.day + (infusion_day(ds, arm) if self.after_infusion else 0.0)
        return at(times(ds), trajectory(ds, arm, *self.variables), day)


@dataclass(frozen=True)
class AUC:
    """Trapezoid area under ``variable`` (tumour burden by default, cell*day) over ``window``."""

    variable: str = "tumor_live"
    window: tuple[float | None, float | None] = (None, None)
    after_infusion: bool = False

    def __call__(self, ds: xr.Dataset, arm: ArmRef) -> np.ndarray:
        start, end = _shift(ds, arm, self.window, self.after_infusion)
        return integral(times(ds), trajectory(ds, arm, self.variable), start, end)


@dataclass(frozen=True)
class LogBurden:
    """Time mean of ``log10`` tumour burden (log10 cells) over ``window``, floored at one cell.

    For leukaemia, whose burden spans ten logs between diagnosis and
    remission, a linear AUC only weighs the first days of debulking; the log
    burden also weighs how deep and how long control lasts (measurable
    residual disease is read in logs). Below one cell there is no tumour.
    """

    variable: str = "tumor_live"
    window: tuple[float | None, float | None] = (None, None)
    after_infusion: bool = False
    floor: float = 1.0

    def __call__(self, ds: xr.Dataset, arm: ArmRef) -> np.ndarray:
        start, end = _shift(ds, arm, self.window, self.after_infusion)
        burden = np.log10(np.maximum(trajectory(ds, arm, self.variable), self.floor))
        return window_mean(times(ds), burden, start, end)


@dataclass(frozen=True)
class TerminalFraction:
    """Mean terminally exhausted fraction of ``lineages`` over ``window``."""

    lineages: tuple[str, ...] = ("cd8",)
    window: tuple[float | None, float | None] = LATE_WINDOW
    after_infusion: bool = False

    def __call__(self, ds: xr.Dataset, arm: ArmRef) -> np.ndarray:
        start, end = _shift(ds, arm, self.window, self.after_infusion)
        return window_mean(times(ds), terminal_fraction(ds, arm, self.lineages), start, end)


@dataclass(frozen=True)
class KillsPerCellDay:
    """Tumour cells killed by ``kills`` (cumulative counter) per cell-day of ``lineage``
    (all its states: stem-like memory, effector, progenitor, terminal), from the
    infusion to the end of the run."""

    kills: str
    lineage: str

    def __call__(self, ds: xr.Dataset, arm: ArmRef) -> np.ndarray:
        t, start = times(ds), infusion_day(ds, arm)
        killed = trajectory(ds, arm, self.kills)
        gained = at(t, killed, float(t[-1])) - at(t, killed, start)
        cell_days = integral(t, trajectory(ds, arm, *lineage_states(ds, (self.lineage,))), start, None)
        return safe_ratio(gained, cell_days)


def _shift(ds, arm, window, after_infusion):
    if not after_infusion:
        return window
    day0 = infusion_day(ds, arm)
    return tuple(None if w is None else w + day0 for w in window)


def first_after(ds: xr.Dataset, arm: ArmRef, variable: str, day: float) -> np.ndarray:
    """Value of ``variable`` at the first output time strictly after ``day``."""
    t = times(ds)
    later = np.flatnonzero(t > day + 1e-9)
    k = int(later[0]) if later.size else t.size - 1
    return trajectory(ds, arm, variable)[:, k]


# ------------------------------------------------------- effect builders
def ratio(metric: Metric, arm: ArmRef, reference: ArmRef) -> Callable[[xr.Dataset], np.ndarray]:
    """Effect ``metric(arm) / metric(reference)`` per draw."""
    return lambda ds: safe_ratio(metric(ds, arm), metric(ds, reference))


def difference(metric: Metric, arm: ArmRef, reference: ArmRef) -> Callable[[xr.Dataset], np.ndarray]:
    """Effect ``metric(arm) - metric(reference)`` per draw."""
    return lambda ds: metric(ds, arm) - metric(ds, reference)


def ratio_to_best(metric: Metric, arm: ArmRef, references: Sequence[ArmRef]) -> Callable[[xr.Dataset], np.ndarray]:
    """Effect ``metric(arm) / min over references of metric(reference)`` per draw."""
    return lambda ds: safe_ratio(metric(ds, arm), np.min(np.stack([metric(ds, r) for r in references]), axis=0))


def benefit(ds: xr.Dataset, untreated: ArmRef, treated: ArmRef) -> np.ndarray:
    """Treatment benefit ``AUC(untreated) / AUC(treated)`` of tumour burden, per draw (> 1 = benefit)."""
    auc = AUC()
    return safe_ratio(auc(ds, untreated), auc(ds, treated))


def bliss_excess(control: ArmRef, first: ArmRef, second: ArmRef,
                 combination: ArmRef) -> Callable[[xr.Dataset], np.ndarray]:
    """Excess log-kill of a combination over the sum of its parts (Bliss independence on the log scale).

    ``ln(AUC_c/AUC_ab) - [ln(AUC_c/AUC_a) + ln(AUC_c/AUC_b)]``; > 0 is synergy.
    """
    def effect(ds):
        arms = (("a", first), ("b", second), ("ab", combination))
        log_kill = {k: np.log(benefit(ds, control, arm)) for k, arm in arms}
        return log_kill["ab"] - (log_kill["a"] + log_kill["b"])
    return effect


# --------------------------------------------------------------- predicates
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Direction:
    """Predicate ``value <op> threshold`` on the effect of each draw (NaN never holds)."""

    op: str
    threshold: float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.isfinite(values) & _OPS[self.op](values, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"

    def resolved(self, values: np.ndarray, tolerance: float) -> np.ndarray:
        """Whether each value lies further than ``tolerance`` (relative to ``max(1, |threshold|)``, in the
        effect's unit) from the threshold: nearer, the run cannot tell its direction from numerical error."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.isfinite(values) & (np.abs(values - self.threshold) > tolerance * max(1.0, abs(self.threshold)))


BELOW_1, ABOVE_1 = Direction("<", 1.0), Direction(">", 1.0)
NEGATIVE, POSITIVE = Direction("<", 0.0), Direction(">", 0.0)


# ---------------------------------------------------------------- mechanism
@dataclass(frozen=True)
class Mechanism:
    """The mechanism a check claims to show, as the parameter values (or knobs) that cut it.

    ``overrides`` are ``(parameter, value)`` pairs, each value in the unit the
    scenario's parameter set states for that parameter; ``tmesim reproduce``
    repeats a check's robustness draws with them applied to every arm (after
    the arm's own knobs and parameter changes) and counts the share of draws
    in which the check still holds (``fraction_cut``). ``label`` names the
    mechanism in words; ``why`` says why these values cut it, from the
    biology the check claims (chosen before any cut was run, never by which
    cut makes the check fail).
    """

    label: str
    overrides: tuple[tuple[str, float], ...]
    why: str = ""

    def as_dict(self) -> dict[str, float]:
        """``{parameter: value}`` of the cut."""
        return {name: float(value) for name, value in self.overrides}

    def check(self, where: str = "mechanism") -> None:
        """Raise :class:`tmesim.errors.InputError` naming ``where`` if the mechanism names no parameter,
        an override names no catalogue parameter, or a value is not a finite number. Bounds and units are
        checked by the parameter set when the cut scenario is built (:func:`tmesim.reproduce.runner.cut_scenario`)."""
        from ..errors import InputError
        from ..params.index import CATALOGUE
        from ..params.loader import suggest

        if not self.overrides:
            raise InputError(where, f"mechanism {self.label!r} names no parameter", "give (parameter, value) pairs that cut it")
        for name, value in self.overrides:
            if name not in CATALOGUE:
                raise InputError(f"{where}.{name}", f"unknown parameter {name!r}",
                                 suggest(name, CATALOGUE) or "see `tmesim params` for the names")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{where}.{name}", f"value must be a finite number, got {value!r}")


# ------------------------------------------------------------------ finding
@dataclass(frozen=True)
class Finding:
    """One reproducibility check.

    Attributes
    ----------
    id : ``"1a"``, ``"2c"``, ...; the leading number is the DESIGN.md finding.
    title : what the check shows, in words.
    source : citation keys (``params/citations.yaml``).
    scenario : shipped scenario the check runs on.
    comparison : the comparison made, in words (e.g. "tumour AUC: anti-PD-1 + IKE / anti-PD-1").
    unit : unit of the effect.
    effect : Dataset -> one effect value per draw.
    holds_per_draw : effect values -> bool per draw.
    informational : reported, never fails a run.
    design : ``"draws"`` (robustness draws of the whole scenario) or
        ``"proteasome_cohort"`` (a large single-arm cohort per seed; one draw per seed).
    p_value : optional Dataset -> one p-value per draw; a draw then holds only if ``p < ALPHA`` too.
    note : optional Dataset -> one line shown with the result.
    required_fraction : share of draws that must hold.
    mechanism : the :class:`Mechanism` the check claims to show (its cut is the check's control), or None.
    structural : why the check holds by construction of the equations (a sanity check, never counted as a
        reproduced finding); empty for a check that names a mechanism.
    """

    id: str
    title: str
    source: tuple[str, ...]
    scenario: str
    comparison: str
    unit: str
    effect: Callable[[xr.Dataset], np.ndarray] = field(repr=False)
    holds_per_draw: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    informational: bool = False
    design: str = "draws"
    p_value: Callable[[xr.Dataset], np.ndarray] | None = field(default=None, repr=False)
    note: Callable[[xr.Dataset], str] | None = field(default=None, repr=False)
    required_fraction: float = REQUIRED_FRACTION
    mechanism: "Mechanism | None" = None
    structural: str = ""

    @property
    def number(self) -> int:
        """The DESIGN.md finding (1..7)."""
        digits = ""
        for ch in self.id:
            if not ch.isdigit():
                break
            digits += ch
        return int(digits)

    @property
    def criterion(self) -> str:
        """The per-draw condition in words, e.g. ``"< 1"``."""
        text = str(self.holds_per_draw)
        if self.p_value is not None:
            text += f" and p < {ALPHA:g}"
        return text

    def evaluate(self, ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(values, holds, p_values)`` per draw; non-finite values never hold."""
        values = np.asarray(self.effect(ds), dtype=float).ravel()
        holds = np.asarray(self.holds_per_draw(values), dtype=bool).ravel() & np.isfinite(values)
        p = None
        if self.p_value is not None:
            p = np.asarray(self.p_value(ds), dtype=float).ravel()
            holds &= np.isfinite(p) & (p < ALPHA)
        return values, holds, p


# ---------------------------------------------------------- finding 4e: cohort
#: Arm and cohort of the product-proteasome correlation (finding 4e). 600
#: patients per seed detect a Spearman rho of -0.2 at p < 0.05 with power
#: above 0.99 in each seed (200 patients: about 0.8 per seed, so about half
#: of three-seed runs would fail on cohort size alone). The products differ in
#: their culture's proteasome expression (a state of manufacture that ends at
#: infusion); the CAR T cells' lifelong expression is held at the set's value
#: (sd 0, after ``all``), so the correlation cannot read a lifelong trait.
PROTEASOME_ARM = "standard product"
PROTEASOME_VARIED = "car_culture_proteasome_expression"
PROTEASOME_COHORT = {"size": 600, "variability": {PROTEASOME_VARIED: 0.4, "all": 0.1, "car_proteasome_expression": 0.0}}
PROTEASOME_SEEDS = 3


def _per_seed(ds: xr.Dataset) -> list[np.ndarray]:
    """Patient indices of each seed (the ``seed`` coordinate on ``patient``; one group without it)."""
    if "seed" not in ds.coords:
        return [np.arange(ds.sizes["patient"])]
    seeds = np.asarray(ds["seed"].values)
    return [np.flatnonzero(seeds == s) for s in dict.fromkeys(seeds.tolist())]


def product_proteasome(ds: xr.Dataset, arm: ArmRef = PROTEASOME_ARM) -> np.ndarray:
    """CAR T proteasome activity at the first output after the infusion, per patient."""
    return first_after(ds, arm, "car_t_proteasome", infusion_day(ds, arm))


def proteasome_outcome(ds: xr.Dataset, arm: ArmRef = PROTEASOME_ARM) -> np.ndarray:
    """Outcome per patient: minus the mean log10 tumour burden from the infusion to the end
    (log10 cells; higher is better; see :class:`LogBurden`)."""
    return -LogBurden(after_infusion=True)(ds, arm)


def proteasome_spearman(ds: xr.Dataset) -> np.ndarray:
    """Spearman ``(rho, p)`` of product proteasome against outcome, one row per seed (in seed order)."""
    from scipy.stats import spearmanr

    x, y = product_proteasome(ds), proteasome_outcome(ds)
    out = []
    for idx in _per_seed(ds):
        ok = np.isfinite(x[idx]) & np.isfinite(y[idx])
        if ok.sum() < 3 or np.ptp(x[idx][ok]) == 0 or np.ptp(y[idx][ok]) == 0:
            out.append((np.nan, np.nan))
            continue
        res = spearmanr(x[idx][ok], y[idx][ok])
        out.append((float(res.statistic), float(res.pvalue)))
    return np.array(out, dtype=float).reshape(-1, 2)


def _cohort_note(ds: xr.Dataset) -> str:
    groups = _per_seed(ds)
    return f"{len(groups)} seeds x {groups[0].size} patients; all seeds must hold"


def _lowest_auc_note(arms: Sequence[ArmRef]) -> Callable[[xr.Dataset], str]:
    def note(ds):
        aucs = np.stack([AUC()(ds, a) for a in arms])
        labels = [arm_name(ds, a) for a in arms]
        ok = np.all(np.isfinite(aucs), axis=0)
        best = np.argmin(np.where(np.isfinite(aucs), aucs, np.inf), axis=0)[ok]
        counts = {labels[i]: int((best == i).sum()) for i in range(len(labels))}
        winner = max(counts, key=counts.get)
        return f"lowest tumour AUC: {winner} in {counts[winner]}/{int(ok.sum())} draws"
    return note


# ---------------------------------------------------------------- catalogue
#: DESIGN.md section 6, finding number -> statement.
STATEMENTS = {
    1: "IFN-gamma lowers tumour SLC7A11, cystine uptake and GSH and raises lipid peroxidation; "
       "IFNGR-deficient tumours are controlled less by checkpoint blockade",
    2: "checkpoint blockade + a ferroptosis inducer beats either alone; a ferroptosis inhibitor "
       "or SLC7A11 over-expression weakens T cell-mediated control",
    3: "chronic stimulation raises mitochondrial depolarisation, proteasome activity and free haem and "
       "lowers BACH2; blocking haem's nuclear entry preserves BACH2 and improves control",
    4: "a bortezomib-manufactured CAR T product is less exhausted and controls tumour longer; product "
       "proteasome activity correlates negatively with outcome",
    5: "CD8 CAR T cells kill more directly, CD4 CAR T cells activate host NK and T cells more; "
       "IFN-gamma-KO CAR T, host IFNGR loss or IL-12 blockade reduce efficacy",
    6: "M2-skewed TAMs suppress T cells and change tumour iron and ferroptosis susceptibility; "
       "repolarising TAMs improves immunotherapy",
    7: "hypoxia, glucose/tryptophan deprivation, IL-10/TGF-beta and lipid peroxidation accelerate "
       "exhaustion; checkpoint blockade reinvigorates progenitor- but not terminally exhausted cells",
}

#: Finding number -> shipped scenarios its checks run on; the first is the one the finding's figure shows.
SCENARIOS: dict[int, tuple[str, ...]] = {
    1: ("finding1_ifng_ferroptosis",),
    2: ("finding2_icb_ferroptosis_inducers",),
    3: ("finding3_heme_bach2", "finding3_pgrmc2_tumor_control"),
    4: ("ball_car_bortezomib",),
    5: ("lymphoma_car_subsets",),
    6: ("finding6_tam_polarization",),
    7: ("finding7_exhaustion_drivers",),
}

#: Finding number -> figure panels: a variable name, or (label, lineages) for a terminally exhausted fraction.
PANELS: dict[int, tuple] = {
    1: ("tumor_live", "tumor_slc7a11", "tumor_cystine_uptake", "tumor_gsh", "tumor_lipid_peroxide", "tumor_stat1"),
    2: ("tumor_live", "tumor_lipid_peroxide", "deaths_ferroptosis", "deaths_killing", "cd8_effector", "tumor_slc7a11"),
    3: ("cd8_effector", "host_t_mito_depolarization", "host_t_proteasome", "host_t_free_heme", "host_t_bach2",
        ("terminal fraction of CD8 T cells", ("cd8",))),
    4: ("tumor_live", "car_t_proteasome", "car_t_bach2", ("terminal fraction of CAR T cells", ("car_cd8", "car_cd4")),
        "car_cd8_stem_memory", "car_cd8_effector"),
    5: ("tumor_live", "kills_car_cd8", "kills_car_cd4", "nk", "cd8_effector", "ifng"),
    6: ("tumor_live", "macrophage_m1", "macrophage_m2", "extracellular_iron", "tumor_labile_iron",
        "tumor_ferroptosis_hazard"),
    7: (("terminal fraction of CD8 T cells", ("cd8",)), "cd8_effector", "cd8_progenitor_exhausted",
        "cd8_terminal_exhausted", "host_t_mito_depolarization", "tumor_live"),
}

_AUC = AUC()
_TUMOUR_AUC = "ratio of tumour AUC"


def _fold_changes(rows, cause: str, who: str, window: str, mean: Mean, arms: tuple[str, str],
                  source: tuple[str, ...], scenario: str) -> list[Finding]:
    """Fold-change checks of one ``Mean`` per variable between two arms.

    ``rows`` are ``(id, variable, label, direction)``; ``mean`` gives the
    window and weighting (its ``variables`` are replaced per row).
    """
    arm, reference = arms
    return [Finding(
        fid, f"{cause} {'raises' if direction is ABOVE_1 else 'lowers'} {who} {label}", source, scenario,
        f"{who} {label}, {window}: {arm} / {reference}", f"fold change of {label}",
        ratio(replace(mean, variables=(var,)), arm, reference), direction)
        for fid, var, label, direction in rows]


def _build() -> tuple[Finding, ...]:
    out: list[Finding] = []

    # 1 -- IFN-gamma and the tumour ferroptosis axis
    s1, src1 = SCENARIOS[1][0], ("Wang2019",)
    out += _fold_changes(
        (("1a", "tumor_slc7a11", "SLC7A11", BELOW_1),
         ("1b", "tumor_gsh", "GSH", BELOW_1),
         ("1c", "tumor_lipid_peroxide", "lipid peroxide", ABOVE_1),
         ("1d", "tumor_cystine_uptake", "cystine uptake", BELOW_1)),
        "anti-PD-1 (IFN-gamma)", "tumour", "per-cell mean d7-21", Mean((), per_cell="tumor_live"),
        ("anti-PD-1", "control"), src1, s1)
    out.append(Finding(
        "1e", "IFNGR-KO tumours benefit less from anti-PD-1", src1, s1,
        "checkpoint benefit AUC(ctrl)/AUC(anti-PD-1): IFNGR-KO / wild type", "ratio of benefits",
        lambda ds: safe_ratio(benefit(ds, "IFNGR-KO control", "IFNGR-KO + anti-PD-1"),
                              benefit(ds, "control", "anti-PD-1")), BELOW_1))

    # 2 -- checkpoint blockade with ferroptosis inducers / inhibitors
    s2, src2 = SCENARIOS[2][0], ("Wang2019", "Cramer2017")
    for fid, drug, label in (("2a", "cysteinase", "cyst(e)inase"), ("2b", "IKE", "IKE")):
        out.append(Finding(
            fid, f"anti-PD-1 + {label} beats either alone", src2, s2,
            f"tumour AUC: anti-PD-1 + {label} / best single agent", _TUMOUR_AUC,
            ratio_to_best(_AUC, f"anti-PD-1 + {drug}", ("anti-PD-1", drug)), BELOW_1))
    out.append(Finding(
        "2c", "liproxstatin-1 weakens anti-PD-1 control", src2, s2,
        "tumour AUC: anti-PD-1 + liproxstatin-1 / anti-PD-1", _TUMOUR_AUC,
        ratio(_AUC, "anti-PD-1 + liproxstatin-1", "anti-PD-1"), ABOVE_1))
    out.append(Finding(
        "2d", "SLC7A11 over-expression weakens anti-PD-1 control", src2, s2,
        "tumour AUC: SLC7A11-OE + anti-PD-1 / anti-PD-1", _TUMOUR_AUC,
        ratio(_AUC, "SLC7A11-OE + anti-PD-1", "anti-PD-1"), ABOVE_1))
    for fid, drug, label in (("2e", "IKE", "IKE"), ("2f", "cysteinase", "cyst(e)inase")):
        out.append(Finding(
            fid, f"anti-PD-1 + {label} synergy (Bliss, log-kill)", src2, s2,
            f"ln-kill(combo) - ln-kill(anti-PD-1) - ln-kill({label})", "excess log-kill (ln)",
            bliss_excess("control", "anti-PD-1", drug, f"anti-PD-1 + {drug}"), POSITIVE, informational=True))

    # 3 -- haem-BACH2 axis of exhaustion
    s3, src3 = SCENARIOS[3][0], ("Heme2026",)
    late = LATE_WINDOW
    out += _fold_changes(
        (("3a", "host_t_mito_depolarization", "mitochondrial depolarisation", ABOVE_1),
         ("3b", "host_t_proteasome", "proteasome activity", ABOVE_1),
         ("3c", "host_t_free_heme", "free haem", ABOVE_1),
         ("3d", "host_t_bach2", "BACH2", BELOW_1)),
        "chronic stimulation", "T cell", "d19-21", Mean((), late), ("chronic", "acute"), src3, s3)
    out.append(Finding(
        "3e", "chronic stimulation raises terminal exhaustion", src3, s3,
        "terminal-exhausted fraction of CD8, d19-21: chronic - acute", "difference in fraction",
        difference(TerminalFraction(("cd8",), late), "chronic", "acute"), POSITIVE))
    out.append(Finding(
        "3f", "PGRMC2 blocker preserves BACH2", src3, s3,
        "T cell BACH2, d19-21: chronic + PGRMC2 blocker / chronic", "fold change of BACH2",
        ratio(Mean(("host_t_bach2",), late), "chronic + PGRMC2 blocker", "chronic"), ABOVE_1))
    out.append(Finding(
        "3g", "PGRMC2 blocker improves tumour control", src3, SCENARIOS[3][1],
        "tumour AUC, growing tumour: PGRMC2 blocker / control", _TUMOUR_AUC,
        ratio(_AUC, "PGRMC2 blocker", "control"), BELOW_1))

    # 4 -- bortezomib-manufactured CAR T product
    s4, src4 = SCENARIOS[4][0], ("Heme2026",)
    bz, std = "bortezomib product", "standard product"
    out.append(Finding(
        "4a", "bortezomib product has lower proteasome activity", src4, s4,
        "CAR T proteasome at infusion + 7 d: bortezomib / standard", "fold change of proteasome",
        ratio(At(("car_t_proteasome",), 7.0, after_infusion=True), bz, std), BELOW_1))
    out.append(Finding(
        "4b", "bortezomib product keeps more BACH2", src4, s4,
        "CAR T BACH2 at infusion + 7 d: bortezomib / standard", "fold change of BACH2",
        ratio(At(("car_t_bach2",), 7.0, after_infusion=True), bz, std), ABOVE_1))
    out.append(Finding(
        "4c", "bortezomib product is less terminally exhausted", src4, s4,
        "terminal-exhausted fraction of CAR T, infusion + 7-21 d: bortezomib - standard", "difference in fraction",
        difference(TerminalFraction(("car_cd8", "car_cd4"), (7.0, 21.0), after_infusion=True), bz, std), NEGATIVE))
    out.append(Finding(
        "4d", "bortezomib product controls tumour longer", src4, s4,
        "mean log10 tumour burden after infusion: bortezomib - standard", "difference in log10 cells",
        difference(LogBurden(after_infusion=True), bz, std), NEGATIVE))
    out.append(Finding(
        "4e", "product proteasome correlates negatively with outcome", src4, s4,
        "Spearman rho(product proteasome, -mean log10 tumour burden), standard-product cohort, per seed", "Spearman rho",
        lambda ds: proteasome_spearman(ds)[:, 0], NEGATIVE, design="proteasome_cohort",
        p_value=lambda ds: proteasome_spearman(ds)[:, 1], required_fraction=1.0, note=_cohort_note))

    # 5 -- CAR T subsets in lymphoma
    s5, src5 = SCENARIOS[5][0], ("Boulch2023", "Boulch2021", "Alizadeh2021")
    one_to_one = "CD4:CD8 1:1"
    out.append(Finding(
        "5a", "CD8 CAR T cells kill more directly", src5, s5,
        "kills per CAR cell-day: CD8 CAR (CD8 kills) / CD4 CAR (CD4 kills)", "ratio of kills per cell-day",
        lambda ds: safe_ratio(KillsPerCellDay("kills_car_cd8", "car_cd8")(ds, "CD8 CAR"),
                              KillsPerCellDay("kills_car_cd4", "car_cd4")(ds, "CD4 CAR")), ABOVE_1))
    out.append(Finding(
        "5b", "CD4 CAR T cells activate host NK and CD8 T cells more", src5, s5,
        "mean host NK + CD8 effector after infusion: CD4 CAR / CD8 CAR", "fold change of host effectors",
        ratio(Mean(("nk", "cd8_effector"), (0.0, None), after_infusion=True), "CD4 CAR", "CD8 CAR"), ABOVE_1))
    for fid, arm, label in (
        ("5c", "1:1 IFNg-KO CAR", "IFN-gamma-KO CAR T"),
        ("5d", ("1:1 host IFNGR-KO", "1:1 in IFNGR-deficient host"), "host IFNGR loss"),
        ("5e", ("1:1 IL-12 blockade", "1:1 + IL-12 blockade"), "IL-12 blockade"),
    ):
        name = arm if isinstance(arm, str) else arm[0]
        out.append(Finding(
            fid, f"{label} reduces CAR T efficacy", src5, s5,
            f"tumour AUC: {name} / {one_to_one}", _TUMOUR_AUC, ratio(_AUC, arm, one_to_one), ABOVE_1))
    products = ("CD8 CAR", "CD4 CAR", one_to_one)
    out.append(Finding(
        "5f", "best product (1:1 vs the better single subset)", src5, s5,
        "tumour AUC: CD4:CD8 1:1 / min(CD8 CAR, CD4 CAR)", _TUMOUR_AUC,
        ratio_to_best(_AUC, one_to_one, products[:2]), BELOW_1, informational=True,
        note=_lowest_auc_note(products)))
    # where the literature disagrees: CAR T IFN-gamma is needed in immunocompetent hosts
    # (Boulch 2021) but dispensable in xenografts (Bailey 2022); the host is a knob
    ko, nsg, ko_nsg = "1:1 IFNg-KO CAR", "1:1 in NSG-like host", "1:1 IFNg-KO CAR in NSG-like host"
    out.append(Finding(
        "5g", "CAR T IFN-gamma matters less in an immunodeficient host", ("Bailey2022", "Boulch2021"), s5,
        "tumour AUC ratio IFNg-KO / intact 1:1 product: NSG-like host / immunocompetent host",
        "ratio of knock-out penalties",
        lambda ds: safe_ratio(ratio(_AUC, ko_nsg, nsg)(ds), ratio(_AUC, ko, one_to_one)(ds)), BELOW_1, informational=True))

    # 6 -- TAM polarisation
    s6, src6 = SCENARIOS[6][0], ("Qian2026", "Dai2020")
    out.append(Finding(
        "6a", "M2-skewed TAMs weaken anti-PD-1 control", src6, s6,
        "tumour AUC: M2-skewed + anti-PD-1 / anti-PD-1", _TUMOUR_AUC,
        ratio(_AUC, "M2-skewed + anti-PD-1", "anti-PD-1"), ABOVE_1))
    out.append(Finding(
        "6b1", "M2-skewed TAMs raise extracellular iron", src6, s6,
        "extracellular iron, mean d7-21: M2-skewed / control", "fold change of iron",
        ratio(Mean(("extracellular_iron",)), "M2-skewed", "control"), ABOVE_1))
    out.append(Finding(
        "6b2", "M2-skewed TAMs raise tumour labile iron", src6, s6,
        "tumour labile iron, per-cell mean d7-21: M2-skewed / control", "fold change of iron",
        ratio(Mean(("tumor_labile_iron",), per_cell="tumor_live"), "M2-skewed", "control"), ABOVE_1))
    out.append(Finding(
        "6c", "M2-skewed TAMs change ferroptosis susceptibility", src6, s6,
        "tumour ferroptosis hazard, per-cell mean d7-21: M2-skewed / control", "fold change of hazard",
        ratio(Mean(("tumor_ferroptosis_hazard",), per_cell="tumor_live"), "M2-skewed", "control"), ABOVE_1, informational=True))
    for fid, arm, label in (("6d", "TLR7/8 agonist + anti-PD-1", "TLR7/8 agonist"),
                            ("6e", "CSF1R inhibitor + anti-PD-1", "CSF1R inhibitor")):
        out.append(Finding(
            fid, f"repolarising TAMs ({label}) improves anti-PD-1", src6, s6,
            f"tumour AUC: {arm} / anti-PD-1", _TUMOUR_AUC, ratio(_AUC, arm, "anti-PD-1"), BELOW_1))

    # 7 -- drivers of exhaustion; reinvigoration of progenitors only
    s7, src7 = SCENARIOS[7][0], ("Scharping2021", "Philip2017", "Ma2021", "Xu2021")
    for k, driver in enumerate(("hypoxia", "glucose deprivation", "tryptophan deprivation", "IL-10/TGF-beta",
                                "lipid peroxidation"), start=1):
        out.append(Finding(
            f"7a{k}", f"{driver} accelerates CD8 T cell exhaustion", src7, s7,
            f"terminal-exhausted fraction of CD8, d4-10: {driver} - baseline", "difference in fraction",
            difference(TerminalFraction(("cd8",), ONSET_WINDOW), driver, "baseline"), POSITIVE))
    out.append(Finding(
        "7b1", "anti-PD-1 reinvigorates CD8 effectors", src7, s7,
        "CD8 effector, mean d7-21: anti-PD-1 / baseline", "fold change of CD8 effectors",
        ratio(Mean(("cd8_effector",)), "anti-PD-1", "baseline"), ABOVE_1))
    out.append(Finding(
        "7b2", "anti-PD-1 does not convert terminally exhausted cells back", src7, s7,
        "CD8 terminally exhausted, mean d7-21: anti-PD-1 / baseline", "fold change of terminal CD8",
        ratio(Mean(("cd8_terminal_exhausted",)), "anti-PD-1", "baseline"), Direction(">=", 0.9)))
    return tuple(out)


# ------------------------------------------------------- mechanism controls
# Each required check names the mechanism it claims to show as the values that cut it. They follow the
# biology of DESIGN.md section 6 and the seeds' papers, and were fixed before any cut was run; a check whose
# direction survives its cut holds, but not through the mechanism it names ("not earned").
IFNG_FERROPTOSIS = Mechanism(
    "IFN-gamma -> tumour SLC7A11 repression and ACSL4 induction",
    (("slc7a11_repression_max", 0.0), ("acsl4_induction_max", 0.0)),
    "Wang2019: CD8 T cell IFN-gamma (STAT1) represses SLC7A11 and, with ACSL4 (Liao2022), sensitises the tumour "
    "to ferroptosis; that is finding 1's biomarker shift, why IFNGR loss costs checkpoint blockade, why "
    "checkpoint blockade and a cystine-depleting ferroptosis inducer add up (finding 2), and why a ferroptosis "
    "inhibitor or SLC7A11 over-expression weakens T cell control. With both at 0, IFN-gamma no longer touches "
    "the tumour's ferroptosis axis; it still acts through PD-L1, MHC-I, cytostasis and apoptosis.")
HEME_BACH2 = Mechanism(
    "nuclear haem represses BACH2",
    (("bach2_heme_hill", 0.0),),
    "Heme2026: proteasome-released regulatory haem enters the nucleus (PGRMC2) and inactivates BACH2, which "
    "keeps T cells stem-like. A Hill power of 0 makes BACH2 independent of nuclear haem (it stays at its rested "
    "level), so blocking haem import or lowering product proteasome activity can act only through any other "
    "path the model has.")
BORTEZOMIB_IMPRINT = Mechanism(
    "bortezomib inhibits the product's proteasome during manufacture",
    (("car_bortezomib_inhibition", 0.0),),
    "Heme2026: low-dose bortezomib during manufacturing lowers the product's proteasome activity; the check "
    "reads that activity a week after infusion. At 0 the two products are made alike.")
CD4_DIRECT_KILLING = Mechanism(
    "CD4 CAR T cells kill less directly than CD8",
    (("cd4_kill_fraction", 1.0),),
    "Boulch2023: CD8 CAR T cells are the direct killers, CD4 CAR T cells kill less per cell. At 1 a CD4 CAR T "
    "cell kills as a CD8 one does.")
CD4_HELP = Mechanism(
    "CD4 CAR T cells secrete more IFN-gamma and IL-2",
    (("cd4_ifng_fold", 1.0), ("cd8_il2_fraction", 1.0)),
    "Boulch2023: CD4 CAR T cells are the larger IFN-gamma (and IL-2) source and so activate host NK and T cells "
    "more. At 1 CD4 and CD8 CAR T cells secrete alike.")
IL12_LOOP = Mechanism(
    "IL-12 from IFN-gamma-sensing host myeloid cells boosting NK and T cells",
    (("il12_max_boost", 0.0), ("nk_il12_boost", 0.0), ("m1_il12_weight", 0.0)),
    "Boulch2021: CAR T IFN-gamma acts on host cells, whose IL-12 activates host NK and T cells (and the CAR T "
    "cells); losing CAR T IFN-gamma, host IFNGR or IL-12 each breaks that loop. With IL-12 acting on nothing "
    "(T cell and NK boosts, M1 polarisation) the loop carries no effect.")
M2_SUPPRESSION = Mechanism(
    "M2 TAM IL-10 and TGF-beta",
    (("m2_il10_secretion", 0.0), ("m2_tgfb_secretion", 0.0)),
    "DESIGN.md finding 6 (Qian2026): M2-skewed TAMs suppress T cells through IL-10 and TGF-beta. At 0 M2 TAMs "
    "secrete neither.")
TAM_IRON = Mechanism(
    "TAM iron handling (M2 export, M1 retention)",
    (("m2_iron_export", 0.0), ("m1_iron_retention", 0.0)),
    "Qian2026: M2-like TAMs export iron (ferroportin, LCN2) and M1-like TAMs retain it (ferritin), which sets "
    "the iron the tumour sees. At 0 TAMs leave extracellular iron alone.")
TAM_REPOLARISATION = Mechanism(
    "drug-driven repolarisation of TAMs to M1",
    (("m1_tlr_weight", 0.0), ("m1_csf1r_weight", 0.0), ("csf1r_monocyte_redirect", 0.0)),
    "Finding 6: repolarising TAMs improves checkpoint blockade. The cut removes the drugs' M2 -> M1 "
    "re-education (TLR7/8 agonism, CSF1R inhibition) and the CSF1R-blocked recruits entering M1-like; CSF1R "
    "inhibition still depletes M2 TAMs and keeps M2-fated recruits out, and TLR7/8 agonism still slows "
    "M1 -> M2 conversion.")
REINVIGORATION = Mechanism(
    "PD-1 blockade reinvigorates progenitor-exhausted cells",
    (("reinvigoration_rate", 0.0), ("blockade_progenitor_boost", 0.0)),
    "Philip2017: checkpoint blockade acts on progenitor-exhausted cells, which divide and give "
    "effectors. At 0 blockade neither returns progenitors to effectors nor speeds their division; it still "
    "relieves PD-1's brake on effectors.")

#: Check id -> the mechanism it claims (its cut is the check's control).
MECHANISMS: dict[str, Mechanism] = {
    **dict.fromkeys(("1a", "1b", "1c", "1d", "1e", "2a", "2b", "2c", "2d"), IFNG_FERROPTOSIS),
    "3g": HEME_BACH2,
    "4a": BORTEZOMIB_IMPRINT,
    **dict.fromkeys(("4b", "4c", "4d", "4e"), HEME_BACH2),
    "5a": CD4_DIRECT_KILLING,
    "5b": CD4_HELP,
    **dict.fromkeys(("5c", "5d", "5e"), IL12_LOOP),
    "6a": M2_SUPPRESSION,
    **dict.fromkeys(("6b1", "6b2"), TAM_IRON),
    **dict.fromkeys(("6d", "6e"), TAM_REPOLARISATION),
    "7b1": REINVIGORATION,
}

_CLAMP = ("at clamped antigen (an unkillable tumour of fixed size) the chronic arm's stimulation stays "
          "saturating while the acute arm clears its targets, and ")
_DRIVER = ("the driver enters the exhaustion hazards as an additive non-negative term of the driver load "
           "(1 + sum of weight x signal) at clamped antigen, so raising it can only raise the terminal fraction")
#: Check id -> why the check holds by construction of the equations (a sanity check, not a finding).
STRUCTURAL: dict[str, str] = {
    "3a": _CLAMP + "depolarisation rises with stimulation by its rate equation",
    "3b": _CLAMP + "proteasome activity is set by depolarisation (target 1 + induction x depolarisation)",
    "3c": _CLAMP + "free haem is released in proportion to proteasome activity and depolarisation",
    "3d": _CLAMP + "BACH2 falls with nuclear haem, which follows free haem",
    "3e": _CLAMP + "terminal commitment is proportional to stimulation and there is no terminal -> effector "
                   "transition",
    "3f": "the PGRMC2 blocker's only action is to block nuclear haem import, and nuclear haem is BACH2's only "
          "repressor, so BACH2 must rise",
    **{f"7a{k}": _DRIVER for k in range(1, 6)},
    "7b2": "reinvigoration acts on progenitor-exhausted cells only: the equations have no terminal -> "
           "effector transition, so nothing but death drains the terminal pool the check reads",
}


def _with_controls(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """The checks with their mechanism or structural reason attached (:data:`MECHANISMS`, :data:`STRUCTURAL`)."""
    return tuple(replace(f, mechanism=MECHANISMS.get(f.id), structural=STRUCTURAL.get(f.id, "")) for f in findings)


#: Every check, in report order.
FINDINGS: tuple[Finding, ...] = _with_controls(_build())
BY_ID: dict[str, Finding] = {f.id: f for f in FINDINGS}


def select(ids: Sequence[str] | None = None, findings: Sequence[Finding] = FINDINGS) -> list[Finding]:
    """Checks named by ``ids``: a check id (``"2c"``), a finding number (``"2"``: all its checks)
    or a scenario name (all its checks); all when ``ids`` is empty.

    Raises
    ------
    tmesim.errors.InputError
        For an id that names nothing.
    """
    if not ids:
        return list(findings)
    chosen: list[Finding] = []
    for raw in ids:
        key = str(raw).strip()
        match = [f for f in findings if f.id == key or str(f.number) == key or f.scenario == key]
        if not match:
            import difflib

            from ..errors import InputError

            known = sorted({f.id for f in findings} | {str(f.number) for f in findings})
            close = difflib.get_close_matches(key, known, n=1)
            raise InputError("ID", f"unknown finding {key!r}",
                             f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}")
        chosen += [f for f in match if f not in chosen]
    order = {f.id: i for i, f in enumerate(findings)}
    return sorted(chosen, key=lambda f: order[f.id])
