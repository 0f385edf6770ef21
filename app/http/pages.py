"""Pages: the interactive page, the embed view, and the assets they load.

Every control is rendered from the registry, and the catalog is embedded in the
page so its script needs no request before drawing. Plotly.js (a bundle of
only the trace types drawn here) and KaTeX are served from static/vendor:
nothing comes from a CDN, so the page works in a classroom with no internet.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

import core
import core.external
from app import i18n, linkgrammar, palette, state
from app.serialize import JSONBytes, dumps
from app.services.validation import Invalid
from app.http.templating import templates
from app.presets import PRESETS
from app.services.catalog import VIEW_LABELS, registry, run_settings
from app.services.formulas import custom_surface_entry
from app.services.networks import network_surface_entry
from app.settings import PLOTLY_JS, STATIC, get_settings
from core.engine import MAX_START

# The file's name holds plotly.js's version and the URL a hash of its bytes, so a rebuilt bundle
# gets a new URL and the old one can be cached for good.
PLOTLY_HASH = hashlib.sha256(PLOTLY_JS.read_bytes()).hexdigest()[:10]
PLOTLY_URL = f"/vendor/{PLOTLY_JS.name.removesuffix('.min.js')}-{PLOTLY_HASH}.min.js"

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=STATIC), name="static")


# Preloaded together, so the browser fetches the page's modules at once rather than import by import.
MODULES = (*sorted(p.name for p in (STATIC / "js").glob("*.js")), "generated/kernels.js", "generated/palette.js")
SPEEDS = (0.25, 0.5, 1, 2, 4, 8)
# 16:9 for slides first; 800 x 600 for a 4:3 projector.
EXPORT_SIZES = ((1280, 720), (1920, 1080), (800, 600))
# An iframe's sizes for a 16:9 slide.
EMBED_SIZES = ((640, 360), (800, 450), (960, 540), (1280, 720))
VIEWS = tuple((view, VIEW_LABELS[view]) for view in state.VIEWS)


def catalog(lang: str = i18n.DEFAULT) -> dict:
    """The registry as the page's script reads it, with each optimizer's colour and dash, its text in `lang`."""
    return _catalog(tuple(core.external.OFFERED), lang)


@lru_cache(maxsize=8)
def _catalog(offered: tuple, lang: str) -> dict:
    return i18n.translator(lang).catalog({
        **registry(),
        # The page's "Custom…" choice, and the network (drawn on a plane through its weights).
        "surfaces": [*registry()["surfaces"], custom_surface_entry(), network_surface_entry()],
        "run_settings": list(run_settings()),
        # The link's grammar, which static/js/state.js reads and writes links by, as app/state.py does.
        "links": linkgrammar.as_dicts(),
        "palette": palette.as_dict(),
        "presets": [p.as_dict() for p in PRESETS],
        "speeds": list(SPEEDS),
        "views": list(state.VIEWS),
        "view_labels": [{"id": view, "label": VIEW_LABELS[view]} for view in state.VIEWS],
        "lang": lang,
        "languages": [{"id": tag, "name": name} for tag, name in i18n.NAMES.items()],
        # The page computes runs itself only within the limits the server would hold a request to.
        "max_runs": get_settings().max_runs,
        "max_start": MAX_START,
    })


# The network's sliders: the link's rows (their limits are core's), with the help and slider reach a control needs.
NETWORK_CONTROLS = {
    "net.samples": ("samples", "training samples, made from the seed", {"log": True, "slider_high": 2000}),
    "net.noise": ("noise", "standard deviation of the noise added to the inputs", {}),
    "net.batch": ("batch", "samples per step (0: every sample, full batch)", {"slider_high": 200}),
    "net.seed": ("seed", "seed of the data and the initial weights", {"slider_high": 99}),
    "plane.res": ("resolution", "points per side of the plane's grid", {}),
    "plane.span": ("span", "the grid covers [-span, span] (0: the paths with a margin)", {"slider_high": 5}),
}


def network_controls(t) -> dict:
    """Each network slider's spec in number_control's terms, its words in the page's language."""
    out = {}
    for key, (name, help_text, extra) in NETWORK_CONTROLS.items():
        row = linkgrammar.key(key)
        out[key] = {"name": name, "symbol": "", "kind": "float" if row.kind == "number" else "int", "low": row.low,
                    "high": row.high, "default": row.default, "log": False, "help": t(help_text), **extra}
    return out


def catalog_json(lang: str = i18n.DEFAULT) -> str:
    """The page's catalog in `lang` as the JSON the page embeds (and /api/catalog?lang= gives the registry's part)."""
    return _catalog_json_for(tuple(core.external.OFFERED), lang)


@lru_cache(maxsize=8)
def _catalog_json_for(offered: tuple, lang: str) -> str:
    # "<" escaped so no string in the registry can close the <script> element.
    return json.dumps(catalog(lang), separators=(",", ":")).replace("<", "\\u003c")


def _html_class(request: Request) -> str:
    """Large text set before the first paint, so it never flashes small (and no inline script is needed)."""
    return "large" if linkgrammar.FLAG_TEXTS.get(request.query_params.get("large", "")) else ""


@lru_cache(maxsize=8)
def messages_json(lang: str) -> str:
    """The page's language and its scripts' translations (static/js/i18n.js reads them)."""
    data = {"lang": lang, "messages": i18n.script_messages(lang)}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _lang_links(request: Request, lang: str) -> list[tuple[str, str, str]]:
    """The page's address in each language: (tag, its name in itself, the link, "" for the page's own). The page's script
    rewrites the link to its current state when it is followed, so a switch keeps every setting."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return [(tag, name, "" if tag == lang else "?" + urlencode([*kept, ("lang", tag)], quote_via=quote))
            for tag, name in i18n.NAMES.items()]


def _context(request: Request) -> dict:
    # The link's lang, else the cookie the page's switch sets, else the browser's preference.
    lang = i18n.request_lang(request)
    t = i18n.translator(lang)
    cat = catalog(lang)
    styles = cat["palette"]["optimizers"]
    return {
        "request": request,
        "lang": lang,
        "t": t,  # {{ t("Contour") }} in a template
        "html_class": _html_class(request),
        "catalog_json": catalog_json(lang),
        "messages_json": messages_json(lang),
        "lang_links": _lang_links(request, lang),
        "optimizers": [{**o, **styles[o["id"]]} for o in cat["optimizers"]],
        "surfaces": cat["surfaces"],
        "schedules": cat["schedules"],
        "run_settings": {s["name"]: s for s in cat["run_settings"]},
        "presets": cat["presets"],
        "speeds": SPEEDS,
        "views": [(view, t(label)) for view, label in VIEWS],
        "export_sizes": EXPORT_SIZES,
        "embed_sizes": EMBED_SIZES,
        "network": network_controls(t),
        "network_entry": next(x for x in cat["surfaces"] if x["id"] == state.NETWORK),
        "activations": linkgrammar.key("net.act").choices,
        "plotly_url": PLOTLY_URL,
        "modules": MODULES,
    }


@router.get("/", response_class=HTMLResponse)
def index(request: Request):
    """The interactive page: controls, the contour, 3-D and loss views, the inspector."""
    context = _context(request)
    return templates.TemplateResponse(request, "index.html", context, headers=i18n.language_headers(context["lang"]))


@router.get("/embed", response_class=HTMLResponse)
def embed(request: Request):
    """One view of a shared state with minimal chrome, for an iframe in slides."""
    context = _context(request)
    return templates.TemplateResponse(request, "embed.html", context, headers=i18n.language_headers(context["lang"]))


@lru_cache(maxsize=1)
def _plotly_bytes() -> tuple[bytes, bytes]:
    raw = PLOTLY_JS.read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


@router.get(PLOTLY_URL)
def plotly_js(accept_encoding: Annotated[str, Header()] = "") -> Response:
    """The vendored plotly.js, gzipped once and cached for a year (the URL names its version and hash)."""
    raw, packed = _plotly_bytes()
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in accept_encoding:
        return Response(packed, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type="text/javascript", headers=headers)


@router.post("/api/networks/data", response_class=JSONBytes)
def network_data(spec: dict = Body(...)) -> Response:
    """A network spec's data (inputs X, labels y), for the page's decision-boundary plots."""
    try:
        problem = core.network_problem(spec)
    except core.InvalidInput as e:
        raise Invalid.from_core(e, ["body"]) from None
    data = core.datasets.DATASETS[problem.spec["data"]]
    return Response(dumps({"X": problem.X, "y": problem.y.astype(float), "features": data.features,
                           "classes": data.classes}), media_type="application/json")
