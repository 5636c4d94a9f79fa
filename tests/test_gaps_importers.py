"""The import byte limit, at its edge, for every way images arrive: a folder, a table of paths, a zip, a file.

``ImportOptions.max_bytes`` (default ``$ALSIM_MAX_IMPORT_BYTES``, else 1 GiB) is the largest
input accepted; one byte more is refused with a one-line :class:`DataError` before any
image is decoded.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import alsim.data.importers as importers
from alsim.common.errors import DataError
from alsim.data.importers import IMAGE_EXTENSIONS, ImportOptions, read_bytes, read_path


def _image(label: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, size=(28, 28)).astype(np.uint8)
    image[4 + 8 * label: 8 + 8 * label, 4:24] = 230
    return image


def _folder(root: Path, per_class: int = 3) -> int:
    """``root/<class>/<i>.png`` for two classes; returns the images' total size in bytes."""
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(root / name / f"{i}.png"), _image(c, 10 * c + i))
    return sum(p.stat().st_size for p in root.rglob("*") if p.suffix in IMAGE_EXTENSIONS)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image is decoded: a refusal must come from the sizes alone."""
    def refuse(raw):
        raise AssertionError("an image was decoded although the input is over the limit")
    monkeypatch.setattr(importers, "decode_image", refuse)


# --------------------------------------------------------------------------- a folder
def test_a_folder_at_the_limit_is_read(tmp_path):
    total = _folder(tmp_path / "pets")
    imported = read_path(tmp_path / "pets", ImportOptions(max_bytes=total))
    assert imported.dataset.images.shape == (6, 28, 28)


def test_a_folder_one_byte_over_the_limit_is_refused_before_decoding(tmp_path, no_decoding):
    total = _folder(tmp_path / "pets")
    with pytest.raises(DataError, match=r"pets: its images hold more than the import limit of .*ALSIM_MAX_IMPORT_BYTES"
                       ) as info:
        read_path(tmp_path / "pets", ImportOptions(max_bytes=total - 1))
    assert "\n" not in str(info.value)


def test_a_folder_whose_one_large_image_exceeds_the_limit_is_refused(tmp_path, no_decoding):
    _folder(tmp_path / "pets", per_class=1)
    big = np.random.default_rng(0).integers(0, 256, size=(300, 300), dtype=np.uint8)  # noise: compresses badly
    cv2.imwrite(str(tmp_path / "pets" / "cat" / "zz-big.png"), big)
    size = (tmp_path / "pets" / "cat" / "zz-big.png").stat().st_size
    with pytest.raises(DataError, match="its images hold more than the import limit"):
        read_path(tmp_path / "pets", ImportOptions(max_bytes=size - 1))


def test_a_folder_obeys_the_limit_from_the_environment(tmp_path, monkeypatch, no_decoding):
    total = _folder(tmp_path / "pets")
    monkeypatch.setenv("ALSIM_MAX_IMPORT_BYTES", str(total - 1))
    with pytest.raises(DataError, match="its images hold more than the import limit"):
        read_path(tmp_path / "pets")


# --------------------------------------------------------------------------- a table of image paths
def _table(tmp_path: Path) -> tuple[Path, int]:
    total = _folder(tmp_path / "img")
    rows = [f"img/{c}/{i}.png,{c}" for c in ("cat", "dog") for i in range(3)]
    path = tmp_path / "list.csv"
    path.write_text("path,label\n" + "\n".join(rows) + "\n")
    return path, total


def test_a_table_of_image_paths_at_the_limit_is_read(tmp_path):
    path, total = _table(tmp_path)
    limit = max(total, path.stat().st_size)
    assert read_path(path, ImportOptions(max_bytes=limit)).dataset.images.shape == (6, 28, 28)


def test_a_table_whose_images_exceed_the_limit_is_refused(tmp_path):
    path, total = _table(tmp_path)
    assert path.stat().st_size < total - 1  # the table itself passes; its images do not
    with pytest.raises(DataError, match="list.csv: its images hold more than the import limit"):
        read_path(path, ImportOptions(max_bytes=total - 1))


# --------------------------------------------------------------------------- a zip and a single file
def _pets_zip() -> tuple[bytes, int]:
    """A deflated zip of two classes and a compressible text file: it expands to more than its own size."""
    members = {f"{name}/{i}.png": cv2.imencode(".png", _image(c, i))[1].tobytes()
               for c, name in enumerate(("cat", "dog")) for i in range(2)}
    members["notes.txt"] = b"a" * 20_000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    expanded = sum(len(v) for v in members.values())
    assert len(data) < expanded - 1
    return data, expanded


def test_a_zip_expanding_to_exactly_the_limit_is_read():
    data, expanded = _pets_zip()
    assert len(read_bytes("pets.zip", data, ImportOptions(max_bytes=expanded)).dataset.labels) == 4


def test_a_zip_expanding_to_one_byte_over_the_limit_is_refused_before_decoding(no_decoding):
    data, expanded = _pets_zip()
    with pytest.raises(DataError, match="pets.zip expands to .* more than the import limit"):
        read_bytes("pets.zip", data, ImportOptions(max_bytes=expanded - 1))


def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused():
    buffer = io.BytesIO()
    np.savez(buffer, X=np.eye(6), y=np.arange(6) % 2)
    data = buffer.getvalue()
    assert len(read_bytes("e.npz", data, ImportOptions(max_bytes=len(data))).dataset.labels) == 6
    with pytest.raises(DataError, match=r"e.npz is .* larger than the import limit"):
        read_bytes("e.npz", data, ImportOptions(max_bytes=len(data) - 1))


def test_a_bad_import_limit_says_so_once_and_a_small_limit_reads_in_bytes(monkeypatch, caplog, tmp_path):
    """$ALSIM_MAX_IMPORT_BYTES that is not a positive integer falls back to 1 GiB with one line (not
    silently); a limit below 1 MiB is written in bytes ("0.0 MiB" said nothing)."""
    import logging

    from alsim.data import importers

    monkeypatch.setenv("ALSIM_MAX_IMPORT_BYTES", "1e3 ")
    with caplog.at_level(logging.WARNING, logger="alsim.data.importers"):
        assert importers.default_max_bytes() == importers.DEFAULT_MAX_BYTES == 2**30
        assert importers.default_max_bytes() == 2**30
    lines = [r.getMessage() for r in caplog.records if "ALSIM_MAX_IMPORT_BYTES" in r.getMessage()]
    assert lines == ["alsim: ALSIM_MAX_IMPORT_BYTES='1e3' is not a positive number of bytes; using 1073741824"]
    monkeypatch.setenv("ALSIM_MAX_IMPORT_BYTES", "10")
    path = tmp_path / "x.npz"
    np.savez(path, X=np.zeros((6, 2)), y=np.arange(6) % 2)
    with pytest.raises(DataError, match=rf"x.npz is {path.stat().st_size:,} bytes, larger than the import limit of "
                                        r"10 bytes \(ALSIM_MAX_IMPORT_BYTES\)"):
        importers.read_path(path)
