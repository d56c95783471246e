"""The live dashboard of a notebook (isspanel.dashboard.live), in this process: one hub and
consumer per kernel shared by its views, a cleared view unsubscribed, live.stop() joining the
consumer. Views are rendered as Panel renders them (get_root into a Bokeh Document) and run
their updates on an asyncio event loop, as a kernel's; a notebook run is in test_notebooks.py."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from unittest.mock import patch

import nbformat
import panel as pn
import pytest
from bokeh.document import Document
from nbclient import NotebookClient

from isspanel.dashboard import live
from isspanel.record import IssRecord
from tests.conftest import kafka_env, produce_raw

PANEL_MIME = "application/vnd.holoviews_exec.v0+json"

NOW = int(time.time()) - 3600


def records(start: int, end: int) -> list[dict]:
    return [
        IssRecord(NOW + 60 * i, 10.0 + i, 20.0 + i, "sgp4").to_dict() for i in range(start, end)
    ]


def hub_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "isspanel-hub" and t.is_alive()]


def render(view: live.LiveView) -> Document:
    """Put ``view`` in a document of its own, as a notebook output, and bind it there."""
    doc = Document()
    doc.add_root(pn.panel(view).get_root(doc))
    view.bind(doc)
    return doc


@pytest.fixture
def kernel(topic_factory):
    settings = topic_factory()
    yield settings
    live.stop()


def test_views_share_one_consumer_and_a_cleared_one_is_unsubscribed(kernel):
    settings = kernel
    produce_raw(settings, settings.topics.location, records(0, 3))

    async def run() -> None:
        table, whole = live.table(settings), live.dashboard(settings)
        assert table.hub is whole.hub is live.hub(settings)
        assert len(hub_threads()) == 1
        render(table)
        render(whole)
        # The views update on this loop (the wait is on a worker thread, not on the loop).
        for view in (table, whole):
            shown = await asyncio.to_thread(view.wait_for, 3, 30.0, True)
            assert shown["positions"] == 3
        assert whole.status is not None and "3</span> records" in whole.status.text
        assert list(table.positions.data["ts"]) == [r["timestamp"] for r in records(0, 3)]

        (root,) = table.roots
        live.cleared(root)  # what Panel calls when JupyterLab deletes that output
        assert not table.subscribed and live.views() == [whole]
        produce_raw(settings, settings.topics.location, records(3, 5))
        assert (await asyncio.to_thread(whole.wait_for, 5, 30.0, True))["positions"] == 5
        assert table.received["positions"] == 3 and len(table.positions.data["ts"]) == 3
        assert len(whole.positions.data["ts"]) == 5

    asyncio.run(run())
    live.stop()
    assert hub_threads() == []
    assert live.views() == []


def test_wait_for_counts_what_the_consumer_received_without_the_loop(kernel):
    """From a cell, the kernel's loop is busy running it: ``received`` still advances."""
    settings = kernel
    view = live.status(settings)
    produce_raw(settings, settings.topics.location, records(0, 2))
    assert view.wait_for(records=2, timeout_s=30)["positions"] == 2
    assert view.shown["positions"] == 0  # never shown: nothing was put in an output
    with pytest.raises(TimeoutError, match="2 of 3 positions after"):
        view.wait_for(records=3, timeout_s=0.5)
    view.close()
    with pytest.raises(TimeoutError, match="2 of 3 positions and the view was closed"):
        view.wait_for(records=3, timeout_s=30)


def test_a_second_settings_is_refused_while_the_hub_runs(kernel, topic_factory):
    live.hub(kernel)
    with pytest.raises(ValueError, match=r"live\.stop"):
        live.hub(topic_factory())


def test_jupyterlab_clearing_an_output_unsubscribes_its_view(kernel):
    """In a real kernel: the test sends what JupyterLab's pyviz extension sends when a cell's
    output goes (a ``delete`` of the output's id on the ``hv-extension-comm`` comm)."""
    settings = kernel
    code = [
        "from isspanel.dashboard import live\nlive.extension()\ntable = live.table()\ntable",
        "status = live.status()\nstatus",
        "print(table.subscribed, status.subscribed, len(live.views()))",
        "live.stop()\nimport threading\n"
        "print([t.name for t in threading.enumerate() if t.name == 'isspanel-hub'])",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    with patch.dict(os.environ, kafka_env(settings)), client.setup_kernel():
        for index in range(2):
            client.execute_cell(nb.cells[index], index)
        (shown,) = [o for o in nb.cells[0].outputs if o.output_type == "execute_result"]
        comm_id = uuid.uuid4().hex
        for kind, content in (
            ("comm_open", {"comm_id": comm_id, "target_name": "hv-extension-comm", "data": {}}),
            (
                "comm_msg",
                {
                    "comm_id": comm_id,
                    "data": {"event_type": "delete", "id": shown.metadata[PANEL_MIME]["id"]},
                },
            ),
        ):
            client.kc.shell_channel.send(client.kc.session.msg(kind, content))
        for index in range(2, 4):
            client.execute_cell(nb.cells[index], index)
    said = [o.text for c in nb.cells[2:] for o in c.outputs if o.output_type == "stream"]
    assert said == ["False True 1\n", "[]\n"]
