"""alsim: simulate active learning for labeling images.

The core is pure Python (numpy, scipy, scikit-learn, OpenCV); it never imports Streamlit.

The path of a run: :class:`Config` -> :func:`prepare` (data source, pool, features) ->
:func:`run_loop`, a generator of :class:`Round` records -> :mod:`alsim.plots`.

Three seams, each a registry or a protocol:

- **Data sources** (:mod:`alsim.sources`): what a data set has (images, feature kinds,
  labels known or not, test split) and a content key; :func:`register_source`.
- **Strategies** (:mod:`alsim.strategies`): ``strategy(QueryContext) -> Query``;
  :func:`register_strategy`, :func:`strategy_names`.
- **Oracles** (:mod:`alsim.oracles`): who answers a proposed batch: the simulation's
  :class:`SimulatedOracle` reveals the hidden truth.

Shared state between sessions goes through :func:`alsim.cache.shared_cache`.
"""

from .cache import SharedCache, shared_cache
from .config import Config, ConfigError
from .data import DataError, Dataset, fashion_available, load_dataset
from .loop import first_k_baseline, run_arms, run_loop
from .oracles import Oracle, SimulatedOracle
from .pool import Prepared, prepare
from .presets import PRESETS, get_preset
from .records import Round
from .sources import SourceInfo, register_source, source_info, source_names
from .strategies import Query, QueryContext, strategy_names
from .strategies import register as register_strategy

__all__ = [
    "Config", "ConfigError", "DataError", "Dataset", "Oracle", "PRESETS", "Prepared", "Query", "QueryContext",
    "Round", "SharedCache", "SimulatedOracle", "SourceInfo", "fashion_available", "first_k_baseline", "get_preset",
    "load_dataset", "prepare", "register_source", "register_strategy", "run_arms", "run_loop", "shared_cache",
    "source_info", "source_names", "strategy_names",
]
__version__ = "0.2.0"
