"""Plain sentences from round records: golden sentences on hand-made rounds and on small real runs."""

import math

import numpy as np
import pytest

from alsim import Config, run_loop
from alsim.evidence.narrative import (
    compare_at_equal_labels,
    confidence_note,
    fmt_accuracy,
    last_evaluated,
    nothing_left_message,
    plain_stop_reason,
    takeaway,
)
from alsim.learn.metrics import evaluate
from alsim.loop.records import Round


def make_round(index, n_labeled, accuracy, *, n_pseudo=0, unknown=0, stop=None, uncertainty=None, status=None,
               measure="entropy", n_classes=10, evaluated=True, scored=1000):
    """A round whose pool accuracy is ``accuracy`` on ``scored`` points (nan: evaluated on zero points)."""
    if not evaluated:
        pool = None
    elif isinstance(accuracy, float) and math.isnan(accuracy):
        pool = evaluate(np.zeros(0, int), np.zeros(0, int), n_classes)
    else:
        n = scored
        right = int(round(accuracy * n))
        pool = evaluate(np.zeros(n, int), np.r_[np.zeros(right, int), np.ones(n - right, int)], n_classes)
    n_pool = 20 if uncertainty is None else len(uncertainty)
    return Round(index=index, n_labeled=n_labeled, n_pseudo=n_pseudo, pseudo_precision=None, pool=pool, test=None,
                 queried=np.zeros(0, int), threshold=None, auto_added=0, auto_precision=None,
                 status=np.zeros(n_pool, np.int8) if status is None else np.asarray(status, np.int8),
                 predicted=np.zeros(n_pool, np.int16),
                 uncertainty=np.zeros(n_pool, np.float32) if uncertainty is None else np.asarray(uncertainty),
                 uncertainty_measure=measure, n_iter=None, seconds=0.0, stop_reason=stop, n_unknown_truth=unknown)


def curve(labels, accuracies, stop="rounds_done"):
    rounds = [make_round(i, n, a) for i, (n, a) in enumerate(zip(labels, accuracies))]
    last = rounds[-1]
    return rounds[:-1] + [make_round(last.index, last.n_labeled, accuracies[-1], stop=stop)]


# ------------------------------------------------------------------ last evaluated / nothing left
def test_last_evaluated_skips_nan_rounds():
    rounds = curve([40, 140, 240, 330], [0.869, 0.974, 1.0, float("nan")], stop="pool_exhausted")
    assert last_evaluated(rounds).index == 2
    assert last_evaluated(rounds[:2]).index == 1
    assert last_evaluated([]) is None
    assert last_evaluated([make_round(0, 10, float("nan"))]) is None


def test_rounds_scored_on_the_last_few_images_are_not_read():
    from alsim.loop.records import MIN_SCORED, readable_end

    assert MIN_SCORED == 30
    sizes = [130, 90, 50, 30, 29, 10, 2]
    rounds = [make_round(i, 30 + 5 * i, a, scored=n)
              for i, (n, a) in enumerate(zip(sizes, [0.8, 0.85, 0.9, 0.9, 0.93, 1.0, 0.5]))]
    assert readable_end(rounds) == 4 and last_evaluated(rounds).index == 3  # the last scored on 30 or more
    assert readable_end(rounds + [make_round(7, 70, float("nan"))]) == 4
    tiny = [make_round(i, 10 + i, 0.7, scored=n) for i, n in enumerate([20, 12, 4])]  # a pool that small is read
    assert readable_end(tiny) == 3 and last_evaluated(tiny).index == 2
    assert readable_end([]) == 0 and readable_end([make_round(0, 10, float("nan"))]) == 0
    assert nothing_left_message(rounds) == (
        "Rounds 4-6 were scored on only 2 to 29 images (fewer than 30), too few for an accuracy to mean anything; "
        "the numbers shown are from round 3 (45 labels).")
    assert nothing_left_message(rounds[:6]) == (
        "Rounds 4-5 were scored on only 10 or 29 images (fewer than 30), too few for an accuracy to mean anything; "
        "the numbers shown are from round 3 (45 labels).")
    assert nothing_left_message(rounds[:5]).startswith("Round 4 was scored on only 29 images (fewer than 30)")
    assert nothing_left_message(rounds[:4]) is None
    # At equal labels, random's and entropy's last rounds on 2 images are not compared either.
    random = [make_round(i, 30 + 5 * i, a, scored=n)
              for i, (n, a) in enumerate(zip(sizes, [0.8, 0.82, 0.84, 0.86, 0.9, 0.9, 0.0]))]
    at = compare_at_equal_labels(rounds, random)
    assert (at["labels"], at["active"], at["random"]) == (45, 0.9, pytest.approx(0.8667, abs=1e-4))
    assert takeaway({"entropy": rounds, "random": random}) == (
        "Active picking (entropy) reached 90.0% with 45 labels; random reached 86.7% with the same number.")


def test_nothing_left_message_names_the_rounds_and_labels():
    rounds = curve([40, 140, 240, 330], [0.869, 0.974, 1.0, float("nan")], stop="pool_exhausted")
    assert nothing_left_message(rounds) == (
        "Every pool image was labeled by round 3, so nothing was left to measure accuracy on; the numbers shown "
        "are from round 2 (240 labels).")
    assert nothing_left_message(rounds[:3]) is None
    assert nothing_left_message([]) is None


def test_nothing_left_when_only_unknown_truth_remains():
    rounds = [make_round(0, 5, 0.8), make_round(1, 10, float("nan"), unknown=4)]
    assert nothing_left_message(rounds) == (
        "After round 0 only images without a known label were left unlabeled, so nothing was left to measure "
        "accuracy on; the numbers shown are from round 0 (5 labels).")


def test_nothing_left_when_no_round_was_scored():
    assert "true labels of the unlabeled images are unknown" in nothing_left_message(
        [make_round(0, 5, float("nan"), evaluated=False)])


def test_real_run_that_exhausts_the_pool():
    rounds = list(run_loop(Config(batch_size=100)))
    assert [r.n_labeled for r in rounds] == [40, 140, 240, 330] and math.isnan(rounds[-1].accuracy)
    assert last_evaluated(rounds) is rounds[2]
    assert nothing_left_message(rounds) == (
        "Every pool image was labeled by round 3, so nothing was left to measure accuracy on; the numbers shown "
        "are from round 2 (240 labels).")


# ------------------------------------------------------------------ equal labels
def test_equal_labels_measured_on_both():
    at = compare_at_equal_labels(curve([40, 45, 50], [0.8, 0.85, 0.9]), curve([40, 45, 50, 55], [0.8, 0.82, 0.84, 0.9]))
    assert at["labels"] == 50 and at["interpolated"] == {}
    np.testing.assert_allclose([at["active"], at["random"], at["difference"]], [0.9, 0.84, 0.06])
    assert (at["active_last"], at["random_last"]) == (50, 55)


def test_equal_labels_interpolates_between_close_points():
    # A run that ends at 46 labels against a random arm measured at 45 and 50.
    at = compare_at_equal_labels(curve([40, 43, 46], [0.8, 0.85, 0.9]), curve([40, 45, 50], [0.8, 0.84, 0.89]))
    assert at["labels"] == 46 and at["interpolated"] == {"random": (45, 50)}
    np.testing.assert_allclose(at["random"], 0.84 + 0.2 * 0.05)
    np.testing.assert_allclose(at["difference"], 0.9 - 0.85)


def test_equal_labels_does_not_interpolate_across_a_wide_gap():
    # 40 -> 140 is twenty of the other curve's steps: fall back to the last common count.
    at = compare_at_equal_labels(curve([40, 140, 240], [0.87, 0.97, 1.0]),
                                 curve([40, 45, 50, 55, 60], [0.87, 0.88, 0.91, 0.92, 0.93]))
    assert at["labels"] == 40 and at["interpolated"] == {}
    assert at["difference"] == 0.0


def test_equal_labels_drops_nan_and_needs_an_overlap():
    active = curve([40, 140, 240, 330], [0.87, 0.97, 1.0, float("nan")])
    at = compare_at_equal_labels(active, curve([40, 140, 240, 330], [0.87, 0.9, 0.95, 0.99]))
    assert at["labels"] == 240 and at["active_last"] == 240
    assert compare_at_equal_labels(curve([10, 20], [0.5, 0.6]), curve([30, 40], [0.5, 0.6])) is None
    assert compare_at_equal_labels([make_round(0, 10, float("nan"))], curve([10], [0.5])) is None


def test_equal_labels_keeps_the_last_round_of_a_repeated_count():
    # Self-training only: the label count stays while pseudo-labels change the model.
    at = compare_at_equal_labels(curve([600, 600, 600], [0.80, 0.82, 0.83]), curve([600, 700], [0.8, 0.9]))
    assert at["labels"] == 600 and at["active"] == 0.83


# ------------------------------------------------------------------ takeaway
def test_takeaway_golden_on_experiment_a():
    arms = {"entropy": list(run_loop(Config())), "random": list(run_loop(Config(strategy="random")))}
    assert takeaway(arms) == ("Active picking (entropy) reached 95.6% with 60 labels; random reached 93.3% with "
                              "the same number.")


def test_takeaway_at_equal_labels_when_the_arms_end_apart():
    sentence = takeaway({"entropy": curve([40, 43, 46], [0.8, 0.85, 0.9]),
                         "random": curve([40, 45, 50], [0.8, 0.84, 0.89])})
    assert sentence == ("Active picking (entropy) reached 90.0% with 46 labels; random reached about 85.0% with the "
                        "same number (interpolated between its measurements at 45 and 50).")


def test_takeaway_says_how_far_the_active_arm_went():
    sentence = takeaway({"margin": curve([40, 140, 240, 330], [0.87, 0.97, 1.0, float("nan")]),
                         "random": curve([40, 45, 50], [0.87, 0.88, 0.9])})
    assert sentence == ("Active picking (margin) reached 87.0% with 40 labels; random reached 87.0% with the same "
                        "number (margin went on to 100.0% with 240 labels).")
    assert "nan" not in sentence


def test_takeaway_never_says_nan():
    nan = float("nan")
    assert takeaway({"entropy": [make_round(0, 5, nan)], "random": curve([5], [0.5])}) == (
        "Active picking (entropy): nothing was left to evaluate.")
    assert takeaway({"entropy": curve([5], [0.5]), "random": [make_round(0, 5, nan)]}) == (
        "Active picking (entropy) reached 50.0% with 5 labels; random: nothing was left to evaluate.")
    assert takeaway({}) == "Nothing has run yet."


def test_takeaway_of_single_arms_and_pseudo_labels():
    rounds = [make_round(0, 600, 0.829), make_round(1, 600, 0.8305, n_pseudo=40360, stop="schedule_done")]
    assert takeaway({"none": rounds}) == "Self-training reached 83.0% with 600 labels and 40,360 pseudo-labels."
    assert takeaway({"entropy": curve([1], [0.5]), "margin": curve([2], [0.25])}) == (
        "Active picking (entropy) reached 50.0% with 1 label; active picking (margin) reached 25.0% with 2 labels.")


@pytest.mark.parametrize("value, text", [(0.95556, "95.6%"), (1.0, "100.0%"), (0.0, "0.0%"),
                                         (float("nan"), "nothing was left to evaluate"),
                                         (None, "nothing was left to evaluate")])
def test_fmt_accuracy(value, text):
    assert fmt_accuracy(value) == text


# ------------------------------------------------------------------ stop reason, confidence
@pytest.mark.parametrize("reason, words", [("rounds_done", "all rounds run"),
                                           ("pool_exhausted", "no unlabeled images left"),
                                           ("schedule_done", "no thresholds left"), (None, "still running"),
                                           ("budget_spent", "budget spent")])
def test_plain_stop_reason(reason, words):
    assert plain_stop_reason(reason) == words


def test_confidence_note_speaks_only_below_one_percent_of_the_largest():
    largest = math.log(10)
    confident = make_round(0, 5, 0.9, uncertainty=np.r_[np.full(10, 0.009 * largest), 0.5],
                           status=np.r_[np.zeros(10), 1])  # the uncertain one is already revealed
    note = confidence_note(confident)
    assert note == ("The model is confident about every unlabeled image: the 8 most uncertain unlabeled images "
                    "have entropy at most 0.021, under 1% of the largest possible (2.3), so the \"most uncertain\" "
                    "images are ones it is sure about.")
    unsure = make_round(0, 5, 0.9, uncertainty=np.r_[np.full(10, 0.011 * largest)], status=np.zeros(10))
    assert confidence_note(unsure) is None
    all_labeled = make_round(0, 5, 0.9, uncertainty=np.zeros(3), status=np.ones(3))
    assert confidence_note(all_labeled) is None


@pytest.mark.parametrize("measure, largest", [("margin", 1.0), ("least_confident", 0.9)])
def test_confidence_note_uses_the_measure_largest_value(measure, largest):
    below = make_round(0, 5, 0.9, uncertainty=np.full(4, 0.0099 * largest), measure=measure)
    above = make_round(0, 5, 0.9, uncertainty=np.full(4, 0.0101 * largest), measure=measure)
    assert "the 4 most uncertain" in confidence_note(below) and confidence_note(above) is None


def test_confidence_note_on_a_real_run():
    rounds = list(run_loop(Config(batch_size=100)))
    assert confidence_note(rounds[0]) is None
    assert confidence_note(rounds[2]) is not None  # 90 images left, all nearly certain
    assert confidence_note(rounds[3]) is None  # none left


# ------------------------------------------------------------------ command line words
def test_cli_prints_words_not_nan_and_json_keeps_null(capsys):
    import json

    from alsim.cli.main import main

    assert main(["run", "--set", "batch_size=100"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "stop: no unlabeled images left (pool_exhausted)" in out
    assert "nothing was left to evaluate" in out.splitlines()[5]  # round 3's row
    assert ("Every pool image was labeled by round 3, so nothing was left to measure accuracy on; the numbers shown "
            "are from round 2 (240 labels).") in out
    assert "baseline, first 240 pool points labeled" in out  # at the last count with an accuracy
    assert "Active picking (entropy) reached 100.0% with 240 labels" in out
    assert main(["run", "--set", "batch_size=100", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rounds"][-1]["accuracy"] is None and doc["stop_reason"] == "pool_exhausted"


def test_the_self_training_arm_reads_the_same_on_the_page_and_the_command_line():
    from alsim.evidence.narrative import _arm_phrase

    assert _arm_phrase("self-training") == _arm_phrase("none") == "self-training"
    assert _arm_phrase("entropy") == "active picking (entropy)" and _arm_phrase("random") == "random"
    assert _arm_phrase("true labels (oracle)") == "true labels (oracle)"
