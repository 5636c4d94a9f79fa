"""Label images yourself: the model proposes batches, you label them, the model refits."""

import streamlit as st

from alsim.dashboard.label_page import label_page

st.set_page_config(page_title="alsim · label", page_icon="✍️", layout="wide")
label_page()
