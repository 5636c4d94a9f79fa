"""How far above chance a model gets on features that carry no label: the near-chance margin's yardstick.

    python bench/chance_margin.py

Random Gaussian embeddings (16 dimensions) with 150, 300 and 600 points; 2, 4 and 10
balanced classes and 4 classes with a 70% majority; three seeds; label spreading (10-NN and
rbf graphs) and logistic regression. For each, the ceiling (the model with every label,
5-fold on the pool; :func:`alsim.evidence.ceiling.ceiling`), chance and the margin of
:func:`alsim.evidence.chance.near_chance_margin`. Then digits and digits-tutorial, whose
features do carry the labels. Prints one line per case and the largest gap seen on noise.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ALSIM_HOME", tempfile.mkdtemp(prefix="alsim-bench-home-"))

from alsim.common.runtime import configure_process  # noqa: E402
from alsim.data.datasets import Dataset  # noqa: E402
from alsim.data.sources import SourceInfo, register_source  # noqa: E402
from alsim.evidence.ceiling import ceiling  # noqa: E402
from alsim.evidence.chance import near_chance_margin  # noqa: E402
from alsim.loop.config import Config  # noqa: E402

MIXES = {"2 balanced": (0.5, 0.5), "4 balanced": (0.25,) * 4, "10 balanced": (0.1,) * 10,
         "4, 70% majority": (0.7, 0.1, 0.1, 0.1)}
MODELS = {"label spreading 10-NN": {"model": "label_spreading", "kernel": "knn", "n_neighbors": 10},
          "label spreading rbf": {"model": "label_spreading"},
          "logistic regression": {"model": "logistic_regression"}}


def noise(n: int, weights, seed: int) -> str:
    name = f"noise-{n}-{len(weights)}-{weights[0]}-{seed}"
    rng = np.random.default_rng(seed)
    dataset = Dataset(name=name, images=None, labels=rng.choice(len(weights), n, p=weights),
                      class_names=tuple(map(str, range(len(weights)))), embeddings=rng.normal(size=(n, 16)))
    register_source(SourceInfo(name=name, description="noise", load=lambda: dataset, features=("precomputed",),
                               image_shape=None, has_test=False, locator=lambda: name))
    return name


def main() -> None:
    configure_process()
    largest, smallest_margin = -1.0, 1.0
    for n, (mix, weights), seed in itertools.product((150, 300, 600), MIXES.items(), range(3)):
        name = noise(n, weights, seed)
        for model, settings in MODELS.items():
            reach = ceiling(Config(dataset=name, features="precomputed", **settings))
            margin = near_chance_margin(reach.chance, reach.n)
            largest, smallest_margin = max(largest, reach.ceiling - reach.chance), min(smallest_margin, margin)
            print(f"{n:4d} points, {mix:16s} seed {seed}  {model:22s} ceiling {reach.ceiling:.3f} chance "
                  f"{reach.chance:.3f} gap {reach.ceiling - reach.chance:+.3f} margin {margin:.3f} "
                  f"warned {reach.warning is not None}")
    print(f"noise: largest gap above chance {largest:+.3f}; smallest margin {smallest_margin:.3f}")
    for dataset in ("digits", "digits-tutorial"):
        reach = ceiling(Config(dataset=dataset))
        print(f"{dataset}: ceiling {reach.ceiling:.3f}, chance {reach.chance:.3f}, warned {reach.warning is not None}")


if __name__ == "__main__":
    main()
