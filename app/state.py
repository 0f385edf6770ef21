"""The page's whole state as a URL query, read and written by app/linkgrammar.py's table, as static/js/state.js does.

    surface=beale  surface.kappa=100  start=1,1.5  steps=300  opt=adam,sgd
    adam.lr=0.01 (overrides only)  sched=cosine  sched.t_max=500
    adam.sched=cosine  adam.sched.t_max=500 (Adam's own schedule instead of the shared one)
    noise=0.1  noise_seed=0  seed=0
    display: view=contour|surface3d|loss|map  speed=1  autoplay=0|1  loop=0|1  inspect=adam  large=1  lang=zh-CN
    extras=1 (each run's extra points on the contour: SAM's ascent point, Schedule-Free's y and z, ...)
    basins=momentum (its basins under the contour)  tuned=sgd,adam  tuned.by=final_loss|steps_to_tol
    surface=network  net.data=moons  net.samples=200  net.noise=0.1  net.hidden=16,16  net.act=tanh  net.seed=0
    net.batch=32 (0: full batch)  plane=random|pca|points  plane.centre=initial|final  plane.res=51  plane.span=1
    (a small real network trained by the runs, drawn on a plane through its weights; no start)

`request_from_query` gives the body of POST /api/trajectories plus the display
keys (and the network keys; `network_request` turns a network's into the body of
POST /api/networks/trajectories); `query_from_request` writes the canonical query back: the keys in the
grammar's order, the run in full, then only what differs from its default,
numbers as JavaScript prints them, so the page and Python produce the same link
for the same state. Unknown keys are ignored, as a shared link should still
open; a bad value raises core.InvalidInput naming its key.
"""

from __future__ import annotations

import math
from decimal import Decimal
from urllib.parse import parse_qsl, quote

import core
import core.external
from app import linkgrammar as grammar
from app.linkgrammar import MAX_SEED, number, shown
from core.engine import (
    optimizer_spec, resolve_hyperparameters, resolve_noise, resolve_schedule, resolve_start, resolve_surface,
)

VIEWS = grammar.key("view").choices
DEFAULT_STEPS = grammar.key("steps").default
LABEL_MAX = grammar.key("{opt}.label").max_length
# The parts of the state a link shows rather than computes. Display keys are always in a read body; map and
# explore keys only when the link sets them, and the network's too (all of them for surface=network, which
# network_request computes).
SHOWN = ("display", "map", "explore", "network")
DISPLAY = {k.key: k.default for k in grammar.keys("display")}
MAP_DISPLAY = {k.key: k.default for k in grammar.keys("map")}
EXPLORE_DISPLAY = {k.key: k.default for k in grammar.keys("explore")}
FLAGS = tuple(k.key for k in grammar.KEYS if k.kind == "bool")
NETWORK = "network"  # the surface a network link names
__all__ = ["DISPLAY", "EXPLORE_DISPLAY", "FLAGS", "LABEL_MAX", "MAP_DISPLAY", "MAX_SEED", "NETWORK", "VIEWS",
           "display_keys", "is_network", "js_number", "link_query", "network_request", "query_from_request",
           "request_from_query"]


def display_keys() -> list[str]:
    """Every key of a link that says how it is shown, not what is computed."""
    return [k.key for k in grammar.KEYS if k.part in SHOWN]


def choices(k: grammar.LinkKey) -> tuple:
    """The values an enum or list key may take: its own, or its registry's ids."""
    if k.choices == "optimizers":
        return (*core.OPTIMIZERS, *core.external.OFFERED)
    if k.choices == "surfaces":
        return (*core.SURFACES, "custom", NETWORK)  # custom: a typed formula, `f`; network: the net.* keys
    if k.choices == "schedules":
        return tuple(core.SCHEDULES)
    return k.choices


def _given(q: dict, k: grammar.LinkKey):
    """A key's value in a link, read by its row; its default when the link leaves it out (or blank, if "")."""
    text = q.get(k.key)
    if text is None or text == "" and k.default == "":
        return k.default
    return grammar.read(k, text, choices(k))


def request_from_query(qs: str) -> dict:
    """A trajectory request body, plus the display keys, from a query string."""
    q = dict(parse_qsl(link_query(qs), keep_blank_values=True))
    name = q.get("surface", grammar.key("surface").default)
    if name == NETWORK:
        spec, surface = None, NETWORK
    elif name == "custom":
        surface = formula_from_query(q)
        spec, _ = _core("surface", resolve_surface, surface)
    else:
        spec, _ = _core("surface", resolve_surface, name)
        params = {h.name: number(f"surface.{h.name}", q[f"surface.{h.name}"], h.kind)
                  for h in spec.params if f"surface.{h.name}" in q}
        surface = {"name": name, **params} if params else name
        _core("surface", resolve_surface, surface)

    start = None if spec is None else list(spec.start)
    if "start" in q and spec is not None:  # a network starts from its initial weights
        parts = q["start"].split(",")
        if len(parts) != 2:
            raise core.InvalidInput("start", f"start = {shown(q['start'])} must be two numbers x,y")
        start = [number("start", p) for p in parts]
        _core("start", resolve_start, start)

    runs = []
    for opt in dict.fromkeys(filter(None, q.get("opt", "").split(","))):  # in order, once each
        ospec = _core("opt", optimizer_spec, opt)
        given = {h.name: number(f"{opt}.{h.name}", q[f"{opt}.{h.name}"], h.kind)
                 for h in ospec.hyperparameters if f"{opt}.{h.name}" in q}
        resolve_hyperparameters(ospec, given, field=opt)
        own = _schedule(q, f"{opt}.sched")
        runs.append({"optimizer": opt, "hyperparameters": given, **_label(opt, q),
                     **({} if own is None else {"schedule": own})})

    schedule = _schedule(q, "sched")
    flat = {k.key: _given(q, k) for k in grammar.keys("problem") if k.plain}
    noise = None
    if flat["noise"] != 0:
        noise = {"sigma": flat["noise"], "seed": flat["noise_seed"]}
        _core("noise", resolve_noise, noise, flat["seed"])
    body = {"surface": surface, "start": start, "steps": flat["steps"], "runs": runs, "schedule": schedule,
            "noise": noise, "seed": flat["seed"]}
    # A network's keys: every one for surface=network, elsewhere those the link sets (kept, as the page keeps them).
    net = {k.key: _given(q, k) for k in grammar.keys("network")}
    body.update(net if surface == NETWORK else {key: v for key, v in net.items()
                                                if not _is_default(grammar.key(key), v)})
    if surface == NETWORK:
        _check_network(body)
    # Display keys are always in the body; map keys only when the link sets them.
    shown_keys = {k.key: _given(q, k) for k in grammar.KEYS if k.part in ("display", "map") and k.plain}
    shown_keys = {key: v for key, v in shown_keys.items() if grammar.key(key).part == "display" or v != ""}
    return {**body, **shown_keys, **_explore(q, [run["optimizer"] for run in runs])}


def is_network(body: dict) -> bool:
    return body.get("surface") == NETWORK


def network_spec(body: dict) -> dict:
    """core's network spec from a read link's net.* keys."""
    spec = {"data": body["net.data"], "samples": body["net.samples"], "hidden": list(body["net.hidden"]),
            "activation": body["net.act"], "seed": body["net.seed"], "noise": body["net.noise"]}
    return {**spec, "batch_size": body["net.batch"]} if body["net.batch"] else spec


def network_plane(body: dict) -> dict:
    plane = {"kind": body["plane"], "centre": body["plane.centre"], "resolution": body["plane.res"]}
    return {**plane, "span": body["plane.span"]} if body["plane.span"] else plane


def network_request(body: dict) -> dict:
    """The body of POST /api/networks/trajectories (and of an export's `network`) for a read network link."""
    return {"network": network_spec(body), "steps": body["steps"], "runs": body["runs"], "schedule": body["schedule"],
            "noise": body["noise"], "seed": body["seed"], "plane": network_plane(body)}


# core's names for a network's fields, as a link names them.
NETWORK_KEYS = {"network.data": "net.data", "network.samples": "net.samples", "network.noise": "net.noise",
                "network.hidden": "net.hidden", "network.activation": "net.act", "network.seed": "net.seed",
                "network.batch_size": "net.batch", "plane": "plane", "centre": "plane.centre", "span": "plane.span",
                "resolution": "plane.res"}


def _check_network(body: dict) -> None:
    """What only core knows of a network link (a data set's own sample limit, a batch within the samples)."""
    try:
        problem = core.network_problem(network_spec(body))
        plane = network_plane(body)
        core.network.check_plane(problem, len(body["runs"]), plane["kind"], plane["centre"], plane["resolution"],
                                 plane.get("span"), 0, (0, 1))
    except core.InvalidInput as e:
        field = e.field.split("[")[0].removesuffix(".run")
        key = NETWORK_KEYS.get(field, field)
        reason = e.reason.replace(field, key, 1) if e.reason.startswith(field) else e.reason
        raise core.InvalidInput(key, reason) from None


def link_query(link: str) -> str:
    """The query string of a shared link given whole ("http://host/?surface=beale#x"), or of the query itself."""
    link = link.strip()
    if "?" in link:
        link = link.split("?", 1)[1]
    elif "://" in link or link.startswith("/"):
        link = ""  # an address with no query: the default state, as the page shows it
    return link.split("#", 1)[0]


def query_from_request(body: dict) -> str:
    """The canonical query string of a request body (with or without display keys): the grammar's keys in order."""
    surface = body["surface"]
    if isinstance(surface, str):
        name, params = surface, {}
    else:
        name, params = surface.get("name", "custom"), {k: v for k, v in surface.items() if k != "name"}
    spec = None if surface == NETWORK else resolve_surface(surface)[0]
    noise = body.get("noise") or {}
    values = {**body, "noise": noise.get("sigma", 0), "noise_seed": noise.get("seed", 0)}
    runs = body.get("runs", [])
    # The keys whose value shapes the runs, written by code of their own; a row that is None is written
    # with the one before it (a surface's formula with the surface's parameters, every run's keys together).
    own = {
        "surface": lambda: [("surface", name)],
        "surface.{param}": lambda: (formula_query(params) if name == "custom"
                                    else [(f"surface.{k}", v) for k, v in params.items()]),
        "f": None, "domain": None,
        "start": lambda: [] if spec is None else [
            ("start", ",".join(js_number(v) for v in (body.get("start") or spec.start)))],
        "opt": lambda: [("opt", ",".join(run["optimizer"] for run in runs))],
        "{opt}.{hp}": lambda: [part for run in runs for part in _run_query(run)],
        "{opt}.label": None, "{opt}.sched": None, "{opt}.sched.{param}": None,
        "sched": lambda: _schedule_query(body.get("schedule"), "sched"), "sched.{param}": None,
    }
    parts, written = [], set()
    for k in grammar.KEYS:
        if k.key in own:
            parts += own[k.key]() if own[k.key] else []
            continue
        value = values.get(k.key, k.default)
        rule, _, after = k.write.partition(":")
        if rule == "always" or rule == "with" and after in written or rule == "changed" and not _is_default(k, value):
            parts.append((k.key, grammar.write(k, value)))
            written.add(k.key)
    return "&".join(f"{k}={_encode(v)}" for k, v in parts)


def _is_default(k: grammar.LinkKey, value) -> bool:
    if k.kind == "list" and isinstance(k.default, tuple) and k.default:
        return list(value) == list(k.default)
    return value == k.default or k.default in ("", (), None) and not value


def _run_query(run: dict) -> list:
    """A run's keys: its hyperparameters that differ from the defaults, its label, its own schedule."""
    opt = run["optimizer"]
    defaults = optimizer_spec(opt).defaults
    parts = [(f"{opt}.{k}", v) for k, v in (run.get("hyperparameters") or {}).items() if v != defaults.get(k)]
    if run.get("label"):
        parts.append((f"{opt}.label", run["label"]))
    return parts + _schedule_query(run.get("schedule"), f"{opt}.sched")


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


def _schedule(q: dict, key: str) -> dict | None:
    """The schedule a link gives at `key`: `sched` for every run, `adam.sched` for Adam's own."""
    name = q.get(key)
    if not name:
        return None
    row = grammar.key("sched")
    grammar.read(row, name, choices(row), key)
    sspec = core.SCHEDULES[name]
    schedule = {"name": name, **{h.name: number(f"{key}.{h.name}", q[f"{key}.{h.name}"], h.kind)
                                 for h in sspec.params if f"{key}.{h.name}" in q}}
    _core(key, resolve_schedule, schedule)
    return schedule


def _schedule_query(schedule: dict | None, key: str) -> list:
    if not schedule:
        return []
    return [(key, schedule["name"]), *((f"{key}.{k}", v) for k, v in schedule.items() if k != "name")]


def _label(opt: str, q: dict) -> dict:
    """A run's own name (`adam.label=eps 1`), as static/js/state.js reads it: trimmed, at most LABEL_MAX."""
    text = grammar.read(grammar.key("{opt}.label"), q.get(f"{opt}.label", ""))
    return {"label": text} if text else {}


def _explore(q: dict, opt: list[str]) -> dict:
    """basins, tuned and tuned.by as static/js/state.js keeps them: about ticked optimizers only."""
    out = {}
    basins = _given(q, grammar.key("basins"))
    if basins in opt:
        out["basins"] = basins
    tuned_key = grammar.key("tuned")
    tuned = [i for i in grammar.read(tuned_key, q.get("tuned", ""), choices(tuned_key)) if i in opt]
    if tuned:
        out["tuned"] = ",".join(tuned)
        by = grammar.key("tuned.by")
        out["tuned.by"] = _given(q, by) or choices(by)[0]  # the first criterion unless the link names one
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
        surface["domain"] = [number("domain", p) for p in parts]
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
