"""Chance, and when an accuracy is too close to it to be evidence of anything.

*Chance* is the accuracy of always answering the largest class: its share of the labels
scored. An accuracy is *near chance* when it is less than :func:`near_chance_margin` above
it. That margin is the larger of two things:

- ``SKILL_FLOOR * (1 - chance)``: the accuracy removes less than a quarter of the errors
  that guessing the largest class makes. ``(accuracy - chance) / (1 - chance)`` is a skill
  score of the kind of Cohen's kappa (there, kappa below 0.2 is "slight" agreement, Landis
  and Koch 1977); a quarter is a little above that. It scales with what is left to gain:
  with four balanced classes (chance 0.25) the margin is 0.19, with ten (0.10) it is 0.23,
  with a 90% majority class it is 0.025.
- ``NOISE_SE`` standard errors of an accuracy at chance measured on the points scored,
  ``sqrt(chance * (1 - chance) / n)``: closer than that, the measurement cannot tell the
  accuracy from chance at all. It decides on small or skewed sets: below 48 points at
  chance 0.25, below about 1,300 with a 90% majority class.

A ceiling of 0.52 against chance 0.25 is weak but not near chance (the margin is 0.19);
curves that end near 0.30 on such features are, which :func:`curves_warning` says.

A fixed absolute floor (say 0.1) is left out: with a 90% majority class it would call
every accuracy up to 1.0 "near chance". Measured (``bench/chance_margin.py``): on random
embeddings (150 to 600 points, 2 to 10 classes, balanced or with a 70% majority; label
spreading and logistic regression; 108 cases) the accuracy with every label is at most
0.047 above chance, and the margin is at least 0.073, so every case is called near chance;
scikit-learn's digits reach 0.989 against chance 0.102 (margin 0.22).

Pure arithmetic: no data, no model. :mod:`alsim.evidence.ceiling` measures the numbers.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

__all__ = ["NOISE_SE", "SKILL_FLOOR", "below_chance", "ceiling_sentence", "ceiling_warning", "chance_level",
           "chance_words", "curves_warning", "guess_floor", "near_chance", "near_chance_margin"]

SKILL_FLOOR = 0.25
"""Share of the largest-class guess's errors an accuracy must remove to be more than near chance."""

NOISE_SE = 3.0
"""Standard errors of an accuracy at chance inside which it cannot be told from chance."""


def chance_level(labels: np.ndarray) -> float:
    """The largest class's share of the known labels (``-1`` marks an unknown one); nan without any.

    Parameters
    ----------
    labels : ndarray (n,), int

    Returns
    -------
    float
    """
    labels = np.asarray(labels)
    known = labels[labels >= 0]
    if not len(known):
        return float("nan")
    return float(np.bincount(known).max() / len(known))


def chance_score(labels: np.ndarray, metric: str = "accuracy") -> float:
    """What always guessing the largest class scores on ``labels`` under ``metric``; nan without labels.

    ``accuracy``: :func:`chance_level`. ``balanced_accuracy`` and ``macro_f1``: scikit-learn's
    score of that constant guess (1 / the number of classes present for balanced accuracy).
    """
    if metric == "accuracy":
        return chance_level(labels)
    from sklearn.metrics import balanced_accuracy_score, f1_score

    labels = np.asarray(labels)
    known = labels[labels >= 0]
    if not len(known):
        return float("nan")
    guess = np.full(len(known), np.bincount(known).argmax())
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(known, guess))
    return float(f1_score(known, guess, labels=np.unique(known), average="macro", zero_division=0))


def near_chance_margin(chance: float, n: int) -> float:
    """How far above ``chance`` an accuracy measured on ``n`` points must be to count as above it.

    ``max(SKILL_FLOOR * (1 - chance), NOISE_SE * sqrt(chance * (1 - chance) / n))``; see the
    module docstring for why.
    """
    noise = NOISE_SE * math.sqrt(chance * (1.0 - chance) / n) if n > 0 else math.inf
    return max(SKILL_FLOOR * (1.0 - chance), noise)


def guess_floor(labels: np.ndarray, n_classes: int | None = None) -> float:
    """The smallest class's share of the known labels (``-1`` unknown); nan without any.

    Any answer that ignores the image (a constant class, or classes drawn at random among
    those present) scores ``sum_c p_c q_c >= min_c p_c`` in accuracy, where ``p`` are the
    classes' shares and ``q`` how often each is answered: so an accuracy clearly below this
    share is not guessing but answers anti-correlated with the truth (wrong labels learned,
    misleading features). With ``n_classes`` the model can answer and one of them absent from
    the labels, always answering it scores 0: the floor is then 0.
    """
    labels = np.asarray(labels)
    known = labels[labels >= 0]
    if not len(known):
        return float("nan")
    counts = np.bincount(known, minlength=n_classes or 0)
    return float(counts.min() / len(known)) if n_classes else float(counts[counts > 0].min() / len(known))


def below_chance(accuracy: float, floor: float | None, n: int) -> bool:
    """Whether ``accuracy`` is below ``floor`` (:func:`guess_floor`, what any guess gets at least) by
    more than :data:`NOISE_SE` standard errors: systematically wrong answers. False without a floor."""
    if floor is None or not (math.isfinite(accuracy) and math.isfinite(floor)) or n <= 0:
        return False
    return accuracy < floor - NOISE_SE * math.sqrt(floor * (1.0 - floor) / n)


def chance_words(accuracy: float, floor: float | None, n: int) -> str:
    """``'below chance'`` (:func:`below_chance`) or ``'near chance'``: how a near-chance accuracy is named."""
    return "below chance" if below_chance(accuracy, floor, n) else "near chance"


def _floor_words(floor: float, chance: float) -> str:
    """``'the 9.9% any answer that ignores the image gets'`` (and the largest class's share where it differs)."""
    largest = "" if _pct(floor) == _pct(chance) else f" (always answering the largest class gets {_pct(chance)})"
    return f"the {_pct(floor)} that any answer ignoring the image gets at least{largest}"


def near_chance(accuracy: float, chance: float, n: int) -> bool:
    """Whether ``accuracy`` (measured on ``n`` points) is less than the margin above ``chance``; nan counts as near."""
    if not (math.isfinite(accuracy) and math.isfinite(chance)):
        return True
    return accuracy - chance < near_chance_margin(chance, n)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def ceiling_sentence(ceiling: float | None, chance: float, annotators: float | None = None) -> str:
    """``'ceiling 97.9% (the model with every label), chance 10.2%'``: how pages and reports name the two.

    A ceiling of None (not measured yet) reads ``'ceiling not measured yet (the model with every
    label), chance 10.2%'``. With ``annotators`` (the same model fitted on every label as noisy
    simulated annotators give it): ``'ceiling 97.9% (the model with every label; 88.1% with every
    label from these annotators), chance 10.2%'``.
    """
    shown = "not measured yet" if ceiling is None else _pct(ceiling)
    noisy = ("" if annotators is None or ceiling is None
             else f"; {_pct(annotators)} with every label from these annotators")
    return f"ceiling {shown} (the model with every label{noisy}), chance {_pct(chance)}"


def ceiling_warning(ceiling: float, chance: float, n: int, floor: float | None = None) -> str | None:
    """Plain words when even every label leaves the model near chance (or below it); None otherwise.

    Parameters
    ----------
    ceiling : float, accuracy of the run's model with every label
    chance : float, the largest class's share of the scored labels
    n : int, points the ceiling was scored on
    floor : float, optional; the smallest class's share (:func:`guess_floor`), for "below chance"
    """
    if not near_chance(ceiling, chance, n):
        return None
    if below_chance(ceiling, floor, n):
        return (f"With every label the model reaches {_pct(ceiling)}, below {_floor_words(floor, chance)}: "
                f"its answers are systematically wrong, not guesses, so the labels "
                f"or the features mislead it. Any strategy's curve stays below chance, so a \"better than "
                f"random\" verdict here is not evidence that it saves labels. Check the labels, or try another "
                f"feature kind (the Data page measures each).")
    return (f"These features barely tell the classes apart: with every label the model reaches "
            f"{_pct(ceiling)}, and always answering the largest class reaches {_pct(chance)}. "
            f"Any strategy's curve stays near chance, so a \"better than random\" verdict here is not evidence "
            f"that it saves labels. Try another feature kind (the Data page measures each).")


def curves_warning(final_accuracies: Iterable[float], chance: float, n: int,
                   floor: float | None = None) -> str | None:
    """Plain words when every strategy's final accuracy stays near chance (or below it); None otherwise.

    Parameters
    ----------
    final_accuracies : iterable of float
        Each strategy's final (mean) accuracy; nan values are left out.
    chance : float
    n : int, points an accuracy is scored on (the margin's noise term)
    floor : float, optional; the smallest class's share (:func:`guess_floor`), for "below chance"
    """
    finals = [a for a in final_accuracies if math.isfinite(a)]
    if not finals or not math.isfinite(chance):
        return None
    best = max(finals)
    if not near_chance(best, chance, n):
        return None
    if below_chance(best, floor, n):
        return (f"Accuracy stays below chance: the best strategy ends at {_pct(best)}, below "
                f"{_floor_words(floor, chance)}, so the model's answers are systematically wrong (wrong "
                f"labels teach it wrong answers: check how often the annotators err). A \"better than random\" "
                f"verdict between curves this low is not evidence that a strategy saves labels.")
    return (f"Accuracy stays near chance: the best strategy ends at {_pct(best)}, and always answering the "
            f"largest class reaches {_pct(chance)}. A \"better than random\" verdict between curves this low is "
            f"not evidence that a strategy saves labels.")
