"""Run configuration: one frozen, validated dataclass that fully describes a run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

from alsim.common.errors import ConfigError
from alsim.common.values import (
    check_choice,
    check_integer,
    check_number,
    check_positive,
    check_unit_interval,
    parse_value,
    shown,
)
from alsim.data.datasets import image_feature_kinds
from alsim.data.sources import source_info, source_names
from alsim.learn.label_issues import CleanlabMissing, require_cleanlab
from alsim.learn.limits import MAX_GAMMA
from alsim.strategies import strategy_names
from alsim.strategies.params import StrategyParams, field_type, legacy_names, resolve_name

FEATURES = ("raw", "hog", "colorhist", "pretrained", "onnx", "precomputed")
MAX_EMBED_SIDE = 512  # a 512x512 input costs about 5x the 224 the network was trained at
MODELS = ("label_spreading", "linear_svc", "linear_svc_newton", "logistic_regression")
KERNELS = ("rbf", "knn")
INITIAL = ("first", "random", "stratified", "typical", "kcenter")
SELF_TRAINING = ("off", "pseudo", "oracle")
SCHEDULES = ("linear", "list")
EVALUATIONS = ("pool", "test", "both")
NOISE_MODELS = ("uniform", "confusable", "difficulty")
MAX_ANNOTATORS = 15  # per image; a vote table per image holds one row per possible annotator
MAX_IMBALANCE = 1000.0  # CIFAR-10-LT goes to 200; beyond 1000 the tail is one image anyway
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
METRIC_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1"}
COSTS = ("unit", "per_class", "difficulty")
MAX_COST = 1e6  # per image; beyond this a budget in cost stops meaning a number of images



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
        ``raw`` pixels, ``hog`` (OpenCV HOG as in experiment B, on gray images of any size),
        ``colorhist`` (colour or intensity histograms), ``pretrained`` (EfficientNet-Lite0's
        1,280 pooled ImageNet features, run offline), ``onnx`` (the user's own ONNX model,
        ``onnx_model``) or ``precomputed`` embeddings of the data set.
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
    embed_side : int
        ``pretrained`` and ``onnx`` (with a model that takes any size): images are resized to
        this side before the network; 96 by measurement (``bench/features.py``).
    onnx_model, onnx_output : str
        ``features=onnx``: the path of the user's ONNX image model, and the output whose
        vector per image is the embedding (empty: the first output).
    pca_components : int
        Reduce the features to this many principal components (0 = keep them all); fitted on
        the pool, applied to the test split too.
    standardize : bool
        Scale every feature to zero mean and unit variance over the pool (before PCA).
    imbalance : float
        1 (the default) keeps the pool as it is. A ratio > 1 cuts the pool to a long tail
        (CIFAR-10-LT's profile): the class at rank r of C keeps
        ``min(its count, max(1, floor(n_max * imbalance ** (-r / (C - 1)))))`` images, where
        ``n_max`` is the largest class's count and the ranks are a fixed permutation of the
        classes (the same for every seed). The images a class keeps are drawn with a fixed
        generator too, so every seed and strategy shares the pool. Applied after
        ``pool_size``; images whose truth is unknown all stay; the test split is untouched.
        At most 1000.
    oracle_noise : float
        The simulated annotators' error rate, in [0, 1): 0 (the default) is a perfect oracle.
        A rate so high that the true class no longer wins the vote (near or above
        (C-1)/C with uniform noise) is allowed: it simulates annotators who mostly guess.
    oracle_noise_model : str
        How the annotators err (:mod:`alsim.loop.annotators`): ``uniform`` (a wrong label
        drawn uniformly from the other classes), ``confusable`` (wrong labels follow the
        classes a reference model confuses) or ``difficulty`` (the chance of a wrong label
        rises with the reference model's entropy on the image, mean ``oracle_noise`` over
        the pool).
    annotators : int
        Simulated annotators per queried image, 1..15, each with independent noise; the
        majority is stored (ties broken by the seed). Every image costs this many
        annotations: ``Round.n_annotations`` counts them, ``Round.n_labeled`` counts images.
    relabel : bool
        An image whose annotators disagree gets one more annotator (and one more annotation).
    flag_label_errors : bool
        Every round, flag the revealed labels that look wrong (confident learning, with
        cleanlab, on out-of-sample probabilities: :mod:`alsim.learn.label_issues`) and record
        how many flags were right against the hidden truth (:class:`alsim.loop.records.Flags`).
        Off by default: it costs a cross-validated fit per round. Needs cleanlab.
    strategy_params : StrategyParams
        Each strategy's own parameters (a frozen dataclass registered with the strategy:
        ``strategy_params['typiclust'].neighbors``). ``--set``, URLs and JSON configs name
        them flat, as before (``typiclust_neighbors``, ``probcover_delta``, ...), or dotted
        (``typiclust.neighbors``).
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
        Stop at this many annotations (0 = no budget rule); with one annotator per image
        that is the number of revealed labels.
        When ``cost`` is not ``unit`` the budget is in cost (``Round.cost_spent``).
    stop_target : float or None
        Stop once the score (``metric``) reaches this (it reads the hidden truth: a yardstick,
        not a rule a labeling team could apply).
    metric : str
        What every curve, verdict, AULC and stopping rule reads: ``accuracy`` (the default),
        ``balanced_accuracy`` (the mean recall over the classes present, scikit-learn's
        ``balanced_accuracy_score``) or ``macro_f1`` (``f1_score(average="macro")``). On a
        long-tailed pool accuracy mostly measures the head classes.
    class_balanced : bool
        Fill each batch round-robin over the classes the model predicts for the candidates
        (the class with fewest candidates first), taking within each class the candidate the
        strategy scores highest (ties, and strategies without a score, at random): rare
        predicted classes get picked. Works with any strategy that scores points.
    cost : str
        What labeling an image costs: ``unit`` (1 per annotation), ``per_class`` (the cost of
        its true class, ``cost_params`` one per class) or ``difficulty`` (``1 + s * H``, ``H``
        the reference model's entropy on the image over ``log(n_classes)``, the same model the
        ``difficulty`` noise uses; ``s`` is ``cost_params[0]``, default 1). Every annotation of
        an image costs its cost; ``Round.cost_spent`` sums them.
    cost_params : tuple of float
        ``per_class``: one positive cost per class, in class order. ``difficulty``: at most one
        value, the scale ``s`` (>= 0). ``unit``: empty.
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
    embed_side: int = 96
    onnx_model: str = ""
    onnx_output: str = ""
    standardize: bool = False
    imbalance: float = 1.0
    oracle_noise: float = 0.0
    oracle_noise_model: str = "uniform"
    annotators: int = 1
    relabel: bool = False
    flag_label_errors: bool = False
    strategy_params: StrategyParams = field(default_factory=StrategyParams)
    stop_kappa: float | None = 0.99
    stop_kappa_window: int = 3
    stop_set_size: int = 0
    stop_uncertainty: float | None = 0.05
    stop_max_uncertainty: float | None = 0.1
    stop_change: float | None = 0.0
    stop_budget: int = 0
    stop_target: float | None = None
    metric: str = "accuracy"
    class_balanced: bool = False
    cost: str = "unit"
    cost_params: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        # Lists from JSON become tuples so the config stays hashable.
        for name in ("thresholds", "cost_params"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self.validate()

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise :class:`ConfigError` on the first invalid field."""
        source = _source(self.dataset)
        check_choice("features", self.features, image_feature_kinds() + ("precomputed",))
        check_choice("model", self.model, MODELS)
        check_choice("kernel", self.kernel, KERNELS)
        check_choice("initial", self.initial, INITIAL)
        check_choice("strategy", self.strategy, _strategies())
        check_choice("self_training", self.self_training, SELF_TRAINING)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("evaluation", self.evaluation, EVALUATIONS)
        check_integer("pool_size", self.pool_size, 0)
        check_integer("n_neighbors", self.n_neighbors, 1)
        check_integer("max_iter", self.max_iter, 1)
        check_integer("n_initial", self.n_initial, 1)
        check_integer("batch_size", self.batch_size, 1)
        check_integer("n_rounds", self.n_rounds, 1)
        check_integer("threshold_steps", self.threshold_steps, 1, MAX_THRESHOLD_STEPS)
        check_integer("seed", self.seed, 0, MAX_SEED)
        check_integer("pca_components", self.pca_components, 0, MAX_PCA)
        check_integer("embed_side", self.embed_side, 32, MAX_EMBED_SIDE)
        if self.features == "onnx" and not self.onnx_model.strip():
            raise ConfigError("features 'onnx' needs onnx_model=PATH (the ONNX image model to run)")
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"standardize must be true or false, got {shown(self.standardize)}")
        self._validate_annotators()
        self._validate_strategy_parameters()
        check_positive("gamma", self.gamma, MAX_GAMMA)
        check_positive("tol", self.tol)
        check_positive("C", self.C, MAX_C)
        check_number("alpha", self.alpha)
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha!r}")
        for name in ("threshold_start", "threshold_end"):
            check_unit_interval(name, getattr(self, name))
        if self.threshold_final is not None:
            check_unit_interval("threshold_final", self.threshold_final)
        if not isinstance(self.thresholds, tuple):
            raise ConfigError(f"thresholds must be a list of numbers, got {self.thresholds!r}")
        for value in self.thresholds:
            check_unit_interval("thresholds", value)
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

    def _validate_annotators(self) -> None:
        """The simulated annotators and the pool's class profile."""
        check_unit_interval("oracle_noise", self.oracle_noise)
        check_choice("oracle_noise_model", self.oracle_noise_model, NOISE_MODELS)
        check_integer("annotators", self.annotators, 1, MAX_ANNOTATORS)
        if not isinstance(self.relabel, bool):
            raise ConfigError(f"relabel must be true or false, got {shown(self.relabel)}")
        if not isinstance(self.flag_label_errors, bool):
            raise ConfigError(f"flag_label_errors must be true or false, got {shown(self.flag_label_errors)}")
        if self.flag_label_errors:
            try:
                require_cleanlab()
            except CleanlabMissing as exc:  # one line, before anything runs
                raise ConfigError(f"flag_label_errors=true: {exc}") from None
        check_choice("metric", self.metric, METRICS)
        if not isinstance(self.class_balanced, bool):
            raise ConfigError(f"class_balanced must be true or false, got {shown(self.class_balanced)}")
        self._validate_cost()
        check_number("imbalance", self.imbalance)
        if not 1.0 <= self.imbalance <= MAX_IMBALANCE:
            raise ConfigError(f"imbalance must be in [1, {MAX_IMBALANCE:g}] (1 = the pool as it is), "
                              f"got {shown(self.imbalance)}")

    def _validate_cost(self) -> None:
        """The labeling cost; a per-class list's length is checked against the data (``check_feasible``)."""
        check_choice("cost", self.cost, COSTS)
        if not isinstance(self.cost_params, tuple):
            raise ConfigError(f"cost_params must be a list of numbers, got {shown(self.cost_params)}")
        for value in self.cost_params:
            check_number("cost_params", value)
        if self.cost == "unit" and self.cost_params:
            raise ConfigError(f"cost_params must be empty with cost 'unit', got {len(self.cost_params)} value(s)")
        if self.cost == "per_class":
            if not self.cost_params:
                raise ConfigError("cost 'per_class' needs cost_params: one cost per class, in class order")
            bad = next((v for v in self.cost_params if not 0.0 < v <= MAX_COST), None)
            if bad is not None:
                raise ConfigError(f"cost_params must be positive per-class costs in (0, {MAX_COST:g}], got {bad!r}")
        if self.cost == "difficulty":
            if len(self.cost_params) > 1:
                raise ConfigError(f"cost 'difficulty' takes at most one cost_params value (the scale of the "
                                  f"difficulty term), got {len(self.cost_params)}")
            if self.cost_params and not 0.0 <= self.cost_params[0] <= MAX_COST:
                raise ConfigError(f"cost_params (the difficulty scale) must be in [0, {MAX_COST:g}], "
                                  f"got {self.cost_params[0]!r}")

    @property
    def metric_name(self) -> str:
        """The metric in words: ``'balanced accuracy'``."""
        return METRIC_NAMES[self.metric]

    def _validate_strategy_parameters(self) -> None:
        """Parameters of the feature-space strategies and of the stopping rules."""
        if not isinstance(self.strategy_params, StrategyParams):
            raise ConfigError(f"strategy_params must be a StrategyParams, got {shown(self.strategy_params)}")
        check_integer("stop_kappa_window", self.stop_kappa_window, 1, MAX_WINDOW)
        check_integer("stop_set_size", self.stop_set_size, 0)
        check_integer("stop_budget", self.stop_budget, 0)
        for name in ("stop_kappa", "stop_uncertainty", "stop_max_uncertainty", "stop_target"):
            value = getattr(self, name)
            if value is not None:
                check_number(name, value)
                if not 0.0 < value <= 1.0:
                    raise ConfigError(f"{name} must be in (0, 1] or none, got {value!r}")
        if self.stop_change is not None:
            check_number("stop_change", self.stop_change)
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
        """A copy with some fields changed (validated); strategy parameters by their flat or dotted names."""
        params = {}
        for name in [n for n in changes if n not in _FIELD_NAMES]:
            target = resolve_name(name)
            if target is None:
                raise ConfigError(f"unknown config field {name!r:.60}")
            params[target] = changes.pop(name)
        if params:
            changes["strategy_params"] = changes.get("strategy_params", self.strategy_params).replace(params)
        return dataclasses.replace(self, **changes)

    def value(self, name: str) -> Any:
        """A field, or a strategy parameter by its flat (``typiclust_neighbors``) or dotted name."""
        if name in _FIELD_NAMES:
            return getattr(self, name)
        target = resolve_name(name)
        if target is None:
            raise ConfigError(f"unknown config field {name!r:.60}")
        return self.strategy_params.value(*target)

    # ----------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-compatible); strategy parameters nested by strategy."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["thresholds"] = list(self.thresholds)
        out["cost_params"] = list(self.cost_params)
        out["strategy_params"] = self.strategy_params.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def allowed_names(cls) -> list[str]:
        """Every name ``--set``, a URL or a JSON config may use: the fields and the strategies' flat names."""
        return sorted(_FIELD_NAMES | set(legacy_names()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Build from a dict (as parsed from JSON); unknown keys are an error naming them.

        Text fields must be strings and ``thresholds`` a list, so that any JSON value
        ends in a :class:`ConfigError` naming the field rather than in another exception.
        Strategy parameters come nested (``strategy_params``, as :meth:`to_dict` writes
        them) or by their flat or dotted names (as earlier versions wrote them); a flat name
        wins over the nested value.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a mapping of field names to values, got {type(data).__name__}")
        declared = {f.name: str(f.type) for f in fields(cls)}
        values, params = {}, {}
        unknown = []
        for name, value in data.items():
            target = resolve_name(name) if isinstance(name, str) and name not in declared else None
            if name in declared:
                values[name] = value
            elif target is not None:
                params[target] = value
            else:
                unknown.append(name if isinstance(name, str) and name.isprintable() else repr(name))
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(sorted(unknown))}; allowed: "
                              f"{', '.join(cls.allowed_names())}")
        for name, value in values.items():
            if declared[name] == "str" and not isinstance(value, str):
                raise ConfigError(f"{name} must be a string, got {shown(value)}")
        for (strategy, field_name), value in params.items():
            if field_type(strategy, field_name) == "str" and not isinstance(value, str):
                raise ConfigError(f"{_flat(strategy, field_name)} must be a string, got {shown(value)}")
        for name in ("thresholds", "cost_params"):
            if name in values:
                if not isinstance(values[name], (list, tuple)):
                    raise ConfigError(f"{name} must be a list of numbers, got {shown(values[name])}")
                values[name] = tuple(values[name])
        nested = values.pop("strategy_params", None)
        strategy_params = StrategyParams() if nested is None else (
            nested if isinstance(nested, StrategyParams) else StrategyParams.from_dict(nested))
        if params:
            strategy_params = strategy_params.replace(params)
        return cls(**values, strategy_params=strategy_params)

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
        if base is not None:
            merged = base.to_dict()
            if isinstance(data.get("strategy_params"), dict) and all(isinstance(v, dict)
                                                                     for v in data["strategy_params"].values()):
                nested = {name: dict(fields) for name, fields in merged["strategy_params"].items()}
                for name, fields in data["strategy_params"].items():
                    nested.setdefault(name, {}).update(fields)
                data = {**data, "strategy_params": nested}
            data = {**merged, **data}
        return cls.from_dict(data)

    def with_overrides(self, assignments: list[str]) -> "Config":
        """Apply ``field=value`` strings (as given on the command line); strategy parameters flat or dotted."""
        types = {f.name: str(f.type) for f in fields(self)}
        changes: dict[str, Any] = {}
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set expects field=value, got {item!r}")
            name, raw = item.split("=", 1)
            name = name.strip().replace("-", "_")
            target = None if name in types else resolve_name(name)
            if name in types:
                changes[name] = parse_value(name, types[name], raw.strip())
            elif target is not None:
                changes[name] = parse_value(name, field_type(*target), raw.strip())
            else:
                raise ConfigError(f"unknown config field {name!r}; allowed: {', '.join(self.allowed_names())}")
        return self.replace(**changes)


def _flat(strategy: str, field_name: str) -> str:
    return next((old for old, target in legacy_names().items() if target == (strategy, field_name)),
                f"{strategy}.{field_name}")


MAX_SEED = 2**32 - 1  # numpy's RandomState and scikit-learn's random_state take seeds below 2**32
MAX_THRESHOLD_STEPS = 10_000  # the schedule is materialised as a tuple
# Beyond this the numbers stop meaning anything and start to overflow: with C > 1e4 the Newton
# solver's Hessian is too ill-conditioned to match liblinear, and C=1e300 overflows (gamma's
# limit, MAX_GAMMA, is the graph's own).
MAX_C = 1e4
MAX_WINDOW = 1000  # the kappa rule's window
MAX_PCA = 4096  # principal components; more than any image feature vector here needs


def _source(name: Any):
    """The registered data source of ``dataset``; its capabilities decide what is valid."""
    try:
        return source_info(name)
    except (KeyError, TypeError):
        raise ConfigError(f"dataset must be one of {', '.join(map(repr, source_names()))}, got {name!r}") from None


def _strategies() -> tuple[str, ...]:
    """Registered strategy names, plus ``none`` (reveal nothing after the initial labels)."""
    return strategy_names(include_none=True)


_FIELD_NAMES = frozenset(f.name for f in fields(Config))
