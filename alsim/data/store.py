"""The local data store: imported data sets under ``$ALSIM_HOME/datasets``, one folder per content key.

A stored set is a folder named by its data's :attr:`alsim.data.datasets.Dataset.content_key` holding
``images.npy`` (decoded, resized uint8 images), ``labels.npy``, optionally ``embeddings.npy``
and the test split's arrays, and ``manifest.json`` (name, source file, counts per class,
image size, notes, date). Imported images also keep ``display_images.npy`` (n, s, s[, 3] uint8:
the images as people see them, colour and aspect ratio kept, padded to s x s) with
``display_sizes.npy`` (n, 2: each one's height and width), and ``file_names.json`` (each item's
source file name, or null). Two arrays rather than a PNG per image: one file written and
renamed with the rest, and read memory-mapped, so a server holds only the pages it shows.
They are optional: sets stored before them load without them (and get them when imported again).

Its short id (the first 12 hex digits of the key) is the config's ``dataset`` value: stored
sets are registered as data sources on first use
(:func:`alsim.data.sources.register_stored_sources`), so every page's data-set control and the
CLI list them.

Writes are atomic: an import is written into a unique temporary folder beside the store
(manifest last) and renamed into place with :func:`os.replace`. A failed or interrupted
import leaves no entry; leftover temporary folders are ignored and removed later.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from alsim.common.errors import DataError
from alsim.data.datasets import IMAGE_FEATURE_KINDS, Dataset
from alsim.data.importers import Imported, ImportOptions, read_bytes, read_path
from alsim.storage.disk import fsync_folder

SHORT_ID = 12
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_ARRAYS = ("images", "labels", "embeddings", "test_images", "test_labels", "test_embeddings")
_DISPLAY_ARRAYS = ("display_images", "display_sizes")
FILE_NAMES = "file_names.json"
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
        """What its manifest lists; a set with images also gets every image feature kind (sets stored
        before a kind existed, and HOG, which once needed square gray images)."""
        listed = tuple(self.manifest.get("features", ()))
        if self.manifest.get("image_shape") and "raw" in listed:
            listed = IMAGE_FEATURE_KINDS + tuple(kind for kind in listed if kind not in IMAGE_FEATURE_KINDS)
        return listed

    @property
    def description(self) -> str:
        m = self.manifest
        what = f"{m.get('n', 0):,} {'images' if m.get('image_shape') else 'points'}, {len(m.get('class_names', []))} classes"
        return f"{self.name} ({what}, imported from {m.get('source_file', '?')})"

    def load(self) -> Dataset:
        """The stored arrays as a :class:`Dataset`, checked against the folder's content key."""
        return load_stored(self)


def supported_features(dataset: Dataset) -> tuple[str, ...]:
    """Feature kinds a data set can give: :data:`IMAGE_FEATURE_KINDS` with images, ``precomputed`` with embeddings."""
    kinds = []
    images_everywhere = dataset.images is not None and (not dataset.has_test or dataset.test_images is not None)
    if images_everywhere:
        kinds.extend(IMAGE_FEATURE_KINDS)
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
        _add_missing_views(existing, dataset)
        return existing
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale(root)
        tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
    except OSError as exc:
        raise DataError(f"cannot write the data store {root} ({exc.strerror or exc})") from None
    try:
        for part in _ARRAYS + _DISPLAY_ARRAYS:
            values = getattr(dataset, part)
            if values is not None:
                _save(tmp / f"{part}.npy", np.ascontiguousarray(values))
        if dataset.file_names is not None:
            _save_bytes(tmp / FILE_NAMES, json.dumps(list(dataset.file_names)).encode())
        manifest = _manifest(imported, _clean_name(name, dataset.name), key)
        _save_bytes(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        fsync_folder(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if _read_entry(final) is not None:  # a concurrent import of the same data got there first
                shutil.rmtree(tmp, ignore_errors=True)
            elif final.is_dir():  # a damaged entry of this data (its manifest unreadable): replaced by this one
                aside = Path(tempfile.mkdtemp(prefix=f".import-damaged-{key}-", dir=root))  # unique per thread
                os.replace(final, aside / key)
                os.replace(tmp, final)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                raise
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


def _add_missing_views(entry: StoredSet, dataset: Dataset) -> None:
    """Give a set stored before display images and file names were kept the ones this import read.

    Best effort: each file is written beside the others under a unique temporary name and renamed
    into place; a set that cannot take them loads as it did.
    """
    parts = {f"{part}.npy": getattr(dataset, part) for part in _DISPLAY_ARRAYS}
    if dataset.file_names is not None:
        parts[FILE_NAMES] = json.dumps(list(dataset.file_names)).encode()
    for name, values in parts.items():
        if values is None or (entry.path / name).exists():
            continue
        try:
            handle, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=entry.path)
            os.close(handle)
            try:
                if isinstance(values, bytes):
                    _save_bytes(Path(tmp), values)
                else:
                    _save(Path(tmp), np.ascontiguousarray(values))
                os.replace(tmp, entry.path / name)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            return


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


def _entry_folders() -> list[Path]:
    """The store's entry folders (not the hidden ones of imports under way); none without a store."""
    try:
        return [p for p in store_dir().iterdir() if not p.name.startswith(".") and p.is_dir()]
    except OSError:
        return []


def list_sets() -> list[StoredSet]:
    """Every complete entry in the store, oldest first."""
    entries = [e for e in map(_read_entry, _entry_folders()) if e is not None]
    return sorted(entries, key=lambda e: (str(e.manifest.get("created", "")), e.id))


def damaged_sets() -> list[Path]:
    """Folders of the store that are not complete entries (their manifest is missing or unreadable)."""
    return sorted(p for p in _entry_folders() if _read_entry(p) is None)


def damaged_entry(ident: str) -> Path | None:
    """The damaged folder that ``ident`` (a short id or a content key) names, if any."""
    if len(ident) < SHORT_ID:
        return None
    return next((p for p in damaged_sets() if p.name == ident or p.name[:SHORT_ID] == ident), None)


def find(ident: str) -> StoredSet:
    """The stored set with this short id, content key or (unique) name; DataError otherwise (saying how
    to recover when the id names a damaged entry)."""
    entries = list_sets()
    for entry in entries:
        if ident in (entry.id, entry.content_key):
            return entry
    named = [e for e in entries if e.name == ident]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise DataError(f"{len(named)} stored data sets are named {ident!r}; use an id: {', '.join(e.id for e in named)}")
    damaged = damaged_entry(ident)
    if damaged is not None:
        raise DataError(f"stored data set {ident!r} is damaged (its {MANIFEST} cannot be read): import the same "
                        f"data again to repair it, or remove it with `python -m alsim data remove {ident}`")
    raise DataError(f"no stored data set {ident!r} in {store_dir()}; `python -m alsim data list` shows them")


def load_stored(entry: StoredSet) -> Dataset:
    """The arrays of a stored entry, verified against its content key."""
    arrays = {}
    try:
        for part in _ARRAYS:
            path = entry.path / f"{part}.npy"
            if path.exists():
                arrays[part] = np.load(path, allow_pickle=False)
        display, sizes = _display_arrays(entry, len(arrays["labels"]))
        dataset = Dataset(name=entry.id, images=arrays.get("images"), labels=arrays["labels"],
                          class_names=tuple(entry.manifest["class_names"]), test_images=arrays.get("test_images"),
                          test_labels=arrays.get("test_labels"), source=f"alsim-store:{entry.content_key}",
                          embeddings=arrays.get("embeddings"), test_embeddings=arrays.get("test_embeddings"),
                          display_images=display, display_sizes=sizes, file_names=read_file_names(entry))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"stored data set {entry.id} in {entry.path} is unreadable ({exc}); remove the folder and "
                        "import it again") from None
    if dataset.content_key != entry.content_key:
        raise DataError(f"stored data set {entry.id} in {entry.path} has changed since it was imported; remove the "
                        "folder and import it again")
    return dataset


def _display_arrays(entry: StoredSet, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The stored display images (memory-mapped, read-only) and their sizes; (None, None) when the set has
    none (stored before they were kept) or they do not fit its items (the feature images are shown then)."""
    try:
        display = np.load(entry.path / "display_images.npy", mmap_mode="r", allow_pickle=False)
        sizes = np.load(entry.path / "display_sizes.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None, None
    side = display.shape[1] if display.ndim in (3, 4) else 0
    if (display.dtype != np.uint8 or display.ndim not in (3, 4) or len(display) != n or display.shape[2] != side
            or (display.ndim == 4 and display.shape[3] != 3) or sizes.shape != (n, 2) or sizes.dtype.kind not in "iu"
            or (n and (sizes.min() < 1 or sizes.max() > side))):
        return None, None
    return display, sizes


def read_file_names(entry: StoredSet) -> tuple[str | None, ...] | None:
    """Each stored item's source file name (None for rows of arrays), without loading the arrays; None when
    the set keeps none (stored before they were kept) or the file is not a list of one per item."""
    try:
        with open(entry.path / FILE_NAMES, "rb") as handle:
            names = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    n = entry.manifest.get("n")
    if not isinstance(names, list) or len(names) != n or not all(v is None or isinstance(v, str) for v in names):
        return None
    return tuple(names)


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
    """Read a data set from a file or folder and store it (see :func:`alsim.data.importers.read_path`).

    Imports run one at a time per process; ``on_wait()`` is called when this one has to wait.
    """
    with _one_import_at_a_time(on_wait):
        return add(_guarded(lambda: read_path(path, options)), name)


def import_bytes(filename: str, data: bytes, name: str | None = None,
                 options: ImportOptions | None = None, on_wait: Callable[[], None] | None = None) -> StoredSet:
    """Read an uploaded file's bytes and store the data set (see :func:`alsim.data.importers.read_bytes`).

    Imports run one at a time per process; ``on_wait()`` is called when this one has to wait.
    """
    with _one_import_at_a_time(on_wait):
        return add(_guarded(lambda: read_bytes(filename, data, options)), name)


def _guarded(read):
    try:
        return read()
    except MemoryError:
        raise DataError("the data set does not fit in memory; import a smaller one or a smaller image side") from None


def find_removable(ident: str) -> StoredSet:
    """:func:`find`'s entry, or a damaged one (:func:`damaged_entry`) that ``ident`` names: named
    "damaged", with an empty manifest, for :func:`remove` to take away."""
    try:
        return find(ident)
    except DataError:
        damaged = damaged_entry(ident)
        if damaged is None:
            raise
        return StoredSet(id=damaged.name[:SHORT_ID], content_key=damaged.name, name="damaged", path=damaged,
                         manifest={})


def remove(ident: str) -> StoredSet:
    """Delete a stored set (renamed out of the store first, so readers never see half of it).

    Labeling projects sit above the store: remove a set through
    :func:`alsim.labeling.projects.remove_dataset`, which keeps their labels reachable.
    """
    entry = find_removable(ident)
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
