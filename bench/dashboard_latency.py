"""Producer send → row in the DOM of headless Chromium, for 1, 10 and 20 pages.

The baseline runs side by side in the same run: a bare kafka-python consumer → Tornado
WebSocket → plain HTML page (bench/baseline_ws.py). Both pages push [key, Date.now()] to
window.isspanelArrivals when a row lands; the send time is taken just before send().
Also: server RSS per session, RSS after open/close cycles, and a 1,000 records/s burst.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid

import psutil
from kafka import KafkaProducer
from playwright.sync_api import sync_playwright

from bench.common import percentile, print_table, private_broker, row
from isspanel.broker.topics import fresh_topics
from isspanel.record import IssRecord
from isspanel.settings import PROJECT_ROOT
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    READY_JS,
    DashboardServer,
    table_keys,
    wait_until,
)
from tests.conftest import free_port

log = logging.getLogger(__name__)

RECORDS = 200
# Records per second sent in each configuration (the real rate is one a minute). Twenty
# headless Chromium pages share the machine's 2 cores with the server and the broker: each
# page spends ~18 ms of main-thread time per record (Chrome's Performance metrics) plus
# compositing, so one record's fan-out keeps both cores busy for a few hundred ms.
RATE_HZ = {1: 2.0, 10: 1.0, 20: 1.0}
RECORDS_AT = {1: RECORDS, 10: 60, 20: 60}  # 10 and 20 pages: 600 and 1,200 samples
# The targets per configuration: (p50, p99), ms.
TARGETS = {1: ("≤ 12", "≤ 60"), 10: ("≤ 30", "≤ 100"), 20: ("", "≤ 150")}
CORES = os.cpu_count() or 1
CYCLES = 200


def bench_topics(settings):
    return fresh_topics(settings, prefix="bench")


def open_pages(browser, url: str, count: int, ready: str):
    pages = []
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url)
        if ready.startswith("() =>"):
            page.wait_for_function(ready, timeout=60_000)
        else:
            page.wait_for_selector(ready, state="attached", timeout=60_000)
        pages.append(page)
    for page in pages:
        page.evaluate("() => { window.isspanelArrivals = []; }")
    return pages


def send_records(
    settings, count: int, rate_hz: float, base: int, step: int = 1
) -> dict[int, float]:
    """``count`` records at ``rate_hz``, from record time ``base``, ``step`` s apart in it."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks=1, linger_ms=0
    )
    sent: dict[int, float] = {}
    next_at = time.monotonic()
    for i in range(count):
        record = IssRecord(base + i * step, (i % 100) * 0.5 - 25, (i * 3.7) % 360 - 180, "sgp4")
        payload = record.to_json()
        sent[record.timestamp] = time.time() * 1000
        producer.send(settings.topics.location, key=b"25544", value=payload)
        producer.flush()
        next_at += 1 / rate_hz
        time.sleep(max(0.0, next_at - time.monotonic()))
    producer.close()
    return sent


def latencies(pages, sent: dict[int, float], last: int) -> list[float]:
    out = []
    for page in pages:
        wait_until(
            lambda p=page: any(k == last for k, _ in p.evaluate("window.isspanelArrivals")),
            60,
            f"the last record {last} in every page; arrivals so far: "
            f"{[len(q.evaluate('window.isspanelArrivals') or []) for q in pages]}",
        )
        for key, arrived in page.evaluate("window.isspanelArrivals"):
            if key in sent:
                out.append(arrived - sent[key])
    return out


def close_pages(pages) -> None:
    for page in pages:
        page.context.close()


def main_thread_s(cdps) -> float:
    """Chromium's main-thread busy time (TaskDuration), summed over the pages' sessions."""
    total = 0.0
    for cdp in cdps:
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        total += next(m["value"] for m in metrics if m["name"] == "TaskDuration")
    return total


def measure(
    browser, settings, url: str, sessions: int, ready: str, cpu=None, count: int | None = None
) -> tuple[list[float], float, float]:
    """Latencies, each page's main-thread ms per record (the browsers' own floor) and, given
    ``cpu`` (the server's CPU seconds so far), the server's CPU ms per record."""
    pages = open_pages(browser, url, sessions, ready)
    cdps = [page.context.new_cdp_session(page) for page in pages]
    for cdp in cdps:
        cdp.send("Performance.enable")
    count = count or RECORDS_AT[sessions]
    base = int(time.time()) - 200_000 + int(uuid.uuid4().int % 50_000)
    busy0 = main_thread_s(cdps)
    cpu0 = cpu() if cpu else 0.0
    sent = send_records(settings, count, RATE_HZ[sessions], base)
    result = latencies(pages, sent, base + count - 1)
    server_ms = (cpu() - cpu0) / count * 1000 if cpu else float("nan")
    per_page_record_ms = (main_thread_s(cdps) - busy0) / sessions / count * 1000
    close_pages(pages)
    return result, per_page_record_ms, server_ms


def tree_cpu_s(pid: int) -> float:
    """A process's CPU seconds (user + system), its children's included."""
    parent = psutil.Process(pid)
    total = 0.0
    for p in (parent, *parent.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def baseline_server(settings, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.baseline_ws",
            str(port),
            settings.kafka.bootstrap_servers,
            settings.topics.location,
        ],
        cwd=PROJECT_ROOT,
    )
    wait_until(lambda: _listening(port), 20, "baseline server")
    return proc


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def run() -> tuple[list[dict], list[dict]]:
    rows: list[dict] = []
    extra: list[dict] = []
    with private_broker() as (broker_settings, _broker, _cold), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ours = bench_topics(broker_settings)
        base = bench_topics(broker_settings)
        import tempfile

        logdir = tempfile.mkdtemp(prefix="isspanel-bench-")
        server = DashboardServer(
            ours,
            free_port(),
            __import__("pathlib").Path(logdir) / "p.log",
            "--check-unused-sessions",
            "1000",
            "--unused-session-lifetime",
            "1000",
        )
        bport = free_port()
        baseline = baseline_server(base, bport)
        burl = f"http://127.0.0.1:{bport}/"
        try:
            # Warm both up once (imports, JIT, first session).
            close_pages(open_pages(browser, server.url, 1, READY_JS))
            # Memory per session, on a fresh server (Python keeps freed memory for reuse).
            time.sleep(3)  # let the warm-up sessions expire (lifetime 1 s)
            idle = rss_mb(server.proc.pid)
            pages = open_pages(browser, server.url, 20, READY_JS)
            with20 = rss_mb(server.proc.pid)
            close_pages(pages)
            extra.append(row("server RSS, idle", idle, "MB"))
            extra.append(row("server RSS per session (20 open)", (with20 - idle) / 20, "MB", "≤ 5"))
            results = {}
            for sessions in RATE_HZ:
                results[("ours", sessions)] = measure(browser, ours, server.url, sessions, READY_JS)
                results[("base", sessions)] = measure(
                    browser, base, burl, sessions, "body[data-ready]"
                )
            for sessions, (p50t, p99t) in TARGETS.items():
                (o, o_ms, _), (b, b_ms, _) = (
                    results[("ours", sessions)],
                    results[("base", sessions)],
                )
                label = f"{sessions} page(s) at {RATE_HZ[sessions]:g} rec/s"
                for q, target in ((50, p50t), (95, ""), (99, p99t)):
                    rows.append(
                        row(f"{label}: p{q}", percentile(o, q), "ms", target, percentile(b, q))
                    )
                rows.append(row(f"{label}: main thread per page per record", o_ms, "ms", "", b_ms))
                # One record's work in every page, spread over the cores: no page can have
                # its row before that, whatever the server does.
                floor = o_ms * sessions / CORES
                rows.append(
                    row(
                        f"{label}: browser floor (× pages ÷ {CORES} cores)",
                        floor,
                        "ms",
                        "",
                        b_ms * sessions / CORES,
                    )
                )

            started = time.monotonic()
            before_cycles = rss_mb(server.proc.pid)
            for _ in range(CYCLES):
                close_pages(open_pages(browser, server.url, 1, READY_JS))
            time.sleep(3)
            after_cycles = rss_mb(server.proc.pid)
            extra.append(
                row(
                    f"server RSS growth after {CYCLES} open/close cycles",
                    after_cycles - before_cycles,
                    "MB",
                    "flat",
                )
            )
            extra.append(
                row("open/close cycle time", (time.monotonic() - started) / CYCLES * 1000, "ms")
            )

            # A burst of 1,000 records in one second.
            page = open_pages(browser, server.url, 1, READY_JS)[0]
            page.evaluate("""() => { window.lagMax = 0; let t = performance.now();
              setInterval(() => { const n = performance.now();
                window.lagMax = Math.max(window.lagMax, n - t - 50); t = n; }, 50); }""")
            burst_base = int(time.time()) - 300_000
            producer = KafkaProducer(bootstrap_servers=ours.kafka.bootstrap_servers, linger_ms=5)
            t0 = time.monotonic()
            for i in range(1000):
                producer.send(
                    ours.topics.location,
                    value=IssRecord(burst_base + i, 1.0, 2.0, "sgp4").to_json(),
                )
                if i % 100 == 99:
                    producer.flush()
                    time.sleep(max(0.0, t0 + (i + 1) / 1000 - time.monotonic()))
            producer.flush()
            sent_done = time.monotonic()
            expected = [burst_base + i for i in reversed(range(900, 1000))]
            wait_until(
                lambda: table_keys(page) == expected,
                30,
                "burst table",
            )
            settle = time.monotonic() - sent_done
            extra.append(
                row("burst 1,000 rec/s: final table correct after", settle * 1000, "ms", "≤ 2,000")
            )
            extra.append(
                row(
                    "burst: longest browser main-thread stall", page.evaluate("window.lagMax"), "ms"
                )
            )
            extra.append(row("burst: send duration", (sent_done - t0) * 1000, "ms"))
            producer.close()
            page.context.close()
            for sessions, count in RECORDS_AT.items():
                extra.append(row(f"latency records, {sessions} page(s)", count, "records"))
            raw = {f"{k[0]}-{k[1]}": len(v[0]) for k, v in results.items()}
            log.info("latency samples: %s", json.dumps(raw))
        finally:
            server.stop()
            baseline.terminate()
            baseline.wait(10)
            browser.close()
    return rows, extra


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    latency, other = run()
    print_table("Dashboard: producer send → row in the DOM", latency)
    print_table("Dashboard: memory and burst", other)
