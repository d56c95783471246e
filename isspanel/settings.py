"""One typed settings object: frozen groups of fields, each read from ``ISS_<GROUP>_<FIELD>``."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def env(default: Any, help: str) -> Any:
    """A settings field; its environment variable is derived from its group and name."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = env(
        "", "Existing Kafka cluster (host:port,...). Empty: start and use the local broker."
    )
    host: str = env("127.0.0.1", "Address the local broker listens on.")
    port: int = env(9092, "Client port of the local broker.")
    controller_port: int = env(9093, "KRaft controller port of the local broker.")
    heap: str = env("384m", "JVM heap (-Xms/-Xmx) of the local broker.")
    connect_timeout_s: float = env(
        5.0,
        "How long a client waits for the cluster's first answer, s; past it the cluster is"
        " unreachable (a command says so, the producer holds its records and retries).",
    )

    @property
    def connect_timeout_ms(self) -> int:
        """``connect_timeout_s`` as kafka-python's ``bootstrap_timeout_ms``."""
        return int(self.connect_timeout_s * 1000)

    @property
    def bootstrap_servers(self) -> str:
        """The cluster clients talk to: the external one or the local broker."""
        return self.bootstrap or f"{self.host}:{self.port}"

    @property
    def external(self) -> bool:
        return bool(self.bootstrap)


@dataclass(frozen=True)
class TopicSettings:
    location: str = env("iss-location", "Topic of ISS position records.")
    speed: str = env("iss-speed", "Flink output: ground speed.")
    stats: str = env("iss-stats", "Flink output: window statistics.")
    events: str = env("iss-events", "Flink output: equator and antimeridian crossings.")
    partitions: int = env(1, "Partitions of each created topic.")
    retention_ms: int = env(7 * 24 * 3600 * 1000, "Retention of each created topic.")


@dataclass(frozen=True)
class ProducerSettings:
    source: str = env("auto", "auto, open-notify, sgp4 or replay.")
    api_url: str = env("http://api.open-notify.org/iss-now.json", "Live ISS position API.")
    interval_s: float = env(60.0, "Seconds between two fetches.")
    connect_timeout_s: float = env(3.05, "HTTP connect timeout of a fetch, s.")
    read_timeout_s: float = env(10.0, "HTTP read timeout of a fetch, s.")
    fetch_deadline_s: float = env(
        15.0, "Whole-fetch deadline, s (at most half the interval); a slower answer is dropped."
    )
    max_answer_bytes: int = env(
        64 * 1024, "Largest API answer read, bytes; a bigger one is refused."
    )
    stale_limit: int = env(
        3, "Repeated live answers in a row that make the feed 'frozen' (auto: SGP4 stands in)."
    )
    outage_after_s: float = env(
        10.0,
        "Records unacknowledged this long mean the broker is away, s: said once, then every"
        " minute until it is back.",
    )
    replay_file: Path | None = env(None, "JSONL file played by replay.")
    max_clock_skew_s: int = env(300, "How far in the future a timestamp may lie.")
    max_age_s: int = env(2 * 365 * 24 * 3600, "How old a timestamp may be before it is rejected.")


@dataclass(frozen=True)
class TleSettings:
    path: Path = env(
        Path(__file__).parent / "data" / "iss.tle",
        "ISS TLE used by sgp4, the readouts and passes; a newer one stored by"
        " `isspanel tle refresh` (ISS_HOME/tle) wins.",
    )
    url: str = env(
        "",
        "URL `isspanel tle refresh` reads (empty: CelesTrak's ISS TLE); if set, sgp4 refreshes at"
        " start.",
    )
    max_age_days: float = env(14.0, "A TLE older than this is shown (and logged) as a warning.")


@dataclass(frozen=True)
class DashboardSettings:
    port: int = env(5006, "Port of the Panel dashboard.")
    group: str = env("isspanel-dashboard", "Consumer group of the dashboard.")
    buffer_size: int = env(100, "Records kept and shown by the dashboard.")
    max_message_bytes: int = env(
        64 * 1024,
        "Largest Kafka message the dashboard (and time travel) parses; bigger ones are skipped"
        " and counted.",
    )
    gc_freeze: bool = env(
        True,
        "Freeze each built page out of Python's full garbage collections (a pause for every"
        " page at once); a closed page's leftovers are collected a few seconds after it closes"
        " (`1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`).",
    )
    health_s: float = env(
        2.0,
        "How often the dashboard checks its consumer's lag and looks for topics created since"
        ", s; the status shows new counts this often.",
    )
    page_beat_s: float = env(
        4.0,
        "A quiet page hears from the server this often, s (a ~100-byte heartbeat): so it tells a"
        " quiet link from a dead one.",
    )
    page_stall_s: float = env(
        9.0,
        "Silence after which a page shows its link as stalled and asks whether the server answers"
        ", s; over twice ISS_DASHBOARD_PAGE_BEAT_S, or a quiet page would show stalled.",
    )


@dataclass(frozen=True)
class TimeTravelSettings:
    timeout_s: float = env(
        10.0, "Longest a time-travel read (?at=) may take, s; what was read by then is shown."
    )
    max_records: int = env(
        20_000, "Most messages one time-travel read fetches from one topic: its reader's bound."
    )
    slack_s: int = env(
        300,
        "Flink stamps its rows with their write time: time travel reads this far past a moment"
        " for the Flink rows of that moment.",
    )


@dataclass(frozen=True)
class FlinkSettings:
    jobmanager: str = env("", "host:port of a Flink JobManager; empty: local mini-cluster.")
    group: str = env("isspanel-flink", "Consumer group of Flink jobs.")
    window_minutes: int = env(10, "Tumbling window of iss-stats.")
    rest_port: int = env(8081, "REST API and web UI port of the local Flink mini-cluster.")
    bind_address: str = env(
        "127.0.0.1",
        "Address the local mini-cluster's REST API (it accepts jobs) and blob server listen on;"
        " 0.0.0.0 opens them to the network.",
    )
    parallelism: int = env(1, "Default parallelism of Flink jobs.")
    state_dir: str = env(
        "",
        "Folder of the Flink jobs' checkpoints and savepoints, which a run resumes from; the"
        " JobManager and TaskManagers must write there. Empty: ISS_HOME/flink/state on the local"
        " mini-cluster, none with ISS_FLINK_JOBMANAGER.",
    )
    checkpoint_s: int = env(
        10,
        "Checkpoint interval of the Flink jobs, s: their rows reach read_committed readers"
        " (exactly once) with each checkpoint.",
    )
    min_speed_kmh: float = env(
        23_500.0, "Slowest believable ground speed: a leg of 30 s to 10 min below it is an anomaly."
    )
    max_speed_kmh: float = env(
        26_500.0, "Fastest believable ground speed: a leg of 30 s to 10 min above it is an anomaly."
    )


def group(kind: type) -> Any:
    """A group of settings: its fields read ``ISS_<GROUP>_<FIELD>``."""
    return field(default_factory=kind, metadata={"group": kind})


@dataclass(frozen=True)
class Settings:
    # Folders and programs every part shares: ISS_HOME, ISS_JARS_DIR, ISS_JAVA.
    home: Path = env(
        PROJECT_ROOT / ".isspanel", "State folder: jars, broker data and logs, pid files, TLEs."
    )
    jars_dir: Path = env(
        PROJECT_ROOT / ".isspanel" / "jars",
        "Jars resolved by `make jars`: the broker's, Flink's connector, the SQL gateway.",
    )
    java: str = env("java", "Java 17+ executable used for the broker and the SQL client.")
    kafka: KafkaSettings = group(KafkaSettings)
    topics: TopicSettings = group(TopicSettings)
    producer: ProducerSettings = group(ProducerSettings)
    tle: TleSettings = group(TleSettings)
    dashboard: DashboardSettings = group(DashboardSettings)
    time_travel: TimeTravelSettings = group(TimeTravelSettings)
    flink: FlinkSettings = group(FlinkSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (the process's by default), then ``overrides`` as in
        ``replace``: an overridden field's variable is not read."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in variables(cls):
            given = overrides.get(var.group, {}) if var.group else overrides
            if not isinstance(given, Mapping) or var.field.name in given:
                continue  # overridden: its variable may even be malformed
            read = _read(environ, var.name)
            if read is not None:
                values.setdefault(var.group, {})[var.field.name] = _coerce(var, *read)
        top = values.pop("", {})
        groups = {
            f.name: f.metadata["group"](**values.get(f.name, {}))
            for f in dataclasses.fields(cls)
            if "group" in f.metadata
        }
        return cls(**top, **groups).replace(**overrides)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``: a top-level field by name, a group by a mapping of the
        fields that change (``settings.replace(kafka={"port": 9094})``) or a whole group."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values = {}
        for name, change in changes.items():
            if name not in known:
                raise TypeError(f"Settings has no field or group {name!r}")
            if "group" in known[name].metadata and isinstance(change, Mapping):
                change = dataclasses.replace(getattr(self, name), **change)
            values[name] = change
        return dataclasses.replace(self, **values)


# The names before settings came in groups (#22): read for one more release, each with a
# deprecation line naming its new variable.
RENAMED: dict[str, str] = {
    "ISS_TOPIC": "ISS_TOPICS_LOCATION",
    "ISS_SPEED_TOPIC": "ISS_TOPICS_SPEED",
    "ISS_STATS_TOPIC": "ISS_TOPICS_STATS",
    "ISS_EVENTS_TOPIC": "ISS_TOPICS_EVENTS",
    "ISS_TOPIC_PARTITIONS": "ISS_TOPICS_PARTITIONS",
    "ISS_TOPIC_RETENTION_MS": "ISS_TOPICS_RETENTION_MS",
    "ISS_SOURCE": "ISS_PRODUCER_SOURCE",
    "ISS_API_URL": "ISS_PRODUCER_API_URL",
    "ISS_INTERVAL": "ISS_PRODUCER_INTERVAL_S",
    "ISS_HTTP_CONNECT_TIMEOUT": "ISS_PRODUCER_CONNECT_TIMEOUT_S",
    "ISS_HTTP_READ_TIMEOUT": "ISS_PRODUCER_READ_TIMEOUT_S",
    "ISS_HTTP_DEADLINE": "ISS_PRODUCER_FETCH_DEADLINE_S",
    "ISS_HTTP_MAX_BYTES": "ISS_PRODUCER_MAX_ANSWER_BYTES",
    "ISS_STALE_LIMIT": "ISS_PRODUCER_STALE_LIMIT",
    "ISS_REPLAY_FILE": "ISS_PRODUCER_REPLAY_FILE",
    "ISS_MAX_CLOCK_SKEW_S": "ISS_PRODUCER_MAX_CLOCK_SKEW_S",
    "ISS_MAX_AGE_S": "ISS_PRODUCER_MAX_AGE_S",
    "ISS_BUFFER_SIZE": "ISS_DASHBOARD_BUFFER_SIZE",
    "ISS_MAX_MESSAGE_BYTES": "ISS_DASHBOARD_MAX_MESSAGE_BYTES",
    "ISS_HISTORY_TIMEOUT_S": "ISS_TIME_TRAVEL_TIMEOUT_S",
    "ISS_HISTORY_MAX_RECORDS": "ISS_TIME_TRAVEL_MAX_RECORDS",
    "ISS_HISTORY_SLACK_S": "ISS_TIME_TRAVEL_SLACK_S",
    "ISS_WINDOW_MINUTES": "ISS_FLINK_WINDOW_MINUTES",
    "ISS_MIN_SPEED_KMH": "ISS_FLINK_MIN_SPEED_KMH",
    "ISS_MAX_SPEED_KMH": "ISS_FLINK_MAX_SPEED_KMH",
}
_OLD_NAME = {new: old for old, new in RENAMED.items()}
_warned: set[str] = set()  # old names already reported by this process


@dataclass(frozen=True)
class Variable:
    """One setting: its group ('' for a top-level one), its field and its variable."""

    group: str
    field: dataclasses.Field
    name: str

    @property
    def default(self) -> Any:
        return self.field.default

    @property
    def help(self) -> str:
        return self.field.metadata["help"]

    @property
    def old_name(self) -> str | None:
        return _OLD_NAME.get(self.name)

    def of(self, settings: Settings) -> Any:
        """This setting's value in ``settings``."""
        return getattr(getattr(settings, self.group) if self.group else settings, self.field.name)


def variables(kind: type[Settings] | None = None) -> Iterator[Variable]:
    """Every setting of ``kind`` (Settings, or a subclass with more) in the order of the table,
    its variable ``ISS_[GROUP_]FIELD``."""
    for top in dataclasses.fields(kind or Settings):
        members = top.metadata.get("group")
        if members is None:
            yield Variable("", top, f"ISS_{top.name.upper()}")
            continue
        for f in dataclasses.fields(members):
            yield Variable(top.name, f, f"ISS_{top.name}_{f.name}".upper())


def _read(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable, value) of ``name``, or of its old name with a deprecation line (once per
    process and name); None if neither is set."""
    old = _OLD_NAME.get(name)
    if old is None or old not in environ:
        return (name, environ[name]) if name in environ else None
    raw = environ.get(name)
    if old not in _warned:
        _warned.add(old)
        if raw is None:
            log.warning(
                "%s is deprecated: read as %s, its new name (the old one goes in the next release)",
                old,
                name,
            )
        else:
            log.warning("%s is deprecated and ignored: %s is set too and wins", old, name)
    return (old, environ[old]) if raw is None else (name, raw)


class SettingsError(ValueError):
    """An ``ISS_*`` variable whose value cannot be used; the message names it and says why."""


def _coerce(var: Variable, name: str, raw: str) -> Any:
    kind = type(var.default) if var.default is not None else Path
    try:
        if kind is bool:
            return _boolean(raw)
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):  # "nan", "inf": no interval or deadline means that
                raise ValueError("expected a finite number")
            return value
        if kind is int:
            return int(raw)
        if issubclass(kind, Path):
            return Path(raw) if raw else None
        return raw
    except ValueError as exc:
        why = f" ({exc})" if kind is bool or "finite" in str(exc) else ""
        raise SettingsError(f"{name}={raw[:80]!r} is not a valid {kind.__name__}{why}") from None


def _boolean(raw: str) -> bool:
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def settings_table() -> list[tuple[str, str, str, str]]:
    """(group, env var, default, help) rows, for docs/settings.md and `isspanel config`."""
    rows = []
    for var in variables():
        default = var.default
        if isinstance(default, Path):
            try:
                default = default.relative_to(PROJECT_ROOT)
            except ValueError:
                pass
        rows.append((var.group, var.name, str(default), var.help))
    return rows
