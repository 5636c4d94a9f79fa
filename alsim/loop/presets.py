"""Named configurations: the two seed experiments and their variants."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from alsim.common.errors import ConfigError

if TYPE_CHECKING:  # lazy: for annotations only; a Config loads the data sources and strategies
    from alsim.loop.config import Config

_FASHION_SELFTRAIN = dict(
    dataset="fashion-mnist",
    features="hog",
    model="linear_svc",
    initial="stratified",
    n_initial=600,
    batch_size=1,
    strategy="none",
    self_training="pseudo",
    schedule="linear",
    threshold_start=0.75,
    threshold_end=0.30,
    threshold_steps=10,
    threshold_final=0.10,
    # 11 fits, as published: the model evaluated is the one fitted after the 0.30 moves (about
    # 38,000 labels in the true-label variant). The final 0.10 threshold acts after that fit,
    # so it only changes the result with n_rounds=12 (one more fit on what it moved).
    n_rounds=11,
    evaluation="test",
)

class _Presets(Mapping):
    """Preset name -> ``(description, Config)``; a preset's Config is built when first read.

    Its names are known without building any Config, so a parser lists them (``alsim run
    --help``) without loading the data sources and strategies a Config is validated against.
    """

    def __init__(self, specs: dict[str, tuple[str, dict]]):
        self._specs = specs
        self._built: dict[str, tuple[str, Config]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> tuple[str, Config]:
        description, fields = self._specs[name]
        with self._lock:
            if name not in self._built:
                from alsim.loop.config import Config  # lazy: a Config loads the data sources and strategies

                self._built[name] = (description, Config(**fields))
            return self._built[name]

    def description(self, name: str) -> str:
        """A preset's description, without building its Config."""
        return self._specs[name][0]

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


PRESETS: _Presets = _Presets({
    "digits-tutorial": (
        "Experiment A: LabelSpreading(gamma=0.25, max_iter=20) on the 330-point digits pool, "
        "40 first labels, 5 entropy queries per round, 5 fits",
        {},
    ),
    "digits-compare": (
        "All 1,797 digits, 40 random initial labels, batch 10, 10 query rounds (11 fits)",
        {"dataset": "digits", "initial": "random", "n_initial": 40, "batch_size": 10, "n_rounds": 11},
    ),
    "fashion-selftrain": (
        "Experiment B with honest pseudo-labels: LinearSVC on HOG, 600 stratified labels, "
        "thresholds 0.75..0.30 then 0.10 (exact liblinear; model=linear_svc_newton solves the same objective "
        "faster: time both with `python bench/fashion.py`)",
        _FASHION_SELFTRAIN,
    ),
    "fashion-selftrain-true-labels": (
        "Experiment B as its published code ran it: confident points are moved with their TRUE "
        "labels (an oracle); every move counts as a revealed label",
        {**_FASHION_SELFTRAIN, "self_training": "oracle"},
    ),
    "fashion-supervised": (
        "Fully supervised reference: LinearSVC on HOG with all 60,000 training labels",
        {**_FASHION_SELFTRAIN, "self_training": "off", "initial": "first", "n_initial": 60000, "n_rounds": 1},
    ),
    "fashion-hybrid": (
        "Hybrid labeling (fast Newton solver of LinearSVC's objective): 100 least-confident points to the "
        "annotator per round, points above "
        "0.40 pseudo-labeled (their precision is measured in each round's audit), 600 stratified initial labels",
        {**_FASHION_SELFTRAIN, "model": "linear_svc_newton", "strategy": "least_confident", "batch_size": 100,
         "schedule": "list", "thresholds": (0.40,) * 10, "n_rounds": 11},
    ),
    "fashion-spreading": (
        "LabelSpreading with a 10-nearest-neighbour graph on all 60,000 HOG vectors, "
        "entropy queries, test accuracy",
        {"dataset": "fashion-mnist", "features": "hog", "model": "label_spreading", "kernel": "knn",
         "n_neighbors": 10, "initial": "stratified", "n_initial": 100, "batch_size": 50, "n_rounds": 6,
         "evaluation": "test"},
    ),
})


def get_preset(name: str) -> Config:
    """The :class:`Config` of a named preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name][1]


# --------------------------------------------------------------------------- warm
@dataclass(frozen=True)
class WarmStep:
    """One step of :func:`warm`: what was prepared, for which preset, and how long it took."""

    preset: str
    step: str
    detail: str
    seconds: float


def _needs_fashion(config: Config) -> bool:
    return config.dataset == "fashion-mnist"


def warm(names: Sequence[str] | None = None, skip_fashion: bool = False,
         on_skip: Callable[[str, str], None] | None = None) -> Iterator[WarmStep]:
    """Prepare, ahead of a demo, everything the presets' runs would otherwise build on first use.

    Per preset: load the data set, compute its pool features (HOG is kept on disk), build
    the label-spreading graph (large knn graphs keep their neighbour lists on disk), and
    look up the test points' neighbours on that graph when the preset evaluates on the
    test split (kept on disk too). Steps a preset shares with an earlier one are instant.

    Parameters
    ----------
    names : preset names, default all of :data:`PRESETS`
    skip_fashion : leave out presets on Fashion-MNIST
    on_skip : called with (preset, reason) for a preset left out (e.g. its data is absent)

    Yields
    ------
    WarmStep, as each step finishes
    """
    import numpy as np

    # lazy: warming loads the data and the loop; listing the presets needs neither
    from alsim.data.datasets import fashion_available
    from alsim.data.sources import load_source
    from alsim.learn.graph import predict_new
    from alsim.loop.pool import graph_for, prepare

    for name in names or list(PRESETS):
        config = get_preset(name)
        if _needs_fashion(config) and skip_fashion:
            if on_skip:
                on_skip(name, "--skip-fashion")
            continue
        if _needs_fashion(config) and not fashion_available():
            if on_skip:
                on_skip(name, "the Fashion-MNIST files are not there (sudo apt-get install dataset-fashion-mnist, "
                              "or set ALSIM_DATA_DIR)")
            continue
        started = time.perf_counter()
        dataset = load_source(config.dataset)
        n = len(dataset.labels)
        yield WarmStep(name, "data", f"{config.dataset}: {n:,} images", time.perf_counter() - started)
        started = time.perf_counter()
        prepared = prepare(config)
        yield WarmStep(name, "features", f"{config.features}, {prepared.features.shape[0]:,} x "
                       f"{prepared.features.shape[1]}", time.perf_counter() - started)
        if config.model != "label_spreading":
            continue
        started = time.perf_counter()
        graph = graph_for(config, prepared)
        what = f"k={config.n_neighbors}" if config.kernel == "knn" else f"gamma={config.gamma}"
        yield WarmStep(name, "graph", f"{config.kernel} ({what}), {graph.n:,} points", time.perf_counter() - started)
        if config.kernel == "knn" and config.evaluation in ("test", "both") and prepared.test_features is not None:
            started = time.perf_counter()
            predict_new(graph, np.zeros((graph.n, prepared.n_classes)), prepared.test_features)
            yield WarmStep(name, "test neighbours", f"{len(prepared.test_features):,} test points",
                           time.perf_counter() - started)


def default_config(ident: str):
    """A starting config for a stored set.

    Its best feature kind (precomputed embeddings, else HOG, else raw pixels); label
    spreading on a 10-nearest-neighbour graph (no kernel width to tune, fast on thousands
    of points); stratified initial labels, two per class; up to 40 rounds of one query
    per class (at least 5); evaluation on the test split if there is one, else on the unlabeled pool.
    """
    from alsim.data import store  # lazy: the data store loads numpy; listing the presets does not need it
    from alsim.loop.config import Config  # lazy: as in _Presets

    entry = store.find(ident)
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
