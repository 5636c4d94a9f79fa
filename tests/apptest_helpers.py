"""Helpers for AppTest tests: decode plotly chart specs as the page sent them."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def page_script(url_path: str) -> str:
    """The page's script relative to ``app.py``, for ``AppTest.switch_page``."""
    return f"alsim/dashboard/page_scripts/{url_path}.py"
TIMEOUT = 300  # generous: the default runs are short, but a loaded machine must not fail them


def decode(value):
    """Plotly 7 stores arrays as {'dtype', 'bdata', 'shape'}: turn them back into lists."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            arr = arr.reshape([int(s) for s in str(shape).split(",")] if isinstance(shape, str) else shape)
        return arr.tolist()
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def charts(at) -> dict[str, dict]:
    """Plotly figures on the page, keyed by the element key (the end of the element id)."""
    out = {}
    for element in at.get("plotly_chart"):
        key = element.proto.id.split("-", 2)[-1]
        out[key] = decode(json.loads(element.proto.spec))
    return out


def trace(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def shown(element) -> str:
    """The text a message element displays: its Markdown body with backslash escapes removed.

    Messages that carry user input are escaped so Markdown shows them literally
    (``batch\\_size`` displays as ``batch_size``).
    """
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", element.value)


def messages(elements) -> list[str]:
    """Displayed text of every element in an AppTest element list (``at.error``, ``at.warning``)."""
    return [shown(e) for e in elements]
