"""The results contract: one xarray Dataset per run, whatever the engine, and the readers of it.

Every engine returns a Dataset assembled by :func:`assemble`, so analysis
and ``tmesim reproduce`` read one layout (written out in
docs/architecture.md, "Results contract"):

* dimensions ``arm`` (scenario order), ``patient`` (0..n-1), ``time``
  (days), ``t_pool`` (T cell pools), ``parameter`` and ``event``;
* state and derived variables on ``(arm, patient, time)`` with ``units``,
  ``long_name``, ``group`` and ``role`` (``state``: integrated, never
  negative; ``derived``: computed from the state) attributes;
* ``t_cells`` on ``(arm, patient, time, t_pool)``, with the coordinates
  ``lineage`` (``cd8``, ``cd4``, ``car_cd8``, ``car_cd4``) and ``state``
  (:data:`~tmesim.biology.programs.t_cell.STATES`) on ``t_pool``: select
  pools by coordinate, never by parsing names;
* ``parameter_values`` on ``(arm, patient, parameter)``: each row's
  parameter values in internal units (coordinate ``parameter_unit``);
* the protocol as events on ``(arm, event)``: ``event_time`` (days),
  ``event_kind``, ``event_target``, ``event_amount``, ``event_unit``,
  ``event_detail`` (see :mod:`tmesim.protocols.events`);
* ``solver_status`` on ``(arm, patient)`` (a :class:`~tmesim.status.SolverStatus`
  value, with CF ``flag_values``/``flag_meanings``), ``solver_message`` and
  ``solver_steps``.

The readers below answer the questions every consumer asks: which rows
failed, what a pool holds, when an arm was treated, what a parameter was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from . import __version__
from .errors import SimulationError
from .status import SolverStatus

#: T cell lineages, in display order (``treg`` is a population of its own, not a lineage here).
T_CELL_LINEAGES = ("cd8", "cd4", "car_cd8", "car_cd4")
#: Variables that are cumulative counts of tumour deaths by mode.
DEATHS_PREFIX = "deaths_"
#: Groups of the tumour cells' mean intracellular state (SLC7A11, GSH, STAT1, ...).
TUMOR_STATE_GROUPS = ("tumor_signalling", "tumor_ferroptosis")
#: Prefix of the CAR T pool's mean exhaustion-axis variables (``car_t_bach2``, ...).
CAR_AXIS_PREFIX = "car_t_"
TERMINAL_STATE = "terminal_exhausted"


# ---------------------------------------------------------------- assembly
def assemble(scenario, *, engine: str, days: np.ndarray, arms: Sequence[str],
             variables: Mapping[str, tuple[np.ndarray, Mapping[str, str]]],
             t_cells: np.ndarray, t_pools: Sequence[tuple[str, str, str]],
             status: np.ndarray, messages: np.ndarray, steps: np.ndarray,
             parameter_values: np.ndarray, parameter_names: Sequence[str], parameter_units: Sequence[str],
             events: Sequence[Sequence], extra_attrs: Mapping[str, object] | None = None) -> xr.Dataset:
    """Build the Dataset of a run (see the module docstring for the layout).

    Parameters
    ----------
    scenario : the resolved scenario (its YAML and parameter provenance go into the attributes).
    engine : the engine's name (``"wellmixed"``, ``"spatial"``).
    days : output times (days).
    arms : arm names, scenario order.
    variables : name -> (array on (arm, patient, time), attributes with ``units``, ``long_name``, ``group``
        and ``role``).
    t_cells : T cell counts on (arm, patient, time, pool), cells.
    t_pools : ``(name, lineage, state, description)`` of each pool, in ``t_cells`` order.
    status, messages, steps : per (arm, patient): :class:`SolverStatus` values, messages, solver steps.
    parameter_values : (arm, patient, parameter), internal units, columns ``parameter_names``.
    events : per arm, its :class:`~tmesim.protocols.events.Event` list.
    extra_attrs : further global attributes (JSON-able).
    """
    dims = ("arm", "patient", "time")
    data = {name: (dims, array, dict(attrs)) for name, array, attrs in
            ((n, a, at) for n, (a, at) in variables.items())}
    data["t_cells"] = (dims + ("t_pool",), t_cells,
                       {"units": "cell", "long_name": "T cells by lineage and state", "group": "t_cells", "role": "state"})
    flags = list(SolverStatus)
    data["solver_status"] = (("arm", "patient"), status.astype(np.int8), {
        "long_name": "integrator status", "flag_values": np.array([int(f) for f in flags], dtype=np.int8),
        "flag_meanings": " ".join(f.name.lower() for f in flags)})
    data["solver_message"] = (("arm", "patient"), messages.astype(str), {"long_name": "integrator message"})
    data["solver_steps"] = (("arm", "patient"), steps, {"long_name": "integrator steps", "units": "1"})
    data["parameter_values"] = (("arm", "patient", "parameter"), parameter_values,
                                {"long_name": "parameter value (internal unit, see parameter_unit)"})
    data.update(event_variables(events))
    ds = xr.Dataset(data, coords={
        "arm": ("arm", list(arms)),
        "patient": ("patient", np.arange(status.shape[1])),
        "time": ("time", days, {"units": "day", "long_name": "time since start"}),
        "t_pool": ("t_pool", [p[0] for p in t_pools]),
        "lineage": ("t_pool", [p[1] for p in t_pools], {"long_name": "T cell lineage"}),
        "state": ("t_pool", [p[2] for p in t_pools], {"long_name": "T cell differentiation state"}),
        "description": ("t_pool", [p[3] for p in t_pools], {"long_name": "T cell pool"}),
        "parameter": ("parameter", list(parameter_names)),
        "parameter_unit": ("parameter", list(parameter_units), {"long_name": "internal unit of the parameter"}),
    })
    base = scenario.base_parameters.to_dict()
    per_arm = {}
    for arm, ps in zip(scenario.arms, scenario.arm_parameter_sets):
        diff = {k: v for k, v in ps.to_dict().items() if v["value"] != base[k]["value"]}
        if diff:
            per_arm[arm.name] = diff
    ds.attrs.update(
        # CF global attributes (no time stamp in history: the same scenario and seed give the same Dataset)
        Conventions="CF-1.10",
        title=f"tmesim run of scenario {scenario.name}",
        source=f"tmesim {__version__} ({engine} engine)",
        history=f"simulated by tmesim {__version__}, {engine} engine, seed {int(scenario.seed)}",
        engine=engine,
        tmesim_version=__version__,
        scenario=scenario.to_yaml(),
        seed=int(scenario.seed),
        parameter_set=scenario.parameter_set,
        parameters=json.dumps(base),
        arm_parameters=json.dumps(per_arm),
        **(extra_attrs or {}),
    )
    return ds


def event_variables(events: Sequence[Sequence]) -> dict:
    """The ``event_*`` variables on ``(arm, event)`` of per-arm event lists (padded with NaN and ``""``),
    as ``{name: (dims, values, attrs)}``."""
    n = max([len(e) for e in events] + [0])
    shape = (len(events), n)
    time = np.full(shape, np.nan)
    amount = np.full(shape, np.nan)
    kind = np.full(shape, "", dtype=object)
    target = np.full(shape, "", dtype=object)
    unit = np.full(shape, "", dtype=object)
    detail = np.full(shape, "", dtype=object)
    for a, arm_events in enumerate(events):
        for j, e in enumerate(arm_events):
            time[a, j], amount[a, j] = e.day, e.amount
            kind[a, j], target[a, j], unit[a, j], detail[a, j] = e.kind, e.target, e.unit, e.detail
    dims = ("arm", "event")
    return {
        "event_time": (dims, time, {"units": "day", "long_name": "event time"}),
        "event_kind": (dims, kind.astype(str), {"long_name": "event kind (dose, infusion, knob, parameter; empty: none)"}),
        "event_target": (dims, target.astype(str), {"long_name": "drug, 'car_t' (infusion) or parameter"}),
        "event_amount": (dims, amount, {"long_name": "dose (mg/kg), cells infused, or parameter value (see event_unit)"}),
        "event_unit": (dims, unit.astype(str), {"long_name": "unit of event_amount"}),
        "event_detail": (dims, detail.astype(str), {"long_name": "product of an infusion"}),
    }


# ------------------------------------------------------------ failed rows
def failed(ds: xr.Dataset) -> xr.DataArray:
    """True on ``(arm, patient)`` where the integration did not finish (``solver_status`` not OK)."""
    return ds["solver_status"] != int(SolverStatus.OK)


def successful(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every failed ``(arm, patient)`` set to NaN, so medians and quantiles skip it
    (``ds`` itself, not a copy, when every integration succeeded)."""
    bad = failed(ds)
    return ds if not bool(bad.any()) else ds.where(~bad)


def failure_summary(ds: xr.Dataset) -> str | None:
    """``None`` if every row succeeded, else one line: how many failed and the first one's arm, patient and message."""
    bad = failed(ds)
    n = int(bad.sum())
    if n == 0:
        return None
    a, p = (int(i) for i in np.argwhere(bad.values)[0])
    msg = str(ds["solver_message"].values[a, p]) if "solver_message" in ds else "no message recorded"
    return f"integration failed in {n} of {bad.size} runs; first: arm {str(ds['arm'].values[a])!r}, patient {p}: {msg}"


#: Attribute of a variable that is a mean over a population's cells (the spatial engine's states and
#: diagnostics): NaN where the population has no cells, which is not a failure.
EMPTY_POPULATION_ATTR = "empty_population"
EMPTY_POPULATION_NOTE = "NaN where the population has no cells"


def raise_on_failure(ds: xr.Dataset) -> None:
    """Raise :class:`~tmesim.errors.SimulationError` naming the first failed row (arm, patient, variable,
    time), or the first state that is non-finite or negative (NaN is allowed in a mean over a population's
    cells that carries :data:`EMPTY_POPULATION_ATTR`)."""
    line = failure_summary(ds)
    if line is not None:
        raise SimulationError(line)
    for name, da in ds.data_vars.items():
        if da.attrs.get("role") != "state":
            continue
        bad = ~np.isfinite(da) | (da < 0)
        if EMPTY_POPULATION_ATTR in da.attrs:
            bad = bad & ~np.isnan(da)
        if bool(bad.any()):
            idx = np.argwhere(bad.values)[0]
            where = dict(zip(da.dims, idx))
            pool = f" ({str(ds['t_pool'].values[where['t_pool']])})" if "t_pool" in where else ""
            raise SimulationError(f"variable {name}{pool} is {float(da.values[tuple(idx)])} in arm "
                                  f"{str(ds.arm.values[where['arm']])!r}, patient {where['patient']}, "
                                  f"t = {float(ds.time.values[where['time']]):.3f} d")


# ------------------------------------------------------------------ pools
def variable(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A variable of ``ds`` by name: a data variable, or a T cell pool (``cd8_effector``) of ``t_cells``
    on ``(arm, patient, time)`` with the pool's ``lineage`` and ``state`` in its attributes.

    Raises KeyError if ``ds`` has neither.
    """
    if name in ds.data_vars:
        return ds[name]
    if "t_pool" in ds.coords and name in ds["t_pool"].values:
        pool = ds["t_cells"].sel(t_pool=name)
        da = pool.drop_vars([c for c in ("t_pool", "lineage", "state", "description") if c in pool.coords]).rename(name)
        da.attrs = {"units": "cell", "group": "car_t_cells" if str(pool.lineage.item()).startswith("car_") else "t_cells",
                    "long_name": str(pool.description.item()) if "description" in pool.coords else name,
                    "lineage": str(pool.lineage.item()), "state": str(pool.state.item())}
        return da
    raise KeyError(name)


def t_pools(ds: xr.Dataset, lineage: str | Sequence[str] | None = None,
            state: str | Sequence[str] | None = None) -> list[str]:
    """Names of the T cell pools of ``ds`` of the given lineage(s) and state(s) (all when None), in order."""
    if "t_pool" not in ds.coords:
        return []
    keep = np.ones(ds.sizes["t_pool"], dtype=bool)
    for coord, want in (("lineage", lineage), ("state", state)):
        if want is not None:
            keep &= np.isin(ds[coord].values, [want] if isinstance(want, str) else list(want))
    return [str(n) for n in ds["t_pool"].values[keep]]


def t_cell_count(ds: xr.Dataset, lineage: str | Sequence[str] | None = None,
                 state: str | Sequence[str] | None = None) -> xr.DataArray:
    """T cells (cells) on ``(arm, patient, time)`` summed over the pools of the given lineage(s) and
    state(s); 0 where ``ds`` has none."""
    names = t_pools(ds, lineage, state)
    template = xr.zeros_like(ds["time"], dtype=float)
    if not names:
        return template
    out = ds["t_cells"].sel(t_pool=names).sum("t_pool")
    out.attrs = {"units": "cell", "long_name": "T cells"}
    return out


def car_t_cells(ds: xr.Dataset) -> xr.DataArray:
    """CAR T cells (cells): every state of the ``car_cd8`` and ``car_cd4`` lineages, 0 when the run has none."""
    return t_cell_count(ds, lineage=("car_cd8", "car_cd4"))


def mask_empty_pool(ds: xr.Dataset, da: xr.DataArray, car_pool: xr.DataArray | None = None) -> xr.DataArray:
    """``da`` with NaN wherever it is the mean state of a pool that holds under one cell.

    The pools are the CAR T cells (variables ``car_t_*``) and the live tumour
    cells (groups in :data:`TUMOR_STATE_GROUPS`). The engine keeps the mean
    state of an empty pool defined (before infusion, in an arm without CAR T
    cells, after a tumour is cleared), and drugs still act on it; it is not
    data. Other variables are returned unchanged. ``car_pool`` is
    :func:`car_t_cells` of ``ds`` when the caller already has it.
    """
    if str(da.name).startswith(CAR_AXIS_PREFIX):
        pool = car_t_cells(ds) if car_pool is None else car_pool
    elif da.attrs.get("group") in TUMOR_STATE_GROUPS and "tumor_live" in ds:
        pool = ds["tumor_live"]
    else:
        return da
    return da.where(pool >= 1.0)


def death_variables(ds: xr.Dataset) -> list[str]:
    """Names of the cumulative death-count variables (``deaths_*``), in Dataset order."""
    return [str(name) for name in ds.data_vars if str(name).startswith(DEATHS_PREFIX)]


# ----------------------------------------------------------------- events
def events(ds: xr.Dataset, arm: str) -> list[dict]:
    """The protocol events of ``arm``: dicts with ``time`` (days), ``kind``, ``target``, ``amount``, ``unit``,
    ``detail``, in time order."""
    if "event_kind" not in ds:
        return []
    e = ds[["event_time", "event_kind", "event_target", "event_amount", "event_unit", "event_detail"]].sel(arm=arm)
    kinds = e["event_kind"].values
    return [{"time": float(e["event_time"].values[j]), "kind": str(kinds[j]), "target": str(e["event_target"].values[j]),
             "amount": float(e["event_amount"].values[j]), "unit": str(e["event_unit"].values[j]),
             "detail": str(e["event_detail"].values[j])} for j in range(kinds.size) if kinds[j]]


def treatment_days(ds: xr.Dataset, arm: str, kinds: Sequence[str] = ("dose", "infusion")) -> list[float]:
    """Days of the events of ``arm`` of the given kinds (doses and infusions by default)."""
    return [e["time"] for e in events(ds, arm) if e["kind"] in kinds]


def first_treatment_day(ds: xr.Dataset) -> float | None:
    """Earliest dose or infusion day over all arms, or None if no arm is treated."""
    days = [d for arm in ds["arm"].values for d in treatment_days(ds, str(arm))]
    return min(days) if days else None


def untreated_arms(ds: xr.Dataset) -> list[str]:
    """Arms with no dose, no infusion and no parameter change (knobs allowed: they define tumour lines
    and hosts, not treatments)."""
    return [str(arm) for arm in ds["arm"].values
            if not treatment_days(ds, str(arm), ("dose", "infusion", "parameter"))]


# ------------------------------------------------------------- parameters
def parameter(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A parameter's value per ``(arm, patient)`` in its internal unit (attribute ``units``)."""
    da = ds["parameter_values"].sel(parameter=name).drop_vars(["parameter", "parameter_unit"])
    da.attrs = {"units": str(ds["parameter_unit"].sel(parameter=name).item()), "long_name": name}
    return da.rename(name)
