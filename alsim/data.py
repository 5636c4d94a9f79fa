"""Data sets: scikit-learn's digits (embedded) and Fashion-MNIST from local IDX files."""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

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
TUTORIAL_POOL = 330


class DataError(RuntimeError):
    """A data set is missing or unreadable; the message says how to get it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images, labels and class names of a pool and an optional held-out test split.

    Attributes
    ----------
    name : str
    images : ndarray, shape (n_pool, h, w), uint8 or float
    labels : ndarray, shape (n_pool,), int
    class_names : tuple of str, one per class id
    test_images : ndarray, shape (n_test, h, w) or None
    test_labels : ndarray, shape (n_test,) or None
    source : str, where the data came from (used to key caches)
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    source: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_test(self) -> bool:
        return self.test_labels is not None


def fashion_dir() -> Path:
    """The folder searched for Fashion-MNIST: ``$ALSIM_DATA_DIR`` or Debian's location."""
    return Path(os.environ.get("ALSIM_DATA_DIR") or DEBIAN_FASHION_DIR)


def fashion_available(folder: str | Path | None = None) -> bool:
    folder = Path(folder) if folder is not None else fashion_dir()
    return all((folder / name).is_file() for name in FASHION_FILES.values())


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or plain) of unsigned bytes.

    Returns
    -------
    ndarray of uint8 with the shape stored in the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path} not found. {FASHION_INSTALL_HINT}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable IDX file ({exc}). {FASHION_INSTALL_HINT}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number). {FASHION_INSTALL_HINT}")
    if raw[2] != 0x08:
        raise DataError(f"{path}: only unsigned-byte IDX data is supported, type code {raw[2]:#x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated (header). {FASHION_INSTALL_HINT}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape)) if shape else 0
    if len(raw) - header != expected:
        raise DataError(
            f"{path} is corrupt: header promises {expected} values of shape {shape}, "
            f"file holds {len(raw) - header}. {FASHION_INSTALL_HINT}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


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


@lru_cache(maxsize=1)
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


def load_dataset(name: str) -> Dataset:
    """Load a data set by its config name."""
    if name == "digits":
        return load_digits_dataset(False)
    if name == "digits-tutorial":
        return load_digits_dataset(True)
    if name == "fashion-mnist":
        return _load_fashion_cached(str(fashion_dir()))
    raise DataError(f"unknown data set {name!r}")


@lru_cache(maxsize=2)
def _load_fashion_cached(folder: str) -> Dataset:
    return load_fashion_mnist(folder)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write uint8 data as a (gzip-compressed if ``.gz``) IDX file; used to build test fixtures."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())
