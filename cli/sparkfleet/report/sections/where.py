"""Where things are: each host's notes, state file, dashboard, bench file and logs, the run record, and
Ansible's artifacts of each phase, linked relative to the report so the project folder can move."""

from __future__ import annotations

from pathlib import Path

from sparkfleet.core import video_key
from sparkfleet.core.project import STATE_DIRNAME, Project
from sparkfleet.report.inputs import HOST_FILES, Inputs, artifacts_folder
from sparkfleet.report.markdown import code, file_link, link


def where(inputs: Inputs, report_dir: Path) -> str:
    def link_file(relpath: Path, label: str | None = None) -> str:
        return file_link(inputs.root, report_dir, inputs.root / relpath, label)

    out = ["## Where things are"]
    for host in inputs.hosts:
        out.append(f"- **{host}**: " + " · ".join(_host_items(inputs, host, link_file)))
    if inputs.record is not None:
        if inputs.record_path is not None:
            out.append("- Run record: " + link_file(inputs.record_path.relative_to(inputs.root)))
        artifacts = []
        for phase in inputs.phases():
            folder = artifacts_folder(inputs.root, phase)
            if folder is not None:
                name = str(phase.name)
                artifacts.append(link_file(folder, name) if inputs.root / folder in inputs.present
                                 else f"{name} (no longer there)")
        if artifacts:
            out.append(f"- Ansible's artifacts of each phase (events, output, stats) under "
                       f"`{STATE_DIRNAME}/runs/`: " + " · ".join(artifacts))
    key_place = video_key.location(Project(inputs.root))
    if key_place:
        out.append(f"- The video endpoint's API key (hosts with `video_endpoint_open: false`): {code(key_place)}")
    return "\n".join(out)


def _host_items(inputs: Inputs, host: str, link_file) -> list[str]:
    state = inputs.states.get(host)
    items = []
    host_dir = Project(inputs.root).hosts_dir / host
    for name in HOST_FILES:
        if host_dir / name in inputs.present:
            items.append(link_file(host_dir.relative_to(inputs.root) / name))
    items.append(f"on the host: {code((state.notes_path if state else None) or '/var/lib/sparkfleet')}")
    if state and state.urls.dashboard:
        items.append(f"dashboard {link(state.urls.dashboard)}")
    current = inputs.benches[host].current
    if current is not None:
        path = current.path
        items.append("bench " + link_file(path.relative_to(inputs.root) if path.is_relative_to(inputs.root)
                                          else path, path.name))
    if state and state.vllm and state.vllm.unit:
        items.append(f"logs: `journalctl -u {state.vllm.unit}`")
    return items
