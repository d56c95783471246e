"""Offline world map outlines: Natural Earth 1:110m countries, bundled as a small GeoJSON.

At runtime `load_land_xy` reads ``isspanel/data/land_110m.geojson`` with the stdlib ``json``
only: nothing is downloaded and no GIS library is needed. The file is built once and committed;
``tools/build_land.py`` (pyshp and shapely, the dev extra) rebuilds it byte for byte.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

DATA_PATH = Path(__file__).parents[1] / "data" / "land_110m.geojson"


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
