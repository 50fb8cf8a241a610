"""What a spatial run leaves besides its time series: field and cell snapshots, pictures, an animation,
and checkpoints to resume from.

A :class:`Recorder` writes into a run folder:

* ``fields/<arm>_r<replicate>_day<day>.nc`` -- every field at a snapshot time (netCDF, coordinates ``x``,
  ``y`` (and ``z``) of the site centres in um, each field with its unit);
* ``cells/<arm>_r<replicate>_day<day>.parquet`` -- every cell at a snapshot time: its
  position (um), type, state, death mode, CAR antigen, sub-lethal hits and the intracellular state of its
  cell program (``tumor_*`` columns for tumour cells, ``axis_*`` for T cells);
* ``figures/tissue_<arm>_r<replicate>_day<day>.png`` -- the tissue (cell types and states) beside the
  IFN-gamma and oxygen fields and the tumour cells' lipid peroxide; a 3D run shows the middle z slice;
* ``figures/tissue_<arm>_r<replicate>.gif`` -- the snapshot pictures as an animation (Pillow, which
  matplotlib already needs);
* ``checkpoint.npz`` -- everything needed to continue the run (``tmesim run --resume``), written
  atomically at each checkpoint time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..biology.programs.t_cell import AXIS, STATES
from ..biology.programs.tumor import STATE as TUMOR_STATE
from . import cells as C

CHECKPOINT_FILE = "checkpoint.npz"
#: Colours of the tissue picture: background, tumour (live, antigen-negative), corpses, T cell states, others.
_COLOURS = {
    "empty": (1.0, 1.0, 1.0), "tumor": (0.55, 0.55, 0.62), "tumor_antigen_negative": (0.35, 0.35, 0.45),
    "corpse_apoptotic": (0.85, 0.75, 0.55), "corpse_ferroptotic": (0.9, 0.45, 0.2), "corpse_necrotic": (0.35, 0.25, 0.2),
    "t_effector": (0.1, 0.45, 0.9), "t_stem_memory": (0.4, 0.8, 1.0), "t_progenitor": (0.55, 0.35, 0.85),
    "t_terminal": (0.85, 0.1, 0.45), "t_other": (0.6, 0.6, 0.9), "treg": (0.9, 0.8, 0.1), "nk": (0.1, 0.7, 0.3),
    "m1": (0.95, 0.35, 0.35), "m2": (0.5, 0.2, 0.1), "vessel": (0.8, 0.0, 0.0),
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "arm"


class Recorder:
    """Writes a spatial run's snapshots, pictures, animation and checkpoints into ``folder``."""

    def __init__(self, folder: Path, pictures: bool = True):
        self.folder = Path(folder)
        self.pictures = pictures

    # ------------------------------------------------------------ snapshots
    def snapshot(self, run, arm: str, replicate: int, day: float) -> None:
        """Write the fields, the cells and a picture of ``run`` at ``day``."""
        stem = f"{_slug(arm)}_r{replicate}"
        self._fields(run, stem, day)
        self._cells(run, stem, day)
        if self.pictures:
            self.picture(run, arm, replicate, day, self.folder / "figures" / f"tissue_{stem}_day{day:g}.png")

    def _fields(self, run, stem: str, day: float) -> None:
        import xarray as xr

        lat = run.lattice
        axes = lat.axes
        coords = {ax: (ax, lat.centers(i), {"units": "um"}) for i, ax in enumerate(axes)}
        values = run.fields.values
        data = {spec.name: (axes, values[f], {"units": spec.unit}) for f, spec in enumerate(run.fields.specs)}
        data["vessel"] = (axes, run.vessels.reshape(lat.shape).astype(np.int8), {"long_name": "vessel site"})
        ds = xr.Dataset(data, coords=coords, attrs={"time_day": float(day), "title": "tmesim spatial fields"})
        path = self.folder / "fields" / f"{stem}_day{day:g}.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(path, engine="netcdf4")

    def cell_table(self, run, day: float):
        """The cells of ``run`` as a pyarrow table (see the module docstring)."""
        import pyarrow as pa

        c = run.cells
        live = np.flatnonzero(c.kind[:c.n] != C.FREE)
        pos = run.lattice.position(np.stack(np.unravel_index(c.site[live], run.lattice.shape), axis=1))
        cols = {"time_day": np.full(live.size, float(day)), "uid": c.uid[live]}
        for i, ax in enumerate(run.lattice.axes):
            cols[f"{ax}_um"] = pos[:, i]
        kinds = c.kind[live]
        cols["type"] = pa.DictionaryArray.from_arrays(kinds.astype(np.int32), pa.array(C.KIND_NAMES))
        state = np.array(["" for _ in range(live.size)], dtype=object)
        t = (kinds != C.TUMOR) & (kinds != C.MACROPHAGE) & (kinds != C.NK) & (kinds != C.TREG)
        state[t] = [STATES[s] for s in c.state[live][t]]
        mac = kinds == C.MACROPHAGE
        state[mac] = np.where(c.state[live][mac] == C.M1, "m1", "m2")
        cols["state"] = pa.array(state.tolist(), type=pa.string())
        cols["dead"] = pa.array(np.array(["alive", "apoptotic", "ferroptotic", "necrotic"])[c.dead[live]].tolist())
        cols["car_antigen"] = c.antigen[live].astype(bool)
        cols["hits"] = c.hits[live]
        cols["hits_delivered"] = c.delivered[live]
        tumor = kinds == C.TUMOR
        tcell = t | (kinds == C.TREG)
        for j, v in enumerate(TUMOR_STATE):
            cols[f"tumor_{v.name}"] = np.where(tumor, c.x[live, j], np.nan)
        for j, v in enumerate(AXIS):
            cols[f"axis_{v.name}"] = np.where(tcell, c.x[live, j], np.nan)
        return pa.table(cols)

    def _cells(self, run, stem: str, day: float) -> None:
        import pyarrow.parquet as pq

        path = self.folder / "cells" / f"{stem}_day{day:g}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.cell_table(run, day), path, compression="zstd")

    # ------------------------------------------------------------- pictures
    def picture(self, run, arm: str, replicate: int, day: float, path: Path) -> None:
        """Save the tissue picture of ``run`` (cells, IFN-gamma, oxygen, tumour lipid peroxide) to ``path``."""
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch

        lat = run.lattice
        shape3 = run.shape3
        z = shape3[0] // 2
        rgb = self._tissue_rgb(run)[z]
        values = run.fields.values.reshape((len(run.fields.specs),) + tuple(shape3))
        names = [s.name for s in run.fields.specs]
        lpo = np.full(shape3, np.nan)
        c = run.cells
        tumor = np.flatnonzero((c.kind[:c.n] == C.TUMOR) & (c.dead[:c.n] == C.ALIVE))
        lpo.reshape(-1)[c.site[tumor]] = c.x[tumor, list(TUMOR_STATE.names).index("lipid_peroxide")]
        extent = [0, shape3[2] * lat.dx, 0, shape3[1] * lat.dx]
        fig = Figure(figsize=(14, 3.9), layout="constrained")
        axes = fig.subplots(1, 4)
        axes[0].imshow(rgb, origin="lower", extent=extent, interpolation="nearest")
        axes[0].set_title(f"cells, day {day:g}")
        for ax, (data, title, unit, cmap) in zip(axes[1:], (
                (values[names.index("ifng")][z], "IFN-gamma", "pM", "viridis"),
                (values[names.index("oxygen")][z], "oxygen", "mmHg", "Blues_r"),
                (lpo[z], "tumour lipid peroxide", "1 = death threshold", "inferno"))):
            im = ax.imshow(data, origin="lower", extent=extent, interpolation="nearest", cmap=cmap)
            ax.set_title(title)
            fig.colorbar(im, ax=ax, shrink=0.8, label=unit)
        for ax in axes:
            ax.set_xlabel("x (um)")
        axes[0].set_ylabel("y (um)")
        legend = [("tumor", "tumour"), ("tumor_antigen_negative", "tumour, CAR antigen-"),
                  ("corpse_ferroptotic", "ferroptotic corpse"), ("corpse_apoptotic", "apoptotic corpse"),
                  ("corpse_necrotic", "necrotic corpse"), ("t_effector", "T effector"),
                  ("t_progenitor", "T progenitor exh."), ("t_terminal", "T terminal exh."),
                  ("t_stem_memory", "T stem-like memory"), ("treg", "Treg"), ("nk", "NK"), ("m1", "M1-like"),
                  ("m2", "M2-like"), ("vessel", "vessel")]
        if not self._gives_car(run):
            legend = [entry for entry in legend if entry[0] != "tumor_antigen_negative"]
        fig.legend(handles=[Patch(color=_COLOURS[k], label=v) for k, v in legend], loc="outside right center",
                   fontsize="x-small")
        fig.suptitle(f"{arm}, replicate {replicate}" + (f" (z slice {z} of {shape3[0]})" if shape3[0] > 1 else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)

    @staticmethod
    def _gives_car(run) -> bool:
        return any(getattr(e, "product", None) is not None for e in run.events)

    @staticmethod
    def _tissue_rgb(run) -> np.ndarray:
        c = run.cells
        img = np.ones(tuple(run.shape3) + (3,))
        flat = img.reshape(-1, 3)
        flat[run.vessels] = _COLOURS["vessel"]
        live = np.flatnonzero(c.kind[:c.n] != C.FREE)
        kinds, states, dead = c.kind[live], c.state[live], c.dead[live]
        colour = np.empty((live.size, 3))
        # the CAR antigen matters only where CAR T cells are given
        negative = (c.antigen[live] == 0) if Recorder._gives_car(run) else np.zeros(live.size, dtype=bool)
        for key, mask in (
                ("tumor", (kinds == C.TUMOR) & (dead == C.ALIVE) & ~negative),
                ("tumor_antigen_negative", (kinds == C.TUMOR) & (dead == C.ALIVE) & negative),
                ("corpse_apoptotic", dead == C.APOPTOTIC), ("corpse_ferroptotic", dead == C.FERROPTOTIC),
                ("corpse_necrotic", dead == C.NECROTIC), ("treg", kinds == C.TREG), ("nk", kinds == C.NK),
                ("m1", (kinds == C.MACROPHAGE) & (states == C.M1)), ("m2", (kinds == C.MACROPHAGE) & (states == C.M2))):
            colour[mask] = _COLOURS[key]
        t = np.isin(kinds, (C.CD8, C.CD4, C.CAR_CD8, C.CAR_CD4))
        for key, st in (("t_effector", C.EFFECTOR), ("t_stem_memory", C.STEM_MEMORY), ("t_progenitor", C.PROGENITOR),
                        ("t_terminal", C.TERMINAL)):
            colour[t & (states == st)] = _COLOURS[key]
        colour[t & np.isin(states, (C.ANERGIC, C.SENESCENT))] = _COLOURS["t_other"]
        flat[c.site[live]] = colour
        return img

    # ---------------------------------------------------------- checkpoints
    def checkpoint(self, state: dict[str, np.ndarray]) -> Path:
        """Write ``state`` to ``checkpoint.npz`` atomically (making the folder if it does not exist)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / CHECKPOINT_FILE
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **state)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self) -> dict[str, np.ndarray] | None:
        path = self.folder / CHECKPOINT_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def finish(self) -> list[Path]:
        """Write one animation per arm and replicate from its snapshot pictures and drop the checkpoint; returns
        the animations written."""
        written = []
        figures = self.folder / "figures"
        stems: dict[str, list[tuple[float, Path]]] = {}
        for path in figures.glob("tissue_*_day*.png") if figures.is_dir() else []:
            stem, day = path.stem[len("tissue_"):].rsplit("_day", 1)
            stems.setdefault(stem, []).append((float(day), path))
        for stem, frames in sorted(stems.items()):
            if len(frames) < 2:
                continue
            from PIL import Image

            images = [Image.open(p).convert("P", palette=Image.ADAPTIVE) for _, p in sorted(frames)]
            path = figures / f"tissue_{stem}.gif"
            images[0].save(path, save_all=True, append_images=images[1:], duration=600, loop=0)
            written.append(path)
        (self.folder / CHECKPOINT_FILE).unlink(missing_ok=True)
        return written
