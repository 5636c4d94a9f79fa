"""Reading people's own data sets: image folders (or a zip of one), ``.npz``, ``.csv`` / ``.parquet``, IDX.

Every reader returns an :class:`Imported`: a :class:`alsim.data.datasets.Dataset` whose images are
decoded (OpenCV, from bytes) and resized to one side, plus what a person should know about
the import (files skipped, corrupt images, sizes resized). Any bad input ends in one
:class:`alsim.data.datasets.DataError` with a one-line message; nothing here writes to disk (the
store, :mod:`alsim.data.store`, does that atomically).

Formats
-------
- **Image folder** (ImageFolder convention): ``root/<class name>/<image>``, png, jpg, bmp,
  tiff or webp, any size, grayscale or colour. Images in ``root/unlabeled/`` (the name is
  :attr:`ImportOptions.unlabeled_dir`) get the unknown label -1. ``%XX`` escapes in a class
  folder's name are decoded (:func:`class_from_folder`), as the Label page's export writes them. A zip of such a folder
  works the same (one enclosing folder in the zip is allowed).
- **npz**: ``X`` (n, d) embeddings, ``y`` (n,) labels (ints or strings; -1 or empty =
  unknown), optional ``images`` (n, h, w[, c]) uint8, ``class_names``, and a test split
  ``X_test``, ``y_test`` (optional ``images_test``).
- **csv** / **parquet**: a label column and either numeric feature columns or a column of
  image paths relative to the file.
- **IDX folder**: Fashion-MNIST's four files (:func:`alsim.data.datasets.load_fashion_mnist`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import math
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import numpy as np

from alsim.common.errors import DataError
from alsim.common.runtime import codec_messages_dropped
from alsim.data.datasets import FASHION_FILES, Dataset, load_fashion_mnist

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DATA_EXTENSIONS = (".zip", ".npz", ".csv", ".parquet")
DEFAULT_MAX_BYTES = 1 << 30
"""Largest file, upload or folder read by default (1 GiB); ``$ALSIM_MAX_IMPORT_BYTES`` changes it."""
MAX_COMPRESSION_RATIO = 100.0
"""Largest uncompressed/compressed ratio of a zip (or npz) member larger than 1 MiB.

Images, embeddings and CSV text compress far less than this; a zip bomb compresses far more.
"""
MAX_ENTRIES = 200_000
"""Most entries in a zip, read from its end-of-directory record and counted in its directory before
:mod:`zipfile` reads it (zipfile holds about 500 bytes per entry: reading a directory of 1,000,001
entries took 6.6 s and 675 MB)."""
MAX_SIDE = 512
MAX_PIXELS = 50_000_000
"""Largest image decoded (width x height read from its header before decoding)."""
MAX_DECODED_BYTES = 256 * 2**20
"""Largest image decoded, in bytes: width x height x channels x bytes per sample as its header declares
(float and 32-bit samples count 8 bytes: they are converted to 8 bits through float64), plus any
whole-image buffer its codec needs (a TIFF tile or strip, a progressive JPEG's coefficients)."""
DECODE_MEMORY_BOUND = 3 * MAX_DECODED_BYTES
"""Peak memory of decoding one image: the codec's buffer, the decoded pixels and their 8-bit copy."""
MAX_IMAGES_BYTES = 2**30
"""Largest array of imported images (n x side x side x channels bytes), checked before decoding any."""
MAX_FEATURES_BYTES = 2**30
DISPLAY_SIDE = 128
"""Long side of the images kept for people to look at (colour and aspect ratio kept)."""
MAX_DISPLAY_BYTES = 512 * 2**20
"""Largest array of display images (n x side x side x 3 bytes): a large set gets a smaller display side
(:func:`display_side`) rather than more memory."""
MIN_DISPLAY_SIDE = 16
"""Largest feature matrix (embeddings or table columns) as float64, checked before converting it."""
COLOR_MODES = ("gray", "color", "auto")
LABEL_COLUMNS = ("label", "labels", "y", "class", "target")
IMAGE_COLUMNS = ("path", "image", "image_path", "file", "filename")
_RATIO_FLOOR = 1 << 20  # members smaller than this are never a bomb worth refusing
_SHOWN_CORRUPT = 10
_DRIVE = re.compile(r"^[A-Za-z]:")


logger = logging.getLogger("alsim.data.importers")


def default_max_bytes() -> int:
    """``$ALSIM_MAX_IMPORT_BYTES`` if set to a positive integer, else 1 GiB (with one line saying so
    when it is set to something else)."""
    text = os.environ.get("ALSIM_MAX_IMPORT_BYTES", "").strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    if text:
        _say_ignored(text[:40])
    return DEFAULT_MAX_BYTES


@functools.lru_cache(maxsize=16)
def _say_ignored(text: str) -> None:
    """One line per bad value, however often the limit is read."""
    logger.warning("alsim: ALSIM_MAX_IMPORT_BYTES=%r is not a positive number of bytes; using %d",
                   text, DEFAULT_MAX_BYTES)


@dataclass(frozen=True)
class ImportOptions:
    """How a data set is read.

    Attributes
    ----------
    side : int
        Every image is resized to ``side`` x ``side`` pixels (HOG needs a multiple of 4, >= 8).
    color : str
        ``gray`` (the default: HOG works on it and every page's galleries show it), ``color``,
        or ``auto`` (colour only if some image has colour).
    unlabeled_dir : str
        Folder of an image folder whose images have no label.
    max_bytes : int or None
        Largest input accepted (file, upload, folder or zip contents); None: :func:`default_max_bytes`.
    label_column, image_column : str or None
        Columns of a csv / parquet file (None: the first of :data:`LABEL_COLUMNS` /
        :data:`IMAGE_COLUMNS` present).
    """

    side: int = 28
    color: str = "gray"
    unlabeled_dir: str = "unlabeled"
    max_bytes: int | None = None
    label_column: str | None = None
    image_column: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.side, bool) or not isinstance(self.side, int) or not 4 <= self.side <= MAX_SIDE:
            raise DataError(f"side must be an integer in [4, {MAX_SIDE}], got {self.side!r}")
        if self.color not in COLOR_MODES:
            raise DataError(f"color must be one of {', '.join(map(repr, COLOR_MODES))}, got {self.color!r}")
        if not isinstance(self.unlabeled_dir, str) or not self.unlabeled_dir or "/" in self.unlabeled_dir:
            raise DataError(f"unlabeled_dir must be a folder name, got {self.unlabeled_dir!r}")
        if self.max_bytes is not None and (isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int)
                                           or self.max_bytes < 1):
            raise DataError(f"max_bytes must be a positive integer, got {self.max_bytes!r}")

    @property
    def limit(self) -> int:
        return self.max_bytes if self.max_bytes is not None else default_max_bytes()


@dataclass(frozen=True, eq=False)
class Imported:
    """A data set read from a file, and what the import did to it.

    Attributes
    ----------
    dataset : Dataset
    kind : str
        ``folder``, ``zip``, ``npz``, ``csv``, ``parquet`` or ``idx``.
    source_file : str
        The file or folder it came from (its base name for an upload).
    original_sizes : dict of str to int
        ``"HxW"`` -> number of images of that size before resizing.
    skipped : int
        Files that are not images (skipped).
    corrupt : tuple of str
        The first corrupt or missing images (skipped).
    n_corrupt : int
    notes : tuple of str
        One line per thing a person should know (resized, skipped, corrupt, duplicates).
    duplicates : int
        Images whose file content was already imported under another class.

    The dataset's ``display_images`` / ``display_sizes`` hold the images as people see them
    (:data:`DISPLAY_SIDE`), and ``file_names`` each item's source file name.
    """

    dataset: Dataset
    kind: str
    source_file: str
    original_sizes: dict = field(default_factory=dict)
    skipped: int = 0
    corrupt: tuple[str, ...] = ()
    n_corrupt: int = 0
    notes: tuple[str, ...] = ()
    duplicates: int = 0


# --------------------------------------------------------------------------- entry points
def read_path(path: str | Path, options: ImportOptions | None = None) -> Imported:
    """Read a data set from a folder (image folder or IDX files) or a zip / npz / csv / parquet file.

    Raises
    ------
    DataError
        Anything wrong with the input, in one line.
    """
    options = options or ImportOptions()
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        _check_no_columns(path.name, options)
        if all((path / name).is_file() for name in FASHION_FILES.values()):
            return _from_idx(path, options)
        return _from_entries(_folder_entries(path, options.limit), "folder", str(path), options)
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: not a regular file or folder")
    _check_size(path.name, info.st_size, options.limit)
    suffix = path.suffix.lower()
    if suffix not in DATA_EXTENSIONS:
        raise DataError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
                        f"allowed: a folder, {', '.join(DATA_EXTENSIONS)}")
    if suffix == ".csv" or suffix == ".parquet":
        return _from_table(path, suffix, str(path), path.parent, options)
    _check_no_columns(path.name, options)
    with open(path, "rb") as handle:
        return _from_archive(handle, suffix, str(path), info.st_size, options)


def _check_no_columns(name: str, options: ImportOptions) -> None:
    """Refuses a label or image column for input that has no columns (a folder, zip or npz)."""
    named = [f"the {what} column {value!r}" for what, value in (("label", options.label_column),
                                                                ("image", options.image_column)) if value]
    if named:
        raise DataError(f"{name}: {' and '.join(named)} {'apply' if len(named) > 1 else 'applies'} to .csv and "
                        ".parquet tables only; a folder, zip or npz has no columns")


def read_bytes(filename: str, data: bytes, options: ImportOptions | None = None) -> Imported:
    """Read a data set from the bytes of an uploaded zip / npz / csv / parquet file named ``filename``."""
    options = options or ImportOptions()
    name = PurePosixPath(str(filename).replace("\\", "/")).name or "upload"
    _check_size(name, len(data), options.limit)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in DATA_EXTENSIONS:
        raise DataError(f"{name}: unsupported file type {suffix or '(none)'!r}; allowed: {', '.join(DATA_EXTENSIONS)}")
    if suffix in (".csv", ".parquet"):
        return _from_table(io.BytesIO(data), suffix, name, None, options)
    _check_no_columns(name, options)
    return _from_archive(io.BytesIO(data), suffix, name, len(data), options)


def _check_size(name: str, size: int, limit: int) -> None:
    if size > limit:
        raise DataError(f"{name} is {_mib(size)}, larger than the import limit of {_mib(limit)} "
                        "(ALSIM_MAX_IMPORT_BYTES)")


def _mib(size: int) -> str:
    """A size for a message: bytes below 1 MiB (a small limit read "0.0 MiB"), else MiB or GiB."""
    if size < 2**20:
        return f"{size:,} bytes"
    return f"{size / 2**20:,.1f} MiB" if size < 2**30 else f"{size / 2**30:,.2f} GiB"


# --------------------------------------------------------------------------- paths and archives
def checked_member(name: str, where: str) -> PurePosixPath:
    """A relative path inside an archive or folder; DataError if it could escape the root."""
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    if text.startswith("/") or _DRIVE.match(text) or ".." in path.parts or "\x00" in text:
        raise DataError(f"{where}: entry {name!r} points outside the data set's folder; nothing was imported")
    return path


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check_zip_directory(archive: zipfile.ZipFile, where: str, archive_size: int, limit: int) -> list[zipfile.ZipInfo]:
    """The members of a zip, checked from its directory alone before anything is decompressed."""
    members = archive.infolist()
    if len(members) > MAX_ENTRIES:
        raise DataError(f"{where} holds {len(members):,} entries, more than the limit of {MAX_ENTRIES:,}")
    total = 0
    for info in members:
        checked_member(info.filename, where)
        if _is_symlink(info):
            raise DataError(f"{where}: entry {info.filename!r} is a symbolic link; links are not imported")
        total += info.file_size
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise DataError(f"{where}: entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):,.0f} "
                            f"times ({_mib(info.file_size)}), more than the limit of {MAX_COMPRESSION_RATIO:g}; "
                            "refusing a possible zip bomb")
    if total > limit:
        raise DataError(f"{where} expands to {_mib(total)}, more than the import limit of {_mib(limit)} "
                        "(ALSIM_MAX_IMPORT_BYTES)")
    if total > _RATIO_FLOOR and total > MAX_COMPRESSION_RATIO * max(archive_size, 1):
        raise DataError(f"{where} expands {total / max(archive_size, 1):,.0f} times, more than the limit of "
                        f"{MAX_COMPRESSION_RATIO:g}; refusing a possible zip bomb")
    return members


def _check_entry_count(handle, where: str) -> None:
    """Refuse a zip with more than :data:`MAX_ENTRIES` entries before :mod:`zipfile` reads its directory.

    The count comes from the end-of-central-directory record (the ZIP64 one when present),
    found as :mod:`zipfile` finds it; then the directory's entry headers are counted the way
    :mod:`zipfile` reads them (until the declared directory size is consumed), stopping at the
    limit. Anything malformed is left to :mod:`zipfile` to report.
    """
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    tail_size = min(size, 22 + 0xFFFF)  # the record and the longest comment
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or tail_size - at < 22:
        return
    _, _, _, _, declared, directory_size, _, _ = struct.unpack("<4sHHHHIIH", tail[at:at + 22])
    end = size - tail_size + at  # where the directory ends
    if end >= 76:
        handle.seek(end - 76)
        record, locator = handle.read(56), handle.read(20)
        if locator[:4] == b"PK\x06\x07" and record[:4] == b"PK\x06\x06":
            declared, directory_size = struct.unpack("<QQ", record[32:48])
            end -= 76
    if declared > MAX_ENTRIES:
        raise DataError(f"{where} holds {declared:,} entries, more than the limit of {MAX_ENTRIES:,}")
    count, position, start = 0, 0, end - directory_size
    if start < 0:
        return
    while position < directory_size:
        handle.seek(start + position)
        header = handle.read(46)
        if len(header) < 46 or header[:4] != b"PK\x01\x02":
            return
        count += 1
        if count > MAX_ENTRIES:
            raise DataError(f"{where} holds more than {MAX_ENTRIES:,} entries, the limit")
        name, extra, comment = struct.unpack("<HHH", header[28:34])
        position += 46 + name + extra + comment


def _open_zip(handle, where: str) -> zipfile.ZipFile:
    try:
        _check_entry_count(handle, where)
        handle.seek(0)
        return zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{where} is not a readable zip archive ({exc})") from None


def _from_archive(handle, suffix: str, where: str, size: int, options: ImportOptions) -> Imported:
    archive = _open_zip(handle, where)
    with archive:
        members = _check_zip_directory(archive, where, size, options.limit)
        if suffix == ".npz":
            return _from_npz(archive, members, where, options)
        entries = [(info.filename, _zip_reader(archive, info, where)) for info in members if not info.is_dir()]
        return _from_entries(entries, "zip", where, options)


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> Callable[[], bytes | None]:
    def read() -> bytes | None:
        try:
            return archive.read(info)  # bounded by the directory's size, checked above
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            return None  # a damaged member is a corrupt image, named in the summary
    return read


def _folder_entries(root: Path, limit: int) -> list[tuple[str, Callable[[], bytes | None]]]:
    """Files under ``root`` as (relative posix path, reader); symlinks refused, sizes summed first."""
    entries, total = [], 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            full = Path(folder) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                raise DataError(f"{root}: {rel!r} is a symbolic link; links are not imported")
        dirs.sort()
        for name in sorted(files):
            full = Path(folder) / name
            try:
                info = full.stat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if full.suffix.lower() in IMAGE_EXTENSIONS:
                total += info.st_size
            if total > limit:
                raise DataError(f"{root}: its images hold more than the import limit of {_mib(limit)} "
                                "(ALSIM_MAX_IMPORT_BYTES)")
            entries.append((full.relative_to(root).as_posix(), _file_reader(full)))
    return entries


def _file_reader(path: Path) -> Callable[[], bytes | None]:
    def read() -> bytes | None:
        # Only a regular file is read: opening a FIFO (or a device) named by a csv would block
        # or never end. O_NONBLOCK makes the open itself return at once; fstat then checks what it is.
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            os.set_blocking(descriptor, True)
            with open(descriptor, "rb", closefd=False) as handle:
                return handle.read()
        except OSError:
            return None
        finally:
            os.close(descriptor)
    return read


# --------------------------------------------------------------------------- images
class _Images:
    """Decoded, resized images with their labels, and what went wrong on the way."""

    def __init__(self, options: ImportOptions, expected: int = 0):
        """``expected``: the most images :meth:`add` will keep; their display images are allocated
        up front (one array, pages touched only as it fills), none when 0."""
        self.options = options
        self.images: list[np.ndarray] = []
        self.names: list[str] = []
        self.display = _DisplayImages(expected)
        self.colour: list[bool] = []
        self.sizes: dict[str, int] = {}
        self.corrupt: list[str] = []
        self.n_corrupt = 0
        self.too_large: list[str] = []
        self.n_too_large = 0
        self.duplicates: list[str] = []
        self.n_duplicates = 0
        self._seen: dict[bytes, tuple[str, str]] = {}

    def add(self, name: str, raw: bytes | None, label: str | None = None, file_name: str | None = None) -> bool:
        """Decode, resize and keep one image; ``label`` (None: unknown) is only for spotting duplicates,
        ``file_name`` (default ``name``) is kept as its source file name."""
        header = image_header(raw) if raw else None
        if header is not None and header.too_large:
            self.n_too_large += 1
            if len(self.too_large) < _SHOWN_CORRUPT:
                self.too_large.append(f"{name} ({header.width}x{header.height} pixels)")
            return False
        image = decode_image(raw, header) if header is not None else None
        if image is None:
            self.n_corrupt += 1
            if len(self.corrupt) < _SHOWN_CORRUPT:
                self.corrupt.append(name)
            return False
        if label is not None:
            digest = hashlib.blake2b(raw, digest_size=16).digest()
            first = self._seen.setdefault(digest, (label, name))
            if first[0] != label:
                self.n_duplicates += 1
                if len(self.duplicates) < _SHOWN_CORRUPT:
                    self.duplicates.append(f"{first[1]} = {name}")
        h, w = image.shape[:2]
        self.sizes[f"{h}x{w}"] = self.sizes.get(f"{h}x{w}", 0) + 1
        colour = image.ndim == 3
        self.display.put(len(self.images), image)
        side = self.options.side
        if (h, w) != (side, side):
            image = resize_image(image, side)
        self.images.append(image)
        self.colour.append(colour)
        self.names.append(name if file_name is None else file_name)
        return True

    def stack(self) -> np.ndarray:
        """(n, side, side) gray or (n, side, side, 3) RGB uint8."""
        return stack_images(self.images, self.colour, self.options)

    def display_arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """See :meth:`_DisplayImages.arrays`."""
        return self.display.arrays(len(self.images), any(self.colour))


class _DisplayImages:
    """Images for people to look at, filled one by one into an array allocated up front (pages are
    touched only as it fills): ``expected`` images at most, none when 0 or when so many that their
    side (:func:`display_side`) would fall below :data:`MIN_DISPLAY_SIDE`."""

    def __init__(self, expected: int):
        self.side = display_side(expected)
        self.images: np.ndarray | None = None
        self.sizes: np.ndarray | None = None
        if expected and self.side >= MIN_DISPLAY_SIDE:
            self.images = np.zeros((expected, self.side, self.side, 3), dtype=np.uint8)
            self.sizes = np.zeros((expected, 2), dtype=np.int32)

    def put(self, i: int, image: np.ndarray) -> None:
        """Image ``i`` (gray (h, w) or RGB (h, w, 3) uint8, its original size) at the display side."""
        if self.images is None or i >= len(self.images):
            return
        shown = fit_long_side(image, self.side)
        h, w = shown.shape[:2]
        self.images[i, :h, :w] = shown[:, :, None] if shown.ndim == 2 else shown
        self.sizes[i] = (h, w)

    def arrays(self, n: int, colour: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The first ``n`` images, (n, s, s, 3) RGB, or (n, s, s) when none has ``colour``, and sizes (n, 2)."""
        if self.images is None:
            return None, None
        images = self.images[:n] if colour else np.ascontiguousarray(self.images[:n, :, :, 0])
        return images, self.sizes[:n]


def decode_image(raw: bytes | None, header: ImageHeader | None = None) -> np.ndarray | None:
    """An encoded image as uint8 gray (h, w) or RGB (h, w, 3); None when it cannot be decoded.

    Only png, jpeg, bmp, tiff and webp whose header declares at most :data:`MAX_PIXELS` pixels
    and :data:`MAX_DECODED_BYTES` bytes are handed to OpenCV (which would also decode other
    formats, whatever the file's name, without a header read here). ``header``: the result of
    :func:`image_header` on ``raw`` when the caller has read it already.
    """
    if not raw:
        return None
    header = header or image_header(raw)
    if header is None or header.too_large:
        return None  # a format whose size is not read here, or a small file that would decode to gigabytes
    cv2 = _opencv()
    try:
        with _codec_messages_dropped():
            image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        return None
    image = _to_uint8(image)
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1 or channels == 2:  # gray, or gray + alpha
            image = image[:, :, 0]
        elif channels >= 3:
            image = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_BGR2RGB)
            if (image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all():
                image = image[:, :, 0]  # a gray image saved as colour
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header declares, read before anything is decoded.

    ``decoded_bytes``: the pixels as OpenCV returns them and alsim converts them (see
    :data:`MAX_DECODED_BYTES`), plus any whole-image buffer of the codec.
    """

    format: str
    width: int
    height: int
    decoded_bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def too_large(self) -> bool:
        return self.pixels > MAX_PIXELS or self.decoded_bytes > MAX_DECODED_BYTES


def declared_pixels(raw: bytes) -> int | None:
    """Width x height promised by a PNG, JPEG, BMP, TIFF or WebP header; None for other formats."""
    header = image_header(raw)
    return None if header is None else header.pixels


def image_header(raw: bytes) -> ImageHeader | None:
    """The header of a png, jpeg, bmp, tiff or webp file; None for other formats or a header not understood."""
    try:
        if raw[:8] == b"\x89PNG\r\n\x1a\n":
            return _png_header(raw)
        if raw[:2] == b"\xff\xd8":
            return _jpeg_header(raw)
        if raw[:2] == b"BM":
            return _bmp_header(raw)
        if raw[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            return _tiff_header(raw)
        if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
            return _webp_header(raw)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _sample_bytes(bits: int) -> int:
    """Bytes per sample while decoding: 8-bit and 16-bit samples as they are, anything wider through float64."""
    return 1 if bits <= 8 else 2 if bits <= 16 else 8


_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}  # a palette is expanded to BGR(A)


def _png_header(raw: bytes) -> ImageHeader | None:
    if raw[12:16] != b"IHDR":
        return None  # libpng refuses it (and OpenCV logs why)
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", raw[16:29])
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        return None
    header = ImageHeader("png", width, height, width * height * _PNG_CHANNELS[colour] * _sample_bytes(depth))
    if not header.too_large and not _png_data_is_sound(raw, width, height, depth, colour, interlace):
        return None  # libpng would print its error on stderr itself
    return header


def _png_data_is_sound(raw: bytes, width: int, height: int, depth: int, colour: int, interlace: int) -> bool:
    """Whether the image data inflates and every row has a valid filter byte, checked as it streams.

    libpng reports a damaged stream ("IDAT: incorrect data check", "bad adaptive filter value")
    with its own line on the process's stderr, which OpenCV does not route through its log;
    a stream found damaged here is never handed to it. The check inflates in bounded pieces,
    so it needs no more memory than a row of the image.
    """
    samples = _PNG_CHANNELS[colour] if colour != 3 else 1
    passes = [(width, height)] if not interlace else [
        ((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy)
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                               (0, 1, 1, 2))]
    rows = [(1 + (w * samples * depth + 7) // 8, h) for w, h in passes if w > 0 and h > 0]
    spans, begin = [], 0  # each pass: where it starts and ends in the inflated stream, its row size
    for size, count in rows:
        spans.append((begin, begin + size * count, size))
        begin += size * count
    expected = begin
    stream = zlib.decompressobj()
    seen, position = 0, 8
    while position + 8 <= len(raw) and seen < expected:
        length, kind = struct.unpack(">I4s", raw[position:position + 8])
        pending = raw[position + 8:position + 8 + length] if kind == b"IDAT" else b""
        position += 12 + length
        if kind == b"IEND":
            break
        while pending and seen < expected:
            try:
                piece = stream.decompress(pending, 1 << 16)
            except zlib.error:
                return False
            pending = stream.unconsumed_tail
            values = np.frombuffer(piece, dtype=np.uint8)
            for lo, hi, size in spans:  # the filter bytes of every row this piece holds
                first = lo if seen <= lo else seen + (lo - seen) % size
                stop = min(hi, seen + len(piece))
                if first < stop and (values[first - seen:stop - seen:size] > 4).any():
                    return False
            seen += len(piece)
    return seen >= expected


def _jpeg_header(raw: bytes) -> ImageHeader | None:
    """The frame header (SOF), found by walking the segments as libjpeg does, fill bytes (0xFF runs) included."""
    i, n = 2, len(raw)
    while i < n:
        if raw[i] != 0xFF:
            return None  # garbage between segments: libjpeg would skip it, this reader does not guess
        while i < n and raw[i] == 0xFF:
            i += 1
        if i >= n:
            return None
        marker = raw[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker in (0x00, 0xD8, 0xD9, 0xDA):
            return None  # no frame header before the data (or a second start)
        length = int.from_bytes(raw[i:i + 2], "big")
        if length < 2 or i + length > n:
            return None
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            precision, height, width, components = struct.unpack(">BHHB", raw[i + 2:i + 8])
            per_pixel = max(1, components) * _sample_bytes(precision)
            if marker in (0xC2, 0xC6, 0xCA, 0xCE):
                per_pixel += 2 * max(1, components)  # progressive: every coefficient is kept until the end
            return ImageHeader("jpeg", width, height, width * height * per_pixel)
        i += length
    return None


def _bmp_header(raw: bytes) -> ImageHeader | None:
    (info_size,) = struct.unpack("<I", raw[14:18])
    if info_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height, _, bits = struct.unpack("<HHHH", raw[18:26])
    elif info_size >= 40:
        width, height, _, bits = struct.unpack("<iiHH", raw[18:30])
    else:
        return None
    width, height = abs(width), abs(height)
    if not width or not height or bits > 32:
        return None
    return ImageHeader("bmp", width, height, width * height * 4)


_TIFF_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # byte, short, long, long8 (BigTIFF)


def _tiff_header(raw: bytes) -> ImageHeader | None:
    """The first page's size, samples, bits and tile or strip size, from its directory (classic or BigTIFF)."""
    order = "<" if raw[:2] == b"II" else ">"
    big = raw[2:4] in (b"+\0", b"\0+")
    if big:
        (offset,) = struct.unpack(order + "Q", raw[8:16])
        count_format, entry_size, inline = "Q", 20, 8
    else:
        (offset,) = struct.unpack(order + "I", raw[4:8])
        count_format, entry_size, inline = "H", 12, 4
    count_size = struct.calcsize(count_format)
    (entries,) = struct.unpack(order + count_format, raw[offset:offset + count_size])
    if offset + count_size + entries * entry_size > len(raw):
        return None
    tags: dict[int, list[int]] = {}
    for k in range(entries):
        at = offset + count_size + k * entry_size
        if big:
            tag, kind, count = struct.unpack(order + "HHQ", raw[at:at + 12])
        else:
            tag, kind, count = struct.unpack(order + "HHI", raw[at:at + 8])
        if tag not in (256, 257, 258, 277, 278, 322, 323, 339) or kind not in _TIFF_TYPES or not 0 < count <= 16:
            continue
        code, size = _TIFF_TYPES[kind]
        value_at = at + 4 + (8 if big else 4)
        if count * size > inline:
            (value_at,) = struct.unpack(order + ("Q" if big else "I"), raw[value_at:value_at + inline])
        tags[tag] = list(struct.unpack(order + code * count, raw[value_at:value_at + count * size]))
    if 256 not in tags or 257 not in tags:
        return None
    width, height = tags[256][0], tags[257][0]
    samples = tags.get(277, [1])[0]
    bits = max(tags.get(258, [1]))
    if not 0 < samples <= 16 or not 0 < bits <= 64:
        return None
    per_pixel = min(samples, 4) * (8 if 3 in tags.get(339, []) else _sample_bytes(bits))
    if 322 in tags and 323 in tags:  # a tile is decoded into a buffer of its own
        buffer = tags[322][0] * tags[323][0]
    else:  # so is a strip
        buffer = width * min(height, tags.get(278, [height])[0])
    return ImageHeader("tiff", width, height, width * height * per_pixel + buffer * samples * _sample_bytes(bits))


def _webp_header(raw: bytes) -> ImageHeader | None:
    kind = raw[12:16]
    if kind == b"VP8 ":
        if raw[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", raw[26:30]))
    elif kind == b"VP8L":
        if raw[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", raw[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":  # the canvas of an extended (alpha, animated) file
        width = 1 + int.from_bytes(raw[24:27], "little")
        height = 1 + int.from_bytes(raw[27:30], "little")
    else:
        return None
    return ImageHeader("webp", width, height, width * height * 4)  # decoded straight into BGR(A)


@functools.cache
def _opencv():
    """OpenCV, its own log silenced.

    Done once per process, on first use (importing ``cv2`` when :mod:`alsim` is imported would
    slow every start-up): ``setLogLevel`` is process-wide state, so it also silences OpenCV's
    log for every other caller in this process. alsim says itself which files it skipped,
    once per import, instead of OpenCV's line per file.
    """
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


_STDERR_LOCK = threading.Lock()
_CODEC_LINE = re.compile(rb"^(libpng (error|warning)|libtiff|TIFF|Corrupt JPEG data|Premature end of JPEG|"
                         rb"Invalid JPEG|Unsupported JPEG|Unsupported marker|Bogus |Warning: |Not a JPEG|"
                         rb"Quantization table|Huffman table|Inconsistent progression|Invalid SOS|Invalid progressive|"
                         rb"Empty JPEG|Didn't expect more than|JPEG |JFIF |\[ ?(WARN|ERROR|INFO|DEBUG|VERBOSE):)")


@functools.cache
def _stderr_capture() -> int | None:
    """An anonymous temporary file (descriptor) that receives the stderr of one decode at a time."""
    try:
        descriptor, name = tempfile.mkstemp(prefix="alsim-decode-")
        os.unlink(name)
        return descriptor
    except OSError:
        return None


@contextlib.contextmanager
def _codec_messages_dropped():
    """Keep libjpeg's and libpng's own messages off stderr while one image decodes.

    Those libraries print warnings and errors ("Corrupt JPEG data: ...", "libpng error: ...")
    straight to file descriptor 2, outside OpenCV's log. Only in a process that asked for it
    (:func:`alsim.common.runtime.drop_codec_messages`: the command line, which owns its
    terminal) is the descriptor pointed at a temporary file for the decode (process-wide, so
    under a lock, one decode at a time); afterwards every line that is not a codec's message
    (another thread's output) is written to stderr after all. Elsewhere (a dashboard server,
    whose sessions must not change process-wide state) nothing is redirected.
    """
    capture = _stderr_capture() if codec_messages_dropped() else None
    if capture is None:
        yield
        return
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all
            yield
            return
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        os.dup2(capture, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.lseek(capture, 0, os.SEEK_END)
            if size:
                text = os.pread(capture, min(size, 1 << 16), 0)
                os.ftruncate(capture, 0)
                os.lseek(capture, 0, os.SEEK_SET)
                kept = b"".join(line for line in text.splitlines(keepends=True) if not _CODEC_LINE.match(line))
                if kept:
                    try:
                        os.write(2, kept)
                    except OSError:
                        pass


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    # One float64 copy, scaled in place (the decode's memory bound counts it: MAX_DECODED_BYTES).
    values = np.nan_to_num(image.astype(np.float64), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = values.min(), values.max()
    if high > low:
        values -= low
        values /= high - low
        values *= 255.0
    else:
        values[...] = 0.0
    return values.astype(np.uint8)


def resize_image(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` squeezed to side x side (OpenCV's area interpolation when shrinking)."""
    cv2 = _opencv()
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if h >= side and w >= side else cv2.INTER_LINEAR
    return cv2.resize(image, (side, side), interpolation=interpolation)


def display_side(n_images: int) -> int:
    """The display images' long side for ``n_images`` images: :data:`DISPLAY_SIDE`, smaller when
    their array would pass :data:`MAX_DISPLAY_BYTES` (10,922 images keep 128 pixels)."""
    if n_images <= 0:
        return DISPLAY_SIDE
    return min(DISPLAY_SIDE, math.isqrt(MAX_DISPLAY_BYTES // (3 * n_images)))


def fit_long_side(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` scaled so that its long side is ``side`` pixels, aspect ratio kept (area
    interpolation when shrinking, linear when enlarging)."""
    cv2 = _opencv()
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def stack_images(images: list[np.ndarray], colour: list[bool], options: ImportOptions) -> np.ndarray:
    side = options.side
    as_colour = options.color == "color" or (options.color == "auto" and any(colour))
    out = np.empty((len(images), side, side, 3) if as_colour else (len(images), side, side), dtype=np.uint8)
    for i, image in enumerate(images):
        if as_colour:
            out[i] = image[:, :, None] if image.ndim == 2 else image
        else:
            out[i] = image if image.ndim == 2 else _gray(image)
    return out


def _gray(rgb: np.ndarray) -> np.ndarray:
    cv2 = _opencv()
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _size_note(sizes: dict[str, int], side: int) -> str | None:
    """What resizing did, from the ``"HxW"`` counts; "aspect ratio not kept" only when some image was not square."""
    if not sizes or set(sizes) == {f"{side}x{side}"}:
        return None
    by_area = sorted(sizes, key=lambda s: (int(s.split("x")[0]) * int(s.split("x")[1]), s))
    kinds = f"{len(sizes)} sizes, from {by_area[0]} to {by_area[-1]}" if len(sizes) > 1 else f"size {by_area[0]}"
    squeezed = any(h != w for h, w in (s.split("x") for s in sizes))
    return f"images of {kinds} resized to {side}x{side}" + (" (aspect ratio not kept)" if squeezed else "")


def _image_notes(decoded: _Images, skipped: int, outside: int = 0) -> list[str]:
    notes = []
    size_note = _size_note(decoded.sizes, decoded.options.side)
    if size_note:
        notes.append(size_note)
    if skipped:
        notes.append(f"{skipped} file(s) that are not images skipped")
    if outside:
        notes.append(f"{outside} image(s) outside any class folder skipped")
    if decoded.n_corrupt:
        more = f" and {decoded.n_corrupt - len(decoded.corrupt)} more" if decoded.n_corrupt > len(decoded.corrupt) else ""
        notes.append(f"{decoded.n_corrupt} corrupt or unreadable image(s) skipped: {', '.join(decoded.corrupt)}{more}")
    if decoded.n_too_large:
        notes.append(_too_large_text(decoded))
    if decoded.n_duplicates:
        more = (f" and {decoded.n_duplicates - len(decoded.duplicates)} more"
                if decoded.n_duplicates > len(decoded.duplicates) else "")
        notes.append(f"{decoded.n_duplicates} image(s) appear under more than one class (the same file content): "
                     f"{', '.join(decoded.duplicates)}{more}")
    return notes


def _too_large_text(decoded: _Images) -> str:
    hidden = decoded.n_too_large - len(decoded.too_large)
    more = f" and {hidden} more" if hidden else ""
    return (f"{decoded.n_too_large} image(s) larger than the decoding limit ({MAX_PIXELS:,} pixels, "
            f"{_mib(MAX_DECODED_BYTES)} decoded) skipped: {', '.join(decoded.too_large)}{more}")


def check_features_bytes(n_values: int, what: str) -> None:
    """Refuse features whose float64 array would exceed :data:`MAX_FEATURES_BYTES` (before converting them)."""
    if n_values * 8 > MAX_FEATURES_BYTES:
        raise DataError(f"{what}: {n_values:,} feature values take {_mib(n_values * 8)} as float64, more than the "
                        f"limit of {_mib(MAX_FEATURES_BYTES)}")


def check_images_bytes(n_images: int, options: ImportOptions, where: str) -> None:
    """Refuse, before decoding any, images whose stored array would exceed :data:`MAX_IMAGES_BYTES`.

    Colour is assumed unless the import is gray (``auto`` may keep colour).
    """
    channels = 1 if options.color == "gray" else 3
    need = n_images * options.side * options.side * channels
    if need > MAX_IMAGES_BYTES:
        shape = f"{options.side}x{options.side}" + ("x3" if channels == 3 else "")
        raise DataError(f"{where}: {n_images:,} images of {shape} take {_mib(need)} once decoded, more than the "
                        f"limit of {_mib(MAX_IMAGES_BYTES)}; import them with a smaller side"
                        + (" or in gray" if channels == 3 else ""))


# --------------------------------------------------------------------------- image folders
#: Characters a class folder's name never holds as they are: path separators, ``%`` (the
#: escape itself) and what Windows refuses in a name.
_FOLDER_UNSAFE = frozenset('/\\%<>:"|?*')
#: Folder names the importer reads as something else than a class.
_FOLDER_RESERVED = ("unlabeled", "__MACOSX")
_ESCAPED_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def class_folder_name(name: str) -> str:
    """The folder an image-folder export writes class ``name`` to; :func:`class_from_folder` reads it back.

    Unicode stays as it is (``猫/``). Percent-encoding (``%XX`` per UTF-8 byte) replaces only
    what is unsafe in a path or read otherwise by the importer: ``/``, ``\\``, ``%`` itself,
    ``< > : " | ? *``, control and format characters (NUL, escape sequences, bidi overrides),
    a leading or trailing ``.`` (hidden folders, ``.`` and ``..``) or space, and the first
    character of a name the importer reserves (``unlabeled``, ``__MACOSX``). The empty name is
    ``%``. Distinct names give distinct folders.
    """
    if name == "":
        return "%"
    last = len(name) - 1
    out = []
    for position, ch in enumerate(name):
        at_end = position in (0, last)
        if (ch in _FOLDER_UNSAFE or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")
                or (at_end and (ch == "." or ch.isspace())) or (position == 0 and name in _FOLDER_RESERVED)):
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def class_from_folder(folder: str) -> str:
    """The class name of an image folder: ``%XX`` escapes decoded (see :func:`class_folder_name`);
    a ``%`` that starts no valid escape stays as it is."""
    if folder == "%":
        return ""

    def decoded(match: re.Match) -> str:
        try:
            return bytes.fromhex(match.group(0).replace("%", "")).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return match.group(0)

    return _ESCAPED_RUN.sub(decoded, folder)


def _is_hidden(parts: Iterable[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _from_entries(entries: list[tuple[str, Callable[[], bytes | None]]], kind: str, where: str,
                  options: ImportOptions) -> Imported:
    """An ImageFolder tree given as (relative path, reader) pairs."""
    images, skipped = [], 0
    for name, read in entries:
        path = checked_member(name, where)
        if _is_hidden(path.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append((path, read))
        else:
            skipped += 1
    if not images:
        raise DataError(f"{where}: no images found (expected <class name>/<image> with extensions "
                        f"{', '.join(IMAGE_EXTENSIONS)}); {skipped} other file(s)")
    # One enclosing folder (a zip of the folder itself) is not a class level.
    parts = [p.parts for p, _ in images]
    while all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    n_in_classes = sum(len(p) >= 2 for p in parts)
    check_images_bytes(n_in_classes, options, where)
    decoded = _Images(options, n_in_classes)
    labels_by_name: list[str | None] = []
    outside = 0
    for p, (path, read) in sorted(zip(parts, images), key=lambda item: item[0]):
        if len(p) < 2:
            outside += 1
            continue
        label = None if p[0] == options.unlabeled_dir else class_from_folder(p[0])
        # Its file name is its whole path inside the folder or zip, an enclosing folder included.
        if decoded.add("/".join(p), read(), label, file_name=path.as_posix()):
            labels_by_name.append(label)
    class_names = tuple(sorted({n for n in labels_by_name if n is not None}))
    if len(class_names) < 2:
        found = f"{len(class_names)} ({', '.join(class_names)})" if class_names else "0"
        corrupt = f"; {decoded.n_corrupt} corrupt image(s) skipped" if decoded.n_corrupt else ""
        corrupt += f"; {_too_large_text(decoded)}" if decoded.n_too_large else ""
        raise DataError(f"{where}: found {found} class folder(s) with readable images; at least 2 are needed "
                        f"(layout: <class name>/<image>, unknown labels in {options.unlabeled_dir}/){corrupt}")
    index = {n: i for i, n in enumerate(class_names)}
    labels = np.array([-1 if n is None else index[n] for n in labels_by_name], dtype=np.int64)
    display, display_sizes = decoded.display_arrays()
    dataset = Dataset(name=_stem(where), images=decoded.stack(), labels=labels, class_names=class_names,
                      source=where, display_images=display, display_sizes=display_sizes,
                      file_names=tuple(decoded.names))
    return Imported(dataset, kind, where, dict(decoded.sizes), skipped, tuple(decoded.corrupt), decoded.n_corrupt,
                    tuple(_image_notes(decoded, skipped, outside)), decoded.n_duplicates)


def _stem(where: str) -> str:
    name = PurePosixPath(str(where).replace("\\", "/").rstrip("/")).name
    for suffix in DATA_EXTENSIONS:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name or "data"


# --------------------------------------------------------------------------- labels
def encode_labels(values: np.ndarray, what: str, class_names: tuple[str, ...] | None = None
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as class ids (-1 = unknown) and the class names.

    ``values`` holds ints (-1 = unknown), floats (NaN or -1 = unknown) or strings ("" or
    "-1" = unknown). With ``class_names``, integer labels index into them and string labels
    must be among them; without, the classes are the distinct known labels, sorted
    (numerically when they all are integers), whatever their size: a label is never used as
    an array index, so 600000000 costs no more than 6.

    A float label must be an exact whole number (at most 2**53, where float64 stops counting
    exactly); 2.5, inf or 1e300 is refused, naming its row.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{what} must be one label per row (1-D), got shape {values.shape}")
    if values.dtype.kind in "biuf":
        if values.dtype.kind == "f":
            unknown = np.isnan(values) | (values == -1)
            with np.errstate(invalid="ignore"):
                exact = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= 2.0**53)
            bad = ~unknown & (~exact | (values < 0))
        else:
            unknown = values == -1 if values.dtype.kind == "i" else np.zeros(len(values), dtype=bool)
            bad = ~unknown & (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{what} has label {values[row].item()!r} at row {row}; labels are class ids (whole "
                            "numbers >= 0), class names, or -1 / empty for unknown")
        known = ~unknown
        ids = np.full(len(values), -1, dtype=np.int64)
        if class_names is not None:
            beyond = known & (values >= len(class_names))
            if beyond.any():
                row = int(np.flatnonzero(beyond)[0])
                raise DataError(f"{what} has class id {int(values[row])} at row {row}, but there are only "
                                f"{len(class_names)} class_names")
            ids[known] = values[known].astype(np.int64)
            return ids, class_names
        present, ids[known] = np.unique(values[known], return_inverse=True)
        return ids, tuple(str(int(v)) for v in present)
    if values.dtype.kind in "US":
        texts = [(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip() for v in values.tolist()]
        return _encode_texts(texts, what, class_names)
    raise DataError(f"{what} must hold integers or strings, got dtype {values.dtype}")


def encode_like(values: np.ndarray, what: str, class_names: tuple[str, ...], first: str) -> np.ndarray:
    """Class ids of a second split's labels, on the classes :func:`encode_labels` found in ``first``'s.

    Those classes are ``first``'s distinct labels, renumbered (y = [3, 7] gives classes "3" and "7",
    ids 0 and 1), so a label here is matched by its value, never used as a position: 7 is id 1.
    A label ``first`` does not have is refused, naming its row.
    """
    ids, names = encode_labels(values, what)
    index = {name: i for i, name in enumerate(class_names)}
    unmatched = [k for k, name in enumerate(names) if name not in index]
    if unmatched:
        row = int(np.flatnonzero(ids == unmatched[0])[0])
        raise DataError(f"{what} has label {names[unmatched[0]][:40]!r} at row {row}, which {first} does not have "
                        f"(its classes: {', '.join(class_names[:10])}{', ...' if len(class_names) > 10 else ''})")
    lookup = np.array([index[name] for name in names], dtype=np.int64)
    out = np.full(len(ids), -1, dtype=np.int64)
    out[ids >= 0] = lookup[ids[ids >= 0]]
    return out


def _encode_texts(texts: list[str], what: str, class_names: tuple[str, ...] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    known = [t for t in texts if t not in ("", "-1")]
    if class_names is None:
        distinct = set(known)
        if distinct and all(re.fullmatch(r"[+]?[0-9]+", t) for t in distinct):
            class_names = tuple(sorted(distinct, key=lambda t: (int(t), t)))
        else:
            class_names = tuple(sorted(distinct))
    index = {name: i for i, name in enumerate(class_names)}
    ids = np.empty(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        if text in ("", "-1"):
            ids[row] = -1
        elif text in index:
            ids[row] = index[text]
        else:
            raise DataError(f"{what} has label {text[:40]!r} at row {row}, which is not among the class_names")
    return ids, class_names


def _check_classes(class_names: tuple[str, ...], labels: np.ndarray, where: str) -> None:
    present = np.unique(labels[labels >= 0])
    if len(present) < 2:
        shown = ", ".join(repr(class_names[i]) for i in present)
        raise DataError(f"{where}: {len(present)} class(es) with labeled points ({shown or 'none'}); "
                        "at least 2 are needed")


def _finite_features(values: np.ndarray, what: str, place=None) -> np.ndarray:
    """``values`` as float64; a non-finite one is named by ``place(row, column)`` (default: "row R, column C")."""
    if values.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numeric, got dtype {values.dtype}")
    check_features_bytes(values.size, what)
    values = values.astype(np.float64, copy=False)
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = (int(v) for v in np.argwhere(bad)[0])
        where = f"row {row}, column {column}" if place is None else place(row, column)
        raise DataError(f"{what} has a non-finite value ({values[row, column]}) at {where}")
    return values


def _table_row(suffix: str, row: int) -> str:
    """Where a table's data row ``row`` (0-based) is for its author: a csv line (the header is line 1)
    or a parquet row (0-based, as pandas and pyarrow count)."""
    return f"line {row + 2}" if suffix == ".csv" else f"row {row}"


# --------------------------------------------------------------------------- npz
def _from_npz(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], where: str, options: ImportOptions) -> Imported:
    arrays = {}
    for info in members:
        name = info.filename
        if not name.endswith(".npy"):
            continue
        try:
            with archive.open(info) as handle:
                arrays[name[:-4]] = _read_npy(handle, info.file_size)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError,
                OverflowError, TypeError, MemoryError) as exc:
            raise DataError(f"{where}: array {name[:-4]!r} is unreadable ({_first_line(exc)})") from None
    for required in ("X", "y"):
        if required not in arrays:
            raise DataError(f"{where}: no array {required!r}; an npz needs X (n x d embeddings) and y (n labels), "
                            f"found {', '.join(map(repr, sorted(arrays))) or 'none'}")
    X, y = arrays["X"], arrays["y"]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{where}: X must be a non-empty n x d array, got shape {X.shape}")
    X = _finite_features(X, f"{where}: X")
    if y.ndim != 1 or len(y) != len(X):
        got = f"{len(y)} labels" if y.ndim == 1 else f"shape {y.shape}"
        raise DataError(f"{where}: X has {len(X)} rows but y has {got}; they must match")
    class_names = None
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US" or len(names) == 0:
            raise DataError(f"{where}: class_names must be a 1-D array of strings, got {names.dtype} {names.shape}")
        class_names = tuple(str(n.decode("utf-8", "replace") if isinstance(n, bytes) else n) for n in names.tolist())
        if len(set(class_names)) != len(class_names):
            raise DataError(f"{where}: class_names has repeated names")
    named = class_names is not None  # else the classes are y's distinct labels, renumbered
    labels, class_names = encode_labels(y, f"{where}: y", class_names)
    _check_classes(class_names, labels, where)
    shown = _DisplayImages(len(X) if "images" in arrays else 0)
    images = _npz_images(arrays.get("images"), len(X), "images", where, options, shown)
    notes = []
    test_images = test_labels = test_embeddings = None
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{where}: a test split needs both X_test and y_test")
    if "X_test" in arrays:
        X_test, y_test = arrays["X_test"], arrays["y_test"]
        if X_test.ndim != 2 or X_test.shape[1] != X.shape[1] or len(X_test) == 0:
            raise DataError(f"{where}: X_test must be n_test x {X.shape[1]} like X, got shape {X_test.shape}")
        test_embeddings = _finite_features(X_test, f"{where}: X_test")
        if y_test.ndim != 1 or len(y_test) != len(X_test):
            raise DataError(f"{where}: X_test has {len(X_test)} rows but y_test has shape {y_test.shape}; they must match")
        test_labels = (encode_labels(y_test, f"{where}: y_test", class_names)[0] if named
                       else encode_like(y_test, f"{where}: y_test", class_names, "y"))
        if (test_labels < 0).any():
            raise DataError(f"{where}: y_test has an unknown label at row {int(np.flatnonzero(test_labels < 0)[0])}; "
                            "test labels must all be known")
        test_images = _npz_images(arrays.get("images_test"), len(X_test), "images_test", where, options)
        if images is not None and test_images is None:
            notes.append("no images_test: features 'raw' and 'hog' are off for this set (its test split has no images)")
    if images is not None:
        sizes = {f"{arrays['images'].shape[1]}x{arrays['images'].shape[2]}": len(images)}
        note = _size_note(sizes, options.side)
        if note:
            notes.append(note)
    else:
        sizes = {}
        if options.side != ImportOptions.side or options.color != ImportOptions.color:
            notes.append("no images in the file: the image side and colour settings do not apply")
    colour = images is not None and arrays["images"].ndim == 4 and arrays["images"].shape[3] >= 3
    display, display_sizes = shown.arrays(len(X), colour)
    dataset = Dataset(name=_stem(where), images=images, labels=labels, class_names=class_names,
                      test_images=test_images, test_labels=test_labels, source=where, embeddings=X,
                      test_embeddings=test_embeddings, display_images=display, display_sizes=display_sizes)
    return Imported(dataset, "npz", where, sizes, notes=tuple(notes))


def _read_npy(handle, member_size: int) -> np.ndarray:
    """One ``.npy`` member; its header must promise no more bytes than the zip directory declares.

    ``np.lib.format.read_array`` would allocate whatever a (hostile) header promises first.
    """
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("it holds Python objects; save plain numbers or strings")
    if dtype.itemsize == 0:
        raise ValueError(f"its items ({dtype.str}) hold 0 bytes")
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            raise ValueError(f"its shape {shape} is not a shape")
        count *= int(dim)
    nbytes = count * dtype.itemsize
    if nbytes > member_size:
        raise ValueError(f"its header promises {nbytes:,} bytes of shape {shape}, the file holds at most {member_size:,}")
    raw = handle.read(nbytes)
    if len(raw) != nbytes:
        raise ValueError(f"truncated: {len(raw):,} of {nbytes:,} bytes")
    values = np.frombuffer(raw, dtype=dtype, count=count)
    values = values.reshape(shape[::-1]).T if fortran else values.reshape(shape)
    return np.array(values)  # writable, native order


def _npz_images(images: np.ndarray | None, n: int, what: str, where: str, options: ImportOptions,
                display: _DisplayImages | None = None) -> np.ndarray | None:
    """The npz's images at the import's side; with ``display``, each is also put there at its original size."""
    if images is None:
        return None
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3, 4)):
        raise DataError(f"{where}: {what} must be uint8 of shape (n, h, w) or (n, h, w, c) with c in 1, 3, 4; "
                        f"got {images.dtype} {images.shape}")
    if len(images) != n or 0 in images.shape:
        raise DataError(f"{where}: {what} holds {len(images)} images of shape {images.shape[1:]}, "
                        f"expected {n} non-empty images")
    check_images_bytes(n, options, f"{where}: {what}")
    decoded, colour = [], []
    for i, image in enumerate(images):
        if image.ndim == 3:
            image = image[:, :, 0] if image.shape[2] == 1 else np.ascontiguousarray(image[:, :, :3])
        if display is not None:
            display.put(i, image)
        if image.shape[:2] != (options.side, options.side):
            image = resize_image(image, options.side)
        decoded.append(image)
        colour.append(image.ndim == 3)
    return stack_images(decoded, colour, options)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


# --------------------------------------------------------------------------- csv / parquet
def _from_table(source, suffix: str, where: str, folder: Path | None, options: ImportOptions) -> Imported:
    import pandas as pd

    try:
        if suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise DataError(f"{where}: reading .parquet needs pyarrow (pip install pyarrow), "
                                "or save the table as .csv") from None
            frame = pd.read_parquet(source)
        else:
            frame = pd.read_csv(source, low_memory=False)
    except DataError:
        raise
    except Exception as exc:  # pandas raises many types for malformed text; each is a bad file here
        raise DataError(f"{where} is not a readable {suffix[1:]} table ({_first_line(exc)})") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if frame.empty or not columns:
        raise DataError(f"{where} has no rows")
    label_column = _pick_column(columns, options.label_column, LABEL_COLUMNS, "label", where)
    label_values = _column_labels(frame[label_column], f"{where}: column {label_column!r}")
    labels, class_names = encode_labels(label_values, f"{where}: column {label_column!r}")
    image_column = options.image_column or next(
        (c for c in columns if c.lower() in IMAGE_COLUMNS and c != label_column and frame[c].dtype.kind not in "biuf"), None)
    if options.image_column and options.image_column not in columns:
        raise DataError(f"{where} has no column {options.image_column!r}; columns: {_shown_columns(columns)}")
    if image_column is not None:
        return _table_images(frame, image_column, labels, class_names, where, folder, options, suffix)
    feature_columns = [c for c in columns if c != label_column]
    if not feature_columns:
        raise DataError(f"{where} has only the label column; add feature columns or a column of image paths "
                        f"(one of {', '.join(IMAGE_COLUMNS)})")
    for column in feature_columns:
        if frame[column].dtype.kind not in "biuf":
            raise DataError(f"{where}: column {column!r} is not numeric (dtype {frame[column].dtype}); feature "
                            f"columns must be numbers, image paths go in a column named one of {', '.join(IMAGE_COLUMNS)}")
    check_features_bytes(len(frame) * len(feature_columns), f"{where}: features")
    features = _finite_features(frame[feature_columns].to_numpy(), f"{where}: features",
                                lambda row, column: f"{_table_row(suffix, row)}, column {feature_columns[column]!r}")
    _check_classes(class_names, labels, where)
    dataset = Dataset(name=_stem(where), images=None, labels=labels, class_names=class_names, source=where,
                      embeddings=features)
    return Imported(dataset, suffix[1:], where)


def _pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, where: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{where} has no {what} column {wanted!r}; columns: {_shown_columns(columns)}")
        return wanted
    for column in columns:
        if column.lower() in candidates:
            return column
    raise DataError(f"{where} has no {what} column (one of {', '.join(candidates)}); columns: {_shown_columns(columns)}")


def _shown_columns(columns: list[str]) -> str:
    shown = ", ".join(repr(c[:30]) for c in columns[:8])
    return shown + (f" and {len(columns) - 8} more" if len(columns) > 8 else "")


def _column_labels(column, what: str = "labels") -> np.ndarray:
    """A label column as numbers (NaN = unknown) or as text ("" = unknown); a float must be a whole number."""
    if column.dtype.kind in "biuf":
        return column.to_numpy()
    texts = []
    for row, value in enumerate(column.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            texts.append("")
        elif isinstance(value, float):
            if not (value.is_integer() and abs(value) <= 2.0**53):
                raise DataError(f"{what} has label {value!r} at row {row}; labels are class ids (whole numbers "
                                ">= 0), class names, or -1 / empty for unknown")
            texts.append(str(int(value)))
        else:
            texts.append(str(value))
    return np.array(texts, dtype=str) if texts else np.array([], dtype="U1")


def _table_images(frame, column: str, labels: np.ndarray, class_names: tuple[str, ...], where: str,
                  folder: Path | None, options: ImportOptions, suffix: str) -> Imported:
    if folder is None:
        raise DataError(f"{where}: its column {column!r} names image files, which an uploaded table cannot carry; "
                        "upload a zip of the image folder instead")
    root = folder.resolve()
    check_images_bytes(len(frame), options, where)
    decoded = _Images(options, len(frame))
    kept, total = [], 0
    for row, value in enumerate(frame[column].tolist()):
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: column {column!r} has no image path at {_table_row(suffix, row)}")
        relative = checked_member(value.strip(), where)
        path = root.joinpath(*relative.parts)
        if any((root.joinpath(*relative.parts[:i + 1])).is_symlink() for i in range(len(relative.parts))):
            raise DataError(f"{where}: image path {value!r} goes through a symbolic link; links are not imported")
        try:
            total += path.stat().st_size
        except OSError:
            pass
        if total > options.limit:
            raise DataError(f"{where}: its images hold more than the import limit of {_mib(options.limit)} "
                            "(ALSIM_MAX_IMPORT_BYTES)")
        label = class_names[labels[row]] if labels[row] >= 0 else None
        if decoded.add(relative.as_posix(), _file_reader(path)(), label):
            kept.append(row)
    labels = labels[np.array(kept, dtype=np.int64)]
    _check_classes(class_names, labels, where)
    display, display_sizes = decoded.display_arrays()
    dataset = Dataset(name=_stem(where), images=decoded.stack(), labels=labels, class_names=class_names, source=where,
                      display_images=display, display_sizes=display_sizes, file_names=tuple(decoded.names))
    return Imported(dataset, suffix[1:], where, dict(decoded.sizes), 0, tuple(decoded.corrupt), decoded.n_corrupt,
                    tuple(_image_notes(decoded, 0)), decoded.n_duplicates)


# --------------------------------------------------------------------------- IDX
def _from_idx(folder: Path, options: ImportOptions) -> Imported:
    dataset = load_fashion_mnist(folder)
    notes = []
    images, test_images = dataset.images, dataset.test_images
    if options.side != images.shape[1] or options.color == "color":
        check_images_bytes(len(images) + len(test_images), options, str(folder))
        decoded = [resize_image(i, options.side) if i.shape != (options.side,) * 2 else i for i in images]
        images = stack_images(decoded, [False] * len(decoded), options)
        decoded = [resize_image(i, options.side) if i.shape != (options.side,) * 2 else i for i in test_images]
        test_images = stack_images(decoded, [False] * len(decoded), options)
        notes.append(_size_note({"28x28": len(images)}, options.side))
    dataset = Dataset(name="fashion-mnist", images=images, labels=dataset.labels, class_names=dataset.class_names,
                      test_images=test_images, test_labels=dataset.test_labels, source=str(folder))
    return Imported(dataset, "idx", str(folder), {"28x28": len(images) + len(test_images)},
                    notes=tuple(n for n in notes if n))
