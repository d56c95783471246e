"""One registry of streams (``streams.STREAMS``): a fifth stream is one entry, and every part
that handles streams (consumer, hub, snapshot, moment, page) iterates the registry."""

from __future__ import annotations

import ast
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bokeh.document import Document

from isspanel import flink_rows
from isspanel.broker.history import History
from isspanel.broker.rows import Kind
from isspanel.dashboard.consumer import HubConsumer, backfill
from isspanel.dashboard.history import build_moment
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.page import DashboardPage
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.streams import STREAMS, Stream, shown
from isspanel.messages import parse_object
from isspanel.record import InvalidRecord, IssRecord
from isspanel.settings import Settings, TopicSettings, env, group

DASHBOARD = Path(__file__).resolve().parents[2] / "isspanel" / "dashboard"
# The parts that handle streams: none names one, or a topic setting of one.
CONSUMERS = ("consumer", "hub", "buffers", "snapshot", "history", "page", "sky_state")
AT = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
T0 = int(AT.timestamp()) - 3_600


@dataclass(frozen=True)
class CrewTopics(TopicSettings):
    crew: str = env("iss-crew", "Who is aboard (a fifth stream).")


@dataclass(frozen=True)
class CrewSettings(Settings):
    topics: CrewTopics = group(CrewTopics)


def _crew(value: bytes | None, max_bytes: int) -> dict:
    row = parse_object(value, max_bytes)
    if not isinstance(row.get("name"), str):
        raise InvalidRecord("name is not a name")
    return {**row, "t_ms": flink_rows.epoch_ms(row.get("eventTime"))}


CREW = Stream(
    name="crew",
    source="crew-rows",
    columns=("t", "name"),
    depth=5,
    kind=Kind(
        name="crew",
        topic_setting="topics.crew",
        parse=_crew,
        time_ms=lambda r: r["t_ms"],
        key=lambda r: r["name"],
        flink=False,
    ),
    row=lambda row, *_context: (row["t_ms"], row["name"]),
)
FIVE = (*STREAMS, CREW)


def crew(i: int) -> bytes:
    return json.dumps({"name": f"astronaut {i}", "eventTime": T0 + i * 60}).encode()


@pytest.fixture
def settings() -> CrewSettings:
    return CrewSettings.from_env()


def test_a_fifth_stream_goes_through_the_hub_into_every_snapshot(settings):
    hub = StreamHub(settings, FIVE)
    assert hub.snapshot().crew.rows == ()
    for i in range(7):
        assert hub.ingest("iss-crew", crew(i))
    assert not hub.ingest("iss-crew", b'{"name": 7}')  # its validator: skipped, counted
    assert hub.ingest(settings.topics.location, IssRecord(T0, 10.0, 20.0, "sgp4").to_json())
    hub.publish()
    shot = hub.snapshot()
    assert [r[1] for r in shot.crew.rows] == [f"astronaut {i}" for i in range(2, 7)]  # 5 kept
    assert shot.crew.total == 7 and shot.health.skipped == 1
    assert len(shot.positions.rows) == len(shot.track.rows) == 1


class FakeKafka:
    """What HubConsumer._assign asks of a KafkaConsumer, over topics of 1,000 offsets."""

    def __init__(self, topics):
        self._topics, self.assigned, self.seeks = set(topics), [], {}

    def topics(self):
        return self._topics

    def assignment(self):
        return set(self.assigned)

    def partitions_for_topic(self, topic):
        return {0}

    def assign(self, tps):
        self.assigned = list(tps)

    def end_offsets(self, tps):
        return dict.fromkeys(tps, 1_000)

    def beginning_offsets(self, tps):
        return dict.fromkeys(tps, 0)

    def seek(self, tp, offset):
        self.seeks[tp.topic] = offset


def test_the_consumer_assigns_and_backfills_every_stream(settings):
    hub = StreamHub(settings, FIVE)
    topics = [s.topic(settings) for s in FIVE]
    kafka = FakeKafka(topics)
    assert HubConsumer(hub)._assign(kafka, {})
    assert sorted(tp.topic for tp in kafka.assigned) == sorted(topics)
    back = backfill(settings, FIVE)
    assert kafka.seeks == {t: max(0, 1_000 - back[t]) for t in topics}
    assert back["iss-crew"] == 5  # its depth: not written by Flink, no transaction markers
    assert back[settings.topics.stats] == 2 * 24 + 64  # Flink's: markers take offsets too
    assert hub.health.assigned == tuple(sorted(topics))


def test_a_moment_builds_a_fifth_stream_as_the_hub_does(settings):
    hub = StreamHub(settings, FIVE)
    rows = [_crew(crew(i), 1_000) for i in range(7)]
    for i in range(7):
        hub.ingest("iss-crew", crew(i))
    hub.publish()
    reads = {s.name: History(s.topic(settings), AT) for s in FIVE}
    reads["crew"] = History("iss-crew", AT, tuple(rows[-5:]))
    shot = build_moment(settings, AT, False, reads, 0, time.monotonic(), FIVE).snapshot
    assert shot.crew.rows == hub.snapshot().crew.rows


def test_a_page_makes_a_source_per_stream_and_streams_each_its_rows(settings, ticks, inline_loop):
    hub = StreamHub(settings, FIVE)
    hub.ingest("iss-crew", crew(0))
    hub.publish()
    page = DashboardPage(hub=hub, context=SessionContext(Document(), inline_loop))
    assert {s.name: page.sources[s.name].name for s in shown(FIVE)} == {
        "positions": "positions",
        "speeds": "speed",
        "stats": "stats",
        "events": "events",
        "crew": "crew-rows",
        "track": "track",
    }
    assert page.sources["crew"].data["name"] == ["astronaut 0"]
    for i in range(1, 8):
        hub.ingest("iss-crew", crew(i))
    hub.publish()  # the hub wakes the page: its update is queued
    ticks.pop(0)()
    # Streamed with the stream's depth as rollover: the 5 newest.
    assert page.sources["crew"].data["name"] == [f"astronaut {i}" for i in range(3, 8)]
    page.context.close()
    assert hub.health.sessions == 0


def names(module: str) -> set[str]:
    """The strings a module's code holds (not its docstrings) and the attributes it reads
    (not those it sets on ``self``: its own, such as the page's ``positions`` source)."""
    tree = ast.parse((DASHBOARD / f"{module}.py").read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings, read, own = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                strings.add(node.value)
        elif isinstance(node, ast.Attribute):
            read.add(node.attr)
            if isinstance(node.ctx, ast.Store) and getattr(node.value, "id", "") == "self":
                own.add(node.attr)
    return strings | (read - own)


@pytest.mark.parametrize("module", CONSUMERS)
def test_no_part_that_handles_streams_names_one(module):
    streams = {s.name for s in shown()} | {s.source for s in shown()}
    # a topic's field, dotted and its last part (settings.topics.speed reads "speed")
    fields = {s.kind.topic_setting for s in STREAMS}
    topics = fields | {f.rsplit(".", 1)[-1] for f in fields}
    old = {"SPEED_BUFFER", "STATS_BUFFER", "EVENTS_BUFFER"}  # the depths, before the registry
    # page.py's "positions" is static/positions.js and the name that script reads its
    # source by, not a stream's: the page takes the source from the registry (records()).
    allowed = {"page": {"positions"}}.get(module, set())
    named = names(module) & (streams | topics | old) - allowed
    assert named == set(), f"{module}.py names {sorted(named)}: iterate streams.STREAMS instead"
