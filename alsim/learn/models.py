"""Supervised models of the loop and their class probabilities over all classes."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

# liblinear's and lbfgs's "did not converge" would repeat on every round of a loop; the fit
# still returns its last iterate, which the loop evaluates like any other. The filter is
# installed once, here, and names only that category from scikit-learn. A
# ``warnings.catch_warnings()`` around each fit would instead swap the process-wide filter
# list while the fit runs, which is not thread-safe: the dashboard runs every browser
# session as a thread of one process, so one session's fit could hide (or bring back)
# another session's warnings.
warnings.filterwarnings("ignore", category=ConvergenceWarning, module=r"sklearn(\.|$)")


def ovr_sigmoid_proba(decision: np.ndarray) -> np.ndarray:
    """Per-class probabilities from one-vs-rest decision values.

    The sigmoid of each class's decision value, normalised to sum to 1 per row
    (experiment B's recipe; the public equivalent of scikit-learn's private
    ``_predict_proba_lr``). A 1-D input is a binary problem: columns (1-p, p).

    Parameters
    ----------
    decision : ndarray, shape (n,) or (n, n_classes)

    Returns
    -------
    ndarray, shape (n, max(2, n_classes))
    """
    decision = np.asarray(decision, dtype=np.float64)
    prob = expit(decision)
    if prob.ndim == 1:
        return np.column_stack([1.0 - prob, prob])
    return prob / prob.sum(axis=1, keepdims=True)


def make_classifier(model: str, C: float, seed: int):
    """A fresh scikit-learn estimator for a supervised model name."""
    if model == "linear_svc":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=C, random_state=seed)
    if model == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, max_iter=1000)
    raise ValueError(f"not a supervised model: {model!r}")


def classifier_proba(estimator, features: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities of a fitted estimator spread onto all ``n_classes`` columns."""
    if hasattr(estimator, "predict_proba"):
        local = estimator.predict_proba(features)
    else:
        local = ovr_sigmoid_proba(estimator.decision_function(features))
    proba = np.zeros((len(features), n_classes))
    proba[:, estimator.classes_] = local
    return proba


def fit_supervised(model: str, C: float, seed: int, train_x: np.ndarray, train_y: np.ndarray,
                   predict_on: list[np.ndarray | None], n_classes: int,
                   state: dict | None = None) -> list[np.ndarray | None]:
    """Fit on the labeled rows and return probabilities for each array in ``predict_on``.

    With a single class among the labels no estimator can be fitted; every point then
    gets that class with probability 1. ``state`` (a dict kept by the caller between
    rounds) lets ``linear_svc_newton`` start from the previous round's weights.
    """
    present = np.unique(train_y)
    if len(present) == 1:
        out = []
        for features in predict_on:
            if features is None:
                out.append(None)
                continue
            proba = np.zeros((len(features), n_classes))
            proba[:, present[0]] = 1.0
            out.append(proba)
        return out
    if model == "linear_svc_newton":
        state = state if state is not None else {}
        previous = state.get("weights") if state.get("classes") == tuple(present.tolist()) else None
        estimator = NewtonLinearSVC(C=C).fit(train_x, train_y, warm_start=previous)
        state["weights"], state["classes"] = estimator.weights_, tuple(present.tolist())
    else:
        estimator = make_classifier(model, C, seed)
        estimator.fit(train_x, train_y)  # ConvergenceWarning is filtered once, at import
    return [None if f is None else classifier_proba(estimator, f, n_classes) for f in predict_on]


def cross_validated_proba(features: np.ndarray, labels: np.ndarray, n_classes: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold class probabilities of a logistic regression trained on every known label.

    The reference model of the simulated annotators (:mod:`alsim.loop.annotators`): what a
    model finds hard, and which classes it confuses, when it has seen every other label.
    Features are standardised over the pool first (lbfgs converges on raw pixels too); folds
    are stratified with a fixed generator, so the result depends on the pool only. Points
    whose label is unknown (-1) are neither trained on nor predicted: their rows are uniform.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    labels : ndarray, shape (n,), class ids; -1 = unknown
    n_classes : int
    folds : int
        Number of folds (fewer when even the largest class has fewer points).

    Returns
    -------
    ndarray, shape (n, n_classes), rows summing to 1
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    proba = np.full((len(labels), n_classes), 1.0 / n_classes)
    known = np.flatnonzero(labels >= 0)
    y = labels[known]
    if len(np.unique(y)) < 2:  # one class: nothing to confuse it with
        proba[known] = 0.0
        proba[known, y] = 1.0
        return proba
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64)[known])
    # Stratified folds by hand: each class's members, in a fixed random order, dealt round
    # the folds (scikit-learn's StratifiedKFold warns when a class is smaller than the folds).
    n_folds = int(min(folds, max(2, np.bincount(y).max())))
    fold_of = np.empty(len(y), dtype=np.int64)
    rng = np.random.default_rng(0)
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        fold_of[members] = np.arange(len(members)) % n_folds
    for fold in range(n_folds):
        train, held_out = fold_of != fold, fold_of == fold
        if not held_out.any():
            continue
        present = np.unique(y[train])
        if len(present) < 2:
            proba[known[held_out]] = 0.0
            proba[known[held_out], present[0]] = 1.0
            continue
        model = LogisticRegression(max_iter=1000).fit(x[train], y[train])
        proba[known[held_out]] = classifier_proba(model, x[held_out], n_classes)
    return proba


class NewtonLinearSVC:
    """LinearSVC's objective, minimised by Newton's method on the primal.

    Each one-vs-rest problem is scikit-learn's ``LinearSVC(loss="squared_hinge",
    penalty="l2", fit_intercept=True, intercept_scaling=1)`` as liblinear states it:
    minimise ``0.5 * ||w||^2 + C * sum_i max(0, 1 - t_i * w.x_i)^2`` with a constant 1
    appended to every x (so the intercept is regularised, as in liblinear).

    The objective is piecewise quadratic, so Newton steps on the current set of
    margin violators converge in a few iterations (Chapelle, "Training a support vector
    machine in the primal", 2007). With few features (HOG: 324) the Hessian
    ``I + 2C X_A' X_A`` is small; it is updated from one iteration to the next by the rows
    that joined or left the violator set, and solved with scipy's Cholesky. Started from
    the previous round's weights (``warm_start``), a round with tens of thousands of rows
    takes a few iterations. Probabilities are the one-vs-rest sigmoid recipe of
    :func:`ovr_sigmoid_proba`, as for LinearSVC.

    Parameters
    ----------
    C : float
    tol : float
        Stop when the gradient norm falls below ``tol`` times its norm at the start.
    max_iter : int
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-10, max_iter: int = 100):
        self.C, self.tol, self.max_iter = C, tol, max_iter
        self.coef_ = self.intercept_ = self.classes_ = None
        self.n_iter_ = None

    def fit(self, X: np.ndarray, y: np.ndarray, warm_start: np.ndarray | None = None) -> "NewtonLinearSVC":
        """Fit; ``warm_start`` is a (n_features + 1, n_classes) weight matrix (bias last row).

        Parameters
        ----------
        X : ndarray, shape (n, n_features)
        y : ndarray, shape (n,), at least two classes
        warm_start : ndarray, shape (n_features + 1, n_classes), optional
            Ignored when its shape does not match.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        self.classes_ = np.unique(y)
        W = np.zeros((X.shape[1] + 1, len(self.classes_)))
        if warm_start is not None and warm_start.shape == W.shape:
            W[:] = warm_start
        # One-vs-rest targets: +1 for the class of the column, -1 for every other.
        T = np.where(np.asarray(y)[:, None] == self.classes_[None, :], 1.0, -1.0)
        self.n_iter_ = self._minimise(X, T, W)
        self.weights_ = W
        self.coef_, self.intercept_ = W[:-1].T.copy(), W[-1].copy()
        if len(self.classes_) == 2:  # binary: one decision function for the second class, as LinearSVC
            self.coef_, self.intercept_ = self.coef_[1:], self.intercept_[1:]
        return self

    def _minimise(self, X: np.ndarray, T: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Newton iterations on every one-vs-rest problem at once; ``W`` is updated in place.

        All classes advance together, so one pass over X per product serves every class.
        Returns the number of iterations each class took, shape (n_classes,).
        """
        n_classes = W.shape[1]
        M = _augmented_times(X, W)  # decision values, shape (n, n_classes)
        active = T * M < 1.0  # margin violators: the rows in each class's quadratic piece
        grams = [_augmented_gram(X, active[:, k]) for k in range(n_classes)]
        first = None
        done = np.zeros(n_classes, dtype=bool)
        iterations = np.zeros(n_classes, dtype=np.int64)
        for iteration in range(1, self.max_iter + 1):
            G = W + 2.0 * self.C * _augmented_transposed_times(X, np.where(active, M - T, 0.0))
            norms = np.linalg.norm(G, axis=0)
            first = norms if first is None else first
            done |= norms <= self.tol * np.maximum(first, 1.0)
            if done.all():
                break
            iterations[~done] = iteration
            P = self._newton_directions(grams, G, ~done)
            moved = _augmented_times(X, P)
            sizes = self._line_search(W, M, T, G, P, moved, ~done)
            W += P * sizes
            M += moved * sizes
            new_active = T * M < 1.0
            # A full step that leaves the violator set unchanged lands on the exact minimum of
            # the quadratic piece, which is then the global one; no step at all means the
            # gradient is at rounding level.
            settled = (sizes == 1.0) & (new_active == active).all(axis=0)
            done |= (settled | (sizes == 0.0)) & ~done
            _update_grams(grams, X, active, new_active, ~done)
            active = new_active
        return iterations

    def _newton_directions(self, grams: list[np.ndarray], G: np.ndarray, todo: np.ndarray) -> np.ndarray:
        """Solve ``(I + 2C X_A' X_A) p = -g`` for each class still to do (zeros elsewhere)."""
        from scipy.linalg import cho_factor, cho_solve

        P = np.zeros_like(G)
        for k in np.flatnonzero(todo):
            hessian = 2.0 * self.C * grams[k]
            hessian[np.diag_indices_from(hessian)] += 1.0
            P[:, k] = -cho_solve(cho_factor(hessian, check_finite=False), G[:, k], check_finite=False)
        return P

    def _line_search(self, W, M, T, G, P, moved, todo) -> np.ndarray:
        """Backtracking (Armijo) step per class; a full Newton step is the usual outcome."""
        def objective(w, m, t):
            slack = np.maximum(0.0, 1.0 - t * m)
            return 0.5 * (w * w).sum(axis=0) + self.C * (slack * slack).sum(axis=0)

        sizes = np.zeros(W.shape[1])
        sizes[todo] = 1.0
        current = objective(W, M, T)
        slope = (G * P).sum(axis=0)
        pending = todo.copy()
        while pending.any():
            k = np.flatnonzero(pending)
            trial = objective(W[:, k] + sizes[k] * P[:, k], M[:, k] + sizes[k] * moved[:, k], T[:, k])
            ok = trial <= current[k] + 1e-4 * sizes[k] * slope[k]
            pending[k[ok]] = False
            sizes[k[~ok]] *= 0.5
            tiny = sizes < 1e-10
            sizes[tiny & pending] = 0.0
            pending &= ~tiny
        return sizes

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores


# ------------------------------------------------------------------ [X, 1] products for NewtonLinearSVC
# The constant feature of the intercept is never materialised: X stays as given.
def _augmented_times(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``[X, 1] @ V`` for V of shape (n_features + 1, k)."""
    return X @ V[:-1] + V[-1]


def _augmented_transposed_times(X: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``[X, 1]' @ R`` for R of shape (n, k)."""
    return np.vstack([X.T @ R, R.sum(axis=0, keepdims=True)])


def _augmented_gram(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``[X, 1]_rows' [X, 1]_rows``, shape (n_features + 1, n_features + 1)."""
    part = X[rows]
    d = X.shape[1] + 1
    out = np.empty((d, d))
    out[:-1, :-1] = part.T @ part
    out[-1, :-1] = out[:-1, -1] = part.sum(axis=0)
    out[-1, -1] = len(part)
    return out


def _update_grams(grams: list[np.ndarray], X: np.ndarray, active: np.ndarray, new_active: np.ndarray,
                  todo: np.ndarray) -> None:
    """Bring each unfinished class's Gram matrix to its new violator set, in place.

    Adding the rows that joined and removing those that left is cheaper than a fresh
    product while fewer than half of the violators changed.
    """
    for k in np.flatnonzero(todo):
        joined = new_active[:, k] & ~active[:, k]
        left = active[:, k] & ~new_active[:, k]
        if joined.sum() + left.sum() > new_active[:, k].sum() // 2:
            grams[k] = _augmented_gram(X, new_active[:, k])
        else:
            grams[k] = grams[k] + _augmented_gram(X, joined) - _augmented_gram(X, left)
