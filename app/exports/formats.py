"""The export formats, one block each: its media type, the views it draws, what it checks, and its writer.

As matplotlib's `savefig` looks a format up by name, `export` looks up the
block of `Options.format`; a new format is one more block here and its writer.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from app import i18n
from app.exports.options import (
    DEFAULT_FPS, DEFAULT_SIZE, DEFAULT_TOLERANCE, LIMITS, MAP, MAX_DECK, MAX_SUBTITLE, PATH_VIEWS, TOLERANCE, VIEWS,
    Options, choice, number, whole,
)
from core import InvalidInput

Progress = Callable[[float], None]
Writer = Callable[[object, Options, str, "Progress | None"], None]


@dataclass(frozen=True)
class Format:
    """One file type: what it is, which views it draws, and how a scene becomes one."""

    name: str
    media_type: str
    views: tuple[str, ...]
    still: bool  # one picture at one step, not an animation
    write: Writer
    max_fps: int | None = None
    even_size: bool = False  # H.264 with yuv420p stores colour at half resolution: players need even sizes
    deck: bool = False  # can hold several slides
    live: bool = False  # recomputes its runs where it is opened, unless asked for frames only

    def check(self, opts: Options) -> None:
        """What this format asks of the options beyond their ranges; raises InvalidInput naming the field."""
        if opts.view not in self.views:
            # The map does not move: a video of one still frame would only hide that.
            raise InvalidInput("view", f"view = map is a still picture (where every run of its sweep ends): it "
                                       f"exports as {', '.join(MAP_FORMATS)}; a {self.name} animates view "
                                       f"{', '.join(PATH_VIEWS)}")
        if opts.view == MAP and opts.step is not None:
            raise InvalidInput("step", "step picks the step the contour, surface3d or loss view shows; "
                                       "the map shows where each run ends")
        if self.max_fps is not None and opts.fps > self.max_fps:
            raise InvalidInput("fps", f"fps = {opts.fps} is more than a {self.name.upper()} can show; "
                                      f"allowed: [1, {self.max_fps}]")
        if self.even_size:
            for name in ("width", "height"):
                if getattr(opts, name) % 2:
                    raise InvalidInput(name, f"{name} = {getattr(opts, name)} must be even for {self.name} "
                                             "(H.264 with yuv420p)")
        if opts.deck and not self.deck:
            raise InvalidInput("deck", f"deck gives the slides of a pptx; a {self.name} holds one view of one link")
        if opts.frames_only and not self.live:
            raise InvalidInput("frames_only", f"frames_only leaves out an html file's sliders; a {self.name} has none")
        if opts.step is not None and not self.still:
            raise InvalidInput("step", f"step picks the step of a still ({', '.join(STILLS)}); "
                                       "an animation shows every step")


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


# The writers import matplotlib, ffmpeg or plotly.js only when called: only exports need them, and
# matplotlib alone would be a third of the server's start-up.

def _animation(scene, opts: Options, path: str, progress: Progress | None) -> None:
    from app.exports.animation import animate

    animate(scene, opts, path, progress)


def _still(scene, opts: Options, path: str, progress: Progress | None) -> None:
    if opts.view == MAP:
        from app.exports.mapfigure import map_still

        map_still(scene, opts, path)
    else:
        from app.exports.animation import still

        still(scene, opts, path)


def _pptx(subject, opts: Options, path: str, progress: Progress | None) -> None:
    from app.exports.slides import write_pptx

    write_pptx(subject, opts, path, progress)


def _beamer(scene, opts: Options, path: str, progress: Progress | None) -> None:
    from app.exports.slides import write_beamer

    write_beamer(scene, opts, path, progress)


def _html(scene, opts: Options, path: str, progress: Progress | None) -> None:
    from app.exports.html import html_document, map_html_document

    text = map_html_document(scene) if opts.view == MAP else html_document(scene, opts)
    Path(path).write_text(text, encoding="utf-8")


# GIF delays count hundredths of a second; browsers slow anything under 2 to 10, hence 50 fps at most.
GIF = register(Format("gif", "image/gif", PATH_VIEWS, False, _animation, max_fps=50))
MP4 = register(Format("mp4", "video/mp4", PATH_VIEWS, False, _animation, even_size=True))
# Its runs' own sliders recompute them in the file, from plotly.js and the page's engine inlined.
HTML = register(Format("html", "text/html; charset=utf-8", VIEWS, False, _html, live=True))
# A slide per link and per preset of its deck, each playing the MP4 as a movie.
PPTX = register(Format("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                       PATH_VIEWS, False, _pptx, even_size=True, deck=True))
# PNG frames and the .tex snippet that plays them with the animate package, zipped.
BEAMER = register(Format("beamer", "application/zip", PATH_VIEWS, False, _beamer))
PNG = register(Format("png", "image/png", VIEWS, True, _still))
SVG = register(Format("svg", "image/svg+xml", VIEWS, True, _still))

MEDIA_TYPES = {name: f.media_type for name, f in FORMATS.items()}
STILLS = tuple(name for name, f in FORMATS.items() if f.still)
MAP_FORMATS = tuple(sorted((name for name, f in FORMATS.items() if MAP in f.views), key=lambda n: not FORMATS[n].still))


def make_options(format, view=None, frames=None, fps=None, width=None, height=None, step=None,
                 loop=True, autoplay=True, limits: dict | None = None, annotate=False, tolerance=None,
                 subtitle=None, deck=None, origin="", lang=None, frames_only=False) -> Options:
    """Validated Options; raises InvalidInput naming the field and what is allowed."""
    limits = {**LIMITS, **(limits or {})}
    fmt = FORMATS[choice("format", format, tuple(FORMATS))]
    view = choice("view", view if view is not None else "contour", VIEWS)
    if view == MAP:
        fmt.check(Options(fmt.name, view, step=step))  # the view and step first: the rest mean nothing for a map
    if frames is not None:
        frames = whole("frames", frames, *limits["frames"])
    fps = whole("fps", fps if fps is not None else DEFAULT_FPS, *limits["fps"])
    fmt.check(Options(fmt.name, view, fps=fps))  # each field's own error before the next field is read
    width = whole("width", width if width is not None else DEFAULT_SIZE[0], *limits["width"])
    height = whole("height", height if height is not None else DEFAULT_SIZE[1], *limits["height"])
    fmt.check(Options(fmt.name, view, fps=fps, width=width, height=height))
    if step is not None and fmt.still:
        step = whole("step", step, 0, 10**9)
    tolerance = number("tolerance", tolerance if tolerance is not None else DEFAULT_TOLERANCE, *TOLERANCE)
    subtitle = (subtitle or "").strip()
    if "\n" in subtitle:
        raise InvalidInput("subtitle", f"subtitle is one line of at most {MAX_SUBTITLE} characters; this one has a "
                                       f"line break")
    if len(subtitle) > MAX_SUBTITLE:
        raise InvalidInput("subtitle", f"subtitle is one line of at most {MAX_SUBTITLE} characters; "
                                       f"this one has {len(subtitle)}")
    slides = deck_slides(deck)
    # A language this server lacks is passed over, as a link's is: the export is made in English.
    lang = i18n.supported(lang) or i18n.DEFAULT
    opts = Options(fmt.name, view, frames, fps, width, height, step, bool(loop), bool(autoplay), bool(annotate),
                   tolerance, subtitle, slides, origin, lang, bool(frames_only))
    fmt.check(opts)
    return opts


@lru_cache(maxsize=1)
def _deck_presets() -> tuple[tuple[str, ...], frozenset[str]]:
    """The presets a deck may hold (those of the 2-D surfaces), and the network's, which it may not: a slide
    plays a movie of paths over a surface, and a network's runs are drawn on a plane of their own."""
    from app.presets import PRESETS
    from app.state import is_network, request_from_query

    networks = frozenset(p.id for p in PRESETS if is_network(request_from_query(p.query)))
    return tuple(p.id for p in PRESETS if p.id not in networks), networks


def deck_slides(deck) -> tuple:
    """A deck's slides, each "preset" or "preset:view", checked against the presets and views."""
    if not deck:
        return ()
    items = deck.split(",") if isinstance(deck, str) else list(deck)
    if len(items) > MAX_DECK:
        raise InvalidInput("deck", f"deck has {len(items)} slides; allowed: at most {MAX_DECK}")
    ids, networks = _deck_presets()
    out = []
    for item in items:
        preset, _, view = str(item).strip().partition(":")
        if preset in networks:
            raise InvalidInput("deck", f"{preset} is a network preset; a deck takes presets of the 2-D surfaces: "
                                       f"{', '.join(ids)}")
        if preset not in ids:
            raise InvalidInput("deck", f"unknown preset {preset!r} in deck; allowed: {', '.join(ids)}")
        if view and view not in PATH_VIEWS:
            raise InvalidInput("deck", f"unknown view {view!r} in deck item {item!r}; allowed: {', '.join(PATH_VIEWS)}")
        out.append(f"{preset}:{view}" if view else preset)
    return tuple(out)


def check(scene, opts: Options) -> None:
    """What Options alone cannot check: that a still's step is one the runs have."""
    if opts.step is not None and opts.step > scene.steps:
        raise InvalidInput("step", f"step = {opts.step} is outside [0, {scene.steps}]")


def export(scene, opts: Options, out: str | os.PathLike, progress: Progress | None = None) -> Path:
    """Write `scene` (an app.exports.scene.Scene, or for the map view an app.exports.maps.MapData) to `out`
    in `opts.format`; the file appears whole or not at all."""
    out = Path(out)
    check(scene, opts)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    try:
        FORMATS[opts.format].write(scene, opts, tmp, progress)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if progress:
        progress(1.0)
    return out
