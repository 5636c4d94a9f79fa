"""Features of images: raw pixels, OpenCV HOG, colour histograms, and embeddings (a pretrained CNN or
the user's ONNX model, :mod:`alsim.learn.pretrained`), with an on-disk cache."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from alsim.common.errors import DataError
from alsim.data.datasets import Dataset, register_image_feature_kind
from alsim.learn import pretrained
from alsim.storage import disk as diskcache
from alsim.storage.disk import cache_dir

# Experiment B's descriptor: 324 values for a 28x28 image.
HOG_PARAMS = dict(
    _winSize=(28, 28), _blockSize=(14, 14), _blockStride=(7, 7), _cellSize=(7, 7), _nbins=9,
    _derivAperture=1, _winSigma=-1, _histogramNormType=0, _L2HysThreshold=0.2,
    _gammaCorrection=True, _nlevels=64, _signedGradient=True,
)
HOG_VERSION = "hog-v1"


def hog_params(side: int = 28) -> dict:
    """Experiment B's descriptor scaled to ``side`` x ``side`` images (``side`` a multiple of 4, >= 8).

    Cells are a quarter of the side, blocks two cells, the stride one cell: always 324 values
    per image, and exactly :data:`HOG_PARAMS` at 28.
    """
    if side == 28:
        return dict(HOG_PARAMS)
    if side < 8 or side % 4:
        raise ValueError(f"HOG needs square images whose side is a multiple of 4 (>= 8), got {side}")
    cell = side // 4
    return {**HOG_PARAMS, "_winSize": (side, side), "_blockSize": (2 * cell, 2 * cell),
            "_blockStride": (cell, cell), "_cellSize": (cell, cell)}


def hog_descriptor(side: int = 28):
    import cv2

    if not hasattr(cv2, "HOGDescriptor"):
        raise RuntimeError("this OpenCV build has no cv2.HOGDescriptor; install opencv-python-headless<5")
    return cv2.HOGDescriptor(**hog_params(side))


def hog_features(images: np.ndarray, n_threads: int | None = None) -> np.ndarray:
    """OpenCV HOG of each square uint8 image (experiment B's descriptor at 28x28, see :func:`hog_params`).

    Parameters
    ----------
    images : ndarray, shape (n, side, side), uint8
    n_threads : int, optional
        OpenCV releases the GIL, so chunks run in parallel threads (default: CPU count).

    Returns
    -------
    ndarray, shape (n, 324), float32
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n = len(images)
    out = np.empty((n, 324), dtype=np.float32)
    threads = max(1, n_threads or os.cpu_count() or 1)
    bounds = np.linspace(0, n, threads * 4 + 1).astype(int)

    def work(lo_hi):
        lo, hi = lo_hi
        descriptor = hog_descriptor(images.shape[1])  # one per thread: compute() keeps scratch state
        for i in range(lo, hi):
            out[i] = descriptor.compute(images[i]).ravel()

    chunks = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if bounds[i + 1] > bounds[i]]
    if threads == 1 or n < 256:
        for chunk in chunks:
            work(chunk)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, chunks))
    return out


def raw_features(images: np.ndarray) -> np.ndarray:
    """Flattened pixels; 8-bit images are scaled to [0, 1], digits keep their 0..16 scale."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    if images.dtype == np.uint8:
        flat /= 255.0
    return flat


HIST_BINS_GRAY = 32
HIST_BINS_COLOUR = 8  # per channel: 8 x 8 x 8 = 512 joint colour bins


def color_histograms(images: np.ndarray) -> np.ndarray:
    """Intensity (gray) or joint colour histogram of each image, normalised to sum to 1.

    Parameters
    ----------
    images : ndarray, shape (n, h, w) gray or (n, h, w, 3) colour (any channel order: the histogram is joint);
        uint8, or digits' 0..16 floats (scaled to 0..255 first)

    Returns
    -------
    ndarray, shape (n, 32) for gray, (n, 512) for colour; computed by ``cv2.calcHist``.
    """
    import cv2

    images = np.asarray(images)
    if images.dtype != np.uint8:
        top = 16.0 if images.size and float(images.max()) <= 16.0 else 255.0
        images = np.clip(np.rint(images * (255.0 / top)), 0, 255).astype(np.uint8)
    colour = images.ndim == 4 and images.shape[-1] == 3
    if colour:
        channels, bins = [0, 1, 2], [HIST_BINS_COLOUR] * 3
    else:
        channels, bins = [0], [HIST_BINS_GRAY]
    ranges = [0, 256] * len(channels)
    out = np.empty((len(images), int(np.prod(bins))), dtype=np.float64)
    for i, image in enumerate(images):
        hist = cv2.calcHist([np.ascontiguousarray(image)], channels, None, bins, ranges).ravel()
        total = hist.sum()
        out[i] = hist / total if total > 0 else hist
    return out


@dataclass(frozen=True)
class FeatureOptions:
    """Settings of the embedding kinds: the image side the network sees, the user's ONNX model and output."""

    embed_side: int = pretrained.DEFAULT_SIDE
    onnx_model: str = ""
    onnx_output: str = ""


Progress = Callable[[int, int], None]


def _cache_key(dataset: Dataset, kind: str, split: str, model: str = "") -> str:
    params = repr(sorted(HOG_PARAMS.items())) if kind == "hog" else model
    # The data's content key, not its path: the same files anywhere share one cache entry, and
    # a changed file never reads a stale one.
    text = f"{dataset.content_key}|{kind}|{HOG_VERSION}|{params}|{split}"
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{dataset.name}-{kind}-{split}-{digest[:16]}.npy"


def hog_ready(images: np.ndarray) -> np.ndarray:
    """Images as HOG takes them: gray (colour converted), square, a side that is a multiple of 4 (>= 8).

    Experiment B's 28x28 images pass unchanged; others are resized (area interpolation) to
    the nearest such side of their longer edge, so the cells scale with the image.
    """
    import cv2  # lazy: start-up of commands that compute no features

    images = np.asarray(images)
    if images.dtype != np.uint8:
        top = 16.0 if images.size and float(images.max()) <= 16.0 else 255.0
        images = np.clip(np.rint(images * (255.0 / top)), 0, 255).astype(np.uint8)
    if images.ndim == 4:
        images = np.stack([cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) for image in images])
    h, w = images.shape[1:3]
    side = max(8, int(round(max(h, w) / 4)) * 4)
    if (h, w) != (side, side):
        images = np.stack([cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA if side < max(h, w)
                                      else cv2.INTER_LINEAR) for image in images])
    return images


def _image_scale(images: np.ndarray) -> float | None:
    """The white level of non-uint8 images (digits' 0..16 floats), for the embedding's input scaling."""
    if np.asarray(images).dtype == np.uint8:
        return None
    return 16.0 if images.size and float(np.max(images)) <= 16.0 else 255.0


@dataclass(frozen=True)
class Extractor:
    """A feature kind set up for one set of options: ``compute(images, progress) -> (n, d)``.

    ``cache`` names what the values depend on beyond the images (a descriptor's parameters, a
    model's digest and input side) and ``width`` their length; an extractor with a ``cache``
    name is stored on disk under the data's content key and that name. Quick kinds (raw
    pixels, histograms) have neither and are computed each time.
    """

    compute: Callable[[np.ndarray, "Progress | None"], np.ndarray]
    cache: str | None = None
    width: int | None = None


@dataclass(frozen=True)
class FeatureKind:
    """A registered feature kind: ``setup(options) -> Extractor``, called once per computation (a
    model is loaded and checked once, not per split)."""

    name: str
    setup: Callable[[FeatureOptions], Extractor]


def _embedding(kind: str, options: FeatureOptions) -> Extractor:
    """The pretrained network or the user's ONNX model, named by its digest and input size."""
    if kind == "pretrained":
        side = options.embed_side
        return Extractor(lambda images, progress: pretrained.embed(
            images, side=side, progress=progress, cache_dir=cache_dir() / "models", max_value=_image_scale(images)),
            cache=f"{pretrained.BUILDER_VERSION}|{pretrained.weights_digest()}|side={side}",
            width=pretrained.FEATURE_DIM)
    if not options.onnx_model:
        raise pretrained.PretrainedError("features 'onnx' needs onnx_model=PATH, the model file to run")
    model = pretrained.load_onnx_model(options.onnx_model, output_name=options.onnx_output or None,
                                       default_side=options.embed_side)
    size = f"{model.height or model.default_side}x{model.width or model.default_side}"
    return Extractor(lambda images, progress: pretrained.embed_with_onnx(
        model, images, progress=progress, max_value=_image_scale(images)),
        cache=f"onnx|{model.digest}|{model.output_name}|{size}", width=model.dim)


_FEATURE_KINDS: dict[str, FeatureKind] = {}
_FEATURE_KINDS_LOCK = threading.Lock()


def register_features(kind: FeatureKind) -> FeatureKind:
    """Add a feature kind (a new kind is one module that calls this); every set of images then offers it."""
    with _FEATURE_KINDS_LOCK:
        if kind.name in _FEATURE_KINDS or kind.name == "precomputed":
            raise ValueError(f"feature kind {kind.name!r} is already registered")
        _FEATURE_KINDS[kind.name] = kind
    register_image_feature_kind(kind.name)
    return kind


def feature_kind(name: str) -> FeatureKind:
    with _FEATURE_KINDS_LOCK:
        kind = _FEATURE_KINDS.get(name)
    if kind is None:
        raise ValueError(f"features must be one of {', '.join(map(repr, _FEATURE_KINDS))}, got {name!r}")
    return kind


register_features(FeatureKind("raw", lambda options: Extractor(lambda images, progress: raw_features(images))))
register_features(FeatureKind("hog", lambda options: Extractor(
    lambda images, progress: hog_features(hog_ready(images)), cache="", width=324)))
register_features(FeatureKind("colorhist", lambda options: Extractor(
    lambda images, progress: color_histograms(images))))
register_features(FeatureKind("pretrained", lambda options: _embedding("pretrained", options)))
register_features(FeatureKind("onnx", lambda options: _embedding("onnx", options)))


def compute_features(dataset: Dataset, kind: str, use_cache: bool = True, options: FeatureOptions | None = None,
                     progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Features of the pool and of the test split (``None`` without a test split), by a registered kind.

    Kinds with a cache name (HOG, embeddings) are stored under :func:`cache_dir`, keyed by the
    data set's content key (a hash of the data) and that name (the descriptor's parameters,
    the model's digest and input side), so a second run reads them back. A cached file is
    used only after its dtype, shape, size, digest and finiteness are checked
    (:mod:`alsim.storage.disk`); otherwise it is recomputed and written again.
    ``progress(done, total)`` follows the images, over both splits.
    """
    options = options or FeatureOptions()
    if dataset.images is None:
        raise DataError(f"features {kind!r} need images; dataset {dataset.name!r} has none")
    extractor = feature_kind(kind).setup(options)
    splits = [("pool", dataset.images)] + ([("test", dataset.test_images)] if dataset.has_test else [])
    stored = extractor.cache is not None
    model, dim = extractor.cache or "", extractor.width
    total = sum(len(images) for _, images in splits)
    done = 0
    result = []
    for split, images in splits:
        path = cache_dir() / "features" / _cache_key(dataset, kind, split, model)
        values = None
        if use_cache and stored:
            values = diskcache.load_array(path, (len(images), dim), np.float32, check=diskcache.finite)
        if values is None:
            offset = done
            values = extractor.compute(images,
                                       None if progress is None else (lambda d, _n: progress(offset + d, total)))
            if use_cache and stored:
                diskcache.save_array(path, np.ascontiguousarray(values, dtype=np.float32))
        done += len(images)
        if progress is not None:
            progress(done, total)
        result.append(values if not stored else np.asarray(values, dtype=np.float64))
    return result[0], (result[1] if len(result) > 1 else None)
