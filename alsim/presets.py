"""Named configurations: the two seed experiments and their variants."""

from __future__ import annotations

from .config import Config, ConfigError

_FASHION_SELFTRAIN = dict(
    dataset="fashion-mnist",
    features="hog",
    model="linear_svc",
    initial="stratified",
    n_initial=600,
    batch_size=1,
    strategy="none",
    self_training="pseudo",
    schedule="linear",
    threshold_start=0.75,
    threshold_end=0.30,
    threshold_steps=10,
    threshold_final=0.10,
    # 11 fits, as published: the model evaluated is the one fitted after the 0.30 moves (about
    # 38,000 labels in the true-label variant). The final 0.10 threshold acts after that fit,
    # so it only changes the result with n_rounds=12 (one more fit on what it moved).
    n_rounds=11,
    evaluation="test",
)

PRESETS: dict[str, tuple[str, Config]] = {
    "digits-tutorial": (
        "Experiment A: LabelSpreading(gamma=0.25, max_iter=20) on the 330-point digits pool, "
        "40 first labels, 5 entropy queries per round, 5 fits",
        Config(),
    ),
    "digits-compare": (
        "All 1,797 digits, 40 random initial labels, batch 10, 10 query rounds (11 fits)",
        Config(dataset="digits", initial="random", n_initial=40, batch_size=10, n_rounds=11),
    ),
    "fashion-selftrain": (
        "Experiment B with honest pseudo-labels: LinearSVC on HOG, 600 stratified labels, "
        "thresholds 0.75..0.30 then 0.10 (exact liblinear, about 20 s; model=linear_svc_newton: about 2 s)",
        Config(**_FASHION_SELFTRAIN),
    ),
    "fashion-selftrain-true-labels": (
        "Experiment B as its published code ran it: confident points are moved with their TRUE "
        "labels (an oracle); every move counts as a revealed label",
        Config(**{**_FASHION_SELFTRAIN, "self_training": "oracle"}),
    ),
    "fashion-supervised": (
        "Fully supervised reference: LinearSVC on HOG with all 60,000 training labels",
        Config(**{**_FASHION_SELFTRAIN, "self_training": "off", "initial": "first",
                  "n_initial": 60000, "n_rounds": 1}),
    ),
    "fashion-hybrid": (
        "Hybrid labeling (fast Newton solver of LinearSVC's objective): 100 least-confident points to the "
        "annotator per round, points above "
        "0.40 pseudo-labeled (about 99% precise), 600 stratified initial labels",
        Config(**{**_FASHION_SELFTRAIN, "model": "linear_svc_newton", "strategy": "least_confident",
                  "batch_size": 100,
                  "schedule": "list", "thresholds": (0.40,) * 10, "n_rounds": 11}),
    ),
    "fashion-spreading": (
        "LabelSpreading with a 10-nearest-neighbour graph on all 60,000 HOG vectors, "
        "entropy queries, test accuracy",
        Config(dataset="fashion-mnist", features="hog", model="label_spreading", kernel="knn",
               n_neighbors=10, initial="stratified", n_initial=100, batch_size=50, n_rounds=6,
               evaluation="test"),
    ),
}


def get_preset(name: str) -> Config:
    """The :class:`Config` of a named preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name][1]
