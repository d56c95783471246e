"""Logging for the commands and the dashboard: one format, and kafka-python's outage noise
demoted to DEBUG, because we log each outage ourselves (what happened, what we do about it);
so are the tracebacks of writes to a browser's WebSocket that closed first."""

from __future__ import annotations

import logging

from kafka.errors import (
    Cancelled,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)
from tornado.websocket import WebSocketClosedError

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# What kafka-python 3.0.12 logs at WARNING/ERROR while a broker is away: per attempt, several
# lines from net.transport, net.connection, net.manager and cluster, each naming one of these.
# tests/test_library_contracts.py fails when a text below is no longer kafka-python's, or when
# an outage makes it log something this filter lets through.
CONNECTION_ERRORS = (
    KafkaConnectionError,  # socket disconnected, ECONNREFUSED
    NodeNotReadyError,
    KafkaTimeoutError,  # bootstrap, metadata wait, batch expiry (the batch comes back to us)
    RequestTimedOutError,  # a peer that accepts and never answers: the connection is dropped
    # A request in flight when its connection closed ("Metadata refresh: failed Cancelled",
    # kafka.cluster, at ERROR): seen when the broker stopped mid-request (fresh-3, 2026-12-06).
    Cancelled,
    ConnectionError,  # BrokenPipe, ConnectionReset (logged with a traceback)
    TimeoutError,
)
# A retried produce request names its error by class name; these mean the broker is away or
# has just come back (the partition has no leader yet).
BROKER_AWAY = {c.__name__ for c in CONNECTION_ERRORS} | {
    "NotLeaderForPartitionError",
    "LeaderNotAvailableError",
}
# ...and these, which name no exception: (logger, message template or its start).
CONNECTION_MESSAGES = (
    ("kafka.net.transport", "%s: socket disconnected"),
    ("kafka.net.connection", "%s: Request timed out after"),
    ("kafka.net.manager", "Bootstrap %s not ready"),
    ("kafka.net.manager", "Bootstrap attempt to "),  # an f-string: the error is in the text
    ("kafka.cluster", "No node available for metadata refresh"),
)

# kafka-python 3's I/O loop warns when one of its steps took over 0.1 s ("Task … ran for 0.557s
# (>0.100s threshold). It is blocking the event loop -- likely a tight sync loop inside a
# coroutine"): on a busy machine, or while another thread holds the GIL (a page being built),
# every client says so, and it reads as a bug in the caller. Noise too; the dashboard tells a
# stuck consumer in its own words (a stalled poll loop). Seen in a full test run at load ~40.
SLOW_STEP = "threshold). It is blocking the event loop"


class KafkaConnectionNoise(logging.Filter):
    """Rewrites kafka-python's WARNING/ERROR records about lost or refused connections (and
    its slow-step warning) to DEBUG; shown only when ``verbose`` (``-v``). Anything else from
    kafka-python passes."""

    def __init__(self, verbose: bool = False):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        # A record goes through every handler's filter in turn: the first one demotes it, so
        # the mark (not its level, which is DEBUG by then) tells the others it is noise too.
        if getattr(record, "isspanel_noise", False) or (
            record.levelno in (logging.WARNING, logging.ERROR) and _about_connections(record)
        ):
            record.isspanel_noise = True
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.verbose
        return True


def _about_connections(record: logging.LogRecord) -> bool:
    if record.name == "asyncio" and record.exc_info:
        # "Task exception was never retrieved": Panel writes a session's messages as futures
        # it awaits on a later tick; a page that closed first leaves them unawaited, and
        # asyncio logs each with a traceback when it is collected. The page is gone.
        return isinstance(record.exc_info[1], WebSocketClosedError)
    if not (record.name == "kafka" or record.name.startswith("kafka.")):
        return False
    if isinstance(record.msg, CONNECTION_ERRORS):  # log.warning(exception)
        return True
    args = record.args if isinstance(record.args, tuple) else ()
    if any(
        isinstance(a, CONNECTION_ERRORS) or (isinstance(a, str) and a in BROKER_AWAY) for a in args
    ):
        return True
    if record.exc_info and isinstance(record.exc_info[1], CONNECTION_ERRORS):
        return True
    msg = record.msg if isinstance(record.msg, str) else ""
    if record.name == "kafka.net.transport" and msg.startswith("%s: Error receiving network"):
        # kafka-python 3.0.12 reads a socket that a close on another thread has just taken
        # away (AttributeError, with a traceback): noise if the transport says it is closed.
        return bool(args) and str(args[0]).endswith("(closed)>")
    if record.name == "kafka.net.selector" and SLOW_STEP in msg:
        return True
    if record.name == "kafka.net.selector" and msg.startswith("Unhandled exception in task"):
        # The same race at the selector (a consumer closed while its I/O thread waits to read,
        # fresh-9, 2026-12-07): the closed socket's fd is -1 when the read is registered.
        error = record.exc_info[1] if record.exc_info else None
        return isinstance(error, ValueError) and "Invalid file descriptor: -1" in str(error)
    return any(record.name == name and msg.startswith(m) for name, m in CONNECTION_MESSAGES)


def quiet_kafka(verbose: bool = False, handlers: list[logging.Handler] | None = None) -> None:
    """Put the filter on ``handlers`` (default: the root logger's), once each.

    A handler filter, because a filter on the ``kafka`` logger would not see records of its
    children (``kafka.net.connection``...). Call it after the handlers are set up.
    """
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        mine = [f for f in handler.filters if isinstance(f, KafkaConnectionNoise)]
        if mine:
            mine[0].verbose = verbose
        else:
            handler.addFilter(KafkaConnectionNoise(verbose))


def setup(verbose: bool = False) -> None:
    """Logging for an `isspanel` command: INFO (DEBUG with -v) to stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    # kafka-python is chatty at INFO (every connect); its other warnings still show.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    quiet_kafka(verbose)
