"""A 2-D map of a pool's features: where each strategy's picks lie among the rest.

One projection per pool and feature setting, kept in memory (``shared_cache("values")``)
and on disk (:mod:`alsim.storage.disk`, checked before it is trusted), so choosing another
round or colouring on a page never computes it again. UMAP (``umap-learn``) is used where it
is installed, else PCA with two components; both are seeded. Pools above
:data:`FIT_SAMPLE` points are fitted on a seeded sample and every point is then transformed.
"""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np

from alsim.storage import disk as diskcache
from alsim.storage.memory import shared_cache

#: Largest number of points a projection is fitted on; larger pools are transformed after the fit.
FIT_SAMPLE = 20_000
#: Bumped when the projection's code changes what it computes, so old cache files are not read.
PROJECTION_VERSION = 1
METHODS = ("umap", "pca")


def default_method() -> str:
    """``'umap'`` when ``umap-learn`` is importable, else ``'pca'``."""
    return "umap" if importlib.util.find_spec("umap") is not None else "pca"


def pool_projection(features: np.ndarray, pool_key, *, method: str | None = None, seed: int = 0,
                    fit_sample: int = FIT_SAMPLE, use_cache: bool = True) -> np.ndarray:
    """2-D coordinates of every pool point, computed once per pool and feature setting.

    Parameters
    ----------
    features : ndarray (n, d)
    pool_key : hashable or None
        What the features depend on (:attr:`alsim.loop.pool.Prepared.key`: the data's content key,
        pool size, feature kind and transform); its ``repr`` names the cache entry. None or ``()``:
        a digest of ``features`` names it.
    method : 'umap', 'pca' or None
        None: :func:`default_method`.
    seed : int
        Seeds the fit and the sample it is fitted on.
    fit_sample : int
        Pools larger than this are fitted on a seeded sample of this many points.
    use_cache : bool
        Read and write the memory and disk caches.

    Returns
    -------
    ndarray (n, 2) float32, read-only
    """
    method = method or default_method()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {features.shape}")
    if not use_cache:
        return _project(features, method, seed, fit_sample)
    n = len(features)
    if pool_key is None or pool_key == ():  # a pool made by hand: named by its values
        pool_key = ("features", hashlib.blake2b(np.ascontiguousarray(features).view(np.uint8), digest_size=16)
                    .hexdigest())
    path = projection_path(pool_key, features.shape, method, seed, fit_sample)

    def build() -> np.ndarray:
        coords = diskcache.load_array(path, (n, 2), np.float32, check=diskcache.finite)
        if coords is None:
            coords = _project(features, method, seed, fit_sample)
            diskcache.save_array(path, coords)
        return coords

    return shared_cache("values").get_or_build(("projection", path.name), build)


def projection_path(pool_key, shape: tuple[int, int], method: str, seed: int = 0, fit_sample: int = FIT_SAMPLE):
    """The disk-cache file of a projection: named by a digest of everything it depends on."""
    text = f"{pool_key!r}|{tuple(shape)}|{method}|{seed}|{fit_sample}|{PROJECTION_VERSION}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return diskcache.cache_dir() / "projections" / f"{method}-{shape[0]}-{digest}.npy"


def _project(features: np.ndarray, method: str, seed: int, fit_sample: int) -> np.ndarray:
    n = len(features)
    coords = np.zeros((n, 2), dtype=np.float32)
    if n < 3:  # nothing to spread out: a point or two on the origin
        return coords
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, fit_sample, replace=False)) if n > fit_sample else slice(None)
    fit_on = np.asarray(features[fit_rows], dtype=np.float32)
    if method == "umap":
        import umap  # lazy: optional dependency, only checked for by default_method

        model = umap.UMAP(n_components=2, random_state=seed).fit(fit_on)
    else:
        from sklearn.decomposition import PCA  # lazy: start-up of pages that draw no map

        model = PCA(n_components=min(2, fit_on.shape[1]), random_state=seed).fit(fit_on)
    for lo in range(0, n, 50_000):  # bounded memory for the float32 copy of each chunk
        part = model.transform(np.asarray(features[lo:lo + 50_000], dtype=np.float32))
        coords[lo:lo + len(part), :part.shape[1]] = part
    coords[~np.isfinite(coords)] = 0.0
    return coords
