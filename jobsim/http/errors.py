"""Every error the service answers is a JSON :class:`~jobsim.http.models.ErrorBody` whose
``error`` says what was wrong and what is allowed; never a 500 for anything a client can send.

:func:`install_error_handlers` turns FastAPI's and Starlette's exceptions (validation, unknown
route, wrong method, unparsable body) and :class:`~jobsim.domain.JobNotFound` into such bodies.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from jobsim.domain import JobNotFound
from jobsim.http.models import MAX_BODY_BYTES, ErrorBody
from jobsim.stores.url import StoreUnavailable

__all__ = ["error_response", "install_error_handlers", "responses"]

logger = logging.getLogger("jobsim.http")


def error_response(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error body with this status."""
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers or None)


_MEANING = {
    400: "The body is not valid JSON.",
    404: "No such job.",
    409: "The job has already finished.",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes.",
    415: "The body is not sent as application/json.",
    422: "The request does not match the schema; `details` names each field.",
    503: "The queue is full or the service is stopping; the job was NOT stored. "
    "Retry after `Retry-After` seconds.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error codes."""
    return {code: {"model": ErrorBody, "description": _MEANING[code]} for code in codes}


def _where(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    details = [
        {"field": _where(e.get("loc", ())), "problem": str(e.get("msg", "")), "type": e["type"]}
        for e in errors
    ]
    content_type = request.headers.get("content-type")
    if content_type is not None and request.method in ("POST", "PUT", "PATCH"):
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return error_response(
                415,
                f"send the body as JSON with 'Content-Type: application/json' "
                f"(got {content_type!r})",
                details,
            )
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        reason = bad_json[0].get("ctx", {}).get("error", "invalid JSON")
        return error_response(400, f"request body is not valid JSON: {reason}", details)
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
    return error_response(422, f"invalid request: {summary}", details)


def _shown(text: str, limit: int = 200) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters (URLs can be huge)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _methods_for(request: Request) -> set[str]:
    """Every method some route accepts on this request's path."""
    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}
    for route in request.app.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {_shown(request.url.path)}; see /docs for the API"
    elif exc.status_code == 405:
        # Starlette's Allow names the first route that matched the path only; list them all.
        allowed = sorted(_methods_for(request))
        message = (
            f"method {_shown(request.method)} is not allowed on {_shown(request.url.path)}; "
            f"allowed: {', '.join(allowed)}"
        )
        headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return error_response(405, message, headers=headers)
    elif exc.status_code == 400 and "parsing the body" in message:
        message = _unparsable(exc.__cause__)
    return error_response(exc.status_code, message, headers=dict(exc.headers or {}))


def _unparsable(cause: BaseException | None) -> str:
    """Why the JSON parser gave up on a body, in words a client can act on."""
    if isinstance(cause, UnicodeDecodeError):
        return (
            f"request body is not valid UTF-8 (byte {cause.object[cause.start]:#04x} at "
            f"position {cause.start}); send JSON encoded as UTF-8"
        )
    if isinstance(cause, RecursionError):
        return "request body is nested too deeply to parse; flatten the JSON"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return (
            "request body holds an integer with too many digits "
            f"(at most {sys.get_int_max_str_digits()}); send large numbers as strings"
        )
    return f"request body could not be parsed as JSON: {cause or 'unknown reason'}"


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, str(exc))


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    return error_response(503, f"the store is unavailable: {exc}", headers={"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error on ``app`` with a JSON error body."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(JobNotFound, _not_found)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
