"""One thread-safe, byte-bounded cache for everything shared between sessions.

Streamlit runs every browser session in its own thread of one process, so the prepared
data sets, label-spreading graphs, finished runs and comparisons kept in memory are
shared by threads. :class:`SharedCache` gives each of them:

- one lock around every read and write of its table;
- a per-key in-flight :class:`concurrent.futures.Future`: when two sessions ask for the
  same 30-second graph, the first builds it and the second waits for that build instead of
  starting its own;
- a bound in bytes (not entries), least recently used first out; a value larger than the
  whole bound is handed back but not kept;
- read-only arrays: every numpy array reachable from a stored value is frozen
  (``flags.writeable = False``), so no session can change what another one reads.

The bounds are module constants, listed in the README; ``ALSIM_CACHE_GIB`` scales them all.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Callable, Hashable, Iterator, TypeVar

import numpy as np

T = TypeVar("T")

GIB = 2**30


def _scale() -> float:
    try:
        value = float(os.environ.get("ALSIM_CACHE_GIB", "1"))
    except ValueError:
        return 1.0
    return value if 0 < value < 1e6 else 1.0


class _Aborted(Exception):
    """The thread building a value was stopped (not an error of the value): waiters retry."""


def nbytes_of(value: Any, _seen: set | None = None) -> int:
    """Approximate memory held by ``value``: numpy arrays (not memory-mapped ones), sparse matrices and containers.

    Arrays reached twice (shared between records) are counted once.
    """
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.memmap):
        return 0  # pages of a file the system reads in and drops as needed (a stored set's display images)
    if isinstance(value, np.ndarray):
        base = value if value.base is None else value.base
        if isinstance(base, np.ndarray) and base is not value:
            if id(base) in seen:
                return 0
            seen.add(id(base))
            return int(base.nbytes)
        return int(value.nbytes)
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):  # scipy sparse
        return sum(nbytes_of(getattr(value, name, None), seen) for name in ("data", "indices", "indptr", "row",
                                                                             "col"))
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return 0
    if isinstance(value, dict):
        return sum(nbytes_of(k, seen) + nbytes_of(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(nbytes_of(v, seen) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes_of(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if hasattr(value, "__dict__"):
        return sum(nbytes_of(v, seen) for v in vars(value).values())
    return 0


def freeze(value: Any, _seen: set | None = None) -> Any:
    """Make every numpy array reachable from ``value`` read-only; returns ``value``."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return value
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif hasattr(value, "tocsr") and hasattr(value, "nnz"):
        for name in ("data", "indices", "indptr", "row", "col"):
            part = getattr(value, name, None)
            if isinstance(part, np.ndarray):
                part.flags.writeable = False
    elif isinstance(value, dict):
        for v in value.values():
            freeze(v, seen)
    elif isinstance(value, (list, tuple)):
        for v in value:
            freeze(v, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.metadata.get("mutable"):
                continue
            freeze(getattr(value, f.name), seen)
    return value


class SharedCache:
    """A thread-safe memo with per-key in-flight builds and a bound in bytes.

    Parameters
    ----------
    name : str
        Shown in :meth:`stats` and the README.
    max_bytes : int
        Least recently used values are dropped until the total fits.
    size_of : callable, optional
        Bytes of a value (default :func:`nbytes_of`).
    """

    def __init__(self, name: str, max_bytes: int, size_of: Callable[[Any], int] = nbytes_of):
        self.name = name
        self.max_bytes = int(max_bytes)
        self._size_of = size_of
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._bytes = 0
        self.builds = self.hits = self.waits = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The stored value (marked recently used), or ``default``."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: Hashable, value: T) -> T:
        """Store ``value`` (frozen) under ``key``; evicts least recently used values."""
        freeze(value)
        size = self._size_of(value)
        with self._lock:
            self._store(key, value, size)
        return value

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value for ``key``, built once by ``build()`` however many threads ask at once.

        If the build raises an ``Exception``, every thread waiting for it gets the same
        exception and nothing is stored. If the building thread is stopped by something
        that is not an ``Exception`` (a Streamlit rerun), waiting threads start over and
        one of them builds.
        """
        while True:
            with self._lock:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return item[0]
                future = self._pending.get(key)
                owner = future is None
                if owner:
                    future = Future()
                    self._pending[key] = future
                    self.builds += 1
                else:
                    self.waits += 1
            if not owner:
                try:
                    return future.result()
                except _Aborted:
                    continue
            try:
                value = build()
                freeze(value)
                size = self._size_of(value)
            except Exception as exc:
                with self._lock:
                    self._pending.pop(key, None)
                future.set_exception(exc)
                raise
            except BaseException:
                with self._lock:
                    self._pending.pop(key, None)
                future.set_exception(_Aborted())
                raise
            with self._lock:
                self._store(key, value, size)
                self._pending.pop(key, None)
            future.set_result(value)
            return value

    def _store(self, key: Hashable, value: Any, size: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        if size > self.max_bytes:
            return
        self._items[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes and self._items:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def stats(self) -> dict:
        """Entries, bytes held, the bound, and counts of builds, hits and waits."""
        with self._lock:
            return {"name": self.name, "entries": len(self._items), "bytes": self._bytes,
                    "max_bytes": self.max_bytes, "builds": self.builds, "hits": self.hits, "waits": self.waits}


# The process-wide caches. Bounds in bytes, listed in the README.
BOUNDS = {
    "datasets": 2 * GIB,      # loaded data sets (Fashion-MNIST: about 55 MB)
    "prepared": 3 * GIB,      # pools with their features (Fashion-MNIST HOG: 180 MB)
    "graphs": 6 * GIB,        # label-spreading graphs (a dense rbf kernel is refused above 4 GiB)
    "runs": 1 * GIB,          # finished runs of the dashboard (round records)
    "comparisons": GIB // 4,  # finished multi-seed comparisons of the Compare page
    "values": GIB // 16,      # small derived numbers (baselines, fully labeled accuracy)
}

_REGISTRY: dict[str, SharedCache] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_cache(name: str) -> SharedCache:
    """The process-wide cache called ``name`` (one of :data:`BOUNDS`)."""
    with _REGISTRY_LOCK:
        cache = _REGISTRY.get(name)
        if cache is None:
            if name not in BOUNDS:
                raise KeyError(f"unknown cache {name!r}; known: {', '.join(BOUNDS)}")
            cache = _REGISTRY[name] = SharedCache(name, int(BOUNDS[name] * _scale()))
        return cache


def clear_all() -> None:
    """Empty every shared cache (tests, and ``alsim warm`` before measuring)."""
    with _REGISTRY_LOCK:
        caches = list(_REGISTRY.values())
    for cache in caches:
        cache.clear()


class WorkSlots:
    """A server-wide limit on concurrent heavy runs, first come first served.

    Each session's run holds one slot while it computes; further runs queue and learn how
    many are ahead of them, so the page can say "waiting for a free worker, n ahead" while
    the server keeps answering new visitors.

    Parameters
    ----------
    slots : int
        Runs computing at once (default: the CPU count).
    """

    def __init__(self, slots: int | None = None):
        self.slots = max(1, int(slots or os.cpu_count() or 1))
        self._cond = threading.Condition()
        self._busy = 0
        self._queue: deque = deque()

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, poll: float = 0.5) -> Iterator[None]:
        """Hold a slot for the ``with`` block; ``on_wait(n_ahead)`` is called while queued.

        ``on_wait`` runs outside the lock, so it may draw on a page (and be interrupted by a
        rerun: the queued ticket is then withdrawn).
        """
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._busy < self.slots and self._queue[0] is ticket:
                        self._queue.popleft()
                        self._busy += 1
                        break
                    ahead = self._queue.index(ticket) + max(0, self._busy - self.slots + 1)
                if on_wait is not None:
                    on_wait(ahead)
                with self._cond:
                    self._cond.wait(poll)
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    @contextmanager
    def extra_slot(self) -> Iterator["ExtraSlot"]:
        """One more slot for the ``with`` block if one is free and nobody queues (see :class:`ExtraSlot`)."""
        extra = ExtraSlot(self)
        try:
            yield extra
        finally:
            extra.release()

    def stats(self) -> dict:
        with self._cond:
            return {"slots": self.slots, "busy": self._busy, "queued": len(self._queue)}



class ExtraSlot:
    """A second slot a run holds only while nobody waits for one (a comparison's worker process).

    Taken at once if free and nobody queues; :meth:`keep` gives it back as soon as another
    run queues, so a run with a worker never takes more than its share of the server.
    """

    def __init__(self, slots: WorkSlots):
        self._slots = slots
        with slots._cond:
            self.held = slots._busy < slots.slots and not slots._queue
            if self.held:
                slots._busy += 1

    def keep(self) -> bool:
        """Whether the slot is still held; released here when another run is waiting."""
        with self._slots._cond:
            if self.held and self._slots._queue:
                self._release()
            return self.held

    def release(self) -> None:
        with self._slots._cond:
            if self.held:
                self._release()

    def _release(self) -> None:  # with the condition held
        self.held = False
        self._slots._busy -= 1
        self._slots._cond.notify_all()

_SLOTS: WorkSlots | None = None


def work_slots() -> WorkSlots:
    """The process-wide :class:`WorkSlots` (``ALSIM_WORKERS`` sets its size; default the CPU count)."""
    global _SLOTS
    with _REGISTRY_LOCK:
        if _SLOTS is None:
            try:
                size = int(os.environ.get("ALSIM_WORKERS", "0"))
            except ValueError:
                size = 0
            _SLOTS = WorkSlots(size if size > 0 else None)
        return _SLOTS
