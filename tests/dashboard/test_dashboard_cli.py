"""`isspanel dashboard`: listens on loopback only, and SIGTERM to it stops every server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from isspanel import lifeline
from isspanel.settings import PROJECT_ROOT
from tests.browser import wait_until
from tests.conftest import free_port

ISSPANEL = Path(sys.executable).parent / "isspanel"
LOOPBACK = {"127.0.0.1", "::1"}


def listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket that ``processes`` listen on."""
    found = set()
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN:
                found.add((conn.laddr.ip, conn.laddr.port))
    return found


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants, but for lifeline watchdogs (isspanel.lifeline): they are
    no servers, and leave as soon as their starter does."""
    process = psutil.Process(pid)
    return [process, *(p for p in process.children(recursive=True) if not watchdog(p))]


def watchdog(process: psutil.Process) -> bool:
    try:
        return any(arg.endswith("isspanel/lifeline.py") for arg in process.cmdline())
    except psutil.Error:
        return False


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    result = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                result.append(p)
        except psutil.NoSuchProcess:
            pass
    return result


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def answers(url: str, proc: subprocess.Popen, log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"isspanel dashboard exited:\n{log.read_text(errors='replace')}")
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@pytest.fixture
def start_dashboard(tmp_path):
    """Start `isspanel dashboard`; whatever is left of its process tree is killed afterwards."""
    started: list[tuple[subprocess.Popen, list[psutil.Process]]] = []

    def start(*extra: str, workers: int = 1, ignore_sigint: bool = False):
        port = free_port()
        log = tmp_path / f"dashboard-{port}.log"
        env = {
            **os.environ,
            "ISS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens there
            "ISS_HOME": str(tmp_path),
        }
        with open(log, "wb") as out:
            proc = lifeline.popen(  # ends with the test run, even a killed one
                [str(ISSPANEL), "dashboard", "--port", str(port), *extra],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                # as `isspanel dashboard &` in a shell script: SIGINT ignored, and inherited
                preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                if ignore_sigint
                else None,
            )
        processes: list[psutil.Process] = []
        started.append((proc, processes))
        url = f"http://127.0.0.1:{port}/isspanel"
        wait_until(lambda: answers(url, proc, log), 90, url)
        # Panel's liveness endpoint (serve_command's --liveness), as compose's check uses it.
        assert answers(f"http://127.0.0.1:{port}/liveness", proc, log)
        # panel serve, then with --num-procs its workers: every one must answer for itself.
        wait_until(lambda: len(tree(proc.pid)) >= 1 + workers + (workers > 1), 30, "workers")
        wait_until(lambda: len(listening(tree(proc.pid))) >= 1, 30, "a listening socket")
        processes.extend(tree(proc.pid))
        return proc, port, processes, log

    yield start
    for proc, processes in started:
        for p in alive(processes):
            p.kill()
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


@pytest.mark.parametrize(
    ("signum", "workers", "ignore_sigint"),
    [
        (signal.SIGTERM, 1, False),
        (signal.SIGTERM, 2, False),
        (signal.SIGINT, 2, False),
        (signal.SIGINT, 2, True),
    ],
    ids=["sigterm", "sigterm-num-procs", "sigint-num-procs", "sigint-started-in-background"],
)
def test_it_listens_on_loopback_only_and_a_stop_signal_stops_it_and_its_workers(
    start_dashboard, signum, workers, ignore_sigint
):
    extra = ["--num-procs", str(workers)] if workers > 1 else []
    proc, port, processes, log = start_dashboard(
        *extra, workers=workers, ignore_sigint=ignore_sigint
    )
    children = processes[1:]
    assert len(children) == workers + (workers > 1), [p.cmdline() for p in processes]
    # It listens on loopback only, every process of it (one start for both checks: 3 CPU-s).
    sockets = listening(processes)
    assert port in {p for _ip, p in sockets}
    assert {ip for ip, _port in sockets} <= LOOPBACK, sockets

    proc.send_signal(signum)  # the isspanel process alone, as a service manager does
    proc.wait(60)
    wait_until(lambda: not accepts(port), 30, f"port {port} to close")
    wait_until(lambda: not alive(children), 30, "every server process to exit")
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text
    assert f"{signal.Signals(signum).name}: stopping the dashboard" in text
    assert "killing it" not in text, "it stopped on the signal, not on the SIGKILL fallback"


def test_panel_serve_with_a_bad_setting_stops_with_one_line():
    """`panel serve isspanel` run directly (not through `isspanel dashboard`, whose command
    line checks the settings first): a malformed value stops the server with one line naming
    the variable, not a traceback and a server that serves no data."""
    proc = lifeline.popen(  # ends with the test run, even a killed one
        [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(PROJECT_ROOT / "isspanel"),
            "--port",
            str(free_port()),
            "--address",
            "127.0.0.1",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "ISS_DASHBOARD_BUFFER_SIZE": "lots"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
        lifeline.untie(proc.pid)
    assert proc.returncode == 2, output
    assert "ISS_DASHBOARD_BUFFER_SIZE='lots' is not a valid int" in output
    assert "Traceback" not in output
