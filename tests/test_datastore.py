"""The local data store: content-addressed, atomic, registered as data sources; the CLI on top of it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_FASHION, real_fashion
from test_importers import class_image, npz_bytes, write_image_folder, zip_bytes, zip_folder

from alsim import Config
from alsim.cli.main import main
from alsim.common.errors import ConfigError, DataError
from alsim.data import store as datastore
from alsim.data.datasets import FASHION_CLASSES, read_idx
from alsim.data.importers import read_path
from alsim.data.sources import source_info, source_names
from alsim.loop.presets import default_config


@pytest.fixture
def pets(tmp_path) -> Path:
    return zip_folder(write_image_folder(tmp_path / "pets", per_class=10, unlabeled=5), tmp_path / "pets.zip")


def test_add_list_find_load(pets):
    entry = datastore.import_path(pets, name="my pets")
    assert entry.id == entry.content_key[:12] and entry.path.parent == datastore.store_dir()
    m = entry.manifest
    assert m["name"] == "my pets" and m["counts"] == {"cat": 10, "dog": 10, "owl": 10} and m["n_unlabeled"] == 5
    assert m["image_shape"] == [28, 28] and m["features"] == ["raw", "hog", "colorhist", "pretrained", "onnx"] and m["source_file"] == str(pets)
    assert [e.id for e in datastore.list_sets()] == [entry.id]
    assert datastore.find("my pets") == datastore.find(entry.id) == entry
    data = entry.load()
    assert data.content_key == entry.content_key and data.name == entry.id
    assert sorted(p.name for p in entry.path.iterdir()) == ["display_images.npy", "display_sizes.npy",
                                                            "file_names.json", "images.npy", "labels.npy",
                                                            "manifest.json"]


def test_a_name_two_sets_share_is_refused_and_ids_still_work(pets, tmp_path):
    first = datastore.import_path(pets, name="pets")
    other = write_image_folder(tmp_path / "other", classes=("ant", "bee"), per_class=4)
    second = datastore.import_path(other, name="pets")
    assert first.id != second.id
    with pytest.raises(DataError, match=f"2 stored data sets are named 'pets'; use an id: .*{second.id}"):
        datastore.find("pets")
    assert datastore.find(first.id) == first and datastore.find(second.id) == second


def test_same_content_is_stored_once(pets, tmp_path):
    first = datastore.import_path(pets, name="a")
    second = datastore.import_path(pets.parent / "pets", name="b")  # the folder itself: same arrays
    assert second == first and len(datastore.list_sets()) == 1


def test_stored_sets_are_sources_and_configs(pets):
    entry = datastore.import_path(pets)
    assert entry.id in source_names()
    info = source_info(entry.id)
    assert info.features == ("raw", "hog", "colorhist", "pretrained", "onnx") and info.labels == "partial" and "pets" in info.description
    config = Config(dataset=entry.id, features="hog", n_initial=6, initial="stratified")
    from alsim.loop.run import run_loop

    rounds = list(run_loop(config.replace(model="label_spreading", kernel="knn", n_neighbors=5, n_rounds=2)))
    assert rounds[-1].n_labeled == 11
    with pytest.raises(ConfigError, match="features 'precomputed' is not available"):
        Config(dataset=entry.id, features="precomputed")
    datastore.remove(entry.id)
    assert entry.id not in source_names()


def test_a_class_too_small_for_stratified_labels_is_named(tmp_path):
    folder = write_image_folder(tmp_path / "f", classes=("big", "tiny"), per_class=6)
    for path in sorted((folder / "tiny").iterdir())[1:]:
        path.unlink()
    entry = datastore.import_path(folder)
    from alsim.loop.pool import check_feasible, prepare

    config = Config(dataset=entry.id, initial="stratified", n_initial=4, batch_size=1, n_rounds=2)
    with pytest.raises(ConfigError, match="needs 2 points of every class, the smallest class has 1 \\(class 'tiny'\\)"):
        check_feasible(config, prepare(config))


def test_a_failed_import_leaves_nothing(pets, monkeypatch):
    calls = []

    def failing_save(path, values):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_save(path, values)

    real_save = datastore._save
    monkeypatch.setattr(datastore, "_save", failing_save)
    with pytest.raises(DataError, match=r"No space left on device\); nothing was stored"):
        datastore.import_path(pets)
    assert list(datastore.store_dir().iterdir()) == []


def test_an_interrupted_import_leaves_nothing(pets, monkeypatch):
    def interrupted(path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(datastore, "_save_bytes", interrupted)  # the manifest, written last
    with pytest.raises(KeyboardInterrupt):
        datastore.import_path(pets)
    assert list(datastore.store_dir().iterdir()) == [] and datastore.list_sets() == []


def test_a_changed_entry_is_refused_on_load(pets):
    entry = datastore.import_path(pets)
    labels = np.load(entry.path / "labels.npy")
    labels[0] = 1 - labels[0] if labels[0] in (0, 1) else 0
    np.save(entry.path / "labels.npy", labels)
    with pytest.raises(DataError, match="has changed since it was imported"):
        datastore.load_stored(entry)


def test_a_damaged_manifest_is_named_and_repaired_by_importing_again_or_removed(pets, capsys):
    """An entry whose manifest.json cannot be read is not silently gone: it is listed as damaged,
    a run naming it says so and how to recover, importing the same data repairs it, and it can be
    removed."""
    entry = datastore.import_path(pets, name="pets")
    (entry.path / "manifest.json").write_text("{bad")
    assert datastore.list_sets() == [] and datastore.damaged_sets() == [entry.path]
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{entry.id}  damaged: its manifest cannot be read") and "no data sets" not in out
    assert main(["run", "--data", entry.id, "--set", "n_rounds=2"]) == 2
    err = capsys.readouterr().err
    assert err == (f"alsim: error: stored data set '{entry.id}' is damaged (its manifest.json cannot be read): import "
                   f"the same data again to repair it, or remove it with `python -m alsim data remove {entry.id}`\n")
    repaired = datastore.import_path(pets, name="pets")
    assert repaired.content_key == entry.content_key and datastore.list_sets() == [repaired]
    assert datastore.damaged_sets() == [] and repaired.load().content_key == entry.content_key
    (entry.path / "manifest.json").write_text("{bad")
    assert main(["data", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["damaged"] == [str(entry.path)]
    assert main(["data", "remove", entry.id]) == 0
    assert capsys.readouterr().out == f"removed {entry.id}  damaged\n"
    assert not entry.path.exists() and datastore.damaged_sets() == []


def test_a_damaged_set_that_a_labeling_project_uses_needs_force_to_go(pets, capsys):
    """As for a readable set: its projects' labels stay exportable, but removing it is asked for."""
    from alsim.labeling import projects as labeling

    entry = datastore.import_path(pets, name="pets")
    labeling.create_project("on-pets", entry.id, ["n_neighbors=3"])
    (entry.path / "manifest.json").write_text("{bad")
    assert main(["data", "remove", entry.id]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"alsim: error: data set {entry.id} (damaged) has labeling projects on-pets: delete them")
    assert entry.path.exists()
    assert main(["data", "remove", entry.id, "--force"]) == 0 and not entry.path.exists()


def test_default_config_suits_the_data(pets):
    entry = datastore.import_path(pets)
    config = default_config(entry.id)
    assert (config.dataset, config.features, config.model, config.kernel) == (entry.id, "hog", "label_spreading", "knn")
    assert config.initial == "stratified" and config.n_initial == 6 and config.evaluation == "pool"


# --------------------------------------------------------------------------- command line
def test_cli_data_add_list_and_run(pets, capsys):
    assert main(["data", "add", str(pets), "--name", "pets"]) == 0
    out = capsys.readouterr().out
    entry = datastore.list_sets()[0]
    assert out.startswith(f"{entry.id}  pets: 35 images (5 unlabeled), 3 classes")
    assert main(["data", "list"]) == 0 and entry.id in capsys.readouterr().out
    assert main(["data", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["datasets"][0]["id"] == entry.id
    assert main(["run", "--data", str(pets), "--set", "n_rounds=3", "--json", "--no-baseline"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["dataset"] == entry.id and len(doc["rounds"]) == 3
    assert main(["compare", "--data", entry.id, "--strategies", "entropy,random", "--seeds", "2",
                 "--set", "n_rounds=3"]) == 0
    assert "saved" in capsys.readouterr().out


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "escape.zip": zip_bytes({"cat/a.png": b"x", "../b.png": b"y"}),
        "bomb.zip": zip_bytes({"cat/a.png": b"\0" * (20 << 20)}),
        "one-class.zip": zip_bytes({"cat/a.png": zip_bytes({})}),
        "nan.npz": npz_bytes(X=np.array([[1.0], [np.nan]]), y=np.array([0, 1])),
        "mismatch.npz": npz_bytes(X=np.eye(3), y=np.array([0, 1])),
        "text.csv": b"label,a\ncat,x\n",
        "not-a-zip.zip": b"hello",
        "notes.txt": b"hello",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files} | {"missing.zip": tmp_path / "missing.zip"}


def test_every_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for name, path in _bad_inputs(tmp_path).items():
        for argv in (["data", "add", str(path)], ["run", "--data", str(path)]):
            assert main(argv) == 2, name
            captured = capsys.readouterr()
            assert captured.out == "" and captured.err.startswith("alsim: error: "), name
            assert captured.err.count("\n") == 1, (name, captured.err)
    assert datastore.list_sets() == []
    assert main(["run", "--data", "no-such-id"]) == 2
    assert "no stored data set 'no-such-id'" in capsys.readouterr().err
    assert main(["data", "add", str(tmp_path), "--side", "3"]) == 2
    assert "side must be an integer in [4, 512], got 3" in capsys.readouterr().err


# --------------------------------------------------------------------------- the measurement on real images
def _fashion_png_zip(folder: Path) -> Path:
    """Fashion-MNIST test images, 300 per class, written as PNG files in class folders and zipped."""
    import cv2

    images = read_idx(REAL_FASHION / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(REAL_FASHION / "t10k-labels-idx1-ubyte.gz")
    root = folder / "fashion-png"
    for c, name in enumerate(FASHION_CLASSES):
        (root / name.replace("/", "-")).mkdir(parents=True)
        for i in np.flatnonzero(labels == c)[:300]:
            cv2.imwrite(str(root / name.replace("/", "-") / f"{i:05d}.png"), images[i])
    return zip_folder(root, folder / "fashion-png.zip", prefix="fashion-png/")


@real_fashion
def test_fashion_pngs_import_and_compare(tmp_path, capsys, monkeypatch):
    """3,000 PNGs imported; their HOG features computed once, then read from the disk cache (never
    recomputed: checked by making a recomputation fail, not by a clock); then compared."""
    archive = _fashion_png_zip(tmp_path)
    entry = datastore.import_path(archive)
    assert entry.manifest["n"] == 3000 and set(entry.manifest["counts"].values()) == {300}
    from alsim.learn import features as feat
    from alsim.loop.pool import prepare
    from alsim.storage.memory import shared_cache

    config = default_config(entry.id)
    first = prepare(config).features  # computes HOG once and writes it to the disk cache
    for name in ("prepared", "datasets"):
        shared_cache(name).clear()

    def recomputed(*args, **kwargs):
        raise AssertionError("HOG recomputed although cached")

    with monkeypatch.context() as patch:
        patch.setattr(feat, "hog_features", recomputed)
        np.testing.assert_array_equal(prepare(config).features, first)
    assert main(["compare", "--data", str(archive), "--strategies", "entropy,random", "--seeds", "5"]) == 0
    out = capsys.readouterr().out
    assert "saved" in out and "entropy" in out


@pytest.mark.parametrize("side", [32, 30, 8])
def test_hog_is_parametrised_for_the_stored_side(tmp_path, side):
    from alsim.data.importers import ImportOptions
    from alsim.learn.features import HOG_PARAMS, hog_params
    from alsim.loop.pool import prepare

    assert hog_params(28) == HOG_PARAMS
    entry = datastore.import_path(write_image_folder(tmp_path / "f"), options=ImportOptions(side=side))
    features = ("raw", "hog", "colorhist", "pretrained", "onnx")  # any images: HOG resizes to a side it tiles
    assert entry.features == features and source_info(entry.id).features == features
    prepared = prepare(Config(dataset=entry.id, features="hog", n_initial=6))
    assert prepared.features.shape == (18, 324) and np.isfinite(prepared.features).all()


def test_imports_run_one_at_a_time_and_a_waiting_caller_is_told(monkeypatch):
    import threading

    from alsim.data.importers import read_bytes

    started, release = threading.Event(), threading.Event()
    order = []

    def slow_read(filename, data, options=None):
        order.append(f"start {filename}")
        if filename == "first.zip":
            started.set()
            assert release.wait(30)
        order.append(f"end {filename}")
        return read_bytes(filename, data, options)

    monkeypatch.setattr(datastore, "read_bytes", slow_read)
    data = {name: zip_bytes({f"{c}/{i}.png": cv2_png(class_image(k, seed=i + len(name)))
                             for k, c in enumerate(("cat", "dog")) for i in range(3)})
            for name in ("first.zip", "second.zip")}
    first = threading.Thread(target=lambda: datastore.import_bytes("first.zip", data["first.zip"]))
    first.start()
    assert started.wait(30)
    waited = []
    second = threading.Thread(target=lambda: datastore.import_bytes(
        "second.zip", data["second.zip"], on_wait=lambda: waited.append(order.copy())))
    second.start()
    deadline = time.monotonic() + 60  # wait for the second call to reach the lock, however busy the machine
    while not waited and time.monotonic() < deadline:
        time.sleep(0.01)
    assert second.is_alive() and waited == [["start first.zip"]]  # told, and waiting for the first to finish
    release.set()
    first.join(30), second.join(30)
    assert order == ["start first.zip", "end first.zip", "start second.zip", "end second.zip"]
    assert len(datastore.list_sets()) == 2


def cv2_png(image) -> bytes:
    import cv2

    return cv2.imencode(".png", image)[1].tobytes()


def test_display_images_and_file_names_survive_the_store(tmp_path):
    folder = write_image_folder(tmp_path / "wide", per_class=3, sizes=((48, 64),), colour=True)
    imported = read_path(folder)
    entry = datastore.add(imported)
    data = datastore.find(entry.id).load()
    assert data.file_names == imported.dataset.file_names and data.file_names[0] == "cat/000.png"
    np.testing.assert_array_equal(data.display_images, imported.dataset.display_images)
    assert data.display_image(4).shape == (96, 128, 3) and not data.display_images.flags.writeable
    assert datastore.read_file_names(entry) == data.file_names


def test_a_set_stored_before_display_images_and_file_names_still_loads(tmp_path):
    entry = datastore.add(read_path(write_image_folder(tmp_path / "wide", per_class=3, sizes=((48, 64),))))
    for name in ("display_images.npy", "display_sizes.npy", "file_names.json"):
        (entry.path / name).unlink()
    data = datastore.find(entry.id).load()
    assert data.content_key == entry.content_key
    assert data.display_images is None and data.file_names is None and datastore.read_file_names(entry) is None
    np.testing.assert_array_equal(data.display_image(2), data.images[2])  # the feature-size image instead


def test_display_images_that_do_not_fit_the_set_are_left_out(tmp_path):
    entry = datastore.add(read_path(write_image_folder(tmp_path / "wide", per_class=3, sizes=((48, 64),))))
    np.save(entry.path / "display_sizes.npy", np.full((9, 2), 500, dtype=np.int32))
    (entry.path / "file_names.json").write_text(json.dumps(["a.png"]))
    data = datastore.find(entry.id).load()
    assert data.display_images is None and data.file_names is None


def test_a_pools_display_image_is_its_data_set_rows(tmp_path):
    from alsim.loop.pool import prepare

    entry = datastore.add(read_path(write_image_folder(tmp_path / "wide", per_class=4, sizes=((48, 64),), colour=True)))
    prepared = prepare(Config(dataset=entry.id, pool_size=5))
    data = prepared.dataset
    for i, row in enumerate(prepared.pool_ids):
        np.testing.assert_array_equal(prepared.display_image(i), data.display_image(row))
    assert prepared.display_image(0).shape == (96, 128, 3)


def test_memory_mapped_display_images_do_not_count_against_the_memory_caches(tmp_path):
    from alsim.storage.memory import nbytes_of

    entry = datastore.add(read_path(write_image_folder(tmp_path / "wide", per_class=3, sizes=((48, 64),), colour=True)))
    data = entry.load()
    assert isinstance(data.display_images, np.memmap)
    assert nbytes_of(data) == data.images.nbytes + data.labels.nbytes + data.display_sizes.nbytes


def test_importing_a_set_stored_before_display_images_again_adds_them(tmp_path):
    folder = write_image_folder(tmp_path / "wide", per_class=3, sizes=((48, 64),), colour=True)
    entry = datastore.add(read_path(folder))
    for name in ("display_images.npy", "display_sizes.npy", "file_names.json"):
        (entry.path / name).unlink()
    assert datastore.add(read_path(folder)) == entry
    data = entry.load()
    assert data.display_image(0).shape == (96, 128, 3) and data.file_names[0] == "cat/000.png"
    assert not [p.name for p in entry.path.iterdir() if p.name.startswith(".")]
