"""JSON out of numpy arrays with orjson, and the slice of a run that one response or chunk carries.

JSON has no NaN or Infinity: orjson writes every non-finite float, Python or
numpy, as null. A run's arrays never hold one where they are sent anyway,
since a diverged run ends at its last finite point.
"""

from __future__ import annotations

import numpy as np
import orjson
from fastapi.responses import JSONResponse

from core.engine import FIELDS

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(value) -> bytes:
    """JSON bytes of value; numpy arrays must be C-contiguous (every array built here is)."""
    return orjson.dumps(value, option=OPTIONS)


def ndjson(value) -> bytes:
    """One JSON Lines record."""
    return orjson.dumps(value, option=OPTIONS | orjson.OPT_APPEND_NEWLINE)


class JSONBytes(JSONResponse):
    """application/json rendered by orjson: numpy arrays as they are, non-finite floats as null."""

    def render(self, content) -> bytes:
        return dumps(content)

