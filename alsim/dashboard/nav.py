"""The app's navigation: the pages, their names, icons and order, for every entry point.

The pages are functions of this package (:data:`PAGES`), so an installed alsim serves
every page from its own entry script (``alsim/dashboard/entry/app.py``) and page scripts
(``alsim/dashboard/page_scripts/``, each a call of :func:`show`) without the repository's files. The
top-level ``app.py`` and the scripts in ``pages/`` are thin entries that call into here.
Each page keeps the address it had as a file-based page (``/Compare``, ``/Fashion-MNIST``,
...), so links shared before still open the same view.

A deep link opened first on a fresh ``streamlit run app.py`` server: Streamlit starts in
its old file-based page mode because a ``pages/`` folder sits beside ``app.py``, and leaves
it only once a run calls ``st.navigation``. Until then, opening ``/Compare`` runs
``pages/1_Compare.py`` on its own, so every page script first calls :func:`page_entry`,
which on such a run sets the app's navigation and reruns. ``alsim serve`` starts
the package's entry script, which has no ``pages/`` folder beside it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import streamlit as st

from alsim.common.errors import AlsimError, one_line
from alsim.dashboard.compare_page import compare_page
from alsim.dashboard.data_page import data_page
from alsim.dashboard.fashion_page import fashion_page
from alsim.dashboard.label_page import label_page
from alsim.dashboard.live import live_page
from alsim.dashboard.messages import show_error
from alsim.dashboard.sweep_page import sweep_page

#: Set once a run has called ``st.navigation`` in this server process (never cleared).
_NAVIGATION_SET = threading.Event()


#: The pages' scripts (a folder of files, not a package: importing one would run its page).
SCRIPTS = Path(__file__).resolve().parent / "page_scripts"


@dataclass(frozen=True)
class PageSpec:
    title: str
    url_path: str
    icon: str
    run: Callable[[], None]

    @property
    def script(self) -> Path:
        """The page's script in :data:`SCRIPTS`, named as its ``url_path`` (Streamlit's name for the page):
        it calls :func:`show` with that ``url_path``."""
        return SCRIPTS / f"{self.url_path}.py"


def _guarded(page: Callable[[], None]) -> Callable[[], None]:
    """The page, with any :class:`AlsimError` it lets through shown as one line in an error box."""
    def run() -> None:
        try:
            page()
        except AlsimError as exc:
            show_error(one_line(exc))

    run.__name__ = page.__name__
    return run


def _titled(title: str, icon: str, page: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        st.set_page_config(page_title=f"alsim · {title}", page_icon=icon, layout="wide")
        page()

    run.__name__ = page.__name__
    return run


#: Navigation order: the live loop first (the home page), then the others.
PAGES = (
    PageSpec("Live loop", "live", ":material/label:", live_page),
    PageSpec("Compare", "Compare", ":material/monitoring:", _titled("compare", ":material/monitoring:", compare_page)),
    PageSpec("Fashion-MNIST", "Fashion-MNIST", ":material/checkroom:",
             _titled("Fashion-MNIST", ":material/checkroom:", fashion_page)),
    PageSpec("Data", "Data", ":material/folder_open:", _titled("data", ":material/folder_open:", data_page)),
    PageSpec("Sweep", "Sweep", ":material/explore:", _titled("sweep", ":material/explore:", sweep_page)),
    PageSpec("Label", "Label", ":material/edit:", _titled("label", ":material/edit:", label_page)),
)


def pages() -> list:
    """The ``st.Page`` of every page, in :data:`PAGES` order (the live loop is the default)."""
    return [st.Page(spec.script, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=(i == 0))
            for i, spec in enumerate(PAGES)]


def show(url_path: str) -> None:
    """Run the page at ``url_path`` (what each page script does); an :class:`AlsimError` it lets through
    becomes one line in an error box."""
    spec = next(spec for spec in PAGES if spec.url_path == url_path)
    _guarded(spec.run)()


def run_app() -> None:
    """Every entry script: the page config, the navigation, then the chosen page."""
    st.set_page_config(page_icon=":material/label:", layout="wide")
    page = st.navigation(pages())
    _NAVIGATION_SET.set()
    page.run()


def page_entry() -> None:
    """First call of every ``pages/`` script: on a file-based run (see the module doc), set the navigation and rerun."""
    if _NAVIGATION_SET.is_set():
        return
    st.navigation(pages())
    _NAVIGATION_SET.set()
    st.rerun()
