"""alsim dashboard: the entry point. It names the pages, in a fixed order, and runs the chosen one.

The home page is the live labeling loop; the others are the scripts in ``pages/``
(see :mod:`alsim.dashboard.nav`).
"""

from alsim.dashboard.nav import run_app

run_app()
