"""Where one dashboard page's main thread goes per record: `python -m bench.page_profile`.

Not part of `make bench`: a tool for the next person who makes the page cheaper. One page in
headless Chromium, records at 2/s, a CPU profile through the DevTools protocol (``Profiler``)
and the page's main-thread time (``Performance.getMetrics``, TaskDuration). It prints the
main-thread ms per record and the JavaScript functions with the most time, inclusive (with
what they call) and self. Style, layout and paint that no script forces show in TaskDuration
only, never in the profile.
"""

from __future__ import annotations

import argparse
import collections
import logging
import tempfile
import time
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import private_broker
from bench.dashboard_latency import bench_topics, main_thread_s, open_pages, send_records
from tests.browser import CHROMIUM, CHROMIUM_ARGS, READY_JS, DashboardServer
from tests.conftest import free_port

log = logging.getLogger("bench.page_profile")


def _name(node: dict) -> str:
    frame = node["callFrame"]
    where = frame["url"].rsplit("/", 1)[-1].split("?", 1)[0]
    return f"{frame['functionName'] or '(anonymous)'} {where}".strip()


def summarize(profile: dict, records: int, top: int = 25) -> list[tuple[str, float, float]]:
    """(function, inclusive ms per record, self ms per record), most inclusive first."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    spent: collections.Counter[int] = collections.Counter()
    deltas = [*profile["timeDeltas"][1:], 0]  # a sample lasts until the next one
    for node_id, delta in zip(profile["samples"], deltas, strict=True):
        spent[node_id] += delta
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    for node_id, us in spent.items():
        own[_name(nodes[node_id])] += us
        seen, x = set(), node_id
        while x is not None:  # every caller once, however deep the recursion
            name = _name(nodes[x])
            if name not in seen:
                total[name] += us
                seen.add(name)
            x = parent.get(x)
    skip = {"(root)", "(idle)"}
    ranked = [(n, us) for n, us in total.most_common() if n not in skip][:top]
    return [(n, us / 1000 / records, own[n] / 1000 / records) for n, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=30, help="records profiled (at 2/s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    with private_broker() as (broker, _b, _cold), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        topics = bench_topics(broker)
        server = DashboardServer(topics, free_port(), Path(tempfile.mkdtemp()) / "panel.log")
        try:
            page = open_pages(browser, server.url, 1, READY_JS)[0]
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            base = int(time.time()) - 200_000 + int(uuid.uuid4().int % 50_000)
            send_records(topics, 10, 2.0, base - 100)  # warm: JIT, first paints
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})  # µs
            busy = main_thread_s([cdp])
            cdp.send("Profiler.start")
            log.info("profiling %d records at 2/s", args.records)
            send_records(topics, args.records, 2.0, base)
            time.sleep(2)  # the last record's work
            profile = cdp.send("Profiler.stop")["profile"]
            busy = (main_thread_s([cdp]) - busy) / args.records * 1000
        finally:
            server.stop()
    print(f"main thread per record (TaskDuration): {busy:.1f} ms")
    print(f"{'inclusive ms':>12} {'self ms':>8}  function (per record)")
    for name, inclusive, own in summarize(profile, args.records):
        print(f"{inclusive:12.2f} {own:8.2f}  {name}")


if __name__ == "__main__":
    main()
