"""Compare query strategies across seeds."""

import streamlit as st

from alsim.dashboard.compare_page import compare_page

st.set_page_config(page_title="alsim · compare", page_icon="📈", layout="wide")
compare_page()
