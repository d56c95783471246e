"""Offline world map outlines: Natural Earth 1:110m countries, bundled as a small GeoJSON.

At runtime `load_land_xy` reads ``isspanel/data/land_110m.geojson`` with the stdlib ``json``
only: nothing is downloaded and no GIS library is needed.

The GeoJSON is built once and committed. To rebuild it (needs PyPI, nothing is installed)::

    .venv/bin/python -m isspanel.land --from-wheel geopandas==0.14.4

That runs ``pip download --no-deps geopandas==0.14.4`` into a temporary folder, reads the
``geopandas/datasets/naturalearth_lowres`` shapefile bundled in the wheel (Natural Earth
1:110m admin-0 countries, public domain) with the small stdlib shapefile/dBASE reader below,
simplifies every ring (Douglas-Peucker, 0.1 degree), rounds coordinates to 2 decimals, drops
rings that collapse, and writes the GeoJSON. ``--shp PATH`` reads a local ``.shp`` instead
(its ``.dbf`` next to it is optional); ``--out`` and ``--tolerance`` change the defaults.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DATA_PATH = Path(__file__).parent / "data" / "land_110m.geojson"
WHEEL_SHP = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"
DEFAULT_TOLERANCE = 0.1  # degrees
DECIMALS = 2

Ring = list[tuple[float, float]]


# -- runtime ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _rings(path: str, holes: bool) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]:
    with open(path, encoding="utf-8") as f:
        collection = json.load(f)
    rings = []
    for feature in collection["features"]:
        geometry = feature["geometry"]
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        for polygon in polygons:
            for ring in polygon if holes else polygon[:1]:
                rings.append((tuple(p[0] for p in ring), tuple(p[1] for p in ring)))
    return tuple(rings)


def load_land_xy(
    path: str | Path | None = None, holes: bool = False
) -> tuple[list[list[float]], list[list[float]]]:
    """Country outlines as Bokeh ``multi_line``/``patches`` xs, ys (lon, lat degrees).

    One list per ring; exterior rings only unless ``holes``. The file is parsed once
    (cached); every call returns fresh lists, so callers may modify them.
    """
    rings = _rings(str(path or DATA_PATH), holes)
    return [list(xs) for xs, _ in rings], [list(ys) for _, ys in rings]


# -- build: a minimal ESRI shapefile (polygon) and dBASE reader --------------------------------


def read_shp(data: bytes) -> list[list[Ring]]:
    """The parts (rings) of every record of a polygon shapefile."""
    (file_code,) = struct.unpack(">i", data[:4])
    if file_code != 9994:
        raise ValueError("not an ESRI shapefile")
    (shape_type,) = struct.unpack("<i", data[32:36])
    if shape_type not in (5, 15, 25):  # Polygon, PolygonZ, PolygonM
        raise ValueError(f"shape type {shape_type} is not a polygon type")
    records: list[list[Ring]] = []
    offset = 100
    while offset + 8 <= len(data):
        _number, words = struct.unpack(">ii", data[offset : offset + 8])
        content = data[offset + 8 : offset + 8 + 2 * words]
        offset += 8 + 2 * words
        (kind,) = struct.unpack("<i", content[:4])
        if kind == 0:  # null shape
            records.append([])
            continue
        num_parts, num_points = struct.unpack("<ii", content[36:44])
        parts = list(struct.unpack(f"<{num_parts}i", content[44 : 44 + 4 * num_parts]))
        start = 44 + 4 * num_parts
        flat = struct.unpack(f"<{2 * num_points}d", content[start : start + 16 * num_points])
        points = list(zip(flat[0::2], flat[1::2], strict=True))
        bounds = [*parts, num_points]
        records.append([points[bounds[i] : bounds[i + 1]] for i in range(num_parts)])
    return records


def read_dbf(data: bytes) -> list[dict[str, str]]:
    """dBASE III attribute rows as strings (enough for names and codes)."""
    count, header_len, record_len = struct.unpack("<IHH", data[4:12])
    fields = []
    pos = 32
    while data[pos] != 0x0D:
        name = data[pos : pos + 11].split(b"\0", 1)[0].decode("ascii")
        fields.append((name, data[pos + 16]))
        pos += 32
    rows = []
    for i in range(count):
        record = data[header_len + i * record_len : header_len + (i + 1) * record_len]
        if record[:1] == b"*":  # deleted
            continue
        row, at = {}, 1
        for name, length in fields:
            row[name] = record[at : at + length].decode("utf-8", "replace").strip()
            at += length
        rows.append(row)
    return rows


# -- build: geometry -------------------------------------------------------------------------


def signed_area(ring: Ring) -> float:
    """Shoelace area; negative for clockwise rings (shapefile exteriors)."""
    return 0.5 * sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True)
    )


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]):
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    if dx == dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def douglas_peucker(points: Ring, tolerance: float) -> Ring:
    """Keep the points that lie further than ``tolerance`` from the simplified line."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        best, index = 0.0, -1
        for i in range(first + 1, last):
            d = _segment_distance(points[i], points[first], points[last])
            if d > best:
                best, index = d, i
        if index >= 0 and best > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def simplify_ring(ring: Ring, tolerance: float) -> Ring | None:
    """Simplified, rounded, closed ring; None when it collapses below a triangle."""
    if ring[0] != ring[-1]:
        ring = [*ring, ring[0]]
    # Split the closed ring at its farthest point from the start, so both halves have ends.
    far = max(range(len(ring)), key=lambda i: math.dist(ring[0], ring[i]))
    simple = douglas_peucker(ring[: far + 1], tolerance)[:-1] + douglas_peucker(
        ring[far:], tolerance
    )
    rounded: Ring = []
    for x, y in simple:
        p = (round(x, DECIMALS), round(y, DECIMALS))
        if not rounded or p != rounded[-1]:
            rounded.append(p)
    if len(set(rounded)) < 3 or abs(signed_area(rounded)) < tolerance**2:
        return None
    if rounded[0] != rounded[-1]:
        rounded.append(rounded[0])
    return rounded


def to_feature(parts: list[Ring], properties: dict, tolerance: float) -> dict | None:
    """A GeoJSON feature from shapefile parts: clockwise exteriors, each followed by holes."""
    polygons: list[list[Ring]] = []
    for part in parts:
        ring = simplify_ring(part, tolerance)
        if ring is None:
            continue
        exterior = signed_area(part) < 0
        ring = ring[::-1]  # RFC 7946 winding is the reverse: exteriors CCW, holes CW
        if exterior or not polygons:
            polygons.append([ring])
        else:
            polygons[-1].append(ring)
    if not polygons:
        return None
    coords = [[[list(p) for p in ring] for ring in polygon] for polygon in polygons]
    geometry = (
        {"type": "Polygon", "coordinates": coords[0]}
        if len(coords) == 1
        else {"type": "MultiPolygon", "coordinates": coords}
    )
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def build_collection(shp: bytes, dbf: bytes | None, tolerance: float, source: str) -> dict:
    records = read_shp(shp)
    rows = read_dbf(dbf) if dbf else [{} for _ in records]
    if len(rows) != len(records):
        raise ValueError(f"{len(records)} shapes but {len(rows)} attribute rows")
    features = []
    for parts, row in zip(records, rows, strict=True):
        props = {k: row[k] for k in ("name", "continent", "iso_a3") if k in row}
        feature = to_feature(parts, props, tolerance)
        if feature is not None:
            features.append(feature)
    return {
        "type": "FeatureCollection",
        "properties": {
            "source": source,
            "license": "Public domain (Natural Earth)",
            "attribution": "Made with Natural Earth. Free vector and raster map data "
            "@ naturalearthdata.com",
            "simplification": f"Douglas-Peucker {tolerance} degree, {DECIMALS} decimals",
        },
        "features": features,
    }


def write_geojson(collection: dict, out_path: Path) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # One feature per line: compact, yet diffs stay readable.
    head = json.dumps({k: v for k, v in collection.items() if k != "features"})[:-1]
    lines = [
        json.dumps(f, separators=(",", ":"), ensure_ascii=False) for f in collection["features"]
    ]
    out_path.write_text(f'{head}, "features": [\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8")
    return out_path


def shapefile_from_wheel(requirement: str, workdir: Path) -> tuple[bytes, bytes, str]:
    """Download the wheel (no install, no dependencies) and read its bundled shapefile."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "-d", str(workdir), requirement], check=True)
    wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        return z.read(WHEEL_SHP + ".shp"), z.read(WHEEL_SHP + ".dbf"), wheel.name


def build(
    out_path: Path = DATA_PATH,
    from_wheel: str | None = "geopandas==0.14.4",
    shp_path: Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Path:
    """Build the simplified GeoJSON at ``out_path`` from a wheel's or a local shapefile."""
    if shp_path is not None:
        shp_path = Path(shp_path)
        dbf_path = shp_path.with_suffix(".dbf")
        shp = shp_path.read_bytes()
        dbf = dbf_path.read_bytes() if dbf_path.exists() else None
        source = f"Natural Earth 1:110m, from {shp_path.name}"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            shp, dbf, wheel = shapefile_from_wheel(from_wheel, Path(tmp))
        source = f"Natural Earth 1:110m admin-0 countries, {WHEEL_SHP}.shp of {wheel}"
    collection = build_collection(shp, dbf, tolerance, source)
    return write_geojson(collection, out_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m isspanel.land", description=__doc__)
    parser.add_argument("--from-wheel", default="geopandas==0.14.4", help="pip requirement")
    parser.add_argument("--shp", type=Path, help="read this local .shp instead of a wheel")
    parser.add_argument("--out", type=Path, default=DATA_PATH)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="degrees")
    args = parser.parse_args(argv)
    out = build(args.out, args.from_wheel, args.shp, args.tolerance)
    xs, _ = load_land_xy(out, holes=True)
    points = sum(len(x) for x in xs)
    print(f"wrote {out}: {len(xs)} rings, {points} points, {out.stat().st_size} bytes")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
