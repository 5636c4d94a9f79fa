"""Running a sweep's tasks on Dask: a local cluster by default, an existing cluster by address.

Each task (see :func:`alsim.sweep.grid.plan_tasks`) runs its cells in lockstep on one
worker through :func:`alsim.loop.run.run_arms`; the client appends each finished task's rows
to the results store at once. Tasks already in the store are not submitted again.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from alsim.common.errors import ConfigError, DataError, GraphTooLarge
from alsim.common.runtime import configure_process
from alsim.data.sources import load_source, source_info
from alsim.data.store import alsim_home, store_dir
from alsim.evidence.compare import full_label_accuracy
from alsim.learn.metrics import aulc, labels_to_reach, scored_length
from alsim.loop.config import METRIC_NAMES
from alsim.loop.pool import check_feasible, data_key, prepare
from alsim.loop.run import run_arms
from alsim.storage.memory import shared_cache
from alsim.sweep.grid import (
    CELLS_PER_TASK,
    CONNECT_TIMEOUT,
    Cell,
    SweepError,
    SweepSpec,
    SweepTask,
    plan_tasks,
    point_json,
    sweep_record,
)
from alsim.sweep.store import ResultStore

#: Share of the fully labeled accuracy used as the default target (as on the Compare page).
TARGET_FRACTION = 0.95

#: Changes to Dask's ``distributed.nanny.pre-spawn-environ`` for the local cluster's worker
#: processes (None: not set). Its other entries stay: one BLAS / OpenMP thread per worker
#: process (OMP/MKL/OPENBLAS_NUM_THREADS=1), since the workers are the parallelism; each
#: worker also calls :func:`alsim.common.runtime.configure_process` before its first task.
#:
#: ``MALLOC_TRIM_THRESHOLD_`` (Dask sets 65536) is left unset: setting it at all turns off
#: glibc's adaptive mmap threshold, so every array above 128 KiB (a 1,797 x 10 label
#: matrix is already 140 KiB) is a fresh mmap whose pages the kernel zeroes on first touch,
#: and is unmapped again when freed. The spreading loop allocates such arrays by the
#: thousand: measured on digits, a task then makes 9x the page faults and takes 1.5x the
#: CPU time of the same task in a plain process.
LOCAL_WORKER_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": None}


# --------------------------------------------------------------------------- one task
def _full_accuracy(config) -> float:
    """Accuracy with every label known, computed once per worker process per config."""

    return shared_cache("values").get_or_build(("full", config, data_key(config)),
                                                lambda: full_label_accuracy(config))


def _worker_address() -> str | None:
    """The Dask worker running this call, or None outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _where() -> str:
    return _worker_address() or f"in-process pid {os.getpid()}"


def _check_data(task: SweepTask) -> None:
    """Raise :class:`DataError` naming the shared folder when a task's data set is not where this worker looks."""
    for name in sorted({cell.config.dataset for cell in task.cells}):
        try:
            source_info(name)
        except KeyError:
            if task.data_home and Path(task.data_home).absolute() != alsim_home().absolute():
                raise DataError(f"dataset {name!r} is not in this worker's data store {store_dir()}; the sweep's "
                                f"client reads it from {Path(task.data_home) / 'datasets'}: start every worker with "
                                f"ALSIM_HOME={task.data_home}, a folder the client and the workers share") from None
            raise DataError(f"dataset {name!r} is not in the data store {store_dir()}") from None


def run_task(task: SweepTask) -> list[dict]:
    """Run a task's cells in lockstep; one result row per cell.

    Runs on a Dask worker (or in-process). Only each round's revealed-label count and
    score are kept (the config's ``metric``, stored as ``accuracy``), so memory does not grow
    with the pool times the rounds.
    """

    if _worker_address() is not None:
        # A worker process is an entry point of its own: its BLAS threads are set once, as
        # the command line and the dashboard set theirs (ALSIM_BLAS_THREADS, default 1).

        configure_process()

    _check_data(task)
    started = time.perf_counter()
    targets: dict[str, tuple[float, str]] = {}
    for cell in task.cells:
        if cell.point_key in targets:
            continue
        if task.target is not None:
            targets[cell.point_key] = (float(task.target), "chosen by the user")
        else:
            reference = cell.config.replace(seed=task.reference_seed)
            full = _full_accuracy(reference)
            targets[cell.point_key] = (TARGET_FRACTION * full, f"{TARGET_FRACTION:.0%} of the fully labeled "
                                       f"{METRIC_NAMES[reference.metric]} {full:.4f}")
    labels: list[list[int]] = [[] for _ in task.cells]
    accuracy: list[list[float]] = [[] for _ in task.cells]
    stop: list[str | None] = [None] * len(task.cells)
    for arm, record in run_arms([c.config for c in task.cells]):
        labels[arm].append(int(record.n_labeled))
        accuracy[arm].append(float(record.score))  # the config's metric (accuracy by default)
        stop[arm] = record.stop_reason
    seconds = time.perf_counter() - started
    where, now = _where(), datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = []
    for cell, x, y, reason in zip(task.cells, labels, accuracy, stop):
        target, rule = targets[cell.point_key]
        # AULC, final and labels to target end at the last scored round, as compare's do (a last round
        # that labeled the whole pool scored nothing on the still-unlabeled pool); the curve stays whole
        scored = scored_length(y)
        xs, ys = x[:scored], y[:scored]
        rows.append({
            "config_hash": cell.key, "point_hash": cell.point_key, "point": point_json(cell.point),
            "config": cell.config.to_json(), "strategy": cell.config.strategy, "seed": cell.config.seed,
            "labels": x, "accuracy": y, "aulc": aulc(xs, ys), "final_accuracy": ys[-1], "target": target,
            "target_rule": rule, "labels_to_target": labels_to_reach(xs, ys, target), "stop_reason": reason,
            "cell_seconds": seconds / len(task.cells), "task_seconds": seconds, "task_cells": len(task.cells),
            "worker": where, "finished_at": now,
        })
    return rows


# --------------------------------------------------------------------------- progress
@dataclass(frozen=True)
class Progress:
    """Cells done (stored before this run, plus computed now) out of all cells of the sweep."""

    done: int
    total: int
    computed: int
    to_compute: int
    elapsed: float

    @property
    def rate(self) -> float | None:
        """Cells computed per second in this run."""
        return self.computed / self.elapsed if self.computed and self.elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return None if rate is None else (self.to_compute - self.computed) / rate

    def text(self) -> str:
        rate, eta = self.rate, self.eta
        return (f"{self.done}/{self.total} cells ({self.done / max(1, self.total):.0%})"
                + ("" if rate is None else f", {rate:.2f} cells/s, ETA {_duration(eta)}"))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepReport:
    """What a call of :func:`run_sweep` did."""

    total: int
    skipped: int  # cells already in the store
    computed: list[str] = field(default_factory=list)  # config hashes computed now, in finishing order
    tasks: int = 0
    seconds: float = 0.0
    workers: int = 0
    where: str = ""
    sweep: dict = field(default_factory=dict)  # the sweep's record in the store (ResultStore.frame(sweep=...))


def prepare_sweep(spec: SweepSpec) -> list[Cell]:
    """Validate the spec and the data it needs; every cell. Raises :class:`SweepError` before any work."""
    return _prepare(spec)[0]


def _prepare(spec: SweepSpec) -> tuple[list[Cell], dict[str, str]]:
    """Every cell, and the content key of each dataset the sweep reads (see :func:`prepare_sweep`)."""

    spec.validate()
    points = spec.points()
    try:
        for point in points:
            config = spec.base.replace(**dict(point))
            prepared = prepare(config)
            for strategy in spec.strategies:
                check_feasible(config.replace(strategy=strategy), prepared)
        content = {name: load_source(name).content_key
                   for name in {spec.base.replace(**dict(p)).dataset for p in points}}
    except (ConfigError, DataError, GraphTooLarge) as exc:
        raise SweepError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return spec.cells(content), content


def check_scheduler_address(address: str) -> str:
    """``tcp://host:port`` (or another Dask protocol) with a port, else :class:`SweepError`."""
    import re

    text = address.strip()
    if not re.fullmatch(r"(tcp|tls|ws|wss|inproc|ucx)://[^\s/]+:[0-9]{1,5}", text):
        raise SweepError(f"--scheduler expects an address such as tcp://10.0.0.5:8786, got {address!r}")
    return text


def _check_scheduler_answers(address: str, timeout: float) -> None:
    """Connect to ``address`` and wait at most ``timeout`` seconds for Dask's handshake.

    ``distributed.Client(address, timeout=...)`` bounds the TCP connection but not the
    handshake read after it, so a server that accepts and never answers held the sweep forever.
    Raises TimeoutError (or OSError) when the handshake does not come in time.
    """
    import asyncio

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    scheme, location = parse_address(address)
    if scheme == "tcp":  # nothing listening is told apart from a server that never answers
        import socket

        host, port = parse_host_port(location)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except socket.timeout:
            raise TimeoutError("no answer to the connection") from None
        except socket.gaierror as exc:
            raise OSError(f"the host {host!r} is not found ({exc.strerror or exc})") from None
        except OSError as exc:
            raise OSError(f"nothing accepts connections there ({exc.strerror or exc})") from None
    try:
        asyncio.run(handshake())
    except asyncio.TimeoutError:
        raise TimeoutError("it accepted the connection but did not answer") from None


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                connect_timeout: float = CONNECT_TIMEOUT) -> Iterator:
    """A ``distributed.Client``: to ``scheduler`` when given, else to a new local cluster.

    The local cluster has ``workers`` single-threaded worker processes (default: the CPU
    count), each with a single-threaded BLAS (Dask's default) and the C library's default
    memory allocator settings (see :data:`LOCAL_WORKER_ENVIRON`).
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        address = check_scheduler_address(scheduler)
        try:
            _check_scheduler_answers(address, connect_timeout)
            client = Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {address} within {connect_timeout:g} s: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        with client:
            yield client
        return
    # The environment is read when a worker process is spawned (the nannies keep it for restarts).
    with dask.config.set({f"distributed.nanny.pre-spawn-environ.{name}": value
                          for name, value in LOCAL_WORKER_ENVIRON.items()}):
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        # Results are stored by now: a worker slow to exit (a loaded machine) must not turn a
        # finished sweep into an error. Worker processes left over end with this process.
        try:
            cluster.close(timeout=30)
        except (TimeoutError, OSError, RuntimeError) as exc:
            logging.getLogger(__name__).warning("the local Dask cluster did not close cleanly: %s", exc)


def run_sweep(spec: SweepSpec, out: str | os.PathLike, *, workers: int | None = None, scheduler: str | None = None,
              in_process: bool = False, progress: Callable[[Progress], None] | None = None,
              connect_timeout: float = CONNECT_TIMEOUT, cells_per_task: int = CELLS_PER_TASK,
              store_format: str | None = None, append: bool = False) -> SweepReport:
    """Run every cell of ``spec`` not yet in the store at ``out``; append each task's rows as it finishes.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the local cluster (default: the CPU count).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); no local cluster then.
    in_process : bool
        Run the tasks one after another in this process, without Dask (the dashboard's small sweeps).
    progress : callable, optional
        Called with a :class:`Progress` at the start and after every finished task.
    append : bool
        Store this sweep into an ``out`` that holds another sweep's cells (refused otherwise).
        Either way the report's ``sweep`` record selects this sweep's cells from the store.

    Everything that can be checked (grid, data, store, scheduler) is checked before the
    first task starts, raising :class:`SweepError`.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"--workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None and workers is not None:
        raise SweepError("give either --workers (a local cluster) or --scheduler (an existing one), not both")
    if scheduler is not None:
        check_scheduler_address(scheduler)
    cells, content = _prepare(spec)
    record = sweep_record(spec, content)
    check_writable(out)
    keys = {c.key for c in cells}
    existing = ResultStore(out) if Path(out).is_dir() else None
    if existing is not None:
        existing.check_sweep(keys, append)  # before a cluster starts; checked again under the store's lock
    # Nothing left to compute: no cluster to start (a finished sweep re-runs in a second).
    nothing_left = existing is not None and keys <= existing.done_keys()
    with contextlib.ExitStack() as stack:
        client = None if in_process or nothing_left else stack.enter_context(
            dask_client(workers, scheduler, connect_timeout))
        store = stack.enter_context(ResultStore(out, format=store_format).open_for_writing(
            spec.target, sweep=record, keys=keys, append=append))
        done = store.done_keys() & {c.key for c in cells}
        tasks = plan_tasks(spec, cells, done, cells_per_task)
        report = SweepReport(total=len(cells), skipped=len(done), tasks=len(tasks), sweep=record)
        if nothing_left:
            report.where = "nothing left to compute"
        elif client is None:
            report.workers, report.where = 1, "in-process"
        else:
            report.workers = len(client.nthreads())
            report.where = scheduler or f"local cluster of {workers or os.cpu_count() or 1} worker processes"
        to_compute = sum(len(t.cells) for t in tasks)
        started = time.perf_counter()

        def finished(rows: list[dict]) -> None:
            store.append(rows)
            report.computed.extend(row["config_hash"] for row in rows)
            if progress is not None:
                progress(Progress(report.skipped + len(report.computed), report.total, len(report.computed),
                                  to_compute, time.perf_counter() - started))

        if progress is not None:
            progress(Progress(report.skipped, report.total, 0, to_compute, 0.0))
        if client is None:
            for task in tasks:  # in-process, or nothing left
                finished(run_task(task))
        elif tasks:
            _run_on(client, tasks, finished)
        report.seconds = time.perf_counter() - started
    return report


def check_writable(out: str | os.PathLike) -> None:
    """Raise :class:`SweepError` unless ``out`` is, or could be made, a writable folder (creates nothing)."""
    path = Path(out).absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe != path and not probe.is_dir():
        raise SweepError(f"cannot write to --out {out}: {probe} is not a folder")
    if probe == path and not path.is_dir():
        raise SweepError(f"cannot write to --out {out}: it is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SweepError(f"cannot write to --out {out}: {probe} is not writable")


def _run_on(client, tasks: Sequence[SweepTask], finished: Callable[[list[dict]], None]) -> None:
    """Submit every task, store each as it completes; on any error cancel the rest and raise."""
    from distributed import as_completed

    futures = [client.submit(run_task, task, pure=False) for task in tasks]
    try:
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                raise SweepTaskError(f"a sweep task failed on a worker: {type(error).__name__}: "
                                     f"{str(error).splitlines()[0] if str(error) else ''}") from error
            finished(future.result())
            future.release()
    finally:
        client.cancel([f for f in futures if not f.done()])


class SweepTaskError(RuntimeError):
    """A task failed while running (exit code 1); the cells finished before it are kept."""
