"""Run directories: the files one ``tmesim run`` leaves behind.

A run directory holds

* ``timeseries.nc`` -- the run's Dataset (netCDF4); attributes that netCDF
  cannot store (dicts, nested lists, booleans) are written as JSON strings;
* ``scenario.yaml`` -- the resolved scenario, enough to rerun;
* whatever the caller adds (``tmesim run`` adds the analysis:
  ``summary.csv`` and ``figures/*.png``, see :func:`tmesim.analysis.write_analysis`).

It is written into a temporary directory inside a hidden sibling folder
(``.<name>.partial-<pid>-<n>/<name>``, which no glob of finished runs such as
``runs/*/timeseries.nc`` matches, hidden or not) and renamed into place only when
every file is complete, so a directory named like a run is always whole. The
temporary directory is made before the work starts, so an output path that
cannot be written fails at once; leftovers of killed processes (their pid no
longer running) are removed by the next run writing beside them. A default
run directory is made unique at the rename (``-2``, ``-3``, ... when two runs
started in the same second), so parallel runs all finish.
This module reads and writes files only: it imports nothing above it in the
package.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import warnings
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
#: A temporary folder: ``.<name>.partial-<pid>-<n>`` (and, from tmesim 0.1.0, ``<name>.partial-<pid>``).
PARTIAL = re.compile(r"^\.?(?P<name>.+)\.partial-(?P<pid>\d+)(-\d+)?$")
_staged = itertools.count()
#: Holders of this process's staged directories still being written (never removed as leftovers).
_LIVE: set[str] = set()
#: Global attributes every timeseries.nc carries (CF conventions, section 2.6.2), filled in when the
#: Dataset lacks them. ``history`` holds no time stamp: the same scenario and seed give a byte-identical file.
CF_CONVENTIONS = "CF-1.10"


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


def cf_attributes(ds: xr.Dataset) -> dict[str, str]:
    """The CF global attributes of ``ds`` (``Conventions``, ``title``, ``source``, ``history``):
    its own where it has them, else made from ``engine``, ``tmesim_version`` and ``seed``."""
    version = str(ds.attrs.get("tmesim_version", "unknown"))
    engine = str(ds.attrs.get("engine", "unknown"))
    return {
        "Conventions": str(ds.attrs.get("Conventions", CF_CONVENTIONS)),
        "title": str(ds.attrs.get("title", "tmesim run")),
        "source": str(ds.attrs.get("source", f"tmesim {version} ({engine} engine)")),
        "history": str(ds.attrs.get("history", f"simulated by tmesim {version}, {engine} engine, "
                                               f"seed {ds.attrs.get('seed', 'unknown')}")),
    }


def write_timeseries(ds: xr.Dataset, path: Path) -> None:
    """Write a run's Dataset as compressed netCDF4, with CF global attributes (:func:`cf_attributes`)
    and no fill value on coordinates (a coordinate has no missing values).

    Parameters
    ----------
    ds
        Engine output.
    path
        Destination ``.nc`` file.
    """
    ready = netcdf_ready(ds)
    ready.attrs = {**cf_attributes(ds), **ready.attrs}
    encoding: dict[str, dict] = {name: dict(NETCDF_COMPRESSION) for name, da in ready.data_vars.items()
                                 if da.dtype.kind in "iuf"}
    for name in ready.coords:
        encoding.setdefault(str(name), {})["_FillValue"] = None
    ready.to_netcdf(path, engine="netcdf4", encoding=encoding)


def check_output_dir(out_dir: Path, what: str = "out_dir") -> None:
    """Raise :class:`InputError` (naming ``what``) unless ``out_dir`` is missing or an empty directory,
    and its nearest existing parent is a directory.

    Called before a run starts (so a long simulation does not end in this
    error) and again by :func:`write_run`.
    """
    out_dir = Path(out_dir)
    for parent in out_dir.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(what, f"{parent} is a file, not a folder", "choose another output directory")
            break
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError(what, f"{out_dir} exists and is not a directory", "choose a new output directory")
    try:
        if any(out_dir.iterdir()):
            raise InputError(what, f"{out_dir} already exists and is not empty", "choose a new output directory")
    except PermissionError:
        raise InputError(what, f"cannot read {out_dir}: permission denied", "choose another output directory") from None


def check_output_file(path: Path, what: str) -> None:
    """Raise :class:`InputError` (naming ``what``) unless ``path`` can be written as a file: not a
    directory, its folder a directory (created if missing) that a file can be made in."""
    path = Path(path)
    if path.is_dir():
        raise InputError(what, f"{path} is a directory", "give a file name, e.g. results.json")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(what, f"{parent} is a file, not a folder", "choose another path")
            break
    try:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
        probe = path.absolute().parent / f".{path.name}.partial-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _unwritable(path, exc, what) from None


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed into place (never half written)."""
    path = Path(path)
    path.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = path.absolute().parent / f".{path.name}.partial-{os.getpid()}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the temporary directories in ``folder`` left by killed processes (``.<name>.partial-<pid>``
    whose pid no longer runs, or is this process's: a killed process that had our pid). Returns them."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        pid = int(match["pid"])
        if str(entry.absolute()) in _LIVE:
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _unwritable(path: Path, exc: OSError, what: str) -> InputError:
    reason = exc.strerror or str(exc)
    return InputError(what, f"cannot write {path}: {reason}", "choose a folder you can write to")


class StagedDir:
    """A directory written atomically: files go into :attr:`tmp` (made now, so an unwritable path fails
    before any work), and :meth:`commit` renames it to :attr:`final`.

    With ``unique`` (default run directories), a name already taken at the rename gets ``-2``,
    ``-3``, ...; without it, ``out_dir`` may exist only if empty, and if another process filled it
    meanwhile the outputs go to the next free ``-<n>`` name with a warning rather than being lost.
    """

    def __init__(self, out_dir: Path, *, unique: bool = False, what: str = "out_dir"):
        self.target = Path(out_dir)
        self.unique = unique
        self.what = what
        if not unique:
            check_output_dir(self.target, what)
        parent = self.target.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(what, f"{parent} is a file, not a folder", "choose another output directory") from None
        except OSError as exc:
            raise _unwritable(parent, exc, what) from None
        remove_stale_partials(parent)
        #: Hidden folder holding :attr:`tmp`; removed at the end.
        self.holder = parent / f".{self.target.name}.partial-{os.getpid()}-{next(_staged)}"
        if self.holder.exists():
            shutil.rmtree(self.holder)
        #: Where the files go: one level down, so ``<parent>/*/timeseries.nc`` never matches it.
        self.tmp = self.holder / self.target.name
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise _unwritable(self.target, exc, what) from None
        _LIVE.add(str(self.holder.absolute()))
        #: Where the directory ended up (set by :meth:`commit`).
        self.final: Path | None = None

    def _candidates(self) -> Iterator[Path]:
        yield self.target
        for n in range(2, 10_000):
            yield self.target.with_name(f"{self.target.name}-{n}")

    def commit(self) -> Path:
        """Rename the temporary directory into place; returns the final path."""
        for k, candidate in enumerate(self._candidates()):
            try:
                # rename(2) is atomic, replaces an empty directory and fails on a non-empty one
                os.rename(self.tmp, candidate.absolute())
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise
                continue
            self._release()
            if k and not self.unique:
                warnings.warn(f"{self.target} was filled by another process during this run; outputs written to "
                              f"{candidate}", RuntimeWarning, stacklevel=2)
            self.final = candidate
            return self.final
        raise InputError(self.what, f"no free name beside {self.target}")

    def _release(self) -> None:
        shutil.rmtree(self.holder, ignore_errors=True)
        _LIVE.discard(str(self.holder.absolute()))

    def discard(self) -> None:
        """Remove the temporary directory and everything in it."""
        self._release()

    def __enter__(self) -> "StagedDir":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


@contextmanager
def atomic_dir(out_dir: Path, *, unique: bool = False) -> Iterator[Path]:
    """Write a directory atomically: yield a hidden sibling temporary directory (:class:`StagedDir`),
    rename it to ``out_dir`` when the block ends without an error, remove it otherwise.

    ``out_dir`` may exist only if empty (:func:`check_output_dir`) unless ``unique``; missing parents
    are created. The temporary directory is ``.<name>.partial-<pid>-<n>/<name>``.
    """
    with StagedDir(out_dir, unique=unique) as staged:
        yield staged.tmp


def write_run(ds: xr.Dataset, scenario_yaml: str, out_dir: "Path | StagedDir",
              extra: Callable[[Path], Any] | None = None) -> Path:
    """Write a complete run directory, atomically (:func:`atomic_dir`).

    Parameters
    ----------
    ds
        The run's Dataset (see ``docs/architecture.md``).
    scenario_yaml
        The resolved scenario as YAML text (``Scenario.to_yaml()``).
    out_dir
        Directory to create; it may exist only if empty. Missing parents are
        created. Or a :class:`StagedDir` made before the run (the CLI's, so
        that an unwritable path fails before simulating).
    extra
        Called with the (temporary) directory to add more files before it is
        renamed into place, e.g. :func:`tmesim.analysis.write_analysis`.

    Returns
    -------
    pathlib.Path
        Where the directory ended up (``out_dir``, or a ``-<n>`` name beside a
        :class:`StagedDir` with ``unique``).

    Raises
    ------
    InputError
        If ``out_dir`` exists and is not an empty directory.
    """
    staged = out_dir if isinstance(out_dir, StagedDir) else StagedDir(Path(out_dir))
    with staged:
        write_run_files(ds, scenario_yaml, staged.tmp, extra)
    return staged.final


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
    check_output_dir(out_dir, "--out")
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
