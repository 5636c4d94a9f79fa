"""alsim: simulate active learning for labeling images.

The core is pure Python (numpy, scipy, scikit-learn, OpenCV); it never imports Streamlit.

The path of a run: :class:`Config` -> :func:`prepare` (data source, pool, features) ->
:func:`run_loop`, a generator of :class:`Round` records -> :mod:`alsim.report.plots`.

Layers, lowest first. A module imports only from its own layer's package or lower ones;
``tests/test_layers.py`` enforces it:

0. ``alsim.common`` (errors, JSON, files, process settings), ``alsim.storage`` (memory and disk caches)
1. ``alsim.data``: data sets, importers, the data store, the source registry
2. ``alsim.learn``: features, graphs, models, metrics
3. ``alsim.strategies``: query strategies and their registry
4. ``alsim.loop``: config, pool, oracles, round records, the loop, stopping rules, presets
5. ``alsim.evidence`` (comparisons, verdicts, narrative), ``alsim.labeling`` (label store, projects)
6. ``alsim.sweep`` (grids on Dask), ``alsim.report`` (figures, HTML report, exports)
7. entry points: ``alsim.cli``, ``alsim.dashboard`` (the only Streamlit code), ``app.py``, ``pages/``, ``bench/``

Three seams, each a registry or a protocol: data sources (:func:`register_source`),
strategies (:func:`register_strategy`), oracles (:class:`Oracle`).

The names below are loaded on first use, so ``import alsim.<package>`` costs only what
that package needs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SharedCache": "alsim.storage.memory", "shared_cache": "alsim.storage.memory",
    "AlsimError": "alsim.common.errors", "ConfigError": "alsim.common.errors", "DataError": "alsim.common.errors",
    "Config": "alsim.loop.config",
    "Dataset": "alsim.data.datasets", "fashion_available": "alsim.data.datasets",
    "load_dataset": ("alsim.data.sources", "load_source"),
    "first_k_baseline": "alsim.loop.run", "run_arms": "alsim.loop.run", "run_loop": "alsim.loop.run",
    "Oracle": "alsim.loop.oracles", "SimulatedOracle": "alsim.loop.oracles",
    "Prepared": "alsim.loop.pool", "prepare": "alsim.loop.pool",
    "PRESETS": "alsim.loop.presets", "get_preset": "alsim.loop.presets",
    "Round": "alsim.loop.records",
    "SourceInfo": "alsim.data.sources", "register_source": "alsim.data.sources", "source_info": "alsim.data.sources",
    "source_names": "alsim.data.sources",
    "Query": "alsim.strategies", "QueryContext": "alsim.strategies", "strategy_names": "alsim.strategies",
    "register_strategy": ("alsim.strategies", "register"),
}

__all__ = sorted(_EXPORTS)
from alsim.common.version import VERSION as __version__  # noqa: E402,F401


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'alsim' has no attribute {name!r}")
    module, attribute = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
