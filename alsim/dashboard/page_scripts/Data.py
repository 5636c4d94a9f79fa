"""The Data page (see :mod:`alsim.dashboard.nav`)."""

from alsim.dashboard.nav import show

show("Data")
