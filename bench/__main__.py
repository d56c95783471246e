"""`make bench`: every benchmark, each beside its baseline, written to bench/results/latest.md.

The fan-out bench reads its options from ISS_BENCH_FANOUT_* (see `python -m
bench.dashboard_fanout --help`), e.g. ISS_BENCH_FANOUT_N=50,100,200 (the default); an empty
ISS_BENCH_FANOUT_N skips it. The cost of one record reads ISS_BENCH_COST_* (`python -m
bench.record_cost --help`).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

from bench import (
    dashboard_fanout,
    dashboard_latency,
    flink_throughput,
    producer_throughput,
    record_cost,
    time_travel,
)
from bench import passes as passes_bench
from bench.common import print_table, private_broker

log = logging.getLogger("bench")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    started = time.monotonic()
    sections = []
    log.info("passes over a place, 10 days (about 1 minute, most of it the naive baseline)")
    sections.append(print_table("Passes over a place (10 days)", passes_bench.run()))
    log.info("producer → broker (about 1 minute)")
    sections.append(print_table("Producer → broker", producer_throughput.run()))
    log.info("Flink SQL jobs (a few minutes)")
    with private_broker() as (settings, _broker, _cold):
        sections.append(print_table("Flink SQL jobs", flink_throughput.run(settings)))
    log.info("dashboard latency, memory and burst (several minutes)")
    latency, other = dashboard_latency.run()
    sections.append(print_table("Dashboard: producer send → row in the DOM", latency))
    sections.append(print_table("Dashboard: memory and burst", other))
    log.info("the cost of one record: pages and protocol sessions (about 10 minutes)")
    cost = record_cost.run([])
    sections.append(print_table("The cost of one record, beside the bare relay", cost))
    log.info("time travel: ?at= answered at the data level (a few minutes)")
    travel_rows, travel = time_travel.run()
    sections.append(time_travel.wide_table(travel))
    sections.append(print_table("Time travel beside reading from the start", travel_rows))
    if os.environ.get("ISS_BENCH_FANOUT_N", "50,100,200").strip():
        log.info("dashboard fan-out, protocol-level clients (about 15 minutes)")
        fanout = dashboard_fanout.run([])
        sections.append(dashboard_fanout.wide_table(fanout))
        sections.append(
            print_table("Dashboard fan-out beside the bare relay", dashboard_fanout.rows(fanout))
        )
    header = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.machine()}, {os.cpu_count()} cores, in "
        f"{time.monotonic() - started:.0f} s.\n\n"
    )
    out = Path(__file__).parent / "results" / "latest.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(header + "\n".join(sections))
    log.info("written to %s", out)


if __name__ == "__main__":
    main()
