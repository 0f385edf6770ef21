"""`gradscape build-site DIR`: the page as static files that any static host serves, under any sub-path.

The page and the embed view are rendered by the app itself (a GET through its ASGI interface, no
server started), so the files are what the server sends; their absolute URLs are then made relative
and the pages marked "static-site", which the page's script reads: it computes in the browser what
its engine can take, and whatever needs the server says so instead of asking (static/js/api.js).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

from app.i18n import DEFAULT, LANGUAGES
from app.presets import PRESETS
from app.settings import PLOTLY_JS, STATIC

PAGES = {"index.html": "/", "embed.html": "/embed"}
# The API's documentation describes a server this site does not have: its assets stay out.
LEFT_OUT = ("docs", "redoc", "swagger-ui")
_PLOTLY = re.compile(r'(src|href)="/vendor/plotly[^"]*"')
_ABSOLUTE = re.compile(r'(?:src|href|action)="/(?!/)[^"]*"')


class SiteError(RuntimeError):
    """The page names something a static site cannot serve."""


def page_file(name: str, lang: str) -> str:
    """The file of page `name` ("index.html", "embed.html") in `lang`: index.html, index.zh-CN.html, ..."""
    return name if lang == DEFAULT else name.replace(".html", f".{lang}.html")


def _get(app, path: str, query: str = "") -> bytes:
    """The body of GET `path` from the ASGI `app`, as the server would send it; raises SiteError on any status but 200."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 0), "server": ("localhost", 80)}
    status, body = 0, []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    asyncio.run(app(scope, receive, send))
    if status != 200:
        raise SiteError(f"GET {path} answered {status}")
    return b"".join(body)


def static_page(text: str, name: str = "index.html") -> str:
    """Page `name` as the server rendered it, with URLs relative to the site's folder, its language switch
    naming each language's file, and the static-site mark listing the languages the site holds."""
    plotly = PLOTLY_JS.relative_to(STATIC.parent).as_posix()
    text = _PLOTLY.sub(lambda m: f'{m[1]}="{plotly}"', text)
    text = text.replace('="/static/', '="static/').replace('href="/"', 'href="./"')
    text = re.sub(r'href="\?lang=([A-Za-z-]+)"', lambda m: f'href="{page_file(name, m[1])}?lang={m[1]}"', text)
    text, marked = re.subn(r"<html\b([^>]*)>", rf'<html\1 class="static-site" data-languages="{" ".join(LANGUAGES)}">',
                           text, count=1)
    left = _ABSOLUTE.findall(text)
    if not marked or 'class="static-site" class=' in text or left:
        raise SiteError(f"the page names what a static site cannot serve: {', '.join(left) or 'its <html> class'}")
    return text


def build_site(out: Path) -> list[Path]:
    """Write the page, the embed view, their assets, the catalog and the presets into `out`; the files written."""
    from app.main import create_app

    app = create_app()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    ignore = shutil.ignore_patterns(*LEFT_OUT)
    shutil.copytree(STATIC, out / "static", ignore=ignore, dirs_exist_ok=True)
    written.extend(p for p in (out / "static").rglob("*") if p.is_file())
    for lang in LANGUAGES:
        for name, path in PAGES.items():
            page = out / page_file(name, lang)
            page.write_text(static_page(_get(app, path, f"lang={lang}").decode("utf-8"), name), encoding="utf-8")
            written.append(page)
    (out / "catalog.json").write_bytes(_get(app, "/api/catalog"))
    # Each preset as the link that opens it here, relative to the site's folder.
    presets = [{**p.as_dict(), "href": f"index.html?{p.query}"} for p in PRESETS]
    (out / "presets.json").write_text(json.dumps(presets, ensure_ascii=False, indent=1), encoding="utf-8")
    written.extend((out / "catalog.json", out / "presets.json"))
    return written
