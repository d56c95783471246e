"""The server's cost of one record: fixed (no session) and per session, beside the relay.

For each server (the dashboard under `panel serve`, then the bare relay of bench/baseline_ws.py),
fresh, on fresh topics of one private broker, with N = 0, then each N of ``--n`` protocol-level
sessions open (bench/fanout_clients.py):
  - idle: the server's CPU rate (psutil, its whole process tree) over a quiet spell;
  - records: ``--records`` records at 1/s; the server's CPU over them, per record: "gross" (all
    of it, what a user's `top` shows at that rate) and "record" (less the idle rate just
    measured: what the records themselves cost).
The fixed cost of a record is the "record" figure with no session: the consumer, the hub and
the snapshot, which every session shares. Each N's figure less it, over N, is the cost per
session. Run: `python -m bench.record_cost [--n 1,10] [--records 30]`.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import urllib.request
from pathlib import Path

from kafka import KafkaProducer

from bench.common import print_table, private_broker, row
from bench.dashboard_fanout import options as fanout_options
from bench.fanout_procs import ClientPool, start_server
from isspanel.broker.topics import fresh_topics
from isspanel.record import IssRecord

log = logging.getLogger(__name__)

TARGET_FIXED = "≤ 5"  # ms of server CPU per record, whatever the sessions (issue #23, item 4)


def options(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m bench.record_cost", description=__doc__)
    p.add_argument("--n", default=env("ISS_BENCH_COST_N", "1,10"), help="session counts (and 0)")
    p.add_argument("--records", type=int, default=int(env("ISS_BENCH_COST_RECORDS", "30")))
    p.add_argument("--quiet", type=float, default=float(env("ISS_BENCH_COST_QUIET", "20")))
    p.add_argument(
        "--pythonpath",
        default=env("ISS_BENCH_COST_PYTHONPATH", ""),
        help="put first on the server's PYTHONPATH (e.g. a `git archive` of another version)",
    )
    return p.parse_args(argv)


def _send(producer: KafkaProducer, topic: str, count: int, base: int) -> None:
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i - time.monotonic()))
        record = IssRecord(base + i, (i % 100) * 0.5 - 25, (i * 3.7) % 360 - 180, "sgp4")
        producer.send(topic, key=b"25544", value=record.to_json())
        producer.flush()
    time.sleep(max(0.0, start + count - time.monotonic()))


def measure(kind: str, args, broker, ns: list[int], base: int, logdir: Path) -> list[dict]:
    """One fresh server of ``kind``: idle and per-record CPU with 0, then each N sessions."""
    topics = fresh_topics(broker, prefix="cost")
    fan = fanout_options(["--pythonpath", args.pythonpath, "--num-procs", ""])
    server, page_url, client_url = start_server(kind, fan, topics, 0, logdir)
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap, acks=1, linger_ms=0)
    out: list[dict] = []
    try:
        for _ in range(3):  # imports, the first session's work (expires: lifetime 1 s)
            urllib.request.urlopen(page_url, timeout=30).read()
        time.sleep(3)
        for n in [0, *ns]:
            pool = None
            lo, hi = base, base + args.records - 1
            base += args.records
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
                _send(producer, topics.topic, args.records, lo)
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
            time.sleep(3)  # the closed sessions go (lifetime 1 s)
    finally:
        producer.close()
        server.stop()
    return out


def rows(results: list[dict]) -> list[dict]:
    """isspanel beside the relay: fixed cost, then per N gross and per session."""
    base = {r["n"]: r for r in results if r["server"] == "baseline"}
    ours = {r["n"]: r for r in results if r["server"] != "baseline"}
    fixed, bfixed = ours[0]["record_ms_per_record"], base.get(0, {}).get("record_ms_per_record")
    out = [
        row("idle, no session: CPU per second", ours[0]["idle_ms_per_s"], "ms",
            "", base.get(0, {}).get("idle_ms_per_s")),
        row("fixed: CPU per record, no session (less idle)", fixed, "ms", TARGET_FIXED, bfixed),
        row("gross: CPU per record at 1 rec/s, no session", ours[0]["gross_ms_per_record"],
            "ms", "", base.get(0, {}).get("gross_ms_per_record")),
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
    args = options(argv)
    ns = [int(n) for n in args.n.split(",") if n.strip()]
    base = int(time.time()) - 150_000
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"isspanel-cost-{os.getpid()}"
    logdir.mkdir(exist_ok=True)
    results: list[dict] = []
    with private_broker() as (broker, _broker, _cold):
        for kind in ("isspanel", "baseline"):
            log.info("record cost: %s (logs in %s)", kind, logdir)
            results += measure(kind, args, broker, ns, base, logdir)
            base += args.records * (len(ns) + 1)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    print_table("The server's cost of one record, beside the bare relay", rows(run()))
