"""AppTest tests of the Data page: its import function, and the summary of a stored set."""

from __future__ import annotations

import numpy as np
import pytest
from apptest_helpers import APP, ROOT, TIMEOUT, messages, page_script, shown
from streamlit.testing.v1 import AppTest
from test_importers import npz_bytes, write_image_folder, zip_bytes, zip_folder

from alsim.dashboard.data_page import enlarged, import_upload, suggested_config
from alsim.data import store as datastore
from alsim.data.importers import ImportOptions
from alsim.evidence.ceiling import ceiling, probe_features


@pytest.fixture
def pets(tmp_path):
    folder = write_image_folder(tmp_path / "pets", per_class=10, unlabeled=3, sizes=((28, 28), (40, 30)))
    return zip_folder(folder, tmp_path / "pets.zip")


def test_import_upload_stores_a_zip(pets):
    entry, error = import_upload("pets.zip", pets.read_bytes(), options=ImportOptions())
    assert error is None and entry.manifest["counts"] == {"cat": 10, "dog": 10, "owl": 10}
    assert datastore.find(entry.id) == entry


@pytest.mark.parametrize("name, data, message", [
    ("x.zip", zip_bytes({"../a.png": b"x"}), "points outside"),
    ("x.npz", npz_bytes(X=np.eye(2), y=np.array([0])), "X has 2 rows but y has 1 labels"),
    ("x.csv", b"label,a\n[link](http://evil),x\n", "not numeric"),
    ("x.exe", b"MZ", "unsupported file type"),
])
def test_import_upload_bad_files_give_one_message(name, data, message):
    entry, error = import_upload(name, data)
    assert entry is None and message in error and "\n" not in error
    assert datastore.list_sets() == []


def test_import_upload_says_when_it_waits_for_another_import(pets):
    import threading

    waited, results = threading.Event(), []
    with datastore._IMPORT_LOCK:  # another session's import is running
        upload = threading.Thread(target=lambda: results.append(
            import_upload("pets.zip", pets.read_bytes(), on_wait=waited.set)))
        upload.start()
        assert waited.wait(30)
        assert upload.is_alive() and not results  # told, and waiting
    upload.join(60)
    (entry, error), = results
    assert error is None and entry is not None


def _data_page(dataset: str) -> AppTest:
    """The page as a shared link opens it: a new session whose URL names the data set."""
    at = AppTest.from_file(str(ROOT / "pages" / "3_Data.py"), default_timeout=TIMEOUT)
    at.query_params["dataset"] = dataset
    return at.run()


def test_page_is_reached_from_the_app():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page_script("Data")).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Your data" and at.selectbox(key="dataset").value == "digits-tutorial"


def test_page_renders_a_stored_set(pets):
    entry = datastore.import_path(pets, name="pets & <friends>")
    at = _data_page(entry.id)
    assert not at.exception and not at.error
    assert at.selectbox(key="dataset").value == entry.id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Points": "33", "Classes": "3", "Unlabeled": "3", "Image size": "28x28"}
    assert any("2 sizes, from 28x28 to 40x30 resized to 28x28" in w for w in messages(at.warning))
    counts = at.dataframe[0].value
    assert counts["class"].tolist() == ["cat", "dog", "owl"] and counts["images"].tolist() == [10, 10, 10]
    assert "pets & <friends>" in [shown(s) for s in at.subheader]  # a name is shown as typed, never as HTML
    rows = at.image
    assert [len(r.value) for r in rows] == [8, 8, 8, 3]  # a row per class, then the unlabeled images
    link = next(m.value for m in at.markdown if "Run the live loop" in m.value)
    assert f"./?dataset={entry.id}&features=hog&model=label_spreading&kernel=knn" in link
    assert "initial=stratified&n_initial=6&batch_size=5" in link


def test_page_summarises_a_built_in_set():
    at = _data_page("digits")
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Points"] == "1,797"


def test_enlarged_keeps_colour():
    rgb = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    big = enlarged(rgb, size=8)
    assert big.shape == (8, 8, 3) and (big[:4, :4] == rgb[0, 0]).all()
    assert enlarged(np.full((8, 8), 16.0)).max() == 255  # digits' 0..16 scale


def test_class_names_with_control_characters_are_shown_escaped():
    import unicodedata

    names = np.array(["\x1b[2J\x1b[31mred", "\u202etac", "plain"])
    images = (np.arange(9 * 64).reshape(9, 8, 8) % 256).astype(np.uint8)
    entry = datastore.import_bytes("tricky.npz", npz_bytes(X=np.eye(9), y=np.arange(9) % 3, images=images,
                                                          class_names=names))
    at = _data_page(entry.id)
    assert not at.exception and not at.error
    shown = [c.value for c in at.caption] + [str(v) for v in at.dataframe[0].value["class"]]
    assert not [ch for text in shown for ch in text if unicodedata.category(ch) in ("Cc", "Cf")]
    assert "\\u202etac" in list(at.dataframe[0].value["class"])


def test_measuring_the_feature_kinds_suggests_the_best_beside_its_ceiling(monkeypatch):
    monkeypatch.setattr("alsim.evidence.ceiling.PROBE_POINTS", 300)  # a small sample keeps the embedding short
    at = _data_page("digits")
    assert len(at.dataframe) == 1  # only the class counts before a click
    # the button names the kinds it measures: not 'onnx', which needs the user's own model file
    assert at.button(key="data_probe").label == "Measure each feature kind (raw, hog, colorhist, pretrained)"
    at.button(key="data_probe").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[1].value
    probes = probe_features("digits")
    best = max(probes, key=lambda p: p.accuracy).features
    assert table["features"].tolist() == ["raw", "hog", "colorhist", "pretrained"]
    assert table["accuracy (3-fold)"].tolist() == [p.accuracy for p in probes]
    top = max(probes, key=lambda p: p.accuracy)
    assert any(f"Suggested: **{best}**" in m.value and f"on the {top.n:,} labeled images it measured" in m.value
               for m in at.markdown)
    reach = ceiling(suggested_config("digits", None, best))
    assert reach.warning is None and f"**{reach.sentence()}**" in [m.value for m in at.markdown]
    link = next(m.value for m in at.markdown if "Run the live loop" in m.value)
    assert f"./?dataset=digits&features={best}" in link


def test_features_that_cannot_tell_the_classes_apart_are_said_to_be_near_chance():
    """An imported set of random embeddings: the probe and the ceiling both stay near chance."""
    rng = np.random.default_rng(0)
    labels = rng.choice(4, 300, p=(0.7, 0.1, 0.1, 0.1))
    entry = datastore.import_bytes("noise.npz", npz_bytes(X=rng.normal(size=(300, 16)), y=labels))
    at = _data_page(entry.id)
    at.button(key="data_probe").click().run()
    assert not at.exception and not at.error
    reach = ceiling(suggested_config(entry.id, entry, "precomputed"))
    shown_warnings = messages(at.warning)
    assert reach.warning in shown_warnings
    assert any(text.startswith("No feature kind separates the classes") for text in shown_warnings)
    assert reach.chance == pytest.approx(np.bincount(labels).max() / len(labels))
    assert f"**{reach.sentence()}**" in [m.value for m in at.markdown]
    assert not at.success


def test_the_command_line_beside_the_links_runs_the_same_settings(pets, capsys):
    import shlex

    from alsim.cli.main import main
    from alsim.dashboard.data_page import compare_command
    from alsim.loop.presets import default_config

    entry = datastore.import_path(pets)
    suited = default_config(entry.id).features
    assert compare_command(entry.id, entry, suited) == (f"python -m alsim compare --data {entry.id} "
                                                        "--strategies entropy,margin,random --seeds 6")
    other = "colorhist" if suited != "colorhist" else "raw"
    assert f"--data {entry.id} --set features={other} " in compare_command(entry.id, entry, other)
    # A built-in set: the model whose ceiling the page shows, with random initial labels; the command runs.
    command = compare_command("digits", None, "hog")
    assert "--set dataset=digits --set initial=random --set features=hog --set model=label_spreading" in command
    argv = shlex.split(command)[3:]
    argv[argv.index("--seeds") + 1] = "2"
    assert main(argv + ["--set", "pool_size=300", "--set", "n_rounds=3"]) == 0
