"""Sweeps: a grid of settings x strategies x seeds, run as Dask tasks, stored cell by cell.

The path: :class:`SweepSpec` (base config, grid, strategies, seeds) -> cells, each keyed
by a config hash -> :func:`plan_tasks` (cells sharing a graph batched, a chunk of seeds
per task) -> :func:`run_sweep` (a local Dask cluster or an existing one; tasks already
stored are skipped) -> :class:`ResultStore` (Parquet or JSON lines, appended as tasks
finish) -> :func:`summarize_sweep` -> :func:`gain_heatmap`.

Importing :mod:`alsim.sweep` does not import Dask; running a sweep on a cluster does.

Layer 6: may import :mod:`alsim.evidence`, :mod:`alsim.labeling` and everything below; not :mod:`alsim.report`.
"""

from importlib import import_module

_HOMES = {
    "analysis": ("SweepSummary", "heatmap_grid", "summarize_sweep"),
    "grid": ("CELLS_PER_TASK", "Cell", "SweepError", "SweepSpec", "SweepTask", "config_hash", "parse_grid",
             "plan_tasks"),
    "plots": ("METRICS", "gain_heatmap"),
    "runner": ("Progress", "SweepReport", "SweepTaskError", "dask_client", "prepare_sweep",
               "run_sweep", "run_task"),
    "store": ("ResultStore", "parquet_available"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    # Lazy, so that the CLI's parser can import alsim.cli.sweep without pandas and plotly.
    if name in _HOME_OF:
        return getattr(import_module(f".{_HOME_OF[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CELLS_PER_TASK", "Cell", "METRICS", "Progress", "ResultStore", "SweepError", "SweepReport", "SweepSpec",
    "SweepSummary", "SweepTask", "SweepTaskError", "config_hash", "dask_client",
    "gain_heatmap", "heatmap_grid", "holm", "parquet_available", "plan_tasks", "prepare_sweep", "parse_grid",
    "run_sweep", "run_task", "summarize_sweep",
]
