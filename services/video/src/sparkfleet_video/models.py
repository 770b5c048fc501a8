"""Request validation and the documented shapes of the API (docs/video-api.md); used for /openapi.json."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

JobStatus = Literal["queued", "probing", "running", "done", "failed", "cancelled"]
STATUSES = ("queued", "probing", "running", "done", "failed", "cancelled")
PROMPT_MAX = 4000


class JobRequest(BaseModel):
    """The fields of POST /v1/jobs (form fields or JSON keys)."""

    model_config = ConfigDict(extra="ignore")
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX, description="What to ask about the video.")
    url: str | None = Field(None, max_length=4096, description="http(s) URL of the video (instead of file).")
    segment_seconds: float = Field(10.0, ge=2, le=600, allow_inf_nan=False,
                                   description="Length of the segments a long video is split into.")
    fps: float = Field(2.0, ge=0.5, le=8, allow_inf_nan=False, description="Frames per second the model samples.")
    wait: bool = Field(False, description="Wait (up to 600 s) for the result instead of returning at once.")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("url", mode="before")
    @classmethod
    def _empty_url_is_none(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_a_video"])
    message: str
    hint: str = ""


class ErrorBody(BaseModel):
    error: ErrorDetail


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Source(BaseModel):
    kind: Literal["upload", "url"]
    name: str


class Options(BaseModel):
    segment_seconds: float
    fps: float


class Video(BaseModel):
    container: str
    codec: str
    duration_s: float
    width: int
    height: int
    size_bytes: int
    frame_rate: float | None = Field(None, description="frames per second (average); null where the file does not say")
    frames: int | None = Field(None, description="frames in the video stream; null where the container does not say")
    rotation: int = Field(0, description="degrees the player turns the picture (0, 90, 180, 270)")


class Progress(BaseModel):
    segments_total: int
    segments_done: int


class Segment(BaseModel):
    index: int
    start_s: float
    end_s: float
    status: Literal["queued", "running", "done", "failed"]
    text: str | None = None
    usage: Usage
    seconds: float | None = None
    attempts: int = 0
    error: str | None = None


class Timings(BaseModel):
    probe_s: float | None = None
    analysis_s: float | None = None
    total_s: float | None = None


class JobError(BaseModel):
    code: str = Field(examples=["vllm_unavailable"])
    message: str


class Job(BaseModel):
    id: str
    status: JobStatus
    created_at: str
    updated_at: str
    prompt: str
    source: Source
    options: Options
    video: Video
    progress: Progress
    segments: list[Segment]
    summary: str | None = None
    model: str | None = None
    usage: Usage
    timings: Timings
    error: JobError | None = None


class JobList(BaseModel):
    jobs: list[Job]


class VllmHealth(BaseModel):
    state: Literal["ready", "loading", "down"]
    model: str | None = None
    reason: str | None = Field(None, description="why vLLM is down, as its systemd unit says (crash loop, restarting)")


class Health(BaseModel):
    status: Literal["ok"]
    version: str = Field(description="the service's version (sparkfleet-video)")
    vllm: VllmHealth


class VllmSystem(BaseModel):
    state: Literal["ready", "loading", "down"]
    model: str | None = None
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage: float | None = Field(None, description="0-1")
    tokens_per_s: list[list[float]] = Field(description="[[unix_ts, tokens_per_s], ...], every 5 s, ~10 minutes")


class HostSystem(BaseModel):
    memory_total_mib: float | None = None
    memory_available_mib: float | None = None


class Gpu(BaseModel):
    name: str
    driver_version: str | None = None
    memory_total_mib: float | None = Field(None, description="null where nvidia-smi says N/A (GB10)")
    utilization_pct: float | None = None
    count: int = 1


class System(BaseModel):
    vllm: VllmSystem
    host: HostSystem
    gpu: Gpu | None = None


class BenchResult(BaseModel):
    file: str = Field(description="path relative to the bench folder")
    modified_at: str
    result: dict | None = Field(None, description="the JSON file's content (vllm bench serve --save-result)")
    error: str | None = Field(None, description="why the file could not be read, if it could not")


class BenchList(BaseModel):
    results: list[BenchResult]


class Notes(BaseModel):
    markdown: str | None = None
    html: str | None = Field(None, description="the markdown rendered (tables too) and sanitized, for display")


def form_schema() -> dict:
    """requestBody schemas of POST /v1/jobs for the OpenAPI document (the route parses the body itself)."""
    fields = JobRequest.model_json_schema()
    props = dict(fields["properties"])
    props["prompt"] = {**props["prompt"], "pattern": r"\S"}  # not blank
    url = {"type": "string", "pattern": r"^https?://[^\s/?#]+", "maxLength": 4096,
           "description": props["url"].get("description", "")}
    props["url"] = url
    multipart = {"type": "object", "required": ["prompt"],
                 "properties": {"file": {"type": "string", "format": "binary",
                                         "description": "The video (or give url instead)."}, **props}}
    json_body = {"type": "object", "required": ["prompt", "url"], "properties": props}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": multipart, "encoding": {"file": {"contentType": "application/octet-stream"}}},
        "application/json": {"schema": json_body}}}
