"""Reading people's data sets: every format, every bad input, and fuzzed archives and tables."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alsim.common.errors import DataError
from alsim.data.importers import ImportOptions, read_bytes, read_path

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def class_image(label: int, shape=(28, 28), colour=False, seed=0) -> np.ndarray:
    """A noisy bar whose position says the class (as the Fashion-like fixture draws them)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    image = rng.integers(0, 60, size=(h, w)).astype(np.int64)
    row = int(h * (0.1 + 0.25 * label))
    image[row: row + max(1, h // 8), w // 8: w - w // 8] += 180
    image = np.clip(image, 0, 255).astype(np.uint8)
    if colour:
        image = np.dstack([image, image // 2, 255 - image])
    return image


def write_image_folder(root: Path, classes=("cat", "dog", "owl"), per_class=6, unlabeled=0, sizes=((28, 28),),
                       colour=False, extension=".png") -> Path:
    """``root/<class>/<i>.png`` (and ``root/unlabeled/``), images of the given sizes in turn."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(root / name / f"{i:03d}{extension}"),
                        class_image(c, sizes[i % len(sizes)], colour, seed=100 * c + i))
    if unlabeled:
        (root / "unlabeled").mkdir(parents=True, exist_ok=True)
        for i in range(unlabeled):
            cv2.imwrite(str(root / "unlabeled" / f"u{i:03d}.png"), class_image(i % len(classes), sizes[0], colour, i))
    return root


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# --------------------------------------------------------------------------- image folders
def test_image_folder_classes_unlabeled_and_counts(tmp_path):
    folder = write_image_folder(tmp_path / "pets", unlabeled=4)
    (tmp_path / "pets" / "cat" / "notes.txt").write_text("not an image")
    imported = read_path(folder)
    data = imported.dataset
    assert data.class_names == ("cat", "dog", "owl")
    assert data.images.shape == (22, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels[data.labels >= 0]).tolist() == [6, 6, 6]
    assert (data.labels == -1).sum() == 4 and data.label_status == "partial"
    assert imported.skipped == 1 and any("1 file(s) that are not images" in n for n in imported.notes)
    # Decoded pixels are the written ones (PNG is lossless), class by sorted folder name.
    np.testing.assert_array_equal(data.images[0], class_image(0, seed=0))


def test_zip_with_an_enclosing_folder_equals_the_folder(tmp_path):
    folder = write_image_folder(tmp_path / "pets")
    archive = zip_folder(folder, tmp_path / "pets.zip", prefix="pets/")
    from_zip, from_folder = read_path(archive).dataset, read_path(folder).dataset
    assert from_zip.content_key == from_folder.content_key
    assert read_bytes("pets.zip", archive.read_bytes()).dataset.content_key == from_folder.content_key


def test_mixed_sizes_are_resized_and_said_so(tmp_path):
    folder = write_image_folder(tmp_path / "mixed", sizes=((28, 28), (64, 40), (10, 12)))
    imported = read_path(folder, ImportOptions(side=32))
    assert imported.dataset.images.shape == (18, 32, 32)
    assert imported.original_sizes == {"28x28": 6, "64x40": 6, "10x12": 6}
    assert any("3 sizes, from 10x12 to 64x40 resized to 32x32" in n for n in imported.notes)


@pytest.mark.parametrize("extension", [".jpg", ".bmp", ".tiff", ".webp"])
def test_other_image_formats(tmp_path, extension):
    data = read_path(write_image_folder(tmp_path / "f", per_class=2, extension=extension)).dataset
    assert data.images.shape == (6, 28, 28)


def test_gray_by_default_colour_on_request(tmp_path):
    folder = write_image_folder(tmp_path / "c", colour=True)
    colour = read_path(folder, ImportOptions(color="auto")).dataset.images
    assert colour.shape == (18, 28, 28, 3)
    expected = cv2.cvtColor(class_image(0, colour=True, seed=0), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(colour[0], expected)  # stored as RGB
    assert read_path(folder).dataset.images.shape == (18, 28, 28)  # gray by default
    assert read_path(folder, ImportOptions(color="color")).dataset.images.shape == (18, 28, 28, 3)


def test_corrupt_images_are_named_and_skipped(tmp_path):
    folder = write_image_folder(tmp_path / "c")
    for i in range(12):
        (folder / "dog" / f"bad{i:02d}.png").write_bytes(b"\x89PNG broken")
    imported = read_path(folder)
    assert len(imported.dataset.labels) == 18 and imported.n_corrupt == 12
    assert imported.corrupt == tuple(f"dog/bad{i:02d}.png" for i in range(10))
    assert any("12 corrupt" in n and "and 2 more" in n for n in imported.notes)


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp"])
def test_declared_image_size_read_before_decoding(extension):
    from alsim.data.importers import declared_pixels

    raw = cv2.imencode(extension, class_image(0, (30, 50)))[1].tobytes()
    assert declared_pixels(raw) == 30 * 50


def test_an_image_bomb_is_skipped_and_named():
    import struct
    import zlib

    # A valid PNG header promising 100,000 x 100,000 pixels, in a few hundred bytes.
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    imported = read_bytes("x.zip", zip_bytes({"cat/a.png": png(class_image(0)), "cat/bomb.png": bomb,
                                              "dog/b.png": png(class_image(1))}))
    assert imported.corrupt == () and len(imported.dataset.labels) == 2
    assert any(n.startswith("1 image(s) larger than the decoding limit") and "cat/bomb.png (100000x100000 pixels)" in n
               for n in imported.notes)


def test_images_in_subfolders_belong_to_their_top_class_folder(tmp_path):
    root = tmp_path / "pets"
    for rel, label in (("cat/2019/a.png", 0), ("cat/b.png", 1), ("dog/c.png", 2), ("dog/x/y/d.png", 3)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(png(class_image(label)))
    data = read_path(root).dataset
    assert data.class_names == ("cat", "dog")
    by_file = dict(zip(data.file_names, data.labels.tolist()))
    assert by_file == {"cat/2019/a.png": 0, "cat/b.png": 0, "dog/c.png": 1, "dog/x/y/d.png": 1}


def test_custom_unlabeled_folder(tmp_path):
    folder = write_image_folder(tmp_path / "c", classes=("a", "b", "todo"))
    data = read_path(folder, ImportOptions(unlabeled_dir="todo")).dataset
    assert data.class_names == ("a", "b") and (data.labels == -1).sum() == 6


# --------------------------------------------------------------------------- npz, csv, parquet, IDX
def test_npz_with_strings_unknowns_images_and_test_split(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "emb.npz"
    np.savez(path, X=rng.normal(size=(6, 4)), y=np.array(["cat", "dog", "", "-1", "dog", "cat"]),
             images=rng.integers(0, 255, size=(6, 16, 16, 3), dtype=np.uint8),
             X_test=rng.normal(size=(3, 4)), y_test=np.array(["dog", "cat", "cat"]),
             images_test=rng.integers(0, 255, size=(3, 16, 16, 3), dtype=np.uint8))
    data = read_path(path).dataset
    assert data.class_names == ("cat", "dog")
    assert data.labels.tolist() == [0, 1, -1, -1, 1, 0] and data.test_labels.tolist() == [1, 0, 0]
    assert data.embeddings.shape == (6, 4) and data.images.shape == (6, 28, 28)  # gray by default
    assert data.test_images.shape == (3, 28, 28)


def test_npz_integer_labels_with_class_names(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, X=np.eye(4), y=np.array([0, 2, -1, 2]), class_names=np.array(["a", "b", "c"]))
    data = read_path(path).dataset
    assert data.class_names == ("a", "b", "c") and data.labels.tolist() == [0, 2, -1, 2]


def test_npz_integer_labels_without_names_are_renumbered(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, X=np.eye(4), y=np.array([3, 7, 7, -1]))
    data = read_path(path).dataset
    assert data.class_names == ("3", "7") and data.labels.tolist() == [0, 1, 1, -1]


def test_npz_test_labels_follow_the_renumbered_classes_by_value():
    # y = [1, 2] without class_names gives the classes "1" and "2" with ids 0 and 1; a test label 1 is
    # class "1" (id 0), not the class at position 1.
    data = read_bytes("e.npz", npz_bytes(X=np.eye(4), y=np.array([1, 2, 1, 2]), X_test=np.eye(4)[:3],
                                         y_test=np.array([1, 1, 2]))).dataset
    assert data.class_names == ("1", "2") and data.test_labels.tolist() == [0, 0, 1]
    # Names: a test split with one class keeps that class's id among y's classes.
    data = read_bytes("e.npz", npz_bytes(X=np.eye(6), y=np.array(["cat", "dog"] * 3), X_test=np.eye(6)[:2],
                                         y_test=np.array(["dog", "dog"]))).dataset
    assert data.class_names == ("cat", "dog") and data.test_labels.tolist() == [1, 1]
    with pytest.raises(DataError, match="y_test has label '5' at row 1, which y does not have"):
        read_bytes("e.npz", npz_bytes(X=np.eye(4), y=np.array([3, 7, 3, 7]), X_test=np.eye(4)[:2],
                                      y_test=np.array([3, 5])))


def test_numeric_text_labels_are_ordered_as_numbers():
    from alsim.data.importers import encode_labels

    ids, names = encode_labels(np.array(["2", "10", "2", "", "1"]), "y")
    assert names == ("1", "2", "10") and ids.tolist() == [1, 2, 1, -1, 0]
    ids, names = encode_labels(np.array(["b", "10", "a"]), "y")  # not all numbers: as text
    assert names == ("10", "a", "b") and ids.tolist() == [2, 0, 1]


def test_columns_are_refused_for_input_without_columns_and_unused_image_settings_are_said(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, X=np.eye(4), y=np.array([0, 1, 1, 0]))
    folder = write_image_folder(tmp_path / "pets")
    for source, options in ((path, ImportOptions(label_column="y")), (folder, ImportOptions(image_column="file")),
                            (path, ImportOptions(label_column="y", image_column="file"))):
        with pytest.raises(DataError, match=r"to \.csv and \.parquet tables only"):
            read_path(source, options)
    with pytest.raises(DataError, match="the label column 'y' applies to"):
        read_bytes("e.npz", path.read_bytes(), ImportOptions(label_column="y"))
    assert read_path(path).notes == ()
    assert read_path(path, ImportOptions(side=10)).notes == (
        "no images in the file: the image side and colour settings do not apply",)


def test_csv_with_feature_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("f1,f2,label\n0.1,1,cat\n0.2,2,dog\n0.3,3,\n0.4,4,dog\n")
    data = read_path(path).dataset
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [0, 1, -1, 1]
    np.testing.assert_allclose(data.embeddings, [[0.1, 1], [0.2, 2], [0.3, 3], [0.4, 4]])
    assert data.images is None


def test_csv_with_image_paths(tmp_path):
    write_image_folder(tmp_path / "img", per_class=2)
    rows = [f"img/{c}/{i:03d}.png,{c}" for c in ("cat", "dog", "owl") for i in range(2)]
    path = tmp_path / "list.csv"
    path.write_text("path,label\n" + "\n".join(rows) + "\n")
    imported = read_path(path)
    assert imported.kind == "csv"
    data = imported.dataset
    assert data.images.shape == (6, 28, 28) and data.labels.tolist() == [0, 0, 1, 1, 2, 2]
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    table = tmp_path / "list.parquet"
    pd.read_csv(path).to_parquet(table)
    imported = read_path(table)
    assert imported.kind == "parquet" and imported.dataset.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0, 1, 1]}).to_parquet(path)
    data = read_path(path).dataset
    assert data.class_names == ("0", "1") and data.embeddings.shape == (3, 1)


def test_idx_folder(fashion_like_dir):
    imported = read_path(fashion_like_dir)
    assert imported.kind == "idx" and imported.dataset.images.shape == (600, 28, 28)
    assert imported.dataset.has_test and len(imported.dataset.class_names) == 10


# --------------------------------------------------------------------------- bad input: one DataError each
@pytest.mark.parametrize("name", ["../evil/a.png", "/etc/a.png", "C:/x/a.png", "cat/../../a.png", "a\\..\\..\\b.png"])
def test_zip_paths_escaping_the_root_are_refused(name):
    data = zip_bytes({"cat/1.png": png(class_image(0)), name: png(class_image(1))})
    with pytest.raises(DataError, match="points outside"):
        read_bytes("x.zip", data)


def test_zip_symlinks_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cat/1.png", png(class_image(0)))
        link = zipfile.ZipInfo("dog/1.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        read_bytes("x.zip", buffer.getvalue())


def test_folder_symlinks_are_refused(tmp_path):
    folder = write_image_folder(tmp_path / "f")
    os.symlink(folder / "cat" / "000.png", folder / "dog" / "link.png")
    with pytest.raises(DataError, match="symbolic link"):
        read_path(folder)


def test_zip_bomb_is_refused_from_the_directory():
    data = zip_bytes({"cat/a.png": b"\0" * (20 << 20), "dog/b.png": png(class_image(1))})
    assert len(data) < 100_000
    with pytest.raises(DataError, match="zip bomb"):
        read_bytes("bomb.zip", data)


def test_total_uncompressed_size_is_limited():
    data = zip_bytes({"cat/a.png": png(class_image(0)), "dog/b.png": png(class_image(1)), "n.txt": b"\0" * 500_000})
    assert len(data) < 10_000
    with pytest.raises(DataError, match="expands to .* more than the import limit of 100,000 bytes"):
        read_bytes("x.zip", data, ImportOptions(max_bytes=100_000))


def test_file_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    path.write_bytes(npz_bytes(X=np.eye(50), y=np.arange(50) % 2))
    monkeypatch.setenv("ALSIM_MAX_IMPORT_BYTES", "1000")
    with pytest.raises(DataError, match="larger than the import limit of"):
        read_path(path)
    with pytest.raises(DataError, match="larger than the import limit"):
        read_bytes("big.npz", path.read_bytes())


def test_fewer_than_two_classes(tmp_path):
    with pytest.raises(DataError, match=r"found 1 \(cat\) class folder"):
        read_path(write_image_folder(tmp_path / "f", classes=("cat",)))
    with pytest.raises(DataError, match="at least 2 are needed"):
        read_bytes("e.npz", npz_bytes(X=np.eye(3), y=np.array([1, 1, -1])))


def test_nan_in_embeddings_names_the_row():
    X = np.ones((5, 3))
    X[3, 2] = np.inf
    with pytest.raises(DataError, match="non-finite value \\(inf\\) at row 3, column 2"):
        read_bytes("e.npz", npz_bytes(X=X, y=np.arange(5) % 2))
    # a csv names the file's line (the header is line 1) and the column by name
    with pytest.raises(DataError, match="non-finite value \\(nan\\) at line 3, column 'b'"):
        read_bytes("t.csv", b"label,a,b\nx,1,2\ny,3,nan\n")


def test_a_parquet_table_names_its_row_from_0_not_a_line(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    pd.DataFrame({"y": [0, 1, 1], "a": [1.0, 2.0, 3.0], "b": [1.0, float("nan"), 3.0]}).to_parquet(path)
    with pytest.raises(DataError, match="non-finite value \\(nan\\) at row 1, column 'b'$"):
        read_path(path)
    (tmp_path / "img.png").write_bytes(b"")
    pd.DataFrame({"label": ["a", "b"], "path": ["img.png", ""]}).to_parquet(path)
    with pytest.raises(DataError, match="column 'path' has no image path at row 1$"):
        read_path(path)
    csv = tmp_path / "t.csv"
    csv.write_text("label,path\na,img.png\nb,\n")
    with pytest.raises(DataError, match="column 'path' has no image path at line 3$"):
        read_path(csv)


def test_length_mismatch():
    with pytest.raises(DataError, match="X has 4 rows but y has 3 labels"):
        read_bytes("e.npz", npz_bytes(X=np.eye(4), y=np.array([0, 1, 0])))


@pytest.mark.parametrize("arrays, message", [
    (dict(y=np.arange(3)), "no array 'X'"),
    (dict(X=np.ones(3), y=np.arange(3)), "non-empty n x d"),
    (dict(X=np.eye(3), y=np.array([0.5, 1, 0])), "label 0.5 at row 0"),
    (dict(X=np.eye(3), y=np.array([0, 1, 5]), class_names=np.array(["a", "b"])), "class id 5 at row 2"),
    (dict(X=np.eye(3), y=np.array(["a", "b", "z"]), class_names=np.array(["a", "b"])), "'z' at row 2"),
    (dict(X=np.eye(3), y=np.arange(3), X_test=np.eye(3)), "needs both X_test and y_test"),
    (dict(X=np.eye(3), y=np.arange(3), images=np.zeros((3, 4, 4))), "images must be uint8"),
])
def test_bad_npz_contents(arrays, message):
    with pytest.raises(DataError, match=message):
        read_bytes("e.npz", npz_bytes(**arrays))


def test_pickled_objects_are_refused():
    with pytest.raises(DataError, match="Python objects"):
        read_bytes("e.npz", npz_bytes(X=np.eye(2), y=np.array([{"a": 1}, 2], dtype=object)))


def test_npz_header_promising_more_than_the_file_holds():
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 1000)})
    data = zip_bytes({"X.npy": header.getvalue() + b"\0" * 64, "y.npy": b""})
    with pytest.raises(DataError, match="promises"):
        read_bytes("e.npz", data)


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n", "no label column"),
    ("label\ncat\ndog\n", "only the label column"),
    ("label,a\ncat,1\ndog,x\n", "column 'a' is not numeric"),
    ("", "not a readable csv"),
])
def test_bad_csv(text, message):
    with pytest.raises(DataError, match=message):
        read_bytes("t.csv", text.encode())


def test_uploaded_csv_with_image_paths_is_refused():
    with pytest.raises(DataError, match="upload a zip"):
        read_bytes("t.csv", b"path,label\na.png,cat\nb.png,dog\n")


def test_csv_image_paths_escaping_the_folder(tmp_path):
    (tmp_path / "t.csv").write_text("path,label\n../a.png,cat\nb.png,dog\n")
    with pytest.raises(DataError, match="points outside"):
        read_path(tmp_path / "t.csv")


def test_unsupported_type_and_bad_options(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type '.txt'"):
        read_path(tmp_path / "x.txt")
    with pytest.raises(DataError, match="side must be an integer in \\[4, 512\\], got 2"):
        ImportOptions(side=2)


# --------------------------------------------------------------------------- fuzzing: a data set or a DataError
def _accepts(read) -> None:
    try:
        imported = read()
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    data = imported.dataset
    assert len(data.labels) >= 2 and data.n_classes >= 2
    assert data.labels.min() >= -1 and data.labels.max() < data.n_classes


_names = st.sampled_from(["cat/a.png", "dog/b.png", "dog/c.jpg", "unlabeled/u.png", "x.txt", "../e.png",
                          "top/cat/d.png", "top/dog/e.png", "/abs.png", "cat/", "C:/d.png", "cat/deep/f.png"])
_payload = st.one_of(st.binary(max_size=64), st.sampled_from([png(class_image(0)), png(class_image(1, (9, 5)))]))


@FUZZ
@given(st.dictionaries(_names, _payload, max_size=6))
def test_fuzzed_zips(members):
    _accepts(lambda: read_bytes("f.zip", zip_bytes(members)))


@FUZZ
@given(st.binary(max_size=300))
def test_fuzzed_bytes_as_every_type(data):
    for name in ("f.zip", "f.npz", "f.csv", "f.parquet"):
        _accepts(lambda: read_bytes(name, data))


_arrays = st.one_of(
    st.lists(st.integers(-3, 4), min_size=0, max_size=6).map(np.array),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6).map(np.array),
    st.lists(st.sampled_from(["a", "b", "", "-1", "7"]), min_size=0, max_size=6).map(np.array),
    st.integers(0, 6).map(lambda n: np.random.default_rng(n).normal(size=(n, 2))),
    st.integers(0, 6).map(lambda n: np.zeros((n, 3, 3), dtype=np.uint8)),
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["X", "y", "images", "class_names", "X_test", "y_test"]), _arrays, max_size=6))
def test_fuzzed_npz(arrays):
    _accepts(lambda: read_bytes("f.npz", npz_bytes(**arrays)))


_cells = st.sampled_from(["", "1", "-1", "0.5", "nan", "inf", "cat", "dog", "a,b", '"', "1e999"])


@FUZZ
@given(st.lists(st.sampled_from(["label", "y", "f1", "f2", "path"]), min_size=1, max_size=4, unique=True),
       st.lists(st.lists(_cells, min_size=1, max_size=4), max_size=6))
def test_fuzzed_csv(header, rows):
    text = ",".join(header) + "\n" + "\n".join(",".join(row) for row in rows)
    _accepts(lambda: read_bytes("f.csv", text.encode()))


# --------------------------------------------------------------------------- hostile files, written compactly
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header promising width x height gray pixels, with a few bytes of image data."""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))


def webp_solid(width: int, height: int) -> bytes:
    """A lossless WebP of one colour (every prefix code has one symbol, so pixels take no bits): 44 bytes."""
    bits = []

    def put(value: int, n: int) -> None:
        bits.extend((value >> i) & 1 for i in range(n))

    put(0x2F, 8)
    put(width - 1, 14), put(height - 1, 14), put(0, 1), put(0, 3)
    put(0, 1), put(0, 1), put(0, 1)  # no transform, no colour cache, no meta prefix codes
    for _ in range(5):
        put(1, 1), put(0, 1), put(0, 1), put(0, 1)  # a simple code of one 1-bit symbol: 0
    data = bytes(sum(b << j for j, b in enumerate(bits[i:i + 8])) for i in range(0, len(bits), 8)) + b"\0" * 16
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def tiff_float(width: int, height: int) -> bytes:
    """An uncompressed float32 gray TIFF whose one-row strips all point at the same row of zeros.

    16000 x 16000 (a 1 GiB image) takes 192 KB.
    """
    row = 4 * width
    tags = [(256, 4, width), (257, 4, height), (258, 3, 32), (259, 3, 1), (262, 3, 1), (273, 4, None),
            (277, 3, 1), (278, 4, 1), (279, 4, None), (339, 3, 3)]
    offsets_at = 8 + 2 + 12 * len(tags) + 4
    counts_at = offsets_at + 4 * height
    data_at = counts_at + 4 * height
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        count = height if tag in (273, 279) else 1
        value = {273: offsets_at, 279: counts_at}.get(tag, value)
        ifd += struct.pack("<HHIHH" if kind == 3 and count == 1 else "<HHII", tag, kind, count, value,
                           *((0,) if kind == 3 and count == 1 else ()))
    ifd += struct.pack("<I", 0)
    return (b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack(f"<{height}I", *([data_at] * height))
            + struct.pack(f"<{height}I", *([row] * height)) + b"\0" * row)


def jpeg_claiming(width: int, height: int, colour: bool = True, fill: int = 1) -> bytes:
    """A small JPEG whose frame header is patched to width x height, with ``fill`` 0xFF fill bytes
    after its start marker and before its frame header."""
    image = class_image(0, (16, 16), colour=colour)
    raw = bytearray(cv2.imencode(".jpg", image)[1].tobytes())
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    raw[sof:sof] = b"\xff" * fill
    return bytes(raw[:2] + b"\xff" * fill + raw[2:])


def test_tiff_webp_and_padded_jpeg_headers_are_read(tmp_path):
    from alsim.data.importers import declared_pixels

    image = class_image(0, (30, 50))
    for extension in (".tiff", ".webp"):
        assert declared_pixels(cv2.imencode(extension, image)[1].tobytes()) == 30 * 50, extension
    assert declared_pixels(webp_solid(16383, 16383)) == 16383 ** 2
    assert declared_pixels(tiff_float(16000, 16000)) == 16000 ** 2
    assert declared_pixels(jpeg_claiming(50, 30, fill=3)) == 30 * 50
    padded = jpeg_claiming(16, 16, fill=2)  # still a valid JPEG: fill bytes are allowed before any marker
    assert cv2.imdecode(np.frombuffer(padded, np.uint8), cv2.IMREAD_UNCHANGED).shape == (16, 16, 3)


def test_an_image_in_a_format_whose_header_is_not_read_is_not_decoded():
    pgm = b"P5\n28 28\n255\n" + class_image(0).tobytes()  # OpenCV decodes it whatever the name says
    imported = read_bytes("x.zip", zip_bytes({"cat/a.png": png(class_image(0)), "cat/b.png": pgm,
                                              "dog/c.png": png(class_image(1))}))
    assert imported.corrupt == ("cat/b.png",) and len(imported.dataset.labels) == 2


_CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (5 << 30, 5 << 30))  # a safety net for this machine, above the bound
from alsim.data.importers import read_path
from alsim.common.errors import DataError

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

before = status("VmRSS")
try:
    imported = read_path(sys.argv[1])
    result = {"error": None, "class_names": list(imported.dataset.class_names)}
except DataError as exc:
    result = {"error": str(exc)}
result["peak"] = status("VmHWM") - before
print(json.dumps(result))
"""


def _import_in_child(path: Path) -> dict:
    """Import ``path`` in a fresh process: its DataError (or class names) and its peak memory above its start."""
    result = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("name, member, data, reason", [
    ("tiff.zip", "big/a.tiff", lambda: tiff_float(16000, 16000), "16000x16000"),
    ("webp.zip", "big/a.webp", lambda: webp_solid(16383, 16383), "16383x16383"),
    ("jpeg.zip", "big/a.jpg", lambda: jpeg_claiming(20000, 20000), "20000x20000"),
    ("png.zip", "big/a.png", lambda: png_claiming(100_000, 100_000), "100000x100000"),
])
def test_a_small_upload_of_a_huge_image_is_refused_within_the_memory_bound(tmp_path, name, member, data, reason):
    from alsim.data.importers import DECODE_MEMORY_BOUND

    path = tmp_path / name
    path.write_bytes(zip_bytes({member: data(), "cat/b.png": png(class_image(0))}))
    result = _import_in_child(path)
    assert result["error"] is not None and "\n" not in result["error"]
    assert reason in result["error"] and "pixels" in result["error"], result["error"]
    assert result["peak"] < DECODE_MEMORY_BOUND, result["peak"]


def test_a_huge_numeric_label_is_a_class_name_not_an_array_index(tmp_path):
    from alsim.data.importers import DECODE_MEMORY_BOUND

    path = tmp_path / "labels.csv"
    path.write_text("f,label\n0.1,0\n0.2,600000000\n0.3,0\n0.4,600000000\n")
    result = _import_in_child(path)
    assert result["error"] is None and result["class_names"] == ["0", "600000000"]
    assert result["peak"] < DECODE_MEMORY_BOUND, result["peak"]


@pytest.mark.parametrize("y, names, ids", [
    (np.array([0, 9_000_000_000_000_000_000, 0, -1]), ("0", "9000000000000000000"), [0, 1, 0, -1]),
    (np.array([2**64 - 1, 5, 5], dtype=np.uint64), ("5", "18446744073709551615"), [1, 0, 0]),
    (np.array([3.0, np.nan, 7.0, 3.0]), ("3", "7"), [0, -1, 1, 0]),
])
def test_integer_labels_map_through_their_distinct_values(y, names, ids):
    from alsim.data.importers import encode_labels

    labels, class_names = encode_labels(y, "y")
    assert class_names == names and labels.tolist() == ids


@pytest.mark.parametrize("text, row", [("1e300", 1), ("2.5", 1), ("-3", 1), ("inf", 1)])
def test_a_label_that_is_not_an_exact_integer_is_refused_naming_its_row(text, row):
    with pytest.raises(DataError, match=rf"label .* at row {row};") as info:
        read_bytes("t.csv", f"f,label\n0.1,0\n0.2,{text}\n0.3,1\n".encode())
    assert "\n" not in str(info.value)


def test_a_label_beyond_int64_in_a_table_is_a_class_name(tmp_path):
    imported = read_bytes("t.csv", b"f,label\n0.1,99999999999999999999999\n0.2,1\n0.3,1\n")
    assert imported.dataset.class_names == ("1", "99999999999999999999999")


def test_an_npy_header_of_zero_byte_items_and_a_huge_shape_is_one_line():
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|S0", "fortran_order": False, "shape": (4, 2**63 - 1)})
    data = zip_bytes({"X.npy": header.getvalue(), "y.npy": npz_bytes(y=np.arange(4))})
    with pytest.raises(DataError, match="array 'X' is unreadable") as info:
        read_bytes("e.npz", data)
    assert "\n" not in str(info.value)


def test_a_csv_image_path_naming_a_fifo_does_not_hang(tmp_path):
    import threading

    write_image_folder(tmp_path / "img", per_class=2)
    os.mkfifo(tmp_path / "img" / "cat" / "fifo.png")
    rows = [f"img/{c}/{i:03d}.png,{c}" for c in ("cat", "dog", "owl") for i in range(2)] + ["img/cat/fifo.png,cat"]
    (tmp_path / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    outcome = {}
    reader = threading.Thread(target=lambda: outcome.setdefault("imported", read_path(tmp_path / "list.csv")),
                              daemon=True)
    reader.start()
    reader.join(60)
    if reader.is_alive():  # unblock the reader stuck in open() so the test process can end
        os.close(os.open(tmp_path / "img" / "cat" / "fifo.png", os.O_WRONLY))
        pytest.fail("reading a FIFO named by the csv hung")
    imported = outcome["imported"]
    assert len(imported.dataset.labels) == 6 and imported.corrupt == ("img/cat/fifo.png",)


def _zip64_directory_end(entries: int) -> bytes:
    """Only the end of a zip: a ZIP64 end-of-directory record claiming ``entries`` entries, its locator
    and the classic record pointing at it."""
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, 46 * entries, 0)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
    classic = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return record + locator + classic


def test_a_zip_is_refused_from_the_entry_count_at_its_end(monkeypatch):
    from alsim.data import importers

    with pytest.raises(DataError, match="holds 1,000,001 entries, more than the limit"):
        read_bytes("x.zip", _zip64_directory_end(1_000_001))
    data = zip_bytes({f"cat/{i}.png": png(class_image(0)) for i in range(5)})
    monkeypatch.setattr(importers, "MAX_ENTRIES", 4)
    monkeypatch.setattr(importers.zipfile, "ZipFile", lambda *a, **k: pytest.fail("zipfile read the directory"))
    with pytest.raises(DataError, match="holds 5 entries, more than the limit of 4"):
        read_bytes("x.zip", data)
    end = data.rfind(b"PK\x05\x06")
    lying = data[:end + 8] + struct.pack("<HH", 1, 1) + data[end + 12:]  # its end record claims 1 entry
    with pytest.raises(DataError, match="holds more than 4 entries"):
        read_bytes("x.zip", lying)


def test_the_same_image_under_two_classes_is_counted():
    same = png(class_image(0))
    imported = read_bytes("x.zip", zip_bytes({"cat/a.png": same, "dog/a.png": same, "cat/b.png": png(class_image(1)),
                                              "dog/c.png": png(class_image(2)), "dog/d.png": png(class_image(2))}))
    assert imported.duplicates == 1
    assert any("1 image(s) appear under more than one class" in n and "cat/a.png" in n for n in imported.notes)


def test_the_decoded_images_are_bounded_before_anything_is_decoded(monkeypatch):
    from alsim.data import importers

    data = zip_bytes({f"{c}/{i}.png": png(class_image(0)) for c in ("cat", "dog") for i in range(3)})
    monkeypatch.setattr(importers, "MAX_IMAGES_BYTES", 5 * 64 * 64 * 3)
    monkeypatch.setattr(importers, "decode_image", lambda raw: pytest.fail("an image was decoded"))
    with pytest.raises(DataError, match=r"6 images of 64x64x3 .* more than the limit"):
        read_bytes("x.zip", data, ImportOptions(side=64, color="auto"))


def test_decoding_messages_of_opencv_and_its_codecs_stay_off_stderr(tmp_path):
    good = {f"{c}/{i}.png": png(class_image(k, seed=i)) for k, c in enumerate(("cat", "dog")) for i in range(3)}
    ok = png(class_image(0))
    broken = {
        "ihdr-not-first": b"\x89PNG\r\n\x1a\n" + png_chunk(b"tEXt", b"a\0b") + ok[8:],
        "bad-zlib": ok[:33] + png_chunk(b"IDAT", b"garbage!garbage!") + png_chunk(b"IEND", b""),
        "truncated": ok[:60],
    }
    members = dict(good)
    for i in range(41):
        kind = list(broken)[i % len(broken)]
        members[f"cat/broken-{kind}-{i}.png"] = broken[kind]
    jpeg = bytearray(cv2.imencode(".jpg", class_image(1, (64, 64), colour=True))[1].tobytes())
    jpeg[len(jpeg) // 2: len(jpeg) // 2 + 40] = bytes(range(40))  # decodes, with libjpeg's warnings
    members["dog/noisy.jpg"] = bytes(jpeg)
    (tmp_path / "broken.zip").write_bytes(zip_bytes(members))
    env = {**os.environ, "ALSIM_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "alsim", "data", "add", str(tmp_path / "broken.zip")],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    assert "41 corrupt or unreadable image(s) skipped" in result.stdout


# --------------------------------------------------------------------------- display images and file names
def test_a_colour_image_keeps_a_display_image_of_128_pixels_in_colour_with_its_aspect_ratio(tmp_path):
    folder = write_image_folder(tmp_path / "wide", per_class=2, sizes=((48, 64),), colour=True)
    data = read_path(folder, ImportOptions(side=28)).dataset
    assert data.images.shape == (6, 28, 28)  # the features' images: gray, square
    assert data.display_images.shape == (6, 128, 128, 3) and data.display_sizes.tolist() == [[96, 128]] * 6
    shown = data.display_image(0)
    assert shown.shape == (96, 128, 3) and shown.dtype == np.uint8
    original = cv2.cvtColor(cv2.imread(str(folder / "cat" / "000.png")), cv2.COLOR_BGR2RGB)
    expected = cv2.resize(original, (128, 96), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(shown.reshape(-1, 3).mean(axis=0), expected.reshape(-1, 3).mean(axis=0), atol=1.0)
    assert np.abs(shown.astype(int) - expected.astype(int)).mean() < 2  # the same picture, not just the same means
    assert not data.display_images[0, 96:].any()  # the padding below the picture stays empty


def test_a_gray_set_keeps_gray_display_images_and_a_tall_image_keeps_its_height(tmp_path):
    folder = write_image_folder(tmp_path / "tall", per_class=2, sizes=((200, 100),))
    data = read_path(folder, ImportOptions(side=32, color="color")).dataset
    assert data.images.shape == (6, 32, 32, 3)
    assert data.display_images.shape == (6, 128, 128) and data.display_image(3).shape == (128, 64)


def test_the_aspect_ratio_note_appears_only_when_an_image_was_not_square(tmp_path):
    wide = read_path(write_image_folder(tmp_path / "wide", per_class=2, sizes=((48, 64),))).notes
    square = read_path(write_image_folder(tmp_path / "square", per_class=2, sizes=((64, 64),))).notes
    assert any("size 48x64 resized to 28x28 (aspect ratio not kept)" in note for note in wide)
    assert any("size 64x64 resized to 28x28" in note for note in square)
    assert not any("aspect ratio" in note for note in square)


def test_the_display_side_shrinks_for_large_sets_within_the_memory_bound():
    from alsim.data.importers import DISPLAY_SIDE, MAX_DISPLAY_BYTES, display_side

    assert display_side(1) == display_side(10_000) == DISPLAY_SIDE
    for n in (20_000, 100_000, 1_000_000):
        assert display_side(n) < DISPLAY_SIDE and n * display_side(n) ** 2 * 3 <= MAX_DISPLAY_BYTES


def test_every_item_keeps_its_source_file_name(tmp_path):
    folder = write_image_folder(tmp_path / "pets", per_class=2, unlabeled=1)
    names = read_path(folder).dataset.file_names
    assert names == ("cat/000.png", "cat/001.png", "dog/000.png", "dog/001.png", "owl/000.png", "owl/001.png",
                     "unlabeled/u000.png")
    archive = zip_folder(folder, tmp_path / "pets.zip", prefix="pets/")
    assert read_path(archive).dataset.file_names == tuple(f"pets/{name}" for name in names)
    rows = [f"pets/{c}/{i:03d}.png,{c}" for c in ("owl", "cat") for i in range(2)]
    (tmp_path / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    assert read_path(tmp_path / "list.csv").dataset.file_names == tuple(row.split(",")[0] for row in rows)
    arrays = read_bytes("x.npz", npz_bytes(X=np.eye(4), y=np.array([0, 1, 0, 1]))).dataset
    assert arrays.file_names is None and arrays.display_images is None and arrays.display_image(0) is None


def test_npz_images_keep_display_images_too():
    images = np.stack([class_image(i % 2, (48, 64), colour=True, seed=i) for i in range(4)])
    data = read_bytes("x.npz", npz_bytes(X=np.eye(4), y=np.array([0, 1, 0, 1]), images=images)).dataset
    assert data.images.shape == (4, 28, 28) and data.display_image(2).shape == (96, 128, 3)
    expected = cv2.resize(images[2], (128, 96), interpolation=cv2.INTER_LINEAR)
    assert np.abs(data.display_image(2).astype(int) - expected.astype(int)).mean() < 2
    gray = read_bytes("x.npz", npz_bytes(X=np.eye(4), y=np.array([0, 1, 0, 1]), images=images[..., 0])).dataset
    assert gray.display_images.shape == (4, 128, 128) and gray.file_names is None


def _png_with_a_bad_crc() -> bytes:
    """A PNG whose image data is sound but whose IDAT checksum is wrong: libpng reports it on fd 2."""
    image = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    raw = bytearray(cv2.imencode(".png", image)[1].tobytes())
    at = raw.find(b"IDAT")
    (length,) = struct.unpack(">I", raw[at - 4:at])
    raw[at + 4 + length] ^= 0xFF
    return bytes(raw)


def test_a_server_process_never_redirects_stderr_while_decoding(monkeypatch, capfd):
    from alsim.common import runtime
    from alsim.data import importers

    monkeypatch.setattr(runtime, "_CODEC_MESSAGES_DROPPED", False)
    redirected = []
    real_dup2 = os.dup2
    monkeypatch.setattr(importers.os, "dup2", lambda a, b: (redirected.append((a, b)), real_dup2(a, b))[1])
    assert importers.decode_image(_png_with_a_bad_crc()) is None
    assert redirected == []  # file descriptor 2 is process-wide: a session must not point it elsewhere
    assert "libpng error" in capfd.readouterr().err  # the codec's line reaches the server's log


def test_the_command_line_keeps_codec_messages_off_its_terminal(monkeypatch, capfd):
    from alsim.cli.main import main
    from alsim.common import runtime
    from alsim.data import importers

    monkeypatch.setattr(runtime, "_CODEC_MESSAGES_DROPPED", False)
    assert main(["presets"], out=io.StringIO()) == 0
    assert runtime.codec_messages_dropped()
    capfd.readouterr()
    assert importers.decode_image(_png_with_a_bad_crc()) is None
    assert "libpng" not in capfd.readouterr().err
