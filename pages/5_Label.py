"""Label images yourself: the model proposes batches, you label them, the model refits."""

import streamlit as st

from alsim.dashboard.label_page import label_page
from alsim.dashboard.nav import page_entry

page_entry()  # a deep link opened first on a fresh server: the app's navigation, then a rerun

st.set_page_config(page_title="alsim · label", page_icon="✍️", layout="wide")
label_page()
