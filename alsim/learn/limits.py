"""Limits of the learners' settings, known without loading the learners (SciPy, scikit-learn),
so that a config is validated without them."""

from __future__ import annotations

# With gamma > 1000, exp(-gamma * d^2) underflows to 0 for all but near-duplicate images, so the
# graph is empty (gamma=1e308 overflows outright): the largest gamma a config accepts.
MAX_GAMMA = 1e3
