"""tools/build_land.py, the builder of isspanel/data/land_110m.geojson: it reproduces the file.

The source is the Natural Earth shapefile inside the geopandas 0.14.4 wheel on PyPI (see
isspanel/data/LAND_ATTRIBUTION.md). The reproduction test reads it from .isspanel/cache/, where
the first run on a machine downloads it (checked against LAND_ATTRIBUTION.md); it skips, saying
so, only when it is not there and cannot be downloaded, and fails then under CI=true. The other
tests build from small shapefiles written here: offline, every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile

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


# Like the jars: fetched once per checkout, kept in the project's state folder (git-ignored).
WHEEL_CACHE = PROJECT_ROOT / ".isspanel" / "cache"
WHEEL_NAME = "geopandas-0.14.4-py3-none-any.whl"


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def source_wheel(tmp_path_factory) -> str:
    """The geopandas wheel that ships the shapefile, checked against LAND_ATTRIBUTION.md:
    from the cache, or downloaded into it once."""
    cached = WHEEL_CACHE / WHEEL_NAME
    if not cached.exists():
        folder = tmp_path_factory.mktemp("wheel")
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run(
            [*pip, "-d", str(folder), "geopandas==0.14.4"], capture_output=True, text=True
        )
        if done.returncode != 0:
            why = (
                f"{cached} is missing and geopandas==0.14.4 cannot be downloaded from PyPI; its "
                "wheel ships the Natural Earth shapefile the land outlines are built from: "
                + done.stderr.strip()[-300:]
            )
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(why)  # CI has PyPI (it installs from it): a skip would hide this
            pytest.skip(why)
        (wheel,) = folder.glob("*.whl")
        assert sha256_of(wheel) in ATTRIBUTION.read_text(encoding="utf-8"), "not the wheel"
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        staged = WHEEL_CACHE / f".{WHEEL_NAME}.{os.getpid()}"
        shutil.copyfile(wheel, staged)
        os.replace(staged, cached)  # whole or not at all, whoever else runs this meanwhile
    sha256 = sha256_of(cached)
    assert sha256 in ATTRIBUTION.read_text(encoding="utf-8"), f"{cached} is not the wheel"
    return str(cached)


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


def test_the_builder_reads_the_shapefile_inside_a_wheel(tmp_path):
    """What it does with the geopandas wheel, on a small one made here: the shapefile at the
    wheel's path, its attributes in the .cpg's code page, a hole kept, a part too small
    dropped, a country of two parts a MultiPolygon, one of nothing left out."""
    import shapefile  # pyshp, a build-time tool

    def square(x: float, y: float, size: float, clockwise: bool = True) -> list:
        ring = [(x, y), (x, y + size), (x + size, y + size), (x + size, y), (x, y)]
        return ring if clockwise else ring[::-1]

    base = tmp_path / "naturalearth_lowres"
    with shapefile.Writer(str(base), shapeType=shapefile.POLYGON, encoding="latin-1") as w:
        for name in ("name", "continent", "iso_a3"):
            w.field(name, "C", 40)
        # Shapefile winding: exteriors clockwise, holes counter-clockwise.
        w.poly([square(0, 0, 10), square(2, 2, 2, clockwise=False), square(50, 50, 0.01)])
        w.record("Côte d'Ivoire", "Africa", "CIV")
        w.poly([square(20, 0, 5), square(30, 0, 5)])
        w.record("Two Isles", "Oceania", "TWO")
        w.poly([square(60, 0, 0.01)])
        w.record("Speck", "Oceania", "SPK")
    base.with_suffix(".cpg").write_text("ISO-8859-1")
    wheel = tmp_path / "tiny-0.1-py3-none-any.whl"
    inside = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"
    with zipfile.ZipFile(wheel, "w") as z:
        for suffix in (".shp", ".shx", ".dbf", ".cpg"):
            z.write(base.with_suffix(suffix), inside + suffix)
    out = tmp_path / "tiny.geojson"
    done = build("--from-wheel", str(wheel), "--out", str(out))
    assert "4 rings" in done.stderr  # 2 + 2: the two too small are dropped
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["properties"]["source"].endswith(f"{inside}.shp of {wheel.name}")
    first, second = data["features"]
    assert first["properties"] == {"name": "Côte d'Ivoire", "continent": "Africa", "iso_a3": "CIV"}
    assert first["geometry"]["type"] == "Polygon"
    exterior, hole = first["geometry"]["coordinates"]
    assert shapely.LinearRing(exterior).is_ccw and not shapely.LinearRing(hole).is_ccw
    assert second["properties"]["name"] == "Two Isles"
    assert second["geometry"]["type"] == "MultiPolygon"
    assert len(second["geometry"]["coordinates"]) == 2
    assert len(load_land_xy(out)[0]) == 3  # the exteriors the map draws
    assert len(load_land_xy(out, holes=True)[0]) == 4
