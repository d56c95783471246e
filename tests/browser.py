"""Serve the real dashboard and drive it in Debian's headless Chromium (never a downloaded one)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from isspanel import lifeline
from isspanel.cli.serve import serve_command
from isspanel.settings import PROJECT_ROOT, Settings
from tests.conftest import kafka_env

CHROMIUM = os.environ.get("ISS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_until(
    condition: Callable[[], object],
    timeout_s: float = 20.0,
    what: str = "",
    shown: Callable[[], object] | None = None,
) -> object:
    """Poll ``condition`` until it is truthy; fail with ``what`` after ``timeout_s``, and with
    what ``shown`` returns then (what the page held instead), so a failure says why."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(0.05)
    seen = ""
    if shown is not None:
        try:
            seen = f"; instead: {shown()!r:.2000}"
        except Exception as exc:
            seen = f"; instead: (could not read it: {exc})"
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} ({last_error}){seen}")


def wait_on(page, condition: Callable[[], object], timeout_s: float, what: str) -> object:
    """``wait_until`` for a page: a timeout says what the page showed instead."""
    return wait_until(condition, timeout_s, what, shown=lambda: page_state(page))


def server_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **kafka_env(settings)}


# For a test that waits for a page to find its link silent: a beat and a stall shorter than the
# product's 4 s and 9 s (ISS_DASHBOARD_PAGE_*), in the same proportion, so it waits 3.5 s, not 9.
QUICK_LINK = {"ISS_DASHBOARD_PAGE_BEAT_S": "1.5", "ISS_DASHBOARD_PAGE_STALL_S": "3.5"}
QUICK_STALL_S = float(QUICK_LINK["ISS_DASHBOARD_PAGE_STALL_S"])


class DashboardServer:
    """`panel serve isspanel` in a subprocess, as users run it."""

    def __init__(
        self,
        settings: Settings,
        port: int,
        log_path: Path,
        *extra: str,
        env: dict[str, str] | None = None,
    ):
        self.url = f"http://127.0.0.1:{port}/isspanel"
        self.liveness = f"http://127.0.0.1:{port}/liveness"  # serve_command's --liveness
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        # A session of its own: --num-procs forks workers, and stop() signals the whole group;
        # tied to the test run, so that the group ends even if the run is killed.
        self.proc = lifeline.popen(
            serve_command(
                port, "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}", *extra
            ),
            env={**server_env(settings), **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
        wait_until(self._answers, 60, f"the dashboard at {self.url}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"panel serve exited:\n{self.log()}")
        # Not the page: its GET would make a session, never used, that Bokeh discards later.
        with urllib.request.urlopen(self.liveness, timeout=2) as response:
            return response.status == 200

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # forked workers outlive their parent
        except ProcessLookupError:
            pass
        lifeline.untie(self.proc.pid)
        self._log.close()


# The page is up once Bokeh's document is idle: every view rendered (DocumentReady sent).
READY_JS = "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"


def wait_ready(page, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(READY_JS, timeout=timeout_ms)


def table_keys(page) -> list[int]:
    """The table's rows as the page holds them (its source), top first: their timestamps."""
    return [int(k) for k in model_data(page, "iss-table-rows", "ts")["ts"]]


def address(page) -> str:
    """The address bar as the page has it. Not ``page.url``: Playwright with Debian's Chromium
    misses some same-document navigations (``history.pushState``, which Panel's Location
    uses), so ``page.url`` can keep the address of the load for good."""
    return page.evaluate("() => window.location.href")


def page_state(page) -> str:
    """What a page shows, for a failure message: its table's keys (first, count) and text."""
    keys = table_keys(page)
    text = " ".join(all_text(page).split())[:1500]
    errors = getattr(page, "console_errors", [])
    return (
        f"table: {keys[:3]}… ({len(keys)} rows); url: {address(page)}; text: {text};"
        f" console errors: {errors}"
    )


def visible_top_row(page) -> str:
    """The text of the table's top row as drawn (SlickGrid draws only the visible rows)."""
    return page.locator(".slick-row").first.inner_text().replace("\n", " ").replace("\t", " ")


def model_data(page, name: str, *columns: str) -> dict:
    """A source's columns as the page holds them (``columns``: only those). Tests poll it 20
    times a second: the table's every column cost the test and Playwright's driver 1.0 CPU-s
    in 10 s, its keys alone 0.5."""
    return page.evaluate(
        """([name, columns]) => {
             const doc = Bokeh.documents[0];
             const m = doc.get_model_by_name(name);
             const out = {};
             for (const [k, v] of m.data.entries ? m.data.entries() : Object.entries(m.data))
               if (columns.length === 0 || columns.includes(k))
                 out[k] = Array.from(v, (x) => (x && x.length !== undefined && typeof x !== 'string'
                                                 ? Array.from(x) : x));
             return out;
           }""",
        [name, list(columns)],
    )


def all_text(page) -> str:
    """The page's text, including what Panel and Bokeh render inside shadow roots (not the
    text of style sheets or scripts)."""
    return page.evaluate(
        """() => {
             const parts = [];
             const walk = (node) => {
               if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
               if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return;
               if (node.shadowRoot) walk(node.shadowRoot);
               for (const child of node.childNodes) walk(child);
             };
             walk(document.body);
             return parts.join(' ');
           }"""
    )
