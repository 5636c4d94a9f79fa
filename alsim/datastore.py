"""The local data store: imported data sets under ``$ALSIM_HOME/datasets``, one folder per content key.

A stored set is a folder named by its data's :attr:`alsim.data.Dataset.content_key` holding
``images.npy`` (decoded, resized uint8 images), ``labels.npy``, optionally ``embeddings.npy``
and the test split's arrays, and ``manifest.json`` (name, source file, counts per class,
image size, notes, date). Its short id (the first 12 hex digits of the key) is the config's
``dataset`` value: stored sets are registered as data sources on first use
(:func:`alsim.sources.register_stored_sources`), so every page's data-set control and the
CLI list them.

Writes are atomic: an import is written into a unique temporary folder beside the store
(manifest last) and renamed into place with :func:`os.replace`. A failed or interrupted
import leaves no entry; leftover temporary folders are ignored and removed later.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import contextlib
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .data import DataError, Dataset
from .diskcache import fsync_folder
from .importers import ImportOptions, Imported, read_bytes, read_path

SHORT_ID = 12
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_ARRAYS = ("images", "labels", "embeddings", "test_images", "test_labels", "test_embeddings")
_STALE_SECONDS = 3600
_MAX_MANIFEST_BYTES = 1 << 20


def alsim_home() -> Path:
    """``$ALSIM_HOME``, or ``~/.local/share/alsim``."""
    return Path(os.environ.get("ALSIM_HOME") or Path.home() / ".local" / "share" / "alsim")


def store_dir() -> Path:
    """Where imported data sets live: ``$ALSIM_HOME/datasets``."""
    return alsim_home() / "datasets"


@dataclass(frozen=True)
class StoredSet:
    """One imported data set: its id, folder and manifest.

    Attributes
    ----------
    id : str
        Short content id (first 12 hex digits of the content key); the config's ``dataset``.
    content_key : str
    name : str
        The name a person gave it (shown in lists).
    path : Path
    manifest : dict
    """

    id: str
    content_key: str
    name: str
    path: Path
    manifest: dict

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.manifest.get("features", ()))

    @property
    def description(self) -> str:
        m = self.manifest
        what = f"{m.get('n', 0):,} {'images' if m.get('image_shape') else 'points'}, {len(m.get('class_names', []))} classes"
        return f"{self.name} ({what}, imported from {m.get('source_file', '?')})"

    def load(self) -> Dataset:
        """The stored arrays as a :class:`Dataset`, checked against the folder's content key."""
        return load_stored(self)


def supported_features(dataset: Dataset) -> tuple[str, ...]:
    """Feature kinds a data set can give: ``raw`` and ``colorhist`` with images (and ``hog`` for square
    gray ones whose side is a multiple of 4), ``precomputed`` with embeddings."""
    kinds = []
    images_everywhere = dataset.images is not None and (not dataset.has_test or dataset.test_images is not None)
    if images_everywhere:
        kinds.append("raw")
        h, w = dataset.images.shape[1:3]
        if dataset.images.ndim == 3 and h == w and h >= 8 and h % 4 == 0:  # see alsim.features.hog_params
            kinds.append("hog")
        kinds.append("colorhist")
    if dataset.embeddings is not None:
        kinds.append("precomputed")
    return tuple(kinds)


def _manifest(imported: Imported, name: str, key: str) -> dict:
    dataset = imported.dataset
    counts = np.bincount(dataset.labels[dataset.labels >= 0], minlength=dataset.n_classes)
    return {
        "format": FORMAT_VERSION,
        "id": key[:SHORT_ID],
        "content_key": key,
        "name": name,
        "source_file": imported.source_file,
        "kind": imported.kind,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "n": int(len(dataset.labels)),
        "n_unlabeled": int(np.count_nonzero(dataset.labels < 0)),
        "class_names": list(dataset.class_names),
        "counts": {cls: int(c) for cls, c in zip(dataset.class_names, counts)},
        "n_test": 0 if dataset.test_labels is None else int(len(dataset.test_labels)),
        "image_shape": None if dataset.images is None else list(dataset.images.shape[1:]),
        "original_sizes": dict(sorted(imported.original_sizes.items(), key=lambda kv: -kv[1])[:20]),
        "embedding_dim": None if dataset.embeddings is None else int(dataset.embeddings.shape[1]),
        "features": list(supported_features(dataset)),
        "labels": dataset.label_status,
        "skipped": imported.skipped,
        "n_corrupt": imported.n_corrupt,
        "duplicates": imported.duplicates,
        "corrupt": list(imported.corrupt),
        "notes": list(imported.notes),
    }


def _clean_name(name: str | None, fallback: str) -> str:
    text = " ".join(str(name if name else fallback).split())
    text = "".join(ch for ch in text if ch.isprintable())[:80]
    return text or "data"


def add(imported: Imported, name: str | None = None) -> StoredSet:
    """Store an imported data set (atomically); the same data imported twice is stored once.

    Returns
    -------
    StoredSet
        The new entry, or the existing one with the same content key.
    """
    dataset = imported.dataset
    key = dataset.content_key
    root = store_dir()
    final = root / key
    existing = _read_entry(final)
    if existing is not None:
        return existing
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale(root)
        tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
    except OSError as exc:
        raise DataError(f"cannot write the data store {root} ({exc.strerror or exc})") from None
    try:
        for part in _ARRAYS:
            values = getattr(dataset, part)
            if values is not None:
                _save(tmp / f"{part}.npy", np.ascontiguousarray(values))
        manifest = _manifest(imported, _clean_name(name, dataset.name), key)
        _save_bytes(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        fsync_folder(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if _read_entry(final) is None:  # not a concurrent import of the same data: a real failure
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        fsync_folder(root)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise DataError(f"cannot write the data store {root} ({exc.strerror or exc}); nothing was stored") from None
        raise
    entry = _read_entry(final)
    if entry is None:
        raise DataError(f"the data store entry {final} could not be read back")
    return entry


def _save(path: Path, values: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, values, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _save_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_stale(root: Path) -> None:
    """Temporary folders of imports interrupted more than an hour ago."""
    now = time.time()
    for entry in root.glob(".import-*"):
        try:
            if now - entry.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


def _read_entry(folder: Path) -> StoredSet | None:
    """The entry in ``folder``, or None when it is not a complete one."""
    try:
        with open(folder / MANIFEST, "rb") as handle:
            raw = handle.read(_MAX_MANIFEST_BYTES + 1)
        manifest = json.loads(raw)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("content_key") != folder.name:
        return None
    return StoredSet(id=folder.name[:SHORT_ID], content_key=folder.name, name=str(manifest.get("name", "")),
                     path=folder, manifest=manifest)


def list_sets() -> list[StoredSet]:
    """Every complete entry in the store, oldest first."""
    root = store_dir()
    try:
        folders = [p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir()]
    except OSError:
        return []
    entries = [e for e in (_read_entry(p) for p in folders) if e is not None]
    return sorted(entries, key=lambda e: (str(e.manifest.get("created", "")), e.id))


def find(ident: str) -> StoredSet:
    """The stored set with this short id, content key or (unique) name; DataError otherwise."""
    entries = list_sets()
    for entry in entries:
        if ident in (entry.id, entry.content_key):
            return entry
    named = [e for e in entries if e.name == ident]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise DataError(f"{len(named)} stored data sets are named {ident!r}; use an id: {', '.join(e.id for e in named)}")
    raise DataError(f"no stored data set {ident!r} in {store_dir()}; `python -m alsim data list` shows them")


def load_stored(entry: StoredSet) -> Dataset:
    """The arrays of a stored entry, verified against its content key."""
    arrays = {}
    try:
        for part in _ARRAYS:
            path = entry.path / f"{part}.npy"
            if path.exists():
                arrays[part] = np.load(path, allow_pickle=False)
        dataset = Dataset(name=entry.id, images=arrays.get("images"), labels=arrays["labels"],
                          class_names=tuple(entry.manifest["class_names"]), test_images=arrays.get("test_images"),
                          test_labels=arrays.get("test_labels"), source=f"alsim-store:{entry.content_key}",
                          embeddings=arrays.get("embeddings"), test_embeddings=arrays.get("test_embeddings"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"stored data set {entry.id} in {entry.path} is unreadable ({exc}); remove the folder and "
                        "import it again") from None
    if dataset.content_key != entry.content_key:
        raise DataError(f"stored data set {entry.id} in {entry.path} has changed since it was imported; remove the "
                        "folder and import it again")
    return dataset


#: One import at a time per process: each holds up to its memory bound (see the README), and a
#: server's sessions importing together would add theirs up.
_IMPORT_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_import_at_a_time(on_wait: Callable[[], None] | None):
    """Hold the process's import lock; ``on_wait()`` is called first when another import holds it."""
    if not _IMPORT_LOCK.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        _IMPORT_LOCK.acquire()
    try:
        yield
    finally:
        _IMPORT_LOCK.release()


def import_path(path: str | Path, name: str | None = None, options: ImportOptions | None = None,
                on_wait: Callable[[], None] | None = None) -> StoredSet:
    """Read a data set from a file or folder and store it (see :func:`alsim.importers.read_path`).

    Imports run one at a time per process; ``on_wait()`` is called when this one has to wait.
    """
    with _one_import_at_a_time(on_wait):
        return add(_guarded(lambda: read_path(path, options)), name)


def import_bytes(filename: str, data: bytes, name: str | None = None,
                 options: ImportOptions | None = None, on_wait: Callable[[], None] | None = None) -> StoredSet:
    """Read an uploaded file's bytes and store the data set (see :func:`alsim.importers.read_bytes`).

    Imports run one at a time per process; ``on_wait()`` is called when this one has to wait.
    """
    with _one_import_at_a_time(on_wait):
        return add(_guarded(lambda: read_bytes(filename, data, options)), name)


def _guarded(read):
    try:
        return read()
    except MemoryError:
        raise DataError("the data set does not fit in memory; import a smaller one or a smaller image side") from None


def remove(ident: str) -> StoredSet:
    """Delete a stored set (renamed out of the store first, so readers never see half of it)."""
    entry = find(ident)
    trash = entry.path.with_name(f".import-removed-{entry.content_key}-{os.getpid()}")
    try:
        os.replace(entry.path, trash)
    except OSError as exc:
        raise DataError(f"cannot remove {entry.path} ({exc.strerror or exc})") from None
    shutil.rmtree(trash, ignore_errors=True)
    return entry


# --------------------------------------------------------------------------- sources
def store_stamp() -> tuple:
    """Changes whenever an entry is added to or removed from the store (folder and its mtime)."""
    root = store_dir()
    try:
        return (str(root), root.stat().st_mtime_ns)
    except OSError:
        return (str(root), None)


def source_infos() -> list:
    """A :class:`alsim.sources.SourceInfo` per stored set (name: its short id)."""
    from .sources import SourceInfo

    infos = []
    for entry in list_sets():
        features = entry.features
        if not features:
            continue
        shape = entry.manifest.get("image_shape")
        infos.append(SourceInfo(
            name=entry.id,
            description=entry.description,
            load=(lambda e=entry: load_stored(e)),
            features=features,
            image_shape=None if shape is None else tuple(int(s) for s in shape),
            has_test=bool(entry.manifest.get("n_test")),
            labels=str(entry.manifest.get("labels", "known")),
            available=(lambda e=entry: (e.path / MANIFEST).is_file()),
            missing_hint=f"import it again with `python -m alsim data add {entry.manifest.get('source_file', 'PATH')}`",
            locator=(lambda e=entry: str(e.path)),
        ))
    return infos


def default_config(ident: str):
    """A starting config for a stored set.

    Its best feature kind (precomputed embeddings, else HOG, else raw pixels); label
    spreading on a 10-nearest-neighbour graph (no kernel width to tune, fast on thousands
    of points); stratified initial labels, two per class; up to 40 rounds of one query
    per class (at least 5); evaluation on the test split if there is one, else on the unlabeled pool.
    """
    from .config import Config

    entry = find(ident)
    m = entry.manifest
    features = entry.features
    kind = "precomputed" if "precomputed" in features else ("hog" if "hog" in features else "raw")
    n_classes = len(m["class_names"])
    known = int(m["n"]) - int(m.get("n_unlabeled", 0))
    n_initial = max(2, min(2 * n_classes, known // 2))
    batch = max(1, min(max(5, n_classes), known - n_initial))
    rounds = max(1, min(40, (known - n_initial) // batch + 1))
    return Config(dataset=entry.id, features=kind, model="label_spreading", kernel="knn",
                  n_neighbors=max(1, min(10, int(m["n"]) - 1)), initial="stratified",
                  n_initial=n_initial, batch_size=batch, n_rounds=rounds, strategy="entropy",
                  evaluation="test" if m.get("n_test") else "pool")
