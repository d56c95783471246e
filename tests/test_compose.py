"""docker-compose.yml and the two Dockerfiles, checked without a Docker engine.

The compose file is read as YAML; the Dockerfiles are parsed just enough to check their
ARG defaults, FROM images and COPY sources. Where a Compose v2 client is installed,
`docker compose config -q` validates the file against the real Compose spec as well.
Variables (`${ISS_PUBLISH_ADDRESS:-127.0.0.1}`) are filled in as Compose does, from an
environment that sets none unless a test says otherwise.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from isspanel import lifeline, versions
from isspanel.settings import PROJECT_ROOT, Settings, variables
from tests.browser import wait_until
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROJECT_DOCKERFILE = ROOT / "Dockerfile"
FLINK_DOCKERFILE = ROOT / "flink" / "Dockerfile"

SERVICES = {
    "kafka",
    "topics",
    "jobmanager",
    "taskmanager",
    "flink-submit",
    "producer",
    "dashboard",
    "jupyter",
}
PROJECT_SERVICES = ["topics", "flink-submit", "producer", "dashboard", "jupyter"]
LONG_RUNNING = ["kafka", "jobmanager", "taskmanager", "dashboard", "jupyter"]
ONE_SHOT = ["topics", "flink-submit"]

# x-versions key -> the isspanel.versions name it must equal
VERSION_ARGS = {
    "PYTHON_VERSION": "PYTHON",
    "JAVA_VERSION": "JAVA",
    "SCALA_VERSION": "FLINK_SCALA",
    "FLINK_VERSION": "FLINK_VERSION",
    "FLINK_KAFKA_CONNECTOR": "FLINK_KAFKA_CONNECTOR",
}


# --------------------------------------------------------------------------- helpers


# Variables of the compose file itself (read by docker compose, not by isspanel.settings).
COMPOSE_VARIABLES = {"ISS_PUBLISH_ADDRESS", "ISS_DASHBOARD_ORIGINS", "ISS_JUPYTER_TOKEN"}
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)")


def interpolate(value: object, environ: dict[str, str]) -> object:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} and $$, through lists and mappings."""
    if isinstance(value, dict):
        return {k: interpolate(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environ) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        if match.group(2) == ":-" and not environ.get(name):
            return match.group(3)
        if match.group(2) == "-" and name not in environ:
            return match.group(3)
        return environ.get(name, "")

    return VARIABLE.sub(sub, value)


def load_compose(environ: dict[str, str] | None = None) -> dict:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), environ or {})


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def pom_properties() -> dict[str, str]:
    root = ET.parse(ROOT / "pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    return {el.tag.split("}")[1]: el.text for el in root.find("m:properties", ns)}


def settings_env_defaults() -> dict[str, object]:
    return {var.name: var.default for var in variables()}


def port_bindings(service: dict) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of a service's short-syntax `ports`."""
    result = []
    for entry in service.get("ports", []):
        assert isinstance(entry, str), "short syntax: HOST_IP:HOST_PORT:CONTAINER_PORT"
        host_ip, host_port, container_port = entry.split("/")[0].rsplit(":", 2)
        result.append((host_ip, int(host_port), int(container_port)))
    return result


def published_ports(service: dict) -> dict[int, int]:
    """{container port: host port} of a service's `ports` (the short syntax port_bindings
    reads: the file uses no other, and the loopback test needs the host address)."""
    return {container: host for _ip, host, container in port_bindings(service)}


def command_words(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(w) for w in command]


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def listeners(value: str) -> dict[str, str]:
    """'NAME://host:port,...' -> {NAME: 'host:port'}"""
    return dict(item.split("://", 1) for item in value.split(","))


@dataclasses.dataclass
class Dockerfile:
    path: Path
    instructions: list[tuple[str, str]]  # (INSTRUCTION, arguments), continuations joined

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        instructions: list[tuple[str, str]] = []
        pending = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or (line.startswith("#") and not pending):
                continue
            if line.startswith("#"):  # a comment inside a continued instruction
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            full = pending + line
            pending = ""
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
        assert not pending, f"{path}: dangling line continuation"
        return cls(path, instructions)

    def args(self) -> dict[str, str | None]:
        """Every ARG's default (a later ARG without default keeps the earlier one)."""
        result: dict[str, str | None] = {}
        for keyword, rest in self.instructions:
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                if default or name not in result:
                    result[name] = self.expand(default, result) if default else None
        return result

    @staticmethod
    def expand(text: str, values: dict[str, str | None]) -> str:
        def sub(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            value = values.get(name)
            assert value is not None, f"${name} has no default"
            return value

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, text.strip('"'))

    def base_image(self) -> str:
        froms = [rest for keyword, rest in self.instructions if keyword == "FROM"]
        assert len(froms) == 1, "one stage expected"
        return self.expand(froms[0].split()[0], self.args())

    def copy_sources(self) -> list[str]:
        sources = []
        for keyword, rest in self.instructions:
            if keyword not in {"COPY", "ADD"}:
                continue
            words = rest.split()
            if any(w.startswith("--from") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            sources += words[:-1]
        return sources

    def run_text(self) -> str:
        return "\n".join(rest for keyword, rest in self.instructions if keyword == "RUN")


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(Path(prefix).name, bare):
                return True
    return False


# --------------------------------------------------------------------------- services


def test_every_service_is_defined(services):
    assert set(services) == SERVICES


def test_published_ports(services, compose):
    assert published_ports(services["kafka"]) == {9092: 9092}
    assert published_ports(services["jobmanager"]) == {8081: 8081}
    port = Settings().dashboard.port
    assert published_ports(services["dashboard"]) == {port: port}
    assert published_ports(services["jupyter"]) == {8888: 8888}
    # nothing else claims a host port
    others = SERVICES - {"kafka", "jobmanager", "dashboard", "jupyter"}
    assert all(not published_ports(services[name]) for name in others)


def test_published_ports_are_on_loopback_by_default(services):
    bindings = {name: port_bindings(s) for name, s in services.items() if s.get("ports")}
    assert set(bindings) == {"kafka", "jobmanager", "dashboard", "jupyter"}
    for name, ports in bindings.items():
        assert [ip for ip, _, _ in ports] == ["127.0.0.1"] * len(ports), name


def test_one_variable_publishes_every_port_on_another_address():
    services = load_compose({"ISS_PUBLISH_ADDRESS": "0.0.0.0"})["services"]
    bindings = [b for s in services.values() for b in port_bindings(s)]
    assert {ip for ip, _, _ in bindings} == {"0.0.0.0"} and len(bindings) == 4


def test_compose_variables_are_documented_and_not_settings():
    text = COMPOSE_FILE.read_text()
    used = {m.group(1) or m.group(4) for m in VARIABLE.finditer(text) if m.group(0) != "$$"}
    assert used == COMPOSE_VARIABLES
    header = text.split("\nname:")[0]
    assert all(f"#   {name}" in header for name in used), "each one explained in the header"
    assert not used & set(settings_env_defaults()), "a compose variable shadowing a setting"


def test_dashboard_websocket_accepts_only_the_published_origins(services):
    port = Settings().dashboard.port
    dashboard = services["dashboard"]
    assert "--allow-websocket-origin" not in command_words(dashboard)
    origins = dashboard["environment"]["BOKEH_ALLOW_WS_ORIGIN"].split(",")
    assert sorted(origins) == [f"127.0.0.1:{port}", f"localhost:{port}"]
    opened = load_compose({"ISS_DASHBOARD_ORIGINS": f"myhost:{port}"})["services"]["dashboard"]
    assert opened["environment"]["BOKEH_ALLOW_WS_ORIGIN"] == f"myhost:{port}"
    assert not re.search(r"websocket-origin\W+\*", COMPOSE_FILE.read_text())


def test_jupyter_is_optional_and_asks_for_a_token(services):
    jupyter = services["jupyter"]
    assert jupyter["profiles"] == ["jupyter"]
    assert all(not s.get("profiles") for name, s in services.items() if name != "jupyter")
    assert not [w for w in command_words(jupyter) if re.search(r"token=$|password=$", w)]
    assert jupyter["environment"]["JUPYTER_TOKEN"] == ""  # empty: Jupyter makes its own
    given = load_compose({"ISS_JUPYTER_TOKEN": "s3cret"})["services"]["jupyter"]
    assert given["environment"]["JUPYTER_TOKEN"] == "s3cret"
    assert "./notebooks:/app/notebooks" in jupyter["volumes"]


def test_jupyter_command_prints_a_token_and_asks_for_it(services, tmp_path):
    """The service's own command line, on loopback and a free port: Jupyter makes a token."""
    jupyter = services["jupyter"]
    port = free_port()
    words = command_words(jupyter)
    words = [str(Path(sys.executable).parent / "jupyter"), *words[1:]]
    swap = {"--ip=0.0.0.0": "--ip=127.0.0.1", "--port=8888": f"--port={port}"}
    words = [swap.get(w, w) for w in words]
    words = [f"--ServerApp.root_dir={tmp_path}" if "root_dir" in w else w for w in words]
    if os.geteuid() == 0:  # the image runs it as user iss; CI runs tests as root
        words.append("--allow-root")
    env = {
        **os.environ,
        **jupyter["environment"],
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as out:
        # Tied to the test run: a killed run ends the server too.
        proc = lifeline.popen(words, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        found = wait_until(
            lambda: re.search(r"token=([0-9a-f]{48})\b", log.read_text()), 120, "the token"
        )
        token = found.group(1)
        base = f"http://127.0.0.1:{port}"
        # The token is logged a moment before the port accepts: under load that moment showed.
        status = wait_until(
            lambda: urllib.request.urlopen(f"{base}/api", timeout=10).status, 60, "the healthcheck"
        )
        assert status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/contents", timeout=10)
        assert refused.value.code == 403
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.terminate()
        proc.wait(30)
        lifeline.untie(proc.pid)
    assert (ROOT / "notebooks").is_dir()
    words = command_words(jupyter)
    assert words[:2] == ["jupyter", "lab"]
    assert "--port=8888" in words


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_healthchecks(services, name):
    check = services[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    for key in ("interval", "timeout", "retries"):
        assert key in check
    assert services[name]["restart"] == "unless-stopped"


def test_healthcheck_commands(services):
    kafka = healthcheck_text(services["kafka"])
    assert re.search(r"/opt/kafka/bin/kafka-(broker-api-versions|topics)\.sh", kafka)
    assert "localhost:9092" in kafka
    assert "http://localhost:8081/overview" in healthcheck_text(services["jobmanager"])
    assert "jobmanager:8081/taskmanagers" in healthcheck_text(services["taskmanager"])
    port = Settings().dashboard.port
    assert f"http://localhost:{port}/liveness" in healthcheck_text(services["dashboard"])
    assert "--liveness" in command_words(services["dashboard"])
    assert "http://localhost:8888/" in healthcheck_text(services["jupyter"])


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_services_do_not_restart(services, name):
    assert services[name]["restart"] == "no"
    assert "healthcheck" not in services[name]


def test_depends_on_conditions(services):
    def deps(name):
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert deps("topics") == {"kafka": "service_healthy"}
    assert deps("taskmanager") == {"jobmanager": "service_healthy"}
    assert deps("flink-submit") == {
        "kafka": "service_healthy",
        "topics": "service_completed_successfully",
        "jobmanager": "service_healthy",
        "taskmanager": "service_healthy",
    }
    for name in ("producer", "dashboard", "jupyter"):
        assert deps(name) == {
            "kafka": "service_healthy",
            "topics": "service_completed_successfully",
        }


def test_dependency_conditions_can_be_met(services):
    """service_healthy needs a healthcheck; service_completed_successfully a one-shot."""
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use the long depends_on syntax"
        for dep, spec in depends_on.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health"
            elif spec["condition"] == "service_completed_successfully":
                assert services[dep]["restart"] == "no"
            assert not services[dep].get("profiles"), f"{name} needs optional {dep}"


def test_commands(services):
    assert command_words(services["topics"]) == ["isspanel", "topics"]
    assert command_words(services["flink-submit"]) == [
        "isspanel",
        "flink",
        "run",
        "--jobmanager",
        "jobmanager:8081",
        "--detach",
    ]
    assert command_words(services["producer"]) == ["isspanel", "produce", "--source", "auto"]
    words = command_words(services["dashboard"])
    assert words[:3] == ["panel", "serve", "isspanel"]
    assert words[words.index("--address") + 1] == "0.0.0.0"
    assert words[words.index("--port") + 1] == str(Settings().dashboard.port)
    assert command_words(services["jobmanager"]) == ["jobmanager"]
    assert command_words(services["taskmanager"]) == ["taskmanager"]


def test_flink_cluster_configuration(services):
    for name in ("jobmanager", "taskmanager"):
        props = yaml.safe_load(services[name]["environment"]["FLINK_PROPERTIES"])
        assert props["jobmanager.rpc.address"] == "jobmanager"
        # iss-speed, iss-stats and iss-events run side by side at parallelism 1
        assert props["taskmanager.numberOfTaskSlots"] >= 3
    assert services["jobmanager"]["hostname"] == "jobmanager"


def test_flink_state_is_on_a_named_volume(compose, services):
    """Checkpoints and savepoints outlive the containers: the JobManager, the TaskManager and
    the submitter (which picks the snapshot to resume from) share one named volume."""
    from isspanel.analytics import savepoints

    assert "flink-state" in compose["volumes"]
    for name in ("jobmanager", "taskmanager", "flink-submit"):
        assert "flink-state:/flink-state" in services[name]["volumes"], name
    submit = services["flink-submit"]
    env = {k: v for k, v in submit["environment"].items() if k.startswith("ISS_")}
    settings = Settings.from_env(environ=env)
    assert settings.flink.jobmanager == "jobmanager:8081"
    # Without ISS_FLINK_STATE_DIR a remote cluster keeps checkpoints in its memory only.
    assert savepoints.state_root(settings) == Path("/flink-state")
    # The submitter runs as the Flink image's user (uid and gid 9999), who owns the mount
    # point (a new volume takes its owner), and its ISS_HOME is one that user may write.
    assert submit["user"] == "9999:9999"
    assert re.search(r"chown flink:flink /flink-state\b", FLINK_DOCKERFILE.read_text())
    assert settings.home.is_relative_to("/tmp") and submit["environment"]["HOME"] == "/tmp"


# --------------------------------------------------------------------------- kafka


def test_kafka_image_matches_pom_and_versions(services):
    image = services["kafka"]["image"]
    assert image == versions.KAFKA_IMAGE == f"apache/kafka:{versions.KAFKA_VERSION}"
    assert image.split(":")[1] == pom_properties()["kafka.version"]


def test_kafka_runs_kraft_with_an_internal_and_a_host_listener(services):
    env = {k: str(v) for k, v in services["kafka"]["environment"].items()}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    internal = env["KAFKA_INTER_BROKER_LISTENER_NAME"]

    assert set(bound) == set(protocols), "every listener needs a security protocol"
    assert controller in bound and controller not in advertised
    assert set(advertised) == set(bound) - {controller}
    assert advertised[internal] == "kafka:29092"
    host = next(name for name, addr in advertised.items() if addr == "localhost:9092")
    assert bound[host].endswith(":9092") and bound[internal].endswith(":29092")
    assert published_ports(services["kafka"])[9092] == 9092

    node = env["KAFKA_NODE_ID"]
    assert (
        env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node}@kafka:{bound[controller].split(':')[-1]}"
    )
    assert services["kafka"]["hostname"] == "kafka"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "a base64 UUID"


def test_kafka_single_node_settings(services):
    env = {k: str(v) for k, v in services["kafka"]["environment"].items()}
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
    ):
        assert env[key] == "1", key
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    data_dir = env["KAFKA_LOG_DIRS"]
    assert any(v.endswith(f":{data_dir}") for v in services["kafka"]["volumes"])


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_project_services_use_the_internal_listener(services, name):
    env = services[name]["environment"]
    kafka_env = services["kafka"]["environment"]
    internal = listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])[
        kafka_env["KAFKA_INTER_BROKER_LISTENER_NAME"]
    ]
    assert env["ISS_KAFKA_BOOTSTRAP"] == internal == "kafka:29092"
    assert env["ISS_FLINK_JOBMANAGER"] == "jobmanager:8081"


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_project_services_env_vars_are_settings(services, name):
    """Every ISS_* variable compose sets is a real setting; topic names are the defaults."""
    defaults = settings_env_defaults()
    env = services[name]["environment"]
    others = {
        "dashboard": {"BOKEH_ALLOW_WS_ORIGIN"},
        "jupyter": {"JUPYTER_TOKEN"},
        "flink-submit": {"HOME"},
    }
    for var in set(env) - others.get(name, set()):
        assert var in defaults, f"{var} is not read by isspanel.settings"
    settings = Settings()
    topics = {
        "ISS_TOPICS_LOCATION": settings.topics.location,
        "ISS_TOPICS_SPEED": settings.topics.speed,
        "ISS_TOPICS_STATS": settings.topics.stats,
        "ISS_TOPICS_EVENTS": settings.topics.events,
    }
    assert {var: env[var] for var in topics} == topics
    assert list(topics.values()) == ["iss-location", "iss-speed", "iss-stats", "iss-events"]


# --------------------------------------------------------------------------- versions & builds


def test_x_versions_match_versions_module(compose):
    expected = {key: getattr(versions, name) for key, name in VERSION_ARGS.items()}
    assert compose["x-versions"] == expected


def test_builds_get_the_versions_as_args(compose, services):
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) == set(PROJECT_SERVICES) | {"jobmanager", "taskmanager"}
    for name, service in built.items():
        build = service["build"]
        assert build["context"] == "."
        assert build["args"] == compose["x-versions"], name
        assert (ROOT / build["dockerfile"]).is_file()
    images = {s["image"] for s in built.values()}
    assert images == {"isspanel:local", "isspanel-flink:local"}


@pytest.mark.parametrize(
    ("path", "declared"),
    [
        (
            PROJECT_DOCKERFILE,
            {"PYTHON_VERSION", "JAVA_VERSION", "FLINK_VERSION", "FLINK_KAFKA_CONNECTOR"},
        ),
        (
            FLINK_DOCKERFILE,
            {"SCALA_VERSION", "JAVA_VERSION", "FLINK_VERSION", "FLINK_KAFKA_CONNECTOR"},
        ),
    ],
    ids=["project", "flink"],
)
def test_dockerfile_arg_defaults_equal_compose_args(compose, path, declared):
    """Each Dockerfile declares the versions it builds with (a lost ARG fails here, not
    silently), with the defaults compose passes."""
    args = Dockerfile.parse(path).args()
    assert set(args) & set(compose["x-versions"]) == declared
    for key in declared:
        assert args[key] == compose["x-versions"][key], f"{path.name}: ARG {key}"


def test_flink_dockerfile_versions():
    dockerfile = Dockerfile.parse(FLINK_DOCKERFILE)
    args = dockerfile.args()
    assert args["FLINK_VERSION"] == versions.FLINK_VERSION
    assert args["FLINK_KAFKA_CONNECTOR"] == versions.FLINK_KAFKA_CONNECTOR
    assert args["FLINK_KAFKA_CONNECTOR"] == pom_properties()["flink.kafka.connector.version"]
    assert args["FLINK_KAFKA_CONNECTOR"].endswith(f"-{versions.FLINK_MINOR}")
    assert dockerfile.base_image() == versions.FLINK_IMAGE == "flink:2.2.1-scala_2.12-java17"

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (flink_dep,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("apache-flink")]
    assert f">={versions.FLINK_VERSION}" in flink_dep.replace(" ", "")
    assert '"apache-flink==${FLINK_VERSION}"' in dockerfile.run_text()


def test_the_sql_gateway_jar_joins_pyflinks_own_version():
    """`isspanel sql-client` adds flink-sql-gateway to PyFlink's distribution: same release."""
    assert pom_properties()["flink.version"] == versions.FLINK_VERSION


def test_project_dockerfile_versions():
    dockerfile = Dockerfile.parse(PROJECT_DOCKERFILE)
    args = dockerfile.args()
    assert args["PYTHON_VERSION"] == versions.PYTHON
    assert dockerfile.base_image() == f"python:{versions.PYTHON}-slim-bookworm"
    assert args["JAVA_VERSION"] == versions.JAVA
    assert '"openjdk-${JAVA_VERSION}-jre-headless"' in dockerfile.run_text()
    assert args["FLINK_VERSION"] == versions.FLINK_VERSION
    assert 'pip install -e . "apache-flink==${FLINK_VERSION}"' in dockerfile.run_text()
    assert args["FLINK_KAFKA_CONNECTOR"] == versions.FLINK_KAFKA_CONNECTOR

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={versions.PYTHON},<3.12"


def test_project_image_is_laid_out_like_a_checkout():
    """PROJECT_ROOT is the folder above the package: the image keeps flink/ beside isspanel/
    and installs in place, so the analytics find flink/*.sql and panel serves isspanel/."""
    from isspanel.analytics.sql import SQL_DIR  # where the runner reads the SQL

    dockerfile = Dockerfile.parse(PROJECT_DOCKERFILE)
    (workdir,) = [rest for keyword, rest in dockerfile.instructions if keyword == "WORKDIR"]
    copies = [rest.split() for keyword, rest in dockerfile.instructions if keyword == "COPY"]
    targets = {words[-2].rstrip("/"): words[-1].rstrip("/") for words in copies}
    sql_dir = SQL_DIR.relative_to(PROJECT_ROOT).as_posix()
    assert targets[sql_dir] == sql_dir, "flink/ must sit at WORKDIR/flink"
    assert targets["isspanel"] == "isspanel"
    assert workdir == "/app"
    assert "pip install -e ." in dockerfile.run_text()
    assert list((ROOT / sql_dir).glob("*.sql")), "no Flink SQL to ship"


def test_project_image_puts_the_connector_where_settings_look(services):
    """ISS_JARS_DIR/flink/, as `make jars` lays it out, so flink-submit finds it."""
    dockerfile = Dockerfile.parse(PROJECT_DOCKERFILE)
    env_lines = " ".join(rest for keyword, rest in dockerfile.instructions if keyword == "ENV")
    assert "ISS_JARS_DIR=/opt/isspanel/jars" in env_lines
    assert "ISS_HOME=" in env_lines
    assert '-o "${ISS_JARS_DIR}/flink/${CONNECTOR_JAR}"' in dockerfile.run_text()
    assert "ISS_JARS_DIR" in settings_env_defaults()
    assert "ISS_HOME" in settings_env_defaults()


@pytest.mark.parametrize("path", [PROJECT_DOCKERFILE, FLINK_DOCKERFILE], ids=["project", "flink"])
def test_connector_url_is_maven_central(path):
    dockerfile = Dockerfile.parse(path)
    args = dockerfile.args()
    (url_template,) = re.findall(r'url="([^"]+)"', dockerfile.run_text())
    url = dockerfile.expand(url_template, args)
    version = versions.FLINK_KAFKA_CONNECTOR
    assert url == versions.connector_jar_url()
    assert url == (
        "https://repo.maven.apache.org/maven2/org/apache/flink/flink-sql-connector-kafka/"
        f"{version}/flink-sql-connector-kafka-{version}.jar"
    )
    parsed = urlparse(url)
    assert parsed.scheme == "https" and not parsed.query and "//" not in parsed.path
    # the download is verified against the checksum Maven Central publishes beside it
    assert '"${url}.sha1"' in dockerfile.run_text() and "sha1sum -c" in dockerfile.run_text()


@pytest.mark.parametrize("path", [PROJECT_DOCKERFILE, FLINK_DOCKERFILE], ids=["project", "flink"])
def test_copy_sources_exist_and_are_not_dockerignored(path):
    patterns = dockerignore_patterns()
    sources = Dockerfile.parse(path).copy_sources()
    assert sources
    for source in sources:
        matches = list(ROOT.glob(source.rstrip("/"))) if "*" in source else [ROOT / source]
        assert matches and all(m.exists() for m in matches), f"{path.name}: COPY {source}"
        assert not ignored(source.rstrip("/"), patterns), f"{source} is in .dockerignore"


def test_dockerignore_keeps_local_state_out():
    patterns = dockerignore_patterns()
    for path in (".venv", ".isspanel", ".git", "isspanel/__pycache__", "tests/__pycache__"):
        assert ignored(path, patterns), path
    for path in ("isspanel", "flink", "pyproject.toml", "README.md"):
        assert not ignored(path, patterns), path


# --------------------------------------------------------------------------- compose client


def compose_command() -> list[str] | None:
    """A Compose v2 client: the docker CLI plugin, or a standalone v2 docker-compose."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            out = subprocess.run(
                [*command, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.match(r"v?([2-9]|\d\d)\.", out.stdout.strip()):
            return command
    return None


def test_docker_compose_config_validates():
    command = compose_command()
    if command is None:
        pytest.skip("no Compose v2 client installed (docker compose / docker-compose)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--profile", "jupyter", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # stderr too: some wrappers of the Go binary lose its exit status, and a clean file
    # has no warnings either.
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr
