"""The API docs, /docs (Swagger UI) and /redoc (ReDoc), served from this server alone.

FastAPI's built-in docs pages load their scripts and styles from a CDN and start Swagger UI with an
inline script. These pages load the copies in static/vendor/ (see scripts/vendor-docs) and start
them from a file, so the docs work in a classroom with no internet and under a
Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.http.templating import templates

router = APIRouter(include_in_schema=False)

# Scripts from this origin only, as on every page. Swagger UI's stylesheet draws its icons from
# data: URLs; ReDoc's styles are made at run time in <style> elements (styled-components) and its
# search runs in a worker it starts from a blob: URL.
POLICIES = {
    "swagger": "default-src 'self'; img-src 'self' data:",
    "redoc": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:",
}


def _context(request: Request) -> dict:
    app = request.app
    root = request.scope.get("root_path", "").rstrip("/")
    return {"title": app.title, "openapi_url": root + app.openapi_url, "static": root + "/static"}


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request):
    """The API as Swagger UI: every route, with a form to try it."""
    return templates.TemplateResponse(request, "docs_swagger.html", _context(request),
                                      headers={"Content-Security-Policy": POLICIES["swagger"]})


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request):
    """The API as ReDoc: one long reference page."""
    return templates.TemplateResponse(request, "docs_redoc.html", _context(request),
                                      headers={"Content-Security-Policy": POLICIES["redoc"]})
