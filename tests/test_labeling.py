"""A person labels: projects, the next batch as a function of the stored labels, undo, measures,
export / import, and the ``label`` command (bad input, kill -9 mid-stream, two writers at once)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_importers import npz_bytes, write_image_folder

from alsim.cli.main import main
from alsim.common.errors import ConfigError, DataError
from alsim.data import store as datastore
from alsim.data.datasets import Dataset
from alsim.data.sources import SourceInfo, register_source, source_names
from alsim.labeling import projects as labeling
from alsim.labeling.store import SKIP, LabelStore, LabelStoreError
from alsim.loop.oracles import StoreOracle
from alsim.loop.pool import prepare

ROOT = Path(__file__).resolve().parents[1]
_MEMORY_SOURCES: list[str] = []
_SOURCE_NUMBERS = itertools.count()


def memory_source(names, per_class: int = 6, seed: int = 0) -> str:
    """A data source held in memory whose classes are ``names`` in this order (``per_class``
    8x8 images each, class c's images bright in row c); returns its name (removed after the test)."""
    name = f"memory-{next(_SOURCE_NUMBERS)}"  # never reused: loaded data sets are kept per name
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(names)), per_class)
    images = rng.integers(0, 40, size=(len(labels), 8, 8)).astype(np.uint8)
    images[np.arange(len(labels)), labels % 8] += 200
    dataset = Dataset(name=name, images=images, labels=labels, class_names=tuple(names), source="memory")
    register_source(SourceInfo(name=name, description="in memory", load=lambda: dataset, features=("raw",),
                               image_shape=(8, 8), has_test=False, locator=lambda: name))
    _MEMORY_SOURCES.append(name)
    return name


@pytest.fixture(autouse=True)
def _forget_memory_sources():
    yield
    from alsim.data import sources

    with sources._LOCK:  # a test removes the sources it registered
        for name in _MEMORY_SOURCES:
            sources._SOURCES.pop(name, None)
    _MEMORY_SOURCES.clear()


@pytest.fixture
def project():
    return labeling.create_project("digits demo", "digits")


@pytest.mark.parametrize("settings, message", [
    (["cost=per_class", "cost_params=1,2"], "cost_params must hold one cost per class: 10 for dataset 'digits', got 2"),
    (["gamma=1e-300"], "gamma=1e-300 is too small for these features"),
    (["kernel=knn", "n_neighbors=100000"], "n_neighbors must be < the pool size 1797, got 100000"),
])
def test_settings_a_refit_would_refuse_are_refused_when_the_project_is_made(settings, message):
    """Not after a person has labeled a batch: a project's settings cannot change, so such a
    project could never propose again."""
    store = LabelStore()
    with pytest.raises(ConfigError, match=re.escape(message)):
        labeling.create_project("refused", "digits", settings, store=store)
    assert [p.name for p in store.projects()] == []


def _label_batch(project, batch, wrong: int = 0):
    truth = project.dataset.labels
    for n, item in enumerate(batch.items):
        label = int(truth[item]) if n >= wrong else (int(truth[item]) + 1) % 10
        labeling.add_label(project, item, label, annotator="tester")


def _cli(*argv) -> tuple[int, str, str]:
    return _cli_main("label", *argv)


def _cli_main(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stderr
    sys.stderr = err
    try:
        code = main(list(argv), out=out)
    finally:
        sys.stderr = old
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ projects and batches
def test_a_project_keeps_its_config_and_is_listed(project):
    assert project.config.dataset == "digits" and project.config.batch_size == labeling.DEFAULT_BATCH
    assert [p.name for p in labeling.list_projects()] == ["digits demo"]
    again = labeling.open_project("digits demo")
    assert again.config == project.config and again.prefill == project.prefill
    labeling.delete_project("digits demo")
    assert labeling.list_projects() == []


def test_settings_and_prefill_are_taken_at_creation():
    project = labeling.create_project("p", "digits", ["batch_size=4", "strategy=margin", "prefill=0.6", "seed=3"])
    assert (project.config.batch_size, project.config.strategy, project.config.seed, project.prefill) == (
        4, "margin", 3, 0.6)


def test_the_first_batch_is_a_random_draw_over_all_points(project):
    batch = labeling.current_batch(project)
    assert batch.number == 0 and len(batch.items) == 8 and batch.guesses == (-1,) * 8
    expected = np.sort(np.random.default_rng([0, 0]).choice(np.arange(1797), 8, replace=False))
    assert list(batch.items) == expected.tolist()


def test_the_next_batch_is_a_function_of_config_and_labels(project):
    _label_batch(project, labeling.current_batch(project))
    first = labeling.next_batch(project)
    reopened = labeling.next_batch(labeling.open_project("digits demo"))
    assert first.ids.tolist() == reopened.ids.tolist()
    assert np.allclose(first.confidence, reopened.confidence)
    assert (first.guesses >= 0).all() and ((first.confidence > 0) & (first.confidence <= 1)).all()
    labeled = set(project.store.labels(project.id))
    assert not labeled & set(first.ids.tolist())
    # The same labels in another project with the same config propose the same batch.
    twin = labeling.create_project("twin", "digits")
    for item, row in project.store.labels(project.id).items():
        labeling.add_label(twin, item, row.label)
    assert labeling.next_batch(twin).ids.tolist() == first.ids.tolist()


def test_the_shown_batch_stays_until_every_item_is_answered(project):
    batch = labeling.current_batch(project)
    labeling.add_label(project, batch.items[0], 3)
    labeling.add_label(project, batch.items[1], SKIP)
    assert labeling.current_batch(project) == batch
    _label_batch(project, batch)
    following = labeling.current_batch(project)
    assert following.number == 1 and not set(following.items) & set(batch.items)


def test_skipped_items_are_not_proposed_again(project):
    batch = labeling.current_batch(project)
    for item in batch.items:
        labeling.add_label(project, item, SKIP)
    assert not set(labeling.next_batch(project).ids.tolist()) & set(batch.items)


def test_undo_restores_the_label_state_and_the_batch(project):
    batch = labeling.current_batch(project)
    _label_batch(project, batch)
    following = labeling.current_batch(project)
    assert labeling.undo(project, "someone else") is None  # an undo takes back its own labels only
    change = labeling.undo(project, "tester")
    assert change.item == batch.items[-1]
    assert batch.items[-1] not in project.store.labels(project.id)
    # The untouched batch made after the undone label is withdrawn: the undone item is shown again.
    assert labeling.current_batch(project) == batch
    _label_batch(project, batch)
    assert labeling.current_batch(project).items == following.items


def test_model_agreement_per_batch_and_person_against_truth(project):
    first = labeling.current_batch(project)
    _label_batch(project, first, wrong=2)
    second = labeling.current_batch(project)
    _label_batch(project, second)
    curve = labeling.agreement_curve(project)
    assert [point.number for point in curve[:2]] == [0, 1]
    assert curve[0].agreement is None  # no model before the first labels
    truth = project.dataset.labels
    expected = np.mean([g == truth[i] for i, g in zip(second.items, second.guesses)])
    assert curve[1].agreement == pytest.approx(expected) and curve[1].n_compared == 8
    agreement, confusion, n = labeling.truth_agreement(project)
    assert n == 16 and agreement == pytest.approx(14 / 16)
    assert confusion.shape == (10, 10) and confusion.sum() == 16 and np.trace(confusion) == 14
    # Rows are the truth, columns the person: each wrong label t -> t + 1 sits in row t, column t + 1.
    expected = np.zeros((10, 10), dtype=int)
    for n, item in enumerate(list(first.items) + list(second.items)):
        t = int(truth[item])
        expected[t, (t + 1) % 10 if n < 2 else t] += 1
    np.testing.assert_array_equal(confusion, expected)


def test_counts_split_typed_accepted_and_imported(project):
    labeling.add_label(project, 1, 1)
    labeling.add_label(project, 2, 1, source="accepted")
    labeling.add_label(project, 3, SKIP)
    labeling.import_csv(project, "item,label\n4,7\n")
    counts = labeling.class_counts(project)
    assert counts["classes"]["1"] == {"typed": 1, "accepted": 1, "imported": 0, "label-studio": 0}
    assert counts["classes"]["7"]["imported"] == 1 and counts["skipped"] == 1 and counts["total"] == 3


def test_store_oracle_answers_from_labels_and_excludes_skips():
    oracle = StoreOracle(np.array([2, -1, -1, 4]), np.array([False, True, False, False]))
    assert oracle.labels(np.array([0, 1, 3])).tolist() == [2, -1, 4]
    assert oracle.answerable(4).tolist() == [True, False, True, True]


# ------------------------------------------------------------------ naming a class
@pytest.mark.parametrize("names", [("3", "1", "2"), ("1", "2", "3"), ("007", "7", "1.0", "1"), ("10", "0", "2")])
def test_a_class_index_is_a_position_whatever_the_names(names):
    project = labeling.create_project("p", memory_source(names))
    for position in range(len(names)):
        labeling.add_label(project, position, position)
    stored = project.store.labels(project.id)
    assert {item: row.label for item, row in stored.items()} == {i: i for i in range(len(names))}
    assert [row["label"] for row in labeling.export_rows(project)] == list(names)


@pytest.mark.parametrize("names", [("3", "1", "2"), ("1", "2", "3"), ("007", "7", "1.0", "1"), ("10", "0", "2"),
                                   ("#1", "0", "skip", "-1", "?")])
def test_a_text_is_a_class_name_first_always(names):
    project = labeling.create_project("p", memory_source(names))
    assert [labeling.parse_label(project, name) for name in names] == list(range(len(names)))
    assert [labeling.parse_label(project, f" {name} ") for name in names] == list(range(len(names)))
    # #N is the class at index N, unless a class is named #N (names first, always)
    by_index = [names.index(f"#{i}") if f"#{i}" in names else i for i in range(len(names))]
    assert [labeling.parse_label(project, f"#{i}") for i in range(len(names))] == by_index


@pytest.mark.parametrize("names, text", [(("3", "1", "2"), "0"), (("1", "2", "3"), "0"), (("1", "2", "3"), "4"),
                                         (("007", "7"), "07"), (("1.0", "2"), "1"), (("ant", "bee"), "1"),
                                         (("ant", "bee"), "#2"), (("ant", "bee"), "#-1")])
def test_a_text_that_is_no_class_name_is_refused(names, text):
    project = labeling.create_project("p", memory_source(names))
    with pytest.raises(LabelStoreError, match=f"unknown class {text!r}"):
        labeling.parse_label(project, text)


def test_skip_words_unless_a_class_has_that_name():
    project = labeling.create_project("p", memory_source(("ant", "bee")))
    assert [labeling.parse_label(project, text) for text in ("skip", "?", "-1", " Skip ")] == [SKIP] * 4
    named = labeling.create_project("q", memory_source(("skip", "-1")))
    assert [labeling.parse_label(named, text) for text in ("skip", "-1", "?")] == [0, 1, SKIP]


@pytest.mark.parametrize("label", ["1", 1.0, "skip", None, True])
def test_add_label_takes_a_class_index_only(label):
    project = labeling.create_project("p", memory_source(("1", "2", "3")))
    with pytest.raises(TypeError, match="class index"):
        labeling.add_label(project, 0, label)
    assert project.store.labels(project.id) == {}


@pytest.mark.parametrize("label", [3, -2, np.int64(3)])
def test_add_label_refuses_an_index_out_of_range(label):
    project = labeling.create_project("p", memory_source(("1", "2", "3")))
    with pytest.raises(LabelStoreError, match="class index must be"):
        labeling.add_label(project, 0, label)


def test_cli_add_names_a_class_by_its_name():
    project = labeling.create_project("p", memory_source(("3", "1", "2")))
    code, out, err = _cli("p", "--add", "0=1", "1=3", "2=#2", "3=skip")
    assert code == 0, err
    assert out.splitlines() == ["stored 0=1", "stored 1=3", "stored 2=2", "stored 3=skip"]
    assert {i: r.label for i, r in project.store.labels(project.id).items()} == {0: 1, 1: 0, 2: 2, 3: SKIP}
    code, _, err = _cli("p", "--add", "4=0")
    assert code == 2 and "unknown class '0'" in err and "#0-#2" in err


# ------------------------------------------------------------------ export and import
def test_export_csv_json_and_zip_round_trip(project):
    labeling.add_label(project, 10, 0, annotator="ann")
    labeling.add_label(project, 11, labeling.parse_label(project, "9"), annotator="ann", source="accepted")
    labeling.add_label(project, 12, SKIP, annotator="ann")
    rows = list(csv.DictReader(io.StringIO(labeling.export_csv(project))))
    assert [(r["item"], r["label"], r["source"], r["annotator"]) for r in rows] == [
        ("10", "0", "typed", "ann"), ("11", "9", "accepted", "ann"), ("12", "", "typed", "ann")]
    assert set(rows[0]) == {"item", "path", "label", "label_id", "annotator", "source", "time"}
    document = json.loads(labeling.export_json(project))
    assert document["dataset"] == "digits" and [r["item"] for r in document["labels"]] == [10, 11, 12]
    with zipfile.ZipFile(io.BytesIO(labeling.export_zip(project))) as archive:
        assert sorted(archive.namelist()) == ["0/000010.png", "9/000011.png"]
    other = labeling.create_project("copy", "digits")
    assert labeling.import_csv(other, labeling.export_csv(project)) == 3
    assert {i: r.label for i, r in other.store.labels(other.id).items()} == {10: 0, 11: 9, 12: -1}
    assert {r.source for r in other.store.labels(other.id).values()} == {"imported"}


SPREADSHEET_FORMULAS = ('=HYPERLINK("http://evil","click")', "+1+2", "-2", "@SUM(A1:A2)", "\tTab", "\rReturn")


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_and_read_back():
    names = (*SPREADSHEET_FORMULAS, "'quoted", "'=x", "''", "plain", "-1")
    project = labeling.create_project("p", memory_source(names, per_class=1))
    for item in range(len(names)):
        labeling.add_label(project, item, item, annotator=SPREADSHEET_FORMULAS[item % len(SPREADSHEET_FORMULAS)])
    labeling.add_label(project, len(names) - 1, SKIP, annotator="-ann")
    text = labeling.export_csv(project)
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for column in ("path", "label", "annotator", "source"):
            assert not row[column] or row[column][0] not in "=+-@\t\r", (column, row[column])
    # A quote goes before a cell a spreadsheet would run, and before one that starts with a quote.
    assert [row["label"] for row in rows] == [f"'{name}" for name in names[:-2]] + ["plain", ""]
    assert rows[0]["label"] == "'=HYPERLINK(\"http://evil\",\"click\")" and rows[0]["annotator"] == rows[0]["label"]
    assert (rows[-1]["label_id"], rows[-1]["annotator"]) == ("-1", "'-ann")  # numbers stay numbers
    other = labeling.create_project("copy", project.config.dataset)
    assert labeling.import_csv(other, text) == len(names)
    imported = {item: row.label for item, row in other.store.labels(other.id).items()}
    assert imported == {**{item: item for item in range(len(names) - 1)}, len(names) - 1: SKIP}


@pytest.mark.parametrize("header", ["id,label", "item_id,class", "ID,Label", "item,class", " Item , CLASS "])
def test_import_reads_the_obvious_column_names(header):
    project = labeling.create_project("p", memory_source(("ant", "bee")))
    assert labeling.import_csv(project, f"{header}\n0,bee\n1,ant\n2,skip\n") == 3
    assert {i: r.label for i, r in project.store.labels(project.id).items()} == {0: 1, 1: 0, 2: SKIP}


def test_import_takes_the_export_columns_first_and_label_id_where_label_is_empty():
    project = labeling.create_project("p", memory_source(("ant", "bee", "cat")))
    text = "id,item,class,label,label_id\n9,0,ant,bee,5\n9,1,ant,,2\n9,2,,,-1\n"
    assert labeling.import_csv(project, text) == 3
    assert {i: r.label for i, r in project.store.labels(project.id).items()} == {0: 1, 1: 2, 2: SKIP}


@pytest.mark.parametrize("text, message", [
    ("item,label\n1,1\n2,cat\n", "line 3: unknown class 'cat'"),
    ("item,label\n1,1\n5000,1\n", "line 3: unknown item '5000'"),
    ("name,value\n1,1\n", (r"needs an item column \(item, id or item_id\) and a label column \(label or class\), "
                             "got name, value")),
    ("item,label_id\n1,1\n", "needs an item column"),
    # a column name is data: its control characters are escaped, not shown raw (a right-to-left
    # override would flip the message on a page, an escape sequence recolour a terminal)
    ("x\u202ey,\x1b[31mred\n1,1\n", r"got x\\u202ey, \\x1b\[31mred$"),
    ("item,label\n1,'1\n", "line 2: unknown class \"'1\""),
    (b"item,label\n1,\xff\n", "not UTF-8"),
])
def test_a_bad_import_stores_nothing(project, text, message):
    with pytest.raises(LabelStoreError, match=message):
        labeling.import_csv(project, text)
    assert project.store.labels(project.id) == {}


# ------------------------------------------------------------------ the image-folder export
_PROJECT_NUMBERS = itertools.count()
_AWKWARD_NAMES = ("猫", "犬", "_", ".", "..", "...", " lead", "trail ", ".hidden", "dot.", "a/b", "a\\b", "a\x00b",
                  "\x1b[31mred", "\u202eevil", "100%", "%41", "%", "C:x", "a:b", 'q"<>|?*', "unlabeled", "__MACOSX",
                  "Cat", "cat", "e\u0301", "\u00e9", "", "  ", "\n", "\u3000")
CLASS_NAME = st.one_of(st.sampled_from(_AWKWARD_NAMES), st.text(max_size=8))


def _export_and_read_back(names) -> tuple[dict, dict]:
    """Every image of a data set with classes ``names`` labeled with its class, exported as an
    image-folder zip and imported again: {class name: sorted image bytes} before and after."""
    from alsim.data.importers import ImportOptions, read_bytes

    project = labeling.create_project(f"zip {next(_PROJECT_NUMBERS)}", memory_source(names, per_class=2))
    dataset = project.dataset
    project.store.set_labels(project.id, list(enumerate(dataset.labels.tolist())), "tester", "typed")
    imported = read_bytes("labels.zip", labeling.export_zip(project), ImportOptions(side=8)).dataset

    def by_class(data):
        return {name: sorted(data.images[i].tobytes() for i in np.flatnonzero(data.labels == c))
                for c, name in enumerate(data.class_names)}

    return by_class(dataset), by_class(imported)


def test_non_latin_class_names_get_folders_of_their_own():
    with zipfile.ZipFile(io.BytesIO(labeling.export_zip(_zip_project(("猫", "犬", "a/b", ".."))))) as archive:
        folders = sorted({name.rsplit("/", 1)[0] for name in archive.namelist()})
    assert folders == ["%2E%2E", "a%2Fb", "犬", "猫"]


def _zip_project(names):
    project = labeling.create_project(f"zip {next(_PROJECT_NUMBERS)}", memory_source(names, per_class=1))
    for item in range(len(names)):
        labeling.add_label(project, item, item)
    return project


@settings(max_examples=30, deadline=None)
@given(names=st.lists(CLASS_NAME, min_size=2, max_size=4, unique=True))
def test_the_image_folder_export_reads_back_every_class_name(names):
    before, after = _export_and_read_back(names)
    assert after == before


# ------------------------------------------------------------------ a data set removed from the store
def _stored_pets(tmp_path):
    folder = write_image_folder(tmp_path / "pets", classes=("cat", "dog", "=owl"), per_class=4)
    return datastore.import_path(folder, name="pets")


def test_removing_a_data_set_that_projects_label_is_refused_naming_them(tmp_path):
    entry = _stored_pets(tmp_path)
    labeling.create_project("first", entry.id)
    labeling.create_project("second", entry.id)
    labeling.create_project("other", "digits")
    with pytest.raises(DataError, match="labeling projects first, second.*--force"):
        labeling.remove_dataset(entry.id)
    assert datastore.find(entry.id) == entry
    code, _, err = _cli_main("data", "remove", entry.id)
    assert code == 2 and err.count("\n") == 1 and "first, second" in err and entry.id in source_names()


def test_labels_stay_exportable_after_their_data_set_is_removed_with_force(tmp_path):
    entry = _stored_pets(tmp_path)
    project = labeling.create_project("pets", entry.id)
    labeling.add_label(project, 0, 0, annotator="ann")
    labeling.add_label(project, 5, SKIP, annotator="ann")
    csv_before, json_before = labeling.export_csv(project), json.loads(labeling.export_json(project))
    assert [row["label"] for row in json_before["labels"]] == ["=owl", ""]
    code, out, err = _cli_main("data", "remove", entry.id, "--force")
    assert code == 0, err
    assert entry.id not in source_names()
    with pytest.raises(LabelStoreError, match=f"data set {entry.id!r}, which is no longer stored.*export"):
        labeling.open_project("pets")
    labels = labeling.open_labels("pets")
    assert labels.class_names == ("=owl", "cat", "dog")
    assert labeling.export_csv(labels) == csv_before
    assert json.loads(labeling.export_json(labels)) == json_before
    code, out, err = _cli("pets", "--export", "csv")
    assert code == 0 and out == csv_before, err
    code, out, _ = _cli("pets", "--export", "json")
    assert json.loads(out) == json_before
    code, out, _ = _cli("pets", "--delete")
    assert code == 0 and labeling.list_projects() == []


def test_a_project_from_before_class_names_were_kept_gets_them_when_its_set_is_removed(tmp_path):
    entry = _stored_pets(tmp_path)
    project = labeling.create_project("old", entry.id)
    labeling.add_label(project, 0, 1)
    with sqlite3.connect(project.store.path) as db:
        settings = json.loads(db.execute("SELECT config FROM projects WHERE id = ?", (project.id,)).fetchone()[0])
        settings.pop("class_names", None)
        db.execute("UPDATE projects SET config = ? WHERE id = ?", (json.dumps(settings), project.id))
    labeling.remove_dataset(entry.id, force=True)
    rows = list(csv.DictReader(io.StringIO(labeling.export_csv(labeling.open_labels("old")))))
    assert [(row["item"], row["label"], row["label_id"]) for row in rows] == [("0", "cat", "1")]


def test_a_project_from_before_its_set_s_size_was_kept_keeps_it_at_first_use(tmp_path):
    names = ("ant", "bee", "cow")
    project = labeling.create_project("older", memory_source(names, per_class=5))
    with sqlite3.connect(project.store.path) as db:
        settings = json.loads(db.execute("SELECT config FROM projects WHERE id = ?", (project.id,)).fetchone()[0])
        settings.pop("class_names", None)
        settings.pop("n_items", None)
        db.execute("UPDATE projects SET config = ? WHERE id = ?", (json.dumps(settings), project.id))
    old = labeling.open_project("older")
    assert old.kept == {}
    assert old.n_pool == 15 and old.class_names == names  # from the data set, once
    reopened = labeling.open_project("older")
    assert reopened.kept == {"class_names": list(names), "n_items": 15}  # kept with the project now
    assert reopened.config.to_dict() == project.config.to_dict()  # nothing else changed


def test_removing_a_data_set_without_projects_needs_no_force(tmp_path):
    entry = _stored_pets(tmp_path)
    labeling.create_project("other", "digits")
    assert labeling.remove_dataset(entry.id) == entry


# ------------------------------------------------------------------ names shown on a terminal or a page
TRICKY_NAMES = ("\x1b[2J\x1b[31mred", "\u202etac", "a\nb", "zero\u200bwidth", "猫")


def _raw_controls(text: str) -> list[str]:
    import unicodedata

    return [ch for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]


def test_escape_controls_writes_control_and_format_characters_as_escapes():
    from alsim.common.text import escape_controls

    assert escape_controls("\x1b[31mred\u202e\n\t\x00\u2028") == "\\x1b[31mred\\u202e\\n\\t\\x00\\u2028"
    assert escape_controls("猫 é e\u0301 a\\b 'q'") == "猫 é e\u0301 a\\b 'q'"


def test_cli_output_shows_class_names_with_escapes(tmp_path):
    source = tmp_path / "tricky.npz"
    source.write_bytes(npz_bytes(X=np.eye(10), y=np.arange(10) % len(TRICKY_NAMES),
                                 class_names=np.array(TRICKY_NAMES)))
    code, out, err = _cli_main("data", "add", str(source))
    assert code == 0, err
    assert not _raw_controls(out) and "\\x1b[2J\\x1b[31mred 2" in out and "\\u202etac 2" in out and "a\\nb 2" in out
    entry_id = out.split()[0]
    labeling.create_project("p", entry_id)
    code, out, err = _cli("p", "--add", "0=#0", "1=#1", "2=#2")
    assert code == 0 and not _raw_controls(out)
    assert out.splitlines() == ["stored 0=\\x1b[2J\\x1b[31mred", "stored 1=\\u202etac", "stored 2=a\\nb"]
    code, out, err = _cli("p", "--add", "3=nothing")
    assert code == 2 and not _raw_controls(err) and err.count("\n") == 1 and "\\u202etac" in err


# ------------------------------------------------------------------ the label path against a plain model
_LOOKALIKES = ("0", "1", "2", "3", "10", "007", "7", "1.0", "-1", "+1", " 1", "1e3", "#1", "#0", "skip", "?", "٣",
               "１", "猫", "犬", "e\u0301", "\u00e9", "=1+1", "'x", "a,b", 'q"q', "\u202ertl", "")
_NAMES = st.lists(st.one_of(st.sampled_from(_LOOKALIKES), st.text(min_size=1, max_size=5)), min_size=2, max_size=5,
                  unique=True)
_WHO = st.sampled_from(["alice", "bob"])
_OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("label"), _WHO, st.integers(0, 3), st.integers(0, 4), st.sampled_from(["index", "name", "#"])),
    st.tuples(st.just("skip"), _WHO, st.integers(0, 3), st.sampled_from(["index", "text"])),
    st.tuples(st.just("undo"), _WHO)), max_size=12)


def _unquoted(cell: str) -> str:
    """The export's documented quoting taken away: a quote before = + - @ tab CR or a quote."""
    return cell[1:] if len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@\t\r'" else cell


@settings(max_examples=40, deadline=None)
@given(names=_NAMES, operations=_OPERATIONS)
def test_exported_labels_equal_a_plain_model_of_the_operations(names, operations):
    project = labeling.create_project(f"model {next(_PROJECT_NUMBERS)}", memory_source(names, per_class=2))
    in_force = []  # (annotator, item, class index or -1), oldest first: what each person did and did not undo
    for operation in operations:
        kind, who = operation[:2]
        if kind == "undo":
            labeling.undo(project, who)
            mine = [k for k, (by, _, _) in enumerate(in_force) if by == who]
            if mine:
                del in_force[mine[-1]]
            continue
        item = operation[2]
        if kind == "label":
            label, how = operation[3] % len(names), operation[4]
            if how == "name":
                label = names.index(names[label])  # the text of a name means that name, wherever it stands
                text = names[label]
            elif how == "#" and f"#{label}" not in names:
                text = f"#{label}"
            else:
                text = None
        else:
            label, words = SKIP, [w for w in ("skip", "?", "-1") if w not in names]
            text = words[0] if operation[3] == "text" and words else None
        stored = label if text is None else labeling.parse_label(project, text)
        labeling.add_label(project, item, stored, annotator=who)
        in_force.append((who, item, label))
    expected = {}
    for who, item, label in in_force:
        expected[item] = (label, who)
    document = json.loads(labeling.export_json(project))
    assert {r["item"]: (r["label_id"], r["annotator"]) for r in document["labels"]} == expected
    assert {r["item"]: r["label"] for r in document["labels"]} == {
        item: names[label] if label >= 0 else "" for item, (label, _) in expected.items()}
    rows = list(csv.DictReader(io.StringIO(labeling.export_csv(project), newline="")))
    assert {int(r["item"]): (int(r["label_id"]), _unquoted(r["annotator"]), _unquoted(r["label"])) for r in rows} == {
        item: (label, who, names[label] if label >= 0 else "") for item, (label, who) in expected.items()}
    copy = labeling.create_project(f"model {next(_PROJECT_NUMBERS)}", project.config.dataset)
    labeling.import_csv(copy, labeling.export_csv(project))
    assert {item: row.label for item, row in copy.store.labels(copy.id).items()} == {
        item: label for item, (label, _) in expected.items()}


# ------------------------------------------------------------------ the command line
def test_cli_next_add_undo_export(project):
    code, out, _ = _cli("digits demo", "--next")
    batch = [int(line) for line in out.split()]
    assert code == 0 and batch == list(labeling.current_batch(project).items)
    code, out, _ = _cli("digits demo", "--add", f"{batch[0]}=3", f"{batch[1]}=skip", "--annotator", "cli")
    assert code == 0 and out.splitlines() == [f"stored {batch[0]}=3", f"stored {batch[1]}=skip"]
    code, out, _ = _cli("digits demo", "--undo", "--annotator", "cli")
    assert out.strip() == f"undone {batch[1]}=skip"  # in the words --add takes, not the stored -1
    code, out, _ = _cli("digits demo", "--undo", "--annotator", "cli")
    assert out.strip() == f"undone {batch[0]}=3"
    code, out, _ = _cli("digits demo", "--add", f"{batch[0]}=3", "--annotator", "cli")
    code, out, _ = _cli("digits demo", "--export", "json")
    assert [(r["item"], r["label"], r["annotator"]) for r in json.loads(out)["labels"]] == [(batch[0], "3", "cli")]
    code, out, _ = _cli("--list")
    assert out.startswith("digits demo")
    code, out, _ = _cli("digits demo", "--delete")
    assert code == 0 and labeling.list_projects() == []


def test_cli_undo_takes_back_the_annotators_own_label(project):
    _cli("digits demo", "--add", "1=1", "--annotator", "alice")
    _cli("digits demo", "--add", "2=2", "--annotator", "bob")
    code, out, _ = _cli("digits demo", "--undo", "--annotator", "alice")
    assert code == 0 and out.strip() == "undone 1=1"
    assert {i: (r.label, r.annotator) for i, r in project.store.labels(project.id).items()} == {2: (2, "bob")}
    code, out, _ = _cli("digits demo", "--undo", "--annotator", "alice")
    assert out.strip() == "nothing to undo" and 2 in project.store.labels(project.id)


def test_cli_creates_a_project_with_settings_and_imports(tmp_path):
    code, out, _ = _cli("new", "--data", "digits", "--set", "batch_size=3", "--next")
    assert code == 0 and len(out.split()) == 3
    source = tmp_path / "labels.csv"
    source.write_text("item,label\n5,4\n6,2\n")
    code, out, _ = _cli("new", "--import-csv", str(source))
    assert code == 0 and out.strip() == "imported 2 labels"


def test_a_name_ending_in_a_space_is_refused_before_the_pool_is_prepared(monkeypatch):
    def prepare(*_args, **_kwargs):
        raise AssertionError("the pool was prepared for a name that is refused")

    monkeypatch.setattr(labeling, "check_refit", prepare)
    monkeypatch.setattr(labeling, "load_source", prepare)
    with pytest.raises(LabelStoreError, match="must not end with a space"):
        labeling.create_project("pets ", "digits")
    assert labeling.list_projects() == []


@pytest.mark.parametrize("argv, message", [
    (("p", "--data", "digits", "--add", "3=cat"), "unknown class 'cat'"),
    (("p", "--data", "digits", "--add", "1797=1"), "unknown item '1797'"),
    (("p", "--data", "digits", "--add", "3"), "--add expects ID=LABEL"),
    (("../etc/passwd", "--data", "digits", "--next"), "project name must be"),
    (("a/b", "--next"), "project name must be"),
    (("p ", "--data", "digits", "--next"), "project name must not end with a space, got 'p '"),
    (("missing", "--next"), "no labeling project named 'missing'"),
    (("p", "--data", "nope", "--next"), "dataset must be one of"),
    (("p", "--data", "digits", "--set", "batch_size=0", "--next"), "batch_size must be"),
    (("p", "--data", "digits", "--next", "--undo"), "not allowed with argument"),
    (("p", "--data", "digits", "--import-csv", "/nonexistent.csv"), "cannot read /nonexistent.csv"),
    # options that contradict each other are refused, not one of them silently taken
    (("p", "--data", "digits", "--set", "dataset=fashion-mnist", "--next"),
     "--data 'digits' and --set dataset=... name different data sets"),
    (("p", "--delete", "--data", "digits"), "--delete takes the project name alone"),
    (("p", "--data", "digits", "--source", "accepted", "--next"), "--source says how --add labels came about"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message):
    code, out, err = _cli(*argv)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("alsim: error: ") and message in err, err


def test_a_corrupt_database_is_one_line_and_never_overwritten(tmp_path, monkeypatch):
    home = Path(os.environ["ALSIM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    path = home / "labels.sqlite3"
    path.write_bytes(b"\x00garbage" * 512)
    before = path.read_bytes()
    for argv in (("--list",), ("p", "--data", "digits", "--next"), ("p", "--data", "digits", "--add", "1=1")):
        code, _, err = _cli(*argv)
        assert code == 2 and err.count("\n") == 1 and "unreadable" in err and "left as it is" in err
    assert path.read_bytes() == before


# ------------------------------------------------------------------ crashes and concurrent writers
def _start_adds(name: str, items, label: int) -> subprocess.Popen:
    pairs = [f"{item}={label}" for item in items]
    return subprocess.Popen([sys.executable, "-m", "alsim", "label", name, "--data", "digits", "--add", *pairs],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_kill_9_mid_stream_keeps_every_acknowledged_label():
    labeling.create_project("crash", "digits")
    proc = _start_adds("crash", range(1500), 4)
    acknowledged = []
    deadline = time.time() + 120
    while len(acknowledged) < 40 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(int(line.split()[1].split("=")[0]))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()
    assert len(acknowledged) == 40, "the writer did not get going"
    store = LabelStore()
    assert store.integrity() == "ok"
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    project = labeling.open_project("crash")
    stored = project.store.labels(project.id)
    assert set(acknowledged) <= set(stored)
    assert len(stored) < 1500, "the writer finished before it was killed"
    assert all(row.label == 4 for row in stored.values())
    # The project still works: labels are added and a batch is proposed.
    labeling.add_label(project, 1600, 3)
    assert labeling.current_batch(project) is not None


def _writer(name: str, items, label: int, start, halfway, results) -> None:
    project = labeling.open_project(name)
    items = list(items)
    start.wait(60)
    ids = [labeling.add_label(project, item, label, annotator=f"writer {label}") for item in items[:len(items) // 2]]
    # Both writers have stored their first halves before either goes on, so however the machine
    # schedules the two processes, their writes interleave in the history at least twice.
    halfway.wait(240)
    ids += [labeling.add_label(project, item, label, annotator=f"writer {label}") for item in items[len(items) // 2:]]
    results.put((label, ids))


def test_two_writers_on_one_project_lose_and_duplicate_nothing():
    import multiprocessing

    labeling.create_project("shared", "digits")
    context = multiprocessing.get_context("fork")
    start, halfway, results = context.Barrier(2), context.Barrier(2), context.Queue()
    writers = [context.Process(target=_writer, args=("shared", items, label, start, halfway, results))
               for items, label in ((range(0, 200), 1), (range(100, 300), 2))]
    for writer in writers:
        writer.start()
    acknowledged = dict(results.get(timeout=240) for _ in writers)
    for writer in writers:
        writer.join(60)
    assert [writer.exitcode for writer in writers] == [0, 0]
    assert [len(acknowledged[1]), len(acknowledged[2])] == [200, 200]
    project = labeling.open_project("shared")
    stored = project.store.labels(project.id)
    assert sorted(stored) == list(range(300))
    history = project.store.history(project.id)
    assert sorted(change.id for change in history) == sorted(acknowledged[1] + acknowledged[2])
    writers_in_order = "".join(str(change.label) for change in history)
    assert writers_in_order.count("12") + writers_in_order.count("21") > 1, "the writers did not overlap"
    with sqlite3.connect(project.store.path) as db:
        assert db.execute("SELECT count(*), count(DISTINCT item) FROM labels WHERE project = ?",
                          (project.id,)).fetchone() == (300, 300)
    for item in range(100, 200):  # last write wins, and the last write is the history's last
        last = [change for change in history if change.item == item][-1]
        assert (stored[item].label, stored[item].annotator) == (last.label, f"writer {last.label}")
    assert all(stored[i].label == 1 for i in range(100)) and all(stored[i].label == 2 for i in range(200, 300))


# ------------------------------------------------------------------ a stored set whose labels are mostly unknown
def test_a_stored_set_with_unknown_labels_is_labeled_and_scored_where_truth_is_known():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 40)
    features = (rng.normal(size=(3, 5)) * 4)[truth] + rng.normal(size=(120, 5))
    known = [0, 1, 40, 41, 80, 81]  # the importer needs two classes with examples; the rest is unknown
    given = np.full(120, -1)
    given[known] = truth[known]
    buffer = io.BytesIO()
    np.savez(buffer, X=features, y=given, images=rng.integers(0, 255, size=(120, 12, 12)).astype(np.uint8),
             class_names=np.array(["ant", "bee", "cat"]))
    entry = datastore.import_bytes("mine.npz", buffer.getvalue(), name="mine")
    project = labeling.create_project("mine", entry.id)
    assert project.config.dataset == entry.id and project.config.initial == "random"
    first = labeling.current_batch(project)
    assert len(first.items) == 8 and first.guesses == (-1,) * 8
    for item in first.items:
        labeling.add_label(project, item, labeling.parse_label(project, ["ant", "bee", "cat"][truth[item]]))
    second = labeling.current_batch(project)
    assert len(second.items) == 8 and min(second.guesses) >= 0 and not set(second.items) & set(first.items)
    agreement, confusion, n = labeling.truth_agreement(project)
    assert n == len(set(first.items) & set(known)) and confusion.shape == (3, 3)
    with zipfile.ZipFile(io.BytesIO(labeling.export_zip(project))) as archive:
        assert len(archive.namelist()) == 8 and {name.split("/")[0] for name in archive.namelist()} <= {
            "ant", "bee", "cat"}


def test_exports_carry_each_item_source_file_name_through_store_reload_and_removal(tmp_path):
    import cv2

    folder = write_image_folder(tmp_path / "pets", per_class=2)
    (folder / "cat" / "deep").mkdir()
    cv2.imwrite(str(folder / "cat" / "deep" / "000.png"), np.full((30, 20), 90, np.uint8))  # same name, another folder
    cv2.imwrite(str(folder / "cat" / "001.jpg"), np.full((30, 20), 200, np.uint8))  # 001.png once exported
    entry = datastore.import_path(folder)
    data = datastore.find(entry.id).load()
    assert data.file_names == ("cat/000.png", "cat/001.jpg", "cat/001.png", "cat/deep/000.png", "dog/000.png",
                               "dog/001.png", "owl/000.png", "owl/001.png")
    project = labeling.create_project("named", entry.id)
    for item, label in enumerate(data.labels.tolist()):
        labeling.add_label(project, item, SKIP if item == 7 else label, annotator="ann")
    rows = list(csv.DictReader(io.StringIO(labeling.export_csv(labeling.open_labels("named")))))
    assert [row["path"] for row in rows] == list(data.file_names)
    document = json.loads(labeling.export_json(project))
    assert [row["path"] for row in document["labels"]] == list(data.file_names)
    with zipfile.ZipFile(io.BytesIO(labeling.export_zip(project))) as archive:
        assert sorted(archive.namelist()) == ["cat/000-3.png", "cat/000.png", "cat/001-2.png", "cat/001.png",
                                              "dog/000.png", "dog/001.png", "owl/000.png"]
    labeling.remove_dataset(entry.id, force=True)
    rows = list(csv.DictReader(io.StringIO(labeling.export_csv(labeling.open_labels("named")))))
    assert [row["path"] for row in rows] == list(data.file_names)


def test_a_pool_projects_items_are_named_by_their_rows_in_the_data_set(tmp_path):
    entry = datastore.import_path(write_image_folder(tmp_path / "pets", per_class=4))
    data = entry.load()
    project = labeling.create_project("pool", entry.id, ["pool_size=5", "n_neighbors=3"])
    pool_ids = prepare(project.config).pool_ids
    labeling.add_label(project, 3, 0, annotator="ann")
    assert [row["path"] for row in labeling.export_rows(project)] == [data.file_names[pool_ids[3]]]


def test_a_pool_too_large_for_the_rbf_kernel_gets_the_knn_kernel_unless_one_is_asked_for(monkeypatch):
    """Fashion-MNIST's 60,000 points would need a 27 GiB dense kernel, and the Label page has no kernel
    control: a project there gets knn. A kernel given explicitly is kept (and refused if it cannot fit)."""
    import alsim.learn.graph as graph_module

    monkeypatch.setattr(graph_module, "DENSE_KERNEL_LIMIT_BYTES", 10_000)  # digits' 1,797 points: 25 MiB
    store = LabelStore()
    project = labeling.create_project("big", "digits", store=store)
    assert project.config.kernel == "knn" and project.config.model == "label_spreading"
    with pytest.raises(ConfigError, match="an rbf kernel on 1,797 points is a dense"):
        labeling.create_project("asked", "digits", ["kernel=rbf"], store=store)
    monkeypatch.setattr(graph_module, "DENSE_KERNEL_LIMIT_BYTES", 4 * 2**30)
    assert labeling.create_project("small", "digits", store=store).config.kernel == "rbf"


def test_data_and_set_dataset_naming_one_stored_set_differently_agree(tmp_path):
    """--data as the folder (imported, so an id) and --set dataset= by the id name the same set: not a conflict."""
    folder = write_image_folder(tmp_path / "pets", per_class=6)
    entry = datastore.import_path(folder, name="pets")
    code, out, err = _cli("same", "--data", str(folder), "--set", f"dataset={entry.id}", "--set",
                          "n_neighbors=3", "--next")
    assert code == 0, err
    assert len(out.split()) == 8
