"""The processes the fan-out bench starts: a server's process group, the client processes."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from bench.fanout_clients import client_main
from isspanel.settings import PROJECT_ROOT
from tests.browser import server_env, wait_until
from tests.conftest import free_port


class Server:
    """A server subprocess in its own process group: stop() ends the group (workers too)."""

    def __init__(self, cmd: list[str], env: dict, check_url: str, log_path: Path, cwd=None):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd or PROJECT_ROOT,
            start_new_session=True,
        )
        try:
            wait_until(lambda: self._answers(check_url), 90, f"the server at {check_url}")
        except BaseException:
            self.stop()
            raise

    def _answers(self, url: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{self.log_path.read_text(errors='replace')}")
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200

    def processes(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_s(self) -> float:
        total = 0.0
        for p in self.processes():
            with _gone_ok():
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss_mb(self) -> float:
        total = 0
        for p in self.processes():
            with _gone_ok():
                total += p.memory_info().rss
        return total / 2**20

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)  # forked workers outlive their parent
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()


class _gone_ok:
    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        return kind is not None and issubclass(kind, psutil.Error)


class ClientPool:
    """`procs` client processes sharing `count` sessions; every wait is bounded."""

    def __init__(
        self, kind: str, url: str, count: int, procs: int, lo: int, hi: int, open_s, imports=()
    ):
        self.open_s = open_s
        life_s = open_s + 600  # the parent's bounded waits come first; this is the backstop
        ctx = multiprocessing.get_context("spawn")
        shares = [count // procs + (i < count % procs) for i in range(procs)]
        self.conns, self.procs = [], []
        for share in filter(None, shares):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=client_main,
                daemon=True,
                args=(kind, url, share, lo, hi, theirs, life_s, open_s, list(imports)),
            )
            proc.start()
            self.conns.append(mine)
            self.procs.append(proc)

    def _recv(self, conn, deadline: float):
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            raise TimeoutError("a client process did not answer in time")
        return conn.recv()

    def ready(self) -> tuple[int, list[str]]:
        """Sessions opened (each process stops opening after ``open_s``) and some errors."""
        deadline = time.monotonic() + self.open_s + 90
        opened, errors = 0, []
        for conn in self.conns:
            _, n, errs = self._recv(conn, deadline)
            opened, errors = opened + n, errors + errs
        return opened, errors

    def seen(self, ts: int) -> int:
        deadline = time.monotonic() + 10
        for conn in self.conns:
            conn.send(("seen", ts))
        return sum(self._recv(conn, deadline) for conn in self.conns)

    def stop(self) -> tuple[list[dict[int, float]], dict[str, float]]:
        """Close all sessions; their arrivals ({ts: epoch s} each) and summed client stats."""
        deadline = time.monotonic() + 30
        for conn in self.conns:
            conn.send(("stop",))
        tables, stats = [], {}
        for conn in self.conns:
            _, mine, counts = self._recv(conn, deadline)
            tables += mine
            for key, value in counts.items():
                stats[key] = stats.get(key, 0) + value
        return tables, stats

    def kill(self) -> None:
        for proc in self.procs:
            proc.join(3)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def start_server(kind: str, args, topics, n: int, logdir: Path) -> tuple[Server, str, str]:
    """The server for ``kind``; returns it, the page URL and the client URL."""
    port = free_port()
    if kind == "baseline":
        cmd = [
            sys.executable,
            "-m",
            "bench.baseline_ws",
            str(port),
            topics.kafka.bootstrap_servers,
            topics.topics.location,
        ]
        url = f"http://127.0.0.1:{port}/"
        ws = f"ws://127.0.0.1:{port}/ws"
        return Server(cmd, os.environ.copy(), url, logdir / f"baseline-{n}.log"), url, ws
    procs = server_procs(args, kind, n)
    cmd = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        args.app,
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
        "--allow-websocket-origin",
        f"127.0.0.1:{port}",
        "--check-unused-sessions",
        "1000",
        "--unused-session-lifetime",
        "1000",
        *(["--num-procs", str(procs)] if procs > 1 else []),
        *shlex.split(args.server_args),
    ]
    url = f"http://127.0.0.1:{port}/{Path(args.app).stem}"
    env = server_env(topics)
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.pythonpath, env.get("PYTHONPATH")]))
    # `python -m` puts the working folder first on sys.path: run where PYTHONPATH points.
    cwd = args.pythonpath or None
    return Server(cmd, env, url, logdir / f"panel-{n}.log", cwd), url, url


def num_procs(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in pair.split(":")) for pair in text.split(",") if pair]


def server_procs(args, kind: str, n: int) -> int:
    if kind == "baseline":
        return 1
    return max((p for at, p in num_procs(args.num_procs) if n >= at), default=1)
