"""A trial's output folder: incremental partitions, resume, and the final files.

Layout::

    OUT/trial.json               what the folder holds: the cohort's fingerprint, patients, seed
    OUT/cohort.yaml              the cohort file as given
    OUT/partitions/part-*.parquet  one per finished batch: its patients' rows (every arm)
    OUT/timeseries/part-*.nc     the same batch's kept time series (netCDF4)
    OUT/patients.parquet         all rows, sorted by patient and arm (written at the end)
    OUT/arms.csv, OUT/figures/*.png, OUT/report.html   (written at the end)

Every file is written under a temporary name and renamed into place, so a file
with a final name is whole. A batch's time series is renamed first and its
partition last: a partition is the record that its patients are finished. A
trial killed at any point and rerun into the same folder reads the partitions,
skips their patients and runs the rest (their draws do not depend on the batch,
:mod:`.sampling`), after removing temporary files and time series without a
partition. ``patients.parquet``, ``arms.csv`` and ``report.html`` exist only once
every patient is finished.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

TRIAL_FILE = "trial.json"
COHORT_FILE = "cohort.yaml"
PARTITIONS = "partitions"
TIMESERIES = "timeseries"
PATIENTS_FILE = "patients.parquet"
ARMS_FILE = "arms.csv"
REPORT_FILE = "report.html"
FIGURES = "figures"
TMP_PREFIX = ".tmp-"
FINAL_FILES = (PATIENTS_FILE, ARMS_FILE, REPORT_FILE)


def write_atomic(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``."""
    path = Path(path)
    tmp = path.with_name(TMP_PREFIX + path.name)
    write(tmp)
    os.replace(tmp, path)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text))


class TrialStore:
    """The output folder of one trial (see the module docstring)."""

    def __init__(self, folder: Path, cohort):
        self.folder = Path(folder)
        self.cohort = cohort

    # ---------------------------------------------------------------- opening
    def open(self) -> "TrialStore":
        """Create the folder, or check that it holds this trial (same fingerprint) and clean up after a kill.

        Raises InputError when the folder holds something else: files but no ``trial.json``, or another
        trial (a different cohort, scenario, number of patients, seed or tmesim version).
        """
        f = self.folder
        meta = {"fingerprint": self.cohort.fingerprint(), "cohort": self.cohort.name,
                "patients": self.cohort.n_patients, "seed": self.cohort.seed, "arms": self.cohort.arms}
        if f.exists() and not f.is_dir():
            raise InputError("--out", f"{f} is a file", "give a folder")
        if f.is_dir() and any(f.iterdir()):
            trial = f / TRIAL_FILE
            if not trial.is_file():
                raise InputError("--out", f"{f} is not empty and holds no trial", "give a new or empty folder")
            try:
                old = json.loads(trial.read_text())
            except (OSError, json.JSONDecodeError):
                raise InputError("--out", f"{trial} is unreadable", "give a new folder") from None
            if old.get("fingerprint") != meta["fingerprint"]:
                changed = [k for k in ("cohort", "patients", "seed", "arms") if old.get(k) != meta[k]]
                what = ", ".join(f"{k} {old.get(k)!r} -> {meta[k]!r}" for k in changed) or \
                    "the cohort file, its scenario or the tmesim version changed"
                raise InputError("--out", f"{f} holds another trial ({what})",
                                 "rerun with the same cohort, --patients and --seed to resume, or give a new folder")
            self._clean()
        else:
            f.mkdir(parents=True, exist_ok=True)
            write_text_atomic(f / TRIAL_FILE, json.dumps(meta, indent=2) + "\n")
            if self.cohort.text:
                write_text_atomic(f / COHORT_FILE, self.cohort.text)
        (f / PARTITIONS).mkdir(exist_ok=True)
        (f / TIMESERIES).mkdir(exist_ok=True)
        (f / FIGURES).mkdir(exist_ok=True)
        return self

    def _clean(self) -> None:
        """Remove what a killed run leaves: temporary files, time series without a partition, and the final
        files of an earlier, unfinished assembly."""
        for tmp in self.folder.rglob(TMP_PREFIX + "*"):
            tmp.unlink()
        parts = {p.stem for p in (self.folder / PARTITIONS).glob("part-*.parquet")}
        for nc in (self.folder / TIMESERIES).glob("part-*.nc"):
            if nc.stem not in parts:
                nc.unlink()

    # ------------------------------------------------------------- partitions
    def partition_files(self) -> list[Path]:
        return sorted((self.folder / PARTITIONS).glob("part-*.parquet"))

    def finished_patients(self) -> np.ndarray:
        """Ids of the patients whose batch is recorded (sorted)."""
        ids = [pd.read_parquet(p, columns=["patient"])["patient"].to_numpy() for p in self.partition_files()]
        return np.unique(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64)

    @staticmethod
    def part_name(patients: np.ndarray) -> str:
        return f"part-{int(patients[0]):07d}-{len(patients):06d}"

    def write_batch(self, result) -> None:
        """Record a finished batch: its time series, then its partition (the commit)."""
        stem = self.part_name(result.patients)
        encoding = {name: {"zlib": True, "complevel": 1} for name in result.timeseries.data_vars}
        write_atomic(self.folder / TIMESERIES / f"{stem}.nc",
                     lambda tmp: result.timeseries.to_netcdf(tmp, engine="netcdf4", encoding=encoding))
        write_atomic(self.folder / PARTITIONS / f"{stem}.parquet",
                     lambda tmp: result.table.to_parquet(tmp, index=False, compression="zstd"))

    def read_patients(self) -> pd.DataFrame:
        """Every recorded row, sorted by patient, then arm in the cohort's order."""
        table = pd.concat([pd.read_parquet(p) for p in self.partition_files()], ignore_index=True)
        order = {arm: i for i, arm in enumerate(self.cohort.arms)}
        table = table.sort_values(["patient", "arm"], key=lambda c: c.map(order) if c.name == "arm" else c,
                                  kind="stable").reset_index(drop=True)
        return table

    def complete(self) -> bool:
        return all((self.folder / name).is_file() for name in FINAL_FILES)


def open_timeseries(folder: Path) -> xr.Dataset:
    """A finished trial's kept time series on (arm, patient, time), patients in order."""
    files = sorted((Path(folder) / TIMESERIES).glob("part-*.nc"))
    if not files:
        raise InputError("folder", f"no time series under {Path(folder) / TIMESERIES}", "run the trial first")
    parts = [xr.load_dataset(f) for f in files]
    return xr.concat(parts, dim="patient").sortby("patient")
