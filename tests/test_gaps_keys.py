"""Every persisted or shared key changes when anything it stands for changes, and only then.

For each key, each input it stands for is varied one at a time and the key must change;
inputs it must not depend on are varied too and the key must stay. Keys covered: the data
set's content key (the data store's id is its first 12 hex digits), the HOG feature cache's
file name, the knn neighbour lists' file name, the prepared pool's key and the spreading
graph's key, and a sweep cell's config hash.
"""

from __future__ import annotations

import itertools
from dataclasses import fields, replace

import numpy as np
import pytest

import alsim.learn.features as features_module
import alsim.sweep.grid as grid
from alsim import Config
from alsim.data.datasets import Dataset
from alsim.learn.features import _cache_key
from alsim.learn.graph import _neighbour_path, build_graph, predict_new, spread
from alsim.loop.pool import data_key, graph_key, kernel_key, prepare
from alsim.strategies.params import legacy_names


def _all_distinct(keys: dict) -> None:
    """Every variant has its own key: name the pairs that collide."""
    same = [(a, b) for a, b in itertools.combinations(keys, 2) if keys[a] == keys[b]]
    assert not same, f"equal keys for {same}"


# --------------------------------------------------------------------------- the data's content key
def _dataset(**changes) -> Dataset:
    rng = np.random.default_rng(0)
    base = dict(name="pets", images=rng.integers(0, 256, size=(6, 4, 4), dtype=np.uint8),
                labels=np.array([0, 1, 0, 1, -1, 1]), class_names=("cat", "dog"),
                test_images=rng.integers(0, 256, size=(2, 4, 4), dtype=np.uint8), test_labels=np.array([0, 1]),
                source="/data/pets", embeddings=rng.normal(size=(6, 3)), test_embeddings=rng.normal(size=(2, 3)))
    return Dataset(**{**base, **changes})


def _changed(array, index=0, delta=1):
    out = np.array(array, copy=True)
    out.flat[index] = out.flat[index] + delta
    return out


def test_the_content_key_changes_with_every_part_of_the_data():
    d = _dataset()
    variants = {
        "as is": d,
        "one pixel": _dataset(images=_changed(d.images, 7)),
        "image dtype": _dataset(images=d.images.astype(np.int16)),
        "image shape": _dataset(images=d.images.reshape(6, 2, 8)),
        "no images": _dataset(images=None),
        "one label": _dataset(labels=_changed(d.labels, 4)),
        "a class name": _dataset(class_names=("cat", "dogs")),
        "class order": _dataset(class_names=("dog", "cat")),
        "one test pixel": _dataset(test_images=_changed(d.test_images)),
        "one test label": _dataset(test_labels=_changed(d.test_labels, 1, -1)),
        "no test split": _dataset(test_images=None, test_labels=None),
        "one embedding": _dataset(embeddings=_changed(d.embeddings, 5, 1e-9)),
        "no embeddings": _dataset(embeddings=None),
        "one test embedding": _dataset(test_embeddings=_changed(d.test_embeddings, 0, 1e-9)),
        # the same arrays in other slots: position matters
        "embeddings as the test split's": _dataset(embeddings=None, test_embeddings=d.embeddings),
        "embeddings, no test embeddings": _dataset(test_embeddings=None),
        "test arrays as pool arrays": _dataset(images=d.test_images, labels=d.test_labels, test_images=d.images,
                                               test_labels=d.labels),
    }
    keys = {name: v.content_key for name, v in variants.items()}
    _all_distinct(keys)
    stored_ids = {name: key[:12] for name, key in keys.items()}  # the data store's short id
    _all_distinct(stored_ids)


def test_the_content_key_ignores_the_name_the_source_and_array_memory_layout():
    d = _dataset()
    same = [_dataset(name="other"), _dataset(source="/elsewhere/pets.zip"),
            _dataset(images=np.asfortranarray(d.images)), _dataset(embeddings=d.embeddings.copy())]
    assert {v.content_key for v in same} == {d.content_key}


def test_the_data_store_files_the_same_data_once_and_other_data_apart(tmp_path, monkeypatch):
    from alsim.data import store as datastore
    from alsim.data.importers import Imported

    monkeypatch.setenv("ALSIM_HOME", str(tmp_path))
    d = _dataset(embeddings=None, test_embeddings=None, test_images=None, test_labels=None)
    first = datastore.add(Imported(d, "folder", "/a/pets"), name="pets")
    again = datastore.add(Imported(replace(d, name="again", source="/b/pets.zip"), "zip", "/b/pets.zip"), name="x")
    other = datastore.add(Imported(replace(d, labels=_changed(d.labels, 4)), "folder", "/a/pets"), name="pets")
    assert again.id == first.id and other.id != first.id
    assert len(datastore.list_sets()) == 2


def test_class_names_that_join_to_the_same_text_are_different_data(tmp_path, monkeypatch):
    import io

    from alsim.data import store as datastore
    from alsim.data.importers import read_bytes

    monkeypatch.setenv("ALSIM_HOME", str(tmp_path))
    x, y = np.random.default_rng(3).normal(size=(6, 2)), np.array([0, 1, 0, 1, 0, 1])

    def npz(names):
        buffer = io.BytesIO()
        np.savez(buffer, X=x, y=y, class_names=np.array(names))
        return buffer.getvalue()

    first = datastore.add(read_bytes("first.npz", npz(["a\x1fb", "c"])), name="first")
    second = datastore.add(read_bytes("second.npz", npz(["a", "b\x1fc"])), name="second")
    assert second.id != first.id  # fails: the second import is taken for the first and keeps its class names


# --------------------------------------------------------------------------- the HOG feature cache
def test_the_feature_cache_key_changes_with_data_kind_split_version_and_descriptor(monkeypatch):
    d = _dataset()
    keys = {
        "as is": _cache_key(d, "hog", "pool"),
        "one pixel": _cache_key(_dataset(images=_changed(d.images, 3)), "hog", "pool"),
        "one test pixel": _cache_key(_dataset(test_images=_changed(d.test_images, 3)), "hog", "pool"),
        "kind": _cache_key(d, "raw", "pool"),
        "split": _cache_key(d, "hog", "test"),
    }
    monkeypatch.setattr(features_module, "HOG_VERSION", "hog-v2")
    keys["version"] = _cache_key(d, "hog", "pool")
    monkeypatch.undo()
    for name, value in [("_nbins", 12), ("_cellSize", (4, 4)), ("_L2HysThreshold", 0.3), ("_signedGradient", False)]:
        monkeypatch.setitem(features_module.HOG_PARAMS, name, value)
        keys[f"descriptor {name}"] = _cache_key(d, "hog", "pool")
        monkeypatch.undo()
    _all_distinct(keys)
    assert _cache_key(d, "hog", "pool") == keys["as is"]  # every patch undone


def test_the_feature_cache_key_ignores_where_the_data_came_from():
    d = _dataset()
    assert _cache_key(_dataset(source="/somewhere/else"), "hog", "pool") == _cache_key(d, "hog", "pool")


# --------------------------------------------------------------------------- knn neighbour lists on disk
def test_the_neighbour_file_changes_with_values_k_shape_dtype_and_purpose():
    x = np.random.default_rng(1).normal(size=(20, 6))
    keys = {
        "as is": _neighbour_path(x, 5, "pool"),
        "one value": _neighbour_path(_changed(x, 17, 1e-12), 5, "pool"),
        "k": _neighbour_path(x, 6, "pool"),
        "same bytes, other shape": _neighbour_path(x.reshape(40, 3), 5, "pool"),
        "float32": _neighbour_path(x.astype(np.float32), 5, "pool"),
        "a query set": _neighbour_path(x, 5, "query-abc"),
    }
    _all_distinct(keys)
    assert _neighbour_path(x.copy(), 5, "pool") == keys["as is"]


def test_a_query_sets_neighbour_file_belongs_to_its_pool(tmp_path, monkeypatch):
    """The same test points against two pools: two neighbour files, each pool's own answer."""
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(2)
    pool_a, pool_b, query = rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + 3.0, rng.normal(size=(15, 4))
    y = np.tile([0, 1, 2], 20)
    y[3:] = -1
    answers = []
    for pool in (pool_a, pool_b):
        graph = build_graph(pool, "knn", n_neighbors=5, cache=True)
        dist, _ = spread(graph, y, 3)
        answers.append(predict_new(graph, dist[0], query))
    assert len(list((tmp_path / "graphs").glob("knn-query-*.npy"))) == 2
    again = build_graph(pool_b, "knn", n_neighbors=5, cache=True)  # reads pool b's files
    np.testing.assert_array_equal(predict_new(again, spread(again, y, 3)[0][0], query), answers[1])


# --------------------------------------------------------------------------- prepared pools and graphs
POOL_BASE = Config(dataset="digits")
POOL_INPUTS = {"dataset": "digits-tutorial", "pool_size": 500, "features": "colorhist", "pca_components": 8,
               "standardize": True, "imbalance": 10.0}
NOT_POOL_INPUTS = {"seed": 3, "strategy": "margin", "n_initial": 20, "batch_size": 7, "n_rounds": 2,
                   "initial": "random", "model": "logistic_regression", "kernel": "knn", "gamma": 0.5, "alpha": 0.4,
                   "max_iter": 50, "tol": 1e-5, "n_neighbors": 11, "oracle_noise": 0.2,
                   "oracle_noise_model": "difficulty", "annotators": 3, "relabel": True,
                   "flag_label_errors": True, "metric": "balanced_accuracy", "class_balanced": True,
                   "cost": "difficulty"}


def test_the_pool_key_changes_with_data_pool_size_features_and_transform():
    keys = {"as is": data_key(POOL_BASE)}
    for name, value in POOL_INPUTS.items():
        keys[name] = data_key(POOL_BASE.replace(**{name: value}))
    _all_distinct(keys)


@pytest.mark.parametrize("name", sorted(NOT_POOL_INPUTS))
def test_the_pool_key_ignores_what_the_pool_does_not_depend_on(name):
    assert data_key(POOL_BASE.replace(**{name: NOT_POOL_INPUTS[name]})) == data_key(POOL_BASE)


def test_a_prepared_pool_is_filed_under_the_pool_key():
    for config in (POOL_BASE, POOL_BASE.replace(pool_size=300, standardize=True),
                   POOL_BASE.replace(dataset="digits-tutorial", pca_components=5)):
        assert prepare(config).key == data_key(config)


def test_the_graph_key_follows_the_kernel_settings_that_kernel_uses():
    rbf, knn = POOL_BASE, POOL_BASE.replace(kernel="knn")
    _all_distinct({"rbf": graph_key(rbf), "rbf gamma": graph_key(rbf.replace(gamma=0.5)), "knn": graph_key(knn),
                   "knn k": graph_key(knn.replace(n_neighbors=11)),
                   "other pool": graph_key(rbf.replace(pool_size=500))})
    assert kernel_key(rbf.replace(n_neighbors=11)) == kernel_key(rbf)  # rbf has no neighbours
    assert kernel_key(knn.replace(gamma=0.5)) == kernel_key(knn)  # knn has no gamma
    assert graph_key(rbf.replace(seed=4, strategy="margin", alpha=0.5)) == graph_key(rbf)


def test_sweep_batches_cells_only_when_they_share_a_pool():
    from alsim.sweep.grid import batch_key

    base = Config(dataset="digits")
    for change in ({"pca_components": 8}, {"standardize": True}, {"imbalance": 10.0}):
        assert data_key(base.replace(**change)) != data_key(base)
        assert batch_key(base.replace(**change)) != batch_key(base), change


# --------------------------------------------------------------------------- a sweep cell's config hash
HASH_BASE = Config(dataset="fashion-mnist")  # valid without the data: every field can vary
ALTERNATIVES = dict(
    dataset="digits", pool_size=100, features="hog", model="linear_svc", kernel="knn", gamma=0.5, n_neighbors=9,
    alpha=0.3, max_iter=30, tol=1e-4, C=2.0, initial="random", n_initial=30, batch_size=6, n_rounds=6,
    strategy="margin", self_training="pseudo", schedule="list", threshold_start=0.8, threshold_end=0.2,
    threshold_steps=5, threshold_final=None, thresholds=(0.9, 0.8), evaluation="test", seed=1, pca_components=10,
    standardize=True, embed_side=64, onnx_model="model.onnx", onnx_output="pooled", imbalance=10.0,
    oracle_noise=0.1, oracle_noise_model="confusable", annotators=3, relabel=True, flag_label_errors=True,
    metric="macro_f1", class_balanced=True, cost="difficulty", cost_params=(2.0,),
    stop_kappa=0.95, stop_kappa_window=2, stop_set_size=50, stop_uncertainty=0.1,
    stop_max_uncertainty=0.2, stop_change=0.05, stop_budget=100, stop_target=0.9)


#: Fields whose other value is valid only with another field set (compared against that base).
NEEDS = {"cost_params": {"cost": "difficulty"}}

#: Every strategy parameter, by its flat name, with another value.
PARAMETER_ALTERNATIVES = dict(
    typiclust_neighbors=10, max_clusters=400, probcover_delta=0.5, probcover_purity=0.9, probcover_sample=1000,
    density_beta=2.0, committee_size=3, committee_measure="kl", margin_candidates=5, cluster_margin_clusters=7)


def test_every_config_field_has_an_alternative_here():
    fields_here = set(ALTERNATIVES) | {"strategy_params"}
    assert fields_here == {f.name for f in fields(Config)}, "a new Config field needs an alternative value"
    assert set(PARAMETER_ALTERNATIVES) == set(legacy_names()), "a new strategy parameter needs an alternative value"


@pytest.mark.parametrize("name", sorted(ALTERNATIVES) + sorted(PARAMETER_ALTERNATIVES))
def test_the_config_hash_changes_with_every_config_field(name):
    value = {**ALTERNATIVES, **PARAMETER_ALTERNATIVES}[name]
    base = HASH_BASE.replace(**NEEDS.get(name, {}))
    changed = base.replace(**{name: value})
    assert changed.value(name) != base.value(name)
    assert grid.config_hash(changed, "k" * 32) != grid.config_hash(base, "k" * 32)


def test_the_config_hash_changes_with_the_data_and_the_cell_version(monkeypatch):
    keys = {"as is": grid.config_hash(HASH_BASE, "a" * 32), "data": grid.config_hash(HASH_BASE, "b" * 32)}
    monkeypatch.setattr(grid, "CELL_VERSION", grid.CELL_VERSION + 1)
    keys["version"] = grid.config_hash(HASH_BASE, "a" * 32)
    _all_distinct(keys)


def test_the_config_hash_is_the_same_for_the_same_config_however_it_was_built():
    config = HASH_BASE.replace(thresholds=(0.9, 0.7), schedule="list", self_training="pseudo")
    rebuilt = [Config.from_dict(config.to_dict()), Config.from_json(config.to_json()),
               HASH_BASE.with_overrides(["thresholds=0.9,0.7", "schedule=list", "self_training=pseudo"]),
               Config.from_dict({**config.to_dict(), "thresholds": [0.9, 0.7]})]
    assert {grid.config_hash(c, "a" * 32) for c in rebuilt} == {grid.config_hash(config, "a" * 32)}


def test_sweep_cells_get_one_hash_each_and_share_none():
    spec = grid.SweepSpec(base=Config(dataset="digits", initial="random"), grid=(("gamma", (0.1, 0.25)),
                          ("batch_size", (5, 10))), strategies=("entropy", "random"), n_seeds=3)
    cells = spec.cells({"digits": "c" * 32})
    assert len(cells) == spec.n_cells == 24
    assert len({c.key for c in cells}) == 24
    assert len({c.point_key for c in cells}) == 4
