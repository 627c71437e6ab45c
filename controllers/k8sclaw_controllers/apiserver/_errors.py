"""The one JSON error shape of the API: `{"error": {"code", "reason", "message"}}`.

`reason` uses the Kubernetes Status reasons (NotFound, Forbidden, Invalid, ...), so a
client that knows kubectl's errors knows ours. FastAPI's own 404/405/422 and any
unexpected exception leave in the same shape; an internal error never echoes its cause
(it may hold cluster detail), the log has it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

log = logging.getLogger("k8sclaw.apiserver")

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ErrorDetail(BaseModel):
    code: int
    reason: str
    message: str


class ErrorBody(BaseModel):
    """Every error response of the API."""

    error: ErrorDetail


class ApiError(Exception):
    """Raise anywhere in a handler; leaves as the one error shape."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.reason = reason or REASONS.get(code, "Unknown")


def body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "reason": reason, "message": message}}


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """The same error as a Kubernetes `Status` (the aggregated API under `/apis`)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def response(
    code: int, message: str, reason: str | None = None, request: Request | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="k8sclaw"'} if code == 401 else None
    why = reason or REASONS.get(code, "Unknown")
    if request is not None and request.url.path.startswith("/apis"):
        return JSONResponse(status(code, why, message), code, headers)
    return JSONResponse(body(code, why, message), code, headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": REASONS[code]} for code in (401, 403, 404, 422)
}


def install(app: FastAPI) -> None:
    """Route every error FastAPI or a handler can produce into the one shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return response(exc.code, exc.message, exc.reason, request)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return response(exc.status_code, str(exc.detail), request=request)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        causes = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        return response(422, "; ".join(causes) or "invalid request", request=request)

    async def unreachable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("cluster unreachable on %s %s: %r", request.method, request.url.path, exc)
        return response(503, "the Kubernetes API cannot be reached; try again", request=request)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return response(500, "internal error; see the API server log", request=request)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(OSError, unreachable)  # includes TimeoutError
    app.add_exception_handler(Exception, internal)
