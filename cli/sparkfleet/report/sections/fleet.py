"""The fleet: each host's machine (OS, memory, GPU) and what it serves (vLLM, model, URLs, services), from its
state file, or from the doctor's facts when the host has none yet."""

from __future__ import annotations

from collections import defaultdict

from sparkfleet.core.host_state import HostState
from sparkfleet.report.inputs import Inputs, parse_time
from sparkfleet.report.markdown import cell, code, fmt_time, gib, join_words, link, on_off, short_revision, table


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
    """From the state file's system, else from the doctor's facts."""
    state, facts = inputs.states.get(host), inputs.facts.get(host)
    system = state.system if state else None
    gpu, gpu_found = (system.gpu, not system.no_gpu) if system else (None, False)
    if system is None and facts is not None and facts.gpu is not None:
        gpu, gpu_found = facts.gpu, facts.gpu_present
    os_name = (system.os if system else None) or (facts.os if facts else None)
    arch = (system.arch if system else None) or (facts.arch if facts else None)
    memory = (system.memory_total_mib if system else None) or (facts.memory_total_mib if facts else None)
    has_facts = system is not None or facts is not None
    gpu_name = gpu.name if gpu else None
    gpu_cell = cell(gpu_name) if gpu_name else ("none (CPU only)" if has_facts and not gpu_found else "—")
    return [f"**{host}**", cell(" · ".join(v for v in (os_name, arch) if v) or None),
            cell(gib(memory) if memory else None), gpu_cell, cell(gpu.driver if gpu else None),
            cell(gpu.cuda if gpu else None)]


def _services(state: HostState) -> list[str]:
    """Each service active and enabled (in bold when not), and whether the endpoint asks for a key."""
    services = []
    for label, service in (("vLLM", state.vllm), ("endpoint", state.video_endpoint)):
        if service is not None:
            shown = f"{on_off(service.active, 'active', 'inactive')}, {on_off(service.enabled, 'enabled', 'disabled')}"
            services.append(f"{label}: " + (shown if shown == "active, enabled" else f"**{shown}**"))
    if state.video_endpoint is not None and state.video_endpoint.api_key is not None:
        services.append("API key: " + ("on" if state.video_endpoint.api_key else "**off**"))
    return services


def _serving_row(inputs: Inputs, host: str) -> list[str]:
    state = inputs.states.get(host)
    if state is None:
        model_name = inputs.model(host)
        return [f"**{host}**", "—", code(model_name) if model_name else "—", "—", "—", "—", "—"]
    model_name = state.model.name or inputs.model(host)
    revision = short_revision(state.model.revision)
    model_cell = code(model_name) if model_name else "—"
    if revision:
        model_cell += f" @ {code(revision)}"
    vllm = state.vllm
    method = f" ({cell(vllm.install_method)})" if vllm and vllm.install_method else ""
    return [f"**{host}**", cell(vllm.version if vllm else None) + method, model_cell,
            link(state.urls.api) + (" (on the host only)" if state.urls.api_local else ""),
            link(state.urls.endpoint), link(state.urls.dashboard),
            "<br>".join(_services(state)) or "—"]


def _source_note(inputs: Inputs, host: str) -> str | None:
    """Where a host's rows come from, when that is not this run's state file."""
    state = inputs.states.get(host)
    if state is None:
        return ("the doctor's facts (no state file yet)" if host in inputs.facts
                else "nothing: no state file yet")
    updated = parse_time(state.updated_at)
    started = parse_time(inputs.record.started_at) if inputs.record else None
    if updated and started and updated < started:
        return (f"state of {fmt_time(state.updated_at)}, from **before** this run "
                "(the notes phase did not write it this time)")
    if inputs.after_run(state.updated_at):
        return (f"state of {fmt_time(state.updated_at)}, written **after** this run by a later one: it "
                "shows the host as it is now, not as this run left it")
    return None
