"""Streamlit-only helpers of the dashboard pages (the core never imports this package)."""
