"""The middleware: trusted hosts and security headers, HEAD for every GET, a body-size limit before parsing,
and the server-timing header the bench reads."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI

from app.serialize import dumps
from app.settings import settings_of

log = logging.getLogger("gradscape.api")


class HTTPMiddleware:
    """Pure ASGI middleware for HTTP requests (lifespan and websockets pass through): `http` handles each."""

    def __init__(self, app, fastapi: FastAPI | None = None):
        self.app = app
        self.fastapi = fastapi

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await self.http(scope, receive, send)

    async def http(self, scope, receive, send):
        raise NotImplementedError


class BodyLimit(HTTPMiddleware):
    """Refuse request bodies over max_body_bytes with 413 before anything parses them.

    Checks the declared Content-Length, then counts the bytes as they arrive
    (a chunked body declares none), and hands the app the body it read.
    """

    async def http(self, scope, receive, send):
        limit = settings_of(self.fastapi).max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        body = []
        size = int(declared) if declared.isdigit() else 0
        if size <= limit:
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before sending its body
                body.append(message.get("body", b""))
                size += len(body[-1])
                if size > limit or not message.get("more_body", False):
                    break
        if size > limit:
            msg = f"the request body is more than the limit of {limit} bytes"
            response = dumps({"detail": [{"loc": ["body"], "msg": msg, "type": "limit_exceeded"}]})
            await send({"type": "http.response.start", "status": 413, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(response)).encode()),
                (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": response})
            return

        whole = {"type": "http.request", "body": b"".join(body), "more_body": False}

        async def replay():
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # after the body: http.disconnect, which streams watch for

        await self.app(scope, replay, send)


class ServerErrors(HTTPMiddleware):
    """An unexpected exception as a JSON 500 that still passes through the security headers (Starlette's
    own answer is made outside every middleware); once an answer has started, the connection is closed."""

    async def http(self, scope, receive, send):
        started = False

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("request failed: %s %s", scope["method"], scope["path"])
            if started:
                raise
            body = dumps({"detail": [{"loc": [], "msg": "internal error; the server has logged it", "type": "internal"}]})
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})


class ServerTiming(HTTPMiddleware):
    """Add `server-timing: app;dur=<ms>`: the time from request to response headers, for the bench."""

    async def http(self, scope, receive, send):
        t0 = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1e3
                message["headers"] = [*message.get("headers", []), (b"server-timing", f"app;dur={ms:.3f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


class HeadAsGet(HTTPMiddleware):
    """Answer HEAD wherever GET is answered (FastAPI registers GET alone): the GET's headers, no body."""

    async def http(self, scope, receive, send):
        if scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; "
       "{ancestors}")


class SecurityHeaders(HTTPMiddleware):
    """Refuse a Host this server is not, and send CSP, nosniff and Referrer-Policy with every answer.

    Plotly.js sets inline styles, hence style-src 'unsafe-inline'; no page runs an inline script.
    Only /embed may be framed (by `frame_ancestors`, any site by default: slides embed it).
    """

    async def http(self, scope, receive, send):
        settings = settings_of(self.fastapi)
        given = [v for k, v in scope["headers"] if k == b"host"]
        host = host_name(given[0].decode("latin-1") if given else "")
        # Two Host headers are a request smuggled past whatever read the other one (a proxy, a cache).
        msg = f"a request names its host once; this one has {len(given)} Host headers" if len(given) > 1 else \
            None if host_allowed(host, settings.trusted_host_list()) else \
            f"this server does not answer to the host {host[:100]!r}; add it to GRADSCAPE_TRUSTED_HOSTS"
        if msg is not None:
            body = dumps({"detail": [{"loc": ["header", "host"], "type": "untrusted_host", "msg": msg}]})
            await send({"type": "http.response.start", "status": 400, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        path = scope["path"]
        embed = path == "/embed" or path.startswith("/embed/")
        # frame-ancestors * would still refuse a slide deck opened from a file, so "any" means no directive.
        ancestors = "frame-ancestors 'none'" if not embed else (
            "" if settings.frame_ancestors.strip() == "*" else f"frame-ancestors {settings.frame_ancestors}")
        policy = CSP.format(ancestors=ancestors).rstrip("; ")
        extra = [(b"content-security-policy", policy.encode()), (b"x-content-type-options", b"nosniff"),
                 (b"referrer-policy", b"strict-origin-when-cross-origin")]
        if not embed:
            extra.append((b"x-frame-options", b"DENY"))  # for browsers older than frame-ancestors

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                own = [i for i, (k, _) in enumerate(headers) if k.lower() == b"content-security-policy"]
                if own:  # a route with a policy of its own (the API docs) keeps it, framing rule added
                    k, v = headers[own[0]]
                    if b"frame-ancestors" not in v and not embed:
                        headers = [*headers[:own[0]], (k, v + b"; frame-ancestors 'none'"), *headers[own[0] + 1:]]
                    added = extra[1:]
                else:
                    added = extra
                message["headers"] = [*headers, *added]
            await send(message)

        await self.app(scope, receive, with_headers)


def host_name(header: str) -> str:
    """The host of a Host header, without its port: "[::1]:8000" -> "::1", "Example.org:80" -> "example.org"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(host: str, allowed: list[str]) -> bool:
    return any(a == "*" or host == a or (a.startswith("*.") and host.endswith(a[1:])) for a in allowed)
