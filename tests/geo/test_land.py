"""The bundled Natural Earth outlines: small, valid GeoJSON, plausible shapes, cached loader.

The builder of the file (tools/build_land.py) is tested in test_build_land.py.
"""

from __future__ import annotations

import json

import pytest

from isspanel.geo import land
from isspanel.geo.land import DATA_PATH, load_land_xy


@pytest.fixture(scope="module")
def collection() -> dict:
    return json.loads(DATA_PATH.read_text(encoding="utf-8"))


def all_rings(collection: dict):
    for feature in collection["features"]:
        geometry = feature["geometry"]
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        for polygon in polygons:
            yield from polygon


def inside(lon: float, lat: float, xs: list[float], ys: list[float]) -> bool:
    """Even-odd ray casting."""
    result = False
    j = len(xs) - 1
    for i in range(len(xs)):
        if (ys[i] > lat) != (ys[j] > lat) and lon < (xs[j] - xs[i]) * (lat - ys[i]) / (
            ys[j] - ys[i]
        ) + xs[i]:
            result = not result
        j = i
    return result


def covered(lon: float, lat: float) -> list[int]:
    xs, ys = load_land_xy()
    return [i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if inside(lon, lat, x, y)]


def test_file_is_small_and_attributed():
    assert DATA_PATH.exists()
    assert DATA_PATH.stat().st_size < 300_000
    attribution = (DATA_PATH.parent / "LAND_ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "Made with Natural Earth" in attribution
    assert "public domain" in attribution.lower()


def test_valid_feature_collection(collection):
    assert collection["type"] == "FeatureCollection"
    assert "Natural Earth" in collection["properties"]["attribution"]
    assert len(collection["features"]) > 100
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert feature["properties"]["name"]


def test_rings_closed_in_range_and_rounded(collection):
    rings = list(all_rings(collection))
    assert len(rings) > 100
    for ring in rings:
        assert len(ring) >= 4 and ring[0] == ring[-1]
        for lon, lat in ring:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
            assert round(lon, 2) == lon and round(lat, 2) == lat


def test_known_places():
    assert covered(-0.1, 51.5), "London is not on land"
    assert covered(134.0, -25.0), "central Australia is not on land"
    assert covered(-100.0, 40.0), "Kansas is not on land"
    assert not covered(-30.0, 0.0), "the mid-Atlantic is on land"
    assert not covered(-150.0, -30.0), "the South Pacific is on land"


def test_load_land_xy_shapes_and_cache():
    xs, ys = load_land_xy()
    assert len(xs) == len(ys) > 100
    for x, y in zip(xs, ys, strict=True):
        assert len(x) == len(y) >= 4
        assert all(isinstance(v, float) for v in x[:3] + y[:3])
    with_holes, _ = load_land_xy(holes=True)
    assert len(with_holes) >= len(xs)
    # Cached parse, but fresh lists: a caller's edits do not leak into the next call.
    xs[0].append(999.0)
    again, _ = load_land_xy()
    assert again[0][-1] != 999.0
    assert land._rings.cache_info().hits >= 1
