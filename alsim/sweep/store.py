"""The results store of a sweep: one row per finished cell, appended as cells finish.

Two formats, chosen when the folder is first used and kept after that:

- **parquet** (when pyarrow is installed): one ``parts/part-*.parquet`` file per finished
  task, written to a unique temporary name, fsynced and renamed into place, so a part is
  either whole or absent;
- **jsonl**: ``results.jsonl``, one JSON object per line, each append flushed and fsynced.
  A torn last line (the process killed mid-write) is ignored on read and cut off before
  the next append.

Either way, killing a sweep loses at most the cells in flight, and a cell stored twice
(two sweeps racing on one folder) is read once. ``store.json`` records the format, the
target rule and every sweep written into the folder (:func:`alsim.sweep.grid.sweep_record`);
an exclusive lock on ``.lock`` keeps two sweeps from writing at once. A folder holding
another sweep's cells is refused unless the sweep is appended, and a summary reads only its
own sweep's cells (:meth:`ResultStore.frame`). Every row is checked as it is read, so a
damaged store is one :class:`SweepError` before any work, not a traceback after it.
"""

from __future__ import annotations

import json
import numbers
import os
import uuid
from pathlib import Path
from typing import Iterable

import pandas as pd

from alsim.storage.disk import fsync_folder
from alsim.sweep.grid import SweepError, point_hash, point_json, record_points

MANIFEST = "store.json"
JSONL = "results.jsonl"
PARTS = "parts"
FORMATS = ("parquet", "jsonl")
COLUMNS = ("config_hash", "point_hash", "point", "config", "strategy", "seed", "labels", "accuracy", "aulc",
           "final_accuracy", "target", "target_rule", "labels_to_target", "stop_reason", "cell_seconds",
           "task_seconds", "task_cells", "worker", "finished_at")


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_folder(path.parent)


class ResultStore:
    """Rows of finished cells in a folder.

    Parameters
    ----------
    folder : path
    format : ``"parquet"``, ``"jsonl"`` or None
        None: the folder's recorded format, else parquet when pyarrow is installed.
    """

    def __init__(self, folder: str | os.PathLike, format: str | None = None):
        self.folder = Path(folder)
        recorded = self.manifest().get("format")
        if format is not None and format not in FORMATS:
            raise SweepError(f"store format must be one of {', '.join(FORMATS)}, got {format!r}")
        self.format = recorded or format or ("parquet" if parquet_available() else "jsonl")
        self._lock_handle = None

    # ----------------------------------------------------------------- set-up
    def manifest(self) -> dict:
        try:
            return json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}

    def sweeps(self) -> list[dict]:
        """The sweeps written into this folder (records of :func:`alsim.sweep.grid.sweep_record`), oldest first."""
        records = self.manifest().get("sweeps", [])
        if not isinstance(records, list):
            return []
        return [r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]

    def check_sweep(self, keys: set[str], append: bool = False) -> None:
        """Refuse (:class:`SweepError`) a folder holding cells that are not among ``keys`` unless ``append``."""
        if append:
            return
        others = self.done_keys() - set(keys)
        if others:
            raise SweepError(f"{self.folder} holds {len(others):,} cells of another sweep (another base config, grid, "
                             "strategies, seeds or data); choose another --out, or add --append to store this sweep "
                             "beside them (each summary reads only its own sweep's cells)")

    def open_for_writing(self, target: float | None, sweep: dict | None = None, keys: set[str] | None = None,
                         append: bool = False) -> "ResultStore":
        """Create the folder, check it is writable, take the lock and record the target rule and the sweep.

        Raises :class:`SweepError` (before any work) when the folder cannot be written, when
        another sweep holds it, when it holds cells computed with another target, or when it
        holds cells not among ``keys`` (another sweep's) and ``append`` is false.
        """
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SweepError(f"cannot write to --out {self.folder}: {exc.strerror or exc}") from None
        if self.format == "parquet" and not parquet_available():
            raise SweepError(f"{self.folder} holds a Parquet store; install pyarrow to add to it")
        handle = open(self.folder / ".lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SweepError(f"another sweep is writing to {self.folder}; wait for it or choose another --out") from None
        self._lock_handle = handle
        manifest = self.manifest()
        rule = "auto" if target is None else float(target)
        if manifest and manifest.get("target", "auto") != rule and self.done_keys():
            self.close()
            shown = "95% of the fully labeled accuracy" if manifest.get("target", "auto") == "auto" \
                else manifest["target"]
            raise SweepError(f"{self.folder} holds cells computed with target {shown}; use the same --target "
                             "or another --out")
        if keys is not None:
            try:
                self.check_sweep(keys, append)
            except SweepError:
                self.close()
                raise
        sweeps = [r for r in self.sweeps() if sweep is None or r["id"] != sweep["id"]]
        sweeps += [sweep] if sweep is not None else []
        _write_atomic(self.folder / MANIFEST, json.dumps({"format": self.format, "target": rule, "version": 1,
                                                           "sweeps": sweeps}).encode())
        if self.format == "parquet":
            (self.folder / PARTS).mkdir(exist_ok=True)
        return self

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- append
    def append(self, rows: Iterable[dict]) -> None:
        """Store finished cells durably (fsync) before returning."""
        rows = list(rows)
        if not rows:
            return
        if self.format == "parquet":
            frame = pd.DataFrame(rows, columns=list(COLUMNS))
            frame["labels_to_target"] = frame["labels_to_target"].astype("Int64")
            import io

            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            _write_atomic(self.folder / PARTS / f"part-{uuid.uuid4().hex}.parquet", buffer.getvalue())
            return
        text = "".join(json.dumps(row, allow_nan=False, separators=(",", ":")) + "\n" for row in rows)
        path = self.folder / JSONL
        with open(path, "a+b") as handle:
            _cut_torn_tail(handle)
            handle.write(text.encode())
            handle.flush()
            os.fsync(handle.fileno())

    # ----------------------------------------------------------------- read
    def rows(self) -> list[dict]:
        """Every stored row (both formats, whatever the folder holds), each cell once."""
        out: list[dict] = []
        parts = sorted((self.folder / PARTS).glob("part-*.parquet")) if (self.folder / PARTS).is_dir() else []
        if parts and not parquet_available():
            raise SweepError(f"{self.folder} holds Parquet results; install pyarrow to read them")
        for part in parts:
            out.extend(_read_part(part))
        out.extend(_read_jsonl(self.folder / JSONL))
        seen: set[str] = set()
        unique = []
        for row in out:
            if row.get("config_hash") not in seen:
                seen.add(row.get("config_hash"))
                unique.append(row)
        return unique

    def done_keys(self) -> set[str]:
        return {row["config_hash"] for row in self.rows()}

    def frame(self, sweep: dict | None = None) -> pd.DataFrame:
        """The rows as a DataFrame, one column per grid field besides :data:`COLUMNS`.

        With ``sweep`` (a record of :meth:`sweeps`), only that sweep's cells, each at its grid
        point in that sweep (a cell shared with another sweep was stored under the other's point).
        """
        rows = self.rows()
        if sweep is not None:
            try:
                points = record_points(sweep)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SweepError(f"{self.folder}: the record of sweep {sweep.get('id')!r} in {MANIFEST} is damaged "
                                 f"({type(exc).__name__}: {exc})") from None
            rows = [{**row, "point": point_json(points[row["config_hash"]]),
                     "point_hash": point_hash(points[row["config_hash"]])}
                    for row in rows if row["config_hash"] in points]
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        if rows:
            points = pd.DataFrame([json.loads(p) for p in frame["point"]], index=frame.index)
            for name in points.columns:
                frame[f"grid.{name}"] = points[name]
        return frame


def _cut_torn_tail(handle) -> None:
    """Drop an unfinished last line (a write cut short) so the next row starts on its own line."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    step, position = 4096, size
    while position > 0:
        start = max(0, position - step)
        handle.seek(start)
        block = handle.read(position - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            handle.truncate(start + newline + 1)
            handle.seek(0, os.SEEK_END)
            return
        position = start
    handle.truncate(0)
    handle.seek(0)


def _read_jsonl(path: Path) -> list[dict]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SweepError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows = []
    lines = raw.split(b"\n")
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if number == len(lines) - 1:  # torn last line: a killed write
                continue
            raise SweepError(f"{path} line {number + 1} is not a JSON object; the store is damaged") from None
        rows.append(_checked_row(row, f"{path} line {number + 1}"))
    return rows


def _read_part(part: Path) -> list[dict]:
    """The rows of one Parquet part; a damaged part (truncated, not Parquet) is a :class:`SweepError`."""
    import pyarrow

    try:
        frame = pd.read_parquet(part)
        records = frame.to_dict("records")
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        raise SweepError(f"{part} is damaged ({_first_line(exc)}); remove it and re-run the sweep to compute its "
                         "cells again") from None
    rows = []
    for number, row in enumerate(records):
        where = f"{part} row {number + 1}"
        try:
            row["labels"] = [int(v) for v in row["labels"]]
            row["accuracy"] = [float(v) for v in row["accuracy"]]
            row["labels_to_target"] = None if pd.isna(row["labels_to_target"]) else int(row["labels_to_target"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SweepError(f"{where}: {_first_line(exc)}; the store is damaged") from None
        rows.append(_checked_row(row, where))
    return rows


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _point_text(value) -> bool:
    try:
        return isinstance(value, str) and isinstance(json.loads(value), dict)
    except ValueError:
        return False


#: What every stored row must hold for the summary: field -> (check, what it must be).
_ROW_FIELDS = {
    "config_hash": (lambda v: isinstance(v, str), "a string"),
    "point_hash": (lambda v: isinstance(v, str), "a string"),
    "point": (_point_text, "a JSON object's text"),
    "config": (lambda v: isinstance(v, str), "a string"),
    "strategy": (lambda v: isinstance(v, str), "a string"),
    "seed": (_is_integer, "an integer"),
    "labels": (lambda v: isinstance(v, list) and len(v) > 0 and all(_is_integer(x) for x in v),
               "a non-empty list of integers"),
    "accuracy": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "aulc": (_is_number, "a number"),
    "target": (_is_number, "a number"),
    "labels_to_target": (lambda v: v is None or _is_integer(v), "an integer or null"),
}


def _checked_row(row, where: str) -> dict:
    """``row`` if it holds every field a summary reads, with the right types; else one :class:`SweepError`."""
    if not isinstance(row, dict):
        raise SweepError(f"{where} is not a JSON object; the store is damaged")
    for name, (check, what) in _ROW_FIELDS.items():
        if name not in row:
            raise SweepError(f"{where}: {name} is missing; the store is damaged")
        if not check(row[name]):
            raise SweepError(f"{where}: {name} is not {what}; the store is damaged")
    if len(row["accuracy"]) != len(row["labels"]):
        raise SweepError(f"{where}: accuracy and labels differ in length; the store is damaged")
    return row
