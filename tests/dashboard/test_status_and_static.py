"""HTML made from data comes from one module (``status.py``) with one escaping helper, and the
browser's files are read through one helper (``static_files.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from isspanel.dashboard import static_files
from isspanel.dashboard.status import banner_html, escape

DASHBOARD = Path(static_files.__file__).parent
MODULES = sorted(DASHBOARD.glob("*.py"))
TAGS = ("<div", "<span", "<b>", "<br", "<code")


def test_outside_text_in_the_banner_shows_as_text():
    out = banner_html("<b>boom</b> $$E=mc^2$$", ("\\(x\\)", "a & b"), bold=True)
    assert out.startswith("<b>&lt;b&gt;boom&lt;/b&gt; &#36;&#36;E=mc^2&#36;&#36;</b>")
    assert out.endswith("<br>&#92;(x&#92;)<br>a &amp; b")
    assert banner_html("plain") == "plain" == escape("plain")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_only_the_status_module_writes_html_or_escapes(path):
    if path.name == "status.py":
        return
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not any(tag in node.value for tag in TAGS), f"{path.name}: {node.value!r}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {a.name for a in node.names} | {getattr(node, "module", None)}
            assert "html" not in names, f"{path.name} imports html: escape with status.escape"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_only_the_static_helper_reads_files(path):
    if path.name == "static_files.py":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            called = getattr(node.func, "attr", getattr(node.func, "id", ""))
            assert called not in ("read_text", "read_bytes", "open"), f"{path.name}: {called}"


def test_every_static_file_is_read_by_name_and_every_name_exists():
    named = set()
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "static_text":
                (arg,) = node.args
                named.add(arg.value)
    on_disk = {p.name for p in static_files.STATIC.iterdir() if p.suffix in (".js", ".css")}
    assert named == on_disk
    assert static_files.static_text("link.js") is static_files.static_text("link.js")  # once
