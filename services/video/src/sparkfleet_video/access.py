"""Who may call the service: the API key (fail closed), the trusted Host names (no DNS rebinding), the Origin of
state-changing browser requests (no cross-site POST), and the access log without keys in it."""

from __future__ import annotations

import hmac
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse

from .errors import ApiError

log = logging.getLogger("sparkfleet_video")

KEY_REREAD_S = 5.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class KeyState:
    key: str | None = None  # None: no key is required
    problem: str | None = None  # why the key file cannot be used: then every protected request is refused


class KeyFile:
    """The API key from its file, re-read at most every 5 s (a new key applies without a restart).

    No file set, no file, or an empty one: no key. A file that exists but cannot be read or is not UTF-8 is not
    "no key": the service refuses every protected request until it is fixed (fail closed)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._state = KeyState()
        self._read_at = -1e9

    def state(self) -> KeyState:
        if self.path is None:
            return self._state
        if time.monotonic() - self._read_at > KEY_REREAD_S:
            new = self._read(self.path)
            if new.problem and new.problem != self._state.problem:
                log.error("API key file unusable, refusing every protected request: %s", new.problem)
            elif self._state.problem and not new.problem:
                log.info("API key file readable again")
            self._state = new
            self._read_at = time.monotonic()
        return self._state

    @staticmethod
    def _read(path: Path) -> KeyState:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return KeyState()
        except OSError as exc:
            return KeyState(problem=f"{path}: cannot read it ({exc.strerror or type(exc).__name__})")
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return KeyState(problem=f"{path}: not valid UTF-8")
        return KeyState(key=text or None)


def check_key(request: Request, state: KeyState, query_allowed: bool) -> None:
    """Raises the ApiError for a request without the right key. The key comes in X-API-Key; `?api_key=` only
    where a browser cannot send a header (`query_allowed`: the video and the events stream, both GET)."""
    if state.problem:
        raise ApiError(503, "api_key_unreadable", "the service cannot read its API key file, so it refuses every "
                       "request that needs the key", "The operator: see the service's journal; `sparkfleet up` "
                       "rewrites the key file with the right owner and mode.", headers={"Retry-After": "60"})
    if state.key is None:
        return
    given = request.headers.get("x-api-key")
    query = request.query_params.get("api_key")
    if given is None and query is not None:
        if not query_allowed:
            raise ApiError(401, "unauthorized", "the api_key query parameter is not accepted here",
                           "Send the key in the X-API-Key header; ?api_key= works only for GET "
                           "/v1/jobs/{id}/video and /v1/jobs/{id}/events (a <video> or EventSource cannot "
                           "send a header).")
        given = query
    if not hmac.compare_digest((given or "").encode(), state.key.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong API key",
                       "Send the key in the X-API-Key header (it is in the service's key file on the host; "
                       "the dashboard takes it once, or from the link's #key=).")


def host_of(value: str) -> str:
    """The host part of a Host header (no port, no IPv6 brackets), lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class RequestGuard:
    """Pure ASGI middleware: refuses a Host header the service does not answer to (421: a DNS-rebinding page
    names its own domain), and a state-changing request from another origin (403: a cross-site form POST needs
    no CORS preflight, so the browser would send it). Nothing of the body is read before either answer."""

    def __init__(self, app, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...],
                 on_refused=None) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = frozenset(allowed_hosts)
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.on_refused = on_refused

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        refusal = None
        if not self.any_host and host_of(host) not in self.allowed_hosts:
            refusal = ApiError(421, "untrusted_host", f"this service does not answer to the host name "
                               f"{host_of(host)[:100]!r}", "Open it by the host's own name or address; the "
                               "operator can add names with video_endpoint_allowed_hosts (sparkfleet).")
        elif scope.get("method", "GET") not in SAFE_METHODS:
            origin = headers.get("origin")
            own = f"{scope.get('scheme', 'http')}://{host.lower()}"
            cross = (origin is not None and origin.lower().rstrip("/") not in (own, *self.allowed_origins)) or (
                origin is None and headers.get("sec-fetch-site") == "cross-site")
            if cross:
                refusal = ApiError(403, "cross_origin", f"a {scope.get('method')} from another site "
                                   f"({(origin or 'unknown origin')[:100]}) is refused",
                                   "Use the dashboard served by this service, or a client that is not a browser; "
                                   "the operator can allow an origin with video_endpoint_allowed_origins.")
        if refusal is None:
            await self.app(scope, receive, send)
            return
        if self.on_refused is not None:
            self.on_refused(refusal.code)
        await JSONResponse(refusal.body(), status_code=refusal.status)(scope, receive, send)


_KEY_IN_QUERY = re.compile(r"(?i)(api_key=)[^&\s\"]*")


def redact(text: str) -> str:
    return _KEY_IN_QUERY.sub(r"\1[redacted]", text)


class RedactKeys(logging.Filter):
    """Takes `api_key=...` out of log records (uvicorn's access log writes the path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactKeys) for f in logger.filters):
        logger.addFilter(RedactKeys())
