"""The Label Studio round trip and the standard exports: the labeling config, tasks with the model's
guess as a prediction, images embedded or written, a hand-written export in Label Studio's documented
shape read back (several annotators, a cancelled annotation, a choice that is no class, a re-import),
bad files refused whole, the ``label`` command's new flags, and, with ``ALSIM_LABEL_STUDIO`` set, the
real thing (``bench/label_studio_roundtrip.py``)."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_labeling import _cli, _forget_memory_sources, memory_source  # noqa: F401 - the fixture cleans up

from alsim.cli.main import main
from alsim.data.datasets import Dataset
from alsim.data.sources import SourceInfo, register_source
from alsim.labeling import label_studio
from alsim.labeling import projects as labeling
from alsim.labeling.store import SKIP, LabelStoreError
from alsim.loop.pool import prepare

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("ant", "bee", "cat")


@pytest.fixture
def project():
    """18 images of three classes; four labeled (two classes), so the model guesses."""
    project = labeling.create_project("bugs", memory_source(NAMES), ["batch_size=4"])
    for item, label in ((0, 0), (6, 1), (7, 1), (12, 2)):
        labeling.add_label(project, item, label, annotator="seed")
    return project


def _decoded(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    raw = np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), dtype=np.uint8)
    return cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)


# ------------------------------------------------------------------ the labeling config
def test_the_config_has_one_escaped_choice_per_class_in_class_order():
    names = ("a&b", "<x>", 'q"u', "it's", "plain", "tab\there", "line\nbreak", "  pad ")
    root = ET.fromstring(label_studio.label_config(names))
    assert root.tag == "View"
    image, choices = list(root)
    assert (image.tag, image.get("name"), image.get("value")) == ("Image", "image", "$image")
    assert (choices.tag, choices.get("name"), choices.get("toName")) == ("Choices", "label", "image")
    assert [choice.get("value") for choice in choices] == list(names)


def test_names_xml_cannot_carry_get_distinct_escaped_values():
    names = ("a\x00b", "", "a\\x00b", "(empty)", "\x1b[31mred")
    values = label_studio.choice_values(names)
    assert values == ("a\\x00b #0", "(empty) #1", "a\\x00b", "(empty)", "\\x1b[31mred")
    root = ET.fromstring(label_studio.label_config(names))
    assert [choice.get("value") for choice in root[1]] == list(values)


# ------------------------------------------------------------------ tasks
def test_batch_tasks_carry_the_item_the_project_the_image_and_the_guess_as_a_prediction(project):
    tasks = label_studio.export_tasks(project, embed_images=True)
    batch = labeling.current_batch(project)
    assert [task["data"]["alsim_item"] for task in tasks] == list(batch.items)
    images = project.dataset.images
    for task, guess, confidence in zip(tasks, batch.guesses, batch.confidence):
        assert task["data"]["alsim_project"] == "bugs" and "alsim_score" not in task["data"]
        assert np.array_equal(_decoded(task["data"]["image"]), images[task["data"]["alsim_item"]])
        (prediction,) = task["predictions"]
        assert prediction["score"] == pytest.approx(confidence, abs=1e-6)
        (result,) = prediction["result"]
        assert {k: result[k] for k in ("from_name", "to_name", "type", "value")} == {
            "from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [NAMES[guess]]}}
    json.dumps(tasks, allow_nan=False)  # plain JSON


def test_no_model_yet_means_no_prediction():
    fresh = labeling.create_project("fresh", memory_source(NAMES), ["batch_size=4"])
    tasks = label_studio.export_tasks(fresh, embed_images=True)
    assert len(tasks) == 4 and all("predictions" not in task for task in tasks)


def test_all_orders_every_unanswered_item_by_the_strategys_score(project):
    labeling.add_label(project, 3, SKIP, annotator="seed")
    tasks = label_studio.export_tasks(project, all_unlabeled=True, embed_images=True)
    items = [task["data"]["alsim_item"] for task in tasks]
    scores = [task["data"]["alsim_score"] for task in tasks]
    assert sorted(items) == sorted(set(range(18)) - {0, 6, 7, 12, 3})
    assert scores == sorted(scores, reverse=True)
    batch = labeling.next_batch(project)  # entropy: the batch is the top of the ranking
    assert set(items[:4]) == set(batch.ids.tolist())
    assert all("predictions" in task for task in tasks)


def test_image_root_writes_png_files_named_by_item_and_prefix_makes_urls(project, tmp_path):
    tasks = label_studio.export_tasks(project, image_root=tmp_path / "images")
    # Readable like any file the user makes there (Label Studio may serve them as another user), not 0600.
    plain = tmp_path / "images" / "plain.txt"
    plain.write_text("x")
    modes = {path.stat().st_mode & 0o777 for path in (tmp_path / "images").glob("*.png")}
    assert modes == {plain.stat().st_mode & 0o777} and not list((tmp_path / "images").glob(".*"))
    plain.unlink()
    items = [task["data"]["alsim_item"] for task in tasks]
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(f"{i:06d}.png" for i in items)
    for task in tasks:
        path = Path(task["data"]["image"])
        assert path.is_absolute() and np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED),
                                                     project.dataset.images[task["data"]["alsim_item"]])
    for prefix, joined in (("http://h/img", "http://h/img/"), ("/data/local-files/?d=", "/data/local-files/?d="),
                           ("/data/local-files/?d=bugs/", "/data/local-files/?d=bugs/")):
        tasks = label_studio.export_tasks(project, image_root=tmp_path / "images", image_url_prefix=prefix)
        assert [task["data"]["image"] for task in tasks] == [f"{joined}{i:06d}.png" for i in items]


@pytest.mark.parametrize("options, message", [
    ({}, "give --image-root DIR"),
    ({"image_url_prefix": "http://h/"}, "--image-url-prefix needs --image-root"),
    ({"embed_images": True, "image_root": "x"}, "not both"),
])
def test_tasks_need_one_way_to_the_images(project, options, message):
    with pytest.raises(LabelStoreError, match=message):
        label_studio.export_tasks(project, **options)


def test_embedding_is_refused_above_its_limits(project, monkeypatch):
    monkeypatch.setattr(label_studio, "MAX_EMBED_ITEMS", 3)
    with pytest.raises(LabelStoreError, match="4 images are too many to embed"):
        label_studio.export_tasks(project, embed_images=True)
    monkeypatch.setattr(label_studio, "MAX_EMBED_ITEMS", 1000)
    monkeypatch.setattr(label_studio, "MAX_EMBED_BYTES", 100)
    with pytest.raises(LabelStoreError, match="too much to embed"):
        label_studio.export_tasks(project, embed_images=True)


def test_a_data_set_without_images_has_no_tasks():
    name = "embeddings-only-ls"
    dataset = Dataset(name=name, images=None, labels=np.repeat(np.arange(2), 5), class_names=("x", "y"),
                      embeddings=np.random.default_rng(0).normal(size=(10, 3)))
    register_source(SourceInfo(name=name, description="", load=lambda: dataset, features=("precomputed",),
                               image_shape=None, has_test=False, locator=lambda: name), replace=True)
    try:
        bare = labeling.create_project("bare", name, ["features=precomputed"])
        with pytest.raises(LabelStoreError, match="has no images"):
            label_studio.export_tasks(bare, embed_images=True)
    finally:
        from alsim.data import sources

        with sources._LOCK:
            sources._SOURCES.pop(name, None)


# ------------------------------------------------------------------ reading an export
def _annotation(ident, choice, by, updated, cancelled=False):
    """One annotation as Label Studio's JSON export writes it (its documented task format)."""
    result = [] if choice is None else [{"id": f"r{ident}", "from_name": "label", "to_name": "image",
                                         "type": "choices", "value": {"choices": [choice]}, "origin": "manual"}]
    return {"id": ident, "completed_by": by, "result": result, "was_cancelled": cancelled, "ground_truth": False,
            "created_at": updated, "updated_at": updated, "lead_time": 2.5, "task": ident // 10}


def _task(ident, item, annotations, project="bugs"):
    return {"id": ident, "data": {"image": f"/data/local-files/?d=bugs/{item:06d}.png", "alsim_item": item,
                                  "alsim_project": project},
            "annotations": annotations, "predictions": [], "drafts": [], "meta": {}, "project": 3,
            "created_at": "2025-06-01T10:00:00.000000Z", "updated_at": "2025-06-01T10:05:00.000000Z"}


ALICE = {"id": 1, "email": "alice@example.com", "first_name": "", "last_name": ""}
EXPORT = [
    # two annotators agree
    _task(1, 1, [_annotation(10, "bee", ALICE, "2025-06-01T10:01:00Z"),
                 _annotation(11, "bee", 2, "2025-06-01T10:02:00Z")]),
    # two annotators disagree: the latest (bob, id 2, by updated_at) wins, whatever the order in the file
    _task(2, 2, [_annotation(21, "cat", 2, "2025-06-01T10:09:00Z"),
                 _annotation(20, "ant", ALICE, "2025-06-01T10:03:00Z")]),
    # skipped in Label Studio, then labeled by someone else: the label counts, the skip does not
    _task(3, 3, [_annotation(30, None, 2, "2025-06-01T10:04:00Z", cancelled=True),
                 _annotation(31, "ant", ALICE, "2025-06-01T10:01:00Z")]),
    # only skipped: stays unanswered
    _task(4, 4, [_annotation(40, None, ALICE, "2025-06-01T10:04:00Z", cancelled=True)]),
    # a choice that is no class: reported, not stored
    _task(5, 5, [_annotation(50, "cow", ALICE, "2025-06-01T10:04:00Z")]),
    # submitted without a choice
    _task(6, 8, [_annotation(60, None, ALICE, "2025-06-01T10:04:00Z")]),
    # not annotated
    _task(7, 9, []),
]


def test_a_label_studio_export_is_read_back_once_whatever_the_annotators(project):
    before = len(project.store.history(project.id))
    summary = label_studio.import_export(project, json.dumps(EXPORT))
    rows = {item: (row.label, row.annotator, row.source) for item, row in project.store.labels(project.id).items()
            if row.source == "label-studio"}
    assert rows == {1: (1, "label-studio user 2", "label-studio"), 2: (2, "label-studio user 2", "label-studio"),
                    3: (0, "alice@example.com", "label-studio")}
    assert (summary.n_tasks, summary.stored, summary.cancelled, summary.empty, summary.disagreements) == (7, 3, 2, 1, 1)
    assert summary.unknown == ((5, "cow"),)
    line = summary.line("bugs")
    assert "\n" not in line and line.startswith("Label Studio import: 7 tasks: 3 labels stored;")
    assert "2 cancelled (skipped) annotations ignored" in line and "1 item where annotators disagree" in line
    assert "1 choice not a class of project 'bugs', not stored: 'cow' (item 5)" in line
    history = project.store.history(project.id)[before:]
    assert sorted(change.item for change in history) == [1, 2, 3]
    again = label_studio.import_export(project, json.dumps(EXPORT).encode())
    assert again.stored == 0 and "0 labels stored, 3 unchanged" in again.line("bugs")
    assert len(project.store.history(project.id)) == before + 3


def test_an_import_replaces_a_different_stored_label_and_says_so(project):
    labeling.add_label(project, 1, 0, annotator="me")
    summary = label_studio.import_export(project, json.dumps(EXPORT[:1]))
    assert summary.stored == 1 and project.store.labels(project.id)[1].label == 1


def test_the_first_few_unknown_choices_are_named_and_the_rest_counted(project):
    tasks = [_task(n, n, [_annotation(n * 10, f"bird{n}", ALICE, "2025-06-01T10:00:00Z")]) for n in range(1, 6)]
    line = label_studio.import_export(project, json.dumps(tasks)).line("bugs")
    assert "5 choices not a class" in line and "'bird3' (item 3) and 2 more" in line and "bird4" not in line


def test_a_user_id_string_and_an_object_without_email_name_the_annotator():
    assert label_studio.annotator_of({"id": 7, "email": ""}) == "label-studio user 7"
    assert label_studio.annotator_of(7) == "label-studio user 7"
    assert label_studio.annotator_of("carol") == "carol"
    assert label_studio.annotator_of(None) == "label-studio"


BIG = "an export one byte over the limit"  # made in the test: 64 MiB held only while it runs


@pytest.mark.parametrize("data, message", [
    (b"<html>not json</html>", r"is not JSON \(Expecting value at line 1 column 1\)"),
    (b"[{\"data\": \xff}]", "not UTF-8"),
    (b"{\"tasks\": []}", "a list of tasks, got a JSON object"),
    (b"[1]", "entry 1 is a JSON number"),
    (json.dumps([_task(1, 1, [_annotation(10, "bee", 1, "t")], project="other")]).encode(),
     "task 1 is a task of alsim project 'other', not 'bugs'"),
    (json.dumps([EXPORT[0], _task(9, 18, [])]).encode(), "task 9: alsim_item 18 is not an item of project 'bugs'"),
    (json.dumps([{"id": 4, "data": {"image": "x.png"}, "annotations": []}]).encode(), "task 4 has no data.alsim_item"),
    (json.dumps([{"image": "x.png", "label": "bee"}]).encode(), "has no data object"),
    (BIG, "larger than 64 MiB"),
], ids=["not-json", "not-utf8", "object", "not-a-task", "other-project", "outside-the-pool", "no-alsim-item",
        "json-min", "too-large"])
def test_a_bad_export_is_one_line_and_stores_nothing(project, data, message):
    if data is BIG:
        data = b"[" + b" " * (labeling.MAX_IMPORT_BYTES - 1) + b"]"
        assert len(data) == labeling.MAX_IMPORT_BYTES + 1
    before = project.store.labels(project.id)
    with pytest.raises(LabelStoreError, match=message) as caught:
        label_studio.import_export(project, data)
    assert "\n" not in str(caught.value)
    assert project.store.labels(project.id) == before


def test_an_export_of_exactly_the_limit_is_read(project):
    data = b"[" + b" " * (labeling.MAX_IMPORT_BYTES - 2) + b"]"
    assert len(data) == labeling.MAX_IMPORT_BYTES
    assert label_studio.import_export(project, data).n_tasks == 0


def test_set_labels_checks_its_source_and_leaves_equal_rows_alone(project):
    store = project.store
    with pytest.raises(LabelStoreError, match="source must be one of"):
        store.set_labels(project.id, [(1, 1)], "x", "somewhere")
    assert store.set_labels(project.id, [(1, 1, "a"), (2, 2, "b")], "x", "label-studio", only_changed=True) == 2
    assert store.set_labels(project.id, [(1, 1, "a"), (2, 2, "c")], "x", "label-studio", only_changed=True) == 1
    assert {i: r.annotator for i, r in store.labels(project.id).items() if i in (1, 2)} == {1: "a", 2: "c"}
    assert store.set_labels(project.id, [(1, 1, "a")], "x", "label-studio") == 1  # without only_changed: written


# ------------------------------------------------------------------ the command line
def _cli_bytes(*argv) -> tuple[int, bytes, str]:
    """The label command with a byte-backed standard output, as a redirect to a file gives."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        code = main(["label", *argv], out=out)
        out.flush()
    finally:
        sys.stderr = old
    return code, raw.getvalue(), err.getvalue()


def test_cli_label_studio_export_config_and_import(project, tmp_path):
    code, out, err = _cli("bugs", "--export", "label-studio", "--embed-images")
    assert code == 0, err
    assert [t["data"]["alsim_item"] for t in json.loads(out)] == list(labeling.current_batch(project).items)
    code, out, _ = _cli("bugs", "--label-studio-config")
    assert code == 0 and [c.get("value") for c in ET.fromstring(out)[1]] == list(NAMES)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(EXPORT))
    code, out, _ = _cli("bugs", "--import-label-studio", str(export))
    assert code == 0 and out.count("\n") == 1 and out.startswith("Label Studio import: 7 tasks: 3 labels stored;")
    code, out, _ = _cli("bugs", "--import-label-studio", str(export))
    assert code == 0 and "0 labels stored, 3 unchanged" in out


def test_cli_a_100_mb_export_and_bad_flags_are_one_line(project, tmp_path):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:
        handle.truncate(100 << 20)  # sparse: 100 MB without writing them
    not_json = tmp_path / "export.json"
    not_json.write_text("id,label\n1,bee\n")
    for argv, message in [
        (("bugs", "--import-label-studio", str(huge)), "larger than 64 MiB"),
        (("bugs", "--import-label-studio", str(not_json)), "is not JSON"),
        (("bugs", "--import-label-studio", str(tmp_path / "missing.json")), "cannot read"),
        (("bugs", "--export", "label-studio"), "give --image-root DIR"),
        (("bugs", "--export", "csv", "--all"), "--all goes with --export label-studio"),
        (("bugs", "--next", "--embed-images"), "--embed-images goes with --export label-studio"),
    ]:
        before = project.store.labels(project.id)
        code, _, err = _cli(*argv)
        assert code == 2 and err.count("\n") == 1 and message in err, (argv, err)
        assert project.store.labels(project.id) == before


def test_cli_imagefolder_export_is_the_pages_zip(project):
    code, out, err = _cli_bytes("bugs", "--export", "imagefolder")
    assert code == 0, err
    assert out == labeling.export_zip(project)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        assert sorted(archive.namelist()) == ["ant/000000.png", "bee/000006.png", "bee/000007.png", "cat/000012.png"]


def test_cli_npz_export_holds_the_labeled_items_features(project):
    labeling.add_label(project, 4, SKIP, annotator="seed")  # a skip is not a labeled item
    code, out, err = _cli_bytes("bugs", "--export", "npz")
    assert code == 0, err
    with np.load(io.BytesIO(out), allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["X", "class_names", "items", "y"]
        assert arrays["items"].tolist() == [0, 6, 7, 12] and arrays["y"].tolist() == [0, 1, 1, 2]
        assert arrays["class_names"].tolist() == list(NAMES)
        np.testing.assert_array_equal(arrays["X"], prepare(project.config).features[[0, 6, 7, 12]])


def test_cli_binary_exports_refuse_a_terminal(project):
    class Terminal(io.TextIOWrapper):
        def isatty(self):
            return True

    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        code = main(["label", "bugs", "--export", "npz"], out=Terminal(io.BytesIO()))
    finally:
        sys.stderr = old
    assert code == 2 and "redirect it to a file" in err.getvalue()


# ------------------------------------------------------------------ the real Label Studio
@pytest.mark.skipif(not os.environ.get("ALSIM_LABEL_STUDIO"),
                    reason="set ALSIM_LABEL_STUDIO to a label-studio executable (its own venv) to run the round trip")
@pytest.mark.parametrize("images", ["embed", "files"])
def test_a_real_label_studio_round_trip(images, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    from label_studio_roundtrip import run_roundtrip

    monkeypatch.setenv("ALSIM_HOME", os.environ["ALSIM_HOME"])  # the bench points it at its own folder
    summary = run_roundtrip(os.environ["ALSIM_LABEL_STUDIO"], images=images, say=lambda line: None)
    assert summary["ok"] and summary["annotated"] == 5
