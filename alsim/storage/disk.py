"""Arrays kept on disk between runs, checked before they are trusted.

A cache file is a plain ``.npy`` file with a sidecar ``<name>.npy.sha256`` beside it, one
line in ``sha256sum`` format (``<hex digest>  <name>.npy``) covering the whole ``.npy``
file. The data file is written first and the sidecar last, each to a unique temporary
file in the same folder, flushed with ``fsync`` and renamed into place; a crash at any
point leaves either the old pair, or a data file whose sidecar is missing or disagrees. An
interruption the process sees (an exception, Ctrl-C) while the sidecar is written removes
the new data file too, so it leaves nothing.

:func:`load_array` reads the ``.npy`` header before anything else and refuses a file
whose dtype, shape or size differs from what the caller expects, so a damaged header
never asks for a huge allocation; it then checks the digest and the caller's value check
(finite features, neighbour indices in range). Any failure is a cache miss: the caller
recomputes and saves again. A cache that cannot be written (read-only, full, a folder in
the way) never stops a run.

Every rejected or unwritten file is reported by one line on the ``alsim.storage.disk``
logger at WARNING level, e.g.::

    alsim: cache file /home/me/.cache/alsim/graphs/knn-pool-....npy rejected (digest mismatch); rebuilding it

With no logging configured, Python prints such a line on stderr as it is (the command
line shows it there); a program that configures logging routes it like any other record.
A missing file is an ordinary miss and is not reported.

The cache is bounded: after each write, the cached arrays under :func:`cache_dir` are
counted (data files and their sidecars) and, above :func:`max_cache_bytes`
(``$ALSIM_CACHE_MAX_BYTES``, default 10 GiB), the least recently used are removed until
the rest fits; the file just written is kept whatever its size. A successful read marks a
file as used (its modification time). Removing is safe beside readers and writers in other
processes: the data file goes first, so a reader finds an ordinary miss, and a file someone
else removed first is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

logger = logging.getLogger("alsim.storage.disk")

DIGEST_SUFFIX = ".sha256"
_MAX_SIDECAR_BYTES = 4096
#: Default bound of the disk cache (``$ALSIM_CACHE_MAX_BYTES`` sets another).
DEFAULT_MAX_CACHE_BYTES = 10 * 2**30

Check = Callable[[np.ndarray], "str | None"]


class CacheRejected(Exception):
    """A cache file exists but cannot be trusted; the message says why."""


def digest_path(path: Path) -> Path:
    """The sidecar that holds the SHA-256 digest of ``path``."""
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def finite(values: np.ndarray) -> str | None:
    """Value check for features: every value finite."""
    if not np.isfinite(values).all():
        return "non-finite values"
    return None


def indices_below(n: int) -> Check:
    """Value check for neighbour lists: every index in ``[0, n)``."""

    def check(values: np.ndarray) -> str | None:
        if values.size and (values.min() < 0 or values.max() >= n):
            return f"indices outside [0, {n}): min {values.min()}, max {values.max()}"
        return None

    return check


def load_array(path: Path, shape: tuple[int, ...], dtype, *, check: Check | None = None) -> np.ndarray | None:
    """The array saved at ``path`` by :func:`save_array`, verified, or None.

    Parameters
    ----------
    path : Path
    shape : tuple of int
        The shape the caller expects; a file of any other shape is refused before its
        data are read.
    dtype : numpy dtype
        The dtype expected, byte order included.
    check : callable(values) -> str or None, optional
        A test of the values; a returned string is the reason to refuse them.

    Returns
    -------
    ndarray of ``shape`` and ``dtype``, read-only, or None when the file is absent or
    fails any check (reported on the ``alsim.storage.disk`` logger, see the module notes).
    """
    path = Path(path)
    try:
        values = _read_verified(path, tuple(int(s) for s in shape), np.dtype(dtype))
        reason = check(values) if check is not None else None
        if reason:
            raise CacheRejected(reason)
    except FileNotFoundError as exc:
        if exc.filename is not None and Path(exc.filename) == path:
            return None  # never written: an ordinary miss
        _report_rejected(path, "no digest file beside it")
        return None
    except CacheRejected as exc:
        _report_rejected(path, str(exc))
        return None
    except Exception as exc:  # any other read failure is a miss too, never a crash
        _report_rejected(path, f"{type(exc).__name__}: {exc}")
        return None
    values.flags.writeable = False
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the bound removes the least recently used first
    return values


def save_array(path: Path, values: np.ndarray) -> bool:
    """Write ``values`` to ``path`` and then its digest sidecar, each atomically.

    Returns
    -------
    bool
        True when both files were written. A failure (read-only or full disk, a folder
        where the file should be) is reported on the ``alsim.storage.disk`` logger and
        leaves no temporary file behind; the caller simply goes on without a cache.
    """
    path = Path(path)
    values = np.ascontiguousarray(values)
    if values.dtype.hasobject:
        raise TypeError(f"only plain numeric arrays are cached, got dtype {values.dtype}")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(values))
    data = memoryview(values).cast("B") if values.size else b""
    digest = hashlib.sha256(header.getvalue())
    digest.update(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, [header.getvalue(), data])
        line = f"{digest.hexdigest()}  {path.name}\n".encode()
        try:
            write_atomically(digest_path(path), [line])
        except BaseException:
            # A data file whose digest was never written would only be refused on the next
            # read: remove it now, so an interrupted write leaves nothing behind.
            with contextlib.suppress(OSError):
                path.unlink()
            raise
    except OSError as exc:
        logger.warning("alsim: cache file %s not written (%s); the run goes on without it", path,
                       exc.strerror or exc)
        return False
    fsync_folder(path.parent)
    root = cache_dir()
    with contextlib.suppress(OSError, ValueError):
        if path.resolve().is_relative_to(root.resolve()):
            trim(root, keep=path)
    return True


def max_cache_bytes() -> int:
    """The disk cache's bound in bytes: ``$ALSIM_CACHE_MAX_BYTES`` (a positive integer), else 10 GiB."""
    text = os.environ.get("ALSIM_CACHE_MAX_BYTES", "").strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    if text:
        logger.warning("alsim: ALSIM_CACHE_MAX_BYTES=%r is not a positive number of bytes; using %d",
                       text[:40], DEFAULT_MAX_CACHE_BYTES)
    return DEFAULT_MAX_CACHE_BYTES


def trim(root: Path | None = None, limit: int | None = None, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used cached arrays under ``root`` until the rest fits ``limit``.

    Parameters
    ----------
    root : Path, optional
        Default :func:`cache_dir`. Every ``*.npy`` file with a digest sidecar below it counts
        (with its sidecar); other files are neither counted nor removed.
    limit : int, optional
        Bytes; default :func:`max_cache_bytes`.
    keep : Path, optional
        A file never removed (the one just written).

    Returns
    -------
    list of Path
        The data files removed, least recently used first.
    """
    root = Path(cache_dir() if root is None else root)
    limit = max_cache_bytes() if limit is None else int(limit)
    entries = []  # (last use, bytes, data file)
    for data in root.rglob("*.npy"):
        try:
            info = data.stat()
            size = info.st_size + digest_path(data).stat().st_size
        except OSError:  # no sidecar (not a cache pair), or removed meanwhile
            continue
        entries.append((info.st_mtime, size, data))
    total = sum(size for _, size, _ in entries)
    removed = []
    keep = None if keep is None else Path(keep)
    for _, size, data in sorted(entries, key=lambda e: (e[0], str(e[2]))):
        if total <= limit:
            break
        if keep is not None and data.resolve() == keep.resolve():
            continue
        try:
            data.unlink()  # first: a reader now finds an ordinary miss, never a file without its digest
        except FileNotFoundError:
            total -= size  # another process removed it
            continue
        except OSError:
            continue
        with contextlib.suppress(OSError):
            digest_path(data).unlink()
        total -= size
        removed.append(data)
    if removed:
        logger.info("alsim: disk cache above %d bytes; removed %d least recently used file(s)", limit, len(removed))
    return removed


def _read_verified(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CacheRejected("not a regular file")
        if info.st_size == 0:
            raise CacheRejected("empty file")
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            file_shape, fortran_order, file_dtype = np.lib.format.read_array_header_1_0(file)
        elif version == (2, 0):
            file_shape, fortran_order, file_dtype = np.lib.format.read_array_header_2_0(file)
        else:
            raise CacheRejected(f"unsupported .npy version {version}")
        if file_dtype != dtype:
            raise CacheRejected(f"dtype {file_dtype}, expected {dtype}")
        if tuple(file_shape) != shape:
            raise CacheRejected(f"shape {tuple(file_shape)}, expected {shape}")
        if fortran_order:
            raise CacheRejected("Fortran order")
        offset = file.tell()
        expected_size = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.st_size != expected_size:
            raise CacheRejected(f"{info.st_size} bytes, expected {expected_size} for shape {shape}")
        expected_digest = _read_digest(path)
        values = np.empty(shape, dtype=dtype)
        buffer = memoryview(values).cast("B") if values.size else memoryview(bytearray(0))
        if file.readinto(buffer) != len(buffer):
            raise CacheRejected("file shorter than its header says")
        file.seek(0)
        digest = hashlib.sha256(file.read(offset))
    digest.update(buffer)
    if not hmac.compare_digest(digest.hexdigest(), expected_digest):
        raise CacheRejected("digest mismatch")
    return values


def _read_digest(path: Path) -> str:
    """The hex digest recorded for ``path``; FileNotFoundError when there is no sidecar."""
    with open(digest_path(path), "rb") as file:
        text = file.read(_MAX_SIDECAR_BYTES + 1)
    if len(text) > _MAX_SIDECAR_BYTES:
        raise CacheRejected("digest file too large")
    # Exactly what save_array writes, so any changed byte is noticed.
    digest = text[:64].decode("ascii", errors="replace")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or \
            text[64:] != f"  {path.name}\n".encode():
        raise CacheRejected("unreadable digest file")
    return digest


def write_atomically(path: Path, parts: list) -> None:
    """Write to a unique temporary file beside ``path``, fsync it, rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            for part in parts:
                file.write(part)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_folder(folder: Path) -> None:
    """Make the renames durable where the platform allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _report_rejected(path: Path, reason: str) -> None:
    logger.warning("alsim: cache file %s rejected (%s); rebuilding it", path, reason)


def cache_dir() -> Path:
    """Where computed features are stored: ``$ALSIM_CACHE_DIR`` or ``~/.cache/alsim``."""
    return Path(os.environ.get("ALSIM_CACHE_DIR") or Path.home() / ".cache" / "alsim")
