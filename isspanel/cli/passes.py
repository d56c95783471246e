"""`isspanel passes`: the next passes of the ISS over a place, as a table (offline)."""

from __future__ import annotations

import argparse
import logging
import math
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("isspanel.passes")

MAX_DAYS = 30  # as isspanel.geo.passes.MAX_DAYS, without importing skyfield to parse args
DEFAULT_MIN_ELEVATION = 10.0  # lower passes are hard to see over trees and houses


def _number(text: str, what: str, low: float, high: float, low_open: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        bounds = f"over {low:g} and at most {high:g}" if low_open else f"within {low:g}..{high:g}"
        raise argparse.ArgumentTypeError(f"{what} must be {bounds}, not {text}")
    return value


def latitude(text: str) -> float:
    return _number(text, "latitude (degrees north)", -90, 90)


def longitude(text: str) -> float:
    return _number(text, "longitude (degrees east)", -180, 180)


def days(text: str) -> float:
    return _number(text, "days", 0, MAX_DAYS, low_open=True)


def min_elevation(text: str) -> float:
    return _number(text, "minimum elevation (degrees)", 0, 90)


def elevation(text: str) -> float:
    return _number(text, "elevation (metres above sea level)", -500, 9000)


def zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r}: give an IANA name such as Europe/Berlin"
        ) from None


def moment(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO date and time: {text!r} (e.g. 2026-11-27T18:00:00Z)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def add_parser(sub) -> None:
    """Add the `passes` command to the `isspanel` subcommands."""
    p = sub.add_parser("passes", help="the next passes of the ISS over a place (offline)")
    p.add_argument("--lat", type=latitude, required=True, help="degrees north, -90..90")
    p.add_argument("--lon", type=longitude, required=True, help="degrees east, -180..180")
    p.add_argument("--elevation", type=elevation, default=0.0, help="metres above sea level")
    p.add_argument("--days", type=days, default=3.0, help=f"how far ahead, up to {MAX_DAYS}")
    p.add_argument(
        "--min-elevation",
        type=min_elevation,
        default=DEFAULT_MIN_ELEVATION,
        help=f"only passes at least this high, degrees (default {DEFAULT_MIN_ELEVATION:g})",
    )
    p.add_argument("--tz", type=zone, help="time zone of the local times (default: the system's)")
    p.add_argument("--start", type=moment, help="from this moment (ISO, UTC unless it says)")
    p.set_defaults(func=cmd_passes)


def cmd_passes(args: argparse.Namespace, settings) -> int:
    from isspanel.geo.passes import compass, next_passes
    from isspanel.sources import tle as tles

    try:
        tle, path = tles.newest_tle(settings)
    except tles.TleError as exc:
        log.error("%s", exc)
        return 1
    start = args.start or datetime.now(UTC)
    try:
        passes = next_passes(
            tle, args.lat, args.lon, args.elevation, start, args.days, args.min_elevation
        )
    except ValueError as exc:  # a start too far from the TLE's epoch
        log.error("%s", exc)
        return 1
    age = abs((start - tle.epoch).total_seconds()) / 86400
    if age > settings.tle.max_age_days:
        log.warning(
            "the TLE's epoch is %.0f days from the start: pass times may be off by minutes;"
            " `isspanel tle refresh` fetches a new one",
            age,
        )
    for line in table(passes, args, start, f"{tles.describe(tle)}, {path}", compass):
        print(line)  # noqa: T201 - the command's output
    return 0


def _place(lat: float, lon: float) -> str:
    return f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.4f}° {'E' if lon >= 0 else 'W'}"


def table(passes, args, start: datetime, tle_text: str, compass) -> list[str]:
    """The lines `isspanel passes` prints."""
    tz: tzinfo | None = args.tz
    zone_name = str(tz) if tz else f"system {datetime.now().astimezone().tzname()}"

    def local(when: datetime, fmt: str) -> str:
        return when.astimezone(tz).strftime(fmt)  # no tz: the system's, DST included

    def az(deg: float) -> str:
        return f"{deg:3.0f}° {compass(deg):<3}"

    lines = [
        f"ISS passes over {_place(args.lat, args.lon)}: {len(passes)} in {args.days:g}"
        f" day{'' if args.days == 1 else 's'}"
        f" from {start:%Y-%m-%d %H:%M} UTC, at least {args.min_elevation:g}° high",
        f"{tle_text}",
        f"local times: {zone_name}; rise and set at the horizon (0°); visible: the ISS is"
        " sunlit while the sun is 6° or more below the horizon here",
        "",
    ]
    header = (
        f"{'rise UTC':19}  {'rise local':24}  {'culmination UTC':15}  {'local':8}  "
        f"{'set UTC':8}  {'local':8}  {'max elevation':>13}  {'azimuth rise':12}  "
        f"{'azimuth max':11}  {'azimuth set':11}  visible"
    )
    lines += [header, "-" * len(header)]
    for p in passes:
        lines.append(
            f"{p.rise:%Y-%m-%d %H:%M:%S}  {local(p.rise, '%Y-%m-%d %H:%M:%S %Z'):24}  "
            f"{p.culmination:%H:%M:%S}{'':7}  {local(p.culmination, '%H:%M:%S')}  "
            f"{p.set:%H:%M:%S}  {local(p.set, '%H:%M:%S')}  {p.max_elevation_deg:12.1f}°  "
            f"{az(p.rise_azimuth_deg):12}  {az(p.culmination_azimuth_deg):11}  "
            f"{az(p.set_azimuth_deg):11}  {'yes' if p.visible else 'no'}"
        )
    if not passes:
        lines.append("(no pass)")
    return lines
