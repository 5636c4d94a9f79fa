"""Streamlit-only helpers of the dashboard pages (the core never imports this package)."""

from alsim.runtime import configure_process

# Once per server process, when the first page imports the dashboard: never per session.
configure_process()
