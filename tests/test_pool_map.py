"""The pool's 2-D projection (cached in memory and on disk) and the map figure drawn from it."""

import importlib.util
import logging

import numpy as np
import pytest
from apptest_helpers import decode, trace
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA

from alsim.learn import projection
from alsim.learn.projection import pool_projection
from alsim.report.plots import pool_map
from alsim.storage.memory import shared_cache


def _blobs(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    features = rng.normal(size=(n, d)) + 5.0 * np.eye(3, d)[labels]
    return features, labels


def test_pca_projection_equals_sklearns_two_components():
    features, _ = _blobs()
    coords = pool_projection(features, ("blobs", 1), method="pca", use_cache=False)
    expected = PCA(n_components=2, random_state=0).fit_transform(features.astype(np.float32))
    assert coords.shape == (300, 2) and coords.dtype == np.float32
    assert_allclose(coords, expected, atol=1e-4)


def test_without_umap_the_default_is_pca(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "umap" else real(name, *a))
    assert projection.default_method() == "pca"
    features, _ = _blobs()
    assert_allclose(pool_projection(features, ("blobs", "fallback")),
                    pool_projection(features, ("blobs", "fallback"), method="pca", use_cache=False))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "umap" else real(name, *a))
    assert projection.default_method() == "umap"


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of .* got 'tsne'"):
        pool_projection(np.zeros((5, 3)), "k", method="tsne")


def test_large_pools_are_fitted_on_a_seeded_sample_and_transform_every_point():
    features, _ = _blobs(n=500)
    coords = pool_projection(features, "big", method="pca", fit_sample=100, use_cache=False)
    rows = np.sort(np.random.default_rng(0).choice(500, 100, replace=False))
    model = PCA(n_components=2, random_state=0).fit(features[rows].astype(np.float32))
    assert coords.shape == (500, 2)
    assert_allclose(coords, model.transform(features.astype(np.float32)), atol=1e-4)


def test_projection_is_cached_in_memory_and_on_disk_and_verified(monkeypatch, caplog):
    features, _ = _blobs()
    calls = []
    real = projection._project
    monkeypatch.setattr(projection, "_project", lambda *a: calls.append(1) or real(*a))
    key = ("blobs", "cached")
    first = pool_projection(features, key, method="pca")
    again = pool_projection(features, key, method="pca")
    assert again is first and len(calls) == 1 and not first.flags.writeable
    path = projection.projection_path(key, features.shape, "pca")
    assert_allclose(np.load(path), first)
    shared_cache("values").clear()
    assert_allclose(pool_projection(features, key, method="pca"), first)
    assert len(calls) == 1  # read back from disk
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    shared_cache("values").clear()
    with caplog.at_level(logging.WARNING, logger="alsim.storage.disk"):
        assert_allclose(pool_projection(features, key, method="pca"), first)
    assert len(calls) == 2 and "digest mismatch" in caplog.text  # rejected, recomputed
    assert pool_projection(features, key + ("other",), method="pca") is not first  # another pool, another entry


def _map(colour_by="true", n=300, **options):
    features, labels = _blobs(n=n)
    coords = pool_projection(features, ("blobs", n), method="pca", use_cache=False)
    status = np.zeros(n, dtype=np.int8)
    status[[0, 1, 2, 3]] = 1
    status[[10, 11]] = 2
    predicted = (labels + (np.arange(n) % 7 == 0)) % 3
    uncertainty = np.linspace(0.0, 1.0, n)
    figure = pool_map(coords, labels, status, [42, 7, 99], predicted=predicted, uncertainty=uncertainty,
                      colour_by=colour_by, class_names=["a", "b<i>", "c"], **options)
    return decode(figure.to_plotly_json()), coords, labels, predicted


def test_map_draws_every_point_once_with_the_round_numbered():
    fig, coords, labels, predicted = _map()
    assert all(t["type"] == "scatter" for t in fig["data"])  # 300 points: SVG
    ids = [i for t in fig["data"] for i in t["customdata"]]
    assert sorted(ids) == list(range(300))
    queried = trace(fig, "queried")
    assert queried["customdata"] == [42, 7, 99] and queried["text"] == ["1", "2", "3"]
    assert_allclose(queried["x"], coords[[42, 7, 99], 0], rtol=1e-6)
    assert trace(fig, "revealed labels")["customdata"] == [0, 1, 2, 3]
    pseudo = trace(fig, "pseudo-labels")
    assert pseudo["customdata"] == [10, 11] and pseudo["marker"]["symbol"] == "circle-open"
    for name, c in (("a", 0), ("b&lt;i&gt;", 1), ("c", 2)):  # one faint trace per true class, names escaped
        assert all(labels[i] == c for i in trace(fig, name)["customdata"])
    hover = trace(fig, "queried")["hovertext"][0]
    names = ["a", "b&lt;i&gt;", "c"]
    assert hover == f"#42 · class {names[labels[42]]} · predicted {names[predicted[42]]} · uncertainty {42 / 299:.3f}"


def test_every_class_keeps_its_key_when_none_of_its_images_is_left_unlabeled():
    import plotly.colors

    features, labels = _blobs(n=300)
    coords = pool_projection(features, ("blobs", 300), method="pca", use_cache=False)
    status = np.where(labels == 2, 1, 0).astype(np.int8)  # every image of class "c" revealed
    fig = decode(pool_map(coords, labels, status, [], class_names=["a", "b", "c"]).to_plotly_json())
    assert [t["name"] for t in fig["data"]][:4] == ["a", "b", "c", "revealed labels"]
    key = trace(fig, "c")
    assert key["x"] == [None] and key["customdata"] == [] and key["marker"]["color"] == plotly.colors.qualitative.Plotly[2]
    assert trace(fig, "revealed labels")["customdata"] == np.flatnonzero(labels == 2).tolist()
    assert sorted(i for t in fig["data"] for i in t["customdata"]) == list(range(300))  # every point drawn once


@pytest.mark.parametrize("svg_max, kind", [(300, "scatter"), (299, "scattergl")])
def test_maps_of_more_points_than_svg_max_draw_with_webgl_and_the_same_points(svg_max, kind):
    fig, _, _, _ = _map(svg_max=svg_max)  # 300 points, each drawn once
    svg, _, _, _ = _map()
    assert all(t["type"] == kind for t in fig["data"])
    assert [{k: v for k, v in t.items() if k != "type"} for t in fig["data"]] == \
        [{k: v for k, v in t.items() if k != "type"} for t in svg["data"]]


def test_map_coloured_by_prediction_groups_by_prediction():
    fig, _, _, predicted = _map("predicted")
    for name, c in (("a", 0), ("b&lt;i&gt;", 1), ("c", 2)):
        assert all(predicted[i] == c for i in trace(fig, name)["customdata"])


def test_map_coloured_by_uncertainty_uses_one_colour_scale():
    fig, _, _, _ = _map("uncertainty")
    background = trace(fig, "unlabeled")
    assert_allclose(background["marker"]["color"], np.linspace(0, 1, 300)[background["customdata"]])
    assert background["marker"]["coloraxis"] == "coloraxis"
    assert fig["layout"]["coloraxis"]["cmin"] == 0.0 and fig["layout"]["coloraxis"]["cmax"] == 1.0


def test_large_maps_sample_the_background_and_keep_labeled_and_queried_points():
    fig, _, _, _ = _map(n=2000, max_points=500)
    background = [i for t in fig["data"] if t["name"] in ("a", "b&lt;i&gt;", "c") for i in t["customdata"]]
    assert 400 < len(background) <= 500 < 2000 - 9  # a sample of the unlabeled points
    assert trace(fig, "revealed labels")["customdata"] == [0, 1, 2, 3]
    assert trace(fig, "pseudo-labels")["customdata"] == [10, 11]
    assert trace(fig, "queried")["customdata"] == [42, 7, 99]
    again, _, _, _ = _map(n=2000, max_points=500)
    assert again["data"][0]["customdata"] == fig["data"][0]["customdata"]  # seeded


def test_map_refuses_a_colouring_it_has_no_values_for():
    with pytest.raises(ValueError, match="colour_by='uncertainty' needs the uncertainty values"):
        pool_map(np.zeros((3, 2)), np.zeros(3, int), np.zeros(3, int), colour_by="uncertainty")
    with pytest.raises(ValueError, match="colour_by must be one of"):
        pool_map(np.zeros((3, 2)), np.zeros(3, int), np.zeros(3, int), colour_by="size")


def test_round_picks_number_each_pick_by_its_round_and_the_map_draws_those_numbers():
    from alsim import Config, run_loop
    from alsim.report.plots import pool_map, round_picks

    rounds = list(run_loop(Config()))
    ids, numbers = round_picks(rounds, 2)
    assert ids.tolist() == rounds[0].queried.tolist() + rounds[1].queried.tolist()
    assert numbers == ["1"] * 5 + ["2"] * 5
    all_ids, all_numbers = round_picks(rounds)
    assert len(all_ids) == sum(len(r.queried) for r in rounds) == 20 and all_numbers[-1] == "4"
    coords = np.random.default_rng(0).normal(size=(len(rounds[0].status), 2))
    fig = pool_map(coords, np.zeros(len(coords), dtype=int), rounds[0].status, ids, queried_text=numbers,
                   queried_name="picked")
    picked = next(t for t in fig.data if t.name == "picked")
    assert list(picked.customdata) == ids.tolist() and list(picked.text) == numbers
    with pytest.raises(ValueError, match="one label per queried point"):
        pool_map(coords, np.zeros(len(coords), dtype=int), rounds[0].status, ids, queried_text=["1"])
