"""Fashion-MNIST at full scale: self-training, hybrid labeling, label spreading."""

import streamlit as st

from alsim.dashboard.fashion_page import fashion_page
from alsim.dashboard.nav import page_entry

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun

st.set_page_config(page_title="alsim · Fashion-MNIST", page_icon="👕", layout="wide")
fashion_page()
