"""Cohort files: what a virtual trial runs, validated into a :class:`Cohort`.

A cohort file (YAML) names a scenario, the arms to run, the horizon, how many
patients, the seed, the parameter distributions (in units the file states)
with their correlations, the endpoints and which baseline biomarkers and time
series to keep. See docs/trials.md for the format and an example::

    name: b16_anti_pd1_ferroptosis
    scenario: b16_icb_ferroptosis
    arms: [anti-PD-1, anti-PD-1 + IKE]
    days: 42
    patients: 500
    seed: 1
    parameters:
      tumor_slc7a11_overexpression: {distribution: uniform, low: 1, high: 3, unit: "1"}
      recruit_m1_fraction: {distribution: normal, mean: 0.3, sd: 0.1, bounds: [0.05, 0.6]}
    correlations:
      - {between: [recruit_m1_fraction, initial_m1_fraction], rho: 0.6}
    endpoints: {type: solid}

Every problem raises :class:`tmesim.errors.InputError` naming the field and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError
from ..params.index import CATALOGUE
from ..units import conversion_factor
from ..yamlio import load_text, shipped, shipped_or_file
from .distributions import DISTRIBUTIONS, Bounds, Distribution

#: Time series kept per patient unless the cohort names its own (``t_cells_<lineage>`` sums a lineage's states).
DEFAULT_TIMESERIES = ("tumor_live", "t_cells_cd8", "t_cells_car_cd8", "t_cells_car_cd4", "macrophage_m1",
                      "macrophage_m2")
#: Patients per task: the engine integrates a batch in one compiled call, and at >= 100 patients per task
#: the executors' per-task overhead is small (shared/research/ecosystem.md, 3c).
DEFAULT_BATCH_SIZE = 250
#: Patients per task of a spatial cohort: the lattice runs one (arm, patient) after another, a batch gains
#: nothing from its size, and a run of seconds to hours dwarfs a task's overhead, so one patient per task
#: balances the workers best and loses least to a kill.
DEFAULT_SPATIAL_BATCH_SIZE = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Correlation(_Strict):
    """A correlation of two parameters' normal scores in the Gaussian copula."""

    between: tuple[str, str]
    rho: float = Field(gt=-1, lt=1, allow_inf_nan=False)


class SolidEndpoints(_Strict):
    """RECIST-like endpoints of a solid tumour (thresholds: RECIST 1.1, Eisenhauer 2009).

    Sizes are the model's cell counts of ``size_variable``. With ``measure: diameter`` (default)
    a change is computed on the diameter of a sphere of that many cells, ``(N/N0)^(1/3) - 1``,
    as RECIST measures diameters; ``volume`` compares cell counts directly. ``confirm_progression``
    applies iRECIST's rule for immunotherapy (Seymour 2017): a PD counts only if the next assessment
    confirms it. ``stable_disease_min_days``: an SD counts towards the best overall response only
    from this many days after baseline (RECIST 1.1 leaves the minimum to the protocol, often 6-8 weeks).
    """

    type: Literal["solid"]
    size_variable: str = "tumor_live"
    measure: Literal["diameter", "volume"] = "diameter"
    baseline_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    assessment_every_days: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    partial_response_pct: float = Field(default=-30.0, gt=-100, lt=0, allow_inf_nan=False)
    progressive_disease_pct: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    complete_response_fraction: float = Field(default=0.01, gt=0, lt=1, allow_inf_nan=False)
    death_above_cells: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    confirm_progression: bool = False
    stable_disease_min_days: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class LeukemiaEndpoints(_Strict):
    """Leukaemia endpoints: remission and MRD at a day, relapse and event-free survival.

    Burden thresholds are cell counts of ``size_variable``; no default suits every model scale,
    so a cohort states them (and says where they come from).
    """

    type: Literal["leukemia"]
    size_variable: str = "tumor_live"
    baseline_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    remission_day: float = Field(default=28.0, gt=0, allow_inf_nan=False)
    remission_below_cells: float = Field(gt=0, allow_inf_nan=False)
    mrd_below_cells: float = Field(gt=0, allow_inf_nan=False)
    relapse_above_cells: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _mrd_below_remission(self):
        if self.mrd_below_cells > self.remission_below_cells:
            raise ValueError(f"mrd_below_cells ({self.mrd_below_cells:g}) is above remission_below_cells "
                             f"({self.remission_below_cells:g}): MRD negativity is the deeper response")
        return self

    @property
    def relapse_threshold(self) -> float:
        return self.remission_below_cells if self.relapse_above_cells is None else self.relapse_above_cells


Endpoints = Annotated[SolidEndpoints | LeukemiaEndpoints, Field(discriminator="type")]


class CohortFile(_Strict):
    """The cohort file as written (validated, not yet resolved against the scenario)."""

    name: str = Field(min_length=1)
    description: str = ""
    scenario: str = Field(min_length=1)
    arms: list[str] | None = Field(default=None, min_length=1)
    reference_arm: str | None = None
    days: float = Field(gt=0, le=3650, allow_inf_nan=False)
    output_interval_hours: float = Field(default=24.0, gt=0, allow_inf_nan=False)
    patients: int = Field(default=100, ge=1)
    seed: int = Field(default=0, ge=0)
    batch_size: int | None = Field(default=None, ge=1)
    parameters: dict[str, Distribution] = {}
    correlations: list[Correlation] = []
    endpoints: Endpoints
    biomarkers: list[str] = []
    timeseries: list[str] = list(DEFAULT_TIMESERIES)
    solver: dict[str, Any] = {}


# ------------------------------------------------------------------ errors
_TAGS = set(DISTRIBUTIONS) | {"solid", "leukemia"}


def _format_loc(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and part in _TAGS:
            continue  # pydantic's discriminator tag, not a field
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fix_for(err: dict) -> str | None:
    loc = err["loc"]
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        known = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, known, n=1)
        return f"did you mean {close[0]!r}?" if close else (f"allowed: {', '.join(known)}" if known else None)
    if err["type"] == "union_tag_invalid":
        return f"use one of {', '.join(DISTRIBUTIONS)}" if "parameters" in loc else "use 'solid' or 'leukemia'"
    ctx = err.get("ctx") or {}
    bounds = {"greater_than": ("gt", "above"), "greater_than_equal": ("ge", "at least"),
              "less_than": ("lt", "below"), "less_than_equal": ("le", "at most")}
    if err["type"] in bounds:
        key, word = bounds[err["type"]]
        return f"give a value {word} {ctx.get(key)}"
    if err["type"] == "missing":
        return "add it (docs/trials.md lists every field)"
    if err["type"] in ("float_parsing", "int_parsing", "float_type", "int_type"):
        return "write a plain number"
    if err["type"] == "union_tag_not_found":
        return (f"add 'distribution:' ({', '.join(DISTRIBUTIONS)})" if "parameters" in loc
                else "add 'type: solid' or 'type: leukemia'")
    return None


def _allowed_keys(loc) -> list[str]:
    from . import distributions as D

    by_tag = {"lognormal": D.LogNormal, "normal": D.Normal, "uniform": D.Uniform, "categorical": D.Categorical,
              "solid": SolidEndpoints, "leukemia": LeukemiaEndpoints}
    if loc and isinstance(loc[-1], str) and loc[-1] in by_tag:
        return list(by_tag[loc[-1]].model_fields)
    if len(loc) == 0:
        return list(CohortFile.model_fields)
    if loc[0] == "correlations":
        return list(Correlation.model_fields)
    return []


def parse_cohort(data: Any, where: str = "cohort") -> CohortFile:
    """Validate a mapping into a :class:`CohortFile` (InputError naming the first bad field)."""
    if not isinstance(data, dict):
        raise InputError(where, "a cohort file must be a YAML mapping", "see docs/trials.md for the format")
    try:
        return CohortFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {str(err['loc'][-1])!r}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown {err['ctx'].get('discriminator', 'kind').strip(chr(39))} {err['ctx'].get('tag')!r}"
        field = _format_loc(err["loc"]) or where
        raise InputError(field, msg, _fix_for(err)) from None


# ----------------------------------------------------------------- resolved
@dataclass(frozen=True)
class ParameterDraw:
    """One drawn parameter: its distribution, the unit the cohort states, the factor to the internal
    unit and the effective bounds (the cohort's and the catalogue's, in the stated unit)."""

    name: str
    distribution: Any
    unit: str
    factor: float
    bounds: Bounds

    def sample(self, z: np.ndarray) -> np.ndarray:
        """Values in the stated unit for standard normal scores ``z``."""
        return self.distribution.sample(z, self.bounds)

    def median(self) -> float:
        """Median of the (truncated) law, in the stated unit."""
        return float(self.sample(np.zeros(1))[0])


@dataclass(frozen=True)
class Cohort:
    """A validated cohort, resolved against its scenario.

    ``scenario`` is the trial's scenario: the named one restricted to the cohort's arms, run for
    ``spec.days`` with outputs every ``spec.output_interval_hours``, seeded with the cohort's seed.
    ``draws`` holds the drawn parameters sorted by name (the order of each patient's normal scores),
    ``cholesky`` the lower Cholesky factor of their correlation matrix.
    """

    spec: CohortFile
    source: str
    scenario: Any
    draws: tuple[ParameterDraw, ...]
    cholesky: np.ndarray
    reference_arm: str
    text: str = field(default="", repr=False)
    base: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def arms(self) -> list[str]:
        return [a.name for a in self.scenario.arms]

    @property
    def n_patients(self) -> int:
        return self.spec.patients

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def batch_size(self) -> int:
        """Patients per task: the file's, else 250 (well-mixed) or 1 (spatial)."""
        if self.spec.batch_size is not None:
            return self.spec.batch_size
        return DEFAULT_SPATIAL_BATCH_SIZE if self.scenario.scale == "spatial" else DEFAULT_BATCH_SIZE

    @property
    def endpoints(self):
        return self.spec.endpoints

    @cached_property
    def baseline_day(self) -> float:
        """Day the endpoints are measured from: the cohort's, else the first dose or infusion of any arm, else 0."""
        if self.endpoints.baseline_day is not None:
            return float(self.endpoints.baseline_day)
        from ..protocols.events import DOSE, INFUSION, arm_events

        days = [e.day for i in range(len(self.scenario.arms)) for e in arm_events(self.scenario, i)
                if e.kind in (DOSE, INFUSION)]
        return float(min(days)) if days else 0.0

    def with_overrides(self, patients: int | None = None, seed: int | None = None,
                       batch_size: int | None = None) -> "Cohort":
        """The cohort with another number of patients, seed or batch size (checked as the file's fields are)."""
        data = self.spec.model_dump(mode="json")
        for key, value, flag in (("patients", patients, "--patients"), ("seed", seed, "--seed"),
                                 ("batch_size", batch_size, "--batch-size")):
            if value is not None:
                minimum = 0 if key == "seed" else 1
                if not isinstance(value, int) or value < minimum:
                    raise InputError(flag, f"must be an integer >= {minimum}, got {value!r}")
                data[key] = value
        return resolve_cohort(parse_cohort(data, self.source), self.source, self.text, self.base)

    def fingerprint(self) -> str:
        """SHA-256 of what decides every patient's result: the cohort as resolved (scenario YAML, draws,
        endpoints, patients, seed) and the tmesim version; not the batch size or the executor."""
        from .. import __version__

        spec = self.spec.model_dump(mode="json")
        spec.pop("batch_size")
        spec.pop("scenario")
        blob = json.dumps({"cohort": spec, "scenario": self.scenario.to_yaml(), "version": __version__},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def describe(self) -> dict:
        """The resolved cohort as JSON-able data (written to the output folder and the report)."""
        return {
            "name": self.name, "source": self.source, "scenario": self.scenario.name, "arms": self.arms,
            "reference_arm": self.reference_arm, "days": self.spec.days, "patients": self.n_patients,
            "seed": self.seed, "baseline_day": self.baseline_day,
            "parameters": {d.name: {**d.distribution.model_dump(exclude_none=True), "unit": d.unit,
                                    "effective_bounds": list(d.bounds)} for d in self.draws},
            "correlations": [c.model_dump() for c in self.spec.correlations],
            "endpoints": self.endpoints.model_dump(),
        }


def _resolve_scenario(spec: CohortFile, base: Path | None):
    from ..scenario import load_scenario

    name = spec.scenario
    path = Path(name)
    if base is not None and path.suffix in (".yaml", ".yml") and not path.is_absolute():
        path = base / path
        name = str(path)
    return load_scenario(name)


def _check_catalogue_bounds(name: str, dist, unit: str, factor: float, field_: str) -> Bounds:
    """Effective bounds (stated unit): the cohort's bounds within the catalogue's; InputError when the
    cohort's reach outside the catalogue's."""
    spec = CATALOGUE[name]
    cat_lo = None if spec.get("min") is None else spec["min"] / factor
    cat_hi = None if spec.get("max") is None else spec["max"] / factor
    lo, hi = dist.bounds if dist.bounds is not None else (None, None)
    s_lo, s_hi = dist.support()

    def fmt(v):
        return f"{v:g}" + ("" if unit in ("1", "") else f" {unit}")

    for what, value in (("lower bound", lo), ("upper bound", hi), ("lowest value", s_lo), ("highest value", s_hi)):
        if value is None:
            continue
        where = f"{field_}.bounds" if "bound" in what else field_
        if cat_lo is not None and value < cat_lo - 1e-12 * max(1.0, abs(cat_lo)):
            raise InputError(where, f"{what} {fmt(value)} is below {name}'s minimum {fmt(cat_lo)}",
                             f"keep the distribution at or above {fmt(cat_lo)}")
        if cat_hi is not None and value > cat_hi + 1e-12 * max(1.0, abs(cat_hi)):
            raise InputError(where, f"{what} {fmt(value)} is above {name}'s maximum {fmt(cat_hi)}",
                             f"keep the distribution at or below {fmt(cat_hi)}")
    eff_lo = max([v for v in (lo, cat_lo) if v is not None], default=None)
    eff_hi = min([v for v in (hi, cat_hi) if v is not None], default=None)
    if dist.mass_between((eff_lo, eff_hi)) < 1e-9:
        raise InputError(f"{field_}.bounds", f"the distribution has no mass between {eff_lo} and {eff_hi}",
                         "widen the bounds or move the distribution inside them")
    return (eff_lo, eff_hi)


def _correlation_factor(spec: CohortFile, names: list[str]) -> np.ndarray:
    k = len(names)
    corr = np.eye(k)
    seen = set()
    for i, c in enumerate(spec.correlations):
        a, b = c.between
        for which, n in (("0", a), ("1", b)):
            if n not in spec.parameters:
                close = difflib.get_close_matches(n, list(spec.parameters), n=1)
                raise InputError(f"correlations[{i}].between[{which}]", f"{n!r} is not a drawn parameter",
                                 f"did you mean {close[0]!r}?" if close else "correlate parameters listed under 'parameters:'")
        if a == b:
            raise InputError(f"correlations[{i}].between", f"a parameter cannot be correlated with itself ({a!r})")
        pair = tuple(sorted((a, b)))
        if pair in seen:
            raise InputError(f"correlations[{i}].between", f"the pair {a!r}, {b!r} is given twice", "keep one")
        seen.add(pair)
        ia, ib = names.index(a), names.index(b)
        corr[ia, ib] = corr[ib, ia] = c.rho
    try:
        return np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(corr).min())
        raise InputError("correlations", f"the correlation matrix is not positive definite (smallest eigenvalue "
                                         f"{smallest:.3g})",
                         "weaken the correlations so they are mutually consistent (e.g. a~b and a~c strongly "
                         "positive need b~c positive too)") from None


def resolve_cohort(spec: CohortFile, source: str = "cohort", text: str = "", base: Path | None = None) -> Cohort:
    """Resolve a validated cohort file against its scenario, parameter catalogue and units."""
    from ..params.loader import unknown_parameter

    scn = _resolve_scenario(spec, base)
    if scn.scale == "spatial" and scn.spatial.replicates != 1:
        raise InputError("scenario", f"spatial scenario {scn.name!r} runs {scn.spatial.replicates} replicates per "
                                     "arm; in a trial each patient is one run per arm",
                         "set spatial.replicates: 1 in the scenario (patients: N gives N runs per arm)")
    if scn.cohort.variability:
        raise InputError("scenario", f"scenario {scn.name!r} varies parameters through its own 'cohort:' "
                                     "(drawn per run, not per patient)",
                         "describe the variation in the cohort file's 'parameters:' instead")
    arm_names = [a.name for a in scn.arms]
    chosen = spec.arms or arm_names
    for i, arm in enumerate(chosen):
        if arm not in arm_names:
            close = difflib.get_close_matches(arm, arm_names, n=1)
            raise InputError(f"arms[{i}]", f"scenario {scn.name!r} has no arm {arm!r}",
                             f"did you mean {close[0]!r}?" if close else f"arms: {', '.join(arm_names)}")
    if len(set(chosen)) != len(chosen):
        raise InputError("arms", "an arm is listed twice", "list each arm once")
    reference = spec.reference_arm or chosen[0]
    if reference not in chosen:
        raise InputError("reference_arm", f"{reference!r} is not one of the trial's arms",
                         f"arms: {', '.join(chosen)}")
    arms = [a.model_dump() for name in chosen for a in scn.arms if a.name == name]
    scenario = scn.with_overrides(days=spec.days, seed=spec.seed, arms=arms,
                                  output_interval_hours=spec.output_interval_hours)
    draws = []
    for name in sorted(spec.parameters):
        dist = spec.parameters[name]
        f = f"parameters.{name}"
        if name not in CATALOGUE:
            raise unknown_parameter(name, f)
        unit = dist.unit or scenario.base_parameters.by_name[name].given_unit
        factor = conversion_factor(unit, CATALOGUE[name]["unit"], f"{f}.unit")
        bounds = _check_catalogue_bounds(name, dist, unit, factor, f)
        draws.append(ParameterDraw(name, dist, unit, factor, bounds))
    cholesky = _correlation_factor(spec, [d.name for d in draws])
    check_solver(spec.solver)
    return Cohort(spec, source, scenario, tuple(draws), cholesky, reference, text, base)


def check_solver(options: dict) -> None:
    """Validate the cohort's ``solver:`` options as :class:`tmesim.SolverOptions` would take them."""
    from dataclasses import fields

    from ..simulation import SolverOptions

    known = [f.name for f in fields(SolverOptions)]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise InputError(f"solver.{key}", "unknown solver option",
                             f"did you mean {close[0]!r}?" if close else f"options: {', '.join(known)}")
    SolverOptions(**options)


def _cohort_dir():
    return resources.files("tmesim").joinpath("cohorts")


def list_cohorts() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped cohort."""
    return shipped(_cohort_dir())


def load_cohort(name_or_path: str | Path, *, patients: int | None = None, seed: int | None = None,
                batch_size: int | None = None) -> Cohort:
    """Load a shipped cohort by name, or a cohort YAML file by path; ``patients``, ``seed`` and
    ``batch_size`` replace the file's."""
    text, where, p = shipped_or_file(name_or_path, _cohort_dir(), "cohort")
    # a user's cohort names its files relative to its own folder; a shipped one names shipped scenarios
    base = p.resolve().parent if where == str(p) else None
    data, _ = load_text(text, where)
    cohort = resolve_cohort(parse_cohort(data, where), where, text, base)
    if patients is not None or seed is not None or batch_size is not None:
        cohort = cohort.with_overrides(patients, seed, batch_size)
    return cohort

