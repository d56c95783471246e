"""Shared bench helpers: a private broker, percentiles, the results table."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from isspanel.broker.local import LocalBroker
from isspanel.settings import Settings
from tests.conftest import broker_settings


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[Settings, LocalBroker, float]]:
    """A fresh broker in a temp folder; yields (settings, broker, cold start seconds)."""
    import time

    with tempfile.TemporaryDirectory(prefix="isspanel-bench-") as home:
        settings = broker_settings(Path(home))
        broker = LocalBroker(settings)
        started = time.monotonic()
        broker.start()
        cold = time.monotonic() - started
        try:
            yield settings, broker, cold
        finally:
            broker.stop()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def row(name: str, value: float, unit: str, target: str = "", baseline: float | None = None):
    return {"name": name, "value": value, "unit": unit, "target": target, "baseline": baseline}


def print_table(title: str, rows: list[dict]) -> str:
    lines = [
        f"### {title}",
        "",
        "| measure | isspanel | baseline | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        base = r.get("baseline")
        ratio = f"{r['value'] / base:.2f}×" if base else ""
        base_text = f"{base:,.1f} {r['unit']}" if base is not None else ""
        lines.append(
            f"| {r['name']} | {r['value']:,.1f} {r['unit']} | {base_text} | {ratio} "
            f"| {r.get('target', '')} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    return text
