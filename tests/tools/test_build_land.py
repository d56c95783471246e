"""tools/build_land.py, the builder of isspanel/data/land_110m.geojson: it reproduces the file.

The source is the Natural Earth shapefile inside the geopandas 0.14.4 wheel on PyPI (see
isspanel/data/LAND_ATTRIBUTION.md); the reproduction test skips, saying so, only when that
wheel cannot be downloaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import sys

import pytest
import shapely

from isspanel.geo.land import DATA_PATH, load_land_xy
from isspanel.settings import PROJECT_ROOT

BUILDER = PROJECT_ROOT / "tools" / "build_land.py"
ATTRIBUTION = DATA_PATH.parent / "LAND_ATTRIBUTION.md"


def build(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(BUILDER), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_runtime_package_holds_no_builder():
    """The loader reads the committed GeoJSON with the stdlib; the builder is a tool."""
    source = (PROJECT_ROOT / "isspanel" / "geo" / "land.py").read_text()
    assert not re.search(r"^import (struct|zipfile|subprocess)\b", source, re.M)
    assert "def build" not in source and "tools/build_land.py" in source


@pytest.fixture(scope="module")
def source_wheel(tmp_path_factory) -> str:
    """The geopandas wheel that ships the shapefile, checked against LAND_ATTRIBUTION.md."""
    folder = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    done = subprocess.run(
        [*pip, "-d", str(folder), "geopandas==0.14.4"], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            "cannot download geopandas==0.14.4 from PyPI, whose wheel ships the Natural Earth "
            "shapefile the land outlines are built from: " + done.stderr.strip()[-300:]
        )
    (wheel,) = folder.glob("*.whl")
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert sha256 in ATTRIBUTION.read_text(encoding="utf-8"), "not the wheel the file came from"
    return str(wheel)


def test_the_builder_reproduces_the_committed_geojson(source_wheel, tmp_path):
    out = tmp_path / "land.geojson"
    done = build("--from-wheel", source_wheel, "--out", str(out))
    assert out.read_bytes() == DATA_PATH.read_bytes()
    assert "287 rings, 8407 points" in done.stderr  # the figures of LAND_ATTRIBUTION.md


def test_the_builder_simplifies_a_tiny_shapefile(tmp_path):
    """Build from a tiny hand-made shapefile: one clockwise square with a dense edge."""
    edge = [(0.0, y / 10) for y in range(0, 101)]  # 101 collinear points on x=0
    ring = [*edge, (10.0, 10.0), (10.0, 0.0), (0.0, 0.0)]  # clockwise: exterior
    content = struct.pack("<i4d2i", 5, 0, 0, 10, 10, 1, len(ring)) + struct.pack("<i", 0)
    content += b"".join(struct.pack("<2d", x, y) for x, y in ring)
    record = struct.pack(">2i", 1, len(content) // 2) + content
    header = struct.pack(">7i", 9994, 0, 0, 0, 0, 0, (100 + len(record)) // 2)
    header += struct.pack("<2i4d4d", 1000, 5, 0, 0, 10, 10, 0, 0, 0, 0)
    shp = tmp_path / "square.shp"
    shp.write_bytes(header + record)
    out = tmp_path / "square.geojson"
    build("--shp", str(shp), "--out", str(out))
    data = json.loads(out.read_text())
    (feature,) = data["features"]
    (exterior,) = feature["geometry"]["coordinates"]
    assert len(exterior) == 5  # the collinear points are gone
    assert shapely.LinearRing(exterior).is_ccw  # RFC 7946: CCW exterior
    xs, ys = load_land_xy(out)
    assert len(xs) == len(ys) == 1


def test_the_attributes_are_read_in_the_code_page_their_cpg_names(tmp_path):
    """Natural Earth's .cpg says ISO-8859-1: read as UTF-8, "Côte d'Ivoire" lost its ô."""
    import shapefile  # pyshp, a build-time tool

    with shapefile.Writer(
        str(tmp_path / "place"), shapeType=shapefile.POLYGON, encoding="latin-1"
    ) as w:
        w.field("name", "C", 40)
        w.poly([[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)]])
        w.record("Côte d'Ivoire")
    (tmp_path / "place.cpg").write_text("ISO-8859-1")
    out = tmp_path / "place.geojson"
    build("--shp", str(tmp_path / "place.shp"), "--out", str(out))
    (feature,) = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert feature["properties"]["name"] == "Côte d'Ivoire"


def test_the_committed_outlines_name_every_country_in_full():
    names = [f["properties"]["name"] for f in json.loads(DATA_PATH.read_text("utf-8"))["features"]]
    assert "Côte d'Ivoire" in names
    assert not [n for n in names if "\ufffd" in n]
