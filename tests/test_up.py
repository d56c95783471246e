"""`isspanel up` (what `make up` runs): everything starts, works together and stops cleanly."""

import os
import signal
import subprocess
import sys
import urllib.request

import psutil

from isspanel.settings import PROJECT_ROOT
from tests.browser import server_env, wait_until
from tests.conftest import free_port, read_topic


def test_up_runs_producer_and_dashboard_and_stops_them_all(topic_factory, tmp_path):
    settings = topic_factory()
    port = free_port()
    env = {
        **server_env(settings),
        "ISS_SOURCE": "sgp4",
        "ISS_INTERVAL": "1",
        "ISS_HOME": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "isspanel", "up", "--no-flink", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/isspanel"
        wait_until(lambda: urllib.request.urlopen(url, timeout=2).status == 200, 90, url)
        # 100 seeded SGP4 positions, then the producer's own, a second apart.
        values = read_topic(settings, settings.topic, expected=103, timeout_s=60)
        assert len(values) >= 103
        assert {v["source"] for v in values} == {"sgp4"}
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "dashboard: http://localhost:" in out
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert (tmp_path / "logs" / "producer.log").exists()
    assert os.path.getsize(tmp_path / "logs" / "dashboard.log") > 0
