"""What runs leave behind and everything else reads: the phases of each command, run records, verify and bench
results and the hosts' state files (docs/run-data.md). runs/ writes them; report/ and cli/ read them through here.

The typed records are built tolerantly, one parsing function each: a field of the wrong type counts as missing,
so a partly broken file still gives a record. Only input that is not a JSON object at all is refused (by the
reader, which then leaves the file out with a notice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sparkfleet.core.project import Project

UP_PHASES = ["doctor", "serve", "verify", "bench"]
# The phases each command runs, in order; the last, notes, runs whatever happened before it.
COMMAND_PHASES = {"up": [*UP_PHASES, "notes"], "verify": ["verify", "notes"], "bench": ["bench", "notes"]}
# Phases that only read, measure or record: their changes are not changes to how a host is set up.
BOOKKEEPING = {"doctor", "verify", "bench", "notes"}

Number = int | float


# field readers: the value when it has the schema's type, else None -----------------------------------------
def number(value) -> Number | None:
    """A JSON number as it was written (an int stays an int); None for anything else, booleans included."""
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def string(value) -> str | None:
    return value if isinstance(value, str) and value else None


def flag(value) -> bool | None:
    return value if isinstance(value, bool) else None


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def objects(value) -> list[dict]:
    """The JSON objects of a list (anything else in it is left out)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def texts(value) -> list[str]:
    """A list of free-text lines (warnings, journal lines), each as text."""
    return [str(item) for item in value] if isinstance(value, list) else []


def dig(data, *keys):
    """data[k1][k2]...; None as soon as a level is not a JSON object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# a history record (.sparkfleet/history/<id>.json) ----------------------------------------------------------
@dataclass(frozen=True)
class Change:
    host: str | None
    task: str | None  # "role : task name"


@dataclass(frozen=True)
class Failure:
    host: str | None
    task: str | None
    status: str | None  # failed, unreachable
    message: str | None
    hint: str | None


@dataclass(frozen=True)
class Phase:
    name: str | None
    ok: bool | None
    skipped: bool
    started_at: str | None
    duration_s: Number | None
    changes: list[Change]
    failures: list[Failure]
    error: str | None
    run_id: str | None
    artifacts_dir: str | None
    data: object  # what the phase published (its shape is the phase's: see docs/run-data.md)


@dataclass(frozen=True)
class RunRecord:
    id: str | None
    command: str | None
    started_at: str | None
    finished_at: str | None
    duration_s: Number | None
    ok: bool | None  # None: the record does not say (a record with "ok": null is a run that did not finish: False)
    exit_code: int | None
    hosts: list[str]
    model: str | None
    warnings: list[str]
    error: str | None
    phases: list[Phase]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)


def parse_change(raw: dict) -> Change:
    return Change(host=string(raw.get("host")), task=string(raw.get("task")))


def parse_failure(raw: dict) -> Failure:
    return Failure(host=string(raw.get("host")), task=string(raw.get("task")), status=string(raw.get("status")),
                   message=string(raw.get("message")), hint=string(raw.get("hint")))


def parse_phase(raw: dict) -> Phase:
    return Phase(name=string(raw.get("phase")), ok=flag(raw.get("ok")), skipped=bool(raw.get("skipped")),
                 started_at=string(raw.get("started_at")), duration_s=number(raw.get("duration_s")),
                 changes=[parse_change(c) for c in objects(raw.get("changes"))],
                 failures=[parse_failure(f) for f in objects(raw.get("failures"))],
                 error=string(raw.get("error")), run_id=string(raw.get("run_id")),
                 artifacts_dir=string(raw.get("artifacts_dir")), data=raw.get("data"))


def parse_run_record(raw: dict) -> RunRecord:
    ok = bool(raw["ok"]) if "ok" in raw else None
    exit_code = raw.get("exit_code")
    return RunRecord(id=string(raw.get("id")), command=string(raw.get("command")),
                     started_at=string(raw.get("started_at")), finished_at=string(raw.get("finished_at")),
                     duration_s=number(raw.get("duration_s")), ok=ok,
                     exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
                     hosts=[h for h in as_list(raw.get("hosts")) if isinstance(h, str)],
                     model=string(raw.get("model")), warnings=texts(raw.get("warnings")),
                     error=string(raw.get("error")), phases=[parse_phase(p) for p in objects(raw.get("phases"))])


# a verify result (published by the verify phase, per host) -------------------------------------------------
@dataclass(frozen=True)
class Check:
    id: str | None
    ok: bool
    severity: str | None  # error fails verify, warning does not
    message: str | None
    hint: str | None
    journal: list[str]  # the unit's last journal lines, for a failed check about a unit

    @property
    def is_warning(self) -> bool:
        return not self.ok and self.severity == "warning"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool | None
    checks: list[Check]

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)


def parse_check(raw: dict) -> Check:
    return Check(id=string(raw.get("id")), ok=bool(raw.get("ok")), severity=string(raw.get("severity")),
                 message=string(raw.get("message")), hint=string(raw.get("hint")), journal=texts(raw.get("journal")))


def parse_verify_result(raw: dict) -> VerifyResult:
    return VerifyResult(ok=flag(raw.get("ok")), checks=[parse_check(c) for c in objects(raw.get("checks"))])


# a bench result (bench/<bench id>.json) ---------------------------------------------------------------------
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


# a host's state file (/var/lib/sparkfleet/state.json, fetched to .sparkfleet/hosts/<host>/) ------------------
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
    gpu: GpuInfo | None  # None: no GPU (or none recorded)


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


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def parse_service(raw: dict) -> Service:
    return Service(unit=string(raw.get("unit")), active=flag(raw.get("active")), enabled=flag(raw.get("enabled")),
                   version=string(raw.get("version")), install_method=string(raw.get("install_method")),
                   api_key=bool(raw["api_key"]) if "api_key" in raw else None)


def parse_problem(raw: dict) -> Problem:
    return Problem(at=string(raw.get("at")), phase=string(raw.get("phase")), message=string(raw.get("message")),
                   resolved_at=string(raw.get("resolved_at")), resolved_by=string(raw.get("resolved_by")),
                   fix=string(raw.get("fix")))


def parse_host_state(raw: dict) -> HostState:
    system, model, urls, paths = (_object(raw.get(k)) for k in ("system", "model", "urls", "paths"))
    gpu = system.get("gpu")
    vllm, endpoint, last_verify = (_object(raw.get(k)) for k in ("vllm", "video_endpoint", "last_verify"))
    return HostState(
        updated_at=string(raw.get("updated_at")), profile=string(raw.get("profile")),
        system=SystemInfo(os=string(system.get("os")), arch=string(system.get("arch")),
                          memory_total_mib=number(system.get("memory_total_mib")),
                          gpu=GpuInfo(string(gpu.get("name")), string(gpu.get("driver")), string(gpu.get("cuda")))
                          if isinstance(gpu, dict) else None) if system else None,
        model=ServedModel(name=string(model.get("name")), revision=string(model.get("revision"))),
        vllm=parse_service(vllm) if vllm else None,
        video_endpoint=parse_service(endpoint) if endpoint else None,
        urls=Urls(api=string(urls.get("api")), endpoint=string(urls.get("endpoint")),
                  dashboard=string(urls.get("dashboard"))),
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
    os_facts, gpu = _object(raw.get("os")), raw.get("gpu")
    os_name = " ".join(str(os_facts[k]) for k in ("distribution", "version") if os_facts.get(k))
    present = isinstance(gpu, dict) and bool(gpu.get("present"))
    gpu_info = None
    if isinstance(gpu, dict):
        first = (objects(gpu.get("gpus")) or [{}])[0]
        gpu_info = GpuInfo(string(first.get("name")) if present else None, string(gpu.get("driver_version")),
                           string(gpu.get("cuda_version")))
    return DoctorFacts(profile=string(raw.get("profile")), arch=string(raw.get("arch")), os=os_name or None,
                       memory_total_mib=number(dig(raw, "memory", "total_mib")), gpu=gpu_info, gpu_present=present)


# reading the files ------------------------------------------------------------------------------------------
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


def read_host_state(project: Project, host: str) -> dict | None:
    """The host's state.json as the last run gathered it, or None."""
    try:
        return json.loads((project.hosts_dir / host / "state.json").read_text())
    except (OSError, ValueError):
        return None
