"""Tests of the torch-free EfficientNet-Lite0 feature extractor and user ONNX models."""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import sys
import threading
import zipfile

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import alsim.learn.pretrained as P

DAISY = 985
# china.jpg is the Tower of Buddhist Incense (Summer Palace): ImageNet's nearest classes are
# bell cote, palace, monastery and stupa; the network ranks them 442, 663, 832 (and 698 on crops).
TEMPLE_LIKE = {442, 698, 663, 832}
LEMON, GRANNY_SMITH = 951, 948


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


def _top(logits: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-logits)[:k]]


def _photos() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return np.stack([load_sample_image("china.jpg"), load_sample_image("flower.jpg")])


def _fruit(rgb, axes) -> np.ndarray:
    """A shaded, slightly textured ellipse of one colour on white: a fruit by colour and shape."""
    side = 224
    mask = np.zeros((side, side), np.float32)
    cv2.ellipse(mask, (side // 2, side // 2), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2)[..., None]
    yy, xx = np.mgrid[:side, :side]
    shade = 1.15 - 0.5 * np.hypot(yy - 85, xx - 90) / 110
    noise = np.random.default_rng(0).standard_normal((side, side)).astype(np.float32)
    texture = 1 + 0.06 * cv2.GaussianBlur(noise, (0, 0), 1.5)
    colour = np.clip(np.asarray(rgb, np.float32) * (shade * texture)[..., None], 0, 255)
    return (255 * (1 - mask) + colour * mask).astype(np.uint8)


# --------------------------------------------------------------------------- the shipped network

def test_weights_ship_inside_the_wheel():
    path = P.shipped_weights_path()
    assert path.stat().st_size > 18_000_000
    weights = P.read_torch_weights(path)
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert all(v.dtype == np.float32 for v in weights.values())
    assert "torch" not in sys.modules


def test_known_photos_are_classified(cache):
    china, flower = P.imagenet_logits(_photos(), side=224, cache_dir=cache)
    assert _top(flower, 1) == [DAISY], _top(flower, 5)
    assert _top(china, 1)[0] in TEMPLE_LIKE, _top(china, 5)
    assert len(TEMPLE_LIKE & set(_top(china, 5))) >= 3, _top(china, 5)


# Logits of this implementation at 224 (onnxruntime 1.32, CPU). A regression pin, not an
# independent reference: it catches changes the class-level tests above cannot, such as two
# same-shaped residual blocks run in swapped order (the top classes stay, these logits move past 0.05).
PINNED_LOGITS = {
    "china": {442: 8.436, 449: 7.338, 663: 7.093, 832: 6.918, 483: 6.678},
    "flower": {985: 6.294, 309: 5.574, 738: 5.073, 994: 5.015, 599: 5.002},
}


def test_photo_logits_match_the_pinned_values(cache):
    for name, logits in zip(("china", "flower"), P.imagenet_logits(_photos(), side=224, cache_dir=cache)):
        pinned = PINNED_LOGITS[name]
        np.testing.assert_allclose([logits[i] for i in pinned], list(pinned.values()), atol=0.05, err_msg=name)


def test_colour_decides_the_fruit(cache):
    lemon = _fruit((245, 225, 40), (85, 62))
    green = _fruit((120, 200, 60), (70, 70))
    lemon_logits, green_logits = P.imagenet_logits(np.stack([lemon, green]), side=224, cache_dir=cache)
    assert _top(lemon_logits, 1) == [LEMON], _top(lemon_logits, 5)
    assert GRANNY_SMITH in _top(green_logits, 3), _top(green_logits, 5)


def test_features_are_the_pooled_input_of_the_classifier(cache):
    images = _photos()
    features = P.embed(images, side=224, cache_dir=cache)
    logits = P.imagenet_logits(images, side=224, cache_dir=cache)
    weights = P.read_torch_weights(P.shipped_weights_path())
    assert features.shape == (2, 1280) and features.dtype == np.float32
    assert features.min() >= 0 and features.max() <= 6  # ReLU6 then averaged
    np.testing.assert_allclose(features @ weights["_fc.weight"].T + weights["_fc.bias"], logits, atol=1e-3)


def test_same_images_give_the_same_embeddings(cache):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(9, 40, 30, 3), dtype=np.uint8)
    first = P.embed(images, side=64, batch_size=4, cache_dir=cache)
    assert np.array_equal(first, P.embed(images, side=64, batch_size=4, cache_dir=cache))
    for batch_size in (1, 9):
        np.testing.assert_allclose(P.embed(images, side=64, batch_size=batch_size, cache_dir=cache), first,
                                   atol=1e-4)


def test_threads_share_one_session(cache):
    images = np.random.default_rng(2).integers(0, 256, size=(6, 32, 32), dtype=np.uint8)
    expected = P.embed(images, side=48, cache_dir=cache)
    results = [None] * 4

    def work(i):
        results[i] = P.embed(images, side=48, batch_size=2, cache_dir=cache)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-4)


def test_gray_float_and_progress(cache):
    gray = np.random.default_rng(3).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    calls = []
    as_gray = P.embed(gray, side=32, batch_size=2, progress=lambda done, total: calls.append((done, total)),
                      cache_dir=cache)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    np.testing.assert_allclose(P.embed(np.repeat(gray[..., None], 3, axis=3), side=32, cache_dir=cache), as_gray,
                               atol=1e-4)
    np.testing.assert_allclose(P.embed(gray / 255.0, side=32, cache_dir=cache), as_gray, atol=1e-4)
    np.testing.assert_allclose(P.embed(gray * (16 / 255), side=32, cache_dir=cache, max_value=16), as_gray,
                               atol=1e-4)
    with pytest.raises(P.PretrainedError, match="max_value"):
        P.embed(gray * (16 / 255), side=32, cache_dir=cache)
    with pytest.raises(P.PretrainedError, match="shape"):
        P.embed(np.zeros((2, 8, 8, 4), np.uint8), cache_dir=cache)


# --------------------------------------------------------------------------- reading torch files

class _Global:
    """A reference to ``module.name`` written into the pickle without importing it."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise AssertionError("only pickled, never called")


class _Tensor:
    def __init__(self, key, values, size, stride, offset=0):
        self.key, self.values, self.size, self.stride, self.offset = key, values, size, stride, offset


class _TorchPickler(pickle._Pickler):
    """Writes what torch.save writes for a state dict, without torch."""

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, legacy):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def _save_global_ref(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[_Global] = _save_global_ref

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            pid = ("storage", _Global("torch", "FloatStorage"), obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _Tensor):
            hooks = _Reduce(_Global("collections", "OrderedDict"), ())
            return (_Global("torch._utils", "_rebuild_tensor_v2"),
                    (_Storage(obj.key, obj.values.size), obj.offset, obj.size, obj.stride, False, hooks))
        if isinstance(obj, _Reduce):
            return obj.func, obj.args
        return NotImplemented


class _Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


def _write_torch_file(path, tensors: dict, legacy: bool):
    """A state dict of ``_Tensor`` in torch's zip or legacy layout."""
    import io

    def dump(obj):
        buffer = io.BytesIO()
        _TorchPickler(buffer, legacy).dump(obj)
        return buffer.getvalue()

    state = dump(_Reduce(_Global("collections", "OrderedDict"), ([(k, v) for k, v in tensors.items()],)))
    if legacy:
        with open(path, "wb") as handle:
            handle.write(pickle.dumps(P._LEGACY_MAGIC, protocol=2))
            handle.write(pickle.dumps(P._LEGACY_PROTOCOL, protocol=2))
            handle.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                       "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
            handle.write(state)
            handle.write(pickle.dumps([t.key for t in tensors.values()], protocol=2))
            handle.writelines(struct.pack("<q", t.values.size) + t.values.astype("<f4").tobytes()
                              for t in tensors.values())
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", state)
            archive.writestr("archive/byteorder", "little")
            for t in tensors.values():
                archive.writestr(f"archive/data/{t.key}", t.values.astype("<f4").tobytes())


@pytest.mark.parametrize("legacy", [True, False])
def test_reads_both_torch_layouts_with_strides(tmp_path, legacy):
    flat = np.arange(12, dtype=np.float32)
    tensors = {
        "plain": _Tensor("0", flat, (3, 4), (4, 1)),
        "transposed": _Tensor("1", flat, (4, 3), (1, 4)),
        "offset": _Tensor("2", flat, (2, 2), (4, 1), offset=5),
    }
    path = tmp_path / "weights.pth"
    _write_torch_file(path, tensors, legacy)
    weights = P.read_torch_weights(path)
    assert list(weights) == ["plain", "transposed", "offset"]
    np.testing.assert_array_equal(weights["plain"], flat.reshape(3, 4))
    np.testing.assert_array_equal(weights["transposed"], flat.reshape(3, 4).T)
    np.testing.assert_array_equal(weights["offset"], [[5, 6], [9, 10]])


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("legacy", [True, False])
def test_a_pickle_asking_for_os_system_is_refused(tmp_path, legacy):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"x": _Exploit(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if legacy:
        path.write_bytes(pickle.dumps(P._LEGACY_MAGIC, protocol=2) + pickle.dumps(P._LEGACY_PROTOCOL, protocol=2)
                         + pickle.dumps({"little_endian": True}, protocol=2) + payload)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
    with pytest.raises(P.PretrainedError) as caught:
        P.read_torch_weights(path)
    message = str(caught.value)
    assert "os.system" in message or "posix.system" in message
    assert "\n" not in message
    assert not marker.exists()


def test_builtins_eval_is_refused(tmp_path):
    path = tmp_path / "eval.pth"
    path.write_bytes(pickle.dumps(P._LEGACY_MAGIC, protocol=2) + pickle.dumps(P._LEGACY_PROTOCOL, protocol=2)
                     + pickle.dumps({"little_endian": True}, protocol=2)
                     + pickle.dumps(_Reduce(eval, ("1+1",)), protocol=4))
    with pytest.raises(P.PretrainedError, match="builtins.eval"):
        P.read_torch_weights(path)


@pytest.mark.parametrize("fraction", [0.0005, 0.5, 0.999])
def test_a_truncated_weights_file_is_refused_and_nothing_cached(tmp_path, fraction):
    source = P.shipped_weights_path()
    truncated = tmp_path / "lite0.pth"
    data = source.read_bytes()
    truncated.write_bytes(data[: int(len(data) * fraction)])
    cache = tmp_path / "cache"
    with pytest.raises(P.PretrainedError) as caught:
        P.ensure_model_file(cache, weights=truncated)
    assert "\n" not in str(caught.value) and "lite0.pth" in str(caught.value)
    assert not cache.exists() or not any(cache.iterdir())


def test_weights_of_another_network_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    _write_torch_file(path, {"_conv_stem.weight": _Tensor("0", np.zeros(8, np.float32), (2, 4), (4, 1))}, True)
    with pytest.raises(P.PretrainedError, match="_conv_stem.weight"):
        P.onnx_model_bytes(None, weights=path)


# --------------------------------------------------------------------------- the on-disk cache

def test_a_truncated_onnx_cache_file_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    path = P.ensure_model_file(cache)
    good = path.read_bytes()
    assert path.name.endswith(f"-{P.BUILDER_VERSION}.onnx") and path.with_name(path.name + ".sha256").exists()
    path.write_bytes(good[: len(good) // 3])
    assert P.ensure_model_file(cache) == path
    assert path.read_bytes() == good
    assert sorted(p.name for p in cache.iterdir()) == sorted([path.name, path.name + ".sha256"])


def test_a_cached_file_with_a_wrong_sidecar_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    path = P.ensure_model_file(cache)
    good = path.read_bytes()
    path.write_bytes(good[:-10] + b"0123456789")
    assert P.onnx_model_bytes(cache) == good
    assert path.read_bytes() == good


def test_an_unwritable_cache_still_builds(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    assert len(P.onnx_model_bytes(blocked)) > 18_000_000


# --------------------------------------------------------------------------- user ONNX models

def _save(tmp_path, graph, name="user.onnx"):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / name
    onnx.save(model, path)
    return path


def _pool_model(tmp_path, shape, name="pool.onnx"):
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])], "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return _save(tmp_path, graph, name)


def test_a_user_model_embeds_with_imagenet_normalisation(tmp_path):
    model = P.load_onnx_model(_pool_model(tmp_path, ["n", 3, "h", "w"]), default_side=16)
    assert (model.channels, model.height, model.width, model.dim) == (3, None, None, 3)
    images = np.full((5, 20, 20), 51, np.uint8)  # 0.2 after scaling
    calls = []
    out = P.embed_with_onnx(model, images, batch_size=2, progress=lambda d, t: calls.append(d))
    expected = (0.2 - np.array(P.IMAGENET_MEAN)) / np.array(P.IMAGENET_STD)
    np.testing.assert_allclose(out, np.tile(expected, (5, 1)), atol=1e-5)
    assert calls == [2, 4, 5]


def test_a_fixed_size_one_channel_user_model(tmp_path):
    model = P.load_onnx_model(_pool_model(tmp_path, [1, 1, 16, 16]))
    assert (model.channels, model.height, model.width, model.batch) == (1, 16, 16, 1)
    rgb = np.zeros((3, 30, 30, 3), np.uint8)
    rgb[..., 1] = 255
    out = P.embed_with_onnx(model, rgb)
    gray = 0.587  # cv2's RGB->gray weight of green
    expected = (gray - np.mean(P.IMAGENET_MEAN)) / np.mean(P.IMAGENET_STD)
    np.testing.assert_allclose(out, np.full((3, 1), expected), atol=1e-3)
    with pytest.raises(P.PretrainedError, match="16x16"):
        P.embed_with_onnx(model, rgb, side=32)


def test_a_rank_3_input_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=0)], "rank3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(P.PretrainedError, match="rank 3") as caught:
        P.load_onnx_model(_save(tmp_path, graph))
    assert "\n" not in str(caught.value)


def test_an_output_that_is_not_a_vector_per_image_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "maps",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(P.PretrainedError, match="not one vector per image"):
        P.load_onnx_model(_save(tmp_path, graph))


def test_an_output_that_ignores_the_batch_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[0, 2, 3], keepdims=1)], "batchmean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(P.PretrainedError, match="not one vector per image"):
        P.load_onnx_model(_save(tmp_path, graph))


def test_a_broken_onnx_file_is_refused(tmp_path):
    good = _pool_model(tmp_path, ["n", 3, "h", "w"])
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(good.read_bytes()[:40])
    for path in (broken, tmp_path / "missing.onnx"):
        with pytest.raises(P.PretrainedError) as caught:
            P.load_onnx_model(path)
        assert "\n" not in str(caught.value) and path.name in str(caught.value)


def test_an_unknown_output_name_is_refused(tmp_path):
    with pytest.raises(P.PretrainedError, match="no output 'z'"):
        P.load_onnx_model(_pool_model(tmp_path, ["n", 3, "h", "w"]), output_name="z")


def test_the_shipped_model_also_loads_as_a_user_model(tmp_path):
    path = P.ensure_model_file(tmp_path)
    model = P.load_onnx_model(path, output_name="features", default_side=64)
    assert model.dim == 1280 and model.channels == 3
    copy = tmp_path / "copy.onnx"
    shutil.copy(path, copy)
    assert P.load_onnx_model(copy).output_name == "features"
