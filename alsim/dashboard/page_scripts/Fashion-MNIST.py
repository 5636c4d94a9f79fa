"""The Fashion-MNIST page (see :mod:`alsim.dashboard.nav`)."""

from alsim.dashboard.nav import show

show("Fashion-MNIST")
