"""Simulated annotators: noisy labels, several annotators per image, a majority vote.

The simulation's oracle reveals the hidden truth; with ``oracle_noise`` > 0 each annotator
gives a wrong label with some chance, and with ``annotators`` = K every queried image is
labeled by K of them and the majority is stored. Three noise models (``oracle_noise_model``):

- ``uniform``: every image's chance of a wrong label is the rate; the wrong label is drawn
  uniformly from the other classes.
- ``confusable``: the same chance, but the wrong label follows the classes a reference
  model confuses: the row of the image's true class in the row-normalised off-diagonal of
  that model's confusion matrix (:func:`confusion_weights`).
- ``difficulty``: the chance rises with the entropy of the reference model's prediction for
  the image, scaled so that its mean over the pool is the rate (:func:`difficulty_rates`);
  the wrong label is drawn from the reference model's probabilities of the other classes.

The reference model is a logistic regression's out-of-fold prediction on every known label
of the pool (:func:`alsim.learn.models.cross_validated_proba`): computed once per pool and
kept in the shared ``values`` cache under the pool's key. It is the same model whatever the
run's model is, so the annotators do not change when the learner does.

Every draw comes from ``default_rng([seed, 7, image])``: annotator j of an image uses row j
of that generator's table, whatever the number of annotators, so a run is reproducible, two
strategies of a comparison (same seed) get the same answers for the same image, and a
higher rate only adds wrong answers (an annotator wrong at 0.1 is wrong at 0.3 too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alsim.loop.config import MAX_ANNOTATORS, Config
from alsim.loop.oracles import SimulatedOracle
from alsim.loop.pool import Prepared
from alsim.storage.memory import shared_cache

#: Stream tag of the annotators' draws: ``default_rng([seed, 7, image])`` (0 is the initial
#: labels', 1 the loop's strategy draws).
STREAM = 7
#: Rows of each image's table: one per possible annotator (K, plus one for a relabel), then
#: the tie-break.
_ROWS = MAX_ANNOTATORS + 2
_TIE_ROW = MAX_ANNOTATORS + 1


@dataclass(frozen=True, eq=False)
class LabelNoise:
    """How a simulated annotator errs on each pool image.

    Attributes
    ----------
    error : ndarray (n_pool,)
        The chance of a wrong label, per image.
    wrong : ndarray (n_pool, n_classes) or None
        Per image, the distribution of the wrong label (zero at the true class, rows
        summing to 1); None: uniform over the other classes.
    """

    error: np.ndarray
    wrong: np.ndarray | None = None


def reference_proba(prepared: Prepared) -> np.ndarray:
    """The reference model's out-of-fold probabilities on the pool, (n_pool, n_classes), cached per pool."""
    return shared_cache("values").get_or_build(
        ("reference_proba", prepared.key),
        lambda: _cross_validated_proba(prepared.features, prepared.labels, prepared.n_classes))


def difficulty_rates(proba: np.ndarray, rate: float, known: np.ndarray | None = None) -> np.ndarray:
    """Per-image chance of a wrong label: ``min(1, c * H)``, with ``c`` such that the mean is ``rate``.

    ``H`` is the entropy of each row of ``proba``. The mean of ``min(1, c * H)`` over the
    ``known`` images grows continuously with ``c``, so ``c`` is found by bisection to
    machine precision; the clipped images are those the model finds hardest. With every
    ``H`` zero (a model sure of every image) the rate is the same for all.

    Parameters
    ----------
    proba : ndarray (n, n_classes)
    rate : float in [0, 1)
    known : boolean mask (n,), optional
        The images the mean is taken over (default: all).

    Returns
    -------
    ndarray (n,) in [0, 1], with mean ``rate`` over ``known``
    """
    from scipy.stats import entropy  # SciPy is loaded when a noise model needs it

    hardness = entropy(np.asarray(proba, dtype=np.float64), axis=1)
    known = np.ones(len(hardness), dtype=bool) if known is None else np.asarray(known, dtype=bool)
    h = hardness[known]
    if rate <= 0 or len(h) == 0:
        return np.zeros(len(hardness))
    if not (h > 0).any():
        return np.full(len(hardness), float(rate))
    # Every image with H > 0 would reach 1 at c = 1 / min(H > 0); the mean then is the share of
    # such images. A rate above that share cannot be reached: those images all err.
    low, high = 0.0, 1.0 / h[h > 0].min()
    for _ in range(200):
        middle = 0.5 * (low + high)
        if np.minimum(1.0, middle * h).mean() < rate:
            low = middle
        else:
            high = middle
        if high - low <= 1e-15 * high:
            break
    return np.minimum(1.0, high * hardness)


def confusion_weights(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Row-normalised off-diagonal of the confusion matrix: where each true class's errors go.

    Row ``t`` is the share of images of class ``t`` predicted as each other class, among
    those of class ``t`` predicted wrongly. A class the model never got wrong has no such
    row; its wrong labels are then uniform over the other classes.

    Returns
    -------
    ndarray (n_classes, n_classes), zero diagonal, rows summing to 1
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (truth, predicted), 1.0)
    np.fill_diagonal(counts, 0.0)
    totals = counts.sum(axis=1, keepdims=True)
    uniform = (1.0 - np.eye(n_classes)) / max(1, n_classes - 1)
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), uniform)


def label_noise(config: Config, prepared: Prepared) -> LabelNoise | None:
    """The noise of a config's annotators on its pool; None when they are perfect (``oracle_noise`` 0)."""
    rate = float(config.oracle_noise)
    if rate == 0:
        return None
    key = ("label_noise", prepared.key, config.oracle_noise_model, rate)
    return shared_cache("values").get_or_build(key, lambda: _build_noise(config.oracle_noise_model, rate, prepared))


def _build_noise(model: str, rate: float, prepared: Prepared) -> LabelNoise:
    n, truth = len(prepared.labels), prepared.labels
    if model == "uniform":
        return LabelNoise(np.full(n, rate))
    known = truth >= 0
    proba = reference_proba(prepared)
    if model == "confusable":
        weights = confusion_weights(truth[known], proba[known].argmax(axis=1), prepared.n_classes)
        wrong = np.zeros((n, prepared.n_classes))
        wrong[known] = weights[truth[known]]
        return LabelNoise(np.full(n, rate), wrong)
    # difficulty: the wrong label follows what the reference model sees in the image
    wrong = np.array(proba, dtype=np.float64)
    wrong[np.flatnonzero(known), truth[known]] = 0.0
    totals = wrong.sum(axis=1, keepdims=True)
    others = (1.0 - np.eye(prepared.n_classes))[np.where(known, truth, 0)] / max(1, prepared.n_classes - 1)
    wrong = np.where(totals > 0, wrong / np.where(totals > 0, totals, 1.0), others)
    return LabelNoise(difficulty_rates(proba, rate, known), wrong)


def labeling_costs(config: Config, prepared: Prepared) -> np.ndarray:
    """What one annotation of each pool image costs, (n_pool,), built once per pool and cost setting.

    ``unit``: 1. ``per_class``: ``cost_params[true class]`` (an image whose truth is unknown
    costs the mean of the class costs). ``difficulty``: ``1 + s * H / log(n_classes)``, ``H``
    the entropy of the reference model's prediction (:func:`reference_proba`, the model the
    ``difficulty`` noise uses) and ``s`` = ``cost_params[0]`` (default 1): from 1 for an image
    the model is sure of to ``1 + s`` for one it cannot tell from any class.
    """
    n = len(prepared.labels)
    if config.cost == "unit":
        return np.ones(n)
    key = ("labeling_costs", prepared.key, config.cost, tuple(float(v) for v in config.cost_params))
    return shared_cache("values").get_or_build(key, lambda: _build_costs(config, prepared))


def _build_costs(config: Config, prepared: Prepared) -> np.ndarray:
    truth = prepared.labels
    if config.cost == "per_class":
        per_class = np.asarray(config.cost_params, dtype=np.float64)
        return np.where(truth >= 0, per_class[np.maximum(truth, 0)], per_class.mean())
    scale = float(config.cost_params[0]) if config.cost_params else 1.0
    from scipy.stats import entropy  # SciPy is loaded when a cost model needs it

    hardness = entropy(reference_proba(prepared), axis=1) / np.log(max(2, prepared.n_classes))
    return 1.0 + scale * hardness


def image_draws(seed: int, ids: np.ndarray) -> np.ndarray:
    """Each image's table of uniform draws, shape (len(ids), MAX_ANNOTATORS + 2, 2).

    Row j is annotator j's pair (does it err, which wrong label); the last row's first
    value breaks ties. The table depends on the seed and the image only.
    """
    return np.stack([np.random.default_rng([seed, STREAM, int(i)]).random((_ROWS, 2)) for i in ids]) \
        if len(ids) else np.zeros((0, _ROWS, 2))


def annotator_votes(truth: np.ndarray, noise: LabelNoise, n_classes: int, draws: np.ndarray,
                    ids: np.ndarray, annotators: np.ndarray) -> np.ndarray:
    """The labels annotators ``annotators`` (indices into the draw tables) give images ``ids``.

    Parameters
    ----------
    truth : ndarray (n_pool,), every entry of ``ids`` known (>= 0)
    noise : LabelNoise
    draws : ndarray (len(ids), rows, 2), from :func:`image_draws`
    ids : ndarray (m,)
    annotators : ndarray (a,) of annotator indices

    Returns
    -------
    ndarray (m, a) of class ids
    """
    t = truth[ids][:, None]
    err = draws[:, annotators, 0] < noise.error[ids][:, None]
    which = draws[:, annotators, 1]
    if noise.wrong is None:
        # uniform over the other classes: the k-th class after skipping the truth
        k = np.minimum((which * (n_classes - 1)).astype(np.int64), n_classes - 2)
        wrong = k + (k >= t)
    else:
        cdf = np.cumsum(noise.wrong[ids], axis=1)  # (m, C)
        target = which * cdf[:, -1:]
        wrong = (cdf[:, None, :] <= target[:, :, None]).sum(axis=2)  # first class whose cdf exceeds the target
        # rounding can put the target at the very top: take the last class with any weight
        last = (n_classes - 1) - np.argmax(noise.wrong[ids][:, ::-1] > 0, axis=1)
        wrong = np.minimum(wrong, last[:, None])
    return np.where(err, wrong, t).astype(np.int64)


def majority(votes: np.ndarray, tie_draws: np.ndarray, n_classes: int) -> np.ndarray:
    """The most frequent label of each row of ``votes``; ties go to a tied class picked by ``tie_draws``.

    Parameters
    ----------
    votes : ndarray (m, a) of class ids
    tie_draws : ndarray (m,) of uniform draws in [0, 1)

    Returns
    -------
    ndarray (m,)
    """
    m = len(votes)
    counts = np.zeros((m, n_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(m), votes.shape[1]), votes.ravel()), 1)
    tied = counts == counts.max(axis=1, keepdims=True)
    n_tied = tied.sum(axis=1)
    pick = np.minimum((tie_draws * n_tied).astype(np.int64), n_tied - 1)  # the pick-th tied class, in class order
    return (np.cumsum(tied, axis=1) > pick[:, None]).argmax(axis=1)


class AnnotatorPanel:
    """K simulated annotators per image, with independent noise; the majority is the answer.

    Parameters
    ----------
    truth : ndarray (n_pool,), -1 where unknown (such images get no answer)
    n_classes : int
    seed : int
    noise : LabelNoise or None
        None: every annotator gives the truth.
    annotators : int, 1..MAX_ANNOTATORS
    relabel : bool
        An image whose annotators disagree gets one more.
    """

    def __init__(self, truth: np.ndarray, n_classes: int, seed: int, noise: LabelNoise | None = None,
                 annotators: int = 1, relabel: bool = False):
        self.truth = np.asarray(truth)
        self.n_classes, self.seed, self.noise = n_classes, seed, noise
        self.annotators, self.relabel = annotators, relabel

    def answer(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored label of each image (-1 where the truth is unknown) and the annotations it took."""
        ids = np.asarray(ids, dtype=np.int64)
        labels = self.truth[ids].astype(np.int64)
        spent = np.where(labels >= 0, self.annotators, 0).astype(np.int64)
        if self.noise is None:  # every vote is the truth: unanimous, no relabel
            return labels, spent
        asked = np.flatnonzero(labels >= 0)
        draws = image_draws(self.seed, ids[asked])
        votes = annotator_votes(self.truth, self.noise, self.n_classes, draws, ids[asked],
                                np.arange(self.annotators))
        if self.relabel and self.annotators > 1:
            split = (votes != votes[:, :1]).any(axis=1)
            extra = annotator_votes(self.truth, self.noise, self.n_classes, draws, ids[asked],
                                    np.array([self.annotators]))
            votes = np.concatenate([votes, extra], axis=1)
            # an image whose votes agreed ignores the extra column: its K votes are all the same
            votes[~split, -1] = votes[~split, 0]
            spent[asked[split]] += 1
        labels[asked] = majority(votes, draws[:, _TIE_ROW, 0], self.n_classes)
        return labels, spent


def simulated_oracle(config: Config, prepared: Prepared) -> SimulatedOracle:
    """The simulation's oracle for a config: the truth itself, or its panel of annotators."""
    if config.oracle_noise == 0 and config.annotators == 1:
        return SimulatedOracle(prepared.labels)
    panel = AnnotatorPanel(prepared.labels, prepared.n_classes, config.seed, label_noise(config, prepared),
                           config.annotators, config.relabel)
    return SimulatedOracle(prepared.labels, panel)


def _cross_validated_proba(features, labels, n_classes):
    from alsim.learn.models import cross_validated_proba  # lazy: scikit-learn, only for the difficulty model

    return cross_validated_proba(features, labels, n_classes)
