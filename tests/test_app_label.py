"""AppTest tests of the Label page: create, label with the class buttons, undo, skip, accept, delete."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from apptest_helpers import APP, TIMEOUT, charts, messages, page_script
from streamlit.testing.v1 import AppTest
from test_labeling import _forget_memory_sources, memory_source  # noqa: F401 - the fixture cleans up

from alsim.dashboard.label_page import enlarge
from alsim.labeling import projects as labeling

LABEL = page_script("Label")


def _page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(LABEL)
    at.query_params.update(query or {})
    return at.run()


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, messages(at.error)
    return at


def _focused(at: AppTest) -> int:
    text = next(m.value for m in at.markdown if m.value.startswith("**Label image #"))
    return int(text.split("#", 1)[1].split("*", 1)[0])


def _unescaped(markdown: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def _labels(name: str = "demo") -> dict:
    project = labeling.open_project(name)
    return {item: row.label for item, row in project.store.labels(project.id).items()}


def test_a_project_is_created_from_the_form():
    at = _ok(_page())
    assert any("No labeling project yet" in text for text in messages(at.info))
    at.text_input(key="label_new_name").set_value("by hand")
    at.selectbox(key="label_new_dataset").set_value("digits")
    at.number_input(key="label_new_batch").set_value(6)
    at.button(key="label_create").click()
    _ok(at.run())
    assert [p.name for p in labeling.list_projects()] == ["by hand"]
    assert labeling.open_project("by hand").config.batch_size == 6
    assert at.selectbox(key="label_project").value == "by hand"
    assert len(at.get("image")) == 6


def test_a_bad_project_name_is_one_message():
    at = _ok(_page())
    at.text_input(key="label_new_name").set_value("../etc")
    at.button(key="label_create").click()
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "project name must be" in messages(at.error)[0]
    assert labeling.list_projects() == []


def test_two_batches_labeled_with_the_buttons_then_refit_curve_counts_and_truth():
    project = labeling.create_project("demo", "digits")
    truth = project.dataset.labels
    at = _ok(_page({"label_project": "demo"}))
    first = labeling.current_batch(project)
    assert len(at.get("image")) == 8 and at.subheader[0].value.startswith("Batch 1: 0 of 8")
    for _ in range(8):  # the focus moves on by itself after each label
        at.button(key=f"label_class_{int(truth[_focused(at)])}").click()
        _ok(at.run())
    assert _labels() == {item: int(truth[item]) for item in first.items}
    assert at.subheader[0].value.startswith("Batch 2: 0 of 8")
    second = labeling.current_batch(project)
    assert not set(second.items) & set(first.items)
    assert any(text.startswith("model: ") and "%" in text for text in messages(at.caption))
    for _ in range(8):
        at.button(key=f"label_class_{int(truth[_focused(at)])}").click()
        _ok(at.run())
    assert at.subheader[0].value.startswith("Batch 3")
    agreed = sum(g == truth[i] for i, g in zip(second.items, second.guesses))
    assert f"Batch 2 done; the model, fitted on 8 labels, had guessed {agreed} of its 8 labels" in " ".join(
        messages(at.caption))
    curve = charts(at)["label_curve"]
    assert curve["data"][0]["x"] == [8]  # batch 2's guesses, from a fit on 8 labels
    counts = at.dataframe[0].value
    assert counts["typed"].sum() == 16 and counts["accepted"].sum() == 0
    assert at.metric[0].value == "100.0%"


def test_skip_undo_accept_and_arrows():
    project = labeling.create_project("demo", "digits")
    at = _ok(_page({"label_project": "demo"}))
    batch = labeling.current_batch(project)
    assert _focused(at) == batch.items[0]
    at.button(key="label_move_right").click()
    assert _focused(_ok(at.run())) == batch.items[1]
    at.button(key="label_move_left").click()
    _ok(at.run())
    at.button(key="label_move_left").click()
    assert _focused(_ok(at.run())) == batch.items[-1]
    at.button(key="label_skip").click()
    _ok(at.run())
    assert _labels() == {batch.items[-1]: -1}
    at.button(key="label_class_2").click()
    _ok(at.run())
    assert _labels() == {batch.items[-1]: -1, batch.items[0]: 2}
    at.button(key="label_undo").click()
    _ok(at.run())
    assert _labels() == {batch.items[-1]: -1} and _focused(at) == batch.items[0]
    at.button(key="label_accept").click()  # no model yet: a notice, nothing stored
    _ok(at.run())
    assert any("no guess" in text for text in messages(at.warning))
    assert _labels() == {batch.items[-1]: -1}


def test_undo_in_one_browser_session_leaves_another_sessions_label():
    project = labeling.create_project("demo", "digits")
    first, second = _ok(_page({"label_project": "demo"})), _ok(_page({"label_project": "demo"}))
    batch = labeling.current_batch(project)
    first.button(key="label_class_3").click()  # both sessions go by the default name "annotator"
    _ok(first.run())
    second.button(key="label_class_4").click()  # its focus: the first image still unanswered
    _ok(second.run())
    assert _labels() == {batch.items[0]: 3, batch.items[1]: 4}
    first.button(key="label_undo").click()
    _ok(first.run())
    assert _labels() == {batch.items[1]: 4}
    first.button(key="label_undo").click()
    _ok(first.run())
    assert _labels() == {batch.items[1]: 4} and any("Nothing to undo" in text for text in messages(first.info))
    second.button(key="label_undo").click()
    _ok(second.run())
    assert _labels() == {}


def test_an_offered_guess_is_stored_as_an_accepted_suggestion():
    project = labeling.create_project("demo", "digits", ["prefill=0.0"])
    truth = project.dataset.labels
    for item in labeling.current_batch(project).items:
        labeling.add_label(project, item, int(truth[item]))
    at = _ok(_page({"label_project": "demo"}))
    batch = labeling.current_batch(project)
    at.button(key="label_take_0").click()
    _ok(at.run())
    row = project.store.labels(project.id)[batch.items[0]]
    assert (row.label, row.source) == (batch.guesses[0], "accepted")
    assert at.dataframe[0].value["accepted"].sum() == 1


def test_delete_asks_first():
    labeling.create_project("demo", "digits")
    at = _ok(_page({"label_project": "demo"}))
    at.button(key="label_delete").click()
    _ok(at.run())
    assert any("Delete project demo" in text for text in messages(at.warning))
    at.button(key="label_delete_no").click()
    _ok(at.run())
    assert [p.name for p in labeling.list_projects()] == ["demo"]
    at.button(key="label_delete").click()
    _ok(at.run())
    at.button(key="label_delete_yes").click()
    _ok(at.run())
    assert labeling.list_projects() == []
    assert any("Deleted project demo" in text for text in messages(at.success))


def test_a_project_whose_data_set_was_removed_offers_its_labels_for_download(tmp_path):
    from test_importers import write_image_folder

    from alsim.data import store as datastore

    entry = datastore.import_path(write_image_folder(tmp_path / "pets", per_class=4))
    project = labeling.create_project("demo", entry.id)
    labeling.add_label(project, 0, 1)
    labeling.remove_dataset(entry.id, force=True)
    at = _page({"label_project": "demo"})
    assert not at.exception
    assert len(at.error) == 1 and "no longer stored" in messages(at.error)[0]
    downloads = {element.proto.label for element in at.get("download_button")}
    assert downloads == {"Labels as CSV", "Labels as JSON"}
    at.button(key="label_delete").click()
    at.run()
    at.button(key="label_delete_yes").click()
    at.run()
    assert not at.exception and labeling.list_projects() == []


def test_class_names_with_control_characters_are_shown_escaped():
    from test_labeling import TRICKY_NAMES, _raw_controls

    project = labeling.create_project("demo", memory_source(TRICKY_NAMES), ["prefill=0.0"])
    truth = project.dataset.labels
    for item in labeling.current_batch(project).items:
        labeling.add_label(project, item, int(truth[item]))
    at = _ok(_page({"label_project": "demo"}))
    shown = [b.label for b in at.button] + [m.value for m in (*at.markdown, *at.caption)]
    shown += [str(value) for value in at.dataframe[0].value["class"]]
    assert not [text for text in shown if _raw_controls(text)]
    assert any("\\u202etac" in text for text in shown)  # the button (Markdown-escaped backslash)
    figure = charts(at)["label_confusion"]["data"][0]
    assert not _raw_controls("".join(figure["x"] + figure["y"]))


def test_an_unknown_project_in_the_url_is_named_in_a_notice():
    labeling.create_project("demo", "digits")
    at = _ok(_page({"label_project": "[x](http://evil)"}))
    notice = " ".join(messages(at.warning))
    assert "ignored URL parameter label_project=[x](http://evil): must be one of demo" in notice
    assert at.selectbox(key="label_project").value == "demo"


def test_a_corrupt_database_is_an_error_box_and_left_alone():
    path = Path(os.environ["ALSIM_HOME"]) / "labels.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database" * 200)
    at = _page()
    assert not at.exception
    assert len(at.error) == 1 and "unreadable" in messages(at.error)[0]
    assert path.read_bytes() == b"not a database" * 200


def test_class_buttons_store_the_class_they_show_with_digit_folder_names(tmp_path):
    """Folders 1/, 2/, 3/: the button showing 3 stores class 3 (it stored 2, and 3 could not be chosen)."""
    from test_importers import write_image_folder

    from alsim.data import store as datastore

    entry = datastore.import_path(write_image_folder(tmp_path / "digits", classes=("1", "2", "3")))
    project = labeling.create_project("demo", entry.id)
    assert project.class_names == ("1", "2", "3")
    at = _ok(_page({"label_project": "demo"}))
    batch = labeling.current_batch(project)
    for position, name in enumerate(project.class_names):
        button = at.button(key=f"label_class_{position}")
        assert button.label == name and button.proto.shortcut == name  # key 3 labels the class shown as 3
        button.click()
        _ok(at.run())
        row = project.store.labels(project.id)[batch.items[position]]
        assert project.class_names[row.label] == name
    assert any(text == "your label: 3" for text in messages(at.markdown))


@pytest.mark.parametrize("names", [("3", "1", "2"), ("b", "a", "c")])
def test_keys_are_positions_unless_every_class_is_named_by_one_digit(names):
    project = labeling.create_project("demo", memory_source(names))
    at = _ok(_page({"label_project": "demo"}))
    buttons = [at.button(key=f"label_class_{position}") for position in range(len(names))]
    shown = [(_unescaped(b.label), b.proto.shortcut) for b in buttons]
    if names[0].isdigit():  # one digit each: the key is the digit on the button
        assert shown == [(n, n) for n in names]
    else:
        assert shown == [(f"{i}: {n}", str(i)) for i, n in enumerate(names)]
    batch = labeling.current_batch(project)
    at.button(key="label_class_0").click()
    _ok(at.run())
    assert project.store.labels(project.id)[batch.items[0]].label == 0


def test_an_accepted_guess_is_the_class_guessed_with_digit_names():
    project = labeling.create_project("demo", memory_source(("2", "0", "1"), per_class=8), ["prefill=0.0"])
    truth = project.dataset.labels
    for item in labeling.current_batch(project).items:
        labeling.add_label(project, item, int(truth[item]))
    batch = labeling.current_batch(project)
    assert min(batch.guesses) >= 0 and len(set(batch.guesses)) > 1
    at = _ok(_page({"label_project": "demo"}))
    at.button(key="label_take_0").click()
    _ok(at.run())
    at.button(key="label_accept").click()  # the focus moved on to the next image
    _ok(at.run())
    stored = project.store.labels(project.id)
    assert [(stored[i].label, stored[i].source) for i in batch.items[:2]] == [(g, "accepted") for g in batch.guesses[:2]]


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (20, 30, 3)])
def test_enlarge_repeats_pixels(shape):
    import numpy as np

    image = np.arange(np.prod(shape)).reshape(shape) % 256
    big = enlarge(image.astype(np.uint8))
    scale = big.shape[0] // shape[0]
    assert scale >= 4 and big.shape[1] == shape[1] * scale
    assert (big[::scale, ::scale] == image).all()  # nearest neighbour: the original pixels, no blending


def test_label_studio_tasks_config_and_export_upload_on_the_page():
    import json

    from test_label_studio import EXPORT

    from alsim.dashboard.label_page import label_studio_tasks

    project = labeling.create_project("bugs", memory_source(("ant", "bee", "cat")), ["batch_size=4"])
    for item, label in ((0, 0), (6, 1)):
        labeling.add_label(project, item, label)
    at = _ok(_page({"label_project": "bugs"}))
    downloads = {element.proto.label for element in at.get("download_button")}
    assert {"Labeling config (XML)", "This batch as Label Studio tasks (tasks.json)"} <= downloads
    tasks = json.loads(label_studio_tasks("bugs"))
    assert [t["data"]["alsim_item"] for t in tasks] == list(labeling.current_batch(project).items)
    assert all(t["data"]["image"].startswith("data:image/png;base64,") and t["predictions"] for t in tasks)
    upload = next(w for w in at.get("file_uploader") if w.proto.id.endswith("label_import_ls_file"))
    upload.set_value(("export.json", json.dumps(EXPORT).encode(), "application/json"))
    at.button(key="label_import_ls").click()
    at.run()
    assert not at.exception and not at.error
    shown = messages(at.warning)  # a choice that is no class makes it a warning
    assert any("3 labels stored" in text and "'cow' (item 5)" in text for text in shown), shown
    assert {item: row.source for item, row in project.store.labels(project.id).items()} == {
        0: "typed", 6: "typed", 1: "label-studio", 2: "label-studio", 3: "label-studio"}
    assert any("3 from Label Studio" in m.value for m in at.markdown)


def test_the_new_project_picker_names_a_stored_set_by_its_name(tmp_path):
    from test_importers import write_image_folder

    from alsim.data import store as datastore

    entry = datastore.import_path(write_image_folder(tmp_path / "pets", per_class=4), name="my pets")
    at = _page({})
    picker = at.selectbox(key="label_new_dataset")
    assert f"my pets ({entry.id})" in picker.options and "digits" in picker.options
    picker.set_value(entry.id)
    at.run()
    assert not at.exception and at.selectbox(key="label_new_dataset").value == entry.id
