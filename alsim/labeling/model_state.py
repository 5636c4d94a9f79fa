"""What a labeling project's refit needs, kept on disk between calls.

A proposal (:func:`alsim.labeling.projects.next_batch`) refits the project's model on the
stored labels and asks the strategy. The labels change with every call; the pool's features
and, for label spreading, its graph do not: they depend on the data and the config alone. So
they are kept in the disk cache (:mod:`alsim.storage.disk`: each file verified by its SHA-256
sidecar, shape, dtype and values before it is used), and a command-line call that proposes a
batch reads them instead of loading the data set, computing features and building the graph
(which also loads scikit-learn). A change of labels never invalidates them; the refit itself
(label spreading on the cached graph, or a supervised fit on the cached features) runs on every
call, so a proposal is the same whether its inputs were read or computed.

The cache key is a digest of what the pool and graph depend on: the data set's name and
where it is read from (:meth:`alsim.data.sources.SourceInfo.locator`; a stored set's name is
its content key), the pool, feature and kernel settings, and the versions of alsim, NumPy,
SciPy and scikit-learn that computed them. Only sources whose name and locator pin their data
are cached: the built-in ones (digits comes with scikit-learn, whose version is in the key;
Fashion-MNIST's locator names its files with their sizes and times) and the sets of the data
store (content-addressed). Any other registered source, and a user's ONNX model (which the pool
reads for its digest), take the uncached path.

Files, under ``<cache dir>/labeling/<key>-<part>.npy``: ``features`` (n, d), ``labels`` (n,)
(the hidden truth where known, -1 elsewhere), ``meta`` (JSON bytes: the data's content key,
class names, the graph's disk name), the graph (``graph`` (n, n) for rbf; ``graph-data``,
``graph-indices``, ``graph-indptr`` for knn) and, written last, ``head`` (the shapes), so a
set missing any part is a miss.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

import numpy as np

from alsim.common.errors import DataError
from alsim.common.version import VERSION
from alsim.data import store as datastore
from alsim.data.datasets import Dataset
from alsim.data.sources import source_info
from alsim.learn.graph import SpreadingGraph, ready_to_spread
from alsim.loop.config import Config
from alsim.loop.pool import Prepared, graph_for, kernel_key, pool_key, prepare
from alsim.storage import disk as diskcache
from alsim.storage.memory import shared_cache

FORMAT = 1
_HEAD = 8  # n, d, n_classes, meta bytes, graph kind, nnz, index bytes, format
_NO_GRAPH, _DENSE, _SPARSE = 0, 1, 2
#: Built-in sources, whose name and locator pin their data.
BUILT_IN = ("digits", "digits-tutorial", "fashion-mnist")


def state_key(config: Config) -> str | None:
    """The digest naming a config's cached state; None for a config not cached here (see the module notes)."""
    if config.features == "onnx" or not _pinned(config.dataset):
        return None
    info = source_info(config.dataset)
    parts = {
        "format": FORMAT, "alsim": VERSION, "numpy": np.__version__, "scipy": _version("scipy"),
        "scikit-learn": _version("scikit-learn"), "dataset": config.dataset, "locator": info.locator(),
        "pool_size": config.pool_size, "features": config.features,
        "embed_side": config.embed_side if config.features == "pretrained" else None,
        "pca_components": config.pca_components, "standardize": config.standardize,
        "imbalance": float(config.imbalance),
        "kernel": list(kernel_key(config)) if config.model == "label_spreading" else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:40]


def _pinned(dataset: str) -> bool:
    """Whether the source's name and locator pin its data: a built-in one, or a set of the data store."""
    if dataset in BUILT_IN:
        return True
    try:
        return datastore.find(dataset).id == dataset
    except (DataError, KeyError, ValueError, OSError):
        return False


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def refit_pool(config: Config, with_model: bool = True) -> Prepared:
    """The prepared pool a refit of ``config`` runs on, read from the disk cache when it is there.

    On a hit the :class:`~alsim.loop.pool.Prepared` stands for the pool alone: its data set
    holds the pool's truth and class names, no images (a proposal needs none), and its key is
    the one :func:`~alsim.loop.pool.prepare` gives, so strategies' caches and the graph are
    shared with runs of the same pool. The label-spreading graph read with it is put in the
    process's graph cache under that key, where :func:`~alsim.loop.pool.graph_for` finds it.
    On a miss the pool is prepared (and its graph built) as usual and both are written to the
    cache. Loaded once per process (memory cache ``prepared``).

    ``with_model=False`` (a project without a model yet: its first batch needs the features alone)
    neither reads nor builds the graph; a state written then holds none, and the first refit
    that needs one prepares the pool again and writes it whole.
    """
    key = state_key(config)
    if key is None:
        return prepare(config)
    graph = with_model and config.model == "label_spreading"
    return shared_cache("prepared").get_or_build(("labeling state", key, graph),
                                                 lambda: _load_or_build(config, key, graph))


def _folder():
    return diskcache.cache_dir() / "labeling"


def _path(key: str, part: str):
    return _folder() / f"{key}-{part}.npy"


def _load_or_build(config: Config, key: str, with_graph: bool) -> Prepared:
    loaded = _load(config, key, with_graph)
    if loaded is not None:
        prepared, graph = loaded
        if graph is not None:
            shared_cache("graphs").get_or_build(prepared.key + kernel_key(config), lambda: ready_to_spread(graph))
        return prepared
    prepared = prepare(config)
    _save(key, prepared, graph_for(config, prepared) if with_graph else None)
    return prepared


def _save(key: str, prepared: Prepared, graph: SpreadingGraph | None) -> None:
    import scipy.sparse as sp  # SciPy: only when a graph is written

    features = np.ascontiguousarray(prepared.features, dtype=np.float64)
    meta = json.dumps({"content_key": prepared.key[0], "class_names": list(prepared.class_names),
                       "disk_cache_name": None if graph is None else graph.disk_cache_name,
                       "backend": None if graph is None else graph.backend}).encode()
    parts = {"features": features, "labels": np.asarray(prepared.labels, dtype=np.int64),
             "meta": np.frombuffer(meta, dtype=np.uint8)}
    kind, nnz, index_bytes = _NO_GRAPH, 0, 0
    if graph is not None and sp.issparse(graph.matrix):
        matrix = graph.matrix.tocsr()
        kind, nnz, index_bytes = _SPARSE, int(matrix.nnz), int(matrix.indices.dtype.itemsize)
        parts.update({"graph-data": matrix.data, "graph-indices": matrix.indices, "graph-indptr": matrix.indptr})
    elif graph is not None:
        kind = _DENSE
        parts["graph"] = np.asarray(graph.matrix, dtype=np.float64)
    for part, values in parts.items():
        if not diskcache.save_array(_path(key, part), values):
            return
    head = np.array([len(features), features.shape[1], prepared.n_classes, len(meta), kind, nnz, index_bytes, FORMAT],
                    dtype=np.int64)
    diskcache.save_array(_path(key, "head"), head)  # last: a state without its head is a miss


def _load(config: Config, key: str, with_graph: bool) -> tuple[Prepared, SpreadingGraph | None] | None:
    head = diskcache.load_array(_path(key, "head"), (_HEAD,), np.int64)
    if head is None or int(head[7]) != FORMAT:
        return None
    n, d, n_classes, meta_bytes, kind, nnz, index_bytes = (int(v) for v in head[:7])
    if (with_graph and kind == _NO_GRAPH) or index_bytes not in (0, 4, 8):
        return None
    meta_raw = diskcache.load_array(_path(key, "meta"), (meta_bytes,), np.uint8)
    if meta_raw is None:
        return None
    try:
        meta = json.loads(meta_raw.tobytes())
        class_names = tuple(str(name) for name in meta["class_names"])
        content_key = str(meta["content_key"])
    except (ValueError, KeyError, TypeError):
        return None
    features = diskcache.load_array(_path(key, "features"), (n, d), np.float64, check=diskcache.finite)
    labels = diskcache.load_array(_path(key, "labels"), (n,), np.int64,
                                  check=lambda v: None if v.size == 0 or (v.min() >= -1 and v.max() < n_classes)
                                  else "labels outside [-1, n_classes)")
    if features is None or labels is None or len(class_names) != n_classes:
        return None
    graph = None
    if not with_graph:
        pass
    elif kind == _DENSE:
        matrix = diskcache.load_array(_path(key, "graph"), (n, n), np.float64, check=diskcache.finite)
        if matrix is None:
            return None
        graph = _graph(config, matrix, features, meta)
    elif kind == _SPARSE:
        graph = _sparse_graph(config, key, n, nnz, index_bytes, features, meta)
        if graph is None:
            return None
    dataset = Dataset(name=config.dataset, images=None, labels=labels, class_names=class_names,
                      source=f"the disk cache of labeling state {key}")
    prepared = Prepared(dataset, np.arange(n), features, labels, None, None, pool_key(config, content_key))
    return prepared, graph


def _sparse_graph(config: Config, key: str, n: int, nnz: int, index_bytes: int, features: np.ndarray,
                  meta: dict) -> SpreadingGraph | None:
    import scipy.sparse as sp  # SciPy: only when a knn graph is read

    index_type = np.int32 if index_bytes == 4 else np.int64
    data = diskcache.load_array(_path(key, "graph-data"), (nnz,), np.float64, check=diskcache.finite)
    indices = diskcache.load_array(_path(key, "graph-indices"), (nnz,), index_type, check=diskcache.indices_below(n))
    indptr = diskcache.load_array(_path(key, "graph-indptr"), (n + 1,), index_type,
                                  check=lambda v: None if v[0] == 0 and v[-1] == nnz and (np.diff(v) >= 0).all()
                                  else "row pointers out of order")
    if data is None or indices is None or indptr is None:
        return None
    return _graph(config, sp.csr_matrix((data, indices, indptr), shape=(n, n)), features, meta)


def _graph(config: Config, matrix, features: np.ndarray, meta: dict) -> SpreadingGraph:
    """The graph :func:`alsim.learn.graph.build_graph` built, read back: the same matrix and features (read-only),
    no search index (:func:`alsim.learn.graph.predict_new` fits one if ever asked)."""
    return SpreadingGraph(matrix=matrix, kernel=config.kernel, gamma=float(config.gamma),
                          n_neighbors=int(config.n_neighbors), build_seconds=0.0, features=features,
                          disk_cache_name=meta.get("disk_cache_name"), backend=meta.get("backend"))
