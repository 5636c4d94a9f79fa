"""Fashion-MNIST at full scale: self-training, hybrid labeling, label spreading."""

import streamlit as st

from alsim.dashboard.fashion_page import fashion_page

st.set_page_config(page_title="alsim · Fashion-MNIST", page_icon="👕", layout="wide")
fashion_page()
