"""The fleet: each host's machine (OS, memory, GPU) and what it serves (vLLM, model, URLs, services), from its
state file, or from the doctor's facts when the host has none yet."""

from __future__ import annotations

from collections import defaultdict

from sparkfleet.core.records import dig
from sparkfleet.report.inputs import Inputs, parse_time
from sparkfleet.report.markdown import cell, code, fmt_time, gib, join_words, link, on_off, short_revision, table


def _section(state: dict, key: str) -> dict:
    value = state.get(key)
    return value if isinstance(value, dict) else {}


def fleet(inputs: Inputs) -> str:
    if not inputs.hosts:
        return "## Fleet\n\nNo hosts."
    machines = [_machine_row(inputs, host) for host in inputs.hosts]
    serving = [_serving_row(inputs, host) for host in inputs.hosts]
    out = ["## Fleet", "",
           table(["Host", "OS · arch", "Memory", "GPU", "Driver", "CUDA"], machines, "llrlll"), "",
           table(["Host", "vLLM", "Model", "API", "Endpoint", "Dashboard", "Services"], serving, "lllllll")]
    grouped: dict[str, list[str]] = defaultdict(list)
    for host in inputs.hosts:
        note = _source_note(inputs, host)
        if note:
            grouped[note].append(host)
    if grouped:
        out += ["", "*Where the rows come from:* " + "; ".join(f"{join_words(hosts)}: {note}"
                                                              for note, hosts in grouped.items()) + "."]
    return "\n".join(out)


def _machine_row(inputs: Inputs, host: str) -> list[str]:
    state = inputs.states.get(host) or {}
    system = _section(state, "system")
    facts = dig(inputs.doctor.get(host), "facts") or {}
    gpu = system.get("gpu") if "gpu" in system else None
    os_name = system.get("os")
    arch = system.get("arch") or facts.get("arch")
    memory = system.get("memory_total_mib") or dig(facts, "memory", "total_mib")
    gpu_name = driver = cuda = None
    if isinstance(gpu, dict):
        gpu_name, driver, cuda = gpu.get("name"), gpu.get("driver"), gpu.get("cuda")
    elif not system and isinstance(facts.get("gpu"), dict):  # the doctor's facts say it another way
        found = facts["gpu"]
        first = found.get("gpus")[0] if isinstance(found.get("gpus"), list) and found.get("gpus") else {}
        gpu_name = first.get("name") if found.get("present") else None
        driver, cuda = found.get("driver_version"), found.get("cuda_version")
        gpu = found if found.get("present") else None
    if not os_name and isinstance(facts.get("os"), dict):
        os_name = " ".join(str(facts["os"].get(k)) for k in ("distribution", "version") if facts["os"].get(k))
    has_facts = bool(system or facts)
    gpu_cell = cell(gpu_name) if gpu_name else ("none (CPU only)" if has_facts and gpu is None else "—")
    return [f"**{host}**", cell(" · ".join(str(v) for v in (os_name, arch) if v) or None),
            cell(gib(memory) if memory else None), gpu_cell, cell(driver), cell(cuda)]


def _serving_row(inputs: Inputs, host: str) -> list[str]:
    state = inputs.states.get(host) or {}
    model = _section(state, "model")
    model_name = model.get("name") or inputs.model(host)
    revision = short_revision(model.get("revision"))
    model_cell = code(model_name) if model_name else "—"
    if revision:
        model_cell += f" @ {code(revision)}"
    vllm, endpoint, urls = _section(state, "vllm"), _section(state, "video_endpoint"), _section(state, "urls")
    services = []
    for label, unit in (("vLLM", vllm), ("endpoint", endpoint)):
        if unit:
            shown = f"{on_off(unit.get('active'), 'active', 'inactive')}, " \
                    f"{on_off(unit.get('enabled'), 'enabled', 'disabled')}"
            services.append(f"{label}: " + (shown if shown == "active, enabled" else f"**{shown}**"))
    if endpoint and "api_key" in endpoint:
        services.append("API key: " + ("on" if endpoint.get("api_key") else "**off**"))
    method = f" ({cell(vllm.get('install_method'))})" if vllm.get("install_method") else ""
    return [f"**{host}**", cell(vllm.get("version")) + method, model_cell,
            link(urls.get("api")), link(urls.get("endpoint")), link(urls.get("dashboard")),
            "<br>".join(services) or "—"]


def _source_note(inputs: Inputs, host: str) -> str | None:
    """Where a host's rows come from, when that is not this run's state file."""
    state = inputs.states.get(host) or {}
    if not state:
        has_facts = bool(dig(inputs.doctor.get(host), "facts"))
        return "the doctor's facts (no state file yet)" if has_facts else "nothing: no state file yet"
    updated = parse_time(state.get("updated_at"))
    started = parse_time(inputs.record.started_at) if inputs.record else None
    if updated and started and updated < started:
        return (f"state of {fmt_time(state.get('updated_at'))}, from **before** this run "
                "(the notes phase did not write it this time)")
    if inputs.after_run(state.get("updated_at")):
        return (f"state of {fmt_time(state.get('updated_at'))}, written **after** this run by a later one: it "
                "shows the host as it is now, not as this run left it")
    return None
