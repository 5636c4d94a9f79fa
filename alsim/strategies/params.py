"""Strategy hyperparameters: each strategy registers a small frozen dataclass of its own.

A :class:`alsim.loop.config.Config` carries every registered class's values in one
:class:`StrategyParams` (hashable, so a config stays a cache key). The names people type
(``--set typiclust_neighbors=30``, URLs, saved JSON configs) are each class's ``legacy``
names; ``typiclust.neighbors=30`` names the same value.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from alsim.common.errors import ConfigError

_CLASSES: dict[str, type] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Params:
    """Base of a strategy's parameters: a frozen dataclass with defaults and a ``validate``."""

    #: Flat names as earlier configs, URLs and ``--set`` wrote them -> this class's field.
    legacy: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the value (by its flat name) and what is allowed."""

    def flat_name(self, field: str) -> str:
        """The name a person types for ``field`` (its legacy flat name)."""
        return next((old for old, new in self.legacy.items() if new == field), field)


def register_params(strategy: str, params: type) -> None:
    """Register ``params`` (a :class:`Params` subclass) as the parameters of ``strategy``."""
    with _LOCK:
        if strategy in _CLASSES:
            raise ValueError(f"parameters of strategy {strategy!r} are already registered")
        _CLASSES[strategy] = params


def params_classes() -> dict[str, type]:
    with _LOCK:
        return dict(_CLASSES)


def legacy_names() -> dict[str, tuple[str, str]]:
    """``{'typiclust_neighbors': ('typiclust', 'neighbors'), ...}`` over every registered class."""
    return {old: (strategy, new) for strategy, cls in params_classes().items() for old, new in cls.legacy.items()}


def resolve_name(name: str) -> tuple[str, str] | None:
    """(strategy, field) of a flat (``typiclust_neighbors``) or dotted (``typiclust.neighbors``) name, else None."""
    legacy = legacy_names()
    if name in legacy:
        return legacy[name]
    strategy, dot, field = name.partition(".")
    cls = params_classes().get(strategy)
    if dot and cls is not None and field in {f.name for f in dataclasses.fields(cls)}:
        return strategy, field
    return None


def field_type(strategy: str, field: str) -> str:
    """The declared type of a parameter, as text (``int``, ``float | None``, ``str``)."""
    return str(next(f.type for f in dataclasses.fields(params_classes()[strategy]) if f.name == field))


@dataclass(frozen=True)
class StrategyParams:
    """Every registered strategy's parameters; ``params['typiclust'].neighbors``.

    ``values`` holds ``(strategy, Params)`` pairs; a strategy left out gets its defaults.
    """

    values: tuple = ()

    def __post_init__(self) -> None:
        classes = params_classes()
        given = dict(self.values)
        unknown = sorted(set(given) - set(classes))
        if unknown:
            raise ConfigError(f"no strategy parameters for {', '.join(map(repr, unknown))}; "
                              f"strategies with parameters: {', '.join(sorted(classes))}")
        for name, value in given.items():
            if not isinstance(value, classes[name]):
                raise ConfigError(f"parameters of {name!r} must be a {classes[name].__name__}, got {value!r}")
        full = tuple(sorted((name, given.get(name) or cls()) for name, cls in classes.items()))
        object.__setattr__(self, "values", full)

    def __getitem__(self, strategy: str) -> Params:
        for name, value in self.values:
            if name == strategy:
                return value
        raise KeyError(strategy)

    def value(self, strategy: str, field: str) -> Any:
        return getattr(self[strategy], field)

    def replace(self, changes: dict[tuple[str, str], Any]) -> "StrategyParams":
        """A copy with ``{(strategy, field): value}`` changed (validated)."""
        by_strategy: dict[str, dict[str, Any]] = {}
        for (strategy, field), value in changes.items():
            by_strategy.setdefault(strategy, {})[field] = value
        try:
            return StrategyParams(tuple((name, dataclasses.replace(value, **by_strategy[name])
                                         if name in by_strategy else value) for name, value in self.values))
        except TypeError as exc:  # a value of the wrong kind for a field's comparison
            raise ConfigError(str(exc).splitlines()[0]) from None

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(value) for name, value in self.values}

    @classmethod
    def from_dict(cls, data: Any) -> "StrategyParams":
        """From ``{strategy: {field: value}}`` (as :meth:`to_dict` writes it); unknown names are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"strategy_params must be a mapping of strategy names to parameters, got {data!r:.60}")
        classes = params_classes()
        values = []
        for name, fields in data.items():
            if name not in classes:
                raise ConfigError(f"no strategy parameters for {name!r:.40}; strategies with parameters: "
                                  f"{', '.join(sorted(classes))}")
            if not isinstance(fields, dict):
                raise ConfigError(f"strategy_params.{name} must be a mapping of fields, got {fields!r:.60}")
            allowed = {f.name for f in dataclasses.fields(classes[name])}
            unknown = sorted(str(k)[:40] for k in fields if k not in allowed)
            if unknown:
                raise ConfigError(f"unknown parameter(s) {', '.join(unknown)} of {name}; allowed: "
                                  f"{', '.join(sorted(allowed))}")
            try:
                values.append((name, classes[name](**fields)))
            except TypeError as exc:
                raise ConfigError(str(exc).splitlines()[0]) from None
        return cls(tuple(values))
