"""What every API router shares: JSON bodies read so that any malformed one is a 422, the error handlers,
and the error answers documented in the OpenAPI schema."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from app.i18n import language_headers, request_lang, translate_errors
from app.schemas import ErrorResponse
from app.services.compute import NDJSON, Busy
from app.services.validation import Invalid, clean_errors, error_response


class JSONRequest(Request):
    """A request whose JSON body fails as a decode error (a 422) on any malformed input.

    Python's json raises RecursionError on deep nesting and ValueError on
    integers of more than 4300 digits; FastAPI answers those with a bare 400.
    """

    async def json(self):
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_int=_parse_int)
            except json.JSONDecodeError:
                raise
            except (RecursionError, ValueError) as e:
                raise json.JSONDecodeError(str(e) or type(e).__name__, "", 0) from None
        return self._json


class LongInteger(float):
    """An integer literal of more digits than Python converts (4,300): infinite, so it fails where it
    stands and the error names its field, and shown by its length rather than its digits."""

    def __new__(cls, text: str):
        self = super().__new__(cls, "-inf" if text.startswith("-") else "inf")
        self.digits = len(text.lstrip("-"))
        return self

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"

    __str__ = __repr__


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= 4300 else LongInteger(text)


class JSONRoute(APIRoute):
    """A route that reads its body with JSONRequest."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive))

        return route


async def invalid_handler(request: Request, exc: Invalid) -> Response:
    lang = request_lang(request)
    return error_response(exc.status, translate_errors(exc.errors, lang), language_headers(lang))


async def validation_handler(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's default handler encodes the offending input with json.dumps, which fails on NaN.
    lang = request_lang(request)
    if isinstance(exc.body, bytes):  # a body FastAPI did not read as JSON: say why
        errors = [{"loc": ["body"], "msg": "the body must be JSON, sent with content-type: application/json",
                   "type": "content_type"}]
    else:
        errors = clean_errors(exc.errors())
    return error_response(422, translate_errors(errors, lang), language_headers(lang))


async def busy_handler(request: Request, exc: Busy) -> Response:
    response = error_response(503, [{"loc": [], "msg": str(exc), "type": "busy"}])
    response.headers["retry-after"] = "5"
    return response


EXCEPTION_HANDLERS = {Invalid: invalid_handler, RequestValidationError: validation_handler, Busy: busy_handler}
ERRORS = {
    413: {"model": ErrorResponse, "description": "past a size limit: body bytes, computation time, memory or "
          "answer size"},
    422: {"model": ErrorResponse, "description": "the field that is wrong and why"},
    503: {"model": ErrorResponse, "description": "the server's computations hold all the memory it allows; "
          "try again after Retry-After seconds"},
}


# The errors of a stream route come before any line, as ordinary JSON.
STREAM_ERRORS = {code: {"description": doc["description"], "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}} for code, doc in ERRORS.items()}
STREAM_DOC = {
    "description": "JSON Lines: one object per line, each with a `type`; see the operation's description.",
    "content": {NDJSON: {"schema": {"type": "string"}}},
}
