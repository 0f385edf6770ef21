"""The map's colours are app/palette.py's: the page imports them from a module generated from it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app import palette
from app.main import create_app


def test_the_checked_in_module_is_the_palettes():
    assert palette.MAP_MODULE.read_text(encoding="utf-8") == palette.map_module(), (
        "static/js/generated/palette.js differs from app/palette.py: run `python -m app.palette "
        "static/js/generated/palette.js` and commit the result")


def test_the_page_serves_it_and_preloads_it():
    with TestClient(create_app()) as client:
        assert client.get("/static/js/generated/palette.js").text == palette.map_module()
        assert 'href="/static/js/generated/palette.js"' in client.get("/").text


def test_no_other_file_writes_a_map_colour():
    colours = {palette.DIVERGED_COLOUR, palette.NOT_CONVERGED_COLOUR, *palette.BASIN_COLOURS, *palette.VIRIDIS}
    for path in ("static/js/map.js", "static/js/basins.js", "app/exports/maps.py", "app/exports/mapfigure.py"):
        text = (palette.MAP_MODULE.parents[3] / path).read_text(encoding="utf-8")
        # Black (#000000) is also the landmarks' colour, which palette.py names on its own.
        found = {c for c in colours if c != "#000000" and re.search(re.escape(c), text, re.IGNORECASE)}
        assert not found, (path, found)
