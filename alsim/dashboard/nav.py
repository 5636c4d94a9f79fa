"""The app's navigation: the pages, their names and order, for app.py and for deep links.

The home page is the live labeling loop; the others are the scripts in ``pages/``. Each
keeps the address it had as a file-based page (``/Compare``, ``/Fashion-MNIST``, ...), so
links shared before still open the same view.

A deep link opened first on a fresh server. Streamlit starts every server in its old
file-based page mode because a ``pages/`` folder sits beside ``app.py``, and leaves it only
once a run calls ``st.navigation``. Until then, opening ``/Compare`` runs
``pages/1_Compare.py`` on its own: the sidebar lists "app" and the file names instead of
these pages. So every page script first calls :func:`page_entry`, which on such a run sets
the app's navigation and reruns; from then on every run of every session goes through
``app.py``.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import streamlit as st

from alsim.dashboard.live import live_page

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"
#: Navigation order and icons of the pages by title; a page script not listed here comes
#: after these, in file order. A listed page appears once its script exists.
ORDER = {"Compare": "📈", "Fashion-MNIST": "👕", "Data": "🗂️", "Sweep": "🧭", "Label": "✍️"}
#: Set once a run has called ``st.navigation`` in this server process (never cleared).
_NAVIGATION_SET = threading.Event()


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


def run_app() -> None:
    """app.py: the page config, the navigation, then the chosen page."""
    st.set_page_config(page_icon="🏷️", layout="wide")
    page = st.navigation(pages())
    _NAVIGATION_SET.set()
    page.run()


def page_entry() -> None:
    """First call of every page script: on a file-based run (see the module doc), set the navigation and rerun."""
    if _NAVIGATION_SET.is_set():
        return
    st.navigation(pages())
    _NAVIGATION_SET.set()
    st.rerun()
