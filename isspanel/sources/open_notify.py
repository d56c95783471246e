"""The live source: http://api.open-notify.org/iss-now.json over HTTP."""

from __future__ import annotations

import json
import logging
import time

import requests
import urllib3

from isspanel import __version__
from isspanel.record import InvalidRecord, IssRecord, from_open_notify
from isspanel.settings import Settings
from isspanel.sources import SourceError

log = logging.getLogger(__name__)

# Small reads: the deadline is checked between two, and each returns what has arrived.
CHUNK = 4096


def fetch_deadline(settings: Settings, interval: float) -> float:
    """ISS_PRODUCER_FETCH_DEADLINE_S, but at most half the interval: even with one more read gap,
    a fetch then ends before the next tick."""
    return min(settings.producer.fetch_deadline_s, 0.5 * interval)


class OpenNotifySource:
    name = "open-notify"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.deadline_s = fetch_deadline(settings, settings.producer.interval_s)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"isspanel/{__version__} (+ISS pipeline workbench)"
        self.session.headers["Accept"] = "application/json"
        self.session.headers["Accept-Encoding"] = "identity"  # the answer is under 200 bytes

    def fit_interval(self, interval: float) -> None:
        """The producer ticks every ``interval`` s (--interval may differ from
        ISS_PRODUCER_INTERVAL_S)."""
        self.deadline_s = fetch_deadline(self.settings, interval)

    def fetch(self) -> IssRecord:
        s = self.settings
        deadline = time.monotonic() + self.deadline_s
        # A read timeout bounds the gap between two bytes, not the request: the deadline
        # bounds the whole, checked between reads, so a fetch ends by deadline + one gap.
        timeout = (
            min(s.producer.connect_timeout_s, self.deadline_s),
            min(s.producer.read_timeout_s, self.deadline_s),
        )
        try:
            with self.session.get(s.producer.api_url, timeout=timeout, stream=True) as response:
                if response.status_code == 429:
                    retry = response.headers.get("Retry-After", "?")
                    raise SourceError(f"HTTP 429 rate limited (Retry-After: {retry})")
                if response.status_code >= 400:
                    raise SourceError(f"HTTP {response.status_code} {response.reason}")
                content = self._read(response, deadline)
        except (requests.Timeout, urllib3.exceptions.ReadTimeoutError) as exc:
            raise SourceError(f"timed out after {timeout[1]:g} s: {exc}") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise SourceError(f"request failed: {exc}") from None
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            kind = response.headers.get("Content-Type", "unknown type")
            raise InvalidRecord(f"answer is not valid JSON ({kind}): {exc}") from None
        except RecursionError:
            raise InvalidRecord("answer is JSON nested too deeply to parse") from None
        return from_open_notify(
            body, max_skew_s=s.producer.max_clock_skew_s, max_age_s=s.producer.max_age_s
        )

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        """The body, read in chunks: refused past the size cap, abandoned past the deadline."""
        limit = self.settings.producer.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise InvalidRecord(f"answer of {declared} bytes is over the {limit}-byte limit")
        body = bytearray()
        while True:
            if time.monotonic() > deadline:
                raise SourceError(
                    f"no complete answer within the {self.deadline_s:g} s deadline"
                    f" ({len(body)} bytes read)"
                )
            # read1: one socket read, so a dripping server returns a byte, not a blocked chunk.
            chunk = response.raw.read1(CHUNK)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise InvalidRecord(f"answer is over the {limit}-byte limit")

    def close(self) -> None:
        self.session.close()
