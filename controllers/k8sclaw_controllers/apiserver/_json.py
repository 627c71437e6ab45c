"""Objects from the cluster leave as they came, serialised once by orjson.

FastAPI would otherwise walk every field of every object (`jsonable_encoder`, response
validation): for a list of 1,000 runs that walk cost more than the cluster read itself.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class RawJson(Response):
    """A body already encoded as JSON (a list re-encoded by `_listing`)."""

    media_type = "application/json"
