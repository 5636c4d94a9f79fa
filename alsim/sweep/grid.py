"""A sweep's settings: a base config, a grid of field values, strategies and seeds.

A **cell** is one (grid point, strategy, seed): one labeling run. Cells whose label-spreading
arms share a graph are batched into one **task** (all strategies, all grid points on that
graph, a chunk of seeds), so a task runs them in lockstep through :func:`alsim.loop.run.run_arms`,
as the Compare page does, and distributing tasks never costs the batching.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from alsim.common.errors import AlsimError, ConfigError

if TYPE_CHECKING:  # lazy: for annotations only; a Config loads the data sources and strategies
    from alsim.loop.config import Config

#: Fields that a sweep sets itself (``--strategies``, ``--seeds``) or that a comma list cannot express.
NOT_GRID_FIELDS = {
    "strategy": "give strategies with --strategies",
    "seed": "give the number of seeds with --seeds",
    "thresholds": "its value is itself a comma-separated list",
    "cost_params": "its value is itself a comma-separated list (set it with --set; a grid can vary cost)",
}
#: Cells per task aimed at: label-spreading arms on one graph share each matrix product, and
#: on digits the time per cell stops falling at about 20-50 arms per product.
CELLS_PER_TASK = 48
#: Bumped when a cell's result would change for the same config and data.
CELL_VERSION = 1
#: Seconds to wait for a scheduler given by address before giving up (the CLI's and the API's default).
CONNECT_TIMEOUT = 10.0
#: Largest sweep. Preparing a cell (its validated config and hash) takes about 0.2 ms, so the
#: limit keeps a sweep's checks under half a minute before any work (10**6 cells took 240 s).
MAX_CELLS = 100_000
#: Most grid points (each is validated, and its pool prepared, before any work).
MAX_POINTS = 10_000
#: Longest text of all ``--grid`` items together, checked before any value is parsed.
MAX_GRID_CHARS = 20_000


class SweepError(AlsimError, ValueError):
    """A sweep that cannot start (bad grid, store or scheduler): one line, exit code 2."""


@dataclass(frozen=True)
class Cell:
    """One labeling run of a sweep: a grid point under one strategy and one seed."""

    config: Config
    point: tuple[tuple[str, Any], ...]
    key: str  # the config hash: the cell's identity in the results store

    @property
    def point_key(self) -> str:
        return point_hash(self.point)


@dataclass(frozen=True)
class SweepTask:
    """Cells run together on one worker; ``target`` None means 95% of the fully labeled accuracy.

    A task names its data sets, never carries their arrays: a worker reads an imported set
    from the data store at ``data_home`` (the client's ``$ALSIM_HOME``), a folder the client
    and every worker share, so a pool of a million points never passes through the scheduler.
    """

    cells: tuple[Cell, ...]
    target: float | None
    reference_seed: int
    data_home: str = ""


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: every grid point x strategy x seed, each over ``base``.

    Attributes
    ----------
    base : Config
        The preset with its overrides; grid values replace its fields.
    grid : tuple of (field, values)
        Cartesian product of these values; empty = the base config only.
    strategies : tuple of str
    n_seeds : int
        Seeds ``base.seed .. base.seed + n_seeds - 1``; every strategy shares a seed's initial labels.
    target : float or None
        Accuracy for "labels to target"; None: 95% of each grid point's fully labeled accuracy.
    """

    base: Config
    grid: tuple[tuple[str, tuple], ...]
    strategies: tuple[str, ...]
    n_seeds: int
    target: float | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.grid)

    def points(self) -> list[tuple[tuple[str, Any], ...]]:
        """Every grid point as ((field, value), ...), in grid order."""
        names = self.fields
        return [tuple(zip(names, values)) for values in itertools.product(*(v for _, v in self.grid))]

    @property
    def n_cells(self) -> int:
        return math.prod(len(v) for _, v in self.grid) * len(self.strategies) * self.n_seeds

    def validate(self) -> None:
        """Raise :class:`SweepError` unless every cell is a valid config (no data is read)."""

        if self.n_cells > MAX_CELLS:
            raise SweepError(f"the sweep has {self.n_cells:,} cells, more than the limit of {MAX_CELLS:,}")
        n_points = math.prod(len(v) for _, v in self.grid)
        if n_points > MAX_POINTS:
            raise SweepError(f"the grid has {n_points:,} points, more than the limit of {MAX_POINTS:,}")
        from alsim.evidence.compare import validate_request  # lazy: the comparison loads the loop

        for point in self.points():
            config = _point_config(self.base, point)
            try:
                validate_request(config, list(self.strategies), self.n_seeds, target=self.target)
                for strategy in self.strategies:
                    config.replace(strategy=strategy)
            except ConfigError as exc:
                raise SweepError(f"{_describe(point)}: {exc}") from None

    def cells(self, content_keys: dict[str, str]) -> list[Cell]:
        """Every cell, ordered by grid point, seed, strategy.

        ``content_keys`` maps a dataset name to its data's content key (part of each hash,
        so a store never mixes results of different data under one name).
        """

        from alsim.evidence.compare import seeds_for  # lazy: the comparison loads the loop

        out = []
        for point in self.points():
            config = _point_config(self.base, point)
            for seed in seeds_for(self.base, self.n_seeds):
                for strategy in self.strategies:
                    cell_config = config.replace(strategy=strategy, seed=seed)
                    out.append(Cell(cell_config, point, config_hash(cell_config, content_keys[cell_config.dataset])))
        return out


def _point_config(base: Config, point: Sequence[tuple[str, Any]]) -> Config:
    try:
        return base.replace(**dict(point))
    except ConfigError as exc:
        raise SweepError(f"{_describe(point)}: {exc}") from None


def _describe(point: Sequence[tuple[str, Any]]) -> str:
    return "--grid " + " ".join(f"{name}={value}" for name, value in point) if point else "the base config"


def check_grid_size(items: Sequence[str], n_strategies: int = 1, n_seeds: int = 1,
                    max_cells: int = MAX_CELLS, hint: str = "") -> None:
    """Refuse a grid too big to expand, from its text alone: before any value is parsed or cell made.

    Its characters (at most :data:`MAX_GRID_CHARS`), its points (the product of the number of
    comma-separated values per item, at most :data:`MAX_POINTS`) and its cells (points x
    strategies x seeds, at most ``max_cells``; ``hint`` ends that message).
    """
    chars = sum(len(str(item)) for item in items)
    if chars > MAX_GRID_CHARS:
        raise SweepError(f"the grid's values hold {chars:,} characters, more than the limit of {MAX_GRID_CHARS:,}")
    n_points = math.prod(str(item).split("=", 1)[-1].count(",") + 1 for item in items)
    n_cells = n_points * max(1, n_strategies) * max(1, n_seeds)
    if n_cells > max_cells:
        raise SweepError(f"the sweep has {n_cells:,} cells, more than the limit of {max_cells:,}{hint}")
    if n_points > MAX_POINTS:
        raise SweepError(f"the grid has {n_points:,} points, more than the limit of {MAX_POINTS:,}")


def parse_grid(items: Sequence[str], base: Config) -> tuple[tuple[str, tuple], ...]:
    """``["gamma=0.1,0.25", "batch_size=5,10"]`` -> ``(("gamma", (0.1, 0.25)), ("batch_size", (5, 10)))``.

    Values are parsed and checked as ``--set field=value`` would be, one at a time, so
    an error names the field, the value and what is allowed. A grid too big to expand is
    refused from its text first (:func:`check_grid_size`).
    """
    from alsim.loop.config import Config  # lazy: `alsim sweep --help` reads this module's limits only

    check_grid_size(items)
    known = set(Config.allowed_names())
    grid: list[tuple[str, tuple]] = []
    for item in items:
        if "=" not in item:
            raise SweepError(f"--grid expects field=value1,value2,..., got {item!r}")
        name, raw = item.split("=", 1)
        name = name.strip().replace("-", "_")
        if name in NOT_GRID_FIELDS:
            raise SweepError(f"--grid cannot vary {name!r}: {NOT_GRID_FIELDS[name]}")
        if name not in known:
            allowed = ", ".join(sorted(known - set(NOT_GRID_FIELDS)))
            raise SweepError(f"--grid: unknown config field {name!r}; allowed: {allowed}")
        if name in dict(grid):
            raise SweepError(f"--grid gives {name!r} more than once; list all its values in one --grid")
        texts = [t.strip() for t in raw.split(",")]
        if not texts or any(t == "" for t in texts):
            raise SweepError(f"--grid {name}: expects comma-separated values without blanks, got {raw!r}")
        values = []
        for text in texts:
            try:
                values.append(base.with_overrides([f"{name}={text}"]).value(name))
            except ConfigError as exc:
                raise SweepError(f"--grid {name}={text}: {exc}") from None
        repeated = sorted(repr(v) for v, count in collections.Counter(values).items() if count > 1)
        if repeated:
            raise SweepError(f"--grid {name}: {', '.join(repeated)} is listed more than once")
        grid.append((name, tuple(values)))
    return tuple(grid)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: Config, content_key: str) -> str:
    """What a cell's result depends on: the config, the data's content and :data:`CELL_VERSION`."""
    return _config_dict_hash(config.to_dict(), content_key)


def _config_dict_hash(config: dict, content_key: str) -> str:
    text = _canonical({"config": config, "data": content_key, "version": CELL_VERSION})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def spec_id(spec: SweepSpec) -> str:
    """A short name of what a sweep runs (base config, grid, strategies, seeds, target), without its data."""
    text = _canonical({"base": spec.base.to_dict(), "grid": [[name, list(values)] for name, values in spec.grid],
                       "strategies": list(spec.strategies), "n_seeds": spec.n_seeds, "target": spec.target})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def sweep_record(spec: SweepSpec, content_keys: dict[str, str]) -> dict:
    """What a results store keeps of a sweep (JSON): enough to tell its cells from any other sweep's.

    ``data`` maps each dataset name the sweep uses to its content key.
    """
    record = {"base": spec.base.to_dict(), "grid": [[name, list(values)] for name, values in spec.grid],
              "strategies": list(spec.strategies), "n_seeds": spec.n_seeds, "target": spec.target,
              "data": dict(sorted(content_keys.items()))}
    return {"id": hashlib.sha256(_canonical(record).encode()).hexdigest()[:16], **record}


def record_points(record: dict) -> dict[str, tuple[tuple[str, Any], ...]]:
    """Every cell of a recorded sweep: its config hash -> its grid point (in this sweep's grid).

    Computed from the record alone (no config is built or validated): a cell's config is the
    base with the point's values, strategy and seed, hashed as :func:`config_hash` does.
    """
    base, grid = dict(record["base"]), [(name, tuple(values)) for name, values in record["grid"]]
    names = [name for name, _ in grid]
    seeds = [int(base["seed"]) + i for i in range(int(record["n_seeds"]))]
    out: dict[str, tuple[tuple[str, Any], ...]] = {}
    for values in itertools.product(*(v for _, v in grid)):
        point = tuple(zip(names, values))
        config = {**base, **dict(point)}
        content = record["data"][config["dataset"]]
        for seed in seeds:
            for strategy in record["strategies"]:
                out[_config_dict_hash({**config, "strategy": strategy, "seed": seed}, content)] = point
    return out


def point_hash(point: Sequence[tuple[str, Any]]) -> str:
    return hashlib.sha256(_canonical(dict(point)).encode()).hexdigest()[:16]


def point_json(point: Sequence[tuple[str, Any]]) -> str:
    return _canonical(dict(point))


def batch_key(config: Config) -> tuple:
    """Cells with equal keys share a pool (and, for label spreading, one graph and one product)."""
    key = (config.dataset, config.pool_size, config.features, config.pca_components, config.standardize,
           config.embed_side if config.features in ("pretrained", "onnx") else None,
           (config.onnx_model, config.onnx_output) if config.features == "onnx" else None, config.model,
           config.imbalance)
    if config.model == "label_spreading":
        key += (config.kernel, config.gamma if config.kernel == "rbf" else None,
                config.n_neighbors if config.kernel == "knn" else None, config.alpha, config.max_iter, config.tol)
    return key


def plan_tasks(spec: SweepSpec, cells: Sequence[Cell], done: set[str] | frozenset[str] = frozenset(),
               cells_per_task: int = CELLS_PER_TASK) -> list[SweepTask]:
    """Tasks for the cells not in ``done``: per batch key, chunks of consecutive seeds.

    A batch key's seeds are cut into as few chunks as keep a task within
    ``cells_per_task`` cells (at least one seed each), and the chunks differ by at most one
    seed, so tasks are of nearly equal work and spread evenly over the workers.

    The chunking depends on the spec only (not on the number of workers or on what is
    done), so a cell is always computed in the same company and a sweep gives the same
    numbers on one worker or many.
    """

    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(batch_key(cell.config), []).append(cell)
    from alsim.data.store import alsim_home  # lazy: `alsim sweep --help` reads this module's limits only
    from alsim.evidence.compare import seeds_for  # lazy: the comparison loads the loop

    tasks = []
    seeds = seeds_for(spec.base, spec.n_seeds)
    for members in groups.values():
        per_seed = max(1, len(members) // spec.n_seeds)
        largest = max(1, min(spec.n_seeds, cells_per_task // per_seed))
        n_chunks = -(-spec.n_seeds // largest)
        bounds = [round(i * spec.n_seeds / n_chunks) for i in range(n_chunks + 1)]
        for lo, hi in zip(bounds, bounds[1:]):
            chunk_seeds = set(seeds[lo:hi])
            pending = tuple(c for c in members if c.config.seed in chunk_seeds and c.key not in done)
            if pending:
                tasks.append(SweepTask(pending, spec.target, spec.base.seed, str(alsim_home())))
    return tasks
