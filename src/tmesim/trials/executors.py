"""Where a trial's batches run: local worker processes (default) or a Dask cluster.

Every executor is a context manager with :meth:`~LocalExecutor.run`, which runs a
picklable function over batch specs and yields ``(spec, result)`` pairs as they
finish, in any order; ``result`` is the exception when a batch raised (the trial
records it and goes on). Results do not depend on the executor: each patient's
draws come from its own seed (:mod:`.sampling`) and each engine row integrates on
its own.

* :class:`LocalExecutor`: ``workers`` processes of a :class:`~concurrent.futures.ProcessPoolExecutor`,
  each running numba with ``cores // workers`` threads (at least 1). On Linux the
  processes are forked, so they inherit the compiled kernels the parent has loaded
  (numba's workqueue layer is fork-safe); elsewhere they are spawned.
* :class:`DaskExecutor`: an existing cluster (``address``) or a local one
  (``n_workers`` processes with one thread each: numba's workqueue layer must not
  be entered from two threads at once, shared/research/ecosystem.md 3c). Batches
  run with one numba thread, one per Dask worker thread; a worker with several
  threads runs one batch at a time. A script that starts a local cluster needs an
  ``if __name__ == "__main__":`` guard (the workers are spawned).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ..errors import InputError


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _noop(_):
    return os.getpid()


class LocalExecutor:
    """Local worker processes (see the module docstring)."""

    name = "local"

    def __init__(self, workers: int | None = None, threads_per_worker: int | None = None):
        workers = _cores() if workers is None else workers
        if not isinstance(workers, int) or workers < 1:
            raise InputError("--workers", f"must be a positive integer, got {workers!r}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker or max(1, _cores() // workers)
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"local processes: {self.workers} x {self.threads_per_worker} numba thread(s)"

    def __enter__(self) -> "LocalExecutor":
        """Start the worker processes (entering again while started only counts: the outermost exit stops
        them, so a caller can start them before its own threads, e.g. a progress bar)."""
        self._depth = getattr(self, "_depth", 0) + 1
        if self._pool is None:
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                             initializer=_init_worker, initargs=(self.threads_per_worker,))
            self._pool.submit(_noop, 0).result()  # all processes start with the first task
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0 and self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def numba_threads(self) -> int | None:
        return None  # set once per process by the initializer

    def run(self, fn: Callable[[Any], Any], specs: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        futures = {self._pool.submit(fn, spec): spec for spec in specs}
        for future in as_completed(futures):
            spec = futures.pop(future)
            try:
                yield spec, future.result()
            except Exception as exc:  # a batch that raised, or a worker process that died
                yield spec, exc


#: Dask settings of a local cluster (``--dask-local``). A cluster without a dashboard has no
#: use for the statistical profiler, which samples every worker thread's stack every 10 ms,
#: nor for 20-ms event-loop ticks and 0.5-s system-monitor samples: on an otherwise idle
#: machine they cost a local cluster of two workers about a tenth of a core whatever the
#: work (benchmarks/RESULTS.md, "Virtual trials"). A cluster given by ``--scheduler`` keeps
#: its own configuration.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
}


class DaskExecutor:
    """A Dask cluster: an existing one at ``address``, or a local one of ``n_workers`` processes."""

    name = "dask"

    def __init__(self, address: str | None = None, n_workers: int | None = None, timeout_s: float = 10.0):
        if address is None and (not isinstance(n_workers, int) or n_workers < 1):
            raise InputError("--dask-local", f"must be a positive integer, got {n_workers!r}")
        self.address = address
        self.n_workers = n_workers
        self.timeout_s = timeout_s
        self._cluster = None
        self.client = None

    @property
    def workers(self) -> int:
        if self.client is None:
            return self.n_workers or 0
        return sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values())

    def describe(self) -> str:
        where = f"scheduler {self.address}" if self.address else "local cluster"
        return f"dask ({where}): {self.workers} worker thread(s), 1 numba thread per batch"

    def __enter__(self) -> "DaskExecutor":
        from distributed import Client, LocalCluster

        self._depth = getattr(self, "_depth", 0) + 1
        if self.client is not None:
            return self
        if self.address is not None:
            try:
                self.client = Client(self.address, timeout=f"{self.timeout_s}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError("--scheduler", f"cannot reach a Dask scheduler at {self.address!r} "
                                                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
                                 "start one (`dask scheduler` and `dask worker ADDRESS --nthreads 1`) or use "
                                 "--dask-local N") from None
        else:
            import dask

            # The workers inherit this configuration through their nannies.
            with dask.config.set(LOCAL_CLUSTER_CONFIG):
                self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
                self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def numba_threads(self) -> int | None:
        return 1

    def run(self, fn: Callable[[Any], Any], specs: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed as dask_completed

        futures = {}
        for spec in specs:
            futures[self.client.submit(fn, spec, pure=False)] = spec
        for future in dask_completed(list(futures)):
            spec = futures.pop(future)
            try:
                yield spec, future.result()
            except Exception as exc:
                yield spec, exc
            finally:
                future.release()


def make_executor(workers: int | None = None, scheduler: str | None = None, dask_local: int | None = None):
    """The executor the command line asks for: ``--scheduler`` or ``--dask-local`` (not both), else local."""
    if scheduler is not None and dask_local is not None:
        raise InputError("--scheduler", "given together with --dask-local", "use one of them")
    if scheduler is not None:
        if not scheduler.strip():
            raise InputError("--scheduler", "empty address", "e.g. tcp://10.0.0.5:8786")
        return DaskExecutor(address=scheduler)
    if dask_local is not None:
        return DaskExecutor(n_workers=dask_local)
    return LocalExecutor(workers)
