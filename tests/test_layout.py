"""The package layout shows the architecture: a folder per part, imports pointing one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "isspanel"
# A guard, not the design: modules are split by cohesion, never squeezed under a count.
MAX_LINES = 450
# A module imports only its own part and parts of its layer or below (cli -> parts ->
# geo/record/settings); test_no_import_circle keeps same-layer imports from going both ways.
LAYERS = {
    "settings": 0,
    "versions": 0,
    "logs": 0,
    "record": 0,
    "flink_rows": 0,
    "messages": 0,
    "lifeline": 0,
    "pipeline_state": 0,
    "processes": 0,
    "lazy": 0,
    "geo": 1,
    "sources": 2,
    "broker": 2,
    "produce": 3,
    "analytics": 3,
    "dashboard": 3,
    "cli": 4,
    "main": 4,
    "app_hooks": 4,
    "__main__": 4,
    "__init__": 4,
}
LIBRARY_NAMES = {"kafka", "panel", "bokeh", "pyflink", "sqlparse", "skyfield", "sgp4", "tornado"}
# The dashboard's server side: one per server process, whatever the pages are made of.
SERVER_SIDE = (
    "isspanel.dashboard.streams",
    "isspanel.dashboard.consumer",
    "isspanel.dashboard.hub",
    "isspanel.dashboard.buffers",
    "isspanel.dashboard.snapshot",
    "isspanel.dashboard.track",
    "isspanel.dashboard.sky_state",
    "isspanel.dashboard.map_data",
    "isspanel.dashboard.history",
    "isspanel.geo.mercator",
)


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = path
    return out


KNOWN = set(modules())


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> set[str]:
    """Every isspanel module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("isspanel")}
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("isspanel")
        ):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & KNOWN
    return found


def test_no_module_is_over_450_lines():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_subpackage_is_named_like_a_library():
    # Bokeh puts the app folder (isspanel/) first on sys.path: isspanel/kafka would shadow
    # kafka-python in the dashboard's process.
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    files = {p.stem for p in PACKAGE.glob("*.py")}
    assert (folders | files) & LIBRARY_NAMES == set()


def test_every_part_says_what_it_owns():
    for folder in ("broker", "produce", "sources", "analytics", "geo", "dashboard", "cli"):
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc, f"isspanel/{folder}/__init__.py has no docstring"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_point_one_way(name):
    mine = part(name)
    for target in imports(modules()[name]):
        theirs = part(target)
        if theirs == mine or target == "isspanel":
            continue
        assert LAYERS[theirs] <= LAYERS[mine], (
            f"{name} (layer {LAYERS[mine]}) imports {target} (layer {LAYERS[theirs]})"
        )


def test_no_import_circle():
    # A package and its own modules (its facade, or a module reading the package's shared
    # names) are one unit; any other loop, even inside a part, is a circle.
    graph = {
        name: {
            t
            for t in imports(path)
            if t not in (name, "isspanel")
            and not t.startswith(name + ".")
            and not name.startswith(t + ".")
        }
        for name, path in modules().items()
    }
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                pytest.fail("import circle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])


def test_the_dashboards_server_side_knows_no_bokeh_or_panel():
    """Consumer, hub, snapshot, track, sky and the moment builder import neither, directly or
    through anything they import: a fresh interpreter imports them and lists what it loaded."""
    code = (
        "import importlib, sys\n"
        f"for name in {SERVER_SIDE!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'bokeh', 'panel'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
