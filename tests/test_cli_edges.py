"""The command line at its edges: a label of class 0 counts in ``label --list``, ``--source`` is stored
with each ``--add``, a project's prefill cannot change, a failed sweep task is exit code 1, ``data add``
reads the named label and image columns, and ``--set`` wins over ``--config``."""

from __future__ import annotations

import csv
import json
from collections import Counter

import cv2
import pytest
from test_importers import class_image
from test_labeling import _cli, _cli_main

from alsim.data import store as datastore
from alsim.labeling import projects as labeling
from alsim.labeling.store import SKIP, LabelStore

EXISTS = "alsim: error: project 'p' exists; its settings cannot change (create a new one)\n"


@pytest.fixture
def project():
    """A labeling project on digits with the default settings (as in test_labeling)."""
    return labeling.create_project("digits demo", "digits")


# ------------------------------------------------------------------ label
def test_list_counts_labels_of_class_0_and_leaves_skips_out(project):
    code, out, err = _cli("digits demo", "--add", "10=#0", "11=0", "12=#3", "13=skip")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["stored 10=0", "stored 11=0", "stored 12=3", "stored 13=skip"]
    stored = {item: row.label for item, row in LabelStore().labels(project.id).items()}
    assert stored == {10: 0, 11: 0, 12: 3, 13: SKIP}

    code, out, err = _cli("--list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("digits demo ")
    # three labels of a class (two of class 0, one of class 3); the skip is no label
    assert lines[0].split()[2:5] == ["digits", "3", "labels"]


def test_list_counts_a_project_whose_only_label_is_class_0(project):
    assert _cli("digits demo", "--add", "7=#0")[0] == 0
    code, out, _ = _cli("--list")
    assert code == 0 and out.split()[2:5] == ["digits", "1", "labels"]


def test_add_stores_the_source_it_is_given(project):
    code, out, err = _cli("digits demo", "--add", "5=3", "--source", "accepted", "--annotator", "ann")
    assert (code, out, err) == (0, "stored 5=3\n", "")
    code, out, err = _cli("digits demo", "--add", "6=4", "--annotator", "ann")  # typed by default
    assert (code, out, err) == (0, "stored 6=4\n", "")

    rows = LabelStore().labels(project.id)
    assert {item: (row.label, row.source, row.annotator) for item, row in rows.items()} == {
        5: (3, "accepted", "ann"), 6: (4, "typed", "ann")}
    code, out, _ = _cli("digits demo", "--export", "json")
    exported = json.loads(out)["labels"]
    assert code == 0
    assert [(r["item"], r["label"], r["source"]) for r in exported] == [(5, "3", "accepted"), (6, "4", "typed")]
    counts = labeling.class_counts(project)
    assert counts["classes"]["3"] == {"typed": 0, "accepted": 1, "imported": 0, "label-studio": 0}
    assert counts["classes"]["4"] == {"typed": 1, "accepted": 0, "imported": 0, "label-studio": 0}


def test_a_project_s_prefill_cannot_change_once_it_exists():
    labeling.create_project("p", "digits", ["prefill=0.6"])
    # the same prefill again is no change
    code, out, err = _cli("p", "--set", "prefill=0.6", "--add", "1=1")
    assert (code, out, err) == (0, "stored 1=1\n", "")
    for other in ("0.8", "0", "1"):
        code, out, err = _cli("p", "--set", f"prefill={other}", "--add", "2=2")
        assert (code, out, err) == (2, "", EXISTS)
    # nothing was stored by the refused calls, and the project keeps its prefill
    assert labeling.open_project("p").prefill == 0.6
    assert sorted(LabelStore().labels(labeling.open_project("p").id)) == [1]


def test_a_project_made_without_prefill_refuses_one_later():
    default = labeling.create_project("p", "digits").prefill
    other = "0.25" if default != 0.25 else "0.75"
    code, out, err = _cli("p", "--set", f"prefill={other}", "--add", "2=2")
    assert (code, out, err) == (2, "", EXISTS)


# ------------------------------------------------------------------ sweep
def test_a_failed_sweep_task_is_exit_code_1_not_bad_input(tmp_path, monkeypatch):
    from alsim.sweep import runner

    calls = []

    def failing(spec, out, **kwargs):
        calls.append((spec.strategies, spec.n_seeds, str(out)))
        raise runner.SweepTaskError("task 3 failed: boom")

    monkeypatch.setattr(runner, "run_sweep", failing)
    folder = tmp_path / "out"
    result = _cli_main("sweep", "--preset", "digits-compare", "--strategies", "entropy,random", "--seeds", "2",
                       "--workers", "1", "--out", str(folder))
    # exit code 1: a task failed (re-running resumes); 2 is kept for bad input
    message = "alsim: error: task 3 failed: boom; the cells finished before it are stored, re-run to resume\n"
    assert result == (1, "", message)
    assert calls == [(("entropy", "random"), 2, str(folder))]
    # bad input, for contrast, is exit code 2 and never reaches the runner
    code, out, err = _cli_main("sweep", "--preset", "digits-compare", "--seeds", "2", "--workers", "0",
                               "--out", str(folder))
    assert code == 2 and out == "" and err.startswith("alsim: error: --workers must be") and len(calls) == 1


# ------------------------------------------------------------------ data
def test_data_add_reads_the_named_label_and_image_columns(tmp_path):
    rows = [("img/0.png", "a"), ("img/1.png", "b"), ("img/2.png", "a"), ("img/3.png", "b"), ("img/4.png", "a")]
    (tmp_path / "img").mkdir()
    for i, (path, kind) in enumerate(rows):
        assert cv2.imwrite(str(tmp_path / path), class_image(0 if kind == "a" else 1, (16, 16), seed=i))
    table = tmp_path / "x.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "kind"])
        writer.writerows(rows)
    expected = Counter(kind for _, kind in rows)  # {"a": 3, "b": 2}

    code, out, err = _cli_main("data", "add", str(table), "--name", "kinds", "--label-column", "kind",
                               "--image-column", "file", "--side", "8")
    assert code == 0, err
    lines = out.splitlines()
    assert ": 5 images (0 unlabeled), 2 classes, features " in lines[0] and " kinds: " in lines[0]
    assert lines[1] == "  per class: a 3, b 2"
    entry = datastore.find(lines[0].split()[0])
    assert entry.name == "kinds"
    assert list(entry.manifest["class_names"]) == ["a", "b"]
    assert dict(entry.manifest["counts"]) == dict(expected)
    assert entry.manifest["n"] == len(rows)


# ------------------------------------------------------------------ run
@pytest.mark.parametrize("assignments, batch_size", [((), 3), (("--set", "batch_size=7"), 7)])
def test_set_is_applied_after_the_config_file(tmp_path, assignments, batch_size):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"batch_size": 3, "n_rounds": 2, "strategy": "margin"}))
    code, out, err = _cli_main("run", "--config", str(path), *assignments, "--json", "--no-baseline")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"]["batch_size"] == batch_size
    assert doc["config"]["strategy"] == "margin" and doc["config"]["n_rounds"] == 2
    initial = doc["config"]["n_initial"]
    assert [r["n_labeled"] for r in doc["rounds"]] == [initial, initial + batch_size]
    assert len(doc["rounds"][0]["queried"]) == batch_size
