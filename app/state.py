"""The page's whole state as a URL query, read and written exactly as static/js/state.js does.

    surface=beale  surface.kappa=100  start=1,1.5  steps=300  opt=adam,sgd
    adam.lr=0.01 (overrides only)  sched=cosine  sched.t_max=500
    adam.sched=cosine  adam.sched.t_max=500 (Adam's own schedule instead of the shared one)
    noise=0.1  noise_seed=0  seed=0
    display: view=contour|surface3d|loss  speed=1  autoplay=0|1  loop=0|1  inspect=adam  large=1
    extras=1 (each run's extra points on the contour: SAM's ascent point, Schedule-Free's y and z, ...)
    basins=momentum (its basins under the contour)  tuned=sgd,adam  tuned.by=final_loss|steps_to_tol

`request_from_query` gives the body of POST /api/trajectories plus the display
keys; `query_from_request` writes the canonical query back: the run in full,
then only what differs from its default, numbers as JavaScript prints them, so
the page and Python produce the same link for the same state. Unknown keys are
ignored, as a shared link should still open; a bad value raises
core.InvalidInput naming its key.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from urllib.parse import parse_qsl, quote

import core
from app.i18n import supported
from core.engine import (
    MAX_STEPS, optimizer_spec, resolve_hyperparameters, resolve_noise, resolve_schedule, resolve_start, resolve_surface,
)
from core.explore import CRITERIA

VIEWS = ("contour", "surface3d", "loss", "map")
DISPLAY = {"view": "contour", "speed": 1.0, "autoplay": True, "loop": False, "inspect": "", "large": False, "extras": False}
# The map view's optimizer, axes (hyperparameter names, or x and y), colouring, cells per axis and zoomed
# axis ranges ("low,high"); "" is automatic. Display keys too, but only in a body when a link sets them.
MAP_DISPLAY = dict.fromkeys(("map.opt", "map.x", "map.y", "map.color", "map.n", "map.xr", "map.yr"), "")
# The optimizer whose basins of attraction colour the contour, and the optimizers whose lr "Tune lr" chose,
# with the criterion it chose by. Only ticked optimizers count; "" is none.
EXPLORE_DISPLAY = {"basins": "", "tuned": "", "tuned.by": ""}
# The language the page, the embed and the exports speak (app.i18n.LANGUAGES); "" is the reader's own. A display
# key too, in a body only when a link sets it.
LANG_DISPLAY = {"lang": ""}
FLAGS = ("autoplay", "loop", "large", "extras")
DEFAULT_STEPS = 300
MAX_SEED = 2**63 - 1


def request_from_query(qs: str) -> dict:
    """A trajectory request body, plus the display keys, from a query string."""
    q = dict(parse_qsl(link_query(qs), keep_blank_values=True))
    name = q.get("surface", next(iter(core.SURFACES)))
    if name == "custom":
        surface = formula_from_query(q)
        spec, _ = _core("surface", resolve_surface, surface)
    else:
        spec, _ = _core("surface", resolve_surface, name)
        params = {h.name: _number(f"surface.{h.name}", q[f"surface.{h.name}"], h.kind)
                  for h in spec.params if f"surface.{h.name}" in q}
        surface = {"name": name, **params} if params else name
        _core("surface", resolve_surface, surface)

    start = list(spec.start)
    if "start" in q:
        parts = q["start"].split(",")
        if len(parts) != 2:
            raise core.InvalidInput("start", f"start = {_shown(q['start'])} must be two numbers x,y")
        start = [_number("start", p) for p in parts]
        _core("start", resolve_start, start)

    runs = []
    for opt in dict.fromkeys(filter(None, q.get("opt", "").split(","))):  # in order, once each
        ospec = _core("opt", optimizer_spec, opt)
        given = {h.name: _number(f"{opt}.{h.name}", q[f"{opt}.{h.name}"], h.kind)
                 for h in ospec.hyperparameters if f"{opt}.{h.name}" in q}
        resolve_hyperparameters(ospec, given, field=opt)
        own = _schedule(q, f"{opt}.sched")
        runs.append({"optimizer": opt, "hyperparameters": given, **_label(opt, q),
                     **({} if own is None else {"schedule": own})})

    schedule = _schedule(q, "sched")

    seed = _whole("seed", q.get("seed", "0"), 0, MAX_SEED)
    noise = None
    sigma = _number("noise", q.get("noise", "0"))
    if sigma != 0:
        noise = {"sigma": sigma, "seed": _whole("noise_seed", q.get("noise_seed", "0"), 0, MAX_SEED)}
        _core("noise", resolve_noise, noise, seed)

    steps = _whole("steps", q.get("steps", str(DEFAULT_STEPS)), 1, MAX_STEPS)
    body = {"surface": surface, "start": start, "steps": steps, "runs": runs, "schedule": schedule, "noise": noise,
            "seed": seed}
    return {**body, **_display(q), **_explore(q, [run["optimizer"] for run in runs])}


def link_query(link: str) -> str:
    """The query string of a shared link given whole ("http://host/?surface=beale#x"), or of the query itself."""
    link = link.strip()
    if "?" in link:
        link = link.split("?", 1)[1]
    elif "://" in link or link.startswith("/"):
        link = ""  # an address with no query: the default state, as the page shows it
    return link.split("#", 1)[0]


def query_from_request(body: dict) -> str:
    """The canonical query string of a request body (with or without display keys)."""
    surface = body["surface"]
    if isinstance(surface, str):
        name, params = surface, {}
    else:
        name, params = surface.get("name", "custom"), {k: v for k, v in surface.items() if k != "name"}
    runs = body.get("runs", [])
    spec, _ = resolve_surface(surface)
    parts = [("surface", name), *(formula_query(params) if name == "custom" else
                                  ((f"surface.{k}", v) for k, v in params.items())),
             ("start", ",".join(js_number(v) for v in (body.get("start") or spec.start))),
             ("steps", body.get("steps", DEFAULT_STEPS)),
             ("opt", ",".join(run["optimizer"] for run in runs))]
    for run in runs:
        defaults = optimizer_spec(run["optimizer"]).defaults
        given = run.get("hyperparameters") or {}
        parts += [(f"{run['optimizer']}.{k}", v) for k, v in given.items() if v != defaults.get(k)]
        if run.get("label"):
            parts.append((f"{run['optimizer']}.label", run["label"]))
        parts += _schedule_query(run.get("schedule"), f"{run['optimizer']}.sched")
    parts += _schedule_query(body.get("schedule"), "sched")
    noise = body.get("noise")
    if noise and noise.get("sigma", 0) > 0:
        parts += [("noise", noise["sigma"]), ("noise_seed", noise.get("seed", 0))]
    if body.get("seed", 0) != 0:
        parts.append(("seed", body["seed"]))
    for key, default in DISPLAY.items():
        value = body.get(key, default)
        if value != default:
            parts.append((key, int(value) if key in FLAGS else value))
    parts += [(key, body[key]) for key in MAP_DISPLAY if body.get(key)]
    parts += [(key, body[key]) for key in EXPLORE_DISPLAY if body.get(key)]
    parts += [(key, body[key]) for key in LANG_DISPLAY if body.get(key)]
    return "&".join(f"{k}={_encode(v)}" for k, v in parts)


def js_number(v) -> str:
    """A number as JavaScript's String(v) prints it: 0.01, 1e-7, 100, 1.5e+21."""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int) and abs(v) < 10**21:
        return str(v)
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    _, digits, exponent = Decimal(repr(abs(v))).normalize().as_tuple()
    d = "".join(map(str, digits))
    k, n = len(d), exponent + len(d)  # ECMA-262 Number::toString: v = d * 10^(n - k)
    if k <= n <= 21:
        text = d + "0" * (n - k)
    elif 0 < n <= 21:
        text = d[:n] + "." + d[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + d
    else:
        text = d[0] + ("." + d[1:] if k > 1 else "") + f"e{'+' if n > 0 else '-'}{abs(n - 1)}"
    return ("-" if v < 0 else "") + text


def _encode(value) -> str:
    """A value as the page's encodeURIComponent writes it, commas kept readable."""
    text = js_number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
    return quote(text, safe=",!*()~'")


def _core(key: str, resolve, *args):
    """Run one of core's validators, naming the URL key rather than the request field."""
    try:
        return resolve(*args)
    except core.InvalidInput as e:
        field, reason = e.field, e.reason
        renames = (("schedule", key if key.endswith("sched") else "sched"), ("optimizer", key), ("noise.sigma", "noise"), ("noise.seed", "noise_seed"))
        for api_name, url_name in renames:
            if field == api_name or field.startswith(api_name + "."):
                renamed = url_name + field[len(api_name):]
                reason = reason.replace(field, renamed, 1) if reason.startswith(field) else reason
                field = renamed
        raise core.InvalidInput(field, reason) from None


# What JavaScript's Number() reads as a finite decimal: ASCII digits only. Python's float() also takes
# "0.0_1" and other scripts' digits ("١"), which the page refuses: a link must mean one thing.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# JavaScript's Number() trims this whitespace (and Python's float() more, such as U+001C).
_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000\ufeff"


def _shown(text: str) -> str:
    """A value as an error message echoes it: quoted, and cut short."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + f"... ({len(text)} characters)"


def _number(key: str, text: str, kind: str = "float") -> float | int:
    trimmed = text.strip(_JS_SPACE)
    if not _DECIMAL.fullmatch(trimmed):
        if trimmed.lstrip("+-") in ("Infinity", "inf", "nan", "NaN", "infinity"):
            raise core.InvalidInput(key, f"{_shown(text)} is not a finite number")
        raise core.InvalidInput(key, f"{_shown(text)} is not a number")
    if kind == "int" and _INTEGER.fullmatch(trimmed) and len(trimmed) <= 400:
        return int(trimmed)
    value = float(trimmed)
    if not math.isfinite(value):
        raise core.InvalidInput(key, f"{_shown(text)} is not a finite number")
    return int(value) if kind == "int" and value.is_integer() else value


def _whole(key: str, text: str, low: int, high: int) -> int:
    # Read as an integer, not through a float: 9223372036854775807 is a seed, not 9.223372036854776e18.
    value = _number(key, text, "int")
    if not float(value).is_integer():
        raise core.InvalidInput(key, f"{_shown(text)} is not a whole number")
    if not low <= value <= high:
        raise core.InvalidInput(key, f"{key} = {_shown(text.strip(_JS_SPACE))[1:-1]} is outside [{low}, {high}]")
    return int(value)


LABEL_MAX = 40


def _schedule(q: dict, key: str) -> dict | None:
    """The schedule a link gives at `key`: `sched` for every run, `adam.sched` for Adam's own."""
    name = q.get(key)
    if not name:
        return None
    sspec = core.SCHEDULES.get(name)
    if sspec is None:
        raise core.InvalidInput(key, f"unknown schedule {_shown(name)}; allowed: {', '.join(core.SCHEDULES)}")
    schedule = {"name": name, **{h.name: _number(f"{key}.{h.name}", q[f"{key}.{h.name}"], h.kind)
                                 for h in sspec.params if f"{key}.{h.name}" in q}}
    _core(key, resolve_schedule, schedule)
    return schedule


def _schedule_query(schedule: dict | None, key: str) -> list:
    if not schedule:
        return []
    return [(key, schedule["name"]), *((f"{key}.{k}", v) for k, v in schedule.items() if k != "name")]


def _label(opt: str, q: dict) -> dict:
    """A run's own name (`adam.label=eps 1`), as static/js/state.js reads it: trimmed, at most LABEL_MAX."""
    text = q.get(f"{opt}.label", "").strip()[:LABEL_MAX]
    return {"label": text} if text else {}


def _display(q: dict) -> dict:
    out = dict(DISPLAY)
    if "view" in q:
        if q["view"] not in VIEWS:
            raise core.InvalidInput("view", f"unknown view {_shown(q['view'])}; allowed: {', '.join(VIEWS)}")
        out["view"] = q["view"]
    if "speed" in q:
        out["speed"] = _number("speed", q["speed"])
        if out["speed"] <= 0:
            raise core.InvalidInput("speed", f"speed = {q['speed']} must be more than 0")
    for key in FLAGS:
        if key in q:
            if q[key] not in ("0", "1", "true", "false"):
                raise core.InvalidInput(key, f"{key} = {_shown(q[key])} must be 0 or 1")
            out[key] = q[key] in ("1", "true")
    if q.get("inspect"):
        out["inspect"] = _core("inspect", optimizer_spec, q["inspect"]).id
    # A language this server lacks is passed over, as the page does: the link still opens.
    if supported(q.get("lang")):
        out["lang"] = supported(q["lang"])
    out.update((key, q[key]) for key in MAP_DISPLAY if q.get(key))
    return out


def _explore(q: dict, opt: list[str]) -> dict:
    """basins, tuned and tuned.by as static/js/state.js keeps them: about ticked optimizers only."""
    out = {}
    if q.get("basins"):
        basins = _core("basins", optimizer_spec, q["basins"]).id
        if basins in opt:
            out["basins"] = basins
    tuned = [_core("tuned", optimizer_spec, i).id for i in dict.fromkeys(filter(None, q.get("tuned", "").split(",")))]
    tuned = [i for i in tuned if i in opt]
    if tuned:
        out["tuned"] = ",".join(tuned)
        by = q.get("tuned.by") or CRITERIA[0]
        if by not in CRITERIA:
            raise core.InvalidInput("tuned.by", f"unknown criterion {_shown(by)}; allowed: {', '.join(CRITERIA)}")
        out["tuned.by"] = by
    return out


def formula_from_query(q: dict) -> dict:
    """surface=custom&f=<formula>&domain=x_min,x_max,y_min,y_max as the API's surface."""
    if "f" not in q:
        raise core.InvalidInput("f", 'surface=custom needs its formula, e.g. f=x^2%2B3*y^2')
    surface = {"name": "custom", "formula": q["f"]}  # named, as every other surface of a link is
    if q.get("domain"):
        parts = q["domain"].split(",")
        if len(parts) != 4:
            raise core.InvalidInput("domain", f"domain = {q['domain']!r} must be four numbers x_min,x_max,y_min,y_max")
        surface["domain"] = [_number("domain", p) for p in parts]
    try:
        resolve_surface(surface)
    except core.InvalidInput as e:
        raise core.InvalidInput("f" if e.field == "surface.formula" else "domain", e.reason) from None
    return surface


def formula_query(params: dict) -> list[tuple[str, object]]:
    """The link keys of a formula surface: f, and domain unless it is the default."""
    parts: list[tuple[str, object]] = [("f", params["formula"])]
    domain = params.get("domain")
    if domain is not None and [float(v) for v in domain] != list(core.formula.DEFAULT_DOMAIN):
        parts.append(("domain", ",".join(js_number(v) for v in domain)))
    return parts
