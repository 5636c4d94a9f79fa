"""alsim dashboard, as installed: ``alsim serve`` runs this script (see :mod:`alsim.dashboard.nav`)."""

from alsim.dashboard.nav import run_app

run_app()
