"""The live source: http://api.open-notify.org/iss-now.json over HTTP."""

from __future__ import annotations

import json
import logging

import requests

from isspanel import __version__
from isspanel.record import InvalidRecord, IssRecord, from_open_notify
from isspanel.settings import Settings
from isspanel.sources import SourceError

log = logging.getLogger(__name__)


class OpenNotifySource:
    name = "open-notify"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"isspanel/{__version__} (+ISS pipeline workbench)"
        self.session.headers["Accept"] = "application/json"

    def fetch(self) -> IssRecord:
        s = self.settings
        try:
            response = self.session.get(s.api_url, timeout=(s.connect_timeout, s.read_timeout))
        except requests.Timeout as exc:
            raise SourceError(f"timed out after {s.read_timeout:g} s: {exc}") from None
        except requests.RequestException as exc:
            raise SourceError(f"request failed: {exc}") from None
        if response.status_code == 429:
            retry = response.headers.get("Retry-After", "?")
            raise SourceError(f"HTTP 429 rate limited (Retry-After: {retry})")
        if response.status_code >= 400:
            raise SourceError(f"HTTP {response.status_code} {response.reason}")
        try:
            body = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            kind = response.headers.get("Content-Type", "unknown type")
            raise InvalidRecord(f"answer is not valid JSON ({kind}): {exc}") from None
        return from_open_notify(body, max_skew_s=s.max_clock_skew_s, max_age_s=s.max_age_s)

    def close(self) -> None:
        self.session.close()
