"""`isspanel sql-client`: Flink's own SQL client, with the project's tables already defined.

PyFlink ships Flink's distribution (bin/sql-client.sh, lib/, opt/flink-sql-client) but not
opt/flink-sql-gateway, which the client needs even in embedded mode: `make jars` resolves it
from Maven (pom.xml -> ISS_JARS_DIR/sql-client/), and the client is pointed at an opt folder
that holds PyFlink's jars and that one. It runs embedded: its own SQL gateway on localhost, each
query on a mini-cluster of its own (loopback, a free port) or on the JobManager of
ISS_FLINK_JOBMANAGER. The init file is flink/*.sql as `isspanel flink run` loads it, with the
ISS_* settings (SET and CREATE, no INSERT), under a consumer group of its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path

from isspanel.analytics.environment import connector_jar, flink_config, scratch_env
from isspanel.analytics.sql import load_sql, sql_files, statement_kind
from isspanel.settings import Settings

log = logging.getLogger("isspanel.sql_client")

GROUP_SUFFIX = "-sql-client"
_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\w.]+)", re.IGNORECASE)


def flink_home() -> Path:
    """PyFlink's Flink distribution (bin/, lib/, opt/, conf/)."""
    import pyflink  # the package only: no JVM starts

    return Path(pyflink.__file__).parent


def client_settings(settings: Settings) -> Settings:
    """The client's own consumer group and transactional ids: its queries never move the
    offsets `isspanel flink run` resumes from, and an INSERT typed here fences none of its
    sinks."""
    return settings.replace(flink={"group": settings.flink.group + GROUP_SUFFIX})


def reading_options(settings: Settings, bounded: bool) -> dict[str, str]:
    """How the client's tables read: from the earliest offset, committed rows only (the
    exactly-once sinks' rule), and with ``bounded`` only up to the offsets at the query's start."""
    options = {
        "scan.startup.mode": "earliest-offset",
        "properties.group.id": client_settings(settings).flink.group,
        "properties.isolation.level": "read_committed",
    }
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    return options


def init_statements(settings: Settings, bounded: bool = False) -> list[str]:
    """SET and CREATE of every flink/*.sql file (no INSERT), each table set to read as soon
    as it is made (the views on it are planned for what it reads: a batch view needs it
    bounded)."""
    client = client_settings(settings)
    options = ",\n  ".join(f"'{k}' = '{v}'" for k, v in reading_options(settings, bounded).items())
    statements = []
    for path in sql_files():
        for sql in load_sql(path.name, client):
            if statement_kind(sql) != "INSERT":
                statements.append(sql)
            if match := _TABLE.match(sql):
                statements.append(f"ALTER TABLE {match.group(1)} SET (\n  {options}\n)")
    return statements


def render_init(settings: Settings, bounded: bool = False) -> str:
    reads = "up to the end offsets at each query's start (batch mode)" if bounded else "on"
    head = (
        "-- Written by `isspanel sql-client` at each start: the SET and CREATE statements of\n"
        "-- flink/*.sql with the ISS_* settings, each table set to read committed rows from the\n"
        f"-- earliest offset {reads}.\n\n"
    )
    # Each statement without the blank lines its comments left (flink/*.sql has them).
    lines = [
        "\n".join(line for line in sql.splitlines() if line.strip())
        for sql in init_statements(settings, bounded)
    ]
    return head + "".join(f"{sql};\n\n" for sql in lines)


def gateway_jar(settings: Settings) -> Path:
    jars = sorted((settings.jars_dir / "sql-client").glob("flink-sql-gateway-*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no flink-sql-gateway jar in {settings.jars_dir / 'sql-client'}: run `make jars`"
        )
    return jars[-1]


def opt_dir(settings: Settings, home: Path) -> Path:
    """A folder of links: PyFlink's opt/ jars and the SQL gateway (FLINK_OPT_DIR)."""
    from pyflink.version import __version__ as pyflink_version

    gateway = gateway_jar(settings)
    version = gateway.stem.removeprefix("flink-sql-gateway-")
    if version != pyflink_version:
        log.warning(
            "%s is for Flink %s, PyFlink is %s: set <flink.version> in pom.xml to %s",
            gateway.name,
            version,
            pyflink_version,
            pyflink_version,
        )
    folder = settings.home / "flink" / "sql-client" / "opt"
    folder.mkdir(parents=True, exist_ok=True)
    for link in folder.iterdir():
        link.unlink()
    for jar in [*sorted((home / "opt").glob("*.jar")), gateway]:
        (folder / jar.name).symlink_to(jar)
    return folder


def client_config(settings: Settings, bounded: bool = False) -> dict[str, str]:
    """The session's -D options: flink run's cluster settings, loopback binds included."""
    config = flink_config(settings)
    del config["pipeline.jars"]  # given with -j, which also loads it into the session
    if not settings.flink.jobmanager:
        # A mini-cluster per query, on a free port: ISS_FLINK_REST_PORT is `flink run`'s.
        del config["rest.port"]
        config["execution.target"] = "local"
    config["sql-client.execution.result-mode"] = "tableau"  # plain rows, fine in any terminal
    if bounded:
        # Every table ends: a query gives its final rows, not a changelog. Set from the start,
        # so that the views are planned for batch too (a view made in streaming mode is not).
        config["execution.runtime-mode"] = "batch"
    return config


def client_command(
    settings: Settings, bounded: bool = False, extra: list[str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of `sql-client.sh embedded`, having written its init file."""
    home = flink_home()
    folder = settings.home / "flink" / "sql-client"
    folder.mkdir(parents=True, exist_ok=True)
    init = folder / "init.sql"
    init.write_text(render_init(settings, bounded))
    log_dir = settings.home / "flink" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(FLINK_OPT_DIR=str(opt_dir(settings, home)), FLINK_LOG_DIR=str(log_dir))
    # The client execs in this process: the scratch named by our pid is the client's, and its
    # mini-clusters' folders and jars go there, not into /tmp for good (scratch_dir).
    scratch = scratch_env(settings, env)
    config = client_config(settings, bounded)
    if not settings.flink.jobmanager:
        config["io.tmp.dirs"] = str(scratch)
    argv = ["bash", str(home / "bin" / "sql-client.sh"), "embedded"]
    for key, value in config.items():
        argv += ["-D", f"{key}={value}"]
    argv += ["-j", str(connector_jar(settings)), "-i", str(init)]
    argv += ["-hist", str(folder / "history"), *(extra or [])]
    return argv, env


def sql_client_command(args: argparse.Namespace, settings: Settings) -> int:
    """`isspanel sql-client`: this process becomes the SQL client (its exit code is ours)."""
    if args.jobmanager:
        settings = settings.replace(flink={"jobmanager": args.jobmanager})
    if args.print_init:
        print(render_init(settings, args.bounded), end="")  # noqa: T201 - the command's output
        return 0
    from isspanel.broker.topics import ensure_topics

    try:
        ensure_topics(settings)
    except Exception as exc:
        log.warning(
            "Kafka at %s does not answer (%s): queries fail until it does",
            settings.kafka.bootstrap_servers,
            exc,
        )
    extra = list(args.client_args or [])
    argv, env = client_command(settings, args.bounded, extra[1:] if extra[:1] == ["--"] else extra)
    where = settings.flink.jobmanager or "a local mini-cluster per query"
    log.info("Flink SQL client on %s; tables from flink/*.sql (QUIT; to leave)", where)
    log.debug("%s", " ".join(argv))
    logging.shutdown()
    os.execvpe(argv[0], argv, env)  # signals and the terminal go to the client itself


def add_parser(sub) -> None:
    """Add the `sql-client` command to the `isspanel` subcommands."""
    p = sub.add_parser("sql-client", help="Flink's SQL client with the tables of flink/*.sql")
    p.add_argument("--jobmanager", help="host:port of a JobManager (ISS_FLINK_JOBMANAGER)")
    p.add_argument(
        "--bounded", action="store_true", help="queries read what the topics hold, then end"
    )
    p.add_argument("--print-init", action="store_true", help="print the init SQL and exit")
    p.add_argument(
        "client_args",
        nargs=argparse.REMAINDER,
        help="after --: options of sql-client.sh, e.g. -- -f query.sql",
    )
    p.set_defaults(func=sql_client_command)
