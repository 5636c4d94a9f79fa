import cv2
import numpy as np
import pytest

from alsim.data.datasets import load_fashion_mnist
from alsim.learn import features as feat


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
    assert len(list((tmp_path / "features").glob("*.npy.sha256"))) == 2  # a digest beside each

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


def _resign(path):
    """Rewrite the digest beside ``path`` to match its (damaged) content."""
    import hashlib

    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")


@pytest.mark.parametrize("damage", ["nan, digest rewritten", "zeros", "empty file", "header (2**37, 10)"])
def test_damaged_hog_cache_is_rebuilt_with_one_line(fashion_like_dir, tmp_path, monkeypatch, caplog, damage):
    """NaN or zeros in the HOG cache silently took a LinearSVC from 0.83 to 0.10 accuracy; an
    empty file or an absurd header made every later run fail until the file was deleted."""
    import io

    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    ds = load_fashion_mnist(fashion_like_dir)
    fresh, fresh_test = feat.compute_features(ds, "hog", use_cache=False)
    feat.compute_features(ds, "hog")  # writes the cache
    (path,) = (tmp_path / "features").glob("*-hog-pool-*.npy")
    if damage.startswith("nan"):
        values = np.load(path)
        values[5, 7] = np.nan
        np.save(path, values)
        _resign(path)  # the finite check alone has to catch it
    elif damage == "zeros":
        np.save(path, np.zeros((600, 324), dtype=np.float32))
    elif damage == "empty file":
        path.write_bytes(b"")
    else:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**37, 10)})
        path.write_bytes(header.getvalue() + bytes(4096))
        _resign(path)
    with caplog.at_level("WARNING", logger="alsim.storage.disk"):
        pool, test = feat.compute_features(ds, "hog")
    np.testing.assert_array_equal(pool, fresh)
    np.testing.assert_array_equal(test, fresh_test)
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith(f"alsim: cache file {path} rejected (")
    assert caplog.messages[0].endswith("); rebuilding it")
    caplog.clear()
    np.testing.assert_array_equal(feat.compute_features(ds, "hog")[0], fresh)  # rebuilt file trusted again
    assert caplog.messages == []
