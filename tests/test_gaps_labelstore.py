"""Undo in the label store gives an item back its whole previous row, not just its label."""

from __future__ import annotations

import pytest

from alsim.labeling.store import SKIP, LabelRow, LabelStore


@pytest.fixture
def store(tmp_path) -> LabelStore:
    return LabelStore(tmp_path / "labels.sqlite3")


def _row(store, project, item) -> LabelRow | None:
    return store.labels(project).get(item)


def test_undo_restores_label_annotator_and_source_of_the_row_it_replaced(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 5, 2, "ann", "typed")
    store.set_label(p.id, 5, 7, "bob", "accepted")
    store.set_label(p.id, 5, SKIP, "cid", "typed")
    store.undo(p.id, "cid")  # cid takes back the skip: bob's accepted 7 again
    row = _row(store, p.id, 5)
    assert (row.label, row.annotator, row.source) == (7, "bob", "accepted")
    store.undo(p.id, "bob")  # back to ann's typed 2
    row = _row(store, p.id, 5)
    assert (row.label, row.annotator, row.source) == (2, "ann", "typed")
    store.undo(p.id, "ann")
    assert _row(store, p.id, 5) is None


def test_undoing_an_import_gives_back_the_typed_row_it_overwrote(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 0, "ann", "typed")
    store.set_label(p.id, 2, 1, "ann", "accepted")
    store.set_labels(p.id, [(1, 3), (2, 4), (9, 5)], "importer")
    assert {i: (r.label, r.source) for i, r in store.labels(p.id).items()} == {
        1: (3, "imported"), 2: (4, "imported"), 9: (5, "imported")}
    for _ in range(3):  # an import is undone one item at a time, last item first, by the importer
        store.undo(p.id, "importer")
    assert {i: (r.label, r.annotator, r.source) for i, r in store.labels(p.id).items()} == {
        1: (0, "ann", "typed"), 2: (1, "ann", "accepted")}


def test_undo_leaves_every_other_item_untouched(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 1, 0, "ann", "typed")
    store.set_label(p.id, 2, 1, "bob", "accepted")
    before = store.labels(p.id)
    store.set_label(p.id, 2, 3, "cid", "typed")
    store.undo(p.id, "cid")
    after = store.labels(p.id)
    assert after[1] == before[1]  # the whole row, time included
    assert (after[2].label, after[2].annotator, after[2].source) == (1, "bob", "accepted")


def test_the_undo_history_row_records_what_it_reverted(store):
    p = store.create_project("p", "digits", {})
    first = store.set_label(p.id, 4, 2, "ann", "typed")
    second = store.set_label(p.id, 4, 6, "bob", "accepted")
    change = store.undo(p.id, "bob")
    assert (change.id, change.item, change.label, change.source, change.annotator, change.previous_label) == (
        second, 4, 6, "accepted", "bob", 2)
    last = store.history(p.id)[-1]
    # The undo row: the label and source now current, who undid it, the label it replaced, what it undoes.
    assert (last.action, last.label, last.source, last.annotator, last.previous_label, last.undoes) == (
        "undo", 2, "typed", "bob", 6, second)
    assert first < second < last.id


def test_undo_restores_the_time_of_the_row_it_replaced(store):
    p = store.create_project("p", "digits", {})
    store.set_label(p.id, 5, 2, "ann", "typed")
    before = _row(store, p.id, 5)
    store.set_label(p.id, 5, 7, "bob", "accepted")
    store.undo(p.id, "bob")
    assert _row(store, p.id, 5) == before
