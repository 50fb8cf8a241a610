"""The regular voxel lattice that the spatial engine's fields live on.

Axes are in numpy array order: ``("y", "x")`` in 2D and ``("z", "y", "x")``
in 3D. Every position, extent and index in this module follows that order;
lengths are in micrometres (um).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}


@dataclass(frozen=True)
class Lattice:
    """A regular lattice of cubic voxels.

    Parameters
    ----------
    shape
        Voxel counts in array order, ``(ny, nx)`` or ``(nz, ny, nx)``; each
        >= 1. An axis of length 1 carries no diffusion (a ``(1, nx)``
        lattice is one-dimensional).
    dx
        Voxel edge, um (> 0, finite).
    origin
        Lower corner of the domain, um, in array order (default zeros).

    Notes
    -----
    Voxel ``i`` along an axis spans ``[origin + i*dx, origin + (i+1)*dx]``
    and its centre is at ``origin + (i + 0.5)*dx``. A 2D lattice is one
    voxel (``dx``) thick, so every voxel has volume ``dx**3`` in 2D and 3D.
    """

    shape: tuple[int, ...]
    dx: float
    origin: tuple[float, ...] = field(default=())

    def __post_init__(self):
        try:
            shape = tuple(int(n) for n in self.shape)
            ok = all(int(n) == n for n in self.shape)
        except (TypeError, ValueError):
            raise InputError("lattice.shape", f"must be 2 or 3 voxel counts, got {self.shape!r}",
                             "give (ny, nx) or (nz, ny, nx)") from None
        if len(shape) not in (2, 3) or not ok:
            raise InputError("lattice.shape", f"must be 2 or 3 whole voxel counts, got {self.shape!r}",
                             "give (ny, nx) or (nz, ny, nx)")
        if any(n < 1 for n in shape):
            raise InputError("lattice.shape", f"voxel counts must be >= 1, got {shape}",
                             "give a positive number of voxels on every axis")
        try:
            dx = float(self.dx)
        except (TypeError, ValueError):
            raise InputError("lattice.dx", f"must be a number, got {self.dx!r}", "give the voxel edge in um") from None
        if not math.isfinite(dx) or dx <= 0:
            raise InputError("lattice.dx", f"must be > 0 and finite, got {self.dx!r}", "give the voxel edge in um")
        origin = tuple(float(o) for o in self.origin) if len(self.origin) else (0.0,) * len(shape)
        if len(origin) != len(shape) or not all(math.isfinite(o) for o in origin):
            raise InputError("lattice.origin", f"must be {len(shape)} finite numbers (um), got {self.origin!r}",
                             "give the domain's lower corner in array order")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dx", dx)
        object.__setattr__(self, "origin", origin)

    @property
    def ndim(self) -> int:
        """Number of axes (2 or 3)."""
        return len(self.shape)

    @property
    def axes(self) -> tuple[str, ...]:
        """Axis names in array order: ``("y", "x")`` or ``("z", "y", "x")``."""
        return _AXES[self.ndim]

    @property
    def n_voxels(self) -> int:
        """Total number of voxels."""
        return math.prod(self.shape)

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel, um^3 (``dx**3``; a 2D lattice is one voxel thick)."""
        return self.dx ** 3

    @property
    def extent(self) -> tuple[float, ...]:
        """Domain size along each axis, um."""
        return tuple(n * self.dx for n in self.shape)

    def centers(self, axis: int | str) -> np.ndarray:
        """Voxel-centre coordinates along one axis, um.

        Parameters
        ----------
        axis
            Axis number (array order) or name (``"x"``, ``"y"``, ``"z"``).
        """
        a = self._axis(axis)
        return self.origin[a] + (np.arange(self.shape[a]) + 0.5) * self.dx

    def position(self, index) -> np.ndarray:
        """Centre of voxel(s), um, in array order.

        Parameters
        ----------
        index
            Integer index ``(ndim,)`` or ``(n, ndim)`` in array order.

        Returns
        -------
        numpy.ndarray
            Same shape as ``index``, float, um.
        """
        idx = np.asarray(index)
        return np.asarray(self.origin) + (idx + 0.5) * self.dx

    def voxel_of(self, position_um) -> np.ndarray:
        """Voxel index containing each position (clipped into the domain).

        Parameters
        ----------
        position_um
            ``(ndim,)`` or ``(n, ndim)`` positions in um, array order.

        Returns
        -------
        numpy.ndarray
            int64 indices of the same shape.
        """
        p = np.asarray(position_um, dtype=float)
        idx = np.floor((p - np.asarray(self.origin)) / self.dx).astype(np.int64)
        return np.clip(idx, 0, np.asarray(self.shape) - 1)

    def flat_index(self, index) -> np.ndarray:
        """Flat (C-order) voxel number of ``(n, ndim)`` array-order indices."""
        idx = np.asarray(index, dtype=np.int64)
        return np.ravel_multi_index(tuple(np.atleast_2d(idx).T), self.shape)

    def describe_position(self, index) -> str:
        """``"x=.. um, y=.. um[, z=.. um]"`` for one voxel index (for messages)."""
        pos = self.position(np.asarray(index))
        parts = {name: p for name, p in zip(self.axes, pos)}
        return ", ".join(f"{a}={parts[a]:g} um" for a in ("x", "y", "z") if a in parts)

    def _axis(self, axis: int | str) -> int:
        if isinstance(axis, str):
            if axis not in self.axes:
                raise InputError("axis", f"unknown axis {axis!r}", f"use one of {self.axes}")
            return self.axes.index(axis)
        return int(axis)
