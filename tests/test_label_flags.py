"""Flagged label errors (confident learning with cleanlab): planted wrong labels are found, the
result equals cleanlab called directly, per-round flags in the loop, ``alsim label --check``, and
one line when cleanlab is missing."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from alsim.cli.main import main
from alsim.common.errors import ConfigError
from alsim.data.sources import load_source
from alsim.labeling import checks
from alsim.labeling import projects as labeling
from alsim.learn.label_issues import CleanlabMissing, check_labels, flag_counts
from alsim.loop.config import Config
from alsim.loop.oracles import StoreOracle
from alsim.loop.pool import prepare
from alsim.loop.records import Flags
from alsim.loop.run import REVEALED, run_loop


def planted(size: int, rate: float, seed: int = 0):
    """``(features, given labels, wrong mask)``: a digits subset with a share ``rate`` of labels
    replaced by another class drawn uniformly."""
    digits = load_source("digits")
    rng = np.random.default_rng(seed)
    ids = rng.choice(len(digits.labels), size, replace=False)
    truth = np.asarray(digits.labels)[ids]
    wrong = rng.random(size) < rate
    given = truth.copy()
    given[wrong] = (truth[wrong] + rng.integers(1, 10, int(wrong.sum()))) % 10
    return np.asarray(digits.images, dtype=np.float64).reshape(len(digits.labels), -1)[ids], given, wrong


@pytest.fixture(scope="module")
def planted_check():
    x, given, wrong = planted(200, 0.15)
    return x, given, wrong, check_labels(x, given, seed=0)


def test_planted_wrong_labels_are_flagged(planted_check):
    _, _, wrong, check = planted_check
    n_flagged, hits, n_wrong = flag_counts(check, wrong)
    assert n_wrong == int(wrong.sum()) > 20
    # A flag is right over three times as often as a label picked blindly (15%), and most wrong labels are found.
    assert hits / n_flagged > 3 * n_wrong / len(wrong) and hits / n_wrong > 0.5, (n_flagged, hits, n_wrong)
    assert check.checked.all() and check.n_folds == 5 and check.note == ""


def test_the_flags_equal_cleanlab_on_scikit_learns_cross_validated_probabilities(planted_check):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, given, _, check = planted_check
    proba = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)), x, given,
                              cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")
    expected = find_label_issues(given, proba, return_indices_ranked_by="self_confidence", n_jobs=1)
    np.testing.assert_array_equal(check.flagged, expected)
    np.testing.assert_allclose(check.quality, get_label_quality_scores(given, proba, method="self_confidence"))
    np.testing.assert_array_equal(check.suggested, proba.argmax(axis=1))
    assert np.all(np.diff(check.quality[check.flagged]) >= 0), "least self-confident first"


def test_classes_that_are_not_0_to_k_and_another_seed_equal_cleanlab_on_the_renumbered_classes():
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, given, _ = planted(300, 0.15, seed=2)
    keep = np.flatnonzero(np.isin(given, [3, 5, 8]))
    keep = np.concatenate([[np.flatnonzero(given == 0)[0]], keep])  # and one label of class 0, unjudged
    x, given = x[keep], given[keep]
    check = check_labels(x, given, seed=3)
    rows = np.arange(1, len(given))
    y = np.searchsorted([3, 5, 8], given[rows])
    proba = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)), x[rows], y,
                              cv=StratifiedKFold(5, shuffle=True, random_state=3), method="predict_proba")
    np.testing.assert_array_equal(check.flagged,
                                  rows[find_label_issues(y, proba, return_indices_ranked_by="self_confidence",
                                                         n_jobs=1)])
    np.testing.assert_allclose(check.quality[rows], get_label_quality_scores(y, proba, method="self_confidence"))
    # Suggestions name the data's classes (3, 5, 8), not their positions among the judged ones.
    np.testing.assert_array_equal(check.suggested, np.concatenate([[-1], np.array([3, 5, 8])[proba.argmax(axis=1)]]))
    assert set(check.suggested[rows]) == {3, 5, 8}


def test_a_class_with_one_label_is_left_unchecked_and_the_folds_fit_the_smallest_class():
    x, given, _ = planted(60, 0.0, seed=1)
    keep = np.flatnonzero(np.isin(given, [0, 1, 2]))
    x, given = x[keep], given[keep]
    lone = np.flatnonzero(given == 2)[0]
    given = given.copy()
    given[np.flatnonzero(given == 2)[1:]] = 1  # class 2 keeps one label; class 0 and 1 keep theirs
    smallest = min(np.count_nonzero(given == 0), np.count_nonzero(given == 1))
    check = check_labels(x, given, seed=0)
    assert not check.checked[lone] and np.isnan(check.quality[lone]) and check.suggested[lone] == -1
    assert lone not in check.flagged
    assert check.n_checked == len(given) - 1
    assert check.n_folds == min(5, smallest)
    assert check.note == "1 label of classes with one label each left unchecked"
    assert set(check.suggested[check.checked]) <= {0, 1}


@pytest.mark.parametrize("labels, why", [([3, 3, 3, 3], "one class among the labels"),
                                         ([3, 3, 4], "fewer than two classes with two or more labels"),
                                         ([], "no labels")])
def test_with_fewer_than_two_judged_classes_nothing_is_flagged_and_the_note_says_why(labels, why):
    x = np.arange(len(labels) * 4, dtype=float).reshape(len(labels), 4)
    check = check_labels(x, np.array(labels, dtype=np.int64))
    assert len(check.flagged) == 0 and check.n_checked == 0 and check.n_folds == 0
    assert check.note == f"nothing checked: {why}, so no model can judge a label it has not seen"


# ------------------------------------------------------------------------------------ in the loop
LOOP = Config(n_rounds=3, n_initial=40, batch_size=10)


def test_per_round_flags_equal_a_check_of_the_revealed_labels_against_the_truth():
    """The loop's oracle answers with planted wrong labels; each round's flags are the check of the
    labels it revealed, scored against the truth."""
    prepared = prepare(LOOP)
    truth = prepared.labels
    rng = np.random.default_rng(3)
    answers = truth.copy()
    wrong = rng.random(len(truth)) < 0.2
    answers[wrong] = (truth[wrong] + rng.integers(1, 10, int(wrong.sum()))) % 10
    oracle = StoreOracle(answers, np.zeros(len(truth), dtype=bool), truth=truth)
    rounds = list(run_loop(LOOP.replace(flag_label_errors=True), oracle=oracle))
    assert len(rounds) == 3
    for record in rounds:
        revealed = np.flatnonzero(record.status == REVEALED)
        check = check_labels(prepared.features[revealed], answers[revealed], seed=LOOP.seed)
        n_flagged, hits, n_wrong = flag_counts(check, wrong[revealed])
        assert record.flags == Flags(n_flagged, check.n_checked, n_wrong, hits, check.note)
        assert n_wrong == round((1 - record.revealed_precision) * record.n_labeled) > 0
        assert record.flags.precision == pytest.approx(hits / n_flagged)
        assert record.flags.recall == pytest.approx(hits / n_wrong)
        assert record.to_dict()["flags"]["recall"] == record.flags.recall


def test_with_a_perfect_oracle_no_revealed_label_is_wrong_and_without_the_switch_no_flags():
    on = list(run_loop(LOOP.replace(n_rounds=1, flag_label_errors=True)))[0]
    assert on.flags.n_wrong == 0 and on.flags.flagged_wrong == 0 and on.flags.recall is None
    assert on.flags.precision == (0.0 if on.flags.n_flagged else None)
    assert "no revealed label was wrong" in on.flags.sentence()
    off = list(run_loop(LOOP.replace(n_rounds=1)))[0]
    assert off.flags is None and "flags" not in off.to_dict()


def test_the_switch_is_validated_and_set_like_any_field():
    assert Config().with_overrides(["flag_label_errors=true"]).flag_label_errors is True
    assert Config.from_json('{"flag_label_errors": true}').flag_label_errors is True
    with pytest.raises(ConfigError, match=r"^flag_label_errors must be true or false, got 'yes'$"):
        Config(flag_label_errors="yes")


# ------------------------------------------------------------------------------------ a person's labels
@pytest.fixture
def noisy_project():
    """A digits project (200 pool images) with 100 stored labels, 15% of them planted wrong."""
    project = labeling.create_project("noisy", "digits", ["pool_size=200"])
    truth = prepare(project.config).labels
    rng = np.random.default_rng(0)
    items = np.arange(100)
    given = truth[items].copy()
    wrong = rng.random(len(items)) < 0.15
    given[wrong] = (given[wrong] + rng.integers(1, 10, int(wrong.sum()))) % 10
    project.store.set_labels(project.id, [(int(i), int(g)) for i, g in zip(items, given)], "me", "typed")
    return project, items, given, wrong


def test_check_lists_the_flagged_labels_as_a_direct_check_does(noisy_project, capsys):
    project, items, given, wrong = noisy_project
    result = checks.doubtful_labels(project)
    direct = check_labels(prepare(project.config).features[items], given, seed=project.config.seed)
    assert [d.item for d in result.doubts] == items[direct.flagged].tolist()
    assert [d.suggestion for d in result.doubts] == direct.suggested[direct.flagged].tolist()
    assert [d.given for d in result.doubts] == given[direct.flagged].tolist()
    hits = int(wrong[direct.flagged].sum())
    assert hits / len(result.doubts) > 0.5 and hits / wrong.sum() > 0.6
    out = io.StringIO()
    assert main(["label", "noisy", "--check"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["id", "file", "given", "suggestion", "score"]
    rows = [line.split() for line in lines[1:-1]]
    names = project.class_names
    assert rows == [[str(d.item), "-", names[d.given], names[d.suggestion], f"{d.score:.3f}"] for d in result.doubts]
    assert lines[-1] == (f"{len(result.doubts)} of 100 checked labels flagged (100 labels; 5-fold "
                         "cross-validation)")


def test_the_check_follows_a_relabel_of_the_same_items(noisy_project):
    # The same labeled items with one label changed: the check is of the labels as they stand now.
    project, items, given, wrong = noisy_project
    first = checks.doubtful_labels(project).doubts[0]
    labeling.add_label(project, first.item, first.suggestion, annotator="me")
    now = given.copy()
    now[items == first.item] = first.suggestion
    direct = check_labels(prepare(project.config).features[items], now, seed=project.config.seed)
    again = checks.doubtful_labels(project)
    assert [(d.item, d.given) for d in again.doubts] == list(zip(items[direct.flagged].tolist(),
                                                                 now[direct.flagged].tolist()))
    assert (first.item, first.given) not in [(d.item, d.given) for d in again.doubts]


# ------------------------------------------------------------------------------------ cleanlab missing
@pytest.fixture
def without_cleanlab(monkeypatch):
    for name in ("cleanlab", "cleanlab.filter", "cleanlab.rank"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


def test_without_cleanlab_every_way_in_is_one_line_and_nothing_runs(without_cleanlab, capsys, monkeypatch):
    with pytest.raises(CleanlabMissing, match=r"^flagging label errors needs cleanlab, which is not installed: "
                                              r"pip install cleanlab$"):
        check_labels(np.zeros((4, 2)), np.array([0, 0, 1, 1]))
    with pytest.raises(ConfigError, match=r"^flag_label_errors=true: flagging label errors needs cleanlab"):
        Config(flag_label_errors=True)
    assert Config().flag_label_errors is False  # the default run does not need it

    out = io.StringIO()
    assert main(["run", "--set", "flag_label_errors=true"], out=out) == 2
    assert out.getvalue() == "", "nothing ran (the table's header comes once the pool is prepared)"
    err = capsys.readouterr().err
    assert err == ("alsim: error: flag_label_errors=true: flagging label errors needs cleanlab, which is not "
                   "installed: pip install cleanlab\n")
    labeling.create_project("plain", "digits-tutorial")
    monkeypatch.setattr(checks, "prepare", lambda *a, **k: pytest.fail("a pool was prepared"))
    assert main(["label", "plain", "--check"], out=io.StringIO()) == 2
    assert capsys.readouterr().err == ("alsim: error: flagging label errors needs cleanlab, which is not installed: "
                                       "pip install cleanlab\n")


def test_the_run_table_has_the_flags_of_every_round_and_says_the_last_in_words():
    config = Config(oracle_noise=0.2, flag_label_errors=True, n_rounds=2)
    rounds = list(run_loop(config))
    out = io.StringIO()
    assert main(["run", "--set", "oracle_noise=0.2", "--set", "flag_label_errors=true", "--set", "n_rounds=2",
                 "--no-baseline"], out=out) == 0
    lines = out.getvalue().splitlines()
    header = lines[1].split()
    assert header[-3:] == ["flagged", "flag_prec", "flag_recall"]
    for line, record in zip(lines[2:4], rounds):
        cells = line.split()
        assert cells[0] == str(record.index)
        assert cells[-3:] == [str(record.flags.n_flagged), f"{record.flags.precision:.4f}",
                              f"{record.flags.recall:.4f}"]
    assert (f"likely wrong labels (confident learning), round 1: {rounds[-1].flags.sentence()}"
            in lines)
