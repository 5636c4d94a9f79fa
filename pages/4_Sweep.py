"""Sweeps: gains of strategies over a grid of settings, from a results folder."""

import streamlit as st

from alsim.dashboard.nav import page_entry
from alsim.dashboard.sweep_page import sweep_page

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun

st.set_page_config(page_title="alsim · sweep", page_icon="🧭", layout="wide")
sweep_page()
