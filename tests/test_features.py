import cv2
import numpy as np

from alsim import features as feat
from alsim.data import load_fashion_mnist


def test_hog_shape_and_values_match_opencv_reference():
    images = np.random.default_rng(0).integers(0, 256, size=(300, 28, 28)).astype(np.uint8)
    out = feat.hog_features(images, n_threads=2)
    assert out.shape == (300, 324)
    reference = cv2.HOGDescriptor((28, 28), (14, 14), (7, 7), (7, 7), 9, 1, -1, 0, 0.2, 1, 64, True)
    for i in (0, 151, 299):
        np.testing.assert_array_equal(out[i], reference.compute(images[i]).ravel())
    np.testing.assert_array_equal(out, feat.hog_features(images, n_threads=1))


def test_hog_features_are_cached_on_disk(fashion_like_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    ds = load_fashion_mnist(fashion_like_dir)
    first, first_test = feat.compute_features(ds, "hog")
    assert first.shape == (600, 324) and first_test.shape == (200, 324)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("HOG recomputed although cached")

    monkeypatch.setattr(feat, "hog_features", fail)
    second, second_test = feat.compute_features(ds, "hog")
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_test, second_test)


def test_raw_features_scale():
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    assert feat.raw_features(images).max() == 1.0
    digits = np.full((1, 8, 8), 16.0)
    assert feat.raw_features(digits).max() == 16.0
