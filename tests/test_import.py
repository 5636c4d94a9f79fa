import pkgutil
import subprocess
import sys

import alsim


def test_core_does_not_import_streamlit():
    modules = [m.name for m in pkgutil.walk_packages(alsim.__path__, "alsim.") if ".dashboard" not in m.name
               and m.name != "alsim.__main__"]
    assert {"alsim.loop", "alsim.cli", "alsim.graph"} <= set(modules)
    code = f"import sys; import {', '.join(modules)}; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
