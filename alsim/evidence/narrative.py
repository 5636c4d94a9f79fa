"""Plain words for what the round records say.

Every sentence here is computed from :class:`alsim.loop.records.Round` records; none carries a
typed-in number. The dashboard, the command line and the HTML report (:mod:`alsim.report.html`)
put these sentences next to the charts.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from alsim.evidence.chance import chance_words, curves_warning
from alsim.loop.config import METRIC_NAMES
from alsim.loop.records import MIN_SCORED, NOTHING_LEFT, Round, readable_end
from alsim.strategies import PSEUDO, REVEALED, UNLABELED, strategy_names

__all__ = [
    "CONFIDENT_FRACTION", "NOTHING_LEFT", "STOP_WORDS", "chance_warning", "compare_at_equal_labels", "confidence_note",
    "fmt_accuracy", "hidden_split", "last_evaluated", "measured_on", "no_unlabeled_message", "nothing_left_message",
    "plain_stop_reason", "pool_counts", "takeaway",
]

STOP_WORDS = {"rounds_done": "all rounds run", "pool_exhausted": "no unlabeled images left",
              "schedule_done": "no thresholds left"}
"""Plain words for :data:`alsim.loop.records.STOP_REASONS`."""

CONFIDENT_FRACTION = 0.01
""":func:`confidence_note` speaks when the most uncertain images score below this share of
the largest value the uncertainty measure can take."""

_INTERPOLATION_GAP = 2.0  # interpolate only across gaps of at most this many typical steps


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float, np.floating)) and math.isfinite(value)


def fmt_accuracy(value: float | None) -> str:
    """``0.95556`` -> ``'95.6%'``; a missing or nan value -> :data:`NOTHING_LEFT`."""
    return f"{100 * value:.1f}%" if _finite(value) else NOTHING_LEFT


def _labels(n: int) -> str:
    return f"{n:,} label" + ("" if n == 1 else "s")


def last_evaluated(rounds: Sequence[Round]) -> Round | None:
    """The last round whose score is a real number measured on enough images, or None if no round has one.

    When the pool runs out (every pool image revealed, e.g. ``batch_size=100`` on
    experiment A's pool) the last round evaluates on zero points and its accuracy is nan;
    the round before it carries the last real numbers. Just before that, a round scored on
    the last few still-unlabeled images (fewer than :data:`alsim.loop.records.MIN_SCORED`)
    is not read either: 1 or 2 images give 0%, 50% or 100% whatever the model
    (:func:`alsim.loop.records.readable_end`).

    Parameters
    ----------
    rounds : sequence of Round, in round order

    Returns
    -------
    Round or None
    """
    end = readable_end(rounds)
    return rounds[end - 1] if end else None


def nothing_left_message(rounds: Sequence[Round]) -> str | None:
    """A plain sentence when the last round(s) had nothing left to measure accuracy on.

    Returns None when the last round has a real accuracy (or there are no rounds).

    Examples
    --------
    "Every pool image was labeled by round 3, so nothing was left to measure accuracy on;
    the numbers shown are from round 2 (240 labels)."
    """
    if not rounds:
        return None
    shown = last_evaluated(rounds)
    few = [r for r in rounds[readable_end(rounds):] if _finite(r.score)]  # scored on too few images
    if few and shown is not None:
        counts = sorted({r.headline.n for r in few})
        span = f"round {few[0].index}" if len(few) == 1 else f"rounds {few[0].index}-{few[-1].index}"
        many = "images" if counts[-1] != 1 else "image"
        return (f"{span[0].upper()}{span[1:]} {'was' if len(few) == 1 else 'were'} scored on only "
                f"{_count_words(counts)} {many} (fewer than {MIN_SCORED}), too few for an accuracy to mean "
                f"anything; the numbers shown are from round {shown.index} ({_labels(shown.n_labeled)}).")
    if _finite(rounds[-1].accuracy):
        return None
    first_empty = rounds[-1] if shown is None else next(r for r in rounds if r.index > shown.index)
    if shown is None:
        if first_empty.n_unknown_truth or first_empty.headline is None:
            return ("No round could be scored: the true labels of the unlabeled images are unknown, so there "
                    "is no accuracy to show.")
        return "No round could be scored: no image was left to measure accuracy on."
    if first_empty.n_unknown_truth:
        why = (f"After round {first_empty.index - 1} only images without a known label were left unlabeled, "
               f"so nothing was left to measure accuracy on")
    elif first_empty.test is None and first_empty.pool is not None:
        why = f"Every pool image was labeled by round {first_empty.index}, so nothing was left to measure accuracy on"
    else:
        why = f"From round {first_empty.index} on there was nothing left to measure accuracy on"
    return f"{why}; the numbers shown are from round {shown.index} ({_labels(shown.n_labeled)})."


def _count_words(counts: Sequence[int]) -> str:
    """``[2]`` -> "2", ``[1, 2]`` -> "1 or 2", ``[1, 5, 9]`` -> "1 to 9"."""
    if len(counts) == 1:
        return f"{counts[0]:,}"
    return f"{counts[0]:,} or {counts[1]:,}" if len(counts) == 2 else f"{counts[0]:,} to {counts[-1]:,}"


def pool_counts(record: Round) -> dict[str, int]:
    """How many pool images a round had revealed, pseudo-labeled and unlabeled, from its status.

    Pseudo-labeled images keep their labels hidden: the pool's accuracy is measured on them and
    on the unlabeled ones (``hidden``), while the galleries rank the unlabeled ones alone.
    """
    status = np.asarray(record.status)
    revealed, pseudo = int(np.count_nonzero(status == REVEALED)), int(np.count_nonzero(status == PSEUDO))
    unlabeled = int(np.count_nonzero(status == UNLABELED))
    return {"revealed": revealed, "pseudo": pseudo, "unlabeled": unlabeled, "hidden": pseudo + unlabeled}


def measured_on(record: Round) -> str:
    """What a round's accuracy is measured on, in the same words everywhere on a page.

    "test split"; "still-unlabeled pool" when no pool image is pseudo-labeled; else "pool images
    with hidden labels" (pseudo-labeled ones count: their labels are predictions, never revealed).
    """
    if record.test is not None:
        return "test split"
    return "pool images with hidden labels" if pool_counts(record)["pseudo"] else "still-unlabeled pool"


def hidden_split(record: Round) -> str:
    """With pseudo-labels, the split of the hidden-label pool images: "(285 pseudo-labeled, 0 unlabeled)"; else ""."""
    counts = pool_counts(record)
    if record.test is not None or not counts["pseudo"]:
        return ""
    return f" ({counts['pseudo']:,} pseudo-labeled, {counts['unlabeled']:,} unlabeled)"


def no_unlabeled_message(record: Round) -> str:
    """Why a round has no unlabeled image to rank, with the counts of its status.

    "Unlabeled" is neither revealed nor pseudo-labeled, as in the stop reason "no unlabeled
    images left"; the accuracy may still be measured on pseudo-labeled images, whose labels
    stay hidden, so the sentence gives their number.
    """
    counts = pool_counts(record)
    if counts["pseudo"]:
        where = " (the accuracy is measured on them)" if record.test is None else ""
        return (f"No unlabeled images left in round {record.index}: of the {counts['hidden']:,} pool images with "
                f"hidden labels, all {counts['pseudo']:,} are pseudo-labeled{where}.")
    return f"No unlabeled images left in round {record.index}: every pool image's label is revealed."


def _curve(rounds: Sequence[Round]) -> tuple[np.ndarray, np.ndarray]:
    """Revealed labels and accuracy of the evaluated rounds; for a repeated label count the last round.

    A run without queries (self-training only) keeps its label count while its accuracy
    changes; the last round at a count is the model that saw the most pseudo-labels.
    """
    by_labels: dict[int, float] = {}
    for record in rounds[:readable_end(rounds)]:  # not the last few images of a pool (MIN_SCORED)
        if _finite(record.score):  # the run's metric (accuracy by default)
            by_labels[int(record.n_labeled)] = float(record.score)
    xs = np.array(sorted(by_labels), dtype=np.int64)
    return xs, np.array([by_labels[int(x)] for x in xs], dtype=np.float64)


def _value_at(xs: np.ndarray, ys: np.ndarray, x: int, step: float) -> tuple[float | None, tuple[int, int] | None]:
    """The curve's accuracy at ``x``: measured, linearly interpolated between close neighbours, or None.

    Interpolation is honest only between two measured points at most
    ``_INTERPOLATION_GAP`` times ``step`` apart.
    """
    hit = np.flatnonzero(xs == x)
    if len(hit):
        return float(ys[hit[0]]), None
    if len(xs) < 2 or not xs[0] < x < xs[-1]:
        return None, None
    right = int(np.searchsorted(xs, x))
    left = right - 1
    gap = xs[right] - xs[left]
    if gap > _INTERPOLATION_GAP * step:
        return None, None
    weight = (x - xs[left]) / gap
    return float(ys[left] + weight * (ys[right] - ys[left])), (int(xs[left]), int(xs[right]))


def compare_at_equal_labels(active: Sequence[Round], random: Sequence[Round]) -> dict | None:
    """Compare two arms at the same number of revealed labels.

    The label count is the largest both curves reach. An arm measured exactly there gives
    its measured accuracy; otherwise its accuracy is interpolated linearly between its two
    neighbouring measured points when they are close (at most twice the median step of
    the finer curve apart). When that is not honest, the comparison falls back to the largest label
    count measured on both curves. Rounds without an accuracy (nan) are left out.

    Parameters
    ----------
    active, random : sequences of Round
        The two arms (any two arms; the names only say which is subtracted from which).

    Returns
    -------
    dict or None
        ``labels`` (int, the common count), ``active`` and ``random`` (accuracies there),
        ``difference`` (active - random), ``interpolated`` (dict arm -> (left, right)
        label counts interpolated between; empty when both were measured),
        ``active_last`` and ``random_last`` (each arm's largest evaluated label count).
        None when either arm has no evaluated round or the curves share no label count.
    """
    ax, ay = _curve(active)
    rx, ry = _curve(random)
    if not len(ax) or not len(rx):
        return None
    out = {"active_last": int(ax[-1]), "random_last": int(rx[-1])}
    x = int(min(ax[-1], rx[-1]))
    # The finer of the two curves sets what "close" means: a coarse curve is not
    # interpolated across a gap the other curve shows to be curved.
    step = min(float(np.median(np.diff(xs))) if len(xs) > 1 else math.inf for xs in (ax, rx))
    a, a_between = _value_at(ax, ay, x, step)
    r, r_between = _value_at(rx, ry, x, step)
    interpolated = {}
    if a is None or r is None:
        common = np.intersect1d(ax, rx)
        if not len(common):
            return None
        x = int(common[-1])
        a, r = float(ay[ax == x][0]), float(ry[rx == x][0])
    else:
        interpolated = {name: between for name, between in (("active", a_between), ("random", r_between))
                        if between is not None}
    return {**out, "labels": x, "active": a, "random": r, "difference": a - r, "interpolated": interpolated}


def _arm_phrase(name: str) -> str:
    """How a sentence names an arm: a query strategy is "active picking (name)"; the self-training
    arms ("none" on the command line, "self-training" on the Fashion-MNIST page) are "self-training";
    any other arm by its own name."""
    if name == "random":
        return "random"
    if name in ("none", "self-training"):
        return "self-training"
    return f"active picking ({name})" if name in strategy_names() else name


def _reached(name: str, record: Round) -> str:
    text = (f"{_arm_phrase(name)} reached {_metric_prefix(record)}{fmt_accuracy(record.score)} with "
            f"{_labels(record.n_labeled)}")
    if record.n_pseudo:
        text += f" and {record.n_pseudo:,} pseudo-labels"
    return text


def _metric_prefix(record: Round) -> str:
    """``'a balanced accuracy of '`` when the run scores by another metric than accuracy, else nothing."""
    return "" if record.metric == "accuracy" else f"a {METRIC_NAMES.get(record.metric, record.metric)} of "


def chance_warning(arms: Mapping[str, Sequence[Round]], ceiling) -> str | None:
    """Plain words when the ceiling, or every arm's last accuracy, is near chance; None otherwise.

    Parameters
    ----------
    arms : mapping arm name -> rounds
    ceiling : alsim.evidence.ceiling.Ceiling
        Its ``warning`` when set; else :func:`alsim.evidence.chance.curves_warning` of the
        arms' last evaluated accuracies against its chance.
    """
    if ceiling.warning:
        return ceiling.warning
    return curves_warning(_finals(arms), ceiling.chance, ceiling.n, ceiling.floor)


def _finals(arms: Mapping[str, Sequence[Round]]) -> list[float]:
    """Each arm's last evaluated score."""
    return [shown.score for shown in map(last_evaluated, arms.values()) if shown is not None]


def chance_relation(arms: Mapping[str, Sequence[Round]], ceiling) -> str | None:
    """``'near chance'`` or ``'below chance'`` (:func:`alsim.evidence.chance.chance_words`, of the best
    arm's last score) when :func:`chance_warning` speaks; None when accuracy is above chance."""
    if ceiling is None or not chance_warning(arms, ceiling):
        return None
    finals = _finals(arms)
    return chance_words(max(finals), ceiling.floor, ceiling.n) if finals else "near chance"


def takeaway(arms: Mapping[str, Sequence[Round]], ceiling=None) -> str:
    """One sentence for above the chart: what each arm reached, at equal labels when there is a random arm.

    Never shows nan: rounds without an accuracy are skipped (:func:`last_evaluated`), and an
    arm with none at all is said to have nothing to evaluate. Percentages have one decimal.
    With ``ceiling`` and accuracy near chance (:func:`chance_warning`), a second sentence
    says so: a difference from random is then not evidence.

    Parameters
    ----------
    arms : mapping arm name -> rounds
        Arm names are strategy names, as the dashboard and the command line use them;
        ``random`` is the comparison arm.
    ceiling : alsim.evidence.ceiling.Ceiling, optional

    Examples
    --------
    "Active picking (entropy) reached 95.6% with 60 labels; random reached 93.3% with the
    same number."
    """
    if not arms:
        return "Nothing has run yet."
    near = near_chance_sentence(arms, ceiling)
    return _takeaway(arms) + ("" if near is None else " " + near)


def near_chance_sentence(arms: Mapping[str, Sequence[Round]], ceiling=None) -> str | None:
    """"Accuracy stays near chance (...), so a difference here is not evidence.", or None when it does not."""
    words = chance_relation(arms, ceiling)
    if words is None:
        return None
    against = " against random" if "random" in arms and len(arms) > 1 else ""
    gives = "" if ceiling.ceiling is None else f"every label gives {fmt_accuracy(ceiling.ceiling)}, "
    first = next((r for rounds in arms.values() for r in rounds), None)
    metric = "accuracy" if first is None or first.metric == "accuracy" else METRIC_NAMES.get(first.metric, "")
    return (f"{metric[0].upper()}{metric[1:]} stays {words} ({gives}chance is {fmt_accuracy(ceiling.chance)}), "
            f"so a difference{against} here is not evidence.")


def _takeaway(arms: Mapping[str, Sequence[Round]]) -> str:
    names = list(arms)
    active = [n for n in names if n != "random"]
    if "random" in arms and active:
        name = active[0]
        shown = last_evaluated(arms[name])
        if shown is None:
            return f"{_arm_phrase(name).capitalize()}: {NOTHING_LEFT}."
        at = compare_at_equal_labels(arms[name], arms["random"])
        if at is None:
            base = last_evaluated(arms["random"])
            other = f"random: {NOTHING_LEFT}" if base is None else _reached("random", base)
            first = _reached(name, shown)
            return f"{first[0].upper()}{first[1:]}; {other}."
        n = at["labels"]
        if n == shown.n_labeled:
            first = _reached(name, shown)
        else:
            if "active" in at["interpolated"]:
                low, high = at["interpolated"]["active"]
                first = (f"{_arm_phrase(name)} reached about {fmt_accuracy(at['active'])} with {_labels(n)} "
                         f"(interpolated between its measurements at {low:,} and {high:,})")
            else:
                first = f"{_arm_phrase(name)} reached {fmt_accuracy(at['active'])} with {_labels(n)}"
        first = first[0].upper() + first[1:]
        if "random" in at["interpolated"]:
            low, high = at["interpolated"]["random"]
            second = (f"random reached about {fmt_accuracy(at['random'])} with the same number (interpolated "
                      f"between its measurements at {low:,} and {high:,})")
        else:
            second = f"random reached {fmt_accuracy(at['random'])} with the same number"
        if at["active_last"] > n:
            second += f" ({name} went on to {fmt_accuracy(shown.score)} with {_labels(shown.n_labeled)})"
        return f"{first}; {second}."
    parts = []
    for name in names:
        shown = last_evaluated(arms[name])
        parts.append(f"{_arm_phrase(name)}: {NOTHING_LEFT}" if shown is None else _reached(name, shown))
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def plain_stop_reason(reason: str | None) -> str:
    """Plain words for a :attr:`Round.stop_reason`.

    ``rounds_done`` -> "all rounds run", ``pool_exhausted`` -> "no unlabeled images left",
    ``schedule_done`` -> "no thresholds left"; None -> "still running"; anything else is
    returned with underscores as spaces.
    """
    if reason is None:
        return "still running"
    return STOP_WORDS.get(reason, str(reason).replace("_", " "))


def _largest_uncertainty(measure: str, n_classes: int) -> float | None:
    if measure == "entropy":
        return math.log(n_classes)
    if measure == "margin":
        return 1.0
    if measure == "least_confident":
        return 1.0 - 1.0 / n_classes
    return None


def confidence_note(record: Round, k: int = 8, n_classes: int | None = None) -> str | None:
    """A sentence when even the ``k`` most uncertain unlabeled images are hardly uncertain.

    Speaks when the largest uncertainty among the unlabeled images is below
    :data:`CONFIDENT_FRACTION` (1%) of the largest value the measure can take (entropy:
    log(n_classes); margin: 1; least confident: 1 - 1/n_classes). Then a "most uncertain"
    gallery shows images the model is in fact sure about.

    Parameters
    ----------
    record : Round
    k : int
        Gallery size: how many of the most uncertain images the sentence speaks of.
    n_classes : int, optional
        Default: the size of the round's confusion matrix.

    Returns
    -------
    str or None
        None when the model is not that confident, or no unlabeled image is left.
    """

    if n_classes is None:
        confusion = record.confusion
        n_classes = confusion.shape[0] if confusion is not None else int(np.max(record.predicted, initial=0)) + 1
    largest = _largest_uncertainty(record.uncertainty_measure, max(int(n_classes), 2))
    unlabeled = np.flatnonzero(record.status == UNLABELED)
    if largest is None or not len(unlabeled):
        return None
    values = np.sort(np.asarray(record.uncertainty, dtype=np.float64)[unlabeled])[::-1][:k]
    top = float(values[0])
    if not math.isfinite(top) or top >= CONFIDENT_FRACTION * largest:
        return None
    measure = record.uncertainty_measure.replace("_", " ")
    shown = ("the only unlabeled image has" if len(values) == 1
             else f"the {len(values)} most uncertain unlabeled images have")
    return (f"The model is confident about every unlabeled image: {shown} {measure} at most {top:.2g}, "
            f"under {CONFIDENT_FRACTION:.0%} of the largest possible ({largest:.3g}), so the \"most uncertain\" "
            f"images are ones it is sure about.")
