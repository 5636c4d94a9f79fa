import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.svm import LinearSVC

from alsim.models import NewtonLinearSVC, ovr_sigmoid_proba

X, Y = load_digits(return_X_y=True)
X = X / 16.0


def _objective(coef, intercept, x, y, classes, C=1.0):
    """liblinear's primal objective of LinearSVC, summed over the one-vs-rest problems."""
    total = 0.0
    for k, cls in enumerate(classes):
        t = np.where(y == cls, 1.0, -1.0)
        w = np.append(coef[k], intercept[k])
        slack = np.maximum(0.0, 1.0 - t * (x @ coef[k] + intercept[k]))
        total += 0.5 * w @ w + C * slack @ slack
    return total


@pytest.mark.parametrize("n, C", [(300, 1.0), (1797, 1.0), (800, 0.1)])
def test_newton_minimises_linearsvc_objective_at_least_as_well(n, C):
    x, y = X[:n], Y[:n]
    ref = LinearSVC(C=C).fit(x, y)
    mine = NewtonLinearSVC(C=C).fit(x, y)
    ours = _objective(mine.coef_, mine.intercept_, x, y, mine.classes_, C)
    theirs = _objective(ref.coef_, ref.intercept_, x, y, ref.classes_, C)
    assert ours <= theirs * (1 + 1e-9)
    assert ours >= theirs * (1 - 1e-3)  # the same problem: liblinear stops near the optimum
    agree = (mine.decision_function(X).argmax(1) == ref.decision_function(X).argmax(1)).mean()
    assert agree > 0.995


def test_warm_start_reaches_the_same_optimum():
    cold = NewtonLinearSVC().fit(X[:1200], Y[:1200])
    start = NewtonLinearSVC().fit(X[:600], Y[:600]).weights_
    warm = NewtonLinearSVC().fit(X[:1200], Y[:1200], warm_start=start)
    np.testing.assert_allclose(warm.weights_, cold.weights_, atol=1e-6)
    assert warm.n_iter_.sum() < cold.n_iter_.sum()


def test_binary_problem_has_one_decision_function():
    mask = Y < 2
    model = NewtonLinearSVC().fit(X[mask], Y[mask])
    ref = LinearSVC().fit(X[mask], Y[mask])
    assert model.decision_function(X[mask]).shape == (mask.sum(),)
    assert (np.sign(model.decision_function(X[mask])) == np.sign(ref.decision_function(X[mask]))).mean() > 0.99


def test_ovr_sigmoid_proba_golden():
    proba = ovr_sigmoid_proba(np.array([[0.0, 0.0], [2.0, -2.0]]))
    np.testing.assert_allclose(proba, [[0.5, 0.5], [0.8807970779778823, 0.11920292202211755]])
    binary = ovr_sigmoid_proba(np.array([0.0, np.log(3)]))
    np.testing.assert_allclose(binary, [[0.5, 0.5], [0.25, 0.75]])
