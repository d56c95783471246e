"""One typed settings object; every field reads its own ``ISS_*`` environment variable."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def env(name: str, default: Any, help: str) -> Any:
    """A settings field bound to the environment variable ``name``."""
    return field(default=default, metadata={"env": name, "help": help})


@dataclass(frozen=True)
class Settings:
    # Kafka
    kafka_bootstrap: str = env(
        "ISS_KAFKA_BOOTSTRAP",
        "",
        "Existing Kafka cluster (host:port,...). Empty: start and use the local broker.",
    )
    kafka_host: str = env("ISS_KAFKA_HOST", "127.0.0.1", "Address the local broker listens on.")
    kafka_port: int = env("ISS_KAFKA_PORT", 9092, "Client port of the local broker.")
    kafka_controller_port: int = env(
        "ISS_KAFKA_CONTROLLER_PORT", 9093, "KRaft controller port of the local broker."
    )
    kafka_heap: str = env("ISS_KAFKA_HEAP", "384m", "JVM heap (-Xms/-Xmx) of the local broker.")
    home: Path = env(
        "ISS_HOME",
        PROJECT_ROOT / ".isspanel",
        "State folder: jars, broker data and logs, pid files.",
    )
    jars_dir: Path = env(
        "ISS_JARS_DIR", PROJECT_ROOT / ".isspanel" / "jars", "Jars resolved by `make jars`."
    )
    java: str = env("ISS_JAVA", "java", "Java 17+ executable used for the broker.")

    # Topics
    topic: str = env("ISS_TOPIC", "iss-location", "Topic of ISS position records.")
    speed_topic: str = env("ISS_SPEED_TOPIC", "iss-speed", "Flink output: ground speed.")
    stats_topic: str = env("ISS_STATS_TOPIC", "iss-stats", "Flink output: window statistics.")
    events_topic: str = env(
        "ISS_EVENTS_TOPIC", "iss-events", "Flink output: equator and antimeridian crossings."
    )
    partitions: int = env("ISS_TOPIC_PARTITIONS", 1, "Partitions of each created topic.")
    retention_ms: int = env(
        "ISS_TOPIC_RETENTION_MS", 7 * 24 * 3600 * 1000, "Retention of each created topic."
    )

    # Producer
    source: str = env("ISS_SOURCE", "auto", "auto, open-notify, sgp4 or replay.")
    api_url: str = env(
        "ISS_API_URL", "http://api.open-notify.org/iss-now.json", "Live ISS position API."
    )
    interval: float = env("ISS_INTERVAL", 60.0, "Seconds between two fetches.")
    connect_timeout: float = env("ISS_HTTP_CONNECT_TIMEOUT", 3.05, "HTTP connect timeout, s.")
    read_timeout: float = env("ISS_HTTP_READ_TIMEOUT", 10.0, "HTTP read timeout, s.")
    http_deadline: float = env(
        "ISS_HTTP_DEADLINE",
        15.0,
        "Whole-fetch deadline, s (at most half the interval); a slower answer is dropped.",
    )
    http_max_bytes: int = env(
        "ISS_HTTP_MAX_BYTES", 64 * 1024, "Largest API answer read, bytes; a bigger one is refused."
    )
    tle_path: Path = env(
        "ISS_TLE_PATH",
        Path(__file__).parent / "data" / "iss.tle",
        "ISS TLE used by sgp4; a newer one stored by `isspanel tle refresh` (ISS_HOME/tle) wins.",
    )
    tle_url: str = env(
        "ISS_TLE_URL",
        "",
        "URL `isspanel tle refresh` reads (empty: CelesTrak's ISS TLE); if set, sgp4 refreshes at"
        " start.",
    )
    tle_max_age_days: float = env(
        "ISS_TLE_MAX_AGE_DAYS", 14.0, "A TLE older than this is shown (and logged) as a warning."
    )
    stale_limit: int = env(
        "ISS_STALE_LIMIT",
        3,
        "Repeated live answers in a row that make the feed 'frozen' (auto: SGP4 stands in).",
    )
    replay_file: Path | None = env("ISS_REPLAY_FILE", None, "JSONL file played by replay.")
    max_clock_skew_s: int = env(
        "ISS_MAX_CLOCK_SKEW_S", 300, "How far in the future a timestamp may lie."
    )
    max_age_s: int = env(
        "ISS_MAX_AGE_S", 2 * 365 * 24 * 3600, "How old a timestamp may be before it is rejected."
    )

    # Dashboard
    dashboard_port: int = env("ISS_DASHBOARD_PORT", 5006, "Port of the Panel dashboard.")
    dashboard_group: str = env(
        "ISS_DASHBOARD_GROUP", "isspanel-dashboard", "Consumer group of the dashboard."
    )
    buffer_size: int = env("ISS_BUFFER_SIZE", 100, "Records kept and shown by the dashboard.")
    max_message_bytes: int = env(
        "ISS_MAX_MESSAGE_BYTES",
        64 * 1024,
        "Largest Kafka message the dashboard parses; bigger ones are skipped and counted.",
    )
    gc_freeze: bool = env(
        "ISS_DASHBOARD_GC_FREEZE",
        True,
        "Freeze each built page out of Python's full garbage collections (a pause for every"
        " page at once); a closed page's leftovers are collected a few seconds after it closes.",
    )
    history_timeout_s: float = env(
        "ISS_HISTORY_TIMEOUT_S",
        10.0,
        "Longest a time-travel read (?at=) may take, s; what was read by then is shown, said so.",
    )
    history_max_records: int = env(
        "ISS_HISTORY_MAX_RECORDS",
        20_000,
        "Most messages one time-travel read fetches from one topic: the bound of its reader.",
    )
    history_slack_s: int = env(
        "ISS_HISTORY_SLACK_S",
        300,
        "Flink stamps its rows with their write time: time travel reads this far past a moment"
        " for the Flink rows of that moment.",
    )

    # Flink
    jobmanager: str = env(
        "ISS_FLINK_JOBMANAGER", "", "host:port of a Flink JobManager; empty: local mini-cluster."
    )
    flink_group: str = env("ISS_FLINK_GROUP", "isspanel-flink", "Consumer group of Flink jobs.")
    window_minutes: int = env("ISS_WINDOW_MINUTES", 10, "Tumbling window of iss-stats.")
    flink_rest_port: int = env(
        "ISS_FLINK_REST_PORT", 8081, "REST API and web UI port of the local Flink mini-cluster."
    )
    flink_bind_address: str = env(
        "ISS_FLINK_BIND_ADDRESS",
        "127.0.0.1",
        "Address the local mini-cluster's REST API (it accepts jobs) and blob server listen on;"
        " 0.0.0.0 opens them to the network.",
    )
    flink_parallelism: int = env("ISS_FLINK_PARALLELISM", 1, "Default parallelism of Flink jobs.")
    flink_state_dir: str = env(
        "ISS_FLINK_STATE_DIR",
        "",
        "Folder of the Flink jobs' checkpoints and savepoints, which a run resumes from; the"
        " JobManager and TaskManagers must write there. Empty: ISS_HOME/flink/state on the local"
        " mini-cluster, none with ISS_FLINK_JOBMANAGER.",
    )
    flink_checkpoint_s: int = env(
        "ISS_FLINK_CHECKPOINT_S",
        10,
        "Checkpoint interval of the Flink jobs, s: their rows reach read_committed readers"
        " (exactly once) with each checkpoint.",
    )
    min_speed_kmh: float = env(
        "ISS_MIN_SPEED_KMH",
        23_500.0,
        "Slowest believable ground speed: a leg of 30 s to 10 min below it is an anomaly.",
    )
    max_speed_kmh: float = env(
        "ISS_MAX_SPEED_KMH",
        26_500.0,
        "Fastest believable ground speed: a leg of 30 s to 10 min above it is an anomaly.",
    )

    @property
    def bootstrap(self) -> str:
        """The cluster clients talk to: the external one or the local broker."""
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

    @property
    def external_kafka(self) -> bool:
        return bool(self.kafka_bootstrap)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None and f.name not in overrides:
                values[f.name] = _coerce(f, raw)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(f: dataclasses.Field, raw: str) -> Any:
    kind = type(f.default) if f.default is not None else Path
    try:
        if kind is bool:
            return _boolean(raw)
        if kind in (int, float):
            return kind(raw)
        if issubclass(kind, Path):
            return Path(raw) if raw else None
        return raw
    except ValueError as exc:
        why = f" ({exc})" if kind is bool else ""
        name = f.metadata["env"]
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}{why}") from exc


def _boolean(raw: str) -> bool:
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def settings_table() -> list[tuple[str, str, str]]:
    """(env var, default, help) rows, for docs/settings.md and `isspanel config`."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default
        if isinstance(default, Path):
            try:
                default = default.relative_to(PROJECT_ROOT)
            except ValueError:
                pass
        rows.append((f.metadata["env"], str(default), f.metadata["help"]))
    return rows
