"""The grammar of a shared link, once: every key, its kind, default, limits, part of the state and how it is written.

app/state.py reads and writes links from `KEYS`; the page gets the same table in its catalog (`as_dicts`) and
static/js/state.js reads and writes links from it, so a new key is one row here. A key in braces is a
family: `{opt}.{hp}` is any ticked optimizer's hyperparameter, whose kind and limits are the registry's.

Kinds: `number`, `int`, `bool` (written 0 or 1, read from 0, 1, true, false), `enum` (one of `choices`,
or of the registry `choices` names: "surfaces", "optimizers", "schedules"), `text` (trimmed, cut at
`max_length`), `list` (comma-separated `item`s, `length` of them when fixed; a list of `int`s holds at most
`max_length` of them, each within `low` and `high`). Writing: `always`, `changed`
(when not the default), or `with:<key>` (whenever that key is written).

The readers below are the page's too, in JavaScript (static/js/state.js `readKey`): each says what is
wrong in the same words, numbers as Python's "%g" prints them.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import core
from app.i18n import LANGUAGES
from core import datasets, mlp, network
from core.engine import MAX_NOISE_SIGMA, MAX_STEPS
from core.explore import CRITERIA

# "network": what surface=network trains and the plane it is shown on (core.network's limits); kept in every
# state, as the display keys are, and used only when the surface is the network.
PARTS = ("problem", "run", "display", "map", "explore", "network")
# The largest integer the page's numbers (doubles) hold exactly: a seed in a link means the same on both sides.
MAX_SEED = 2**53 - 1


@dataclass(frozen=True)
class LinkKey:
    key: str
    kind: str
    part: str
    default: object = ""
    low: float | None = None
    high: float | None = None
    above: bool = False  # `low` itself is not allowed: "must be more than"
    choices: tuple | str = ()
    noun: str = ""  # what an enum's value is called in "unknown view 'side'"
    item: str = ""
    length: int | None = None
    max_length: int | None = None
    write: str = "changed"
    # Read and written by its row alone; False for the keys whose value names or shapes the runs (the surface,
    # the optimizers and what belongs to them), which app/state.py and state.js read by the row's kind with
    # code of their own around it.
    plain: bool = True

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


KEYS: tuple[LinkKey, ...] = (
    # The problem, then each run, in the order a link writes them.
    LinkKey("surface", "enum", "problem", default=next(iter(core.SURFACES)), choices="surfaces", noun="surface",
            write="always", plain=False),
    LinkKey("surface.{param}", "number", "problem", default=None, choices="surfaces", plain=False),
    LinkKey("f", "text", "problem", plain=False),  # surface=custom: the formula
    LinkKey("domain", "list", "problem", default=None, item="number", length=4, plain=False),
    LinkKey("start", "list", "problem", default=None, item="number", length=2, write="always", plain=False),
    LinkKey("steps", "int", "problem", default=300, low=1, high=MAX_STEPS, write="always"),
    LinkKey("opt", "list", "problem", default=(), item="enum", choices="optimizers", noun="optimizer", write="always",
            plain=False),
    LinkKey("{opt}.{hp}", "number", "run", default=None, choices="optimizers", plain=False),
    LinkKey("{opt}.label", "text", "run", max_length=40, plain=False),
    LinkKey("{opt}.sched", "enum", "run", choices="schedules", noun="schedule", plain=False),
    LinkKey("{opt}.sched.{param}", "number", "run", default=None, choices="schedules", plain=False),
    LinkKey("sched", "enum", "problem", choices="schedules", noun="schedule", plain=False),
    LinkKey("sched.{param}", "number", "problem", default=None, choices="schedules", plain=False),
    LinkKey("noise", "number", "problem", default=0.0, low=0.0, high=MAX_NOISE_SIGMA),
    LinkKey("noise_seed", "int", "problem", default=0, low=0, high=MAX_SEED, write="with:noise"),
    LinkKey("seed", "int", "problem", default=0, low=0, high=MAX_SEED),
    # surface=network: the data, the network and its batches, then the plane its landscape is drawn on.
    LinkKey("net.data", "enum", "network", default="moons", choices=tuple(datasets.DATASETS), noun="data set"),
    LinkKey("net.samples", "int", "network", default=200, low=network.MIN_SAMPLES, high=datasets.MAX_POINTS),
    LinkKey("net.noise", "number", "network", default=0.1, low=0.0, high=network.MAX_NOISE),
    LinkKey("net.hidden", "list", "network", default=(16, 16), item="int", low=1, high=network.MAX_WIDTH,
            max_length=network.MAX_HIDDEN_LAYERS),
    LinkKey("net.act", "enum", "network", default="tanh", choices=tuple(mlp.ACTIVATIONS), noun="activation"),
    LinkKey("net.seed", "int", "network", default=0, low=0, high=MAX_SEED),
    LinkKey("net.batch", "int", "network", default=0, low=0, high=datasets.MAX_POINTS),  # 0: the full batch
    LinkKey("plane", "enum", "network", default="pca", choices=network.PLANES, noun="plane"),
    LinkKey("plane.centre", "enum", "network", default="initial", choices=("initial", "final"), noun="centre"),
    LinkKey("plane.res", "int", "network", default=51, low=2, high=network.MAX_RESOLUTION),
    # 0: the paths' extent. core.network.check_plane's top, a literal there (tests/test_link_grammar.py holds them equal).
    LinkKey("plane.span", "number", "network", default=0.0, low=0.0, high=1000.0),
    # How it is shown.
    LinkKey("view", "enum", "display", default="contour", choices=("contour", "surface3d", "loss", "map"), noun="view"),
    LinkKey("speed", "number", "display", default=1.0, low=0.0, above=True),
    LinkKey("autoplay", "bool", "display", default=True),
    LinkKey("loop", "bool", "display", default=False),
    LinkKey("inspect", "enum", "display", choices="optimizers", noun="optimizer"),
    LinkKey("large", "bool", "display", default=False),
    LinkKey("extras", "bool", "display", default=False),  # each run's extra points: SAM's ascent point, ...
    LinkKey("lang", "enum", "display", choices=tuple(LANGUAGES), noun="language"),
    # The map view: its optimizer, axes, colouring, cells per axis and zoomed ranges ("low,high"). Each is read
    # as text; what a map cannot use falls back to the automatic choice ("") there, as the page's map does.
    *(LinkKey(f"map.{name}", "text", "map") for name in ("opt", "x", "y", "color", "n", "xr", "yr")),
    # The optimizer whose basins colour the contour, and the ones whose lr "Tune lr" chose, and by what.
    # They name ticked optimizers only.
    LinkKey("basins", "enum", "explore", choices="optimizers", noun="optimizer", plain=False),
    LinkKey("tuned", "list", "explore", item="enum", choices="optimizers", noun="optimizer", plain=False),
    LinkKey("tuned.by", "enum", "explore", choices=CRITERIA, noun="criterion", plain=False),
)


def keys(part: str | None = None) -> tuple[LinkKey, ...]:
    """The grammar's keys (of one part of the state), read from `KEYS` each time so a new row counts at once."""
    return tuple(k for k in KEYS if part is None or k.part == part)


def key(name: str) -> LinkKey:
    return next(k for k in KEYS if k.key == name)


def as_dicts() -> list[dict]:
    """The table as the page's catalog gives it to static/js/state.js."""
    return [k.as_dict() for k in KEYS]


# --- reading one value ---------------------------------------------------------------------------------------

# What JavaScript's Number() reads as a finite decimal: ASCII digits only. Python's float() also takes
# "0.0_1" and other scripts' digits ("١"), which the page refuses: a link must mean one thing.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# JavaScript's Number() trims this whitespace (and Python's float() more, such as U+001C).
JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000\ufeff"
FLAG_TEXTS = {"0": False, "1": True, "false": False, "true": True}


def shown(text: str) -> str:
    """A value as an error message echoes it: quoted, and cut short."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + f"... ({len(text)} characters)"


def number(key: str, text: str, kind: str = "float") -> float | int:
    """A link's text as JavaScript's Number() reads it, or InvalidInput naming `key`."""
    trimmed = text.strip(JS_SPACE)
    if not _DECIMAL.fullmatch(trimmed):
        if trimmed.lstrip("+-") in ("Infinity", "inf", "nan", "NaN", "infinity"):
            raise core.InvalidInput(key, f"{shown(text)} is not a finite number")
        raise core.InvalidInput(key, f"{shown(text)} is not a number")
    if kind == "int" and _INTEGER.fullmatch(trimmed) and len(trimmed) <= 400:
        return int(trimmed)
    value = float(trimmed)
    if not math.isfinite(value):
        raise core.InvalidInput(key, f"{shown(text)} is not a finite number")
    return int(value) if kind == "int" and value.is_integer() else value


def _echo(text: str) -> str:
    return text if len(text) <= 40 else shown(text)


def _g(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def read(k: LinkKey, text: str, choices=None, name: str | None = None):
    """The value of a key's text, or InvalidInput naming the key and what it may be.

    `choices`: the allowed values when the row names a registry; `name`: the key a family's row is read for
    (`adam.sched` by `{opt}.sched`).
    """
    name, allowed = name or k.key, choices if choices is not None else k.choices
    if k.kind == "int":
        # Read as an integer, not through a float: 9007199254740993 is outside the limit, not 2**53 rounded.
        value = number(name, text, "int")
        if not float(value).is_integer():
            raise core.InvalidInput(name, f"{shown(text)} is not a whole number")
        if not k.low <= value <= k.high:
            raise core.InvalidInput(name, f"{name} = {_echo(text.strip(JS_SPACE))} is outside [{k.low}, {k.high}]")
        return int(value)
    if k.kind == "number":
        value = number(name, text)
        if k.above and not value > k.low:
            raise core.InvalidInput(name, f"{name} = {_g(value)} must be more than {_g(k.low)}")
        if not (k.above or k.low is None or value >= k.low) or not (k.high is None or value <= k.high):
            raise core.InvalidInput(name, f"{name} = {_g(value)} is outside [{_g(k.low)}, {_g(k.high)}]")
        return value
    if k.kind == "bool":
        if text not in FLAG_TEXTS:
            raise core.InvalidInput(name, f"{name} = {shown(text)} must be 0 or 1")
        return FLAG_TEXTS[text]
    if k.kind == "enum":
        if text not in allowed:
            raise core.InvalidInput(name, f"unknown {k.noun} {shown(text)}; allowed: {', '.join(allowed)}")
        return text
    if k.kind == "text":
        return text.strip()[:k.max_length] if k.max_length else text
    if k.kind == "list" and k.item == "int":
        # In order, every item: a network's widths "16,16" (none: "", a network without hidden layers).
        items = [] if text.strip(JS_SPACE) == "" else text.split(",")
        if len(items) > k.max_length:
            raise core.InvalidInput(name, f"{name} = {shown(text)} has {len(items)} items, more than the limit of "
                                          f"{k.max_length}")
        row = LinkKey(name, "int", k.part, low=k.low, high=k.high)
        return [read(row, item) for item in items]
    if k.kind == "list" and k.item == "enum":
        # In order, once each; an empty item (a trailing comma) means nothing.
        items = list(dict.fromkeys(filter(None, text.split(","))))
        return [read(LinkKey(name, "enum", k.part, noun=k.noun), item, allowed) for item in items]
    raise TypeError(f"{name}: a {k.kind} of {k.item} is read by app/state.py itself")  # a row, not a link, is wrong


def write(k: LinkKey, value):
    """What a plain key's value looks like in a link (a flag as 0 or 1), before it is encoded."""
    if k.kind == "list" and k.item == "int":
        return ",".join(map(str, value))
    return int(value) if k.kind == "bool" else value
