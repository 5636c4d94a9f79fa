"""alsim dashboard: the entry point. It names the pages, in a fixed order, and runs the chosen one.

The home page is the live labeling loop; the others are the scripts in ``pages/``. Each
keeps the address it had as a file-based page (``/Compare``, ``/Fashion-MNIST``, ...),
so links shared before still open the same view.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from alsim.dashboard.live import live_page

PAGES_DIR = Path(__file__).resolve().parent / "pages"
#: Navigation order and icons of the pages by title; a page script not listed here comes
#: after these, in file order. A listed page appears once its script exists.
ORDER = {"Compare": "📈", "Fashion-MNIST": "👕", "Data": "🗂️", "Sweep": "🧭", "Label": "✍️"}


def page_title(script: Path) -> str:
    """``pages/2_Fashion-MNIST.py`` -> ``Fashion-MNIST`` (the name Streamlit gave a file-based page)."""
    return re.sub(r"^[0-9]+[_ -]*", "", script.stem).replace("_", " ") or script.stem


def pages() -> list:
    """The live loop first, then the page scripts that exist, in :data:`ORDER`."""
    scripts = sorted(PAGES_DIR.glob("*.py"))
    rank = {title: i for i, title in enumerate(ORDER)}
    scripts.sort(key=lambda s: (rank.get(page_title(s), len(rank)), s.name))
    listed = [st.Page(live_page, title="Live loop", icon="🏷️", url_path="live", default=True)]
    for script in scripts:
        title = page_title(script)
        listed.append(st.Page(script, title=title, icon=ORDER.get(title), url_path=title.replace(" ", "_")))
    return listed


st.set_page_config(page_icon="🏷️", layout="wide")
st.navigation(pages()).run()
