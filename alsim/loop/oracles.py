"""Oracles answer "what are the labels of these pool points?".

The loop proposes a batch, an oracle answers, the loop applies the answer. The
simulation's oracle, :class:`SimulatedOracle`, reads the hidden truth; an oracle backed by
a person's labels answers from the label store instead. An answer of -1 means "no label"
(unknown to the simulation, or skipped by the person): the point is not revealed.

An oracle may also say what each answer cost, as ``answer(ids) -> (labels, annotations)``
(:func:`ask`): simulated annotators (:class:`alsim.loop.annotators.AnnotatorPanel`) spend K
annotations per image. An oracle without ``answer`` spends one per label it gives.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Oracle(Protocol):
    """The labeling side of the loop.

    Attributes
    ----------
    truth : ndarray (n_pool,) or None
        The hidden truth where the oracle knows it (-1 elsewhere), used only for metrics;
        None when no truth is known (a person labeling new images).
    """

    truth: np.ndarray | None

    def answerable(self, n_pool: int) -> np.ndarray:
        """Boolean mask of pool points this oracle can be asked about."""

    def labels(self, ids: np.ndarray) -> np.ndarray:
        """Labels of ``ids`` (class ids; -1 = no label)."""


def ask(oracle: Oracle, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's labels of ``ids`` and the annotations each took (one per label by default)."""
    answer = getattr(oracle, "answer", None)
    if answer is not None:
        labels, spent = answer(ids)
        return np.asarray(labels, dtype=np.int64), np.asarray(spent, dtype=np.int64)
    labels = np.asarray(oracle.labels(ids), dtype=np.int64)
    return labels, (labels >= 0).astype(np.int64)


class SimulatedOracle:
    """Reveals the hidden truth; points whose truth is unknown (-1) cannot be asked.

    Parameters
    ----------
    truth : ndarray (n_pool,)
    panel : AnnotatorPanel, optional
        Simulated annotators who answer instead (noisy, several per image, a majority
        vote: :mod:`alsim.loop.annotators`); ``truth`` stays the truth the metrics read.
    """

    def __init__(self, truth: np.ndarray, panel=None):
        self.truth = np.asarray(truth)
        self.panel = panel

    def answerable(self, n_pool: int) -> np.ndarray:
        return self.truth >= 0

    def labels(self, ids: np.ndarray) -> np.ndarray:
        return self.answer(ids)[0]

    def answer(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels of ``ids`` and the annotations each took."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.panel is None:
            labels = self.truth[ids]
            return labels, (labels >= 0).astype(np.int64)
        return self.panel.answer(ids)


class FixedAnswers:
    """Answers from a given mapping ``pool id -> label`` (labels a person entered).

    Parameters
    ----------
    answers : mapping of int to int
    n_pool : int
    truth : ndarray or None
        The hidden truth, if the data set has one (to score the model and the person).
    """

    def __init__(self, answers: dict[int, int], n_pool: int, truth: np.ndarray | None = None):
        self._answers = dict(answers)
        self._n = n_pool
        self.truth = truth

    def answerable(self, n_pool: int) -> np.ndarray:
        return np.ones(n_pool, dtype=bool)

    def labels(self, ids: np.ndarray) -> np.ndarray:
        return np.array([self._answers.get(int(i), -1) for i in ids], dtype=np.int64)


class StoreOracle:
    """A person's answers as read from the label store (:mod:`alsim.labeling.store`).

    Items the person skipped ("not sure") are answered and cannot be asked again; items
    not yet answered can be asked and answer -1 until the person labels them.

    Parameters
    ----------
    labels : ndarray (n_pool,)
        The person's current label per pool point; -1 where there is none.
    skipped : ndarray (n_pool,) of bool, optional
    truth : ndarray or None
        The hidden truth, if the data set has one (to score the person and the model).
    """

    def __init__(self, labels: np.ndarray, skipped: np.ndarray | None = None, truth: np.ndarray | None = None):
        self._labels = np.asarray(labels, dtype=np.int64)
        self._skipped = np.zeros(len(self._labels), dtype=bool) if skipped is None else np.asarray(skipped, bool)
        self.truth = truth

    def answerable(self, n_pool: int) -> np.ndarray:
        return ~self._skipped[:n_pool]

    def labels(self, ids: np.ndarray) -> np.ndarray:
        return self._labels[np.asarray(ids, dtype=np.int64)]
