"""Getting the video onto disk with bounded memory: a streamed multipart parser (python-multipart's
MultipartParser fed from `request.stream()`) and the JSON body (URL downloads: fetch.py); every path enforces the
size limit while reading, checks Content-Length first where there is one, and keeps the disk's free-space
reserve (507 before a write would go below it)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import ApiError

FIELD_MAX_BYTES = 64 * 1024  # any non-file form field
FORM_OVERHEAD_BYTES = 1024 * 1024  # multipart framing + fields, on top of the file's limit
JSON_MAX_BYTES = 1024 * 1024
BATCH_BYTES = 1024 * 1024  # body bytes handed to the parser thread at once (the most held in memory)
FORM_FIELDS = ("prompt", "url", "segment_seconds", "fps", "wait")


def too_large(limit: int, what: str = "the video") -> ApiError:
    mib = limit / (1024 * 1024)
    return ApiError(413, "too_large", f"{what} is larger than this service's limit of {mib:g} MiB",
                    "Send a smaller file (re-encode or cut it: ffmpeg -i in -vf scale=-2:720 -c:v libx264 out.mp4), "
                    "or ask the operator to raise SPARKFLEET_VIDEO_MAX_UPLOAD_MB.")


def ensure_space(folder: Path, reserve: int, incoming: int) -> None:
    """507 when writing `incoming` more bytes would leave less than `reserve` free on the folder's disk."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free - incoming < reserve:
        mib = 1024 * 1024
        raise ApiError(507, "insufficient_storage", f"the disk has {free / mib:.0f} MiB free and this service keeps "
                       f"{reserve / mib:g} MiB free: the video was not stored",
                       "Retry later (finished jobs' files are removed after the retention period), delete old jobs "
                       "(DELETE /v1/jobs/{id}), or ask the operator to free space.")


def private_file(path: Path) -> IO[bytes]:
    """A new file only the service's user can read (0600 whatever the umask)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def safe_name(name: str | None, default: str = "video") -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:200] or default


def content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_request", "Content-Length is not a number", "Send a valid Content-Length.") from exc
    return value


@dataclass
class Received:
    fields: dict[str, str] = field(default_factory=dict)
    file_path: Path | None = None
    file_name: str | None = None
    file_bytes: int = 0
    file_named: bool = False


class _FormSink:
    """python-multipart callbacks: file part -> disk, other parts -> small strings (bounded)."""

    def __init__(self, dest: Path, max_file_bytes: int) -> None:
        self.dest = dest
        self.max_file_bytes = max_file_bytes
        self.result = Received()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._buf = bytearray()
        self._fh: IO[bytes] | None = None

    def on_part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._is_file = False
        self._buf = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name")
        self._name = name.decode("utf-8", "replace") if name is not None else None
        filename = params.get(b"filename")
        self._is_file = self._name == "file"
        if self._is_file:
            if self.result.file_path is not None:
                raise ApiError(422, "invalid_request", "more than one file part in the form",
                               "Send exactly one video in the field named file.")
            self.result.file_named = bool(filename)
            self.result.file_name = safe_name(filename.decode("utf-8", "replace") if filename else None)
            self.result.file_path = self.dest
            self.dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fh = private_file(self.dest)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file and self._fh is not None:
            self.result.file_bytes += end - start
            if self.result.file_bytes > self.max_file_bytes:
                raise too_large(self.max_file_bytes)
            self._fh.write(data[start:end])
        elif self._name in FORM_FIELDS:
            self._buf += data[start:end]
            if len(self._buf) > FIELD_MAX_BYTES:
                raise ApiError(422, "invalid_request", f"form field {self._name} is longer than {FIELD_MAX_BYTES} "
                               "bytes", "Keep prompt within 4000 characters.")
        # other fields are ignored and not kept

    def on_part_end(self) -> None:
        if self._is_file and self._fh is not None:
            self._fh.close()
            self._fh = None
        elif self._name in FORM_FIELDS:
            self.result.fields[self._name] = bytes(self._buf).decode("utf-8", "replace")
        self._buf = bytearray()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


async def receive_multipart(request: Request, dest: Path, max_file_bytes: int, reserve: int = 0) -> Received:
    """Stream a multipart/form-data body: the `file` part goes to `dest` as it arrives, never whole in memory,
    and never below `reserve` bytes free on the disk."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart/form-data without a boundary",
                       "Let your HTTP client build the form (curl -F file=@clip.mp4 -F prompt=...).")
    length = content_length(request)
    if length is not None and length > max_file_bytes + FORM_OVERHEAD_BYTES:
        raise too_large(max_file_bytes)
    ensure_space(dest.parent, reserve, length or 0)
    sink = _FormSink(dest, max_file_bytes)
    callbacks = {name: getattr(sink, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    pending = bytearray()
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_file_bytes + FORM_OVERHEAD_BYTES:
                raise too_large(max_file_bytes)
            pending += chunk
            if len(pending) >= BATCH_BYTES:
                ensure_space(dest.parent, reserve, len(pending))
                await asyncio.to_thread(_feed, parser, bytes(pending))
                pending = bytearray()
        if pending:
            ensure_space(dest.parent, reserve, len(pending))
            await asyncio.to_thread(_feed, parser, bytes(pending))
        parser.finalize()
    except ApiError:
        sink.close()
        dest.unlink(missing_ok=True)
        raise
    except Exception as exc:  # malformed multipart, client went away
        sink.close()
        dest.unlink(missing_ok=True)
        raise ApiError(400, "bad_request", f"the multipart body could not be read ({type(exc).__name__})",
                       "Let your HTTP client build the form (curl -F file=@clip.mp4 -F prompt=...).") from exc
    sink.close()
    result = sink.result
    if result.file_path is not None and result.file_bytes == 0 and not result.file_named:
        # a form's file input left empty (no filename, no bytes): the same as no file
        dest.unlink(missing_ok=True)
        result.file_path = None
    return result


def _feed(parser: MultipartParser, data: bytes) -> None:
    parser.write(data)


async def receive_json(request: Request) -> dict:
    length = content_length(request)
    if length is not None and length > JSON_MAX_BYTES:
        raise too_large(JSON_MAX_BYTES, "the JSON body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > JSON_MAX_BYTES:
            raise too_large(JSON_MAX_BYTES, "the JSON body")
    try:
        data = json.loads(bytes(body) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_request", f"the body is not valid JSON ({exc})",
                       'Send e.g. {"url": "https://.../clip.mp4", "prompt": "Describe the video"}.') from exc
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", "the JSON body must be an object",
                       'Send e.g. {"url": "https://.../clip.mp4", "prompt": "Describe the video"}.')
    return data
