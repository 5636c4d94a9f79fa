"""alsim: simulate active learning for labeling images.

The core is pure Python (numpy, scipy, scikit-learn, OpenCV); it never imports Streamlit.
"""

from .config import Config, ConfigError
from .data import DataError, Dataset, fashion_available, load_dataset
from .loop import Round, first_k_baseline, prepare, run_arms, run_loop
from .presets import PRESETS, get_preset

__all__ = [
    "Config", "ConfigError", "DataError", "Dataset", "PRESETS", "Round", "fashion_available",
    "first_k_baseline", "get_preset", "load_dataset", "prepare", "run_arms", "run_loop",
]
__version__ = "0.1.0"
