"""The HTTP service, served by `sparkfleet-video` (__main__.py; API contract: docs/video-api.md).

Order of checks on POST /v1/jobs, chosen for what a client can act on:
  1. API key (401), then the content type (415 unsupported_media_type) and a declared Content-Length over
     the limit (413 too_large): answered before a byte of the body is read.
  2. The body is streamed to disk under the size limit (413), then the fields are validated (422
     invalid_request), then the URL is fetched (url mode, same limit), then the file is probed with ffprobe
     (400 empty_file, 415 not_a_video, 422 unreadable_video / too_long).
  3. Only then vLLM's readiness (503 + Retry-After: 15).
  A 4xx is permanent (the same request will fail again), a 503 is not (retry later): so every permanent
  error is reported first, whatever vLLM's state, and a 503 means "this exact request will be accepted once
  vLLM is up" -- a client retrying on 503 never loops into a 4xx. It also keeps HTTP/1.1 clients sane: the
  body is consumed before the answer (answering mid-upload makes many clients see a reset, not the error).
  The cost: a large upload sent while vLLM is down is read, probed and then discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import mimetypes
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.routing import Match

from . import __version__, markdown, system
from .access import KeyFile, RequestGuard, check_key, redact_access_log
from .config import Settings
from .errors import VALIDATION_HINT, ApiError, describe_validation, install_handlers
from .fetch import check_url, fetch_url, url_name
from .jobs import FINISHED, JobManager, new_job, new_job_id
from .media import PRIVATE_DIR, plan_segments, probe
from .metrics import Metrics
from .models import (
    BenchList,
    ErrorBody,
    Health,
    Job,
    JobList,
    JobRequest,
    JobStatus,
    Notes,
    System,
    form_schema,
)
from .store import Store
from .uploads import receive_json, receive_multipart
from .vllm import READY, TokenRate, VllmClient

log = logging.getLogger("sparkfleet_video")

STATIC_DIR = Path(__file__).parent / "static"
WAIT_MAX_S = 600.0
SAMPLE_INTERVAL_S = 5.0
RETRY_AFTER_S = "15"
QUEUE_RETRY_AFTER_S = "60"
UPLOAD_RETRY_AFTER_S = "5"


def _errors(*codes: int) -> dict:
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "error")} for code in codes}


_DESCRIPTIONS = {400: "bad request (empty file, malformed body)", 401: "missing or wrong X-API-Key",
                 404: "no such job", 410: "the video was deleted after the retention period",
                 403: "a cross-site request, or a URL this service may not fetch", 421: "an untrusted Host name",
                 413: "the upload is over the size limit, or the video would be too many segments",
                 415: "not a video, or a content type other than "
                 "multipart/form-data or application/json", 422: "invalid fields, unreadable or too long video",
                 429: "too many segments queued, uploads or URL fetches at once (see Retry-After)",
                 503: "vLLM is down or loading, or the API key file cannot be read (see Retry-After)",
                 507: "the disk would go below the free-space reserve"}


def _setup_logging() -> None:
    """Our log lines on stderr (journald) at INFO; uvicorn configures only its own loggers."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def create_app(settings: Settings | None = None) -> FastAPI:
    _setup_logging()
    settings = settings or Settings.from_env()
    for folder in (settings.data_dir, settings.uploads_dir):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # vLLM runs as another user and must read the segments: the role gives the folder vLLM's group (setgid, so
    # each job's folder and file inherits it) and 2750; other local users read nothing
    settings.media_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)

    metrics = Metrics()
    store = Store(settings.db_path)
    vllm = VllmClient(settings.vllm_url, settings.model, settings.vllm_api_key(), settings.vllm_unit)
    manager = JobManager(settings, store, vllm, metrics)
    metrics.watch_jobs(store.count_by_status, lambda: manager.queue_depth)
    tokens = TokenRate()
    keys = KeyFile(settings.api_key_file)
    redact_access_log()

    async def sampler() -> None:
        while True:
            try:
                await vllm.check(max_age_s=0)
                sample = await vllm.metrics()
                tokens.add(time.time(), sample.generation_tokens_total if sample else None)
            except Exception:
                log.exception("sampling vLLM failed")
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await manager.start()
        sampling = asyncio.create_task(sampler())
        try:
            yield
        finally:
            sampling.cancel()
            with contextlib.suppress(BaseException):
                await sampling
            await manager.stop()
            await vllm.aclose()
            store.close()

    app = FastAPI(title="sparkfleet video endpoint", version=__version__, lifespan=lifespan,
                  description="Analyses videos through the host's vLLM (Qwen3-VL). Errors are always "
                  '`{"error": {"code", "message", "hint"}}`. Contract: docs/video-api.md.')
    app.state.settings = settings
    app.state.manager = manager
    app.state.store = store
    app.state.vllm = vllm
    app.state.metrics = metrics
    app.state.tokens = tokens
    install_handlers(app, on_error=lambda code: metrics.errors.labels(code).inc())

    async def require_key(request: Request) -> None:
        """X-API-Key header (read from the request directly: the OpenAPI document declares the key only when
        there is one)."""
        check_key(request, keys.state(), query_allowed=False)

    async def require_key_or_query(request: Request) -> None:
        """The same, or ?api_key=: for <video src> and EventSource, which cannot send headers (GET only)."""
        check_key(request, keys.state(), query_allowed=True)

    # request metrics: a pure ASGI middleware (does not buffer streamed uploads or SSE)
    app.add_middleware(_RequestMetrics, metrics=metrics)
    # outermost: a refused Host or Origin is answered before anything else runs
    app.add_middleware(RequestGuard, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.allowed_origins,
                       on_refused=lambda code: metrics.errors.labels(code).inc())

    # /v1 and /api routes sit on the app itself (not an APIRouter): a flat route list keeps the request metrics'
    # route labels and the 405 Allow header independent of how FastAPI nests included routers
    auth = [Depends(require_key)]
    busy = {"uploads": 0, "fetches": 0}  # POST /v1/jobs being received, and URL downloads, right now
    auth_or_query = [Depends(require_key_or_query)]

    @app.get("/health", summary="Service health and vLLM's state", response_model=Health, tags=["service"],
             response_model_exclude_unset=True)
    async def health() -> dict:
        state = await vllm.check()
        why = {"reason": state.reason} if state.reason else {}  # present only when systemd says why
        return {"status": "ok", "version": __version__, "vllm": {"state": state.state, "model": state.model, **why}}

    @app.get("/metrics", summary="Prometheus metrics", tags=["service"], response_class=Response, dependencies=auth,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
                        **_errors(401)})
    async def prometheus() -> Response:
        body = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/jobs", summary="Submit a video to analyse", tags=["jobs"], status_code=202, dependencies=auth,
              openapi_extra={"requestBody": form_schema()},
             responses={202: {"model": Job, "description": "the job, queued"},
                        200: {"model": Job, "description": "the finished job (wait=true)"},
                        **_errors(400, 401, 403, 413, 415, 421, 422, 429, 503, 507)})
    async def submit(request: Request) -> JSONResponse:
        if settings.drain_file.exists():  # `sparkfleet upgrade` drains the host before restarting its services
            raise ApiError(503, "draining", "this endpoint is being upgraded and takes no new jobs",
                           f"Retry in {RETRY_AFTER_S} s, or send the job to another host.",
                           headers={"Retry-After": RETRY_AFTER_S})
        if busy["uploads"] >= settings.max_uploads:
            raise ApiError(429, "too_many_uploads", f"{busy['uploads']} uploads are being received; this service "
                           f"takes at most {settings.max_uploads} at once", "Retry in a few seconds.",
                           headers={"Retry-After": UPLOAD_RETRY_AFTER_S})
        job_id = new_job_id()
        folder = manager.upload_dir(job_id)
        dest = folder / "source"
        busy["uploads"] += 1
        try:
            wait = await _accept(request, job_id, dest)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, True)
            raise
        finally:
            busy["uploads"] -= 1
        if wait:
            finished = await manager.wait_finished(job_id, WAIT_MAX_S)
            if finished is not None and finished["status"] in FINISHED:
                return JSONResponse(finished, status_code=200)
            return JSONResponse(finished or await manager.get(job_id), status_code=202)
        return JSONResponse(await manager.get(job_id), status_code=202)

    async def _accept(request: Request, job_id: str, dest: Path) -> bool:
        """Checks, stores and probes the video, queues the job; returns whether the client waits for it."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            received = await receive_multipart(request, dest, settings.max_upload_bytes, settings.disk_reserve_bytes)
            form = _validate(received.fields)
            if received.file_path is not None and form.url:
                raise ApiError(422, "invalid_request", "give either file or url, not both",
                               "Upload the video as file, or give its url.")
            if received.file_path is None and not form.url:
                raise ApiError(422, "invalid_request", "file: a video file (or a url) is required",
                               "Add the video as the form field file (curl -F file=@clip.mp4), or give url.")
            source = {"kind": "upload", "name": received.file_name or "video"}
        elif media_type == "application/json":
            form = _validate(await receive_json(request))
            if not form.url:
                raise ApiError(422, "invalid_request", "url: required in a JSON body",
                               "Give the video's http(s) url, or upload the file as multipart/form-data.")
            source = {}
        else:
            raise ApiError(415, "unsupported_media_type",
                           f"content type {media_type or '(none)'} is not accepted here",
                           "Send multipart/form-data (a file upload) or application/json (with url).")
        if form.url:
            source = {"kind": "url", "name": url_name(check_url(form.url, settings.url_hosts))}
            if busy["fetches"] >= settings.max_url_fetches:
                raise ApiError(429, "too_many_fetches", f"this service fetches at most {settings.max_url_fetches} "
                               "URLs at once", "Retry in a few seconds, or upload the file.",
                               headers={"Retry-After": UPLOAD_RETRY_AFTER_S})
            busy["fetches"] += 1
            try:
                await fetch_url(form.url, dest, settings.max_upload_bytes, settings.url_hosts,
                                settings.url_deadline_s, settings.disk_reserve_bytes)
            finally:
                busy["fetches"] -= 1
        t0 = time.monotonic()
        info = await probe(dest, source["name"], settings.max_duration_s)
        probe_s = time.monotonic() - t0
        segments = len(plan_segments(info.duration_s, form.segment_seconds))
        if segments > settings.max_segments:
            shortest = math.ceil(info.duration_s / settings.max_segments)
            raise ApiError(413, "too_many_segments", f"{source['name']} would be {segments} segments of "
                           f"{form.segment_seconds:g} s; this service takes at most {settings.max_segments} a job",
                           f"Send segment_seconds={max(shortest, 2)} or more, or cut the video into parts.")
        state = await vllm.check()
        if state.state != READY:
            what = "loading (the model is not served yet)" if state.state == "loading" else "down"
            why = f" ({state.reason})" if state.reason else ""
            raise ApiError(503, "vllm_unavailable", f"vLLM is {what}{why}; the video was not queued",
                           f"Retry in {RETRY_AFTER_S} s; /health shows vLLM's state.",
                           headers={"Retry-After": RETRY_AFTER_S})
        waiting = manager.pending_segments()
        if waiting + segments > settings.max_queued_segments:
            raise ApiError(429, "queue_full", f"{waiting} segments are waiting and this job adds {segments}; this "
                           f"service queues at most {settings.max_queued_segments}",
                           "Retry once earlier jobs are done (see Retry-After), or send fewer segments "
                           "(a larger segment_seconds).", headers={"Retry-After": QUEUE_RETRY_AFTER_S})
        job = new_job(job_id, form.prompt, source, {"segment_seconds": form.segment_seconds, "fps": form.fps},
                      info.as_dict(), probe_s)
        await manager.submit(job, dest)
        return form.wait

    def _validate(fields: dict) -> JobRequest:
        try:
            return JobRequest.model_validate(fields)
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", describe_validation(list(exc.errors())), VALIDATION_HINT) from exc

    @app.get("/v1/jobs", summary="List jobs, newest first", tags=["jobs"], response_model=JobList,
             dependencies=auth, responses=_errors(401, 422))
    async def list_jobs(status: Annotated[JobStatus | Literal[""] | None, Query(description="only this status")] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JSONResponse:
        jobs = await manager.store.list(status or None, limit)
        return JSONResponse({"jobs": [manager.live(j["id"]) or j for j in jobs]})

    async def _job_or_404(job_id: str) -> dict:
        job = await manager.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id}", "List jobs with GET /v1/jobs.")
        return job

    @app.get("/v1/jobs/{job_id}", summary="One job", tags=["jobs"], response_model=Job, dependencies=auth,
             responses=_errors(401, 404))
    async def get_job(job_id: str) -> JSONResponse:
        return JSONResponse(await _job_or_404(job_id))

    @app.delete("/v1/jobs/{job_id}", summary="Cancel a job and delete it with its files", tags=["jobs"],
                status_code=204, response_class=Response, dependencies=auth, responses=_errors(401, 404))
    async def delete_job(job_id: str) -> Response:
        if not await manager.delete(job_id):
            raise ApiError(404, "not_found", f"no job {job_id}", "List jobs with GET /v1/jobs.")
        return Response(status_code=204)

    @app.get("/v1/jobs/{job_id}/events", summary="Server-sent events: the job on every change, then `end`",
             tags=["jobs"], response_class=StreamingResponse, dependencies=auth_or_query, responses={
                200: {"content": {"text/event-stream": {}},
                      "description": "`event: progress` with the job JSON per change, then `event: end`"},
                **_errors(401, 404)})
    async def events(job_id: str) -> StreamingResponse:
        await _job_or_404(job_id)

        async def stream() -> AsyncIterator[bytes]:
            last = None
            async for job in manager.watch(job_id):
                if job is None:
                    yield b": keep-alive\n\n"
                    continue
                last = job
                yield sse("progress", job)
            yield sse("end", last if last is not None else {"id": job_id, "status": "deleted"})

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/jobs/{job_id}/video", summary="The uploaded video (Range requests work)", tags=["jobs"],
             response_class=FileResponse, dependencies=auth_or_query, responses={
                200: {"content": {"video/mp4": {}}, "description": "the video"},
                206: {"description": "part of the video (Range)"}, **_errors(401, 404, 410)})
    async def video(job_id: str) -> FileResponse:
        job = await _job_or_404(job_id)
        row = await store.get_row(job_id)
        path = Path(row["upload_path"]) if row is not None and row["upload_path"] else None
        if row is None or row["expired"] or path is None or not path.is_file():
            raise ApiError(410, "expired", "the video was deleted after the retention period (the results stay)",
                           "Submit the video again to watch it here.")
        name = job["source"]["name"]
        media_type = mimetypes.guess_type(name)[0] or "video/mp4"
        if not media_type.startswith("video/"):
            media_type = "video/mp4"
        return _VideoResponse(path, media_type=media_type, content_disposition_type="inline",
                              filename=name if name.isascii() else None)

    @app.get("/api/system", summary="vLLM, host memory and GPU at a glance", tags=["service"], response_model=System,
             dependencies=auth, responses=_errors(401))
    async def system_info() -> JSONResponse:
        state = await vllm.check()
        sample = await vllm.metrics() if state.state != "down" else None
        gpu = await asyncio.to_thread(system.gpu)
        return JSONResponse({
            "vllm": {"state": state.state, "model": state.model,
                     "requests_running": sample.requests_running if sample else None,
                     "requests_waiting": sample.requests_waiting if sample else None,
                     "kv_cache_usage": sample.kv_cache_usage if sample else None,
                     "tokens_per_s": list(tokens.points)},
            "host": system.meminfo(), "gpu": gpu})

    @app.get("/api/bench", summary="Benchmark results, newest first", tags=["service"], response_model=BenchList,
             dependencies=auth, responses=_errors(401))
    async def bench() -> JSONResponse:
        return JSONResponse({"results": await asyncio.to_thread(system.bench_results, settings.bench_dir)})

    @app.get("/api/notes", summary="The host's NOTES.md, as written and as sanitized HTML", tags=["service"],
             response_model=Notes, dependencies=auth, responses=_errors(401))
    async def notes() -> JSONResponse:
        text = await asyncio.to_thread(system.notes, settings.notes_file)
        html = await asyncio.to_thread(markdown.to_html, text) if text is not None else None
        return JSONResponse({"markdown": text, "html": html})

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            if keys.state().key is not None:  # document the key only where one is required
                schema.setdefault("components", {})["securitySchemes"] = {
                    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"}}
                for path, ops in schema.get("paths", {}).items():
                    if path.startswith(("/v1/", "/api/")) or path == "/metrics":
                        query = path.endswith(("/video", "/events"))
                        for op in ops.values():
                            op["security"] = [{"apiKeyHeader": []}] + ([{"apiKeyQuery": []}] if query else [])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="dashboard")
    return app


class _VideoResponse(FileResponse):
    """A FileResponse that answers 410 when the file vanishes (DELETE, retention) between the check and the read."""

    async def __call__(self, scope, receive, send) -> None:
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await super().__call__(scope, receive, tracking_send)
        except (OSError, RuntimeError):
            if started:
                raise
            gone = JSONResponse(ApiError(410, "expired", "the video was just deleted",
                                         "Submit the video again to watch it here.").body(), status_code=410)
            await gone(scope, receive, send)


def sse(event: str, data: dict) -> bytes:
    """One server-sent event; the JSON is on one line (json.dumps escapes newlines inside strings)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class _RequestMetrics:
    """Counts requests and their durations by route template (not raw path: bounded label values)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        status = {"code": 500}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_of(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status["code"])).inc()
            self.metrics.request_seconds.labels(route, method).observe(time.monotonic() - start)


def _route_of(scope) -> str:
    """The route template that served the request (a method mismatch counts for its path), "static" for the
    dashboard's files, "unmatched" otherwise."""
    app = scope.get("app")
    partial = None
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, _ = route.matches(scope)
        path = getattr(route, "path", None)
        if match == Match.FULL:
            return path or "static"
        if match == Match.PARTIAL and partial is None and path:
            partial = path
    return partial or "unmatched"
