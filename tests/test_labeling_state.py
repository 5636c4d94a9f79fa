"""A labeling project's model state on disk: a proposal made from it is the proposal made
without it, it is read instead of the data set, and a damaged file is rebuilt, not trusted."""

from __future__ import annotations

import numpy as np
import pytest

from alsim.labeling import model_state
from alsim.labeling import projects as labeling
from alsim.loop import pool as loop_pool
from alsim.storage import memory


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Each test starts with an empty disk cache (the session's is shared by every test)."""
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path / "cache"))


def _labeled_project(name: str, settings: list[str]):
    """A project on a 240-digit pool with 24 labels of several classes (the truth, as a person would)."""
    project = labeling.create_project(name, "digits", ["pool_size=240", *settings])
    truth = loop_pool.prepare(project.config).labels
    for item in range(0, 240, 10):
        labeling.add_label(project, item, int(truth[item]))
    return project


def _proposal(project):
    proposal = labeling.next_batch(project)
    ranking = labeling.rank_unlabeled(project)
    return (proposal.ids, proposal.guesses, proposal.confidence, ranking.ids, ranking.scores)


def _no_data_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the pool was prepared from the data set")

    monkeypatch.setattr(model_state, "prepare", refuse)
    monkeypatch.setattr(loop_pool, "load_source", refuse)


@pytest.mark.parametrize("settings", [[], ["kernel=knn", "n_neighbors=7", "strategy=coreset"],
                                      ["model=logistic_regression", "strategy=margin"]],
                         ids=["rbf-entropy", "knn-coreset", "logistic-margin"])
def test_a_proposal_from_the_cached_state_is_the_uncached_one(settings, monkeypatch):
    project = _labeled_project("state", settings)
    key = model_state.state_key(project.config)
    assert key is not None and not (model_state._path(key, "head")).exists()
    memory.clear_all()
    uncached = _proposal(project)  # prepares the pool, builds the graph, writes the state
    assert model_state._path(key, "head").exists()
    memory.clear_all()  # a new process: nothing in memory
    _no_data_load(monkeypatch)
    cached = _proposal(project)
    for a, b in zip(uncached, cached):
        np.testing.assert_array_equal(a, b)
    assert len(cached[0]) == project.config.batch_size


def test_the_state_does_not_depend_on_the_labels_and_follows_the_settings():
    project = _labeled_project("keys", [])
    key = model_state.state_key(project.config)
    labeling.add_label(project, 1, 3)
    assert model_state.state_key(labeling.open_project("keys").config) == key
    for change in ({"gamma": 0.5}, {"pool_size": 250}, {"features": "hog"}, {"standardize": True}):
        assert model_state.state_key(project.config.replace(**change)) != key, change
    # a strategy or batch size is no part of the pool or the graph
    assert model_state.state_key(project.config.replace(strategy="margin", batch_size=3)) == key


def test_a_damaged_state_file_is_rebuilt_and_the_proposal_unchanged(caplog):
    project = _labeled_project("damaged", [])
    memory.clear_all()
    before = _proposal(project)
    key = model_state.state_key(project.config)
    graph = model_state._path(key, "graph")
    data = bytearray(graph.read_bytes())
    data[-8:] = np.float64(0.5).tobytes()  # one weight changed: the digest no longer matches
    graph.write_bytes(bytes(data))
    memory.clear_all()
    with caplog.at_level("WARNING", logger="alsim.storage.disk"):
        after = _proposal(project)
    assert any("rejected (digest mismatch)" in message for message in caplog.messages)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert graph.read_bytes() != bytes(data)  # written again


def test_sources_that_do_not_pin_their_data_are_not_cached(monkeypatch):
    from alsim.data import sources
    from alsim.data.datasets import Dataset

    labels = np.repeat([0, 1], 6)
    images = np.random.default_rng(0).integers(0, 40, size=(12, 8, 8)).astype(np.uint8)
    images[np.arange(12), labels] += 200
    dataset = Dataset(name="unpinned", images=images, labels=labels, class_names=("a", "b"), source="memory")
    monkeypatch.setitem(sources._SOURCES, "unpinned", sources.SourceInfo(
        name="unpinned", description="in memory", load=lambda: dataset, features=("raw",), image_shape=(8, 8),
        has_test=False))  # no locator: nothing says when its data change
    project = labeling.create_project("memory", "unpinned")
    assert model_state.state_key(project.config) is None
    labeling.add_label(project, 0, 0)
    labeling.add_label(project, 6, 1)
    assert len(labeling.next_batch(project).ids) == project.config.batch_size  # the uncached path


def test_a_state_written_before_the_first_model_gets_its_graph_at_the_first_refit(monkeypatch):
    project = labeling.create_project("cold", "digits", ["pool_size=240"])
    memory.clear_all()
    first = labeling.next_batch(project)  # no model yet: the features alone
    key = model_state.state_key(project.config)
    assert model_state._path(key, "head").exists() and not model_state._path(key, "graph").exists()
    truth = loop_pool.prepare(project.config).labels
    for item in first.ids:
        labeling.add_label(project, int(item), int(truth[item]))
    memory.clear_all()
    refit = labeling.next_batch(project)  # the graph is built, and written with the state
    assert model_state._path(key, "graph").exists() and (refit.guesses >= 0).all()
    memory.clear_all()
    _no_data_load(monkeypatch)
    again = labeling.next_batch(project)
    for a, b in zip((refit.ids, refit.guesses, refit.confidence), (again.ids, again.guesses, again.confidence)):
        np.testing.assert_array_equal(a, b)
