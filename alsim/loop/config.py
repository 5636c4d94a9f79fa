"""Run configuration: one frozen, validated dataclass that fully describes a run."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from alsim.common.errors import ConfigError
from alsim.data.sources import source_info, source_names
from alsim.strategies import strategy_names

FEATURES = ("raw", "hog", "colorhist", "precomputed")
MODELS = ("label_spreading", "linear_svc", "linear_svc_newton", "logistic_regression")
KERNELS = ("rbf", "knn")
INITIAL = ("first", "random", "stratified", "typical", "kcenter")
COMMITTEE_MEASURES = ("vote_entropy", "kl")
SELF_TRAINING = ("off", "pseudo", "oracle")
SCHEDULES = ("linear", "list")
EVALUATIONS = ("pool", "test", "both")



@dataclass(frozen=True)
class Config:
    """Everything that determines one labeling run.

    Attributes
    ----------
    dataset : str
        ``digits`` (all 1,797), ``digits-tutorial`` (experiment A's pool: shuffled with
        ``RandomState(0)``, first 330) or ``fashion-mnist`` (60,000 train + 10,000 test).
    pool_size : int
        Use only this many pool points (0 = all). The subset is drawn once with a fixed
        generator, independent of ``seed``, so runs with different seeds share the pool.
    features : str
        ``raw`` pixels or ``hog`` (OpenCV HOG as in experiment B).
    model : str
        ``label_spreading`` (transductive on the whole pool); ``linear_svc`` (scikit-learn's
        LinearSVC), ``linear_svc_newton`` (the same objective solved by Newton's method,
        warm-started from the previous round: much faster on large labeled sets) or
        ``logistic_regression``, fitted on the labeled points only.
    kernel, gamma, n_neighbors, alpha, max_iter, tol :
        LabelSpreading settings (as in scikit-learn).
    C : float
        Regularisation of LinearSVC / LogisticRegression.
    initial : str
        How initial labels are chosen: ``first`` k of the pool order, ``random`` k,
        ``stratified`` (k split evenly over the classes, drawn at random), ``typical``
        (TypiClust's cold start: the most typical point of each of k k-means clusters) or
        ``kcenter`` (k-center greedy from a random first point).
    n_initial : int
        Number of initial revealed labels.
    batch_size : int
        Labels revealed per round by the query strategy.
    n_rounds : int
        Number of model fits (points on the learning curve).
    strategy : str
        Query strategy; ``none`` reveals nothing after the initial labels.
    self_training : str
        ``off``; ``pseudo``: confident unlabeled points get the model's *predicted* label
        (a pseudo-label, never counted as revealed); ``oracle``: confident points get their
        TRUE label, which is what experiment B's published code did. Oracle moves are
        revealed labels and count against the labeling budget.
    schedule, threshold_start, threshold_end, threshold_steps, threshold_final, thresholds :
        Confidence threshold per round. ``linear``: ``threshold_steps`` values from start to
        end, then ``threshold_final`` if set; ``list``: the explicit ``thresholds``.
    evaluation : str
        ``pool`` (still-unlabeled pool points, transductive), ``test`` (held-out split) or
        ``both``. The headline accuracy is the test one when a test split is evaluated.
    seed : int
        Seed of every random choice in the run.
    pca_components : int
        Reduce the features to this many principal components (0 = keep them all); fitted on
        the pool, applied to the test split too.
    standardize : bool
        Scale every feature to zero mean and unit variance over the pool (before PCA).
    typiclust_neighbors, max_clusters :
        TypiClust: neighbours of the typicality (the paper: 20) and the cap on |L| + k
        k-means clusters (the paper: 500).
    probcover_delta, probcover_purity, probcover_sample :
        ProbCover: the ball radius, or None to choose it by the purity heuristic (largest
        radius whose balls are pure for at least ``probcover_purity`` of the points); on
        pools larger than ``probcover_sample`` points (0 = never), a uniform sample of that
        many points, drawn once per pool, carries the graph.
    density_beta : float
        Information density: exponent of the mean cosine similarity.
    committee_size, committee_measure :
        Query by committee: bootstrap members (>= 2) and ``vote_entropy`` or ``kl`` (mean
        Kullback-Leibler divergence to the consensus).
    margin_candidates, cluster_margin_clusters :
        Cluster-Margin: ``margin_candidates * batch_size`` lowest-margin candidates, spread
        over ``cluster_margin_clusters`` k-means clusters of the pool (0 = round(sqrt(n))).
    stop_kappa, stop_kappa_window, stop_set_size :
        Stabilizing predictions (Bloodgood and Vijay-Shanker 2009): stop once Cohen's kappa
        between successive models' predictions on a stop set (``stop_set_size`` points
        unlabeled at the start, 0 = all of them) stays >= ``stop_kappa`` for
        ``stop_kappa_window`` successive pairs. None disables a rule.
    stop_uncertainty : float or None
        Overall uncertainty: stop once the mean normalised uncertainty of the unlabeled pool
        falls below this.
    stop_max_uncertainty : float or None
        Max uncertainty: stop once the most uncertain point chosen falls below this
        (normalised to [0, 1]).
    stop_change : float or None
        Classification change: stop once at most this share of the still-unlabeled points
        changed predicted class since the previous round.
    stop_budget : int
        Stop at this many revealed labels (0 = no budget rule).
    stop_target : float or None
        Stop once accuracy reaches this (it reads the hidden truth: a yardstick, not a rule
        a labeling team could apply).
    """

    dataset: str = "digits-tutorial"
    pool_size: int = 0
    features: str = "raw"
    model: str = "label_spreading"
    kernel: str = "rbf"
    gamma: float = 0.25
    n_neighbors: int = 7
    alpha: float = 0.2
    max_iter: int = 20
    tol: float = 1e-3
    C: float = 1.0
    initial: str = "first"
    n_initial: int = 40
    batch_size: int = 5
    n_rounds: int = 5
    strategy: str = "entropy"
    self_training: str = "off"
    schedule: str = "linear"
    threshold_start: float = 0.75
    threshold_end: float = 0.30
    threshold_steps: int = 10
    threshold_final: float | None = 0.10
    thresholds: tuple[float, ...] = field(default=())
    evaluation: str = "pool"
    seed: int = 0
    pca_components: int = 0
    standardize: bool = False
    typiclust_neighbors: int = 20
    max_clusters: int = 500
    probcover_delta: float | None = None
    probcover_purity: float = 0.95
    probcover_sample: int = 5000
    density_beta: float = 1.0
    committee_size: int = 5
    committee_measure: str = "vote_entropy"
    margin_candidates: int = 10
    cluster_margin_clusters: int = 0
    stop_kappa: float | None = 0.99
    stop_kappa_window: int = 3
    stop_set_size: int = 0
    stop_uncertainty: float | None = 0.05
    stop_max_uncertainty: float | None = 0.1
    stop_change: float | None = 0.0
    stop_budget: int = 0
    stop_target: float | None = None

    def __post_init__(self) -> None:
        # Lists from JSON become tuples so the config stays hashable.
        if isinstance(self.thresholds, list):
            object.__setattr__(self, "thresholds", tuple(self.thresholds))
        self.validate()

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise :class:`ConfigError` on the first invalid field."""
        source = _source(self.dataset)
        _choice("features", self.features, FEATURES)
        _choice("model", self.model, MODELS)
        _choice("kernel", self.kernel, KERNELS)
        _choice("initial", self.initial, INITIAL)
        _choice("strategy", self.strategy, _strategies())
        _choice("self_training", self.self_training, SELF_TRAINING)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("evaluation", self.evaluation, EVALUATIONS)
        _integer("pool_size", self.pool_size, 0)
        _integer("n_neighbors", self.n_neighbors, 1)
        _integer("max_iter", self.max_iter, 1)
        _integer("n_initial", self.n_initial, 1)
        _integer("batch_size", self.batch_size, 1)
        _integer("n_rounds", self.n_rounds, 1)
        _integer("threshold_steps", self.threshold_steps, 1, MAX_THRESHOLD_STEPS)
        _integer("seed", self.seed, 0, MAX_SEED)
        _integer("pca_components", self.pca_components, 0, MAX_PCA)
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"standardize must be true or false, got {_shown(self.standardize)}")
        self._validate_strategy_parameters()
        _positive("gamma", self.gamma, MAX_GAMMA)
        _positive("tol", self.tol)
        _positive("C", self.C, MAX_C)
        _number("alpha", self.alpha)
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha!r}")
        for name in ("threshold_start", "threshold_end"):
            _unit_interval(name, getattr(self, name))
        if self.threshold_final is not None:
            _unit_interval("threshold_final", self.threshold_final)
        if not isinstance(self.thresholds, tuple):
            raise ConfigError(f"thresholds must be a list of numbers, got {self.thresholds!r}")
        for value in self.thresholds:
            _unit_interval("thresholds", value)
        if self.schedule == "list" and self.self_training != "off" and not self.thresholds:
            raise ConfigError("thresholds must not be empty when schedule is 'list'")
        try:
            source.check(self.features, self.evaluation, self.pool_size)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.strategy == "none" and self.self_training == "off" and self.n_rounds > 1:
            raise ConfigError(
                "strategy 'none' with self_training 'off' never changes the labels: set n_rounds to 1, "
                "or pick a strategy or self-training"
            )

    def _validate_strategy_parameters(self) -> None:
        """Parameters of the feature-space strategies and of the stopping rules."""
        _choice("committee_measure", self.committee_measure, COMMITTEE_MEASURES)
        _integer("typiclust_neighbors", self.typiclust_neighbors, 1, MAX_NEIGHBOURS)
        _integer("max_clusters", self.max_clusters, 2, MAX_CLUSTERS)
        _integer("committee_size", self.committee_size, 2, MAX_COMMITTEE)
        _integer("margin_candidates", self.margin_candidates, 1, MAX_NEIGHBOURS)
        _integer("cluster_margin_clusters", self.cluster_margin_clusters, 0, MAX_CLUSTERS)
        _integer("stop_kappa_window", self.stop_kappa_window, 1, MAX_NEIGHBOURS)
        _integer("stop_set_size", self.stop_set_size, 0)
        _integer("stop_budget", self.stop_budget, 0)
        if self.probcover_delta is not None:
            _positive("probcover_delta", self.probcover_delta)
        _open_unit_interval("probcover_purity", self.probcover_purity)
        _integer("probcover_sample", self.probcover_sample, 0, MAX_PROBCOVER_SAMPLE)
        if 0 < self.probcover_sample < 100:
            raise ConfigError(f"probcover_sample must be 0 (every point) or at least 100, got {self.probcover_sample}")
        _number("density_beta", self.density_beta)
        if not 0.0 <= self.density_beta <= MAX_BETA:
            raise ConfigError(f"density_beta must be in [0, {MAX_BETA:g}], got {self.density_beta!r}")
        for name in ("stop_kappa", "stop_uncertainty", "stop_max_uncertainty", "stop_target"):
            value = getattr(self, name)
            if value is not None:
                _number(name, value)
                if not 0.0 < value <= 1.0:
                    raise ConfigError(f"{name} must be in (0, 1] or none, got {value!r}")
        if self.stop_change is not None:
            _number("stop_change", self.stop_change)
            if not 0.0 <= self.stop_change < 1.0:
                raise ConfigError(f"stop_change must be in [0, 1) or none, got {self.stop_change!r}")

    # ----------------------------------------------------------------- derived
    def threshold_schedule(self) -> tuple[float, ...]:
        """Thresholds applied after fits 0, 1, ... (empty when self-training is off)."""
        if self.self_training == "off":
            return ()
        if self.schedule == "list":
            return tuple(float(t) for t in self.thresholds)
        steps = self.threshold_steps
        if steps == 1:
            values = [self.threshold_start]
        else:
            delta = (self.threshold_end - self.threshold_start) / (steps - 1)
            values = [round(self.threshold_start + delta * i, 12) for i in range(steps)]
        if self.threshold_final is not None:
            values.append(self.threshold_final)
        return tuple(values)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-compatible)."""
        out = dataclasses.asdict(self)
        out["thresholds"] = list(self.thresholds)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Build from a dict (as parsed from JSON); unknown keys are an error naming them.

        Text fields must be strings and ``thresholds`` a list, so that any JSON value
        ends in a :class:`ConfigError` naming the field rather than in another exception.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a mapping of field names to values, got {type(data).__name__}")
        declared = {f.name: str(f.type) for f in fields(cls)}
        unknown = sorted(name if isinstance(name, str) and name.isprintable() else repr(name)
                         for name in set(data) - set(declared))
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(declared))}")
        values = dict(data)
        for name, value in values.items():
            if declared[name] == "str" and not isinstance(value, str):
                raise ConfigError(f"{name} must be a string, got {_shown(value)}")
        if "thresholds" in values:
            if not isinstance(values["thresholds"], (list, tuple)):
                raise ConfigError(f"thresholds must be a list of numbers, got {_shown(values['thresholds'])}")
            values["thresholds"] = tuple(values["thresholds"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str | bytes, base: "Config | None" = None) -> "Config":
        """Build from a JSON object of fields; fields it leaves out come from ``base`` (default: the defaults).

        ``bytes`` must be UTF-8 (a leading byte-order mark is allowed). Malformed text,
        deep nesting and wrong types all end in a one-line :class:`ConfigError`.
        """
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ConfigError(f"config is not UTF-8 text: byte {exc.start} is {exc.object[exc.start]:#04x}") from None
        try:
            data = json.loads(text)
        except RecursionError:
            raise ConfigError("config JSON is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, or an integer literal beyond Python's digit limit
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config JSON must be an object, got {type(data).__name__}")
        return cls.from_dict({**base.to_dict(), **data} if base is not None else data)

    def with_overrides(self, assignments: list[str]) -> "Config":
        """Apply ``field=value`` strings (as given on the command line)."""
        types = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set expects field=value, got {item!r}")
            name, raw = item.split("=", 1)
            name = name.strip().replace("-", "_")
            if name not in types:
                raise ConfigError(f"unknown config field {name!r}; allowed: {', '.join(sorted(types))}")
            changes[name] = _parse_value(name, str(types[name]), raw.strip())
        return self.replace(**changes)


MAX_INTEGER = 2**31 - 1
MAX_SEED = 2**32 - 1  # numpy's RandomState and scikit-learn's random_state take seeds below 2**32
MAX_THRESHOLD_STEPS = 10_000  # the schedule is materialised as a tuple
# Beyond these the numbers stop meaning anything and start to overflow: with gamma > 1000,
# exp(-gamma * d^2) underflows to 0 for all but near-duplicate images, so the graph is empty
# (gamma=1e308 overflows outright and reports accuracy 0.08); with C > 1e4 the Newton
# solver's Hessian is too ill-conditioned to match liblinear, and C=1e300 overflows.
MAX_GAMMA = 1e3
MAX_C = 1e4
MAX_NEIGHBOURS = 1000  # typicality neighbours, margin candidates per label, kappa window
MAX_CLUSTERS = 100_000
MAX_PROBCOVER_SAMPLE = 50_000  # its delta-ball graph: 2.5e9 distances
MAX_COMMITTEE = 100  # every member is a full model fit
MAX_BETA = 100.0
MAX_PCA = 4096  # principal components; more than any image feature vector here needs
_MAX_DIGITS = 100

_INTEGER_SYNTAX = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() also takes "٣" and "3_0"
_NUMBER_SYNTAX = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_boolean(text: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``); ``ValueError`` otherwise."""
    value = {"true": True, "1": True, "yes": True, "on": True,
             "false": False, "0": False, "no": False, "off": False}.get(text.strip().lower())
    if value is None:
        raise ValueError(f"not a boolean: {text!r}")
    return value


def parse_integer(text: str) -> int:
    """An integer written as ASCII digits with an optional sign; ``ValueError`` otherwise."""
    if not _INTEGER_SYNTAX.fullmatch(text) or len(text) > _MAX_DIGITS:
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def parse_number(text: str) -> float:
    """A decimal number such as ``0.25``, ``-3`` or ``1e-3``; ``ValueError`` otherwise.

    ``float()`` also accepts ``nan``, ``inf``, ``1_0`` and non-ASCII digits; none of those
    is a value a person means to type here.
    """
    if not _NUMBER_SYNTAX.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def _parse_value(name: str, type_name: str, raw: str) -> Any:
    """The value of one ``--set name=raw``, by the field's declared type (text fields stay text)."""
    if name == "thresholds":
        parse, expected = _parse_number_list, "a comma-separated list of numbers such as 0.9,0.8"
    elif "float | None" in type_name:
        parse, expected = _parse_optional_number, "a number (such as 0.1 or 1e-3) or none"
    elif type_name.startswith("float"):
        parse, expected = parse_number, "a number (such as 0.25 or 1e-3)"
    elif type_name.startswith("int"):
        parse, expected = parse_integer, "an integer such as 5"
    elif type_name.startswith("bool"):
        parse, expected = parse_boolean, "true or false"
    else:
        return raw
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(f"{name} expects {expected}, got {_shown(raw)}") from None


def _parse_number_list(text: str) -> tuple[float, ...]:
    return tuple(parse_number(item.strip()) for item in text.split(",") if item.strip())


def _parse_optional_number(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "") else parse_number(text)


def _shown(value: Any, limit: int = 60) -> str:
    """``repr`` of a value, shortened so that an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _source(name: Any):
    """The registered data source of ``dataset``; its capabilities decide what is valid."""

    try:
        return source_info(name)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"dataset must be one of {', '.join(map(repr, source_names()))}, got {name!r}") from None


def _strategies() -> tuple[str, ...]:
    """Registered strategy names, plus ``none`` (reveal nothing after the initial labels)."""

    return strategy_names(include_none=True)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _integer(name: str, value: Any, minimum: int, maximum: int = MAX_INTEGER) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {_shown(value)}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {_shown(value)}")
    if value > maximum:
        raise ConfigError(f"{name} must be an integer in [{minimum}, {maximum}], got {_shown(value)}")


def _number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a finite number, got {_shown(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise ConfigError(f"{name} must be a finite number, got {_shown(value)}")


def _positive(name: str, value: Any, maximum: float = math.inf) -> None:
    """``value`` in (0, maximum]; the message states the allowed range."""
    _number(name, value)
    if not 0 < value <= maximum:
        allowed = "> 0" if maximum == math.inf else f"in (0, {maximum:g}]"
        raise ConfigError(f"{name} must be {allowed}, got {_shown(value)}")


def _open_unit_interval(name: str, value: Any) -> None:
    _number(name, value)
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {value!r}")


def _unit_interval(name: str, value: Any) -> None:
    _number(name, value)
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")
