"""Open pages are frozen out of full garbage collections; a closed page's cycles are still
freed, by one collection shortly after it closes (isspanel/dashboard/gc_freeze.py)."""

from __future__ import annotations

import gc
import weakref

import pytest

from isspanel.dashboard import gc_freeze
from isspanel.settings import Settings


class Node:
    other: Node


@pytest.fixture
def unfrozen():
    """The test process is never left frozen, whatever a test does."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def a_cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_built_page_is_out_of_full_collections(unfrozen):
    gone = a_cycle()
    gc_freeze.page_built(True)
    assert gc.get_freeze_count() > 0
    gc.collect()
    assert gone() is not None  # frozen: no collection walks it, not even a full one


class Loop:
    """Stands in for the server's IOLoop: keeps what is scheduled, runs it when told."""

    def __init__(self):
        self.later: list[tuple[float, object]] = []

    def current(self) -> Loop:
        return self

    def call_later(self, delay_s: float, callback) -> None:
        self.later.append((delay_s, callback))

    def run_scheduled(self) -> None:
        due, self.later = self.later, []
        for _delay_s, callback in due:
            callback()


def test_a_closed_page_is_collected_once_soon_after(unfrozen, monkeypatch):
    # The loop is stood in for: what is scheduled is seen, and run, without waiting for it.
    loop = Loop()
    monkeypatch.setattr(gc_freeze, "IOLoop", loop)
    runs: list[int] = []
    real = gc_freeze.collect
    monkeypatch.setattr(gc_freeze, "collect", lambda: runs.append(real()))
    gone = a_cycle()
    gc_freeze.page_built(True)
    for _ in range(3):
        gc_freeze.page_closed()
    # One collection for the pages that closed together, COLLECT_AFTER_S later.
    assert [delay for delay, _callback in loop.later] == [gc_freeze.COLLECT_AFTER_S]
    assert gone() is not None and runs == []
    loop.run_scheduled()
    assert gone() is None  # the cycle a closed page left is freed
    assert len(runs) == 1
    assert gc.get_freeze_count() > 0  # and what is still open is frozen again
    gc_freeze.page_closed()  # a page that closes after it: a collection of its own
    assert [delay for delay, _callback in loop.later] == [gc_freeze.COLLECT_AFTER_S]
    loop.run_scheduled()
    assert len(runs) == 2


def test_switched_off_nothing_is_frozen(unfrozen):
    gc_freeze.page_built(False)
    gc_freeze.page_closed()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("off", False), (" Yes ", True)])
def test_the_setting_reads_the_usual_words(raw, value):
    assert Settings.from_env({"ISS_DASHBOARD_GC_FREEZE": raw}).dashboard.gc_freeze is value


def test_the_setting_refuses_other_words():
    with pytest.raises(ValueError, match="ISS_DASHBOARD_GC_FREEZE='maybe' is not a valid bool"):
        Settings.from_env({"ISS_DASHBOARD_GC_FREEZE": "maybe"})
