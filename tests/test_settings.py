"""Settings by part: groups, derived variable names, the old names as deprecated aliases."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from isspanel import settings as settings_module
from isspanel.cli.main import main
from isspanel.settings import RENAMED, Settings, settings_table, variables

ROOT = Path(__file__).resolve().parent.parent

# Every ISS_* variable docs/settings.md listed before settings came in groups (#22): each must
# keep working, under its own name or as a deprecated alias.
DOCUMENTED_BEFORE_GROUPS = """
ISS_KAFKA_BOOTSTRAP ISS_KAFKA_HOST ISS_KAFKA_PORT ISS_KAFKA_CONTROLLER_PORT ISS_KAFKA_HEAP
ISS_HOME ISS_JARS_DIR ISS_JAVA ISS_TOPIC ISS_SPEED_TOPIC ISS_STATS_TOPIC ISS_EVENTS_TOPIC
ISS_TOPIC_PARTITIONS ISS_TOPIC_RETENTION_MS ISS_SOURCE ISS_API_URL ISS_INTERVAL
ISS_HTTP_CONNECT_TIMEOUT ISS_HTTP_READ_TIMEOUT ISS_HTTP_DEADLINE ISS_HTTP_MAX_BYTES
ISS_TLE_PATH ISS_TLE_URL ISS_TLE_MAX_AGE_DAYS ISS_STALE_LIMIT ISS_REPLAY_FILE
ISS_MAX_CLOCK_SKEW_S ISS_MAX_AGE_S ISS_DASHBOARD_PORT ISS_DASHBOARD_GROUP ISS_BUFFER_SIZE
ISS_MAX_MESSAGE_BYTES ISS_DASHBOARD_GC_FREEZE ISS_HISTORY_TIMEOUT_S ISS_HISTORY_MAX_RECORDS
ISS_HISTORY_SLACK_S ISS_FLINK_JOBMANAGER ISS_FLINK_GROUP ISS_WINDOW_MINUTES
ISS_FLINK_REST_PORT ISS_FLINK_BIND_ADDRESS ISS_FLINK_PARALLELISM ISS_FLINK_STATE_DIR
ISS_FLINK_CHECKPOINT_S ISS_MIN_SPEED_KMH ISS_MAX_SPEED_KMH
""".split()  # noqa: SIM905 - as the page listed them
# Variables added since, each for something new (none stands for an old name).
ADDED_SINCE_GROUPS = [
    "ISS_DASHBOARD_PAGE_BEAT_S",
    "ISS_DASHBOARD_PAGE_STALL_S",
    "ISS_PRODUCER_OUTAGE_AFTER_S",
    "ISS_KAFKA_CONNECT_TIMEOUT_S",
    "ISS_DASHBOARD_HEALTH_S",
]

BY_NAME = {var.name: var for var in variables()}


@pytest.fixture
def fresh_warnings(monkeypatch):
    """This test sees the deprecation lines the process already gave."""
    monkeypatch.setattr(settings_module, "_warned", set())


def a_value(var) -> str:
    """A valid value for ``var`` unlike its default."""
    default = var.default
    if isinstance(default, bool):
        return "0" if default else "1"
    if isinstance(default, int | float):
        return str(type(default)(default + 7))
    return "/tmp/elsewhere" if default is None or isinstance(default, Path) else "other"


def value_of(settings: Settings, var):
    return var.of(settings)


def test_each_variable_is_named_after_its_group_and_field():
    for var in variables():
        prefix = f"ISS_{var.group.upper()}_" if var.group else "ISS_"
        assert var.name == prefix + var.field.name.upper()
    assert BY_NAME["ISS_KAFKA_BOOTSTRAP"].field.name == "bootstrap"
    assert BY_NAME["ISS_PRODUCER_INTERVAL_S"].group == "producer"
    assert {g.name for g in dataclasses.fields(Settings)} >= {
        "kafka", "topics", "producer", "tle", "dashboard", "time_travel", "flink"
    }  # fmt: skip


def test_every_variable_new_and_old_is_unique():
    names = [var.name for var in variables()]
    assert len(names) == len(set(names))
    assert not set(RENAMED) & set(names), "an old name is also a current one"
    assert set(RENAMED.values()) <= set(names), "an old name points nowhere"
    assert len(set(RENAMED.values())) == len(RENAMED), "two old names for one variable"


def test_every_variable_documented_before_groups_still_works():
    current = set(BY_NAME)
    assert not [name for name in DOCUMENTED_BEFORE_GROUPS if name not in current | set(RENAMED)]
    assert set(ADDED_SINCE_GROUPS) <= current and not set(ADDED_SINCE_GROUPS) & set(RENAMED)
    assert len(BY_NAME) == len(DOCUMENTED_BEFORE_GROUPS) + len(ADDED_SINCE_GROUPS)


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_an_old_name_is_read_with_one_deprecation_line(old, new, fresh_warnings, caplog):
    var = BY_NAME[new]
    raw = a_value(var)
    with caplog.at_level("WARNING", logger="isspanel.settings"):
        first = Settings.from_env({old: raw})
        again = Settings.from_env({old: raw})
    assert (
        value_of(first, var) == value_of(again, var) == value_of(Settings.from_env({new: raw}), var)
    )
    assert value_of(first, var) != var.default
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert old in lines[0] and new in lines[0] and "deprecated" in lines[0]


def value_equal(a: Settings, b: Settings, var) -> bool:
    return value_of(a, var) == value_of(b, var)


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_the_new_name_wins_over_the_old_one_and_says_so(old, new, fresh_warnings, caplog):
    var = BY_NAME[new]
    with caplog.at_level("WARNING", logger="isspanel.settings"):
        both = Settings.from_env({old: "not even valid", new: a_value(var)})
    assert value_equal(both, Settings.from_env({new: a_value(var)}), var)
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"{old} is deprecated and ignored: {new} is set too and wins" in line


def test_unset_old_names_say_nothing(fresh_warnings, caplog):
    with caplog.at_level("WARNING", logger="isspanel.settings"):
        Settings.from_env({var.name: a_value(var) for var in variables()})
    assert not caplog.records


def test_a_malformed_value_names_the_variable_it_came_from():
    with pytest.raises(ValueError, match="ISS_INTERVAL='soon' is not a valid float"):
        Settings.from_env({"ISS_INTERVAL": "soon"})
    with pytest.raises(ValueError, match="ISS_PRODUCER_INTERVAL_S='soon' is not a valid float"):
        Settings.from_env({"ISS_PRODUCER_INTERVAL_S": "soon"})


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("ISS_PRODUCER_INTERVAL_S", "nan", "is not a valid float (expected a finite number)"),
        ("ISS_PRODUCER_FETCH_DEADLINE_S", "inf", "is not a valid float (expected a finite"),
        ("ISS_KAFKA_PORT", "9o92", "is not a valid int"),
        ("ISS_DASHBOARD_GC_FREEZE", "maybe", "is not a valid bool (expected 1/0"),
        ("ISS_KAFKA_PORT", "<b>" + "9" * 5000, "is not a valid int"),
    ],
)
def test_a_bad_value_stops_a_command_with_one_line_naming_it(variable, value, why, caplog):
    """Not a traceback: the command names the variable, shows (the start of) its value, says
    what it must be, and exits 2 before it starts anything."""
    caplog.set_level("ERROR")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(variable, value)
        assert main(["config"]) == 2
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"{variable}={value[:80]!r} {why}") and len(line) < 300


def test_replace_takes_a_mapping_per_group():
    base = Settings.from_env({})
    changed = base.replace(kafka={"port": 9999}, home=Path("/x"))
    assert changed.kafka.port == 9999 and changed.home == Path("/x")
    assert changed.kafka.host == base.kafka.host and changed.topics == base.topics
    assert changed.kafka.bootstrap_servers == f"{base.kafka.host}:9999"
    assert base.replace(kafka=changed.kafka) == changed.replace(home=base.home)
    with pytest.raises(TypeError):
        base.replace(kafka={"no_such_field": 1})
    with pytest.raises(TypeError):
        base.replace(topic="flat names are gone")


def test_an_override_is_never_read_from_the_environment():
    environ = {"ISS_KAFKA_PORT": "not a port", "ISS_KAFKA_HOST": "10.0.0.1"}
    got = Settings.from_env(environ, kafka={"port": 1234})
    assert (got.kafka.host, got.kafka.port) == ("10.0.0.1", 1234)


def test_config_prints_every_variable_by_group(capsys):
    assert main(["config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split(None, 2) for line in lines if re.match(r"\S+ +ISS_", line)]
    assert [(group, name) for group, name, _rest in rows] == [
        (group or "(top)", name) for group, name, _default, _help in settings_table()
    ]
    for (_group, _name, rest), (*_, default, help_text) in zip(rows, settings_table(), strict=True):
        assert rest.startswith(default or "''") and rest.endswith(help_text)
    for old, new in RENAMED.items():
        assert any(re.fullmatch(rf"\s*{old} +-> {new} .*", line) for line in lines), old


def test_the_settings_page_lists_every_variable_and_old_name():
    page = (ROOT / "docs" / "settings.md").read_text()
    for group, name, default, _help in settings_table():
        assert f"| {group or '(top)'} | `{name}` | `{default}` |" in page, name
    for old, new in RENAMED.items():
        assert f"| `{old}` | `{new}` |" in page, old


def test_a_subclass_reads_its_own_fields_too():
    """A new stream's topic is one more field of the topics group (tests/dashboard does so)."""

    @dataclasses.dataclass(frozen=True)
    class MoreTopics(settings_module.TopicSettings):
        crew: str = settings_module.env("iss-crew", "Who is aboard.")

    @dataclasses.dataclass(frozen=True)
    class MoreSettings(Settings):
        topics: MoreTopics = settings_module.group(MoreTopics)

    assert "ISS_TOPICS_CREW" in {var.name for var in variables(MoreSettings)}
    got = MoreSettings.from_env({"ISS_TOPICS_CREW": "c", "ISS_TOPIC": "loc"})
    assert (got.topics.crew, got.topics.location) == ("c", "loc")
    assert got.replace(topics={"crew": "d"}).topics.crew == "d"
