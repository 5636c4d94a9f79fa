"""JSON for the command line, reports and exports: missing values as ``null``, never ``NaN``."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON ``null``).

    ``json.dump`` would otherwise write ``NaN``, which is not JSON. Tuples become lists
    and numpy scalars plain numbers.
    """
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(document: dict, out) -> None:
    """One JSON document (missing values as ``null``, never ``NaN``) and a newline."""
    json.dump(json_ready(document), out, indent=1, allow_nan=False)
    out.write("\n")
