"""Data sets: scikit-learn's digits (embedded) and Fashion-MNIST from local IDX files."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from alsim.common.errors import DataError

DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FASHION_INSTALL_HINT = (
    "Install Debian's package with `sudo apt-get install dataset-fashion-mnist` "
    f"(files land in {DEBIAN_FASHION_DIR}), or put the four original files "
    f"({', '.join(FASHION_FILES.values())}) in a folder and set ALSIM_DATA_DIR to it."
)
FASHION_IMAGE_SHAPE = (28, 28)
TUTORIAL_POOL = 330
#: Feature kinds any set of images can give (see :mod:`alsim.learn.features`), in the order lists show them;
#: a kind registered later (:func:`alsim.learn.features.register_features`) is added to :func:`image_feature_kinds`.
IMAGE_FEATURE_KINDS = ("raw", "hog", "colorhist", "pretrained", "onnx")
_IMAGE_KINDS = list(IMAGE_FEATURE_KINDS)
_IMAGE_KINDS_LOCK = threading.Lock()


def register_image_feature_kind(name: str) -> None:
    """Make ``name`` a feature kind every set of images offers (called by the feature registry)."""
    with _IMAGE_KINDS_LOCK:
        if name not in _IMAGE_KINDS:
            _IMAGE_KINDS.append(name)


def image_feature_kinds() -> tuple[str, ...]:
    """The built-in image feature kinds, then any registered since."""
    with _IMAGE_KINDS_LOCK:
        return tuple(_IMAGE_KINDS)



#: Unicode categories shown escaped: controls (terminal escape sequences, NUL, line breaks),
#: format characters (bidi overrides, zero-width marks), surrogates, line and paragraph separators.
@dataclass(frozen=True, eq=False)
class Dataset:
    """What a data set has: images and/or embeddings, labels, class names, a test split.

    Attributes
    ----------
    name : str
    images : ndarray, shape (n_pool, h, w[, c]), uint8 or float, or None (embeddings only)
    labels : ndarray, shape (n_pool,), int; -1 marks an unknown label
    class_names : tuple of str, one per class id
    test_images : ndarray, shape (n_test, h, w[, c]) or None
    test_labels : ndarray, shape (n_test,) or None
    source : str, where the data came from (for people; caches use :attr:`content_key`)
    embeddings : ndarray, shape (n_pool, d), or None; precomputed features
    test_embeddings : ndarray, shape (n_test, d), or None
    display_images : ndarray, shape (n_pool, s, s[, 3]) uint8, or None
        The pool's images for people to look at: colour and aspect ratio kept, the long side
        ``s`` pixels (128 unless the set is large), padded to s x s from the top left; image
        ``i`` is ``display_images[i, :h, :w]`` with ``(h, w) = display_sizes[i]``. None for
        sets without them (built-in sets, sets imported before they were kept): see
        :meth:`display_image`.
    display_sizes : ndarray, shape (n_pool, 2) int, or None
    file_names : tuple of (str or None), one per pool item, or None
        Where each item came from: its path inside the imported folder or zip, or the table's
        path column; None for rows of arrays.

    The last three are not part of :attr:`content_key`: they describe the same data.
    """

    name: str
    images: np.ndarray | None
    labels: np.ndarray
    class_names: tuple[str, ...]
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    source: str = ""
    embeddings: np.ndarray | None = None
    test_embeddings: np.ndarray | None = None
    display_images: np.ndarray | None = None
    display_sizes: np.ndarray | None = None
    file_names: tuple[str | None, ...] | None = None

    def display_image(self, i: int) -> np.ndarray | None:
        """Pool image ``i`` as people should see it: the display image when the set keeps one,
        else the feature-size image (None without images).

        Returns
        -------
        ndarray (h, w) or (h, w, 3), uint8 for a display image (the feature image's dtype otherwise)
        """
        if self.display_images is not None and self.display_sizes is not None:
            h, w = (int(v) for v in self.display_sizes[i])
            return np.asarray(self.display_images[i, :h, :w])
        return None if self.images is None else self.images[i]

    def file_name(self, i: int) -> str | None:
        """Pool item ``i``'s source file name (see :attr:`file_names`), or None."""
        return None if self.file_names is None else self.file_names[i]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_test(self) -> bool:
        return self.test_labels is not None

    @property
    def has_images(self) -> bool:
        return self.images is not None

    @property
    def label_status(self) -> str:
        """``known`` (every pool label), ``partial`` or ``unknown`` (none)."""
        known = int(np.count_nonzero(self.labels >= 0))
        return "known" if known == len(self.labels) else ("unknown" if known == 0 else "partial")

    @cached_property
    def content_key(self) -> str:
        """A hash of the data itself (arrays and class names), never of a path or a name.

        Every cache (features on disk, graphs, finished runs) is keyed by it, so the same
        files under another folder share caches and a changed file never hits a stale one.
        """
        digest = hashlib.blake2b(digest_size=16)
        if any("\x1f" in name for name in self.class_names):
            # Joined with the separator, ('a\x1fb', 'c') and ('a', 'b\x1fc') would read alike: such names are
            # hashed as a JSON list (every other set keeps the key, and the stored id, it always had).
            digest.update(("names-v2:" + json.dumps(list(self.class_names))).encode())
        else:
            digest.update("\x1f".join(self.class_names).encode())
        for part in (self.images, self.labels, self.test_images, self.test_labels, self.embeddings,
                     self.test_embeddings):
            if part is None:
                digest.update(b"none")
                continue
            part = np.ascontiguousarray(part)
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(part.view(np.uint8).reshape(-1))
        return digest.hexdigest()


def fashion_dir() -> Path:
    """The folder searched for Fashion-MNIST: ``$ALSIM_DATA_DIR`` or Debian's location."""
    return Path(os.environ.get("ALSIM_DATA_DIR") or DEBIAN_FASHION_DIR)


def fashion_available(folder: str | Path | None = None) -> bool:
    folder = Path(folder) if folder is not None else fashion_dir()
    return all((folder / name).is_file() for name in FASHION_FILES.values())


MAX_IDX_BYTES = 2 * 1024**3
"""Largest payload :func:`read_idx` accepts: 2 GiB (Fashion-MNIST's largest file holds 47 MB)."""
_IDX_CHUNK = 1 << 22  # bytes decompressed per read, which bounds every temporary buffer


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or plain) of unsigned bytes.

    The header is read first; then exactly the bytes it promises are streamed into a
    preallocated array, and the file must end there. A corrupt or hostile file (a small
    gzip that expands to gigabytes) therefore costs at most the promised size in memory,
    and a header promising more than ``MAX_IDX_BYTES`` (2 GiB) is refused before anything
    is allocated.

    Returns
    -------
    ndarray of uint8 with the shape stored in the header.

    Raises
    ------
    DataError
        The file is missing, unreadable, not IDX, truncated, followed by extra data, or
        larger than ``MAX_IDX_BYTES``; the message is one line.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return _read_idx_payload(handle, path)
    except FileNotFoundError:
        raise DataError(f"{path} not found. {FASHION_INSTALL_HINT}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable IDX file ({exc}). {FASHION_INSTALL_HINT}") from None


def _read_idx_payload(handle, path: Path) -> np.ndarray:
    """Header, then exactly the promised bytes from an open binary stream (see :func:`read_idx`)."""
    magic = _read_up_to(handle, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number). {FASHION_INSTALL_HINT}")
    if magic[2] != 0x08:
        raise DataError(f"{path}: only unsigned-byte IDX data is supported, type code {magic[2]:#x}")
    ndim = magic[3]
    if ndim == 0:
        raise DataError(f"{path} is corrupt: its header declares 0 dimensions. {FASHION_INSTALL_HINT}")
    dims = _read_up_to(handle, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path} is truncated (header). {FASHION_INSTALL_HINT}")
    shape = struct.unpack(f">{ndim}I", dims)
    expected = math.prod(shape)  # exact: numpy's int64 product wraps around for large headers
    if expected > MAX_IDX_BYTES:
        raise DataError(
            f"{path}: header promises {expected:,} values of shape {shape}, more than read_idx's limit of "
            f"{MAX_IDX_BYTES:,} bytes ({MAX_IDX_BYTES / 2**30:.3g} GiB, alsim.data.datasets.MAX_IDX_BYTES)"
        )
    values = np.empty(expected, dtype=np.uint8)
    buffer = memoryview(values)
    held = 0
    while held < expected:
        got = handle.readinto(buffer[held:held + _IDX_CHUNK])
        if not got:
            break
        held += got
    if held < expected:
        raise DataError(
            f"{path} is corrupt: header promises {expected:,} values of shape {shape}, "
            f"file holds {held:,}. {FASHION_INSTALL_HINT}"
        )
    if handle.read(1):
        raise DataError(
            f"{path} is corrupt: header promises {expected:,} values of shape {shape}, "
            f"file holds more data after them. {FASHION_INSTALL_HINT}"
        )
    return values.reshape(shape)


def _read_up_to(handle, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream."""
    parts, held = [], 0
    while held < size:
        part = handle.read(size - held)
        if not part:
            break
        parts.append(part)
        held += len(part)
    return b"".join(parts)


def load_fashion_mnist(folder: str | Path | None = None) -> Dataset:
    """Fashion-MNIST from the four IDX files in ``folder`` (see :func:`fashion_dir`)."""
    folder = Path(folder) if folder is not None else fashion_dir()
    missing = [n for n in FASHION_FILES.values() if not (folder / n).is_file()]
    if missing:
        raise DataError(f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}). {FASHION_INSTALL_HINT}")
    arrays = {key: read_idx(folder / name) for key, name in FASHION_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"Fashion-MNIST {split} files in {folder} do not match: images {images.shape}, "
                f"labels {labels.shape}. {FASHION_INSTALL_HINT}"
            )
        if images.shape[1:] != FASHION_IMAGE_SHAPE:
            # HOG and the image views assume 28x28; anything else is another data set.
            raise DataError(
                f"Fashion-MNIST {split} images in {folder} are {images.shape[1]}x{images.shape[2]} pixels "
                f"(shape {images.shape}), not 28x28. {FASHION_INSTALL_HINT}"
            )
        if labels.size and labels.max() >= len(FASHION_CLASSES):
            raise DataError(f"Fashion-MNIST {split} labels in {folder} exceed 9. {FASHION_INSTALL_HINT}")
    stats = ";".join(f"{n}:{(folder / n).stat().st_size}:{int((folder / n).stat().st_mtime)}"
                     for n in FASHION_FILES.values())
    return Dataset(
        name="fashion-mnist",
        images=arrays["train_images"],
        labels=arrays["train_labels"].astype(np.int64),
        class_names=FASHION_CLASSES,
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"].astype(np.int64),
        source=f"{folder.resolve()}|{stats}",
    )


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


def load_digits_dataset(tutorial_pool: bool = False) -> Dataset:
    """scikit-learn's digits; with ``tutorial_pool`` experiment A's 330-point pool.

    Experiment A shuffles the indices with ``np.random.RandomState(0)`` and keeps the
    first 330; its initial labels are then the first 40 of that order.
    """
    images, labels = _digits()
    name = "digits"
    if tutorial_pool:
        order = np.arange(len(labels))
        np.random.RandomState(0).shuffle(order)
        order = order[:TUTORIAL_POOL]
        images, labels = images[order], labels[order]
        name = "digits-tutorial"
    return Dataset(name=name, images=images, labels=labels,
                   class_names=tuple(str(i) for i in range(10)), source="sklearn.datasets.load_digits")


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write uint8 data as a (gzip-compressed if ``.gz``) IDX file; used to build test fixtures."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if max(array.shape) >= 2**32:  # ascontiguousarray makes a scalar 1-D, numpy caps ndim below 256
        raise ValueError(f"an IDX dimension holds fewer than 2**32 values, got shape {array.shape}")
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())
