"""The label store: projects, labels with an append-only history, undo, batches, refusals."""

from __future__ import annotations

import sqlite3

import pytest

from alsim.labeling.store import SCHEMA_VERSION, SKIP, LabelStore, LabelStoreError, StoredBatch, default_path


@pytest.fixture
def store(tmp_path) -> LabelStore:
    return LabelStore(tmp_path / "labels.sqlite3")


def test_the_default_file_is_under_alsim_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSIM_HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / "labels.sqlite3"
    LabelStore()
    assert (tmp_path / "home" / "labels.sqlite3").exists()


def test_wal_mode_and_schema_version(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"projects", "labels", "history", "batches", "schema_version"} <= tables


def test_projects_are_created_listed_and_deleted(store):
    a = store.create_project("first", "digits", {"config": {"seed": 1}})
    store.create_project("second one", "digits", {})
    assert [p.name for p in store.projects()] == ["first", "second one"]
    assert store.project("first").settings == {"config": {"seed": 1}}
    with pytest.raises(LabelStoreError, match="exists already"):
        store.create_project("first", "digits", {})
    store.set_label(a.id, 3, 1, "ann")
    store.delete_project("first")
    assert [p.name for p in store.projects()] == ["second one"]
    assert store.labels(a.id) == {}
    again = store.create_project("first", "digits", {})
    assert again.id != a.id and store.labels(again.id) == {}  # ids are never reused


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "", ".hidden", "x" * 65, "a\x00b", "new\nline", "a..b"])
def test_a_name_with_path_characters_is_refused(store, name):
    with pytest.raises(LabelStoreError, match="project name must be"):
        store.create_project(name, "digits", {})


def test_a_name_ending_in_a_space_is_refused_and_one_stored_before_still_opens(store):
    store.create_project("p1", "digits", {})
    with pytest.raises(LabelStoreError, match="must not end with a space, got 'p1 ' \\(did you mean 'p1'\\?\\)"):
        store.create_project("p1 ", "digits", {})
    assert [p.name for p in store.projects()] == ["p1"]
    with sqlite3.connect(store.path) as db:  # stored before names ending in a space were refused
        db.execute("INSERT INTO projects (name, dataset, config, created) VALUES ('old ', 'digits', '{}', 'then')")
    assert store.project("old ").name == "old "
    store.delete_project("old ")
    assert [p.name for p in store.projects()] == ["p1"]


def test_last_write_wins_and_every_write_is_in_the_history(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 5, 2, "ann")
    store.set_label(p.id, 5, 7, "bob", "accepted")
    store.set_label(p.id, 6, SKIP, "ann")
    labels = store.labels(p.id)
    assert (labels[5].label, labels[5].annotator, labels[5].source) == (7, "bob", "accepted")
    assert labels[6].label == SKIP
    history = store.history(p.id)
    assert [(c.item, c.label, c.previous_label) for c in history] == [(5, 2, None), (5, 7, 2), (6, SKIP, None)]


def test_undo_walks_back_and_is_recorded(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 5, 2, "ann")
    store.set_label(p.id, 5, 7, "ann")
    assert store.undo(p.id, "ann").label == 7
    assert store.labels(p.id)[5].label == 2
    assert store.undo(p.id, "ann").label == 2
    assert store.labels(p.id) == {}
    assert store.undo(p.id, "ann") is None
    actions = [(c.action, c.undoes) for c in store.history(p.id)]
    assert actions == [("set", None), ("set", None), ("undo", 2), ("undo", 1)]


def test_undo_takes_back_the_undoing_annotators_own_last_change(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 1, "alice")
    store.set_label(p.id, 2, 2, "bob")
    change = store.undo(p.id, "alice")
    assert (change.item, change.annotator) == (1, "alice")
    assert {i: (r.label, r.annotator) for i, r in store.labels(p.id).items()} == {2: (2, "bob")}
    assert store.undo(p.id, "alice") is None  # nothing of alice's left; bob's label stays
    assert store.labels(p.id)[2].label == 2
    assert store.undo(p.id, "bob").item == 2 and store.labels(p.id) == {}


def test_undo_restores_the_whole_previous_row(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 5, 3, "bob", "accepted")
    before = store.labels(p.id)[5]
    store.set_label(p.id, 5, 7, "alice", "typed")
    store.undo(p.id, "alice")
    assert store.labels(p.id)[5] == before  # label, annotator, source and time


def test_undoing_a_change_someone_relabeled_since_keeps_the_later_label(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 5, 1, "alice")
    store.set_label(p.id, 5, 2, "bob", "accepted")
    later = store.labels(p.id)[5]
    assert store.undo(p.id, "alice").label == 1
    assert store.labels(p.id)[5] == later  # bob's label is not alice's to take back
    store.undo(p.id, "bob")
    assert store.labels(p.id) == {}  # alice's label was undone: nothing comes back
    store.set_label(p.id, 6, 1, "alice")
    store.set_label(p.id, 6, 2, "bob")
    store.undo(p.id, "bob")
    assert (store.labels(p.id)[6].label, store.labels(p.id)[6].annotator) == (1, "alice")


def test_undo_in_a_session_takes_back_that_sessions_change_only(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 1, "annotator", session="tab a")
    store.set_label(p.id, 2, 2, "annotator", session="tab b")
    assert store.undo(p.id, "annotator", session="tab a").item == 1
    assert set(store.labels(p.id)) == {2}
    assert store.undo(p.id, "annotator", session="tab a") is None
    assert [c.session for c in store.history(p.id)] == ["tab a", "tab b", "tab a"]


def test_a_version_1_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "labels.sqlite3"
    store = LabelStore(path)
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 4, "alice")
    with sqlite3.connect(path) as db:  # the layout before sessions were recorded
        db.execute("DROP INDEX IF EXISTS history_undoes")
        db.execute("DROP INDEX IF EXISTS history_item")
        db.execute("ALTER TABLE history DROP COLUMN session")
        db.execute("UPDATE schema_version SET version = 1")
    store = LabelStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert store.history(p.id)[0].session is None
    store.set_label(p.id, 2, 5, "alice", session="tab")
    assert store.undo(p.id, "alice", session="tab").item == 2
    assert store.undo(p.id, "alice").item == 1 and store.labels(p.id) == {}


def test_an_unknown_source_is_refused(store):
    p = store.create_project("p", "digits", {})
    with pytest.raises(LabelStoreError, match="source must be one of typed, accepted, imported"):
        store.set_label(p.id, 1, 1, "ann", "guessed")


def test_an_import_lands_whole(store):
    p = store.create_project("p", "digits", {})
    assert store.set_labels(p.id, [(1, 1), (2, 2)], "ann") == 2
    assert {i: r.source for i, r in store.labels(p.id).items()} == {1: "imported", 2: "imported"}


def test_a_batch_number_is_kept_once(store):
    p = store.create_project("p", "digits", {})
    first = store.save_batch(p.id, StoredBatch(0, (1, 2), (-1, -1), (0.0, 0.0), 0, "t"))
    second = store.save_batch(p.id, StoredBatch(0, (3, 4), (-1, -1), (0.0, 0.0), 0, "t"))
    assert first == second and second.items == (1, 2)


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "labels.sqlite3"
    path.write_bytes(b"these are not the labels you are looking for" * 100)
    before = path.read_bytes()
    with pytest.raises(LabelStoreError, match="unreadable .* left as it is") as info:
        LabelStore(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


def test_a_damaged_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "labels.sqlite3"
    store = LabelStore(path)
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 1, "ann")
    data = bytearray(path.read_bytes()) if path.stat().st_size > 0 else None
    # Make the write-ahead log part of the main file, then overwrite the page after the header.
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(LabelStoreError, match="unreadable"):
        LabelStore(path).labels(p.id)
    assert path.read_bytes() == bytes(data)


def _open_databases_with(monkeypatch, *pragmas: str, read_only: bool = False) -> None:
    """Every SQLite connection opened from now on is read-only (``mode=ro``: the tests run as root,
    so chmod would not stop a write) and/or runs ``pragmas`` first."""
    real = sqlite3.connect

    def connect(path, *args, **kwargs):
        db = real(f"file:{path}?mode=ro", *args, uri=True, **kwargs) if read_only else real(path, *args, **kwargs)
        for pragma in pragmas:
            db.execute(pragma)
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)


def _written(tmp_path):
    path = tmp_path / "labels.sqlite3"
    store = LabelStore(path)
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 1, "ann")
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    return path, p


def _never_called_damaged(message: str) -> None:
    assert "unreadable" not in message and "move it away" not in message and "\n" not in message


def test_a_read_only_database_is_read_and_a_write_says_read_only(tmp_path, monkeypatch):
    path, p = _written(tmp_path)
    before = path.read_bytes()
    _open_databases_with(monkeypatch, read_only=True)
    store = LabelStore(path)
    assert store.labels(p.id)[1].label == 1  # labels can still be read and exported
    with pytest.raises(LabelStoreError, match="is read-only") as info:
        store.set_label(p.id, 2, 2, "ann")
    _never_called_damaged(str(info.value))
    assert str(path) in str(info.value) and "writable" in str(info.value)
    assert path.read_bytes() == before


def test_a_full_disk_says_so_and_keeps_the_stored_labels(tmp_path, monkeypatch):
    path, p = _written(tmp_path)
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    _open_databases_with(monkeypatch, f"PRAGMA max_page_count = {pages}")
    store = LabelStore(path)
    with pytest.raises(LabelStoreError, match="full") as info:
        store.set_labels(p.id, [(i, 1) for i in range(2, 3000)], "ann")
    _never_called_damaged(str(info.value))
    assert "free some space" in str(info.value)
    assert set(store.labels(p.id)) == {1}  # the import landed not at all, the earlier label stays


def test_a_database_that_cannot_be_opened_says_why(tmp_path, monkeypatch):
    path, _ = _written(tmp_path)

    def refuse(*args, **kwargs):
        error = sqlite3.OperationalError("unable to open database file")
        error.sqlite_errorname = "SQLITE_CANTOPEN"
        raise error

    monkeypatch.setattr(sqlite3, "connect", refuse)
    with pytest.raises(LabelStoreError, match="cannot open the label database") as info:
        LabelStore(path)
    _never_called_damaged(str(info.value))


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "a file").write_text("in the way")
    with pytest.raises(LabelStoreError, match="cannot create the folder") as info:
        LabelStore(tmp_path / "a file" / "labels.sqlite3")
    _never_called_damaged(str(info.value))


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "labels.sqlite3"
    LabelStore(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(LabelStoreError, match="newer than this alsim"):
        LabelStore(path)
