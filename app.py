"""alsim dashboard from a clone: ``streamlit run app.py`` (``alsim serve`` runs the package's own entry).

The pages live in :mod:`alsim.dashboard.nav`; the scripts in ``pages/`` are thin entries for deep links.
"""

from alsim.dashboard.nav import run_app

run_app()
