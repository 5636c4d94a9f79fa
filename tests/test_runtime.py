"""Process-level settings: BLAS pools set once by the entry points, never per fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, os
import numpy, scipy.linalg  # load the BLAS libraries first
from threadpoolctl import threadpool_info
before = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
from alsim.cli.main import main
main(["presets"])
after = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
import alsim.dashboard  # a second entry point in the same process changes nothing more
again = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
import sklearn.cluster  # loads scikit-learn's OpenMP runtime after the settings were made
openmp = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"})
print(json.dumps([before, after, again, openmp]))
"""


def _probe(value: str | None) -> list:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS", "OMP_", "MKL_"))}
    env.pop("ALSIM_BLAS_THREADS", None)
    if value is not None:
        env["ALSIM_BLAS_THREADS"] = value
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to tell 1 BLAS thread from the default")
def test_the_command_line_sets_one_blas_thread_once():
    before, after, again, openmp = _probe(None)
    assert max(before) >= 2  # the library's own default on this machine
    assert after == [1] and again == [1]
    assert openmp == [1]  # k-means too: one thread per run, the runs are the parallelism


def test_zero_leaves_the_library_choice():
    before, after, _, openmp = _probe("0")
    assert after == before
    assert openmp == [os.cpu_count()]


def test_bad_values_fall_back_to_the_default():
    from alsim.common.runtime import DEFAULT_BLAS_THREADS, blas_threads_wanted

    os.environ["ALSIM_BLAS_THREADS"] = "٣"
    try:
        assert blas_threads_wanted() == DEFAULT_BLAS_THREADS
    finally:
        del os.environ["ALSIM_BLAS_THREADS"]
