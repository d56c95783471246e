"""The client's side of PyFlink (isspanel.analytics.environment), without a JVM."""

from __future__ import annotations

import os
import subprocess
import sys

from isspanel.analytics.environment import flink_config, root_cause, scratch_dir
from isspanel.settings import Settings

TRACE = """\
org.apache.flink.runtime.rest.handler.RestHandlerException: Could not stop the job.
\tat org.apache.flink.runtime.rest.handler.job.savepoints.SavepointHandlers.lambda$0(X.java:1)
\tSuppressed: java.lang.IllegalStateException: a suppressed one
\t\tat org.example.Y.z(Y.java:2)
\tCaused by: java.lang.RuntimeException: inside the suppressed one
Caused by: java.util.concurrent.CompletionException: outer
\tat java.base/java.util.concurrent.CompletableFuture.encodeThrowable(CompletableFuture.java:3)
Caused by: org.apache.flink.runtime.checkpoint.CheckpointException: Not all required tasks are \
currently running.
\t... 12 more
"""


def test_the_root_cause_is_the_innermost_caused_by_of_the_trace_itself():
    """One function for py4j's errors and the REST API's stack traces; the causes of a
    suppressed exception (indented) are not the trace's own."""
    assert root_cause(TRACE) == (
        "org.apache.flink.runtime.checkpoint.CheckpointException: Not all required tasks are "
        "currently running."
    )
    assert root_cause(RuntimeError(TRACE)) == root_cause(TRACE)


def test_without_a_cause_the_first_line_else_what_it_is():
    assert root_cause("  HTTP 500\n\tat x.y(Z.java:1)\nmore") == "HTTP 500"
    assert root_cause(ValueError("x" * 400)) == "x" * 300
    assert root_cause(TimeoutError()) == "TimeoutError"
    assert root_cause("") == "unknown"


def test_the_local_mini_cluster_listens_on_its_bind_address_only(tmp_path):
    jars = tmp_path / "jars" / "flink"
    jars.mkdir(parents=True)
    (jars / "flink-sql-connector-kafka-4.0.1-2.0.jar").write_bytes(b"")
    settings = Settings().replace(jars_dir=tmp_path / "jars", flink={"bind_address": "127.0.0.1"})
    config = flink_config(settings)
    binds = ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host")
    assert {config[key] for key in binds} == {"127.0.0.1"}
    assert config["rest.address"] == config["jobmanager.rpc.address"] == "127.0.0.1"
    remote = flink_config(settings.replace(flink={"jobmanager": "jm:8081"}))
    assert (remote["execution.target"], remote["rest.address"], remote["rest.port"]) == (
        "remote",
        "jm",
        "8081",
    )
    assert not set(binds) & set(remote)


def test_a_scratch_folder_is_the_processs_own_and_those_of_ended_ones_go(tmp_path):
    settings = Settings().replace(home=tmp_path)
    root = tmp_path / "flink" / "tmp"
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (root / ended.stdout.strip()).mkdir(parents=True)
    (root / ended.stdout.strip() / "flink-rpc-akka.jar").write_bytes(b"20 MB")
    live = root / str(os.getppid())  # pytest's parent, or xdist's controller: running
    live.mkdir()
    mine = scratch_dir(settings)
    assert mine == root / str(os.getpid()) and mine.is_dir()
    assert sorted(p.name for p in root.iterdir()) == sorted([mine.name, live.name])
