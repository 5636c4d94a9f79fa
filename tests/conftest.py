"""Shared fixtures: a small Fashion-like IDX data set written by the tests themselves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from alsim.data import FASHION_FILES, fashion_available, write_idx

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def make_fashion_like(folder: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """Write four IDX files of 28x28 images whose class is a noisy bar pattern."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def images_for(labels):
        out = rng.integers(0, 60, size=(len(labels), 28, 28))
        for i, label in enumerate(labels):
            if label < 5:  # horizontal bar at a class-specific height
                out[i, 3 + 4 * label: 6 + 4 * label, 4:24] += 180
            else:  # vertical bar
                out[i, 4:24, 3 + 4 * (label - 5): 6 + 4 * (label - 5)] += 180
        return np.clip(out, 0, 255).astype(np.uint8)

    train_labels = np.tile(np.arange(10), n_train // 10)
    rng.shuffle(train_labels)
    test_labels = np.tile(np.arange(10), n_test // 10)
    write_idx(folder / FASHION_FILES["train_images"], images_for(train_labels))
    write_idx(folder / FASHION_FILES["train_labels"], train_labels)
    write_idx(folder / FASHION_FILES["test_images"], images_for(test_labels))
    write_idx(folder / FASHION_FILES["test_labels"], test_labels)
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Feature caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def fashion_like_dir(tmp_path_factory) -> Path:
    return make_fashion_like(tmp_path_factory.mktemp("fashion_like"))


@pytest.fixture
def fashion_like(fashion_like_dir, monkeypatch) -> Path:
    """ALSIM_DATA_DIR pointing at the generated Fashion-like data set."""
    monkeypatch.setenv("ALSIM_DATA_DIR", str(fashion_like_dir))
    return fashion_like_dir


real_fashion = pytest.mark.skipif(
    not fashion_available(REAL_FASHION),
    reason=f"real Fashion-MNIST not installed in {REAL_FASHION} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture
def real_fashion_dir(monkeypatch) -> Path:
    monkeypatch.setenv("ALSIM_DATA_DIR", str(REAL_FASHION))
    # The real data's HOG cache may live in the user's cache; that's what a user gets too.
    monkeypatch.setenv("ALSIM_CACHE_DIR", os.environ.get("ALSIM_REAL_CACHE_DIR",
                                                         str(Path.home() / ".cache" / "alsim")))
    return REAL_FASHION
