"""The on-disk cache: every stored array is checked before it is trusted.

Most tests go through ``alsim.storage.disk.load_array`` / ``save_array`` and the
public ``compute_features`` / ``build_graph`` / ``predict_new``, so they also run against
an implementation without :mod:`alsim.storage.disk`.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import tempfile
import threading
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alsim.data.datasets import load_fashion_mnist
from alsim.learn import features as feat
from alsim.learn.graph import build_graph, predict_new, spread
from alsim.storage import disk as diskcache

LOGGER = "alsim.storage.disk"


@contextmanager
def cache_lines():
    """Messages of the disk-cache logger while the block runs (hypothesis cannot use caplog)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    logging.getLogger(LOGGER).addHandler(handler)
    try:
        yield lines
    finally:
        logging.getLogger(LOGGER).removeHandler(handler)


def rejected(lines: list[str], path: Path) -> list[str]:
    return [line for line in lines if f"cache file {path} rejected" in line and line.endswith("rebuilding it")]


def leftovers(folder: Path, keep: set[Path]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p not in keep)


# ---------------------------------------------------------------- the load/save contract


def test_round_trip_is_exact_and_read_only(tmp_path):
    values = np.random.default_rng(0).standard_normal((50, 7)).astype(np.float32)
    path = tmp_path / "sub" / "a.npy"
    diskcache.save_array(path, values)
    loaded = diskcache.load_array(path, (50, 7), np.float32)
    np.testing.assert_array_equal(loaded, values)
    assert loaded.dtype == np.float32 and not loaded.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        loaded[0, 0] = 1.0
    # the sidecar is a sha256sum line: `sha256sum -c` accepts it from the folder
    import hashlib

    sidecar = (tmp_path / "sub" / "a.npy.sha256").read_text()
    assert sidecar == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  a.npy\n"


def test_absent_file_is_a_silent_miss(tmp_path, caplog):
    assert diskcache.load_array(tmp_path / "none.npy", (3, 3), np.float32) is None
    assert not caplog.records


def test_zero_byte_file_is_a_miss_with_one_line(tmp_path, caplog):
    """A power loss after a rename without fsync can leave an empty file; np.load raised EOFError."""
    path = tmp_path / "a.npy"
    diskcache.save_array(path, np.ones((4, 3), dtype=np.float32))
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert diskcache.load_array(path, (4, 3), np.float32) is None
    assert rejected([r.getMessage() for r in caplog.records], path) == [
        f"alsim: cache file {path} rejected (empty file); rebuilding it"]


def test_absurd_header_is_refused_before_any_allocation(tmp_path, caplog):
    """A header claiming (2**37, 10) float32 (5 TiB) must not be allocated; np.load tried to."""
    path = tmp_path / "a.npy"
    diskcache.save_array(path, np.ones((4, 10), dtype=np.float32))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**37, 10)})
    path.write_bytes(header.getvalue() + bytes(160))
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert diskcache.load_array(path, (4, 10), np.float32) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert "shape (137438953472, 10), expected (4, 10)" in caplog.text


def test_header_of_the_expected_shape_but_a_short_file_is_refused(tmp_path, caplog):
    path = tmp_path / "a.npy"
    diskcache.save_array(path, np.ones((400, 10), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-4])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert diskcache.load_array(path, (400, 10), np.float32) is None
    assert "16124 bytes, expected 16128 for shape (400, 10)" in caplog.text  # 128-byte header + 16,000


@pytest.mark.parametrize("damage", ["missing", "wrong digest", "garbage"])
def test_sidecar_missing_or_wrong_is_a_miss(tmp_path, caplog, damage):
    path = tmp_path / "a.npy"
    diskcache.save_array(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    sidecar = tmp_path / "a.npy.sha256"
    if damage == "missing":
        sidecar.unlink()
    elif damage == "wrong digest":
        sidecar.write_text("0" * 64 + "  a.npy\n")
    else:
        sidecar.write_bytes(b"\xff" * 70)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert diskcache.load_array(path, (4, 3), np.float32) is None
    assert len(rejected([r.getMessage() for r in caplog.records], path)) == 1


def test_values_with_a_valid_digest_still_pass_the_value_check(tmp_path, caplog):
    """A consistent file of wrong values (a writer's bug) is refused by the caller's check."""
    from alsim.storage import disk as diskcache

    path = tmp_path / "n.npy"
    diskcache.save_array(path, np.array([[1, 2], [3, 10**9]], dtype=np.int64))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert diskcache.load_array(path, (2, 2), np.int64, check=diskcache.indices_below(4)) is None
        assert diskcache.load_array(path, (2, 2), np.int32) is None  # dtype is part of the contract
        assert diskcache.load_array(path, (2, 2), np.int64) is not None
    assert "indices outside [0, 4): min 1, max 1000000000" in caplog.text
    assert "dtype int64, expected int32" in caplog.text
    diskcache.save_array(path, np.array([[0.5, np.nan]], dtype=np.float32))
    assert diskcache.load_array(path, (1, 2), np.float32, check=diskcache.finite) is None


def test_folder_in_place_of_the_file_leaves_no_temporary_file(tmp_path, caplog):
    """np.save + os.replace onto a folder left `a.tmp.npy` behind on every run."""
    path = tmp_path / "a.npy"
    path.mkdir()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            assert diskcache.load_array(path, (2, 2), np.float32) is None
            diskcache.save_array(path, np.ones((2, 2), dtype=np.float32))
    assert leftovers(tmp_path, set()) == []
    assert f"alsim: cache file {path} not written" in caplog.text


def test_full_disk_at_the_rename_leaves_no_temporary_file(tmp_path, monkeypatch, caplog):
    path = tmp_path / "a.npy"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        diskcache.save_array(path, np.ones((2, 2), dtype=np.float32))  # no exception
    assert leftovers(tmp_path, set()) == []
    assert caplog.text.count("not written (No space left on device)") == 1


def test_cache_folder_that_cannot_be_created_never_stops_a_run(fashion_like_dir, tmp_path, monkeypatch):
    """Root ignores permission bits, so a file where the cache folder should be stands for a read-only cache."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(blocker))
    pool, test = feat.compute_features(load_fashion_mnist(fashion_like_dir), "hog")
    assert pool.shape == (600, 324) and np.isfinite(pool).all()
    graph = build_graph(pool[:200], "knn", n_neighbors=5, cache=True)
    assert graph.matrix.shape == (200, 200)


def test_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.realpath(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "a.npy"
    diskcache.save_array(path, np.ones((2, 2), dtype=np.float32))
    replaced = [what for kind, what in events if kind == "replace"]
    assert len(replaced) == 2 and replaced[1].endswith(".tmp")  # data, then the sidecar
    for tmp in replaced:
        assert events.index(("fsync", tmp)) < events.index(("replace", tmp))
    assert events[-1] == ("fsync", str(tmp_path))


def test_two_writers_never_share_a_temporary_file(tmp_path, monkeypatch):
    """Writers in threads (or processes) each get their own temporary name."""
    sources: list[str] = []
    real_replace = os.replace
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def replace(src, dst):
        with lock:
            sources.append(str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "a.npy"
    values = np.arange(600, dtype=np.float32).reshape(100, 6)

    def writer():
        barrier.wait()
        diskcache.save_array(path, values)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data_sources = [s for s in sources if not s.endswith(".sha256") and ".sha256." not in s]
    assert len(data_sources) == 4 and len(set(data_sources)) == 4
    np.testing.assert_array_equal(diskcache.load_array(path, (100, 6), np.float32), values)
    assert leftovers(tmp_path, {path, tmp_path / "a.npy.sha256"}) == []


# ---------------------------------------------------------------- arbitrary bytes in every kind of file

KNN_POINTS = np.random.default_rng(3).standard_normal((300, 5))
KNN_QUERY = np.random.default_rng(4).standard_normal((80, 5))
KNN_LABELS = np.where(np.arange(300) % 10 == 0, np.arange(300) % 3, -1)


def knn_numbers():
    """Graph, spread and inductive predictions of the knn case (cache=True: files on disk)."""
    graph = build_graph(KNN_POINTS, "knn", n_neighbors=5, cache=True)
    dists, _ = spread(graph, KNN_LABELS, 3)
    return graph.matrix, predict_new(graph, dists[0], KNN_QUERY)


@pytest.fixture(scope="module")
def fresh(fashion_like_dir):
    """Numbers computed without any cache, to compare every cached run against."""
    dataset = load_fashion_mnist(fashion_like_dir)
    hog = feat.compute_features(dataset, "hog", use_cache=False)
    graph = build_graph(KNN_POINTS, "knn", n_neighbors=5)
    dists, _ = spread(graph, KNN_LABELS, 3)
    return dataset, hog, (graph.matrix, predict_new(graph, dists[0], KNN_QUERY))


FILES = {
    "hog pool": "features/*-hog-pool-*.npy",
    "hog pool sidecar": "features/*-hog-pool-*.npy.sha256",
    "knn pool": "graphs/knn-pool-*.npy",
    "knn pool sidecar": "graphs/knn-pool-*.npy.sha256",
    "knn query": "graphs/knn-query-*.npy",
    "knn query sidecar": "graphs/knn-query-*.npy.sha256",
}

damages = st.one_of(
    st.tuples(st.just("replace"), st.binary(max_size=2048)),
    st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
)


def damaged(original: bytes, damage) -> bytes:
    kind = damage[0]
    if kind == "replace":
        return damage[1]
    if kind == "overwrite":
        at = int(damage[1] * len(original))
        return original[:at] + damage[2] + original[at + len(damage[2]):]
    if kind == "truncate":
        return original[: int(damage[1] * len(original))]
    return original + damage[1]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(sorted(FILES)), damage=damages)
def test_arbitrary_bytes_in_any_cache_file_never_change_a_number(fresh, which, damage):
    dataset, (hog_pool, hog_test), (matrix, predictions) = fresh

    def run():
        if which.startswith("hog"):
            pool, test = feat.compute_features(dataset, "hog")
            np.testing.assert_array_equal(pool, hog_pool)
            np.testing.assert_array_equal(test, hog_test)
        else:
            got_matrix, got_predictions = knn_numbers()
            assert (got_matrix != matrix).nnz == 0
            np.testing.assert_array_equal(got_predictions, predictions)

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALSIM_CACHE_DIR", folder)
        run()  # writes the files
        (target,) = Path(folder).glob(FILES[which])
        original = target.read_bytes()
        target.write_bytes(damaged(original, damage))
        data_file = target.with_name(target.name.removesuffix(".sha256"))
        with cache_lines() as lines:
            run()  # never an exception, never a different number
        if damaged(original, damage) != original:  # any changed byte is noticed, and said once
            assert len(rejected(lines, data_file)) == 1, lines
        else:
            assert lines == []
        with cache_lines() as lines:
            run()  # the rebuilt file is trusted again
        assert lines == []


def _pair_bytes(path):
    return path.stat().st_size + diskcache.digest_path(path).stat().st_size


def test_the_cache_keeps_within_its_bound_removing_the_least_recently_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    values = np.arange(1000, dtype=np.float64)  # 8 kB a file
    paths = [tmp_path / sub / f"a{i}.npy" for i, sub in enumerate(("graphs", "features", "graphs"))]
    for i, path in enumerate(paths):
        assert diskcache.save_array(path, values + i)
        os.utime(path, (1000 + i, 1000 + i))  # written in this order, a second apart
    one = _pair_bytes(paths[0])
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.onnx").write_bytes(b"x" * 50_000)  # not a cached array: never counted or removed
    assert diskcache.load_array(paths[0], (1000,), np.float64) is not None  # the oldest is used again
    monkeypatch.setenv("ALSIM_CACHE_MAX_BYTES", str(3 * one))
    newest = tmp_path / "features" / "b.npy"
    assert diskcache.save_array(newest, values)
    # Four files over a bound of three: the least recently used one (a1, not the re-read a0) goes, with its sidecar.
    assert not paths[1].exists() and not diskcache.digest_path(paths[1]).exists()
    assert paths[0].exists() and paths[2].exists() and newest.exists()
    assert (tmp_path / "models" / "net.onnx").exists()
    assert diskcache.load_array(paths[0], (1000,), np.float64)[5] == 5.0


def test_a_file_larger_than_the_bound_is_kept_and_the_rest_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    small = tmp_path / "graphs" / "small.npy"
    assert diskcache.save_array(small, np.zeros(10))
    monkeypatch.setenv("ALSIM_CACHE_MAX_BYTES", "100")
    big = tmp_path / "graphs" / "big.npy"
    assert diskcache.save_array(big, np.zeros(1000))
    assert big.exists() and diskcache.load_array(big, (1000,), np.float64) is not None
    assert not small.exists() and not diskcache.digest_path(small).exists()


def test_a_file_removed_by_another_process_is_skipped(tmp_path, monkeypatch):
    paths = [tmp_path / f"f{i}.npy" for i in range(3)]
    for i, path in enumerate(paths):
        diskcache.save_array(path, np.zeros(100) + i)
        os.utime(path, (1000 + i, 1000 + i))
    real_unlink = type(paths[0]).unlink

    def raced(self, missing_ok=False):  # another process trims the same file first
        if self == paths[0]:
            real_unlink(self)
            raise FileNotFoundError(self)
        return real_unlink(self, missing_ok)

    import pathlib

    monkeypatch.setattr(pathlib.Path, "unlink", raced)
    removed = diskcache.trim(tmp_path, limit=_pair_bytes(paths[2]) * 2)
    monkeypatch.undo()
    assert removed == []  # the raced file counts as gone; two files fit the bound
    assert not paths[0].exists() and paths[1].exists() and paths[2].exists()


@pytest.mark.parametrize("value", ["0", "-5", "10GB", "١٠"])
def test_a_bad_bound_falls_back_to_the_default(monkeypatch, caplog, value):
    monkeypatch.setenv("ALSIM_CACHE_MAX_BYTES", value)
    assert diskcache.max_cache_bytes() == diskcache.DEFAULT_MAX_CACHE_BYTES
    assert "ALSIM_CACHE_MAX_BYTES" in caplog.text
