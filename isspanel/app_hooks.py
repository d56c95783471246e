"""Server lifecycle of the dashboard: one Kafka consumer per server process."""

import logging

from isspanel.dashboard import get_hub, stop_hub
from isspanel.dashboard.gc_freeze import page_closed
from isspanel.logs import quiet_kafka
from isspanel.settings import Settings, SettingsError

log = logging.getLogger("isspanel.dashboard")


def on_server_loaded(server_context):
    # kafka-python's connection ERRORs during a broker outage go to DEBUG; the status and
    # our own log line say what happened (isspanel.logs).
    quiet_kafka(handlers=logging.getLogger().handlers + logging.getLogger("isspanel").handlers)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        # Not a traceback and a server that serves nothing: one line, and the server stops.
        log.error("%s; fix or unset it (`isspanel config` lists every setting)", exc)
        raise SystemExit(2) from None
    hub = get_hub(settings)
    log.info(
        "isspanel dashboard ready: Kafka %s, keeping the latest %d positions",
        settings.kafka.bootstrap_servers,
        settings.dashboard.buffer_size,
    )
    return hub


def on_server_unloaded(server_context):
    stop_hub()


def on_session_destroyed(session_context):
    # Each page unsubscribes itself (SessionContext.on_close); what it leaves is collected.
    page_closed()


def _log_to_console() -> None:
    # `panel serve` configures only Bokeh's loggers; show ours the same way.
    logger = logging.getLogger("isspanel")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


_log_to_console()
