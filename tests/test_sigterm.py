"""A test run stopped with SIGTERM tears its fixtures down (tests/conftest.py), so nothing it
started, such as the session's Kafka broker, outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isspanel import lifeline

PROBE = "ISS_TEST_SIGTERM_PROBE"  # set only for the inner run below


@pytest.fixture(scope="session")
def marks_its_teardown():
    path = Path(os.environ[PROBE])
    path.write_text("up")
    try:
        yield
    finally:
        path.write_text("torn down")


@pytest.mark.skipif(PROBE not in os.environ, reason="the inner run of the test below")
def test_probe_waits(marks_its_teardown):
    time.sleep(120)


def test_a_sigterm_tears_the_session_fixtures_down(tmp_path):
    mark = tmp_path / "mark"
    run = lifeline.popen(  # tied: a killed outer run ends the inner one too
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_probe_waits",
        ],
        env={**os.environ, PROBE: str(mark)},
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert mark.exists(), run.communicate(timeout=10)[0].decode()
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=30)[0].decode()
    finally:
        run.kill()
    assert mark.read_text() == "torn down", output
    assert run.returncode != 0  # interrupted, not passed
