"""What the features can reach: the run's model with every label, beside chance.

A verdict "better than random" means little when no strategy can get far from chance.
:func:`ceiling` measures the accuracy of a run's model with every label
(:func:`alsim.evidence.compare.full_label_accuracy`) and chance (the largest class's share),
and says in plain words when the two are close (:mod:`alsim.evidence.chance`).
:func:`probe_features` measures each feature kind a data set offers with a quick linear probe,
so a page can suggest the best one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alsim.common.errors import DataError
from alsim.data.datasets import Dataset
from alsim.data.sources import load_source, source_info
from alsim.evidence.chance import (
    ceiling_sentence,
    ceiling_warning,
    chance_level,
    chance_score,
    guess_floor,
    near_chance,
)
from alsim.evidence.compare import full_label_accuracy
from alsim.learn.features import compute_features
from alsim.loop.annotators import simulated_oracle
from alsim.loop.config import Config
from alsim.loop.pool import data_key, prepare
from alsim.storage.memory import shared_cache

__all__ = ["ANNOTATOR_FIELDS", "CEILING_FIELDS", "Ceiling", "FeatureProbe", "PROBE_FOLDS", "PROBE_POINTS", "QUICK_POOL",
           "annotators_accuracy", "best_probe", "ceiling", "ceiling_key", "probe_features"]

#: The config fields the accuracy with every label depends on (with the data's content):
#: the pool and its features, the model and its settings, where it is scored. The seed,
#: the strategy, the initial labels, the budget, self-training and the stopping rules do
#: not change it.
CEILING_FIELDS = ("dataset", "pool_size", "features", "pca_components", "standardize", "model", "kernel", "gamma",
                  "n_neighbors", "alpha", "max_iter", "tol", "C", "evaluation", "imbalance", "metric")


@dataclass(frozen=True)
class Ceiling:
    """The run's model with every label, and chance, on the same points.

    Attributes
    ----------
    ceiling : float or None
        Accuracy with every label: on the test split when the run is scored there, else
        5-fold cross-validated on the pool (:func:`alsim.evidence.compare.full_label_accuracy`);
        None when it was not measured (``ceiling(config, measure=False)``).
    chance : float
        The largest class's share of the labels scored (the test split's, or the pool's known ones).
    evaluated_on : str
        ``test`` or ``pool``.
    n : int
        Points scored.
    warning : str or None
        Plain words when the ceiling is near chance (:func:`alsim.evidence.chance.ceiling_warning`).
    """

    ceiling: float | None
    chance: float
    evaluated_on: str
    n: int
    warning: str | None = None
    metric: str = "accuracy"  # what ``ceiling`` and ``chance`` measure (Config.metric)
    #: The smallest class's share of the scored labels (accuracy only, else None): any answer that
    #: ignores the image gets at least this (:func:`alsim.evidence.chance.guess_floor`).
    floor: float | None = None
    #: With noisy simulated annotators (``oracle_noise`` > 0): the same model fitted on every pool
    #: label as the annotators give it, scored against the truth like ``ceiling`` (None otherwise).
    #: What labeling the whole pool with these annotators would reach.
    annotators: float | None = None

    @property
    def _chance_words(self) -> str:
        if self.metric == "accuracy":
            return "the largest class's share"
        return f"the {self.metric.replace('_', ' ').replace('macro f1', 'macro-F1')} of always guessing the largest class"

    def sentence(self) -> str:
        """``'ceiling 97.9% (the model with every label), chance 10.2%'``."""
        return ceiling_sentence(self.ceiling, self.chance, self.annotators)

    def how(self) -> str:
        """Where both were measured, in words."""
        if self.ceiling is None:
            return (f"chance is {self._chance_words} of the {self.n:,} labeled "
                    f"{'test' if self.evaluated_on == 'test' else 'pool'} images; the ceiling costs one more fit "
                    f"on every label")
        noisy = ("" if self.annotators is None else
                 "; with every label from these annotators: the same fit on every pool label as the simulated "
                 "annotators answer it, scored against the true labels (noisy labels can leave it below a "
                 "loop's accuracy with fewer labels)")
        if self.evaluated_on == "test":
            return f"measured on the {self.n:,} test images{noisy}; chance is {self._chance_words} of them"
        return (f"5-fold cross-validated on the {self.n:,} labeled pool images{noisy}; chance is "
                f"{self._chance_words} of them")

    def help_text(self) -> str:
        """Where the numbers of :meth:`sentence` were measured, as one sentence ("Both ..." or "All three ...")."""
        if self.ceiling is None:
            return self.how().capitalize() + "."
        return f"{'Both' if self.annotators is None else 'All three'} {self.how()}."

    def near_chance(self, accuracy: float) -> bool:
        """Whether an accuracy measured like this one is near chance (:func:`alsim.evidence.chance.near_chance`)."""
        return near_chance(accuracy, self.chance, self.n)

    def to_dict(self) -> dict:
        return {"ceiling": self.ceiling, "chance": self.chance, "evaluated_on": self.evaluated_on, "n": self.n,
                "warning": self.warning, "floor": self.floor, "annotators": self.annotators}


def reference_config(config: Config) -> Config:
    """``config`` with every field the ceiling does not depend on at its default (seed 0 among them)."""
    return Config(**{name: getattr(config, name) for name in CEILING_FIELDS})


def ceiling_key(config: Config) -> tuple:
    """The shared-cache key of a config's ceiling: the fields it depends on and the data's content."""
    reference = reference_config(config)
    return ("ceiling", reference, data_key(reference))


#: Pools up to this size get their ceiling with every run on the live page; larger ones on
#: request: one more fit on every label takes 50 s with LinearSVC on Fashion-MNIST's 60,000
#: HOG vectors (6 s with its Newton solver), on a 2-core machine.
QUICK_POOL = 5_000


def ceiling(config: Config, measure: bool = True) -> Ceiling:
    """The accuracy of ``config``'s model with every label, chance on the same points, and a warning.

    Computed once per server for every config that shares :data:`CEILING_FIELDS` and data
    (``shared_cache("values")``). The seed is set to 0: the folds are fixed anyway, and only
    LinearSVC's solver reads it.

    Parameters
    ----------
    config : Config
    measure : bool
        False: the ceiling only if it was measured before; otherwise a :class:`Ceiling`
        whose ``ceiling`` is None (chance alone costs a count of the labels).

    Returns
    -------
    Ceiling
    """
    key = ceiling_key(config)
    values = shared_cache("values")
    if not measure:
        known = values.get(key)
        if known is not None:
            return _with_annotators(known, config, measure=False)
        chance, evaluated_on, n, floor = _chance(reference_config(config))
        return Ceiling(ceiling=None, chance=chance, evaluated_on=evaluated_on, n=n, metric=config.metric, floor=floor)
    return _with_annotators(values.get_or_build(key, lambda: _measure(reference_config(config))), config)


#: The config fields the annotators' answers depend on (besides the pool): with them and
#: :data:`CEILING_FIELDS`, the accuracy with every label as the annotators give it.
ANNOTATOR_FIELDS = ("oracle_noise", "oracle_noise_model", "annotators", "relabel", "seed")


def _with_annotators(base: Ceiling, config: Config, measure: bool = True) -> Ceiling:
    """``base`` with :attr:`Ceiling.annotators` when ``config``'s annotators are noisy (one more fit, cached)."""
    if config.oracle_noise == 0 or base.ceiling is None:
        return base
    reference = reference_config(config).replace(**{name: getattr(config, name) for name in ANNOTATOR_FIELDS})
    key = ("ceiling-annotators", reference, data_key(reference))
    values = shared_cache("values")
    accuracy = values.get_or_build(key, lambda: annotators_accuracy(reference)) if measure else values.get(key)
    return base if accuracy is None else replace(base, annotators=accuracy)


def annotators_accuracy(config: Config) -> float:
    """The accuracy of ``config``'s model fitted on every known pool label as its simulated annotators
    answer it (:func:`alsim.loop.annotators.simulated_oracle`: the answers the loop would reveal),
    scored against the truth like :func:`alsim.evidence.compare.full_label_accuracy`."""
    prepared = prepare(config)
    ids = np.flatnonzero(prepared.labels >= 0)
    given = np.full(len(prepared.labels), -1, dtype=np.int64)
    given[ids] = simulated_oracle(config, prepared).answer(ids)[0]
    return full_label_accuracy(config, given=given)


def _chance(config: Config) -> tuple[float, str, int, float | None]:
    """Chance on the points a ceiling is scored on, where they are, how many, and the guess floor."""
    prepared = prepare(config)
    on_test = config.evaluation in ("test", "both") and prepared.test_labels is not None
    labels = prepared.test_labels if on_test else prepared.labels
    floor = guess_floor(labels, prepared.n_classes) if config.metric == "accuracy" else None
    return (chance_score(labels, config.metric), "test" if on_test else "pool", int(np.count_nonzero(labels >= 0)),
            floor)


def _measure(config: Config) -> Ceiling:
    chance, evaluated_on, n, floor = _chance(config)
    accuracy = full_label_accuracy(config)
    return Ceiling(ceiling=accuracy, chance=chance, evaluated_on=evaluated_on, n=n,
                   warning=ceiling_warning(accuracy, chance, n, floor), metric=config.metric, floor=floor)


# --------------------------------------------------------------------------- feature probe
#: The probe's sample: at most this many labeled pool points, and its cross-validation folds.
PROBE_POINTS = 1000
PROBE_FOLDS = 3


@dataclass(frozen=True)
class FeatureProbe:
    """One feature kind measured by a linear probe.

    Attributes
    ----------
    features : str
    accuracy, std : float
        Mean and standard deviation over the folds of ``cross_val_score``.
    chance : float
        The largest class's share of the sample.
    n : int
        Labeled points in the sample.
    dims : int
        Feature dimensions.
    seconds : float
        Computing the features of the sample and the cross-validation.
    """

    features: str
    accuracy: float
    std: float
    chance: float
    n: int
    dims: int
    seconds: float

    def row(self) -> dict:
        return {"features": self.features, "accuracy (3-fold)": self.accuracy, "± std": self.std,
                "chance": self.chance, "points": self.n, "dimensions": self.dims, "seconds": self.seconds}


def _sample_features(dataset: Dataset, kind: str, rows: np.ndarray) -> np.ndarray:
    """Features of the sampled rows only (HOG of a thousand images, not of the whole set)."""
    if kind == "precomputed":
        return np.asarray(dataset.embeddings[rows], dtype=np.float64)
    sample = Dataset(name=dataset.name, images=dataset.images[rows], labels=dataset.labels[rows],
                     class_names=dataset.class_names)
    return compute_features(sample, kind, use_cache=False)[0]


def probe_kinds(name: str) -> tuple[str, ...]:
    """The feature kinds :func:`probe_features` measures: those the data set has by itself ('onnx'
    needs a model file named in a config)."""
    return tuple(kind for kind in source_info(name).features if kind != "onnx")


def probe_features(name: str, max_points: int | None = None, folds: int = PROBE_FOLDS) -> tuple[FeatureProbe, ...]:
    """Each feature kind data set ``name`` offers, measured by a linear probe on a sample of its labeled points.

    The probe is scikit-learn's ``LogisticRegression`` after a ``StandardScaler``, scored by
    ``cross_val_score`` with ``folds`` stratified folds on up to ``max_points`` labeled pool
    points (drawn with a fixed generator, the same for every kind). It is a quick, common
    yardstick of how linearly separable the classes are in each kind of features, not the
    run's model: :func:`ceiling` measures that. Cached per data content.

    Returns
    -------
    tuple of FeatureProbe, in the source's order of feature kinds
    """
    max_points = PROBE_POINTS if max_points is None else max_points
    dataset = load_source(name)
    kinds = probe_kinds(name)
    key = ("probe", dataset.content_key, kinds, max_points, folds)
    return shared_cache("values").get_or_build(key, lambda: _probe(dataset, kinds, max_points, folds))


def _probe(dataset: Dataset, kinds, max_points: int, folds: int) -> tuple[FeatureProbe, ...]:
    known = np.flatnonzero(dataset.labels >= 0)
    rows = np.sort(np.random.default_rng(0).choice(known, min(max_points, len(known)), replace=False))
    y = dataset.labels[rows]
    counts = np.bincount(y)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        raise DataError(f"the feature probe needs two or more classes with 2 or more labeled images each; the sample "
                        f"of {len(y)} labeled images has {len(present)} class(es), the smallest with "
                        f"{int(present.min()) if len(present) else 0}")
    splits = StratifiedKFold(min(folds, int(present.min())), shuffle=True, random_state=0)
    out = []
    for kind in kinds:
        started = time.perf_counter()
        x = _sample_features(dataset, kind, rows)
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        scores = cross_val_score(probe, x, y, cv=splits)
        out.append(FeatureProbe(kind, float(scores.mean()), float(scores.std()), chance_level(y), len(y),
                                int(x.shape[1]), time.perf_counter() - started))
    return tuple(out)


def best_probe(probes) -> FeatureProbe | None:
    """The probe with the highest accuracy (the first of equals), or None."""
    return max(probes, key=lambda p: p.accuracy, default=None)
