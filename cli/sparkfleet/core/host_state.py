"""What is known of a host as typed records, built tolerantly: its state file (written by the notes role to
/var/lib/sparkfleet/state.json, fetched to .sparkfleet/hosts/<host>/) and the facts the doctor phase found."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sparkfleet.core.json_fields import Number, as_object, dig, flag, number, objects, string, texts
from sparkfleet.core.project import Project


@dataclass(frozen=True)
class GpuInfo:
    name: str | None
    driver: str | None
    cuda: str | None


@dataclass(frozen=True)
class SystemInfo:
    os: str | None
    arch: str | None
    memory_total_mib: Number | None
    gpu: GpuInfo | None
    no_gpu: bool  # the file says there is none ("gpu": null, or no "gpu"); an unreadable value says nothing


@dataclass(frozen=True)
class ServedModel:
    name: str | None
    revision: str | None


@dataclass(frozen=True)
class Service:
    """A systemd service the host runs (vLLM, the video endpoint)."""

    unit: str | None
    active: bool | None
    enabled: bool | None
    version: str | None
    install_method: str | None  # vLLM's: pip or container
    api_key: bool | None  # the endpoint's: whether it asks for a key; None: not recorded


@dataclass(frozen=True)
class Urls:
    api: str | None
    endpoint: str | None
    dashboard: str | None
    api_local: bool = False  # vLLM listens on the host's loopback: the API URL works on the host only


@dataclass(frozen=True)
class LastVerify:
    ok: bool
    at: str | None
    failed: list[str]  # the ids of the checks that failed


@dataclass(frozen=True)
class Problem:
    """A problem a run met on the host, and how it was fixed (resolved_at, resolved_by, fix) once it was."""

    at: str | None
    phase: str | None
    message: str | None
    resolved_at: str | None
    resolved_by: str | None
    fix: str | None


@dataclass(frozen=True)
class HostState:
    updated_at: str | None
    profile: str | None
    system: SystemInfo | None
    model: ServedModel
    vllm: Service | None
    video_endpoint: Service | None
    urls: Urls
    notes_path: str | None  # where the notes are on the host
    last_verify: LastVerify | None
    problems: list[Problem]


def parse_service(raw: dict) -> Service:
    return Service(unit=string(raw.get("unit")), active=flag(raw.get("active")), enabled=flag(raw.get("enabled")),
                   version=string(raw.get("version")), install_method=string(raw.get("install_method")),
                   api_key=bool(raw["api_key"]) if "api_key" in raw else None)


def parse_problem(raw: dict) -> Problem:
    return Problem(at=string(raw.get("at")), phase=string(raw.get("phase")), message=string(raw.get("message")),
                   resolved_at=string(raw.get("resolved_at")), resolved_by=string(raw.get("resolved_by")),
                   fix=string(raw.get("fix")))


def parse_host_state(raw: dict) -> HostState:
    system, model, urls, paths = (as_object(raw.get(k)) for k in ("system", "model", "urls", "paths"))
    gpu = system.get("gpu")
    vllm, endpoint, last_verify = (as_object(raw.get(k)) for k in ("vllm", "video_endpoint", "last_verify"))
    return HostState(
        updated_at=string(raw.get("updated_at")), profile=string(raw.get("profile")),
        system=SystemInfo(os=string(system.get("os")), arch=string(system.get("arch")),
                          memory_total_mib=number(system.get("memory_total_mib")),
                          gpu=GpuInfo(string(gpu.get("name")), string(gpu.get("driver")), string(gpu.get("cuda")))
                          if isinstance(gpu, dict) else None, no_gpu=gpu is None) if system else None,
        model=ServedModel(name=string(model.get("name")), revision=string(model.get("revision"))),
        vllm=parse_service(vllm) if vllm else None,
        video_endpoint=parse_service(endpoint) if endpoint else None,
        urls=Urls(api=string(urls.get("api")), endpoint=string(urls.get("endpoint")),
                  dashboard=string(urls.get("dashboard")), api_local=urls.get("api_local") is True),
        notes_path=string(paths.get("notes")) or string(paths.get("state_dir")),
        last_verify=LastVerify(ok=bool(last_verify["ok"]), at=string(last_verify.get("at")),
                               failed=texts(last_verify.get("failed"))) if "ok" in last_verify else None,
        problems=[parse_problem(p) for p in objects(raw.get("problems"))])


# the doctor's facts about a host (published by the preflight role) ------------------------------------------
@dataclass(frozen=True)
class DoctorFacts:
    profile: str | None
    arch: str | None
    os: str | None  # distribution and version
    memory_total_mib: Number | None
    gpu: GpuInfo | None  # what the facts say of the GPU: its name when there is one, the driver and CUDA
    gpu_present: bool


def parse_doctor_facts(raw: dict) -> DoctorFacts:
    os_facts, gpu = as_object(raw.get("os")), raw.get("gpu")
    os_name = " ".join(str(os_facts[k]) for k in ("distribution", "version") if os_facts.get(k))
    present = isinstance(gpu, dict) and bool(gpu.get("present"))
    gpu_info = None
    if isinstance(gpu, dict):
        first = (objects(gpu.get("gpus")) or [{}])[0]
        gpu_info = GpuInfo(string(first.get("name")) if present else None, string(gpu.get("driver_version")),
                           string(gpu.get("cuda_version")))
    return DoctorFacts(profile=string(raw.get("profile")), arch=string(raw.get("arch")), os=os_name or None,
                       memory_total_mib=number(dig(raw, "memory", "total_mib")), gpu=gpu_info, gpu_present=present)


def read_host_state(project: Project, host: str) -> dict | None:
    """The host's state.json as the last run gathered it, or None."""
    try:
        return json.loads((project.hosts_dir / host / "state.json").read_text())
    except (OSError, ValueError):
        return None
