"""Data sources: what a data set has, registered by name, loaded once per process.

A source is described by what it has, not by its name: images or not, the feature kinds
it can provide (``raw`` pixels, ``hog``, ``precomputed`` embeddings), whether its labels
are known, partly known or unknown, its class names, whether it has a test split. Config
validation asks the source ("features 'hog' is not available", "evaluation 'test' needs a held-out
test split") instead of comparing names. A loaded :class:`alsim.data.datasets.Dataset` carries a
``content_key``, a hash of the data, which keys every cache.

Built-ins: ``digits``, ``digits-tutorial`` (experiment A's pool) and ``fashion-mnist``.
More sources are added with :func:`register_source`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from alsim.common.errors import SourceError
from alsim.data import store
from alsim.data.datasets import (
    FASHION_FILES,
    FASHION_INSTALL_HINT,
    IMAGE_FEATURE_KINDS,
    TUTORIAL_POOL,
    Dataset,
    fashion_available,
    fashion_dir,
    image_feature_kinds,
    load_digits_dataset,
    load_fashion_mnist,
)
from alsim.storage.memory import shared_cache

HOG_IMAGE_SHAPE = (28, 28)  # experiment B's descriptor window
FEATURE_KINDS = ("raw", "hog", "colorhist", "pretrained", "onnx", "precomputed")



@dataclass(frozen=True)
class SourceInfo:
    """What a registered data source has, known without loading it.

    Attributes
    ----------
    name : str
        The config's ``dataset`` value.
    description : str
    load : callable() -> Dataset
        Reads the data (called once per :attr:`locator`; the result is kept in memory).
    features : tuple of str
        Feature kinds it can provide, among :data:`FEATURE_KINDS`.
    image_shape : tuple of int or None
        Shape of one image, or None for a source without images.
    has_test : bool
        Whether it has a held-out test split.
    labels : str
        ``known``, ``partial`` or ``unknown``.
    fixed_pool : int or None
        The pool is fixed at this many points (``pool_size`` must stay 0).
    available : callable() -> bool
        Whether the data is present on this machine.
    missing_hint : str
        How to get the data when it is not.
    locator : callable() -> str
        Where the data is read from now (a folder); a new location means a new load.
    title : str
        The name people gave it (a stored set's name at import; empty: :attr:`name` says it).
    """

    name: str
    description: str
    load: Callable[[], Dataset]
    features: tuple[str, ...]
    image_shape: tuple[int, ...] | None
    has_test: bool
    labels: str = "known"
    fixed_pool: int | None = None
    available: Callable[[], bool] = field(default=lambda: True)
    missing_hint: str = ""
    locator: Callable[[], str] = field(default=lambda: "")
    title: str = ""

    def offered(self) -> tuple[str, ...]:
        """Its feature kinds, with every image feature kind registered since it was (for sources of images)."""
        if self.image_shape is None:
            return tuple(self.features)
        return tuple(self.features) + tuple(k for k in image_feature_kinds() if k not in self.features)

    def check(self, features: str, evaluation: str, pool_size: int) -> None:
        """Raise :class:`SourceError` if this source cannot serve the requested setting."""
        if features not in self.offered():
            raise SourceError(f"features {features!r} is not available for dataset {self.name!r} "
                              f"(allowed: {', '.join(map(repr, self.features))})")
        if evaluation in ("test", "both") and not self.has_test:
            raise SourceError(f"evaluation {evaluation!r} needs a held-out test split; dataset {self.name!r} "
                              "has none (allowed: 'pool')")
        if self.fixed_pool is not None and pool_size != 0:
            raise SourceError(f"pool_size must be 0 for dataset {self.name!r} (its pool is fixed at "
                              f"{self.fixed_pool}), got {pool_size}")


_SOURCES: dict[str, SourceInfo] = {}
_LOCK = threading.Lock()


def register_source(info: SourceInfo, replace: bool = False) -> SourceInfo:
    """Add a source to the registry (``replace`` to update one of the same name)."""
    unknown = set(info.features) - set(image_feature_kinds()) - {"precomputed"}
    if unknown:
        raise ValueError(f"unknown feature kinds {sorted(unknown)}; known: {FEATURE_KINDS}")
    with _LOCK:
        if info.name in _SOURCES and not replace:
            raise ValueError(f"data source {info.name!r} is already registered")
        _SOURCES[info.name] = info
    return info


_STORED_NAMES: set[str] = set()
_STORED_STAMP: list = [None]


def stored_source_infos() -> list:
    """A :class:`SourceInfo` per set in the data store (name: its short id)."""
    infos = []
    for entry in store.list_sets():
        features = entry.features
        if not features:
            continue
        shape = entry.manifest.get("image_shape")
        infos.append(SourceInfo(
            name=entry.id,
            description=entry.description,
            load=(lambda e=entry: store.load_stored(e)),
            features=features,
            image_shape=None if shape is None else tuple(int(s) for s in shape),
            has_test=bool(entry.manifest.get("n_test")),
            labels=str(entry.manifest.get("labels", "known")),
            available=(lambda e=entry: (e.path / store.MANIFEST).is_file()),
            missing_hint=f"import it again with `python -m alsim data add {entry.manifest.get('source_file', 'PATH')}`",
            locator=(lambda e=entry: str(e.path)),
            title=entry.name,
        ))
    return infos


def register_stored_sources() -> None:
    """Register the data sets imported into the local store (:mod:`alsim.data.store`) as sources.

    Called by :func:`source_names` and :func:`source_info`; the store is re-read only when
    it changed (an import or a removal changes its folder's time), and sets removed from it
    are unregistered. An unreadable store registers nothing.
    """
    stamp = store.store_stamp()
    if stamp == _STORED_STAMP[0]:
        return
    try:
        infos = stored_source_infos()
    except OSError:
        infos = []
    with _LOCK:
        previous = set(_STORED_NAMES)
        for name in previous - {info.name for info in infos}:
            _SOURCES.pop(name, None)
        _STORED_NAMES.clear()
        for info in infos:
            if info.name not in _SOURCES or info.name in previous:  # never shadow another source
                _SOURCES[info.name] = info
                _STORED_NAMES.add(info.name)
        _STORED_STAMP[0] = stamp


def source_names() -> tuple[str, ...]:
    """Registered data-set names, built-ins first, then the stored sets (oldest first)."""
    register_stored_sources()
    with _LOCK:
        return tuple(_SOURCES)


def source_labels() -> dict[str, str]:
    """Each registered name (:func:`source_names`' order) as a picker shows it: a stored set as
    "its title (its id)", any other by its name."""
    register_stored_sources()
    with _LOCK:
        infos = list(_SOURCES.values())
    return {i.name: f"{i.title} ({i.name})" if i.title and i.title != i.name else i.name for i in infos}


def source_info(name: str) -> SourceInfo:
    """The registered source called ``name`` (KeyError naming the registered ones)."""
    register_stored_sources()
    with _LOCK:
        info = _SOURCES.get(name)
    if info is None:
        raise KeyError(f"dataset must be one of {', '.join(map(repr, source_names()))}, got {name!r}")
    return info


def load_source(name: str) -> Dataset:
    """The data set of a registered source, loaded once per location and kept in memory.

    Two sessions asking at once share one load (see :class:`alsim.storage.memory.SharedCache`);
    the arrays handed out are read-only.
    """
    info = source_info(name)
    return shared_cache("datasets").get_or_build((name, info.locator()), info.load)


def _images_features(shape: tuple[int, ...]) -> tuple[str, ...]:
    return IMAGE_FEATURE_KINDS


register_source(SourceInfo(
    name="digits",
    description="scikit-learn's 1,797 handwritten digits, 8x8 pixels, 10 classes",
    load=lambda: load_digits_dataset(False),
    features=_images_features((8, 8)),
    image_shape=(8, 8),
    has_test=False,
))
register_source(SourceInfo(
    name="digits-tutorial",
    description=f"experiment A's pool: digits shuffled with RandomState(0), the first {TUTORIAL_POOL}",
    load=lambda: load_digits_dataset(True),
    features=_images_features((8, 8)),
    image_shape=(8, 8),
    has_test=False,
    fixed_pool=TUTORIAL_POOL,
))
register_source(SourceInfo(
    name="fashion-mnist",
    description="Fashion-MNIST: 60,000 training and 10,000 test images, 28x28 grayscale, 10 classes",
    load=lambda: load_fashion_mnist(fashion_dir()),
    features=_images_features(HOG_IMAGE_SHAPE),
    image_shape=HOG_IMAGE_SHAPE,
    has_test=True,
    available=lambda: fashion_available(),
    missing_hint=FASHION_INSTALL_HINT,
    locator=lambda: _fashion_locator(),
))


def _fashion_locator() -> str:
    """The folder and the files' sizes and times: a replaced file means a new load."""
    folder = fashion_dir()
    parts = [str(folder.resolve())]
    for name in FASHION_FILES.values():
        try:
            stat = (folder / name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:missing")
    return "|".join(parts)
