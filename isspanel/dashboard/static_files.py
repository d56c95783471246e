"""The browser's side of the page as files (``static/*.js``, ``static/*.css``): the one way
the dashboard reads them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"


@cache
def static_text(name: str) -> str:
    """The text of ``static/<name>`` (``"link.js"``, ``"page.css"``), read once per process."""
    return (STATIC / name).read_text(encoding="utf-8")
