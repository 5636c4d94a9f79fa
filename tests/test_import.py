import pkgutil
import subprocess
import sys

import alsim


def test_core_does_not_import_streamlit():
    modules = [m.name for m in pkgutil.walk_packages(alsim.__path__, "alsim.") if ".dashboard" not in m.name
               and m.name != "alsim.__main__"]
    assert {"alsim.loop.run", "alsim.cli.main", "alsim.learn.graph"} <= set(modules)
    code = f"import sys; import {', '.join(modules)}; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Every page, run once after `import alsim.dashboard`, must find its modules already loaded:
# a first import inside a session thread can race another session's and hand it a half-
# initialised module (seen as "partially initialized module 'PIL.Image'" with five sessions).
_PAGES_AFTER_DASHBOARD = r"""
import json, sys
from pathlib import Path
root = Path(sys.argv[1])
sys.path.insert(0, str(root))
import alsim.dashboard
from streamlit.testing.v1 import AppTest
before = set(sys.modules)
failed = []
for script in [root / "app.py", *sorted((root / "pages").glob("*.py"))]:
    at = AppTest.from_file(str(script), default_timeout=180)
    at.run()
    failed += [f"{script.name}: {e.value}" for e in at.exception]
stdlib = sys.stdlib_module_names
late = sorted(m for m in set(sys.modules) - before if m.split(".")[0] not in stdlib
              and not m.startswith(("_", "streamlit.testing", "streamlit.web")))  # the server loads streamlit.web
print(json.dumps({"failed": failed, "late": late}))
"""


def test_pages_import_nothing_that_the_dashboard_package_did_not_load(tmp_path):
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _PAGES_AFTER_DASHBOARD, str(root)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["failed"]
    assert result["late"] == [], "modules first imported inside a page run: " + ", ".join(result["late"][:40])
