"""A page left open across a server restart, or whose session the server discarded, comes
back by itself (issue 20): it reloads, keeping its address, and shows the next record.

The banner's states are logged in the page's sessionStorage (an init script, run on every
load), so the log spans the page's own reload: it shows what the page said while it had no
server, which must never be "connected".
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import time
import urllib.parse

import pytest

from isspanel.record import IssRecord, iso_utc
from tests.browser import (
    QUICK_LINK,
    QUICK_STALL_S,
    DashboardServer,
    address,
    all_text,
    table_keys,
    wait_on,
)
from tests.conftest import free_port, publish
from tests.link_proxy import LinkProxy

pytestmark = pytest.mark.browser
log = logging.getLogger(__name__)

NOW = int(time.time())
# The next record shows within this of the server answering again. A deadline, not a measure
# (each test logs the time it took, 2-4 s on a quiet machine): a reload under three test
# workers on two cores once took over 10 s, which says nothing about the page.
BACK_S = 30.0

# Every change of the banner's state, with the browser's clock, and every load of the page.
BANNER_LOG_JS = """(() => {
  if (window !== window.top) return;  // the page's iframes share its sessionStorage
  const log = (what) => {
    const all = JSON.parse(sessionStorage.getItem('bannerLog') || '[]');
    all.push([Date.now() / 1000, what]);
    sessionStorage.setItem('bannerLog', JSON.stringify(all));
  };
  log('load');
  let last = null;
  const check = () => {
    const el = document.getElementById('isspanel-link');
    const state = el == null ? null : el.dataset.state;
    if (state !== last) { last = state; if (state != null) log(state); }
  };
  check();
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true,
                        attributeFilter: ['data-state']});
})();"""


def banner_log(page) -> list[tuple[float, str]]:
    return [tuple(e) for e in json.loads(page.evaluate("sessionStorage.bannerLog || '[]'"))]


def banner(page) -> str | None:
    return page.locator("#isspanel-link").get_attribute("data-state")


def says_connected(text: str) -> bool:
    """Whether ``text`` claims a link is up ("disconnected", "not connected" do not)."""
    return re.search(r"(?<!dis)(?<!not )connected", text) is not None


def open_marked(open_page, url: str):
    """Open ``url``, log its banner from now on (across reloads), wait for its rows and a
    connected banner, and mark the page's window (a reload drops the mark)."""
    page = open_page(url, expect_errors=True, own=True)  # the probes' refused connections
    page.add_init_script(BANNER_LOG_JS)
    page.evaluate(BANNER_LOG_JS)
    wait_on(page, lambda: table_keys(page), 20, "the backfilled rows")
    wait_on(page, lambda: banner(page) == "connected", 10, "a connected banner")
    page.evaluate("() => { window.beforeTheCut = true; }")
    return page


def reloaded(page) -> bool:
    return page.evaluate("() => window.beforeTheCut !== true")


def states_between(page, start: float, end: float) -> list[str]:
    return [what for at, what in banner_log(page) if start <= at <= end]


def stop(server: DashboardServer, how: signal.Signals) -> float:
    """Stop ``server`` with ``how``; return when it had gone (wall clock)."""
    os.killpg(server.proc.pid, how)
    server.proc.wait(30)
    server.stop()
    return time.time()


# The arguments of a server that a page may also reach through a LinkProxy (``proxy_port``),
# and that discards a session left unused within a second or two.
def link_args(proxy_port: int) -> tuple[str, ...]:
    return (
        "--allow-websocket-origin",
        f"127.0.0.1:{proxy_port}",
        "--check-unused-sessions",
        "500",
        "--unused-session-lifetime",
        "1000",
    )


# The records of the tests that share the module's server, each newer than any before it,
# whichever test runs first: a test's next record tops the table.
MOMENTS = itertools.count(NOW - 3000, 60)


class SharedServer:
    """The module's server on one port, over the module's topics, for the tests that restart
    a server: the one a test started in place of the one it stopped serves the next test (a
    server start is 3 CPU-s). A test gets it running (``running``); one left stopped is
    replaced. A beat and a stall shorter than the product's (QUICK_LINK): silence shows sooner.
    """

    def __init__(self, settings, folder):
        self.settings = settings
        self.port = free_port()
        self.proxy = LinkProxy(self.port)
        self.folder = folder
        self.starts = 0
        self.server: DashboardServer | None = None

    def start(self) -> DashboardServer:
        self.starts += 1
        self.server = DashboardServer(
            self.settings,
            self.port,
            self.folder / f"panel-{self.starts}.log",
            *link_args(self.proxy.port),
            env=QUICK_LINK,
        )
        return self.server

    def running(self) -> DashboardServer:
        if self.server is None or self.server.proc.poll() is not None:
            if self.server is not None:
                self.server.stop()
            self.start()
        return self.server

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.proxy.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, kafka_settings):
    from isspanel.broker.topics import fresh_topics

    shared = SharedServer(fresh_topics(kafka_settings), tmp_path_factory.mktemp("reconnect"))
    yield shared
    shared.close()


def check_down(page, what: str) -> None:
    """While the page has no server: the banner says so and the status line claims no link."""
    wait_on(page, lambda: banner(page) == what, 5, f"a {what} banner")
    text = page.locator(".status").inner_text()
    assert not says_connected(text), text


@pytest.mark.parametrize(
    ("how", "tail"),
    [
        pytest.param(signal.SIGTERM, "", id="sigterm"),
        pytest.param(signal.SIGKILL, "?lat=52.5200&lon=13.4000#map", id="sigkill-place"),
    ],
)
def test_a_page_open_across_a_server_restart_shows_the_next_record(shared, open_page, how, tail):
    server = shared.running()
    publish(shared.settings, [IssRecord(next(MOMENTS), 10.0, 20.0, "sgp4")])
    then = next(MOMENTS)
    page = open_marked(open_page, server.url + tail)
    url = address(page)
    gone = stop(server, how)
    check_down(page, "disconnected")
    shared.start()
    back = time.monotonic()
    publish(shared.settings, [IssRecord(then, 11.0, 21.0, "sgp4")])
    wait_on(
        page,
        lambda: table_keys(page)[:1] == [then],
        BACK_S - (time.monotonic() - back),
        f"the next record within {BACK_S} s of the server being back",
    )
    shown = time.monotonic() - back
    assert reloaded(page)
    assert address(page) == url
    loads = [at for at, what in banner_log(page) if what == "load"]
    assert len(loads) == 2 and gone < loads[1]
    assert "connected" not in states_between(page, gone, loads[1])
    log.info("the next record shown %.1f s after the server was back", shown)


def test_a_page_at_a_moment_keeps_it_across_a_server_restart(topic_factory, tmp_path, open_page):
    settings = topic_factory()
    publish(settings, [IssRecord(NOW - 600 + i * 60, 10.0 + i, 20.0, "sgp4") for i in range(5)])
    port = free_port()
    server = DashboardServer(settings, port, tmp_path / "first.log")
    at = iso_utc(NOW - 600 + 2 * 60 + 30)
    try:
        page = open_marked(open_page, f"{server.url}?at={urllib.parse.quote(at)}")
        wait_on(page, lambda: "Not live — showing" in all_text(page), 20, "the moment")
        url = address(page)
        stop(server, signal.SIGKILL)
        check_down(page, "disconnected")
        server = DashboardServer(settings, port, tmp_path / "second.log")
        back = time.monotonic()
        wait_on(page, lambda: reloaded(page), BACK_S, "the page reloaded")
        wait_on(
            page,
            lambda: "Not live — showing" in all_text(page),
            BACK_S - (time.monotonic() - back),
            "the same moment shown again",
        )
        assert address(page) == url
        assert table_keys(page)[0] == NOW - 600 + 2 * 60
        log.info("the moment shown again %.1f s after the server was back", time.monotonic() - back)
    finally:
        server.stop()


def test_a_page_whose_link_died_unseen_reloads_itself_once_its_session_is_discarded(
    topic_factory, tmp_path, open_page
):
    """The server drops the page's WebSocket but no close reaches the page: the server
    discards the session, the page hears nothing more. Silence is its only sign; once the
    server answers again, the page reloads and shows the next record. A server of its own:
    the wait for the page's session to be discarded counts the sessions its log says closed."""
    settings = topic_factory()
    publish(settings, [IssRecord(NOW - 600, 10.0, 20.0, "sgp4")])
    port = free_port()
    proxy = LinkProxy(port)
    # A beat and a stall shorter than the product's (QUICK_LINK): silence shows sooner.
    server = DashboardServer(
        settings, port, tmp_path / "first.log", *link_args(proxy.port), env=QUICK_LINK
    )
    try:
        page = open_marked(
            open_page, f"http://127.0.0.1:{proxy.port}/isspanel?lat=52.5200&lon=13.4000"
        )

        def discard() -> None:
            # The page's session closed (DashboardServer asks /liveness, which makes none; the
            # page's probes start only once it has heard nothing for a while).
            wait_on(
                page,
                lambda: server.log().count("session closed") >= 1,
                10,
                "the page's session discarded",
            )

        check_died_unseen(page, proxy, discard, lambda: publish_next(settings, NOW - 300))
    finally:
        server.stop()
        proxy.close()


def test_a_page_whose_link_died_unseen_reloads_itself_once_the_server_restarted(shared, open_page):
    """As above, but the server restarts (killed) instead of discarding the session."""
    shared.running()
    publish(shared.settings, [IssRecord(next(MOMENTS), 10.0, 20.0, "sgp4")])
    then = next(MOMENTS)
    page = open_marked(
        open_page, f"http://127.0.0.1:{shared.proxy.port}/isspanel?lat=52.5200&lon=13.4000"
    )

    def restart() -> None:
        stop(shared.server, signal.SIGKILL)
        shared.start()

    check_died_unseen(page, shared.proxy, restart, lambda: publish_next(shared.settings, then))


def publish_next(settings, ts: int) -> int:
    publish(settings, [IssRecord(ts, 11.0, 21.0, "sgp4")])
    return ts


def check_died_unseen(page, proxy: LinkProxy, then, publish_next) -> None:
    """Drop the page's WebSocket unseen, do ``then`` (the server discards the session, or
    restarts), publish the next record (``publish_next`` returns its timestamp): the page
    reloads, at the same address, and shows it, never "connected" once silent."""
    url = address(page)
    assert proxy.drop_websockets() == 1
    dropped = time.monotonic()
    then()
    back = time.monotonic()
    ts = publish_next()
    # The page cannot know before its stall of silence.
    deadline = max(dropped + QUICK_STALL_S, back) + BACK_S
    wait_on(
        page,
        lambda: table_keys(page)[:1] == [ts],
        deadline - time.monotonic(),
        "the next record",
    )
    shown = time.monotonic() - max(dropped + QUICK_STALL_S, back)
    assert reloaded(page)
    assert address(page) == url
    states = banner_log(page)
    loads = [i for i, (_at, what) in enumerate(states) if what == "load"]
    assert len(loads) == 2
    silent = [what for _at, what in states[loads[0] : loads[1]]]
    # Once silent, the page never says "connected" again before its reload.
    assert "stalled" in silent
    assert "connected" not in silent[silent.index("stalled") :]
    log.info("the next record shown %.1f s after the page could know", shown)
