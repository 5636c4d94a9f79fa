import cv2
import numpy as np
import pytest

from alsim.data.datasets import load_fashion_mnist
from alsim.learn import features as feat


def test_hog_shape_and_values_match_opencv_reference():
    images = np.random.default_rng(0).integers(0, 256, size=(300, 28, 28)).astype(np.uint8)
    out = feat.hog_features(images, n_threads=2)
    assert out.shape == (300, 324)
    reference = cv2.HOGDescriptor((28, 28), (14, 14), (7, 7), (7, 7), 9, 1, -1, 0, 0.2, 1, 64, True)
    for i in (0, 151, 299):
        np.testing.assert_array_equal(out[i], reference.compute(images[i]).ravel())
    np.testing.assert_array_equal(out, feat.hog_features(images, n_threads=1))


def test_hog_features_are_cached_on_disk(fashion_like_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    ds = load_fashion_mnist(fashion_like_dir)
    first, first_test = feat.compute_features(ds, "hog")
    assert first.shape == (600, 324) and first_test.shape == (200, 324)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2
    assert len(list((tmp_path / "features").glob("*.npy.sha256"))) == 2  # a digest beside each

    def fail(*args, **kwargs):
        raise AssertionError("HOG recomputed although cached")

    monkeypatch.setattr(feat, "hog_features", fail)
    second, second_test = feat.compute_features(ds, "hog")
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_test, second_test)


def test_raw_features_scale():
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    assert feat.raw_features(images).max() == 1.0
    digits = np.full((1, 8, 8), 16.0)
    assert feat.raw_features(digits).max() == 16.0


def _resign(path):
    """Rewrite the digest beside ``path`` to match its (damaged) content."""
    import hashlib

    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")


@pytest.mark.parametrize("damage", ["nan, digest rewritten", "zeros", "empty file", "header (2**37, 10)"])
def test_damaged_hog_cache_is_rebuilt_with_one_line(fashion_like_dir, tmp_path, monkeypatch, caplog, damage):
    """NaN or zeros in the HOG cache silently took a LinearSVC from 0.83 to 0.10 accuracy; an
    empty file or an absurd header made every later run fail until the file was deleted."""
    import io

    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    ds = load_fashion_mnist(fashion_like_dir)
    fresh, fresh_test = feat.compute_features(ds, "hog", use_cache=False)
    feat.compute_features(ds, "hog")  # writes the cache
    (path,) = (tmp_path / "features").glob("*-hog-pool-*.npy")
    if damage.startswith("nan"):
        values = np.load(path)
        values[5, 7] = np.nan
        np.save(path, values)
        _resign(path)  # the finite check alone has to catch it
    elif damage == "zeros":
        np.save(path, np.zeros((600, 324), dtype=np.float32))
    elif damage == "empty file":
        path.write_bytes(b"")
    else:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**37, 10)})
        path.write_bytes(header.getvalue() + bytes(4096))
        _resign(path)
    with caplog.at_level("WARNING", logger="alsim.storage.disk"):
        pool, test = feat.compute_features(ds, "hog")
    np.testing.assert_array_equal(pool, fresh)
    np.testing.assert_array_equal(test, fresh_test)
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith(f"alsim: cache file {path} rejected (")
    assert caplog.messages[0].endswith("); rebuilding it")
    caplog.clear()
    np.testing.assert_array_equal(feat.compute_features(ds, "hog")[0], fresh)  # rebuilt file trusted again
    assert caplog.messages == []


# --------------------------------------------------------------------------- embeddings and HOG on any image
def test_pretrained_features_are_embedded_once_then_read_from_the_disk_cache(monkeypatch):
    from alsim.data.sources import load_source
    from alsim.learn import pretrained
    from alsim.learn.features import FeatureOptions, compute_features

    dataset = load_source("digits-tutorial")
    seen = []
    first, test = compute_features(dataset, "pretrained", progress=lambda done, total: seen.append((done, total)))
    assert first.shape == (330, pretrained.FEATURE_DIM) and test is None and np.isfinite(first).all()
    assert seen[-1] == (330, 330) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))
    monkeypatch.setattr(pretrained, "embed", lambda *a, **k: pytest.fail("embedded again"))
    again, _ = compute_features(dataset, "pretrained")
    np.testing.assert_array_equal(again, first)
    # another input side is another embedding: not read from the first one's file
    with pytest.raises(pytest.fail.Exception, match="embedded again"):
        compute_features(dataset, "pretrained", options=FeatureOptions(embed_side=64))


def test_pretrained_features_separate_digits_far_better_than_chance():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from alsim.data.sources import load_source
    from alsim.learn.features import compute_features

    dataset = load_source("digits-tutorial")
    features, _ = compute_features(dataset, "pretrained")
    score = cross_val_score(LogisticRegression(max_iter=2000), features, dataset.labels, cv=3).mean()
    assert score > 0.8  # chance is about 0.1; a wrong input scaling or channel order falls far below


def _tiny_onnx_model(path, channels=3):
    """An ONNX model whose output is each channel's mean over the image: (n, channels)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["vector"], axis=1)],
        "mean", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", channels, "h", "w"])],
        [helper.make_tensor_value_info("vector", TensorProto.FLOAT, ["n", channels])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_users_onnx_model_embeds_through_the_config(tmp_path):
    from alsim import Config, prepare
    from alsim.learn.pretrained import IMAGENET_MEAN, IMAGENET_STD

    model = _tiny_onnx_model(tmp_path / "mean.onnx")
    config = Config(dataset="digits-tutorial", features="onnx", onnx_model=str(model), embed_side=32,
                    kernel="knn", n_neighbors=10)
    prepared = prepare(config)
    assert prepared.features.shape == (330, 3)
    # independent: digits are 0..16, scaled to [0, 1], gray repeated to three channels, ImageNet-normalised;
    # the mean of a resized image is the mean of the image up to interpolation
    images = prepared.images.astype(float) / 16.0
    expected = np.stack([(images.mean(axis=(1, 2)) - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)], axis=1)
    np.testing.assert_allclose(prepared.features, expected, atol=0.02)


@pytest.mark.parametrize("content, message", [
    (b"not a model", "ONNX model broken.onnx"),
    (None, "is not a readable file"),
])
def test_a_broken_onnx_model_is_one_line_on_the_command_line(tmp_path, capsys, content, message):
    from alsim.cli.main import main

    path = tmp_path / "broken.onnx"
    if content is not None:
        path.write_bytes(content)
    code = main(["run", "--no-baseline", "--set", "features=onnx", "--set", f"onnx_model={path}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_onnx_features_need_a_model_and_a_sane_side():
    from alsim import Config
    from alsim.common.errors import ConfigError

    with pytest.raises(ConfigError, match="features 'onnx' needs onnx_model=PATH"):
        Config(features="onnx")
    with pytest.raises(ConfigError, match="embed_side must be an integer in \\[32, 512\\], got 1000"):
        Config(features="pretrained", embed_side=1000)


@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 30, 22), (5, 64, 64, 3), (5, 8, 8)])
def test_hog_works_on_any_image_size_and_on_colour(shape):
    from alsim.learn.features import hog_features, hog_ready

    images = np.random.default_rng(0).integers(0, 256, size=shape).astype(np.uint8)
    ready = hog_ready(images)
    assert ready.ndim == 3 and ready.shape[1] == ready.shape[2] and ready.shape[1] % 4 == 0
    assert hog_features(ready).shape == (5, 324)
    if shape == (5, 28, 28):  # experiment B's images pass unchanged
        np.testing.assert_array_equal(ready, images)


def test_a_new_feature_kind_is_one_registration_and_then_usable_everywhere(monkeypatch):
    from alsim import Config, prepare
    from alsim.data import datasets
    from alsim.learn import features as feat

    def brightness(images, progress):  # one number per image: its mean intensity
        return np.asarray(images, dtype=float).reshape(len(images), -1).mean(axis=1, keepdims=True)

    kind = feat.FeatureKind("brightness", lambda options: feat.Extractor(brightness))

    monkeypatch.setattr(feat, "_FEATURE_KINDS", dict(feat._FEATURE_KINDS))  # the registry as it was, after the test
    monkeypatch.setattr(datasets, "_IMAGE_KINDS", list(datasets._IMAGE_KINDS))
    feat.register_features(kind)
    prepared = prepare(Config(dataset="digits-tutorial", features="brightness", kernel="knn", n_neighbors=5))
    expected = prepared.images.reshape(330, -1).mean(axis=1)
    np.testing.assert_allclose(prepared.features[:, 0], expected)
    with pytest.raises(ValueError, match="already registered"):
        feat.register_features(kind)


def test_progress_counts_over_both_splits_in_order(monkeypatch):
    from alsim.data.datasets import Dataset
    from alsim.learn import features as feat

    def halves(images, progress):  # reports half way through, then the extractor reports the end
        progress(len(images) // 2, len(images))
        return np.zeros((len(images), 1))

    extractor = feat.Extractor(halves)
    rng = np.random.default_rng(0)
    dataset = Dataset("halves", rng.integers(0, 255, (600, 4, 4), dtype=np.uint8), np.arange(600) % 2, ("a", "b"),
                      test_images=rng.integers(0, 255, (200, 4, 4), dtype=np.uint8), test_labels=np.arange(200) % 2)
    calls = []
    kind = feat.FeatureKind("halves", lambda options: extractor)
    monkeypatch.setattr(feat, "feature_kind", lambda name: kind)
    feat.compute_features(dataset, "halves", use_cache=False, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(300, 800), (600, 800), (700, 800), (800, 800)]


def test_a_users_onnx_model_is_loaded_and_checked_once_per_computation(tmp_path, monkeypatch):
    from alsim.data.sources import load_source
    from alsim.learn import pretrained
    from alsim.learn.features import FeatureOptions, compute_features

    loads = []
    real = pretrained.load_onnx_model
    monkeypatch.setattr(pretrained, "load_onnx_model", lambda *a, **k: loads.append(1) or real(*a, **k))
    options = FeatureOptions(embed_side=32, onnx_model=str(_tiny_onnx_model(tmp_path / "mean.onnx")))
    features, _ = compute_features(load_source("digits-tutorial"), "onnx", options=options)
    assert features.shape == (330, 3) and len(loads) == 1  # its cache name, width and values from one load
