"""The browser fixtures (a plugin of tests/conftest.py): Debian's headless Chromium, and a
test module's pages, reused from test to test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

VIEWPORT = {"width": 1400, "height": 900}


def record_errors(page: Page) -> None:
    """Collect the page's console errors, uncaught exceptions and failed requests into
    ``page.console_errors`` (page_state's failure messages show them too)."""
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: page.console_errors.append(f"request failed: {r.url}"))


class PagePool:
    """Pages of one browser context, lent to one test at a time and emptied when it ends.

    A page loaded in a tab that has shown the dashboard before costs Chromium half the CPU
    of one in a new tab: 1.5 against 3.1 CPU-s (measured; a new tab starts a renderer
    process and takes BokehJS and Panel, 2.9 MB of scripts, into it afresh; a new tab in a
    context whose HTTP cache holds them costs as much as one in a new context), and the
    browser tests load about a hundred pages. A page comes back on about:blank at the
    viewport it started with, so the next test gets a tab that shows nothing, with its own
    error list. The app keeps nothing in the browser (no cookies, no storage); a test that
    changes a page beyond that (an init script, a route) asks for a page of its own
    (``PagePool.own``).
    """

    def __init__(self, browser: Browser):
        self.browser = browser
        self.context = browser.new_context(viewport=VIEWPORT)
        self.idle: list[Page] = []
        self.own_contexts = {}

    def take(self) -> Page:
        page = self.idle.pop() if self.idle else self.context.new_page()
        if not hasattr(page, "console_errors"):
            record_errors(page)
        page.console_errors = []
        return page

    def own(self) -> Page:
        """A page in a context of its own, closed when given back: never lent again."""
        context = self.browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        record_errors(page)
        self.own_contexts[page] = context
        return page

    def give_back(self, page: Page) -> list[str]:
        """Leave the page (its session ends as when a tab closes); its errors until then."""
        errors = list(page.console_errors)
        page.console_errors = []  # leaving aborts the page's requests: not its test's errors
        context = self.own_contexts.pop(page, None)
        if context is not None:
            context.close()
            return errors
        if page.is_closed():
            return errors
        from playwright.sync_api import Error as PlaywrightError

        try:
            page.goto("about:blank")
            page.set_viewport_size(VIEWPORT)
        except PlaywrightError:
            page.close()  # a page that cannot leave is not lent again
            return errors
        self.idle.append(page)
        return errors

    def close(self) -> None:
        for context in self.own_contexts.values():
            context.close()
        self.context.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium (never a downloaded one), one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page_pool(browser):
    """The module's pages, reused from test to test."""
    pool = PagePool(browser)
    yield pool
    pool.close()


@pytest.fixture
def open_page(page_pool):
    """Open pages that record console errors; each must end with none and no traceback.
    ``own=True``: a page in a context of its own, never lent to another test (for a test
    that changes the page itself: an init script, a route)."""
    from tests.browser import all_text, wait_ready

    opened = []

    def open_(url: str, expect_errors: bool = False, own: bool = False):
        page = page_pool.own() if own else page_pool.take()
        opened.append((page, expect_errors))
        page.goto(url)
        wait_ready(page)
        return page

    def close_(page) -> list[str]:
        """Leave a page now (before its server stops); return its console errors so far."""
        opened[:] = [(p, e) for p, e in opened if p is not page]
        return page_pool.give_back(page)

    open_.close = close_

    yield open_
    try:
        for page, expect_errors in opened:
            if not expect_errors and not page.is_closed():
                assert "Traceback" not in all_text(page)
                assert page.console_errors == [], page.console_errors
    finally:
        for page, _ in opened:
            page_pool.give_back(page)
