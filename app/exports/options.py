"""What an export may ask for: its view, frames, speed and size, and the steps its frames show.

The formats themselves (which views each draws, what else each checks, how it
is written) are blocks of the registry in app/exports/formats.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.linkgrammar import key as link_key
from core import InvalidInput

# The link's views (app/linkgrammar.py); every one but the map draws the runs, step by step.
VIEWS = link_key("view").choices
MAP = "map"  # one optimizer over a grid of two settings: a still of where each run ends (app/exports/maps.py)
PATH_VIEWS = tuple(v for v in VIEWS if v != MAP)

# Inclusive ranges of what an export may ask for; the web app may narrow them.
LIMITS = {"frames": (1, 1000), "fps": (1, 60), "width": (320, 1920), "height": (240, 1080)}
MAX_SUBTITLE = 120  # characters: one line under the title at any size
TOLERANCE = (1e-6, 1.0)  # how near a minimum a run must come to have arrived, in the surface's units
DEFAULT_TOLERANCE = 1e-2
MAX_DECK = 12  # slides in one deck
DEFAULT_FPS = 30
DEFAULT_SIZE = (1280, 720)  # 16:9, the shape of a slide
DEFAULT_MAX_FRAMES = 300


@dataclass(frozen=True)
class Options:
    """What to export: the format, the view, and the animation's frames and size."""

    format: str
    view: str = "contour"
    frames: int | None = None  # None: one per step, at most DEFAULT_MAX_FRAMES
    fps: int = DEFAULT_FPS
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    step: int | None = None  # the step a PNG or SVG shows; None: the last
    loop: bool = True
    autoplay: bool = True
    annotate: bool = False  # legends say when each run arrived at a minimum, as well as when it left or diverged
    tolerance: float = DEFAULT_TOLERANCE  # the distance to a minimum that counts as arrived
    subtitle: str = ""  # the teacher's own line under the title
    deck: tuple = ()  # pptx: slides of presets, "preset" or "preset:view", after the link's own
    origin: str = ""  # where the server is, so a slide's notes hold a link that opens
    lang: str = "en"  # the language of every word drawn or written (app.i18n.LANGUAGES): the link's, else asked
    frames_only: bool = False  # html: the precomputed frames alone, without the sliders that recompute runs

    def frame_count(self, steps: int) -> int:
        return self.frames if self.frames is not None else min(steps + 1, DEFAULT_MAX_FRAMES)


def whole(field: str, value, low: int, high: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidInput(field, f"{value!r} is not a whole number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise InvalidInput(field, f"{value!r} is not a whole number")
    value = int(value)
    if not low <= value <= high:
        raise InvalidInput(field, f"{field} = {value} is outside [{low}, {high}]")
    return value


def number(field: str, value, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidInput(field, f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidInput(field, f"{field} = {value!r} is outside [{low:g}, {high:g}]")
    return float(value)


def choice(field: str, value, allowed) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"unknown {field} {value!r}; allowed: {', '.join(allowed)}")
    return value



def frame_steps(steps: int, frames: int) -> np.ndarray:
    """The step each of `frames` frames shows: 0 to `steps`, evenly spaced; one frame shows the last."""
    if frames == 1:
        return np.array([steps])
    return np.rint(np.linspace(0, steps, frames)).astype(int)


