from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.svm import LinearSVC

from alsim.learn.models import NewtonLinearSVC, ovr_sigmoid_proba

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


def test_newton_golden_values():
    # Recorded before NewtonLinearSVC.fit was split into named steps; the split is exact.
    model = NewtonLinearSVC().fit(X[:300], Y[:300])
    assert model.n_iter_.tolist() == [8, 8, 8, 8, 7, 8, 7, 7, 7, 8]
    np.testing.assert_allclose(model.weights_[-1], [
        -0.30707995744109445, -0.7044926981042746, -0.1375025884634101, -0.2306473964606632, -0.21515224638274758,
        -0.3191788183011566, -0.37875781776241724, -0.3298644551824834, -1.347049176824689, -0.3306670237716506],
        rtol=1e-12)
    assert np.abs(model.weights_).sum() == pytest.approx(145.0839119967007, rel=1e-12)


def test_newton_fit_leaves_the_process_blas_threads_alone(monkeypatch):
    import threadpoolctl

    def refuse(*args, **kwargs):
        raise AssertionError("a fit changed the BLAS thread count of the whole process")

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", refuse)
    monkeypatch.setattr(threadpoolctl.ThreadpoolController, "limit", refuse)
    before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    NewtonLinearSVC().fit(X[:600], Y[:600])
    assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before


@pytest.mark.parametrize("model", ["linear_svc", "logistic_regression", "linear_svc_newton"])
def test_fits_leave_the_process_warning_filters_alone(model):
    """Another thread (a second dashboard session) must never see the filters change."""
    import threading
    import warnings

    from alsim.learn.models import fit_supervised

    before = list(warnings.filters)
    changed = []
    stop = threading.Event()

    def watch():
        while not stop.wait(0.0002):
            if warnings.filters != before:
                changed.append(list(warnings.filters[:1]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for n in (100, 200, 300, 400, 500):
            fit_supervised(model, 1.0, 0, X[:n], Y[:n], [X[:5]], 10)
    finally:
        stop.set()
        watcher.join()
    assert not changed, f"filters changed during a fit, e.g. {changed[0]}"


def test_only_convergence_warnings_are_silenced():
    import os
    import subprocess
    import sys

    script = """
import warnings
warnings.simplefilter("error")  # every warning raises ...
import numpy as np
from alsim.learn.models import fit_supervised  # ... except the ConvergenceWarning it filters once
from sklearn.exceptions import ConvergenceWarning

rng = np.random.default_rng(0)
x = rng.normal(size=(60, 4))
y = (x[:, 1] > 0).astype(int) + (x[:, 2] > 0)
x[:, 0] *= 1e4  # lbfgs does not converge on this scale
fit_supervised("logistic_regression", 1e4, 0, x, y, [x[:5]], 3)
with warnings.catch_warnings(record=True) as caught:  # the same fit does warn without the filter
    warnings.simplefilter("always")
    fit_supervised("logistic_regression", 1e4, 0, x, y, [x[:5]], 3)
assert any(issubclass(w.category, ConvergenceWarning) for w in caught), caught
try:
    warnings.warn("another warning", UserWarning)
except UserWarning:
    print("other warnings still raise")
"""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # a tiny problem
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=root,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "other warnings still raise"
