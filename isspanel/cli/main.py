"""The `isspanel` command: produce, kafka, topics, dashboard, flink, up, tle, passes, config."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import threading
from pathlib import Path

from isspanel.cli.serve import serve_command
from isspanel.settings import RENAMED, Settings, SettingsError, settings_table

log = logging.getLogger("isspanel")


def setup_logging(verbose: bool = False) -> None:
    from isspanel import logs

    # kafka-python's connection errors go to DEBUG (shown with -v): we log outages ourselves.
    logs.setup(verbose)


def cmd_kafka(args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.broker.local import LocalBroker
    from isspanel.broker.topics import ensure_topics

    if settings.kafka.external:
        log.info(
            "ISS_KAFKA_BOOTSTRAP=%s: using that cluster, nothing to %s",
            settings.kafka.bootstrap,
            args.action,
        )
        if args.action == "start":
            ensure_topics(settings)
        return 0
    broker = LocalBroker(settings)
    if args.action == "start":
        broker.start()
        ensure_topics(settings)
    elif args.action == "stop":
        if not broker.stop():
            log.info("no local broker running")
    else:
        status = broker.status()
        print(json.dumps(status, indent=2))  # noqa: T201 - the command's output
        return 0 if status["answers"] else 1
    return 0


def cmd_topics(_args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.broker.topics import ensure_topics

    ensure_topics(settings)
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.broker.topics import ensure_topics
    from isspanel.produce.producer import IssProducer, stop_signals
    from isspanel.sources import make_source

    # First: a SIGTERM while the topics are checked (up to 5 s) used to kill us silently.
    stop = stop_signals().install()

    producer, tle = {}, {}
    if args.replay_file:
        producer["replay_file"] = Path(args.replay_file)
    if args.tle_url:
        tle["url"] = args.tle_url
    if args.api_url:
        producer["api_url"] = args.api_url
    settings = settings.replace(producer=producer, tle=tle)

    def check_topics() -> None:
        try:
            ensure_topics(settings)
        except Exception as exc:
            log.warning("could not check topics (%s); producing anyway", exc)

    # In a thread we do not wait for once stopped: kafka-python's bootstrap cannot be
    # interrupted, and a SIGTERM (`up` stopping us as its broker died) waited out the whole
    # check, ISS_KAFKA_CONNECT_TIMEOUT_S, before the producer ended.
    check = threading.Thread(target=check_topics, name="topics-check", daemon=True)
    check.start()
    while check.is_alive() and not stop.event.wait(0.05):
        pass
    if stop.is_set():
        log.info("stopped before producing anything")
        return 0
    source = make_source(settings, args.source)
    producer = IssProducer(settings, source, accelerated=args.accelerated, stop_event=stop.event)
    if args.accelerated:
        if source.name == "sgp4":
            count = args.count or 86_400
            stats = producer.publish_all(source.history(count, step_s=args.step))
        elif source.name == "replay":
            records = source.paced(0)
            if args.count:
                records = itertools.islice(records, args.count)
            stats = producer.publish_all(records)
        else:
            log.error("--accelerated works with --source sgp4 or replay")
            return 2
    elif source.name == "replay" and args.speed != 0:
        stats = producer.publish_all(source.paced(args.speed), progress_every=100)
    else:
        stats = producer.run(interval=args.interval, count=args.count)
    return 0 if producer.publisher.pending == 0 and stats.accepted else 1


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.cli.up import run_group

    cmd = serve_command(args.port or settings.dashboard.port, args.address)
    if args.allow_websocket_origin:
        cmd += ["--allow-websocket-origin", args.allow_websocket_origin]
    if args.num_procs:
        cmd += ["--num-procs", str(args.num_procs)]
    if args.show:
        cmd.append("--show")
    log.info("serving the dashboard: %s", " ".join(cmd))
    return run_group(cmd, "dashboard")


def cmd_flink(args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.cli.flink import flink_command  # PyFlink loads only for this command

    if args.jobmanager:
        settings = settings.replace(flink={"jobmanager": args.jobmanager})
    return flink_command(args, settings)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.cli.up import run_pipeline

    return run_pipeline(settings, args)


def cmd_tle(args: argparse.Namespace, settings: Settings) -> int:
    from isspanel.sources import tle

    if args.action == "refresh":
        outcome = tle.refresh(settings, args.url)
        (log.info if outcome.ok else log.error)("%s", outcome.message)
        return 0 if outcome.ok else 1
    try:
        current, path = tle.newest_tle(settings)
    except tle.TleError as exc:
        log.error("%s", exc)
        return 1
    print(f"{tle.describe(current)}, from {path}")  # noqa: T201 - the command's output
    print(f"{current.name}\n{current.line1}\n{current.line2}")  # noqa: T201
    return 0


def cmd_config(_args: argparse.Namespace, _settings: Settings) -> int:
    shown = None
    for group, name, default, help_text in settings_table():
        if group != shown and shown is not None:
            print()  # noqa: T201 - the command's output: a blank line between groups
        shown = group
        print(f"{group or '(top)':12} {name:32} {default or repr(''):40} {help_text}")  # noqa: T201
    print("\ndeprecated names, read for one more release:")  # noqa: T201
    for old, new in RENAMED.items():
        print(f"  {old:30} -> {new} (rename it)")  # noqa: T201
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isspanel", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kafka", help="start, stop or check the local KRaft broker")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("topics", help="create the pipeline's topics")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("produce", help="publish ISS positions to Kafka")
    p.add_argument("--source", choices=["auto", "open-notify", "sgp4", "replay"])
    p.add_argument(
        "--interval", type=float, help="seconds between fetches (ISS_PRODUCER_INTERVAL_S)"
    )
    p.add_argument("--count", type=int, help="stop after N records")
    p.add_argument(
        "--accelerated",
        action="store_true",
        help="publish history as fast as possible (sgp4: --count positions "
        "--step s apart ending now; replay: the whole file)",
    )
    p.add_argument("--step", type=int, default=1, help="seconds between accelerated positions")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay speed: 1 real time, N times faster, 0 as fast as possible",
    )
    p.add_argument("--replay-file", help="JSONL file for --source replay")
    p.add_argument("--tle-url", help="refresh the TLE from this URL when online")
    p.add_argument("--api-url", help="live API URL (ISS_PRODUCER_API_URL)")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("dashboard", help="serve the Panel dashboard (panel serve isspanel)")
    p.add_argument("--port", type=int)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--allow-websocket-origin")
    p.add_argument("--num-procs", type=int)
    p.add_argument("--show", action="store_true")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("flink", help="run, list or cancel the Flink SQL jobs")
    p.add_argument("action", choices=["run", "list", "cancel"])
    p.add_argument("jobs", nargs="*", help="job names (default: all); job ids for cancel")
    p.add_argument("--jobmanager", help="host:port of a remote JobManager")
    p.add_argument("--detach", action="store_true", help="return once submitted")
    p.set_defaults(func=cmd_flink)

    p = sub.add_parser("up", help="broker, producer, Flink jobs and dashboard, together")
    p.add_argument("--source", default=None)
    p.add_argument("--no-flink", action="store_true")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("tle", help="show the TLE in use, or refresh it (online)")
    p.add_argument("action", choices=["refresh", "show"])
    p.add_argument("--url", help="where to read the TLE (ISS_TLE_URL, else CelesTrak)")
    p.set_defaults(func=cmd_tle)

    from isspanel.cli.passes import add_parser as add_passes

    add_passes(sub)

    from isspanel.cli.sql_client import add_parser as add_sql_client

    add_sql_client(sub)

    p = sub.add_parser("config", help="list every ISS_* setting")
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        log.error("%s; fix or unset it (`isspanel config` lists every setting)", exc)
        return 2
    try:
        return args.func(args, settings)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
