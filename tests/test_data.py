import gzip

import numpy as np
import pytest

from alsim.data import (FASHION_CLASSES, FASHION_FILES, DataError, load_digits_dataset, load_fashion_mnist,
                        read_idx, write_idx)
from conftest import REAL_FASHION, real_fashion


def test_idx_round_trip(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "b.idx.gz"):
        write_idx(tmp_path / name, data)
        np.testing.assert_array_equal(read_idx(tmp_path / name), data)


def test_idx_header_bytes_are_the_standard_format(tmp_path):
    write_idx(tmp_path / "l.gz", np.array([7, 1, 9], dtype=np.uint8))
    raw = gzip.open(tmp_path / "l.gz").read()
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9])


def test_corrupt_and_missing_files_say_how_to_get_them(tmp_path):
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing.gz")
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2])  # promises 9 values, holds 2
    (tmp_path / "short.idx").write_bytes(raw)
    with pytest.raises(DataError, match="corrupt: header promises 9 values"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "magic.idx").write_bytes(bytes([1, 2, 8, 1, 0, 0, 0, 0]))
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "magic.idx")
    with pytest.raises(DataError, match="missing t10k-labels"):
        empty = tmp_path / "partial"
        empty.mkdir()
        for key in ("train_images", "train_labels", "test_images"):
            write_idx(empty / FASHION_FILES[key], np.zeros((1, 28, 28) if "images" in key else 1, np.uint8))
        load_fashion_mnist(empty)


def test_mismatched_image_and_label_counts(tmp_path):
    write_idx(tmp_path / FASHION_FILES["train_images"], np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / FASHION_FILES["train_labels"], np.zeros(2, np.uint8))
    write_idx(tmp_path / FASHION_FILES["test_images"], np.zeros((1, 28, 28), np.uint8))
    write_idx(tmp_path / FASHION_FILES["test_labels"], np.zeros(1, np.uint8))
    with pytest.raises(DataError, match="do not match"):
        load_fashion_mnist(tmp_path)


def test_fashion_like_loader(fashion_like_dir):
    ds = load_fashion_mnist(fashion_like_dir)
    assert ds.images.shape == (600, 28, 28) and ds.images.dtype == np.uint8
    assert ds.test_images.shape == (200, 28, 28)
    assert np.bincount(ds.labels).tolist() == [60] * 10
    assert ds.class_names == FASHION_CLASSES and ds.has_test


@real_fashion
def test_real_fashion_mnist():
    ds = load_fashion_mnist(REAL_FASHION)
    assert ds.images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    assert np.bincount(ds.labels).tolist() == [6000] * 10
    assert np.bincount(ds.test_labels).tolist() == [1000] * 10


def test_digits_and_tutorial_pool():
    full = load_digits_dataset()
    assert full.images.shape == (1797, 8, 8)
    pool = load_digits_dataset(tutorial_pool=True)
    order = np.arange(1797)
    np.random.RandomState(0).shuffle(order)
    np.testing.assert_array_equal(pool.labels, full.labels[order[:330]])
    assert not pool.has_test
