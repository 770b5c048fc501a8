"""The one error shape of the API: {"error": {"code", "message", "hint"}}, and the handlers that make every
failure (ours, FastAPI's validation, Starlette's 404/405, anything unexpected) answer in it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("sparkfleet_video")

# HTTP status -> code, for errors raised by the framework rather than by us
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 410: "expired",
                 413: "too_large", 415: "unsupported_media_type", 416: "range_not_satisfiable",
                 422: "invalid_request", 429: "too_many_requests", 503: "unavailable"}


class ApiError(Exception):
    """An error answered to the client as-is: status, stable code, what is wrong, how to fix it."""

    def __init__(self, status: int, code: str, message: str, hint: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "hint": self.hint}}


def error_response(status: int, code: str, message: str, hint: str = "",
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "hint": hint}}, status_code=status,
                        headers=headers)


def describe_validation(errors: list) -> str:
    """pydantic/FastAPI validation errors -> one readable sentence: 'prompt: field required; fps: ...'."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


VALIDATION_HINT = ("See the API contract at /docs: prompt (1-4000 characters), segment_seconds (2-600), "
                   "fps (0.5-8), wait (true/false), and either file (multipart) or url (http/https).")


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route serves at this path (Starlette's 405 names only the first matching route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and getattr(route, "methods", None) and regex.match(request.url.path):
            methods |= set(route.methods)
    return sorted(methods)


def install_handlers(app: FastAPI, on_error=None) -> None:
    """Answer every error in the contract's shape; `on_error(code)` counts them (metrics)."""

    def count(code: str) -> None:
        if on_error is not None:
            on_error(code)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        count(exc.code)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        count("invalid_request")
        return error_response(422, "invalid_request", describe_validation(list(exc.errors())), VALIDATION_HINT)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        count(code)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        hint = "See /docs for the routes." if exc.status_code in (404, 405) else ""
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return error_response(exc.status_code, code, message, hint, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        count("internal")
        return error_response(500, "internal", "the service hit an unexpected error",
                              "Retry; if it persists, see the service's journal (journalctl -u sparkfleet-video).")
