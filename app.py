"""alsim dashboard: the live labeling loop (home page). Other pages live in pages/."""

import streamlit as st

from alsim.dashboard.live import live_page

st.set_page_config(page_title="alsim · live loop", page_icon="🏷️", layout="wide")
live_page()
