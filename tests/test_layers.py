"""The core's layers: imports run one way, from the entry points down to the foundations.

The order is written once, in :mod:`alsim`'s docstring; this test reads it from there and
fails when a module imports from a higher layer (at module level or inside a function),
when two modules import each other (directly or round a circle), or when a module is in no
layer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import alsim

ROOT = Path(alsim.__file__).resolve().parent
#: Packages of one layer that may import the other: ``alsim serve`` starts the dashboard.
SIBLINGS = {("alsim.cli", "alsim.dashboard")}


def layers() -> dict[str, int]:
    """``{'alsim.data': 1, ...}`` from the numbered list in the package docstring."""
    ranks = {}
    for line in alsim.__doc__.splitlines():
        m = re.match(r"^(\d+)\. (.*)$", line.strip())
        if m:
            for package in re.findall(r"``(alsim\.[a-z_]+)``", m.group(2)):
                ranks[package] = int(m.group(1))
    return ranks


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported alsim module, line, at module level) for every import in a file."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("alsim"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                target = candidate if (ROOT.parent / (candidate.replace(".", "/") + ".py")).exists() or (
                    ROOT.parent / candidate.replace(".", "/") / "__init__.py").exists() else node.module
                found.append((target, node.lineno, id(node) in top))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: relative import; write the absolute module")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("alsim"):
                    found.append((alias.name, node.lineno, id(node) in top))
    return found


def rank_of(module: str, ranks: dict[str, int]) -> int | None:
    for package, rank in ranks.items():
        if module == package or module.startswith(package + "."):
            return rank
    return None


def core_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p.name != "__main__.py" and p != ROOT / "__init__.py")


def test_the_docstring_names_every_package():
    ranks = layers()
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert {f"alsim.{name}" for name in packages} == set(ranks), "every package has one layer in alsim's docstring"


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_upward(path):
    ranks = layers()
    here = module_name(path)
    own = rank_of(here, ranks)
    assert own is not None, f"{here} is in no layer"
    for target, line, _ in imports_of(path):
        if target == "alsim":
            raise AssertionError(f"{here}:{line} imports the top-level alsim package; import the module that has the name")
        theirs = rank_of(target, ranks)
        assert theirs is not None, f"{here}:{line} imports {target}, which is in no layer"
        assert theirs <= own, f"{here} (layer {own}) imports {target} (layer {theirs}) at line {line}"
        if theirs == own:
            # the same layer: only within one package (evidence and labeling, sweep and report stay apart),
            # except the command line's `serve`, which starts the dashboard
            pair = (".".join(here.split(".")[:2]), ".".join(target.split(".")[:2]))
            assert pair[0] == pair[1] or pair in SIBLINGS, f"{here}:{line} imports {target}, a sibling package"


def test_no_import_circles():
    graph = {module_name(p): {t for t, _, _ in imports_of(p) if t != module_name(p)} for p in core_files()}
    # a package's __init__ may list its own modules; the circles that matter are between modules
    for name in list(graph):
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".") and t in graph}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def lazy_comment_above(lines: list[str], line: int) -> bool:
    """A ``# lazy: <why>`` comment on the import or above it, in the same run of import lines."""
    i = line - 1
    if "# lazy" in lines[i]:
        return True
    i -= 1
    while i >= 0:
        text = lines[i].strip()
        if "# lazy" in text:
            return True
        if not (text.startswith(("from ", "import ", "#", ")")) or text.endswith(",")):
            return False
        i -= 1
    return False


def test_imports_inside_functions_say_why():
    """An import inside a function is there for start-up speed (or to keep a dependency optional): it says so."""
    unexplained = []
    for path in core_files():
        lines = path.read_text().splitlines()
        for target, line, at_top in imports_of(path):
            if at_top:
                continue
            if not lazy_comment_above(lines, line):
                unexplained.append(f"{path.relative_to(ROOT)}:{line} {target}")
    assert not unexplained, "imports inside functions without a '# lazy: <why>' comment:\n" + "\n".join(unexplained)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a data module importing the loop is reported."""
    bad = ROOT / "data" / "_layer_probe.py"
    bad.write_text("from alsim.loop.config import Config\n")
    try:
        with pytest.raises(AssertionError, match="layer 1.*imports alsim.loop.config"):
            test_no_import_runs_upward(bad)
    finally:
        bad.unlink()
