"""The ``spatial:`` section of a scenario: lattice, time step, initial geometry, vessels, outputs.

Validated with pydantic like the rest of the scenario (:mod:`tmesim.scenario`);
lengths in micrometres, times in minutes or hours as named. User-facing
coordinates are ``x, y[, z]``; the engine stores arrays in ``(z,) y, x`` order.
"""

from __future__ import annotations

import csv
import difflib
import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import InputError
from ..rules.vocabulary import CELL_TYPE_NAMES as CELL_TYPES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImmuneShell(_Strict):
    """Immune cells placed in a shell around a spheroid, as PhysiCell's cancer-immune sample seeds its T cells.

    ``count`` cells of ``cell_type`` at distances from the centre drawn from a normal distribution of mean
    ``R + gap_um + thickness_um / 2`` and standard deviation ``0.33 * thickness_um / 2`` (R: the spheroid's
    ``radius_um``), in directions uniform on the sphere (on the circle in 2D); each takes the site its
    position falls in, and a draw that falls on an occupied site or outside the domain is drawn again
    (at most ``20 * count`` draws in all).
    """

    cell_type: Literal["cd8_t_cell", "cd4_t_cell", "treg", "nk_cell", "macrophage"] = "cd8_t_cell"
    count: int = Field(ge=0, le=100_000_000)
    gap_um: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    thickness_um: float = Field(default=75.0, ge=0, allow_inf_nan=False)


class Geometry(_Strict):
    """Where the tumour cells start.

    ``spheroid``: a disc (2D) or ball (3D) of radius ``radius_um`` at the domain's centre, full of tumour
    cells; ``slab``: a band of ``thickness_um`` across the domain, normal to x; ``scattered``: tumour cells
    on a share ``density`` of the sites, chosen at random (from the run's seed) over the whole domain, the
    well-mixed start of docs/spatial.md ("The well-mixed limit"); ``file``: a CSV with columns
    ``x, y[, z], type`` (a path relative to the scenario file's folder; um; type one of tumor, cd8_t_cell,
    cd4_t_cell, car_cd8_t_cell, car_cd4_t_cell, treg,
    nk_cell, macrophage). Immune cells given by the parameter set's ``initial_*_per_tumor_cell`` are
    scattered over free sites within ``immune_margin_um`` of the tumour (over the whole domain for ``slab``
    and ``scattered``) unless a file places them.
    ``immune_shell`` (spheroid only) adds immune cells in a shell around the tumour (:class:`ImmuneShell`).
    """

    kind: Literal["spheroid", "slab", "scattered", "file"] = "spheroid"
    radius_um: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    thickness_um: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    density: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    file: str | None = None
    immune_margin_um: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    immune_shell: ImmuneShell | None = None

    @model_validator(mode="after")
    def _needs(self):
        need = {"spheroid": "radius_um", "slab": "thickness_um", "scattered": "density", "file": "file"}[self.kind]
        if getattr(self, need) is None:
            raise ValueError(f"geometry {self.kind!r} needs {need}")
        if self.immune_shell is not None and self.kind != "spheroid":
            raise ValueError(f"immune_shell needs geometry 'spheroid', not {self.kind!r}")
        return self


class Vessels(_Strict):
    """Blood vessels: sites that exchange oxygen, nutrients and drugs with plasma and where immune cells enter.

    ``density`` is the share of sites that are vessels, placed at random (from the run's seed) ``outside``
    the initial tumour, ``everywhere``, or read from a CSV ``file`` of ``x, y[, z]`` positions (um; a path
    relative to the scenario file's folder).
    """

    density: float = Field(default=0.02, ge=0, le=1, allow_inf_nan=False)
    placement: Literal["everywhere", "outside", "file"] = "everywhere"
    file: str | None = None

    @model_validator(mode="after")
    def _file(self):
        if self.placement == "file" and not self.file:
            raise ValueError("placement 'file' needs file")
        return self


class SpatialConfig(_Strict):
    """The lattice and the schedule of a spatial run.

    Parameters
    ----------
    dimensions : 2 or 3.
    domain_um : edge lengths ``[x, y]`` or ``[x, y, z]`` (um); each a whole number of sites.
    site_um : edge of one lattice site (um): one cell per site, one field voxel per site.
    dt_minutes : the cell time step (min); every process is a hazard over it.
    field_dt_minutes : the fields' step (min): each cell step advances the fields in sub-steps no longer
        than this, with the cells' sources held (docs/spatial-fields.md gives the error of each step).
    oxygen_dt_minutes : oxygen's own step (min, <= field_dt_minutes). Oxygen is the stiff field: every
        cell takes it up at ~10/min against fast diffusion, and at a 1-min step the splitting error at a
        tumour's rim reaches ~10 mmHg; at 0.1 min it is ~2 mmHg (docs/spatial-fields.md).
    field_rtol : None (default): the fields take the fixed steps above. A number in (0, 1): error control
        instead (``field_dt_minutes`` and ``oxygen_dt_minutes`` are then ignored): each cell step, every
        field takes the sub-steps its step-doubling estimate needs to be within this relative L2 error of
        the exact time integration, and the Richardson-extrapolated value (docs/spatial-fields.md,
        "Error-controlled sub-stepping"). 0.01 asks for 1%.
    field_scheme : ``"lod"`` (default): the split (locally one-dimensional) sweeps. ``"implicit"``: each
        field sub-step solves the unsplit backward-Euler system by GMRES preconditioned with one LOD step, which
        removes the splitting error that dominates next to secreting cells (IFN-gamma, IL-2); first order in
        time, it costs several LOD steps per sub-step (docs/spatial-fields.md, "The unsplit implicit scheme").
        The steps above (or ``field_rtol``) still set its sub-steps.
    field_atol : the error control's absolute floor (each field in its own unit, root-mean-square over the
        voxels; default 1e-6): a field whose values are all below about this is accepted at once.
    geometry, vessels : initial tumour and vessels.
    replicates : independent runs of each arm (seeds spawned from the scenario's); they take the
        ``patient`` dimension of the results.
    snapshot_interval_hours : field and cell snapshots every this many hours (0: none).
    checkpoint_interval_hours : a checkpoint every this many hours, for ``tmesim run --resume``.
    rules : a PhysiCell-format rules CSV acting on top of the cell programs (docs/rules.md, section 7). Like
        ``geometry.file`` and ``vessels.file``, a relative path is taken from the scenario file's folder when
        the scenario is loaded from a file (:func:`tmesim.scenario.load_scenario`); the file is read then.
    """

    dimensions: Literal[2, 3] = 2
    site_um: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    domain_um: list[float] = Field(min_length=2, max_length=3)
    dt_minutes: float = Field(default=6.0, gt=0, le=60, allow_inf_nan=False)
    field_dt_minutes: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    oxygen_dt_minutes: float = Field(default=0.1, gt=0, allow_inf_nan=False)
    field_rtol: float | None = Field(default=None, gt=0, lt=1, allow_inf_nan=False)
    field_atol: float = Field(default=1e-6, ge=0, allow_inf_nan=False)
    field_scheme: Literal["lod", "implicit"] = "lod"
    geometry: Geometry
    vessels: Vessels = Vessels()
    replicates: int = Field(default=1, ge=1, le=1000)
    snapshot_interval_hours: float = Field(default=24.0, ge=0, allow_inf_nan=False)
    checkpoint_interval_hours: float = Field(default=24.0, ge=0, allow_inf_nan=False)
    rules: str | None = None

    @model_validator(mode="after")
    def _field_step(self):
        if self.field_dt_minutes > self.dt_minutes:
            raise ValueError(f"field_dt_minutes ({self.field_dt_minutes:g}) is longer than dt_minutes "
                             f"({self.dt_minutes:g})")
        if self.oxygen_dt_minutes > self.field_dt_minutes:
            raise ValueError(f"oxygen_dt_minutes ({self.oxygen_dt_minutes:g}) is longer than field_dt_minutes "
                             f"({self.field_dt_minutes:g})")
        return self

    @field_validator("domain_um")
    @classmethod
    def _domain(cls, domain_um, info):
        dimensions, site_um = info.data.get("dimensions"), info.data.get("site_um")
        if dimensions is not None and len(domain_um) != dimensions:
            raise ValueError(f"has {len(domain_um)} lengths for {dimensions} dimensions")
        for axis, length in zip("xyz", domain_um):
            if not (math.isfinite(length) and length > 0):
                raise ValueError(f"{axis} must be a positive length, got {length}")
            if site_um is None:
                continue
            n = length / site_um
            if abs(n - round(n)) > 1e-9 * max(n, 1.0) or round(n) < 1:
                raise ValueError(f"{axis} = {length:g} um is not a whole number of {site_um:g} um sites")
        return domain_um

    @property
    def shape(self) -> tuple[int, ...]:
        """Sites per axis in array order ``(z,) y, x``."""
        return tuple(int(round(v / self.site_um)) for v in reversed(self.domain_um))


def read_positions(cfg: SpatialConfig, path: str | Path, field: str, with_type: bool = False):
    """Read a CSV of positions (columns ``x, y[, z]`` in um, and ``type`` if ``with_type``) into lattice sites.

    Returns
    -------
    (sites, types)
        Flat site indices (C order over ``(z,) y, x``) and, with ``with_type``, the index of each row's
        type in :data:`CELL_TYPES` (empty otherwise).

    Raises
    ------
    InputError
        Naming ``field`` (and the row) for a missing file, a missing column, a coordinate that is not a
        number or lies outside the domain, or an unknown cell type.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(field, f"file not found: {path}", "give the path of a CSV file (relative to the scenario)")
    ndim = cfg.dimensions
    shape3 = (1,) * (3 - ndim) + cfg.shape
    axes = ["x", "y", "z"][:ndim]
    sites, types = [], []
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = axes + (["type"] if with_type else [])
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(field, f"{path} has no column {missing[0]!r}", f"give columns {', '.join(need)}")
        for row_number, row in enumerate(reader, start=2):
            try:
                coords = [float(row[c]) for c in axes]
            except (TypeError, ValueError):
                raise InputError(f"{field} row {row_number}", "coordinates are not numbers",
                                 "give x, y[, z] in um") from None
            index = [int(math.floor(c / cfg.site_um)) if math.isfinite(c) else -1 for c in coords]
            dims = list(reversed(shape3[3 - ndim:]))
            if any(not (0 <= i < n) for i, n in zip(index, dims)):
                raise InputError(f"{field} row {row_number}", f"position {coords} um is outside the domain",
                                 f"keep x, y[, z] within [0, {cfg.domain_um}] um")
            x, y = index[0], index[1]
            z = index[2] if ndim == 3 else 0
            sites.append((z * shape3[1] + y) * shape3[2] + x)
            if with_type:
                t = (row["type"] or "").strip()
                if t not in CELL_TYPES:
                    close = difflib.get_close_matches(t, CELL_TYPES, n=1)
                    raise InputError(f"{field} row {row_number}", f"unknown cell type {t!r}",
                                     f"did you mean {close[0]!r}?" if close else f"one of {', '.join(CELL_TYPES)}")
                types.append(CELL_TYPES.index(t))
    return np.array(sites, dtype=np.int64), np.array(types, dtype=np.int64)


def resolve_files(cfg: SpatialConfig, base: Path) -> SpatialConfig:
    """``cfg`` with its file paths made absolute against ``base`` (the scenario file's folder), each file read
    and checked now, so a bad file fails when the scenario loads (InputError naming the field)."""
    def absolute(path):
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    geometry, vessels, rules = cfg.geometry, cfg.vessels, cfg.rules
    if geometry.file is not None:
        geometry = geometry.model_copy(update={"file": absolute(geometry.file)})
    if vessels.file is not None:
        vessels = vessels.model_copy(update={"file": absolute(vessels.file)})
    if rules is not None:
        rules = absolute(rules)
    out = cfg.model_copy(update={"geometry": geometry, "vessels": vessels, "rules": rules})
    if geometry.kind == "file":
        read_positions(out, geometry.file, "spatial.geometry.file", with_type=True)
    if vessels.placement == "file":
        read_positions(out, vessels.file, "spatial.vessels.file")
    if rules is not None and not Path(rules).is_file():
        raise InputError("spatial.rules", f"file not found: {rules}", "give the path of a rules CSV (relative to the scenario)")
    return out
