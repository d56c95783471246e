"""The cost of one record (issue #23, item 4), each figure beside the bare relay's in the run.

Browsers: 1 page at 2 rec/s and 10 pages at 1 rec/s in headless Chromium
(bench/dashboard_latency.py): send → row in the DOM, each page's main-thread time per record,
and the server's CPU per record (all of it, as `top` shows it).

Protocol sessions: for each server (the dashboard under `panel serve`, then the relay), fresh,
on fresh topics of one private broker, with N = 0, then each N of ``--n`` protocol-level
sessions open (bench/fanout_clients.py):
  - idle: the server's CPU rate (psutil, its whole process tree) over a quiet spell;
  - records: ``--records`` records at 1/s; the server's CPU over them, per record: "gross" (all
    of it, what a user's `top` shows at that rate) and "record" (less the idle rate just
    measured: what the records themselves cost).
The fixed cost of a record is the "record" figure with no session: the consumer, the hub and
the snapshot, which every session shares. Each N's figure less it, over N, is the cost per
session. Records are a minute apart in record time, as at the real rate, so each brings a
new next orbit. Run: `python -m bench.record_cost [--n 10] [--records 30]`.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path

from kafka import KafkaProducer
from playwright.sync_api import sync_playwright

from bench.common import percentile, print_table, private_broker, row
from bench.dashboard_fanout import options as fanout_options
from bench.dashboard_latency import (
    CORES,
    RATE_HZ,
    baseline_server,
    bench_topics,
    close_pages,
    measure,
    open_pages,
    tree_cpu_s,
)
from bench.fanout_procs import ClientPool, start_server
from isspanel.broker.topics import fresh_topics
from isspanel.record import IssRecord
from tests.browser import CHROMIUM, CHROMIUM_ARGS, READY_JS, DashboardServer
from tests.conftest import free_port

log = logging.getLogger(__name__)

# Issue #23, item 4: ms of server CPU per record whatever the sessions; (p50, p99) per pages.
TARGET_FIXED = "≤ 5"
# Closed sessions go within 2 s (lifetime 1 s) and their full collection runs 5 s later
# (dashboard/gc_freeze.py): neither belongs to the quiet spell after them.
SETTLE_S = 10.0
TARGETS = {1: ("≤ 12", ""), 10: ("≤ 40", "≤ 120")}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m bench.record_cost", description=__doc__)
    p.add_argument("--n", default=env("ISS_BENCH_COST_N", "10"), help="session counts (and 0)")
    p.add_argument("--records", type=int, default=int(env("ISS_BENCH_COST_RECORDS", "30")))
    p.add_argument("--quiet", type=float, default=float(env("ISS_BENCH_COST_QUIET", "20")))
    p.add_argument("--step", type=int, default=60, help="record time between records, s")
    p.add_argument("--pages", default=env("ISS_BENCH_COST_PAGES", "1,10"), help="browser pages")
    p.add_argument(
        "--pythonpath",
        default=env("ISS_BENCH_COST_PYTHONPATH", ""),
        help="put first on the server's PYTHONPATH (e.g. a `git archive` of another version)",
    )
    return p.parse_args(argv)


def _send(producer: KafkaProducer, topic: str, count: int, base: int, step: int) -> None:
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i - time.monotonic()))
        record = IssRecord(base + i * step, (i % 100) * 0.5 - 25, (i * 3.7) % 360 - 180, "sgp4")
        producer.send(topic, key=b"25544", value=record.to_json())
        producer.flush()
    time.sleep(max(0.0, start + count - time.monotonic()))


def protocol(
    kind: str, args, broker, ns: list[int], base: int, logdir: Path
) -> tuple[list[dict], int]:
    """One fresh server of ``kind``: idle and per-record CPU with 0, then each N sessions; and
    the next unused record time."""
    topics = fresh_topics(broker, prefix="cost")
    fan = fanout_options(["--pythonpath", args.pythonpath, "--num-procs", ""])
    server, page_url, client_url = start_server(kind, fan, topics, 0, logdir)
    producer = KafkaProducer(bootstrap_servers=topics.kafka.bootstrap_servers, acks=1, linger_ms=0)
    out: list[dict] = []
    try:
        for _ in range(3):  # imports, the first session's work (expires: lifetime 1 s)
            urllib.request.urlopen(page_url, timeout=30).read()
        time.sleep(SETTLE_S)
        for n in [0, *ns]:
            pool = None
            lo, hi = base, base + (args.records - 1) * args.step
            base = hi + args.step
            try:
                if n:
                    client = "ws" if kind == "baseline" else "bokeh-wire"
                    imports = fan.client_imports.split(",")
                    pool = ClientPool(client, client_url, n, min(4, n), lo, hi, 5 * n + 60, imports)
                    opened, errors = pool.ready()
                    if errors or opened != n:
                        log.warning("%s: %d of %d sessions opened: %s", kind, opened, n, errors)
                    time.sleep(2)
                cpu0 = server.cpu_s()
                time.sleep(args.quiet)
                idle = (server.cpu_s() - cpu0) / args.quiet
                cpu0, started = server.cpu_s(), time.monotonic()
                _send(producer, topics.topics.location, args.records, lo, args.step)
                busy, elapsed = server.cpu_s() - cpu0, time.monotonic() - started
            finally:
                if pool is not None:
                    pool.stop()
                    pool.kill()
            out.append(
                {
                    "server": kind,
                    "n": n,
                    "idle_ms_per_s": idle * 1000,
                    "gross_ms_per_record": busy / args.records * 1000,
                    "record_ms_per_record": (busy - idle * elapsed) / args.records * 1000,
                }
            )
            log.info("%s", out[-1])
            time.sleep(SETTLE_S)
    finally:
        producer.close()
        server.stop()
    return out, base


def browsers(args, broker) -> dict:
    """{(server, pages): (latencies ms, main thread ms per page per record, server CPU ms per
    record)} for each count of ``--pages``, the dashboard's and the relay's."""
    out = {}
    logdir = Path(tempfile.mkdtemp(prefix="isspanel-cost-"))
    ours, relay = bench_topics(broker), bench_topics(broker)
    lifetime = ("--check-unused-sessions", "1000", "--unused-session-lifetime", "1000")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        server = DashboardServer(ours, free_port(), logdir / "panel.log", *lifetime)
        port = free_port()
        baseline = baseline_server(relay, port)
        try:
            close_pages(open_pages(browser, server.url, 1, READY_JS))  # imports, JIT
            pid, bpid = server.proc.pid, baseline.pid
            for n in (int(x) for x in args.pages.split(",") if x.strip()):
                log.info("record cost: %d page(s) in Chromium, each server", n)
                out["isspanel", n] = measure(
                    browser, ours, server.url, n, READY_JS, partial(tree_cpu_s, pid), args.records
                )
                out["baseline", n] = measure(
                    browser, relay, f"http://127.0.0.1:{port}/", n, "body[data-ready]",
                    partial(tree_cpu_s, bpid), args.records,
                )  # fmt: skip
        finally:
            server.stop()
            baseline.terminate()
            baseline.wait(10)
            browser.close()
    return out


def page_rows(pages: dict) -> list[dict]:
    out = []
    for n in sorted({n for _, n in pages}):
        (o, o_ms, o_cpu), (b, b_ms, b_cpu) = pages["isspanel", n], pages["baseline", n]
        label = f"{n} page(s) at {RATE_HZ[n]:g} rec/s"
        p50, p99 = TARGETS.get(n, ("", ""))
        out += [
            row(f"{label}: p50", percentile(o, 50), "ms", p50, percentile(b, 50)),
            row(f"{label}: p99", percentile(o, 99), "ms", p99, percentile(b, 99)),
            row(f"{label}: server CPU per record (all of it)", o_cpu, "ms", "", b_cpu),
            row(f"{label}: main thread per page per record", o_ms, "ms", "≤ 20", b_ms),
            row(f"{label}: browser floor (× pages ÷ {CORES} cores)", o_ms * n / CORES, "ms",
                "", b_ms * n / CORES),
        ]  # fmt: skip
    return out


def rows(results: list[dict]) -> list[dict]:
    """isspanel beside the relay: fixed cost, then per N gross and per session."""
    base = {r["n"]: r for r in results if r["server"] == "baseline"}
    ours = {r["n"]: r for r in results if r["server"] != "baseline"}
    fixed, bfixed = ours[0]["record_ms_per_record"], base.get(0, {}).get("record_ms_per_record")
    out = [
        row("idle, no session: CPU per second", ours[0]["idle_ms_per_s"], "ms",
            "", base.get(0, {}).get("idle_ms_per_s")),
        row("fixed, less idle: CPU per record, no session", fixed, "ms", TARGET_FIXED, bfixed),
        row("fixed, all of it: CPU per record at 1 rec/s, no session",
            ours[0]["gross_ms_per_record"], "ms", TARGET_FIXED,
            base.get(0, {}).get("gross_ms_per_record")),
    ]  # fmt: skip
    for n, r in ours.items():
        if not n:
            continue
        b = base.get(n, {})
        out.append(
            row(
                f"{n} session(s): gross CPU per record at 1 rec/s",
                r["gross_ms_per_record"],
                "ms",
                "",
                b.get("gross_ms_per_record"),
            )
        )
        per = (r["record_ms_per_record"] - fixed) / n
        bper = (b["record_ms_per_record"] - bfixed) / n if b and bfixed is not None else None
        out.append(row(f"{n} session(s): CPU per session per record (less fixed and idle)",
                       per, "ms", "", bper))  # fmt: skip
    return out


def run(argv: list[str] | None = None) -> list[dict]:
    """Every figure, as bench/common rows: the pages', then the protocol sessions'."""
    args = options(argv)
    ns = [int(n) for n in args.n.split(",") if n.strip()]
    base = int(time.time()) - 150_000 * args.step
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"isspanel-cost-{os.getpid()}"
    logdir.mkdir(exist_ok=True)
    results: list[dict] = []
    with private_broker() as (broker, _broker, _cold):
        pages = browsers(args, broker) if args.pages.strip() else {}
        for kind in ("isspanel", "baseline"):
            log.info("record cost: %s, protocol sessions (logs in %s)", kind, logdir)
            found, base = protocol(kind, args, broker, ns, base, logdir)
            results += found
    return page_rows(pages) + rows(results)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    print_table("The cost of one record, beside the bare relay", run())
