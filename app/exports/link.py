"""A shared link as an export's scene: its query string read as the page reads it, its runs (or its map)
validated and computed by the API's own services under this server's limits.

The CLI and the HTTP route share `scene_from_state`; `validate_state` checks a
link the same way while computing nothing.
"""

from __future__ import annotations

import json
import math
import time
from urllib.parse import parse_qs

from app import i18n
from app.exports import maps
from app.exports.formats import make_options
from app.exports.options import MAP, VIEWS, Options
from app.exports.scene import Deck, Scene
from app.services.compute import Work, run_all
from app.services.trajectories import build_runs
from app.services.validation import Invalid, field_loc
from app.settings import Settings
from app.state import display_keys, is_network, link_query, network_request, request_from_query
from core import OPTIMIZERS, InvalidInput
from core.engine import optimizer_spec


def scene_from_state(query: str, settings: Settings, prefix=("state",),
                     seconds: float | None = None, view: str | None = None,
                     lang: str | None = None) -> tuple[Scene, dict]:
    """The scene a shared link shows, and its display keys (view, autoplay, loop, ...).

    The query is read as the page reads it, and the runs are validated and
    computed by the API's own code under the server's `settings`; `seconds`
    bounds the computation. For the map view (`view`, else the link's own),
    the scene is the link's map (app.exports.maps.MapData), computed as the map
    endpoints compute it under their limits. Its words are in `lang`, else the link's language. Raises app.services.validation.Invalid naming the
    URL key or the field that is wrong, its loc starting with `prefix`.
    """
    body, display = read_state(query, prefix, need_runs=False)
    lang = lang or display.get("lang") or i18n.DEFAULT
    if (view or display.get("view")) == MAP:
        data = maps.compute(query, body, display, settings, prefix, seconds)
        data.lang = lang
        return data, display
    _need_runs(body, prefix)
    runs = build_runs(body, settings, prefix)
    run_all(runs, Work(settings, math.inf if seconds is None else seconds))
    # A run whose lr Tune lr chose says so in the legend, as on the page.
    tuned = set(display.get("tuned", "").split(","))
    t = i18n.translator(lang)
    labels = [t("{0} (tuned)", run.get("label") or t(optimizer_spec(run["optimizer"]).label)) if run["optimizer"] in tuned
              else run.get("label") for run in body["runs"]]
    scene = Scene.from_runs([run.result() for run in runs], labels, lang)
    scene.query, scene.preset = link_query(query), preset_of(body)
    return scene, display


# A job's state that is a network request (as /api/networks/trajectories takes it), not a link: this, then its JSON.
NETWORK_STATE = "network:"


def subject_from_state(query: str, opts: Options, settings: Settings, seconds: float | None = None):
    """What an export of a link draws: its scene, or for a deck the link's scene (if it races any
    optimizer) and then each preset's, under one time limit; for a network request, its runs on its plane."""
    if query.startswith(NETWORK_STATE):
        from app.exports.scene import NetworkScene

        return NetworkScene.from_request(json.loads(query[len(NETWORK_STATE):]), settings, ("network",), seconds)
    link = network_of_link(query)
    if link is not None:
        from app.exports.scene import NetworkScene

        return NetworkScene.from_request(link, settings, ("state",), seconds)
    if not opts.deck:
        return scene_from_state(query, settings, seconds=seconds, view=opts.view, lang=opts.lang)[0]
    from app.presets import PRESETS

    presets = {p.id: p for p in PRESETS}
    slides = []
    started = time.monotonic()

    def left() -> float | None:
        return None if seconds is None else max(seconds - (time.monotonic() - started), 0.0)

    if read_state(query, need_runs=False)[0]["runs"]:
        slides.append((scene_from_state(query, settings, seconds=left(), view=opts.view, lang=opts.lang)[0], opts.view))
    for item in opts.deck:
        preset, _, view = item.partition(":")
        scene, _ = scene_from_state(presets[preset].query, settings, ("deck",), seconds=left(), view=view or opts.view,
                                    lang=opts.lang)
        slides.append((scene, view or opts.view))
    return Deck(slides)


def network_of_link(query: str, prefix=("state",)) -> dict | None:
    """The network request (as /api/networks/trajectories takes it) of a surface=network link, else None."""
    body, display = read_state(query, prefix, need_runs=False)
    if not is_network(body):
        return None
    _need_runs(body, prefix)
    return network_request({**body, **display})


def preset_of(body: dict):
    """The preset whose run a link's body is, whatever its display keys, or None."""
    from app.presets import PRESETS

    for preset in PRESETS:
        if read_state(preset.query, need_runs=False)[0] == body:
            return preset
    return None


def options_for(display: dict, fmt: str, view=None, limits: dict | None = None, lang: str | None = None,
                **given) -> Options:
    """Export options: what was asked, else the shared state's view and looping, else the defaults. The language
    is `lang` when given (`gradscape export --lang`), else the link's, else English."""
    if view is None and display.get("view") in VIEWS:
        view = display["view"]
    return make_options(fmt, view, loop=display.get("loop", True), autoplay=display.get("autoplay", True),
                        limits=limits, lang=lang or display.get("lang"), **given)


def read_state(query: str, prefix=("state",), need_runs: bool = True) -> tuple[dict, dict]:
    """The request body and display keys of a shared link, read as the page reads it; nothing validated by core.

    `need_runs`: refuse a link that races no optimizer (a map needs none: it picks its own).
    """
    try:
        body = request_from_query(query)
    except InvalidInput as exc:
        raise Invalid([*prefix, *field_loc(exc.field)], exc.reason) from None
    display = {k: body.pop(k) for k in display_keys() if k in body}
    if "loop" not in parse_qs(link_query(query)):
        display["loop"] = True  # slides loop an animation unless the link says otherwise
    if need_runs:
        _need_runs(body, prefix)
    return body, display


def _need_runs(body: dict, prefix) -> None:
    if not body["runs"]:
        raise Invalid([*prefix, "opt"],
                      f"no optimizer chosen; give opt=adam,sgd,... (allowed: {', '.join(OPTIMIZERS)})")


def validate_state(query: str, settings: Settings, prefix=("state",), view: str | None = None,
                   deck: tuple = ()) -> tuple[dict, dict]:
    """The request body and display keys of a shared link, validated as scene_from_state would, computing nothing.
    With a `deck` the link may race nothing: the deck's presets are the slides."""
    body, display = read_state(query, prefix, need_runs=False)
    if deck and not body["runs"]:
        return body, display
    if (view or display.get("view")) == MAP:
        maps.plan(query, body, display, settings, prefix)
    else:
        _need_runs(body, prefix)
        build_runs(body, settings, prefix)
    return body, display
