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

import copy
import difflib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError
from .params import ParameterSet, load_parameter_set
from .params.index import CATALOGUE
from .protocols import drugs
from .spatial.config import SpatialConfig

DEFAULT_SCENARIO = "b16_icb_ferroptosis"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dose(_Strict):
    """A drug schedule: ``count`` doses every ``every_days`` from ``start_day``."""

    drug: str
    dose: float = Field(gt=0, allow_inf_nan=False)
    unit: str = "mg/kg"
    start_day: float = Field(ge=0, allow_inf_nan=False)
    every_days: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    count: int = Field(default=1, ge=1)

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

    day: float = Field(ge=0, allow_inf_nan=False)
    cells: float = Field(gt=0, allow_inf_nan=False, description="CAR+ cells infused")
    cd4_fraction: float = Field(default=0.5, ge=0, le=1)
    manufacturing: Literal["standard", "bortezomib"] = "standard"
    ifng_knockout: bool = False
    proteasome_expression: float = Field(default=1.0, gt=0, allow_inf_nan=False,
                                         description="product's intrinsic proteasome expression (relative)")


class Arm(_Strict):
    """One treatment arm."""

    name: str = Field(min_length=1)
    doses: list[Dose] = []
    products: list[Product] = []
    knobs: dict[str, float] = {}
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

    size: int = Field(default=1, ge=1)
    variability: dict[str, float] = {}

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
    days: float = Field(gt=0, le=3650, allow_inf_nan=False)
    output_interval_hours: float = Field(default=6.0, gt=0, allow_inf_nan=False)
    seed: int = Field(default=0, ge=0)
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
            data["parameters"] = {**data["parameters"], **parameters}
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
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)


def _format_loc(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def build_scenario(data: Any, where: str = "scenario") -> Scenario:
    """Validate a mapping into a :class:`Scenario` (InputError on failure)."""
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
    out = []
    for entry in sorted(_scenario_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            doc = yaml.safe_load(entry.read_text())
            out.append((entry.name[:-5], " ".join(str(doc.get("description", "")).split())))
    return out


def load_scenario(name_or_path: str | Path = DEFAULT_SCENARIO) -> Scenario:
    """Load a shipped scenario by name, or a scenario YAML file by path."""
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise InputError("scenario", f"file not found: {p}")
        text, where, folder = p.read_text(), str(p), p.resolve().parent
    else:
        entry = _scenario_dir().joinpath(f"{name_or_path}.yaml")
        if not entry.is_file():
            known = [n for n, _ in list_scenarios()]
            close = difflib.get_close_matches(str(name_or_path), known, n=1)
            raise InputError("scenario", f"unknown scenario {str(name_or_path)!r}",
                             f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}")
        text, where, folder = entry.read_text(), str(name_or_path), Path(str(_scenario_dir()))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(where, "malformed YAML" + (f" at line {mark.line + 1}" if mark else "")) from None
    scn = build_scenario(_files_relative_to(data, folder), where)
    validate_arms(scn)
    scn.rules  # noqa: B018 -- read the rules file now: a bad row fails at load time
    return scn


#: The files a spatial section names, as key paths into the scenario mapping.
SPATIAL_FILES = (("spatial", "rules"), ("spatial", "geometry", "file"), ("spatial", "vessels", "file"))


def _files_relative_to(data, folder: Path):
    """``data`` with the relative paths of :data:`SPATIAL_FILES` made absolute from ``folder`` (the scenario
    file's folder), so a scenario finds its rules, geometry and vessel files wherever it is run from, and the
    copy saved with a run's outputs still points at them."""
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    for path in SPATIAL_FILES:
        node = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        value = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute():
            node[path[-1]] = str(folder / value)
    return data


def validate_arms(scn: Scenario) -> None:
    """Resolve every arm's parameters and dose units now, so a typo fails at
    load time (InputError naming the field) rather than inside a run."""
    from .units import conversion_factor

    scn.arm_parameter_sets
    for i, arm in enumerate(scn.arms):
        for k, dose in enumerate(arm.doses):
            conversion_factor(dose.unit, "mg/kg", f"arms[{i}].doses[{k}].unit")
