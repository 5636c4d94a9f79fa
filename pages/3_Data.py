"""Bring your own images: upload a data set, see its summary, run the loop on it."""

import streamlit as st

from alsim.dashboard.data_page import data_page
from alsim.dashboard.nav import page_entry

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun

st.set_page_config(page_title="alsim · data", page_icon="🗂️", layout="wide")
data_page()
