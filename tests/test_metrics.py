import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from alsim.learn.metrics import evaluate


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_cross_check_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500))
    m = evaluate(y_true, y_pred, 10)
    assert m.accuracy == accuracy_score(y_true, y_pred)
    assert m.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    np.testing.assert_array_equal(m.confusion, confusion_matrix(y_true, y_pred))
    report = classification_report(y_true, y_pred, output_dict=True)
    for k in range(10):
        assert m.precision[k] == pytest.approx(report[str(k)]["precision"])
        assert m.recall[k] == pytest.approx(report[str(k)]["recall"])
        assert m.support[k] == report[str(k)]["support"]


def test_absent_classes_and_empty_sets():
    m = evaluate(np.array([0, 0, 1]), np.array([0, 1, 1]), 4)
    assert m.confusion.shape == (4, 4) and m.support.tolist() == [2, 1, 0, 0]
    assert m.accuracy == pytest.approx(2 / 3)
    # Macro-F1 averages over all 4 classes, the absent ones at 0: F1 is 2/3 for both present classes.
    assert m.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 0 + 0) / 4)
    empty = evaluate(np.array([], dtype=int), np.array([], dtype=int), 3)
    assert empty.n == 0 and np.isnan(empty.accuracy) and empty.confusion.shape == (3, 3)


def test_balanced_accuracy_is_scikit_learns_without_touching_warning_filters():
    """A predicted class the truth lacks (a tail class all revealed): the same number as scikit-learn's
    balanced_accuracy_score, and no warning raised, so nothing needs silencing (a session may not change
    the process's warning filters)."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    from alsim.learn.metrics import Metrics

    rng = np.random.default_rng(3)
    for _ in range(200):
        truth = rng.integers(0, 4, 30)
        predicted = rng.integers(0, 6, 30)  # classes 4 and 5 never true
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = balanced_accuracy_score(truth, predicted)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert Metrics(truth, predicted, 6).balanced_accuracy == expected
