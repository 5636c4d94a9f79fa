"""The Sweep page, for a deep link to a server started with `streamlit run app.py`."""

from alsim.dashboard.nav import PAGES, page_entry

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun
next(spec for spec in PAGES if spec.url_path == "Sweep").run()
