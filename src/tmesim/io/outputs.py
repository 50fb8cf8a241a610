"""Run directories: the files one ``tmesim run`` leaves behind.

A run directory holds

* ``timeseries.nc`` -- the run's Dataset (netCDF4); attributes that netCDF
  cannot store (dicts, nested lists, booleans) are written as JSON strings;
* ``scenario.yaml`` -- the resolved scenario, enough to rerun;
* whatever the caller adds (``tmesim run`` adds the analysis:
  ``summary.csv`` and ``figures/*.png``, see :func:`tmesim.analysis.write_analysis`).

It is written into a sibling temporary directory and renamed into place only
when every file is complete, so a directory named like a run is always whole.
This module reads and writes files only: it imports nothing above it in the
package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from tmesim.errors import InputError

RUNS_ROOT = Path("runs")
TIMESERIES_FILE = "timeseries.nc"
SCENARIO_FILE = "scenario.yaml"
NETCDF_COMPRESSION = {"zlib": True, "complevel": 4}


def default_run_dir(scenario_name: str, now: datetime | None = None) -> Path:
    """Default output directory of a run: ``runs/<scenario>-<YYYYmmdd-HHMMSS>``.

    Parameters
    ----------
    scenario_name
        Scenario name; characters other than letters, digits, ``-``, ``_``
        and ``.`` become ``_``.
    now
        Time stamp to use (local time); the current time by default.

    Returns
    -------
    pathlib.Path
        Relative to the current working directory.
    """
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", scenario_name)
    return RUNS_ROOT / f"{safe_name}-{stamp}"


def _is_netcdf_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def netcdf_attr(value: Any) -> Any:
    """An attribute value netCDF can store: itself if possible, else its JSON text.

    Parameters
    ----------
    value
        Any attribute value.

    Returns
    -------
    str, number, numpy.ndarray or list
        Strings, numbers, numeric arrays and non-empty lists of only strings or
        only numbers pass unchanged; anything else (dict, nested list, bool,
        None) becomes a JSON string.
    """
    if _is_netcdf_scalar(value) or (isinstance(value, np.ndarray) and value.dtype.kind in "iuf"):
        return value
    if isinstance(value, (list, tuple)) and value and all(_is_netcdf_scalar(v) for v in value):
        if all(isinstance(v, str) for v in value) or not any(isinstance(v, str) for v in value):
            return list(value)
    return json.dumps(value, default=str)


def netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy of ``ds`` whose attributes (global, variables, coordinates) netCDF can store.

    Parameters
    ----------
    ds
        Any Dataset; it is not modified.

    Returns
    -------
    xarray.Dataset
        Same data, attributes passed through :func:`netcdf_attr`.
    """
    out = ds.copy(deep=False)
    out.attrs = {key: netcdf_attr(value) for key, value in ds.attrs.items()}
    for variable in out.variables.values():
        variable.attrs = {key: netcdf_attr(value) for key, value in variable.attrs.items()}
    return out


def write_timeseries(ds: xr.Dataset, path: Path) -> None:
    """Write a run's Dataset as compressed netCDF4.

    Parameters
    ----------
    ds
        Engine output.
    path
        Destination ``.nc`` file.
    """
    ready = netcdf_ready(ds)
    encoding = {name: NETCDF_COMPRESSION for name, da in ready.data_vars.items() if da.dtype.kind in "iuf"}
    ready.to_netcdf(path, engine="netcdf4", encoding=encoding)


def check_output_dir(out_dir: Path) -> None:
    """Raise :class:`InputError` unless ``out_dir`` is missing or an empty directory.

    Called before a run starts (so a long simulation does not end in this
    error) and again by :func:`write_run`.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError("out_dir", f"{out_dir} exists and is not a directory", "choose a new output directory")
    if any(out_dir.iterdir()):
        raise InputError("out_dir", f"{out_dir} already exists and is not empty", "choose a new output directory")


@contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Write a directory atomically: yield a sibling temporary directory, rename it to ``out_dir`` when the
    block ends without an error, remove it otherwise.

    ``out_dir`` may exist only if empty (:func:`check_output_dir`); missing parents are created. The
    temporary directory is ``<out_dir>.partial-<pid>``.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    target = out_dir.absolute()
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}")
    if tmp.exists():  # left by a killed process that had our pid
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(ds: xr.Dataset, scenario_yaml: str, out_dir: Path, extra: Callable[[Path], Any] | None = None) -> Path:
    """Write a complete run directory, atomically (:func:`atomic_dir`).

    Parameters
    ----------
    ds
        The run's Dataset (see ``docs/architecture.md``).
    scenario_yaml
        The resolved scenario as YAML text (``Scenario.to_yaml()``).
    out_dir
        Directory to create; it may exist only if empty. Missing parents are
        created.
    extra
        Called with the (temporary) directory to add more files before it is
        renamed into place, e.g. :func:`tmesim.analysis.write_analysis`.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    InputError
        If ``out_dir`` exists and is not an empty directory.
    """
    with atomic_dir(out_dir) as tmp:
        write_run_files(ds, scenario_yaml, tmp, extra)
    return Path(out_dir)


def write_run_files(ds: xr.Dataset, scenario_yaml: str, folder: Path, extra: Callable[[Path], Any] | None = None) -> None:
    """Write a run's time series, its scenario and ``extra(folder)`` into an existing ``folder``."""
    write_timeseries(ds, folder / TIMESERIES_FILE)
    (folder / SCENARIO_FILE).write_text(scenario_yaml, encoding="utf-8")
    if extra is not None:
        extra(folder)


#: Suffix of the folder a resumable (spatial) run writes into until it ends.
RESUMABLE_SUFFIX = ".partial"


def resumable_dir(out_dir: Path) -> Path:
    """The folder a resumable run writes into until it completes: ``<out_dir>.partial``.

    Unlike :func:`atomic_dir`'s, its name does not depend on the process, so
    ``tmesim run --resume OUT`` finds it after a kill. It holds the scenario,
    the snapshots written so far and the latest checkpoint.
    """
    target = Path(out_dir).absolute()
    return target.with_name(target.name + RESUMABLE_SUFFIX)


def start_resumable(out_dir: Path, scenario_yaml: str) -> Path:
    """Create ``<out_dir>.partial`` for a new resumable run and write the scenario into it; return it.

    Raises
    ------
    InputError
        If ``out_dir`` is not missing or empty, or a killed run's folder is
        already there (resume it or remove it).
    """
    check_output_dir(out_dir)
    partial = resumable_dir(out_dir)
    if partial.exists():
        raise InputError("out_dir", f"{partial} holds an unfinished run",
                         f"continue it with `tmesim run --resume {out_dir}`, or delete {partial}")
    partial.mkdir(parents=True)
    (partial / SCENARIO_FILE).write_text(scenario_yaml, encoding="utf-8")
    return partial


def find_resumable(out_dir: Path) -> Path:
    """The unfinished run folder of ``out_dir`` (for ``--resume``).

    Raises
    ------
    InputError
        If there is none, or it holds no scenario.
    """
    partial = resumable_dir(out_dir)
    if not (partial / SCENARIO_FILE).is_file():
        if Path(out_dir).is_dir() and (Path(out_dir) / TIMESERIES_FILE).is_file():
            raise InputError("--resume", f"{out_dir} is a finished run", "nothing to resume")
        raise InputError("--resume", f"no unfinished run for {out_dir} (looked for {partial}/{SCENARIO_FILE})",
                         "give the output folder of a spatial run that was stopped")
    return partial


def finish_resumable(ds: xr.Dataset, scenario_yaml: str, partial: Path, out_dir: Path,
                     extra: Callable[[Path], Any] | None = None) -> Path:
    """Write the run's files into ``partial`` and rename it to ``out_dir``; return ``out_dir``."""
    write_run_files(ds, scenario_yaml, partial, extra)
    check_output_dir(out_dir)
    target = Path(out_dir).absolute()
    if target.exists():
        target.rmdir()
    os.replace(partial, target)
    return Path(out_dir)
