"""The Fashion-MNIST page, for a deep link to a server started with `streamlit run app.py`."""

from alsim.dashboard.nav import page_entry, show

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun
show("Fashion-MNIST")
