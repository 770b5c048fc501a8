"""A bench result (bench/<bench id>.json on the host, .sparkfleet/bench/<host>/ in the project) as a typed
record, built tolerantly (docs/run-data.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sparkfleet.core.json_fields import Number, dig, number, objects, string, texts
from sparkfleet.core.project import Project


@dataclass(frozen=True)
class Latency:
    mean: Number | None
    median: Number | None
    p99: Number | None


@dataclass(frozen=True)
class VideoShape:
    width: object
    height: object
    frames: object


@dataclass(frozen=True)
class Scenario:
    name: str | None
    traffic: str | None  # text, image, video
    concurrency: Number | None
    completed: Number | None
    failed: Number | None
    error: str | None
    request_throughput: Number | None
    output_throughput: Number | None
    ttft_ms: Latency
    tpot_ms: Latency
    itl_ms: Latency
    e2el_ms: Latency
    video: VideoShape | None


@dataclass(frozen=True)
class GpuConditions:
    name: str | None
    clock_sm_max_mhz: Number | None
    clock_sm_peak_mhz: Number | None
    clock_sm_idle_mhz: Number | None


@dataclass(frozen=True)
class Conditions:
    memory_total_mib: Number | None
    memory_available_mib: Number | None
    memory_psi_some_avg10: Number | None
    gpu: GpuConditions | None
    gpu_recorded: bool  # "gpu": null says there is none; no "gpu" says nothing


@dataclass(frozen=True)
class BenchResult:
    id: str | None
    host: str | None
    profile: str | None
    started_at: str | None
    duration_s: Number | None
    model: str | None
    model_revision: str | None
    vllm_version: str | None
    serving_key: str | None
    seed: int | None
    conditions: Conditions | None
    warnings: list[str]
    scenarios: list[Scenario] = field(default_factory=list)  # in the file's order


def parse_latency(raw) -> Latency:
    return Latency(mean=number(dig(raw, "mean")), median=number(dig(raw, "median")), p99=number(dig(raw, "p99")))


def parse_scenario(raw: dict) -> Scenario:
    video = raw.get("video")
    return Scenario(name=string(raw.get("name")), traffic=string(raw.get("traffic")),
                    concurrency=number(raw.get("concurrency")), completed=number(raw.get("completed")),
                    failed=number(raw.get("failed")), error=string(raw.get("error")),
                    request_throughput=number(raw.get("request_throughput")),
                    output_throughput=number(raw.get("output_throughput")),
                    ttft_ms=parse_latency(raw.get("ttft_ms")), tpot_ms=parse_latency(raw.get("tpot_ms")),
                    itl_ms=parse_latency(raw.get("itl_ms")), e2el_ms=parse_latency(raw.get("e2el_ms")),
                    video=VideoShape(video.get("width", "?"), video.get("height", "?"), video.get("frames", "?"))
                    if isinstance(video, dict) else None)


def parse_conditions(raw: dict) -> Conditions:
    gpu = raw.get("gpu")
    return Conditions(memory_total_mib=number(raw.get("memory_total_mib")),
                      memory_available_mib=number(raw.get("memory_available_mib")),
                      memory_psi_some_avg10=number(raw.get("memory_psi_some_avg10")),
                      gpu=GpuConditions(name=string(gpu.get("name")),
                                        clock_sm_max_mhz=number(gpu.get("clock_sm_max_mhz")),
                                        clock_sm_peak_mhz=number(gpu.get("clock_sm_peak_mhz")),
                                        clock_sm_idle_mhz=number(gpu.get("clock_sm_idle_mhz")))
                      if isinstance(gpu, dict) else None,
                      gpu_recorded="gpu" in raw)


def parse_bench_result(raw: dict) -> BenchResult:
    seed = raw.get("seed")
    conditions = raw.get("conditions")
    return BenchResult(id=string(raw.get("id")), host=string(raw.get("host")), profile=string(raw.get("profile")),
                       started_at=string(raw.get("started_at")), duration_s=number(raw.get("duration_s")),
                       model=string(raw.get("model")), model_revision=string(raw.get("model_revision")),
                       vllm_version=string(raw.get("vllm_version")), serving_key=string(raw.get("serving_key")),
                       seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                       conditions=parse_conditions(conditions) if isinstance(conditions, dict) and conditions
                       else None,
                       warnings=texts(raw.get("warnings")),
                       scenarios=[parse_scenario(s) for s in objects(raw.get("scenarios"))])


def load_bench(path: str | Path) -> dict:
    """One bench result file. Raises OSError or ValueError when it cannot be read as a JSON object."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a bench result (a JSON object)")
    return data


def latest_bench(project: Project, host: str) -> list[dict]:
    """A host's bench results, newest first (by start time, then id); unreadable files are left out."""
    folder = project.bench_dir / host
    results = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            results.append(load_bench(path))
        except (OSError, ValueError):
            continue
    results.sort(key=lambda r: (str(r.get("started_at") or ""), str(r.get("id") or "")), reverse=True)
    return results
