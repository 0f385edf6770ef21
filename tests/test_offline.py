"""Every page, the API docs included, loads from this server alone and needs no inline script.

A classroom may have no internet, and the server sends a Content-Security-Policy that allows
scripts from this origin only: the browser test loads each page with every request to another host
refused, and checks that the docs render under the policy their answers carry, with no violation.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from browser_helpers import VIEWPORT

PAGES = ["/", "/embed", "/docs", "/redoc"]
DOCS = ["/docs", "/redoc"]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


@pytest.mark.parametrize("path", DOCS)
def test_docs_pages_load_scripts_and_styles_from_this_server_with_no_inline_script(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and body.strip() == "" for attrs, body in scripts)
    for url in re.findall(r'\b(?:src|href|spec-url|data-openapi)="([^"]*)"', html):
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url


def test_the_openapi_schema_lists_no_docs_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/docs" not in paths and "/redoc" not in paths and "/api/trajectories" in paths


playwright = pytest.importorskip("playwright.sync_api")


def visit(browser, base: str, path: str) -> dict:
    """Load a page and wait until it has drawn, refusing every request off `base`."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    seen = {"other_hosts": [], "errors": [], "violations": []}
    own = urlsplit(base).netloc

    def route(r):
        if urlsplit(r.request.url).scheme in ("http", "https") and urlsplit(r.request.url).netloc != own:
            seen["other_hosts"].append(r.request.url)
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.add_init_script("""
      window.__violations = [];
      document.addEventListener("securitypolicyviolation",
        (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    """)
    page.goto(base + path, wait_until="networkidle")
    if path == "/docs":
        page.wait_for_selector(".swagger-ui .info .title:has-text('Gradscape')")
        page.wait_for_selector(".opblock-summary-path:has-text('/api/trajectories')")
    elif path == "/redoc":
        page.wait_for_selector("h1:has-text('Gradscape')")
        page.wait_for_selector("h2:has-text('Trajectories Stream')")  # an operation, drawn from the spec
    else:
        page.wait_for_function("() => (window.__drawn || []).length > 0 || document.querySelector('.js-plotly-plot')")
    seen["violations"] = page.evaluate("() => window.__violations")
    context.close()
    return seen


@pytest.mark.browser
@pytest.mark.server
@pytest.mark.parametrize("path", PAGES)
def test_no_page_requests_another_host_or_breaks_its_policy(browser, live_server, path):
    seen = visit(browser, live_server.url, path)
    assert seen["other_hosts"] == []
    assert seen["violations"] == []  # the docs carry their own policy; the rest, the server's
    assert seen["errors"] == []


@pytest.mark.parametrize("path", PAGES)
def test_every_page_allows_scripts_from_this_origin_only(client, path):
    policies = client.get(path).headers.get_list("content-security-policy")
    assert policies
    for policy in policies:
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives.get("script-src", directives["default-src"]) == "'self'", policy
