"""Fan-out without browsers: N protocol-level sessions, one record a second, per N.

For each N (default 50, 100, 200) and each server (the dashboard under `panel serve APP`, then
the bare relay of bench/baseline_ws.py, each fresh, on fresh topics of one private broker):
  - idle: server CPU and RSS over a quiet spell with no session, then with N sessions open;
  - records: one a second, send → first PATCH-DOC (or WebSocket message) mentioning it, for
    every session (bench/fanout_clients.py says how a record is recognised);
  - server CPU (psutil, the server's whole process tree, user + system) while records flow,
    less the server's CPU rate with no session (its own Kafka poll loop), per session per
    record ("gross" and "record" variants in the JSON: nothing subtracted, or also the cost
    of N quiet sessions); idle CPU per session per minute is likewise the rate with N quiet
    sessions less the rate with none, over N; RSS per session, (RSS with N - with none) / N.
Run: `python -m bench.dashboard_fanout [--n 50,100,200] [--app PATH] [--records 40]`.
Writes bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

from kafka import KafkaProducer

import isspanel
from bench.common import percentile, print_table, private_broker, row
from bench.fanout_procs import ClientPool, server_procs, start_server
from isspanel.broker.topics import fresh_topics
from isspanel.record import IssRecord

log = logging.getLogger(__name__)

RESULTS = Path(__file__).parent / "results" / "fanout.json"


def options(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m bench.dashboard_fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", default=env("ISS_BENCH_FANOUT_N", "50,100,200"), help="session counts")
    app = str(Path(isspanel.__file__).parent)
    p.add_argument(
        "--app",
        default=env("ISS_BENCH_FANOUT_APP", app),
        help="what `panel serve` serves (a directory or a .py file)",
    )
    p.add_argument(
        "--server-args",
        default=env("ISS_BENCH_FANOUT_SERVER_ARGS", ""),
        help="more `panel serve` arguments, one shell-quoted string",
    )
    p.add_argument(
        "--num-procs",
        default=env("ISS_BENCH_FANOUT_NUM_PROCS", "200:2"),
        help="N:procs pairs; from that N on, `panel serve --num-procs procs`",
    )
    p.add_argument("--records", type=int, default=int(env("ISS_BENCH_FANOUT_RECORDS", "40")))
    p.add_argument(
        "--quiet",
        type=float,
        default=float(env("ISS_BENCH_FANOUT_QUIET", "30")),
        help="seconds of quiet with N sessions (half that with none)",
    )
    p.add_argument("--clients", type=int, default=4, help="client processes")
    p.add_argument(
        "--read",
        choices=("wire", "apply"),
        default=env("ISS_BENCH_FANOUT_READ", "wire"),
        help="how a Bokeh client reads a PATCH-DOC (bench/fanout_clients.py)",
    )
    p.add_argument(
        "--pythonpath",
        default=env("ISS_BENCH_FANOUT_PYTHONPATH", ""),
        help="put first on the server's PYTHONPATH (e.g. a `git archive` of another version)",
    )
    p.add_argument(
        "--client-imports",
        default=env("ISS_BENCH_FANOUT_CLIENT_IMPORTS", "panel.models,panel.models.tabulator"),
        help="modules the clients import so that the pulled document's models resolve",
    )
    p.add_argument(
        "--open-s-per-session",
        type=float,
        default=float(env("ISS_BENCH_FANOUT_OPEN_S", "5")),
        help="time allowed to open the sessions: this many seconds each, plus 60",
    )
    p.add_argument("--skip-baseline", action="store_true")
    return p.parse_args(argv)


def measure(kind: str, args, broker, n: int, base: int, logdir: Path) -> dict:
    """One server, N sessions: idle, then ``args.records`` records at 1 Hz."""
    topics = fresh_topics(broker, prefix="fanout")
    lo, hi = base, base + args.records - 1
    server, page_url, client_url = start_server(kind, args, topics, n, logdir)
    producer = pool = None
    try:
        producer = KafkaProducer(
            bootstrap_servers=topics.kafka.bootstrap_servers, acks=1, linger_ms=0
        )
        for _ in range(6):  # warm up imports and first sessions (each worker of --num-procs)
            urllib.request.urlopen(page_url, timeout=30).read()
        time.sleep(3)  # the warm-up sessions expire (lifetime 1 s)
        quiet0 = args.quiet / 2
        rss0, cpu0 = server.rss_mb(), server.cpu_s()
        time.sleep(quiet0)
        idle0 = (server.cpu_s() - cpu0) / quiet0 * 60
        opening = time.monotonic()
        client = "ws" if kind == "baseline" else f"bokeh-{args.read}"
        imports = [m for m in args.client_imports.split(",") if m]
        budget = args.open_s_per_session * n + 60
        pool = ClientPool(client, client_url, n, min(args.clients, n), lo, hi, budget, imports)
        opened, errors = pool.ready()
        open_s = time.monotonic() - opening
        if errors:
            log.warning("%s: %d of %d sessions failed to open: %s", kind, n - opened, n, errors)
        time.sleep(3)
        rss_n, cpu_q = server.rss_mb(), server.cpu_s()
        time.sleep(args.quiet)
        idle_n = (server.cpu_s() - cpu_q) / args.quiet * 60
        sent: dict[int, float] = {}
        start, cpu_r = time.monotonic(), server.cpu_s()
        for i in range(args.records):
            time.sleep(max(0.0, start + i - time.monotonic()))
            record = IssRecord(lo + i, (i % 100) * 0.5 - 25, (i * 3.7) % 360 - 180, "sgp4")
            sent[record.timestamp] = time.time()
            producer.send(topics.topics.location, key=b"25544", value=record.to_json())
            producer.flush()
        time.sleep(max(0.0, start + args.records - time.monotonic()))
        busy = server.cpu_s() - cpu_r
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 20
        while pool.seen(hi) < opened and time.monotonic() < deadline:
            time.sleep(0.5)
        tables, cstats = pool.stop()
    finally:
        if producer is not None:
            producer.close()
        if pool is not None:
            pool.kill()
        server.stop()
    lat = [(t[ts] - at) * 1000 for t in tables for ts, at in sent.items() if ts in t]
    # Each record's slowest session: a tail from a few records is a pause, not the fan-out.
    worst = {
        ts: max(((t[ts] - at) * 1000 for t in tables if ts in t), default=None)
        for ts, at in sent.items()
    }
    per = 1000 / args.records / max(opened, 1)  # CPU-s over the records → ms/session/record
    return {
        "server": kind,
        "n": n,
        "opened": opened,
        "open_s": round(open_s, 1),
        "procs": server_procs(args, kind, n),
        "records": args.records,
        "samples": len(lat),
        "missed": opened * args.records - len(lat),
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
        "p99_ms": percentile(lat, 99),
        "max_ms": max(lat, default=float("nan")),
        "worst_ms_per_record": [round(w, 1) if w is not None else None for w in worst.values()],
        # Minus the server's own cost with no session (its Kafka poll loop): what sessions cost.
        "cpu_ms_per_session_record": (busy - idle0 / 60 * elapsed) * per,
        "gross_cpu_ms_per_session_record": busy * per,
        # Minus the cost of N quiet sessions as well: what a record adds to an open session.
        "record_cpu_ms_per_session_record": (busy - idle_n / 60 * elapsed) * per,
        "idle_cpu_s_per_min_no_sessions": idle0,
        "idle_cpu_s_per_session_min": (idle_n - idle0) / max(opened, 1),
        "client_ms_per_patch": cstats["apply_s"] * 1000 / max(cstats["patches"], 1),
        "rss_mb_no_sessions": rss0,
        "rss_mb_per_session": (rss_n - rss0) / max(opened, 1),
    }


COLUMNS = [
    ("p50_ms", "p50 ms", 1),
    ("p99_ms", "p99 ms", 1),
    ("cpu_ms_per_session_record", "CPU ms/session/record", 2),
    ("idle_cpu_s_per_session_min", "idle CPU s/session/min", 3),
    ("rss_mb_per_session", "RSS MB/session", 2),
]


def wide_table(results: list[dict]) -> str:
    head = ["N", "server", "procs", *(c[1] for c in COLUMNS), "missed", "open s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in results:
        cells = [
            r["n"],
            r["server"],
            r["procs"],
            *(f"{r[k]:,.{d}f}" for k, _, d in COLUMNS),
            r["missed"],
            r["open_s"],
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    text = "### Dashboard fan-out, protocol-level clients, 1 record/s\n\n" + "\n".join(lines) + "\n"
    print(text)
    return text


def rows(results: list[dict]) -> list[dict]:
    """The results as bench/common rows: isspanel beside the baseline, per N."""
    targets = {
        "p99_ms": "≤ 250 at N = 200",
        "cpu_ms_per_session_record": "≤ 1.5",
        "idle_cpu_s_per_session_min": "≤ 0.05",
        "rss_mb_per_session": "≤ 2",
    }
    units = {
        "p50_ms": "ms",
        "p99_ms": "ms",
        "cpu_ms_per_session_record": "ms",
        "idle_cpu_s_per_session_min": "s",
        "rss_mb_per_session": "MB",
    }
    base = {r["n"]: r for r in results if r["server"] == "baseline"}
    out = []
    for r in (r for r in results if r["server"] != "baseline"):
        for key, label, _ in COLUMNS:
            b = base.get(r["n"], {}).get(key)
            out.append(row(f"N = {r['n']}: {label}", r[key], units[key], targets.get(key, ""), b))
    return out


def run(argv: list[str] | None = None) -> list[dict]:
    args = options(argv)
    if threading.current_thread() is threading.main_thread():
        # A plain SIGTERM would skip the finally blocks that stop the servers and the broker.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ns = [int(n) for n in args.n.split(",") if n.strip()]
    results: list[dict] = []
    base = int(time.time()) - 100_000  # valid event times, unique across the whole run
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"isspanel-fanout-{os.getpid()}"
    logdir.mkdir(exist_ok=True)
    with private_broker() as (broker, _broker, _cold):
        for n in ns:
            for kind in ("isspanel", *(() if args.skip_baseline else ("baseline",))):
                log.info("fan-out: %s, %d sessions (logs in %s)", kind, n, logdir)
                results.append(measure(kind, args, broker, n, base, logdir))
                base += args.records
                log.info("%s", json.dumps(results[-1]))
    RESULTS.parent.mkdir(exist_ok=True)
    meta = {
        "pythonpath": args.pythonpath,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "app": args.app,
        "server_args": args.server_args,
        "cores": os.cpu_count(),
        "clients": args.clients,
        "read": args.read,
    }
    RESULTS.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    log.info("written to %s", RESULTS)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    found = run()
    wide_table(found)
    print_table("Dashboard fan-out (isspanel vs bare relay)", rows(found))
