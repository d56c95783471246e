"""The notebooks: stored clean, and 01/03 run top to bottom against the session's broker;
03 shows the live dashboard (isspanel.dashboard.live), offline, and waits on its counters."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from isspanel.record import IssRecord, iso_utc
from tests.conftest import free_port, kafka_env, produce_raw, read_topic

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# Notebooks this file executes; 02_flink_sql.ipynb has its own test.
EXECUTED = ["01_produce.ipynb", "03_explore.ipynb"]
CELL_TIMEOUT_S = 120
# Debugging aid: save the executed copies (with outputs) into this folder, never notebooks/.
DUMP = os.environ.get("ISS_TEST_DUMP_NOTEBOOKS")

ORBIT_RECORDS = 93 * 60 // 30  # 01 publishes one orbit of history at 30 s steps


def all_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_executed_notebooks_exist():
    names = {p.name for p in all_notebooks()}
    assert set(EXECUTED) <= names


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_notebook_is_stored_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "needs a # title"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs"
            assert cell.execution_count is None, f"cell {index} has an execution count"


def run_notebook(name: str) -> nbformat.NotebookNode:
    """Execute an in-memory copy; the file on disk is never written."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    if DUMP:
        nbformat.write(nb, Path(DUMP) / name)
    return nb


def text_of(cell) -> str:
    outputs = cell.get("outputs", [])
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def use_topics(settings, monkeypatch) -> None:
    """Environment the kernel inherits: the session broker and this test's fresh topics."""
    env = {
        **kafka_env(settings),
        # Nothing listens there: "auto" falls back to sgp4 at once, as offline.
        "ISS_PRODUCER_API_URL": f"http://127.0.0.1:{free_port()}/iss-now.json",
    }
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    for var in ("ISS_PRODUCER_REPLAY_FILE", "ISS_TLE_URL"):
        monkeypatch.delenv(var, raising=False)


PANEL_MIME = "application/vnd.holoviews_exec.v0+json"
URL = re.compile(r"""https?://[^\s"'`<>()\\]+""")
# A URL something would load: a script, style, font, image or module file, or anything on a
# CDN host (a non-inline pn.extension() lists cdn.bokeh.org and cdn.holoviz.org files).
RESOURCE = re.compile(
    r"^https?://(?:(?:cdn\.[^/]*|[^/]*\.jsdelivr\.net|unpkg\.com|esm\.sh)/|[^?#]*"
    r"\.(?:m?js|css|woff2?|ttf|otf|png|jpe?g|gif|svg|json|wasm)(?:[?#]|$))"
)
# Inside Bokeh's and Panel's inline code, fetched only on demand for what no view here has:
# MathJax to typeset math text, the Tabler icon font for icons.
ON_DEMAND = {
    "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js",
    "https://cdn.jsdelivr.net/npm/@tabler/icons-webfont@latest",
}


def cell_with(nb, code: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and code in c.source]
    return cell


def mimes_of(cell) -> set[str]:
    return {m for o in cell.get("outputs", []) for m in o.get("data", {})}


def live_received(nb, published: int, buffer: int) -> bool:
    """The live dashboard is shown, and its own counters say it received the records the
    notebook read (or published) before, up to the newest ``buffer`` it backfills."""
    assert PANEL_MIME in mimes_of(cell_with(nb, "board = live.dashboard()")), "not shown"
    said = text_of(cell_with(nb, "expected = min(len(location)"))
    found = re.search(r"live dashboard received (\d+) positions \(waited for (\d+)\)", said)
    assert found, said
    received, waited = int(found.group(1)), int(found.group(2))
    return waited == min(published, buffer) and received >= waited


def remote_resources(nb) -> set[str]:
    """What any output would load from another host: nothing, Panel and Bokeh are inline
    (live.extension)."""
    found = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for data in output.get("data", {}).values():
                text = data if isinstance(data, str) else str(data)
                found |= {url for url in URL.findall(text) if RESOURCE.match(url)}
    return found - ON_DEMAND


def errors_of(nb) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", EXECUTED)
def test_notebook_runs(name, topic_factory, monkeypatch):
    settings = topic_factory()
    use_topics(settings, monkeypatch)
    stored = (NOTEBOOKS / name).read_bytes()

    started = time.monotonic()
    nb = run_notebook(name)
    print(f"{name} ran in {time.monotonic() - started:.1f} s")  # noqa: T201

    assert (NOTEBOOKS / name).read_bytes() == stored, "the notebook file was modified"
    # The kernel is this venv's Python (jupyter_client runs "python" as sys.executable).
    assert text_of(nb.cells[-1]).strip() == sys.prefix
    assert not errors_of(nb)

    # 01 publishes an orbit of history, then 5 live records; 03 publishes two orbits itself.
    expected = ORBIT_RECORDS + 5 if name == "01_produce.ipynb" else 2 * ORBIT_RECORDS
    records = read_topic(settings, settings.topics.location, expected=expected)
    assert len(records) == expected
    assert all(r.get("source") == "sgp4" for r in records)
    if name == "01_produce.ipynb":
        assert "auto picked: sgp4" in "".join(text_of(c) for c in nb.cells)
        last = nb.cells[-2].outputs
        assert any("text/html" in o.get("data", {}) for o in last), "no DataFrame shown"
    else:
        assert PANEL_MIME in mimes_of(cell_with(nb, "dashboard = pn.Column(")), "no Panel layout"
        assert live_received(nb, published=2 * ORBIT_RECORDS, buffer=settings.dashboard.buffer_size)
        assert not remote_resources(nb)
        all_text = "".join(text_of(c) for c in nb.cells)
        assert "the Flink speed topic is empty" in all_text  # fresh topics: pandas speed
        (described,) = [c for c in nb.cells if '["speed_kmh"].describe()' in c.source]
        summary = described.outputs[0]["data"]["text/plain"]
        mean = float(re.search(r"mean\s+([\d.]+)", summary).group(1))
        assert 24_000 < mean < 27_000, f"implausible ISS ground speed {mean} km/h"


@pytest.mark.timeout(600)
def test_explore_uses_flink_topics_when_they_have_data(topic_factory, monkeypatch):
    """With positions and Flink outputs present, 03 publishes nothing and shows them."""
    settings = topic_factory()
    use_topics(settings, monkeypatch)
    now = int(time.time())
    positions = [
        IssRecord(
            now - 600 + 30 * i, 10.0 + 0.9 * i, 170.0 + 1.9 * i - (360 if i > 5 else 0), "replay"
        )
        for i in range(10)
    ]
    produce_raw(settings, settings.topics.location, [r.to_dict() for r in positions])
    produce_raw(
        settings,
        settings.topics.speed,
        [  # as flink/10_speed.sql writes them (abridged)
            {"timestamp": now, "eventTime": iso_utc(now), "speed_kmh": 25_580.5},
            b"not json",
        ],
    )
    produce_raw(
        settings, settings.topics.stats, [{"window_start": "2026-11-26 08:00:00", "count": 10}]
    )

    nb = run_notebook("03_explore.ipynb")

    assert not errors_of(nb)
    all_text = "".join(text_of(c) for c in nb.cells)
    assert f"{settings.topics.location}: 10 records" in all_text
    assert f"{settings.topics.speed}: 1 records, {settings.topics.stats}: 1 records" in all_text
    assert "Flink speed from columns 'eventTime', 'speed_kmh'" in all_text
    assert "ProducerStats" not in all_text  # nothing published
    assert live_received(nb, published=10, buffer=settings.dashboard.buffer_size)
    assert len(read_topic(settings, settings.topics.location, expected=10)) == 10  # read to the end


@pytest.mark.timeout(600)
def test_passes_and_history_reads_the_last_day_back_by_time(topic_factory, monkeypatch):
    """04: passes offline; the positions of the last 24 hours read back from Kafka by time."""
    settings = topic_factory()
    use_topics(settings, monkeypatch)
    now = int(time.time())
    old = IssRecord(now - 2 * 86_400, 1.0, 2.0, "sgp4")  # two days ago: not in the day
    day = [IssRecord(now - 3600 + 60 * i, 10.0 + i, -170.0 + 7 * i, "sgp4") for i in range(30)]
    produce_raw(settings, settings.topics.location, [old.to_dict()] + [r.to_dict() for r in day])

    nb = run_notebook("04_passes_and_history.ipynb")

    assert not errors_of(nb)
    all_text = "".join(text_of(c) for c in nb.cells)
    assert f"{settings.topics.location}: 30 records from" in all_text
    assert "0 bad skipped" in all_text


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_notebooks_read_kafka_through_the_one_reader(path: Path):
    """No notebook writes its own consumer: isspanel.broker.read_topic validates, skips and
    counts bad messages, and reads to the end offsets, never until a timeout."""
    code = "".join(
        "".join(cell.source)
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
    )
    assert "KafkaConsumer" not in code and "json.loads" not in code
