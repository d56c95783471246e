"""Build isspanel/data/land_110m.geojson, the world map's outlines (a build tool, not runtime).

Needs PyPI and the dev extra (pyshp, shapely): ``.venv/bin/pip install -e '.[dev]'``, then::

    .venv/bin/python tools/build_land.py

That runs ``pip download --no-deps geopandas==0.14.4`` into a temporary folder (nothing is
installed), reads the ``geopandas/datasets/naturalearth_lowres`` shapefile bundled in the wheel
(Natural Earth 1:110m admin-0 countries, public domain) with pyshp, simplifies every ring with
shapely's Douglas-Peucker (0.1 degree), rounds coordinates to 2 decimals, drops rings that
collapse, and writes the GeoJSON: byte for byte the committed file. ``--from-wheel`` takes
another requirement or a downloaded ``.whl``; ``--shp PATH`` reads a local ``.shp`` instead (its
``.dbf`` next to it is optional); ``--out`` and ``--tolerance`` change the defaults.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import shapefile  # pyshp
import shapely

ROOT = Path(__file__).resolve().parent.parent
DATA_PATH = ROOT / "isspanel" / "data" / "land_110m.geojson"
WHEEL = "geopandas==0.14.4"
WHEEL_SHP = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"
DEFAULT_TOLERANCE = 0.1  # degrees
DECIMALS = 2
PROPERTIES = ("name", "continent", "iso_a3")

Ring = list[tuple[float, float]]
log = logging.getLogger("build_land")


# -- reading ----------------------------------------------------------------------------------


def read_records(
    shp: bytes, dbf: bytes | None, encoding: str = "utf-8"
) -> list[tuple[list[Ring], dict]]:
    """The parts (rings) and the attributes of every record of a polygon shapefile; the
    attributes decoded as ``encoding`` (the .cpg's code page), strictly: a wrong one fails."""
    reader = shapefile.Reader(
        shp=io.BytesIO(shp), dbf=io.BytesIO(dbf) if dbf else None, encoding=encoding
    )
    if reader.shapeType not in (shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM):
        raise ValueError(f"shape type {reader.shapeTypeName} is not a polygon type")
    shapes = reader.shapes()
    rows = [r.as_dict() for r in reader.records()] if dbf else [{} for _ in shapes]
    if len(rows) != len(shapes):
        raise ValueError(f"{len(shapes)} shapes but {len(rows)} attribute rows")
    records = []
    for shape, row in zip(shapes, rows, strict=True):
        points = [(float(x), float(y)) for x, y, *_ in shape.points]
        bounds = [*shape.parts, len(points)]
        parts = [points[bounds[i] : bounds[i + 1]] for i in range(len(shape.parts))]
        records.append((parts, row))
    return records


# -- geometry ---------------------------------------------------------------------------------


def douglas_peucker(points: Ring, tolerance: float) -> Ring:
    """Keep the points further than ``tolerance`` from the simplified line (ends stay)."""
    if len(points) < 3:
        return list(points)
    line = shapely.LineString(points).simplify(tolerance, preserve_topology=False)
    return [(x, y) for x, y in line.coords]


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
    if len(set(rounded)) < 3 or shapely.Polygon(rounded).area < tolerance**2:
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
        exterior = not shapely.LinearRing(part).is_ccw
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


# -- writing ----------------------------------------------------------------------------------


def build_collection(
    shp: bytes, dbf: bytes | None, tolerance: float, source: str, encoding: str = "utf-8"
) -> dict:
    features = []
    for parts, row in read_records(shp, dbf, encoding):
        props = {k: row[k] for k in PROPERTIES if k in row}
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


def code_page(cpg: bytes | None) -> str:
    """The attributes' encoding as a .cpg names it (Natural Earth's says ISO-8859-1: read as
    UTF-8, "Côte d'Ivoire" lost its ô); UTF-8 without one."""
    return cpg.decode("ascii").strip() if cpg and cpg.strip() else "utf-8"


def shapefile_from_wheel(requirement: str, workdir: Path) -> tuple[bytes, bytes, str, str]:
    """The shapefile bundled in a wheel (a local .whl, or one downloaded: no install, no deps):
    .shp, .dbf, the wheel's name and the attributes' encoding."""
    wheel = Path(requirement)
    if not (wheel.suffix == ".whl" and wheel.is_file()):
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*pip, "-d", str(workdir), requirement], check=True)
        wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        cpg = z.read(WHEEL_SHP + ".cpg") if WHEEL_SHP + ".cpg" in z.namelist() else None
        return z.read(WHEEL_SHP + ".shp"), z.read(WHEEL_SHP + ".dbf"), wheel.name, code_page(cpg)


def build(
    out_path: Path = DATA_PATH,
    from_wheel: str = WHEEL,
    shp_path: Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Path:
    """Build the simplified GeoJSON at ``out_path`` from a wheel's or a local shapefile."""
    if shp_path is not None:
        shp_path = Path(shp_path)
        dbf_path = shp_path.with_suffix(".dbf")
        shp = shp_path.read_bytes()
        dbf = dbf_path.read_bytes() if dbf_path.exists() else None
        cpg_path = shp_path.with_suffix(".cpg")
        encoding = code_page(cpg_path.read_bytes() if cpg_path.exists() else None)
        source = f"Natural Earth 1:110m, from {shp_path.name}"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            shp, dbf, wheel, encoding = shapefile_from_wheel(from_wheel, Path(tmp))
        source = f"Natural Earth 1:110m admin-0 countries, {WHEEL_SHP}.shp of {wheel}"
    collection = build_collection(shp, dbf, tolerance, source, encoding)
    return write_geojson(collection, out_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/build_land.py", description=__doc__)
    parser.add_argument("--from-wheel", default=WHEEL, help="pip requirement or a .whl file")
    parser.add_argument("--shp", type=Path, help="read this local .shp instead of a wheel")
    parser.add_argument("--out", type=Path, default=DATA_PATH)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="degrees")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = build(args.out, args.from_wheel, args.shp, args.tolerance)
    features = json.loads(out.read_text(encoding="utf-8"))["features"]
    rings = [ring for f in features for polygon in _polygons(f["geometry"]) for ring in polygon]
    points = sum(len(r) for r in rings)
    log.info("wrote %s: %d rings, %d points, %d bytes", out, len(rings), points, out.stat().st_size)
    return 0


def _polygons(geometry: dict) -> list:
    coords = geometry["coordinates"]
    return [coords] if geometry["type"] == "Polygon" else coords


if __name__ == "__main__":
    sys.exit(main())
