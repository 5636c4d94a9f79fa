"""The label store: a person's labels in one SQLite file, ``$ALSIM_HOME/labels.sqlite3``.

Tables:

- ``schema_version``: one row, the layout's version (a newer file is refused, not rewritten);
- ``projects``: name, data set id, config JSON, creation time (ids are never reused);
- ``labels``: the current label of each labeled item of a project (last write wins per item);
- ``history``: every change, append-only (label set, imported, undone), with the value it
  replaced and the session it came from (a Label page tab; none on the command line), so
  that undo and audit work;
- ``batches``: the batches proposed to the person, so a reopened project shows the batch it
  showed before.

Every label is its own transaction (``BEGIN IMMEDIATE``: writers queue instead of failing),
in WAL mode with ``synchronous=FULL``: once :meth:`LabelStore.set_label` returns, the label
survives ``kill -9`` of the process; a crash loses at most the label being written. Two
processes writing one project at once both land, each change in the history.

Undo is personal: it takes back the undoing person's own last change (a page session's
own, or an annotator's on the command line), never someone else's; an item's row is then
that of its last change still in force.

A file that is not a readable label database is refused with one line and never
overwritten; a version 1 file is upgraded in place (a column and indexes added). A full
disk, a read-only file or folder and a file SQLite cannot open are each said for what they
are (:meth:`LabelStore._failure`), never as a damaged file to move away. Label ``-1`` (:data:`SKIP`) records "skip / not sure": the item is answered
but has no class.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from alsim.common.errors import DataError
from alsim.data.store import alsim_home

SCHEMA_VERSION = 2
FILENAME = "labels.sqlite3"
SKIP = -1
#: How a label came to be: typed from scratch, a model's suggestion accepted, read from a file,
#: read from a Label Studio export (:mod:`alsim.labeling.label_studio`).
SOURCES = ("typed", "accepted", "imported", "label-studio")
_MAGIC = b"SQLite format 3\x00"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}")
_BUSY_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    dataset TEXT NOT NULL,
    config TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    project INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    item INTEGER NOT NULL,
    label INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    source TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (project, item)
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project INTEGER NOT NULL,
    item INTEGER NOT NULL,
    action TEXT NOT NULL,
    label INTEGER,
    source TEXT,
    annotator TEXT NOT NULL,
    previous_label INTEGER,
    previous_source TEXT,
    previous_annotator TEXT,
    undoes INTEGER,
    time TEXT NOT NULL,
    session TEXT
);
CREATE INDEX IF NOT EXISTS history_project ON history (project, id);
CREATE INDEX IF NOT EXISTS history_undoes ON history (undoes);
CREATE INDEX IF NOT EXISTS history_item ON history (project, item, id);
CREATE TABLE IF NOT EXISTS batches (
    project INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    items TEXT NOT NULL,
    guesses TEXT NOT NULL,
    confidence TEXT NOT NULL,
    n_labels INTEGER NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (project, number)
);
"""


class LabelStoreError(DataError):
    """Bad input to the label store, or an unreadable store: one line that says what to do."""


@dataclass(frozen=True)
class Project:
    """One labeling project as stored.

    Attributes
    ----------
    id : int
    name : str
    dataset : str
        The data set's name or stored id (the config's ``dataset``).
    settings : dict
        The JSON object stored with it (the config and the project's own settings).
    created : str
        ISO time (UTC).
    """

    id: int
    name: str
    dataset: str
    settings: dict
    created: str


@dataclass(frozen=True)
class LabelRow:
    """The current label of one item (``label`` -1: skipped / not sure)."""

    item: int
    label: int
    annotator: str
    source: str
    time: str


@dataclass(frozen=True)
class Change:
    """One row of the history: ``action`` is ``set``, ``import`` or ``undo``; ``session`` is the
    Label page session that made it (None: the command line, or a file from before sessions)."""

    id: int
    item: int
    action: str
    label: int | None
    source: str | None
    annotator: str
    previous_label: int | None
    undoes: int | None
    time: str
    session: str | None = None


@dataclass(frozen=True)
class StoredBatch:
    """A batch proposed to the person: items, the model's guess (-1: none yet) and confidence."""

    number: int
    items: tuple[int, ...]
    guesses: tuple[int, ...]
    confidence: tuple[float, ...]
    n_labels: int
    created: str


def default_path() -> Path:
    """``$ALSIM_HOME/labels.sqlite3``."""

    return alsim_home() / FILENAME


def check_project_name(name: str) -> str:
    """The name if it is a valid project name (letters, digits, space, ``_ . -``; no path characters)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 60 else f"{str(name)[:60]}..."
        raise LabelStoreError(f"project name must be 1-64 letters, digits, spaces or _ . - (no path characters), "
                              f"starting with a letter or digit, got {shown!r}")
    return name


def check_new_project_name(name: str) -> str:
    """The name if a new project may take it: a valid name (:func:`check_project_name`) not ending in a space.

    ``'p1 '`` and ``'p1'`` would be two projects that look the same in every list; a project
    stored under such a name before can still be opened and deleted.
    """
    check_project_name(name)
    if name != name.rstrip():
        raise LabelStoreError(f"project name must not end with a space, got {name!r} (did you mean {name.rstrip()!r}?)")
    return name


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


class LabelStore:
    """The label database at ``path`` (default: :func:`default_path`), created on first use.

    Each call opens its own connection, so one store object can serve every thread of a
    Streamlit server.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self._check_file()
        with self._connect() as db:
            self._ensure_schema(db)

    # ------------------------------------------------------------------ connection and schema
    def _check_file(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(len(_MAGIC))
        except (FileNotFoundError, NotADirectoryError):
            return  # no file yet (or no folder: creating it says what is wrong)
        except OSError as exc:
            raise LabelStoreError(f"cannot read the label database {self.path}: {exc.strerror or exc}") from None
        if header and header != _MAGIC:
            raise self._corrupt("it is not an SQLite database")

    def _corrupt(self, why: str) -> LabelStoreError:
        return LabelStoreError(f"the label database {self.path} is unreadable ({why}); it was left as it is: "
                               "move it away to start a new one")

    def _failure(self, exc: sqlite3.Error) -> LabelStoreError:
        """One line for an SQLite error that says what is wrong: a full disk, a read-only file or
        folder, a file that cannot be opened, a busy or failing disk. Only a damaged file (the
        rest) is called unreadable, so an intact database is never said to need moving away."""
        name, text = str(getattr(exc, "sqlite_errorname", "") or ""), str(exc)
        if name.startswith("SQLITE_FULL") or "database or disk is full" in text:
            return LabelStoreError(f"the disk holding the label database {self.path} is full ({text}); nothing was "
                                   "stored and the labels stored before are kept: free some space and try again")
        if name.startswith("SQLITE_READONLY") or "readonly database" in text:
            return LabelStoreError(f"the label database {self.path} is read-only ({text}); labels can be read and "
                                   "exported but not stored: make the file and its folder writable (SQLite also "
                                   "writes -wal and -shm files beside it)")
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or "unable to open" in text:
            return LabelStoreError(f"cannot open the label database {self.path} ({text}): check that its folder "
                                   "exists and that you may read and write the file and the folder")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text or "busy" in text:
            return LabelStoreError(f"the label database {self.path} stayed busy for {_BUSY_MS // 1000} s; try again")
        if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
            return LabelStoreError(f"reading or writing the label database {self.path} failed ({text}): check the "
                                   "disk; the file was left as it is")
        return self._corrupt(text)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LabelStoreError(f"cannot create the folder of the label database {self.path}: "
                                  f"{exc.strerror or exc}") from None
        try:
            db = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._failure(exc) from None
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA synchronous = FULL")
            yield db
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from None
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self, db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One transaction that takes the write lock at its start (no upgrade deadlock)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLite has rolled back already after some errors (a full disk)
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _ensure_schema(self, db: sqlite3.Connection) -> None:
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LabelStoreError(f"the label database {self.path} cannot use WAL mode (journal mode {mode})")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" in tables:
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                raise self._corrupt("its schema version is missing")
            if row[0] > SCHEMA_VERSION:
                raise LabelStoreError(f"the label database {self.path} has schema version {row[0]}, newer than this "
                                      f"alsim's {SCHEMA_VERSION}; upgrade alsim")
            if row[0] < SCHEMA_VERSION:
                self._upgrade(db)
            return
        if tables - {"sqlite_sequence"}:
            raise self._corrupt(f"it holds other tables: {', '.join(sorted(tables))}")
        with self._write(db):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """Version 1 to 2: the history records each change's session; indexes for undo."""
        with self._write(db):
            # Another process may have upgraded the file since the version was read.
            if db.execute("SELECT version FROM schema_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            db.execute("ALTER TABLE history ADD COLUMN session TEXT")
            db.execute("CREATE INDEX IF NOT EXISTS history_undoes ON history (undoes)")
            db.execute("CREATE INDEX IF NOT EXISTS history_item ON history (project, item, id)")
            db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    # ------------------------------------------------------------------ projects
    def create_project(self, name: str, dataset: str, settings: dict) -> Project:
        """A new project; an existing name is an error, and so is a name ending in a space
        (:func:`check_new_project_name`)."""
        check_new_project_name(name)
        created = now()
        with self._connect() as db, self._write(db):
            try:
                cursor = db.execute("INSERT INTO projects (name, dataset, config, created) VALUES (?, ?, ?, ?)",
                                    (name, dataset, json.dumps(settings, sort_keys=True), created))
            except sqlite3.IntegrityError:
                raise LabelStoreError(f"a project named {name!r} exists already") from None
            return Project(cursor.lastrowid, name, dataset, settings, created)

    def project(self, name: str) -> Project:
        check_project_name(name)
        with self._connect() as db:
            row = db.execute("SELECT id, name, dataset, config, created FROM projects WHERE name = ?",
                             (name,)).fetchone()
        if row is None:
            raise LabelStoreError(f"no labeling project named {name!r}; create it with --data NAME")
        return _project(row)

    def projects(self) -> list[Project]:
        """Every project, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, name, dataset, config, created FROM projects ORDER BY id").fetchall()
        return [_project(row) for row in rows]

    def remember_class_names(self, project: int, class_names, file_names: dict[int, str] | None = None) -> None:
        """Keep the class names of a project's data set in its settings (``class_names``), so its
        labels can be exported by name once the data set is gone; names kept before stay. With
        ``file_names`` (labeled item -> source file name), those too (``file_names``)."""
        values = {"class_names": [str(name) for name in class_names]}
        if file_names:
            values["file_names"] = {str(item): str(name) for item, name in file_names.items()}
        self.keep_settings(project, values)

    def keep_settings(self, project: int, values: dict) -> None:
        """Add ``values`` (JSON-ready) to a project's settings where it has none of that name yet."""
        with self._connect() as db, self._write(db):
            row = db.execute("SELECT config FROM projects WHERE id = ?", (project,)).fetchone()
            if row is None:
                return
            settings = json.loads(row[0])
            kept = dict(settings)
            for name, value in values.items():
                kept.setdefault(name, value)
            if kept != settings:
                db.execute("UPDATE projects SET config = ? WHERE id = ?", (json.dumps(kept, sort_keys=True), project))

    def delete_project(self, name: str) -> Project:
        """Remove a project, its labels and batches (its history rows stay, for audit)."""
        project = self.project(name)
        with self._connect() as db, self._write(db):
            db.execute("DELETE FROM labels WHERE project = ?", (project.id,))
            db.execute("DELETE FROM batches WHERE project = ?", (project.id,))
            db.execute("DELETE FROM projects WHERE id = ?", (project.id,))
        return project

    # ------------------------------------------------------------------ labels
    def set_label(self, project: int, item: int, label: int, annotator: str, source: str = "typed",
                  action: str = "set", session: str | None = None) -> int:
        """Store one label (one transaction, durable on return); returns its history id.

        ``session`` names the Label page session that made it, so that its undo is its own.
        """
        if source not in SOURCES:
            raise LabelStoreError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        with self._connect() as db, self._write(db):
            return self._set(db, project, int(item), int(label), annotator, source, action, session)

    def set_labels(self, project: int, rows: list[tuple], annotator: str, source: str = "imported",
                   session: str | None = None, only_changed: bool = False) -> int:
        """Store many labels in one transaction (an import lands whole or not at all); returns how many were written.

        ``rows``: ``(item, label)``, or ``(item, label, annotator)`` where each row has its own
        annotator (``annotator`` is then the default). With ``only_changed``, a row whose item
        already has this label, annotator and source is left alone (no history row), read inside
        the same transaction: importing one file twice changes nothing the second time.
        """
        if source not in SOURCES:
            raise LabelStoreError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        written = 0
        with self._connect() as db, self._write(db):
            for row in rows:
                item, label, by = int(row[0]), int(row[1]), (row[2] if len(row) > 2 else annotator)
                if only_changed and db.execute(
                        "SELECT 1 FROM labels WHERE project = ? AND item = ? AND label = ? AND annotator = ? "
                        "AND source = ?", (project, item, label, by, source)).fetchone():
                    continue
                self._set(db, project, item, label, by, source, "import", session)
                written += 1
        return written

    @staticmethod
    def _set(db, project: int, item: int, label: int, annotator: str, source: str, action: str,
             session: str | None = None) -> int:
        previous = db.execute("SELECT label, source, annotator FROM labels WHERE project = ? AND item = ?",
                              (project, item)).fetchone()
        stamp = now()
        db.execute("INSERT INTO labels (project, item, label, annotator, source, time) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (project, item) DO UPDATE SET label = excluded.label, "
                   "annotator = excluded.annotator, source = excluded.source, time = excluded.time",
                   (project, item, label, annotator, source, stamp))
        cursor = db.execute(
            "INSERT INTO history (project, item, action, label, source, annotator, previous_label, previous_source, "
            "previous_annotator, time, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (project, item, action, label, source, annotator, *(previous or (None, None, None)), stamp, session))
        return cursor.lastrowid

    def undo(self, project: int, annotator: str, session: str | None = None) -> Change | None:
        """Take back the undoing person's own last change not yet undone; returns it (None: nothing to undo).

        Whose change: with ``session``, the last one made in that Label page session (people
        on one server may share a name); without, the last one made under ``annotator``.
        Someone else's change is never undone. The item then gets the whole row of its last
        change still in force (label, annotator, source and time), or no row: the row before
        the undone change, or, if someone relabeled the item since, that later label, kept.
        The undo is itself a history row (its ``previous_*``: the row it replaced).
        """
        scope, who = ("session = ?", session) if session is not None else ("annotator = ?", annotator)
        in_force = "NOT EXISTS (SELECT 1 FROM history u WHERE u.project = h.project AND u.undoes = h.id)"
        with self._connect() as db, self._write(db):
            row = db.execute(
                "SELECT id, item, action, label, source, annotator, previous_label, undoes, time, session "
                f"FROM history h WHERE project = ? AND action IN ('set', 'import') AND {scope} AND {in_force} "
                "ORDER BY id DESC LIMIT 1", (project, who)).fetchone()
            if row is None:
                return None
            change = Change(*row)
            standing = db.execute(
                "SELECT label, source, annotator, time FROM history h WHERE project = ? AND item = ? AND id != ? "
                f"AND action IN ('set', 'import') AND {in_force} ORDER BY id DESC LIMIT 1",
                (project, change.item, change.id)).fetchone()
            replaced = db.execute("SELECT label, source, annotator FROM labels WHERE project = ? AND item = ?",
                                  (project, change.item)).fetchone()
            if standing is None:
                db.execute("DELETE FROM labels WHERE project = ? AND item = ?", (project, change.item))
            else:
                label, source, by, time = standing
                db.execute("INSERT INTO labels (project, item, label, annotator, source, time) VALUES "
                           "(?, ?, ?, ?, ?, ?) ON CONFLICT (project, item) DO UPDATE SET label = excluded.label, "
                           "annotator = excluded.annotator, source = excluded.source, time = excluded.time",
                           (project, change.item, label, by, source, time))
            db.execute(
                "INSERT INTO history (project, item, action, label, source, annotator, previous_label, "
                "previous_source, previous_annotator, undoes, time, session) "
                "VALUES (?, ?, 'undo', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (project, change.item, *(standing[:2] if standing else (None, None)), annotator,
                 *(replaced or (None, None, None)), change.id, now(), session))
            return change

    def labels(self, project: int) -> dict[int, LabelRow]:
        """The current label of every answered item (skips included, label -1), by item."""
        with self._connect() as db:
            rows = db.execute("SELECT item, label, annotator, source, time FROM labels WHERE project = ? "
                              "ORDER BY item", (project,)).fetchall()
        return {row[0]: LabelRow(*row) for row in rows}

    def history(self, project: int) -> list[Change]:
        """Every change of the project, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, item, action, label, source, annotator, previous_label, undoes, time, "
                              "session FROM history WHERE project = ? ORDER BY id", (project,)).fetchall()
        return [Change(*row) for row in rows]

    # ------------------------------------------------------------------ batches
    def save_batch(self, project: int, batch: StoredBatch) -> StoredBatch:
        """Keep a proposed batch; if another session stored this number first, that one is returned."""
        with self._connect() as db, self._write(db):
            db.execute("INSERT OR IGNORE INTO batches (project, number, items, guesses, confidence, n_labels, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (project, batch.number, json.dumps(list(batch.items)), json.dumps(list(batch.guesses)),
                        json.dumps([round(float(c), 6) for c in batch.confidence]), batch.n_labels, batch.created))
        return next(b for b in self.batches(project) if b.number == batch.number)

    def batches(self, project: int) -> list[StoredBatch]:
        with self._connect() as db:
            rows = db.execute("SELECT number, items, guesses, confidence, n_labels, created FROM batches "
                              "WHERE project = ? ORDER BY number", (project,)).fetchall()
        return [StoredBatch(row[0], tuple(json.loads(row[1])), tuple(json.loads(row[2])),
                            tuple(json.loads(row[3])), row[4], row[5]) for row in rows]

    def drop_batch(self, project: int, number: int) -> None:
        with self._connect() as db, self._write(db):
            db.execute("DELETE FROM batches WHERE project = ? AND number = ?", (project, number))

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``ok`` for a sound file."""
        with self._connect() as db:
            return "; ".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))


def _project(row) -> Project:
    return Project(row[0], row[1], row[2], json.loads(row[3]), row[4])
