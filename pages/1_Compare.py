"""Compare query strategies across seeds."""

import streamlit as st

from alsim.dashboard.compare_page import compare_page
from alsim.dashboard.nav import page_entry

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun

st.set_page_config(page_title="alsim · compare", page_icon="📈", layout="wide")
compare_page()
