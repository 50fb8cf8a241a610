"""The ``spatial:`` section of a scenario: lattice, time step, initial geometry, vessels, outputs.

Validated with pydantic like the rest of the scenario (:mod:`tmesim.scenario`);
lengths in micrometres, times in minutes or hours as named. User-facing
coordinates are ``x, y[, z]``; the engine stores arrays in ``(z,) y, x`` order.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Geometry(_Strict):
    """Where the tumour cells start.

    ``spheroid``: a disc (2D) or ball (3D) of radius ``radius_um`` at the domain's centre, full of tumour
    cells; ``slab``: a band of ``thickness_um`` across the domain, normal to x; ``file``: a CSV with columns
    ``x, y[, z], type`` (a path relative to the scenario file's folder; um; type one of tumor, cd8_t_cell, cd4_t_cell, car_cd8_t_cell, car_cd4_t_cell, treg,
    nk_cell, macrophage). Immune cells given by the parameter set's ``initial_*_per_tumor_cell`` are
    scattered over free sites within ``immune_margin_um`` of the tumour (unless a file places them).
    """

    kind: Literal["spheroid", "slab", "file"] = "spheroid"
    radius_um: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    thickness_um: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    file: str | None = None
    immune_margin_um: float = Field(default=60.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _needs(self):
        need = {"spheroid": "radius_um", "slab": "thickness_um", "file": "file"}[self.kind]
        if getattr(self, need) is None:
            raise ValueError(f"geometry {self.kind!r} needs {need}")
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
    domain_um: list[float] = Field(min_length=2, max_length=3)
    site_um: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    dt_minutes: float = Field(default=6.0, gt=0, le=60, allow_inf_nan=False)
    field_dt_minutes: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    oxygen_dt_minutes: float = Field(default=0.1, gt=0, allow_inf_nan=False)
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

    @model_validator(mode="after")
    def _domain(self):
        if len(self.domain_um) != self.dimensions:
            raise ValueError(f"domain_um has {len(self.domain_um)} lengths for {self.dimensions} dimensions")
        for axis, length in zip("xyz", self.domain_um):
            if not (math.isfinite(length) and length > 0):
                raise ValueError(f"domain_um {axis} must be a positive length, got {length}")
            n = length / self.site_um
            if abs(n - round(n)) > 1e-9 * max(n, 1.0) or round(n) < 1:
                raise ValueError(f"domain_um {axis} = {length:g} um is not a whole number of {self.site_um:g} um sites")
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        """Sites per axis in array order ``(z,) y, x``."""
        return tuple(int(round(v / self.site_um)) for v in reversed(self.domain_um))
