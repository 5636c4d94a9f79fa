import gzip

import numpy as np
import pytest
from conftest import REAL_FASHION, real_fashion

from alsim.common.errors import DataError
from alsim.data.datasets import (
    FASHION_CLASSES,
    FASHION_FILES,
    load_digits_dataset,
    load_fashion_mnist,
    read_idx,
    write_idx,
)


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


# --------------------------------------------------------------------------- hostile and odd IDX files
def _header(*shape: int) -> bytes:
    """An unsigned-byte IDX header promising ``shape`` (written by hand: write_idx refuses odd shapes)."""
    return bytes([0, 0, 8, len(shape)]) + b"".join(int(n).to_bytes(4, "big") for n in shape)


def _peak_bytes(call) -> int:
    """Peak Python-traced memory while ``call()`` runs (it is expected to raise DataError)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            call()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_small_gzip_expanding_to_much_more_than_promised_is_not_read_whole(tmp_path):
    path = tmp_path / "bomb.gz"
    zeros = bytes(1 << 22)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(_header(1000) + bytes(1000))
        for _ in range(16):  # 64 MiB more than the header promises
            handle.write(zeros)
    assert path.stat().st_size < 1 << 20
    peak, message = _peak_bytes(lambda: read_idx(path))
    assert peak < 12 << 20, f"peak {peak / 2**20:.0f} MiB while reading a file that promises 1,000 bytes"
    assert "header promises 1,000 values of shape (1000,), file holds more data after them" in message


def test_header_beyond_the_size_limit_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.idx"
    path.write_bytes(_header(3, 1024, 1024, 1024))  # 3 GiB promised
    peak, message = _peak_bytes(lambda: read_idx(path))
    assert "promises 3,221,225,472 values of shape (3, 1024, 1024, 1024)" in message
    assert "limit of 2,147,483,648 bytes (2 GiB, alsim.data.datasets.MAX_IDX_BYTES)" in message
    assert peak < 1 << 20


@pytest.mark.parametrize(
    "shape, match",
    [
        # numpy's int64 product of these wraps to 0 and to -2**63
        ((2**31, 2**31, 4), r"promises 18,446,744,073,709,551,616 values of shape \(2147483648, 2147483648, 4\)"),
        ((2**31, 2**16, 2**16), r"promises 9,223,372,036,854,775,808 values of shape"),
        ((), r"corrupt: its header declares 0 dimensions"),
    ],
)
def test_header_sizes_use_exact_arithmetic(tmp_path, shape, match):
    path = tmp_path / "header.idx"
    path.write_bytes(_header(*shape))
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert "\n" not in str(info.value)


def test_truncated_and_padded_payloads(tmp_path):
    (tmp_path / "padded.idx").write_bytes(_header(2, 2) + bytes(5))
    with pytest.raises(DataError, match=r"promises 4 values of shape \(2, 2\), file holds more data after them"):
        read_idx(tmp_path / "padded.idx")
    write_idx(tmp_path / "cut.gz", np.ones((50, 50), np.uint8))
    raw = (tmp_path / "cut.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(raw[:-12])
    with pytest.raises(DataError, match="cut.gz is not a readable IDX file"):
        read_idx(tmp_path / "cut.gz")


def test_payload_is_streamed_in_chunks(tmp_path, monkeypatch):
    import alsim.data.datasets

    monkeypatch.setattr(alsim.data.datasets, "_IDX_CHUNK", 7)
    data = np.random.default_rng(0).integers(0, 256, size=(5, 11, 3), dtype=np.uint8)
    for name in ("s.idx", "s.idx.gz"):
        write_idx(tmp_path / name, data)
        np.testing.assert_array_equal(read_idx(tmp_path / name), data)


def test_write_idx_refuses_shapes_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"fewer than 2\*\*32 values, got shape \(0, 4294967296\)"):
        write_idx(tmp_path / "wide.idx", np.zeros((0, 2**32), np.uint8))
    write_idx(tmp_path / "scalar.idx", np.uint8(3))  # a scalar is written as one value
    np.testing.assert_array_equal(read_idx(tmp_path / "scalar.idx"), [3])


def test_any_bytes_give_an_array_or_a_data_error(tmp_path_factory):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    folder = tmp_path_factory.mktemp("fuzz")
    prefixes = st.sampled_from([b"", bytes([0, 0, 8, 1]), bytes([0, 0, 8, 2]), bytes([0, 0, 8, 3, 0, 0, 0, 2])])

    @settings(max_examples=50, deadline=None)
    @given(prefix=prefixes, tail=st.binary(max_size=40))
    def check(prefix, tail):
        path = folder / "fuzz.idx"
        path.write_bytes(prefix + tail)
        try:
            array = read_idx(path)
        except DataError as exc:
            assert "\n" not in str(exc)
            return
        raw = prefix + tail
        assert array.dtype == np.uint8 and array.ndim == raw[3]
        assert array.size == len(raw) - 4 - 4 * raw[3]

    check()


def test_fashion_images_that_are_not_28x28_are_refused(tmp_path):
    write_idx(tmp_path / FASHION_FILES["train_images"], np.zeros((3, 32, 32), np.uint8))
    write_idx(tmp_path / FASHION_FILES["train_labels"], np.zeros(3, np.uint8))
    write_idx(tmp_path / FASHION_FILES["test_images"], np.zeros((1, 32, 32), np.uint8))
    write_idx(tmp_path / FASHION_FILES["test_labels"], np.zeros(1, np.uint8))
    with pytest.raises(DataError, match=r"train images in .* are 32x32 pixels \(shape \(3, 32, 32\)\), not 28x28"):
        load_fashion_mnist(tmp_path)
