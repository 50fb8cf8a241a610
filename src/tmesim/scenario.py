"""Scenarios: the validated configuration of a run.

A scenario (YAML) names a parameter set, the arms (protocols: doses, CAR T
products, genetic knobs, per-arm parameter changes), the duration, the output
interval, the seed and optionally a virtual cohort. Example::

    name: b16_icb_ferroptosis
    parameter_set: mouse_b16_icb_ferroptosis
    days: 30
    arms:
      - name: control
      - name: anti-PD-1
        doses:
          - {drug: anti_pd1, dose: 10, unit: mg/kg, start_day: 3, every_days: 3, count: 5}
      - name: SLC7A11-OE + anti-PD-1
        knobs: {tumor_slc7a11_overexpression: 3}
        doses: [...]

Bad input raises :class:`tmesim.errors.InputError` naming the field.
"""

from __future__ import annotations

import difflib
import warnings
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError
from .params import ParameterSet, load_parameter_set
from .params.index import CATALOGUE
from .protocols import drugs
from .spatial.config import SpatialConfig
from .yamlio import line_of, load_text, shipped, shipped_or_file

DEFAULT_SCENARIO = "b16_icb_ferroptosis"

#: Largest seed: numpy's SeedSequence takes any non-negative integer, but timeseries.nc stores the seed
#: as a netCDF attribute, whose integers are at most 64 bits (int64: a larger seed failed there, after the
#: whole simulation had run).
MAX_SEED = 2**63 - 1
#: Largest dose (mg/kg, after unit conversion): the OECD limit dose of acute toxicity testing
#: (OECD test guidelines 420/423/425: a substance showing no effect at 2,000 mg/kg is not tested
#: higher). Every dose of the shipped scenarios is at most 200 mg/kg.
MAX_DOSE_MG_PER_KG = 2000.0
#: Most doses in one schedule (plausibility: daily doses for 27 years; memory is checked separately).
MAX_DOSE_COUNT = 10_000
#: Most CAR+ cells in one infusion: assumption, ten times the largest adoptive transfers given to
#: patients (tumour-infiltrating lymphocytes, up to ~1e11 cells; CAR T products are 1e7-1e9 cells).
MAX_INFUSED_CELLS = 1e12
#: Most virtual patients in one scenario (memory is checked separately).
MAX_COHORT = 1_000_000


class ScenarioWarning(UserWarning):
    """Something in a scenario that runs but is probably not what was meant (a dose after the end)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dose(_Strict):
    """A drug schedule: ``count`` doses every ``every_days`` from ``start_day``."""

    drug: str
    dose: float = Field(gt=0, allow_inf_nan=False, strict=True)
    unit: str = "mg/kg"
    start_day: float = Field(ge=0, allow_inf_nan=False, strict=True)
    every_days: float | None = Field(default=None, gt=0, allow_inf_nan=False, strict=True)
    count: int = Field(default=1, ge=1, le=MAX_DOSE_COUNT, strict=True)

    @field_validator("drug")
    @classmethod
    def _known_drug(cls, v: str) -> str:
        if v not in drugs.BY_NAME:
            close = difflib.get_close_matches(v, list(drugs.BY_NAME), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(drugs.BY_NAME)}"
            raise ValueError(f"unknown drug {v!r}{hint}")
        return v

    @model_validator(mode="after")
    def _interval_for_repeats(self):
        if self.count > 1 and self.every_days is None:
            raise ValueError("every_days is required when count > 1")
        return self

    def days(self) -> list[float]:
        """Dose times (days)."""
        return [self.start_day + i * (self.every_days or 0.0) for i in range(self.count)]


class Product(_Strict):
    """A CAR T cell infusion."""

    day: float = Field(ge=0, allow_inf_nan=False, strict=True)
    cells: float = Field(gt=0, le=MAX_INFUSED_CELLS, allow_inf_nan=False, strict=True, description="CAR+ cells infused")
    cd4_fraction: float = Field(default=0.5, ge=0, le=1, strict=True)
    manufacturing: Literal["standard", "bortezomib"] = "standard"
    ifng_knockout: bool = Field(default=False, strict=True)
    proteasome_expression: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False, strict=True,
                                         description="a genetic edit of the CAR T cells' proteasome expression "
                                                     "(relative; lifelong: the infused cells and their daughters "
                                                     "keep it; at most 100, an assumption)")


class Arm(_Strict):
    """One treatment arm."""

    name: str = Field(min_length=1)
    doses: list[Dose] = []
    products: list[Product] = []
    knobs: dict[str, Annotated[float, Field(strict=True, allow_inf_nan=False)]] = {}
    parameters: dict[str, Any] = {}

    @field_validator("knobs")
    @classmethod
    def _known_knobs(cls, v: dict[str, float]) -> dict[str, float]:
        knobs = [n for n, s in CATALOGUE.items() if s.get("knob")]
        for k in v:
            if k not in knobs:
                close = difflib.get_close_matches(k, knobs, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; knobs: {', '.join(knobs)}"
                raise ValueError(f"unknown knob {k!r}{hint}")
        return v


class Cohort(_Strict):
    """A virtual cohort: ``size`` patients whose parameters vary log-normally.

    ``variability`` maps a parameter name (or ``all`` for every non-knob
    parameter) to the standard deviation of its log (0.25 ~ +/-25%).
    """

    size: int = Field(default=1, ge=1, le=MAX_COHORT, strict=True)
    variability: dict[str, Annotated[float, Field(strict=True)]] = {}

    @field_validator("variability")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        for k, s in v.items():
            if k != "all" and k not in CATALOGUE:
                close = difflib.get_close_matches(k, list(CATALOGUE), n=1)
                raise ValueError(f"unknown parameter {k!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
            if not (s >= 0 and s < 5):
                raise ValueError(f"variability of {k!r} must be in [0, 5), got {s}")
        return v


class Scenario(_Strict):
    """A validated scenario. Build with :func:`load_scenario` or directly."""

    name: str
    description: str = ""
    parameter_set: str = "mouse_b16_icb_ferroptosis"
    scale: Literal["wellmixed", "spatial"] = "wellmixed"
    spatial: SpatialConfig | None = None
    parameters: dict[str, Any] = {}
    days: float = Field(gt=0, le=3650, allow_inf_nan=False, strict=True)
    output_interval_hours: float = Field(default=6.0, gt=0, allow_inf_nan=False, strict=True)
    seed: int = Field(default=0, ge=0, le=MAX_SEED, strict=True)
    cohort: Cohort = Cohort()
    arms: list[Arm] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_arms(self):
        names = [a.name for a in self.arms]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"arm names must be unique; repeated: {', '.join(sorted(dup))}")
        return self

    @model_validator(mode="after")
    def _spatial_section(self):
        if self.scale == "spatial" and self.spatial is None:
            raise ValueError("scale 'spatial' needs a 'spatial:' section (domain_um, site_um, geometry, ...)")
        if self.scale != "spatial" and self.spatial is not None:
            raise ValueError("a 'spatial:' section needs scale: spatial")
        if self.scale == "spatial" and self.cohort.size > 1:
            raise ValueError("a spatial scenario runs replicates (spatial.replicates), not a cohort")
        return self

    # ------------------------------------------------------------------ API
    @cached_property
    def base_parameters(self) -> ParameterSet:
        """The parameter set with the scenario-level overrides applied."""
        return load_parameter_set(self.parameter_set).with_overrides(self.parameters, source="override: scenario", field="parameters")

    @cached_property
    def arm_parameter_sets(self) -> tuple[ParameterSet, ...]:
        """Each arm's parameters (in arm order): base set, then knobs, then the arm's overrides; resolved once."""
        out = []
        for i, arm in enumerate(self.arms):
            ps = self.base_parameters.with_overrides(
                {k: {"value": v, "unit": CATALOGUE[k]["unit"], "source": "override: arm knob"} for k, v in arm.knobs.items()},
                field=f"arms[{i}].knobs",
            )
            out.append(ps.with_overrides(arm.parameters, source="override: arm", field=f"arms[{i}].parameters"))
        return tuple(out)

    @cached_property
    def rules(self):
        """The hypothesis rules of ``spatial.rules`` (a :class:`tmesim.rules.RuleSet`), read once; ``None``
        for a scenario without a rules file. A bad file raises :class:`InputError` naming its row."""
        if self.spatial is None or self.spatial.rules is None:
            return None
        from .rules.reader import read_rules

        return read_rules(self.spatial.rules)

    def arm_parameters(self, arm: Arm) -> ParameterSet:
        """Parameters of one arm: base set, then knobs, then the arm's overrides."""
        return self.arm_parameter_sets[self.arms.index(arm)]

    def with_overrides(self, parameters: dict[str, Any] | None = None, days: float | None = None, seed: int | None = None,
                       **fields: Any) -> "Scenario":
        """A new, validated scenario with parameter values and fields replaced.

        ``parameters`` maps names to a number (in the unit the parameter set
        states), ``"value unit"`` or ``{value, unit}``.
        """
        data = self.model_dump()
        if parameters:
            set_name = fields.get("parameter_set", self.parameter_set)
            data["parameters"] = {**data["parameters"], **with_units(parameters, set_name)}
        if days is not None:
            data["days"] = days
        if seed is not None:
            data["seed"] = seed
        data.update(fields)
        scn = build_scenario(data, where="overrides")
        validate_arms(scn)
        scn.rules  # noqa: B018 -- a bad rules file fails here, not inside a run
        return scn

    def to_yaml(self) -> str:
        """The scenario as YAML (what ``scenario.yaml`` in a run holds)."""
        data = self.model_dump(mode="json", exclude_defaults=False)
        if data.get("spatial") is None:  # a well-mixed scenario has no spatial section
            data.pop("spatial", None)
        return yaml.safe_dump(data, sort_keys=False)


def _format_loc(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def build_scenario(data: Any, where: str = "scenario", lines: dict | None = None) -> Scenario:
    """Validate a mapping into a :class:`Scenario` (InputError on failure, naming the field, and its
    line in the file when ``lines`` (``{path: line}``, from :func:`tmesim.yamlio.load_text`) is given)."""
    if not isinstance(data, dict):
        raise InputError(where, "a scenario must be a YAML mapping")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _format_loc(err["loc"]) or where
        msg = err["msg"].removeprefix("Value error, ")
        fix = None
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            msg = f"unknown key {key!r}"
            model = _model_at(err["loc"][:-1])
            if model is not None:
                close = difflib.get_close_matches(key, list(model.model_fields), n=1)
                fix = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(model.model_fields)}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        else:
            msg = msg[:1].lower() + msg[1:]
            given = err.get("input")
            if isinstance(given, (bool, int, float, str)) and not isinstance(given, dict) and len(repr(given)) < 40:
                msg += f", got {given!r}"
        line = line_of(lines or {}, err["loc"])
        if line is not None:
            msg += f" (line {line} of {where})"
        raise InputError(field, msg, fix) from None


def _model_at(loc) -> type[BaseModel] | None:
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", (ann,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def _scenario_dir():
    return resources.files("tmesim").joinpath("scenarios")


def list_scenarios() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped scenario."""
    return shipped(_scenario_dir())


def load_scenario(name_or_path: str | Path = DEFAULT_SCENARIO) -> Scenario:
    """Load a shipped scenario by name, or a scenario YAML file by path.

    The YAML is read strictly (:mod:`tmesim.yamlio`): a repeated key, a binary or non-UTF-8 file
    and a document nested too deeply are errors naming the line.
    """
    text, where, p = shipped_or_file(name_or_path, _scenario_dir(), "scenario")
    data, lines = load_text(text, where)
    scn = build_scenario(data, where, lines)
    if scn.spatial is not None:  # its files are relative to the scenario's folder
        from .spatial.config import resolve_files

        scn = scn.model_copy(update={"spatial": resolve_files(scn.spatial, p.absolute().parent)})
    validate_arms(scn)
    scn.rules  # noqa: B018 -- read the rules file now: a bad row fails at load time
    return scn


def validate_arms(scn: Scenario) -> None:
    """Resolve every arm's parameters and dose units now, so a typo fails at
    load time (InputError naming the field) rather than inside a run."""
    from .units import conversion_factor

    scn.arm_parameter_sets
    for i, arm in enumerate(scn.arms):
        for k, dose in enumerate(arm.doses):
            mg_per_kg = dose.dose * conversion_factor(dose.unit, "mg/kg", f"arms[{i}].doses[{k}].unit")
            # the bound is in mg/kg, so it is checked after the conversion (1 g/kg is 1000 mg/kg)
            if mg_per_kg > MAX_DOSE_MG_PER_KG:
                raise InputError(f"arms[{i}].doses[{k}].dose",
                                 f"{dose.dose:g} {dose.unit} is {mg_per_kg:g} mg/kg, above {MAX_DOSE_MG_PER_KG:g} mg/kg",
                                 "the OECD limit dose of toxicity testing; check the dose and its unit")
        if any(prod.manufacturing == "bortezomib" for prod in arm.products):
            from .params.resolve import resolve_group
            from .protocols import products

            row = resolve_group(scn.arm_parameter_sets[i].vector()[None, :], products.PARAMS)[0]
            products.culture_duration(row, True, f"arms[{i}].parameters")  # the culture must reach the dose


def with_units(parameters: dict[str, Any], set_name: str) -> dict[str, Any]:
    """``parameters`` with every bare number (a number, or text without a unit) given the unit the
    parameter set states for it: it is read in that unit anyway, and a saved scenario then says so
    (``0.3`` -> ``"0.3 1/day"``). Other values (with a unit, mappings, unknown names) pass unchanged
    and are checked where they are applied."""
    out = dict(parameters)
    base = None
    for name, value in parameters.items():
        bare = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(value, str) and len(value.split()) == 1:
            bare = True
        if not bare or name not in CATALOGUE:
            continue
        if base is None:
            try:
                base = load_parameter_set(set_name)
            except InputError:
                return out  # reported when the scenario is built
        unit = base.by_name[name].given_unit
        text = value.strip() if isinstance(value, str) else repr(value)
        out[name] = text if str(unit).strip() in ("", "1") else f"{text} {unit}"
    return out


def late_doses(scn: Scenario) -> list[str]:
    """One line per dose schedule or infusion of ``scn`` that falls (partly) after the end of the run.

    They are not errors: shortening a run with ``--days`` to look at its start is common (the
    flagship's doses begin on day 6); the engine gives what falls within the run and records only
    those events. :class:`Simulation` warns (:class:`ScenarioWarning`) with these lines.
    """
    out = []
    end = scn.days
    for i, arm in enumerate(scn.arms):
        for k, dose in enumerate(arm.doses):
            late = [d for d in dose.days() if d > end + 1e-9]
            if late:
                which = "the dose" if dose.count == 1 else (
                    f"all {dose.count} doses" if len(late) == dose.count else f"{len(late)} of {dose.count} doses")
                out.append(f"arms[{i}].doses[{k}]: {which} of {dose.drug} after day {end:g}, the end of the run, "
                           "will not be given")
        for k, prod in enumerate(arm.products):
            if prod.day > end + 1e-9:
                out.append(f"arms[{i}].products[{k}]: the infusion on day {prod.day:g} is after day {end:g}, "
                           "the end of the run, and will not be given")
    return out


def warn_late_doses(scn: Scenario, stacklevel: int = 3) -> None:
    """Warn (:class:`ScenarioWarning`) once per line of :func:`late_doses`."""
    for line in late_doses(scn):
        warnings.warn(line, ScenarioWarning, stacklevel=stacklevel)
