"""Where one dashboard page's main thread goes per record: `python -m bench.page_profile`.

Not part of `make bench`: a tool for the next person who makes the page cheaper. One page in
headless Chromium, records at 2/s, a CPU profile through the DevTools protocol (``Profiler``)
and the page's main-thread time (``Performance.getMetrics``, TaskDuration). It prints the
main-thread ms per record, Chromium's own split of it (script, style, layout), the p50 of send
→ row, and the JavaScript functions with the most time, inclusive (with what they call) and
self. Style, layout and paint that no script forces show in TaskDuration only, never in the
profile. The page first gets ``--warm`` records, fast: by default enough to fill its table,
as the backfill does on a real page (a table still filling up costs more per record).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

from bench.common import private_broker
from bench.dashboard_latency import bench_topics, latencies, open_pages, send_records
from isspanel.settings import Settings
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


# Chromium's own split of the main thread's time (Performance.getMetrics), in seconds.
METRICS = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")
COUNTS = ("RecalcStyleCount", "LayoutCount")  # how many times, whatever the machine's load


IDLE_S = 6.0


def metrics(cdp) -> dict[str, float]:
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {name: got[name] for name in (*METRICS, *COUNTS)}


def chromium_cpu_s() -> float:
    """CPU seconds (user + system) of every Chromium process this one started: the pages'
    work itself, without the wait for a core that TaskDuration counts on a busy machine."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in proc.name().lower():
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, default=30, help="records measured, then as many profiled (at 2/s)"
    )
    parser.add_argument(
        "--warm",
        type=int,
        default=Settings().dashboard.buffer_size + 10,
        help="records sent first, at 20/s (default: a full table)",
    )
    parser.add_argument(
        "--step",
        type=int,
        default=60,
        help="record time between records, s (60: the real rate, each brings a new next orbit)",
    )
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    parser.add_argument("--save", type=Path, help="write the CPU profile (.cpuprofile) here")
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
            warm = send_records(
                topics, args.warm, 20.0, base - (args.warm + 10) * args.step, args.step
            )
            latencies([page], warm, max(warm))  # JIT, first paints, the table filled
            time.sleep(2)  # the warm records' last paints
            idle, idle_cpu, idle_s = metrics(cdp), chromium_cpu_s(), time.monotonic()
            time.sleep(IDLE_S)  # the page with no record: its clock, the heartbeat
            idle_s = time.monotonic() - idle_s
            idle = {k: (v - idle[k]) / idle_s for k, v in metrics(cdp).items()}
            idle_cpu = (chromium_cpu_s() - idle_cpu) / idle_s
            load = os.getloadavg()[0]
            log.info("measuring %d records at 2/s", args.records)
            before, cpu, took_s = metrics(cdp), chromium_cpu_s(), time.monotonic()
            sent = send_records(topics, args.records, 2.0, base, args.step)
            took = latencies([page], sent, max(sent))
            time.sleep(1)  # the last record's paint
            took_s = time.monotonic() - took_s
            after, cpu = metrics(cdp), chromium_cpu_s() - cpu
            log.info("profiling %d more records at 2/s", args.records)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})  # µs
            cdp.send("Profiler.start")
            later = base + args.records * args.step
            profiled = send_records(topics, args.records, 2.0, later, args.step)
            latencies([page], profiled, max(profiled))
            time.sleep(1)
            profile = cdp.send("Profiler.stop")["profile"]
            load = max(load, os.getloadavg()[0])
        finally:
            server.stop()
    if args.save:
        args.save.write_text(json.dumps(profile))  # DevTools' Performance panel opens it
    n = args.records
    per = {k: (after[k] - before[k]) / n * 1000 for k in METRICS}
    beyond = {k: per[k] - idle[k] * took_s / n * 1000 for k in METRICS}
    print(
        f"main thread per record (TaskDuration): {per['TaskDuration']:.1f} ms "
        f"({beyond['TaskDuration']:.1f} beyond the idle page's "
        f"{idle['TaskDuration'] * 1000:.1f} ms/s)"
    )
    print(
        f"  of it script {per['ScriptDuration']:.1f}, style {per['RecalcStyleDuration']:.1f}, "
        f"layout {per['LayoutDuration']:.1f} ms; send → row p50 {statistics.median(took):.1f} "
        f"ms; load average (1 min, max of start and end) {load:.1f}"
    )
    counts = {k: (after[k] - before[k]) / n for k in COUNTS}
    print(
        f"  style recalculations {counts['RecalcStyleCount']:.1f}, "
        f"layouts {counts['LayoutCount']:.1f} per record"
    )
    cpu_per = cpu / n * 1000
    cpu_beyond = (cpu - idle_cpu * took_s) / n * 1000
    print(
        f"Chromium's CPU per record (all its processes, user + system): {cpu_per:.1f} ms "
        f"({cpu_beyond:.1f} beyond the idle page's {idle_cpu * 1000:.1f} ms/s)"
    )
    print(f"profiled ({n} more records; the profiler's own cost inflates these):")
    print(f"{'inclusive ms':>12} {'self ms':>8}  function (per record)")
    for name, inclusive, own in summarize(profile, n, args.top):
        print(f"{inclusive:12.2f} {own:8.2f}  {name}")


if __name__ == "__main__":
    main()
