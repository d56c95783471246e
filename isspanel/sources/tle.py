"""The TLE SGP4 works from: which one is in use, how old it is, and `isspanel tle refresh`.

Two places may hold one: ISS_TLE_PATH (the bundled file by default, inside the package) and
ISS_HOME/tle/iss.tle, where a refresh stores a newer one. Loaders take the newer of the two,
so a refresh never writes into the installed package.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from isspanel.geo.orbit import Tle, load_tle, parse_tle
from isspanel.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_URL = "https://celestrak.org/NORAD/elements/gp.php?CATNR=25544&FORMAT=TLE"
ISS_NORAD = 25544
MAX_BYTES = 256 * 1024  # CelesTrak's whole stations file is ~20 KB


class TleError(ValueError):
    """A TLE that must not be used; the message says why in one line."""


def stored_path(settings: Settings) -> Path:
    return Path(settings.home) / "tle" / "iss.tle"


def epoch_text(tle: Tle) -> str:
    return tle.epoch.strftime("%Y-%m-%dT%H:%M:%SZ")


def age_days(tle: Tle, now: float | None = None) -> float:
    now = time.time() if now is None else now
    return (now - tle.epoch.timestamp()) / 86400


def newest_tle(settings: Settings) -> tuple[Tle, Path]:
    """The newer of ISS_TLE_PATH and the refreshed copy under ISS_HOME, with its path."""
    found: list[tuple[Tle, Path]] = []
    errors = []
    for path in (Path(settings.tle.path), stored_path(settings)):
        if not path.exists():
            errors.append(f"{path} does not exist")
            continue
        try:
            found.append((load_tle(path), path))
        except (OSError, ValueError) as exc:
            log.warning("TLE %s skipped: %s", path, exc)
            errors.append(f"{path}: {exc}")
    if not found:
        raise TleError("no usable TLE: " + "; ".join(errors))
    return max(found, key=lambda pair: pair[0].epoch)


def current_tle(settings: Settings) -> Tle:
    return newest_tle(settings)[0]


def checksum_ok(line: str) -> bool:
    """The modulo-10 checksum in column 69: digits count as themselves, '-' as 1."""
    total = sum(int(c) if c.isdigit() else c == "-" for c in line[:68])
    return line[68].isdigit() and total % 10 == int(line[68])


def validate(text: str, now: float | None = None, max_skew_s: float = 300) -> Tle:
    """The ISS element set in ``text`` (one or many satellites), checked, or TleError."""
    now = time.time() if now is None else now
    if text.lstrip().startswith("<"):
        raise TleError("the answer is HTML, not a TLE")
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    pairs = [
        (lines[i - 1] if i and lines[i - 1][:2] not in ("1 ", "2 ") else "ISS (ZARYA)", a, b)
        for i, (a, b) in enumerate(itertools.pairwise(lines))
        if a.startswith("1 ") and b.startswith("2 ")
    ]
    if not pairs:
        raise TleError("no two-line element set in the answer")
    norads = [a[2:7].strip() for _, a, _ in pairs]
    iss = [p for p, n in zip(pairs, norads, strict=True) if n == str(ISS_NORAD)]
    if not iss:
        raise TleError(f"no ISS element set (NORAD {ISS_NORAD}); found {', '.join(norads[:5])}")
    name, line1, line2 = iss[0]
    for number, line in ((1, line1), (2, line2)):
        if len(line) != 69:
            raise TleError(f"line {number} has {len(line)} characters, not 69")
        if not checksum_ok(line):
            raise TleError(f"line {number} fails its checksum")
    if line2[2:7].strip() != str(ISS_NORAD):
        raise TleError(f"line 2 is of NORAD {line2[2:7].strip()}, not {ISS_NORAD}")
    try:
        tle = parse_tle(f"{name.strip()}\n{line1}\n{line2}")
    except ValueError as exc:
        raise TleError(str(exc)) from None
    if tle.epoch.timestamp() > now + max_skew_s:
        raise TleError(f"its epoch {epoch_text(tle)} lies in the future")
    return tle


class Unreachable(OSError):
    """The URL could not be read (offline, DNS, refused, timed out)."""


def download(url: str, settings: Settings) -> str:
    """The body at ``url``, bounded in time and size."""
    deadline = time.monotonic() + settings.producer.fetch_deadline_s
    timeout = (settings.producer.connect_timeout_s, settings.producer.read_timeout_s)
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            if response.status_code >= 400:
                raise TleError(f"HTTP {response.status_code} {response.reason}")
            body = bytearray()
            for chunk in response.iter_content(4096):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise TleError(f"the answer is over {MAX_BYTES:,} bytes")
                if time.monotonic() > deadline:
                    raise Unreachable(
                        f"no complete answer within {settings.producer.fetch_deadline_s:g} s"
                    )
    except requests.RequestException as exc:
        raise Unreachable(_why(exc)) from None
    return body.decode("utf-8", errors="replace")


def _why(exc: requests.RequestException) -> str:
    """The cause in a few words, not urllib3's nested repr ("[Errno 111] Connection refused")."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    errno = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(exc))
    return errno.group(0).strip() if errno else f"{type(exc).__name__}: {str(exc)[:120]}"


def store(tle: Tle, path: Path) -> None:
    """Written aside, fsync'd, renamed over: a reader sees the old TLE or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{tle.name}\n{tle.line1}\n{tle.line2}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str  # one line
    tle: Tle | None = None  # the TLE in use afterwards


def _in_use(tle: Tle | None) -> str:
    if tle is None:
        return "no TLE is in use"
    return f"keeping the TLE of {epoch_text(tle)} ({age_days(tle):.0f} days old)"


def refresh(settings: Settings, url: str | None = None) -> Outcome:
    """Download, validate and store a newer ISS TLE; the old one stays on any failure."""
    url = url or settings.tle.url or DEFAULT_URL
    try:
        current = current_tle(settings)
    except TleError:
        current = None
    try:
        tle = validate(download(url, settings), max_skew_s=settings.producer.max_clock_skew_s)
    except Unreachable as exc:
        return Outcome(False, f"offline: {url} cannot be read ({exc}); {_in_use(current)}", current)
    except TleError as exc:
        return Outcome(False, f"refused the TLE from {url}: {exc}; {_in_use(current)}", current)
    if current is not None and tle.epoch <= current.epoch:
        if tle.epoch == current.epoch:
            return Outcome(True, f"{url} has the TLE in use ({epoch_text(tle)})", current)
        return Outcome(
            False,
            f"refused the TLE from {url}: its epoch {epoch_text(tle)} is older than the one in"
            f" use; {_in_use(current)}",
            current,
        )
    path = stored_path(settings)
    store(tle, path)
    was = f"; it replaces the one of {epoch_text(current)}" if current is not None else ""
    return Outcome(
        True,
        f"stored the TLE of {epoch_text(tle)} ({age_days(tle):.1f} days old) in {path}{was}",
        tle,
    )


def describe(tle: Tle, now: float | None = None) -> str:
    return f"TLE epoch {epoch_text(tle)} ({age_days(tle, now):.0f} days old)"
