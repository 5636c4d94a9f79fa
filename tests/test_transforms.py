"""Feature kinds and transforms for any data set: colour histograms, standardisation, PCA."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from alsim import Config, run_loop
from alsim.common.errors import ConfigError
from alsim.learn.features import color_histograms
from alsim.loop.pool import prepare


def test_gray_histogram_counts_intensities():
    image = np.zeros((1, 4, 4), dtype=np.uint8)
    image[0, :2] = 255  # 8 bright pixels, 8 dark
    hist = color_histograms(image)
    assert hist.shape == (1, 32)
    assert hist[0, 0] == pytest.approx(0.5) and hist[0, 31] == pytest.approx(0.5)


def test_colour_histogram_is_joint_over_channels():
    image = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    image[0, 0, 0] = (255, 0, 0)  # one blue pixel (BGR), three black
    hist = color_histograms(image).reshape(8, 8, 8)
    assert hist[0, 0, 0] == pytest.approx(0.75) and hist[7, 0, 0] == pytest.approx(0.25)
    assert hist.sum() == pytest.approx(1.0)


def test_digits_histograms_scale_their_0_to_16_range():
    features = prepare(Config(dataset="digits", features="colorhist")).features
    assert features.shape == (1797, 32)
    assert_allclose(features.sum(axis=1), 1.0)
    # A digit's intensity 16 is white (the last bin), 0 is black (the first).
    from sklearn.datasets import load_digits

    images = load_digits().images
    assert_allclose(features[:, 0], (images == 0).mean(axis=(1, 2)))


def test_standardize_then_pca_equals_scikit_learn_by_hand():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    raw = prepare(Config(dataset="digits", pool_size=600)).features
    scaled = StandardScaler().fit_transform(raw)
    expected = PCA(n_components=12, svd_solver="full").fit_transform(scaled)
    got = prepare(Config(dataset="digits", pool_size=600, standardize=True, pca_components=12)).features
    assert got.shape == (600, 12)
    assert_allclose(got, expected, atol=1e-10)
    assert_allclose(prepare(Config(dataset="digits", pool_size=600, standardize=True)).features, scaled)


def test_transforms_are_part_of_the_cache_key():
    plain = prepare(Config(dataset="digits", pool_size=300)).features
    reduced = prepare(Config(dataset="digits", pool_size=300, pca_components=5)).features
    assert plain.shape == (300, 64) and reduced.shape == (300, 5)


def test_pca_applies_to_the_test_split_with_the_pool_fit(fashion_like):
    from sklearn.decomposition import PCA

    config = Config(dataset="fashion-mnist", features="raw", evaluation="test", pca_components=8)
    prepared = prepare(config)
    raw = prepare(config.replace(pca_components=0))
    pca = PCA(n_components=8, svd_solver="full").fit(raw.features)
    assert_allclose(prepared.test_features, pca.transform(raw.test_features), atol=1e-10)


def test_standardize_applies_to_the_test_split_with_the_pool_fit(fashion_like):
    from sklearn.preprocessing import StandardScaler

    config = Config(dataset="fashion-mnist", features="raw", evaluation="test", standardize=True)
    raw = prepare(config.replace(standardize=False))
    scaler = StandardScaler().fit(raw.features)
    assert_allclose(prepare(config).test_features, scaler.transform(raw.test_features), atol=1e-10)


def test_transform_settings_are_validated():
    with pytest.raises(ConfigError, match=r"pca_components must be an integer >= 0, got -1"):
        Config(pca_components=-1)
    with pytest.raises(ConfigError, match=r"standardize must be true or false"):
        Config(standardize="yes")
    assert Config().with_overrides(["standardize=true", "pca_components=10"]).standardize is True
    with pytest.raises(ConfigError, match=r"standardize expects true or false, got 'maybe'"):
        Config().with_overrides(["standardize=maybe"])
    with pytest.raises(ConfigError, match=r"pca_components must be <= 64"):
        list(run_loop(Config(dataset="digits", pca_components=100)))
