#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: the host's machine-readable state file (/var/lib/sparkfleet/state.json).

merge_state() is a pure function (previous state + what was observed + the run's record -> new state), so unit
tests call it without a host. The notes and the problems history are carried over from the previous state;
everything else is observed again on every run, so nothing is kept twice.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state
short_description: Write the host's sparkfleet state file
description:
  - Merges what the run observed (system, model, vLLM, endpoint, URLs, paths), the controller's record of the
    current run (phases, failures, verify results) and the newest bench result on the host into the state
    file, keeping the notes and the history of problems from the previous state.
  - A problem is a phase that failed on this host; it is marked resolved (with the run and the changes that
    fixed it) when a later run passes that phase.
  - The file is written atomically, mode 0644; it holds no secrets.
version_added: "0.1.0"
author: sparkfleet contributors
options:
  path:
    description: The state file.
    type: path
    required: true
  host:
    description: The host's inventory name.
    type: str
    required: true
  config:
    description: What sparkfleet deploys on the host, from playbooks/tasks/describe_serving.yml and the inventory
      (keys profile, model, vllm, video, gpu, urls); the module adds what it reads on the host (OS, versions,
      unit states, the model's manifest).
    type: dict
    required: true
  record:
    description: The controller's record of the current run (docs/run-data.md); empty for `notes add`.
    type: dict
    default: {}
  add_note:
    description: A note to append (from `sparkfleet notes add`).
    type: str
    default: ""
  bench_dir:
    description: Where bench results are; the newest is summarised as C(last_bench).
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Record the state
  sparkfleet.spark.host_state:
    path: /var/lib/sparkfleet/state.json
    host: "{{ inventory_hostname }}"
    config: "{{ _notes_config }}"
    record: "{{ notes_record }}"
  become: true
"""

RETURN = r"""
state:
  description: The state as written (docs/run-data.md).
  returned: always
  type: dict
"""

import datetime  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import (  # noqa: E402
    file_sha256,
    package_version,
    unit_properties,
    write_atomic,
)

SCHEMA = 1
MAX_PROBLEMS = 50
MAX_NOTES = 200
CARRIED = ("notes", "problems", "last_run", "last_verify", "created_at")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def host_phases(record: dict, host: str) -> list[dict]:
    """The record's phases as this host saw them: ok unless this host failed (or the phase failed with no host)."""
    phases = []
    for phase in record.get("phases") or []:
        mine = [f for f in phase.get("failures") or [] if f.get("host") == host]
        failed = bool(mine) or (not phase.get("ok", True) and not phase.get("failures"))
        phases.append({"phase": phase.get("phase"), "ok": not failed, "skipped": phase.get("skipped", False),
                       "duration_s": phase.get("duration_s"),
                       "changes": [c["task"] for c in phase.get("changes") or [] if c.get("host") == host],
                       "failure": mine[0] if mine else ({"message": phase.get("error")} if failed else None)})
    return phases


def merge_problems(problems: list[dict], record: dict, phases: list[dict], at: str) -> list[dict]:
    problems = [dict(p) for p in problems]
    run_id = record.get("id")
    for phase in phases:
        if phase["skipped"]:
            continue
        if phase["ok"]:
            for problem in problems:
                if problem.get("phase") == phase["phase"] and not problem.get("resolved_at"):
                    problem["resolved_at"] = at
                    problem["resolved_by"] = run_id
                    problem["fix"] = ("this run changed: " + "; ".join(phase["changes"][:6]) if phase["changes"]
                                      else "passed again with no change on the host (a transient failure, "
                                      "or fixed outside sparkfleet)")
        else:
            failure = phase["failure"] or {}
            message = " ".join(str(part) for part in (failure.get("task") and f"[{failure['task']}]",
                                                       failure.get("message")) if part) or "failed"
            problems.append({"at": at, "run": run_id, "phase": phase["phase"], "message": message[:800],
                             "hint": failure.get("hint"), "resolved_at": None, "resolved_by": None, "fix": None})
    return problems[-MAX_PROBLEMS:]


def _served_now(record: dict, host: str) -> bool:
    """Whether this run's serve phase ran (not skipped) and passed on the host."""
    return any(p["phase"] == "serve" and p["ok"] and not p["skipped"] for p in host_phases(record, host))


def merge_state(previous: dict, observed: dict, record: dict, host: str, add_note: str = "",
                last_bench: dict | None = None, at: str | None = None) -> dict:
    at = at or now()
    state = {"schema": SCHEMA, "host": host, "updated_at": at, **observed}
    for key in CARRIED:
        if key in previous:
            state[key] = previous[key]
    state.setdefault("created_at", at)
    state["notes"] = list(previous.get("notes") or [])
    if add_note.strip():
        state["notes"].append({"at": at, "text": add_note.strip()})
        state["notes"] = state["notes"][-MAX_NOTES:]
    if not _served_now(record, host):
        # The digests and inputs describe what the last serve wrote; a run that did not serve (verify, bench,
        # notes add, a serve skipped as in sync) keeps them, so that a hand edit stays drift until `up` fixes it.
        for key in ("digests", "inputs"):
            if key in previous:
                state[key] = previous[key]
    if record.get("id"):
        phases = host_phases(record, host)
        state["problems"] = merge_problems(previous.get("problems") or [], record, phases, at)
        state["last_run"] = {"id": record["id"], "command": record.get("command"),
                             "started_at": record.get("started_at"), "at": at,
                             "ok": all(p["ok"] for p in phases),
                             "phases": [{k: p[k] for k in ("phase", "ok", "skipped", "duration_s")} | {
                                 "changes": len(p["changes"])} for p in phases]}
        verify = ((next((p for p in record.get("phases") or [] if p.get("phase") == "verify"), None) or {})
                  .get("data") or {}).get(host)
        if verify:
            state["last_verify"] = {"at": at, "run": record["id"], "ok": verify.get("ok"),
                                    "failed": [c["id"] for c in verify.get("checks", []) if not c.get("ok")]}
    state.setdefault("problems", [])
    if last_bench:
        state["last_bench"] = last_bench
    return state


def bench_summary(result: dict, path: str) -> dict:
    return {"id": result.get("id"), "at": result.get("finished_at"), "file": path, "seed": result.get("seed"),
            "warnings": result.get("warnings") or [],
            "scenarios": {s.get("name"): {"output_throughput": s.get("output_throughput"),
                                          "request_throughput": s.get("request_throughput"),
                                          "ttft_ms_median": (s.get("ttft_ms") or {}).get("median"),
                                          "tpot_ms_median": (s.get("tpot_ms") or {}).get("median")}
                          for s in result.get("scenarios") or []}}


def newest_bench(folder: str | None) -> dict | None:
    if not folder:
        return None
    files = sorted(glob.glob(os.path.join(folder, "*.json")), key=os.path.getmtime, reverse=True)
    for path in files:
        try:
            with open(path) as fh:
                return bench_summary(json.load(fh), path)
        except (OSError, ValueError):
            continue
    return None


def read_json(path: str) -> dict:
    try:
        with open(path) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def os_release() -> str | None:
    for line in open_lines("/etc/os-release"):
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return None


def open_lines(path: str) -> list[str]:
    try:
        with open(path) as fh:
            return fh.read().splitlines()
    except OSError:
        return []


def unit_state(module: AnsibleModule, unit: str) -> dict:
    props = unit_properties(module, unit, ["ActiveState", "UnitFileState", "NRestarts"])
    return {"active": props.get("ActiveState"), "enabled": props.get("UnitFileState"),
            "restarts": int(props["NRestarts"]) if props.get("NRestarts", "").isdigit() else None}


def observe(module: AnsibleModule, config: dict) -> dict:
    """What is on the host now, in the state file's shape (docs/run-data.md)."""
    model, vllm, video, gpu = (config.get(k) or {} for k in ("model", "vllm", "video", "gpu"))
    manifest = read_json(model.get("manifest") or "")
    files = manifest.get("files") or {}
    first_gpu = (gpu.get("gpus") or [None])[0] if gpu.get("present") else None
    uname = os.uname()
    recorded = read_json(vllm.get("state_file") or "")
    python = os.path.join(vllm["venv"], "bin", "python") if vllm.get("venv") else None
    if vllm.get("install_method") == "container" and vllm.get("unit"):
        vllm_python = [*(vllm.get("command") or ["docker", "exec", vllm["unit"], "vllm"])[:-1], "python3"]
    else:
        vllm_python = [python] if python and os.path.exists(python) else []
    video_python = os.path.join(video["venv"], "bin", "python") if video.get("venv") else None
    units = [f"/etc/systemd/system/{u}.service" for u in (vllm.get("unit"), video.get("unit")) if u]
    return {
        "profile": config.get("profile"),
        "system": {"os": os_release(), "kernel": uname.release, "arch": uname.machine,
                   "memory_total_mib": gpu.get("memory_total_mib"),
                   "gpu": {"name": first_gpu.get("name"), "driver": gpu.get("driver_version"),
                           "cuda": gpu.get("cuda_version"), "compute_capability": first_gpu.get("compute_capability")}
                   if first_gpu else None},
        "model": {"name": model.get("name"), "repo": model.get("repo"), "revision": manifest.get("commit"),
                  "path": model.get("path"), "served_name": model.get("served_name"), "files": len(files),
                  "size_bytes": sum(f.get("size", 0) for f in files.values())},
        "vllm": {"version": package_version(module, vllm_python, "vllm"),
                 "install_method": vllm.get("install_method"), "image": vllm.get("image"),
                 "image_digest": recorded.get("image_digest"), "unit": vllm.get("unit"), "port": vllm.get("port"),
                 **unit_state(module, vllm.get("unit") or "")},
        "video_endpoint": {"version": package_version(module, [video_python] if video_python and
                                                      os.path.exists(video_python) else [],
                                                      video.get("package") or "sparkfleet-video"),
                           "unit": video.get("unit"), "port": video.get("port"), "listen": video.get("host"),
                           "api_key": bool(video.get("api_key_set")), "tls": video.get("tls") or "off",
                           **unit_state(module, video.get("unit") or "")},
        "urls": config.get("urls") or {},
        "inputs": config.get("inputs") or None,
        "paths": {"model": model.get("path"), "vllm": vllm.get("venv") or vllm.get("state_file"),
                  "endpoint": video.get("root"), "endpoint_data": video.get("data_dir"),
                  "bench": video.get("bench_dir"), "notes": video.get("notes_file"), "state": config.get("state_file"),
                  "units": units, "manifest": model.get("manifest"), "vllm_state": vllm.get("state_file"),
                  "vllm_venv": vllm.get("venv"), "endpoint_venv": video.get("venv")},
        # What host_probe compares on the next `status` or `up`: a hand edit changes a digest (drift).
        "digests": {"units": {path: file_sha256(path) for path in units},
                    "manifest": file_sha256(model.get("manifest"))},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "host": {"type": "str", "required": True},
            "config": {"type": "dict", "required": True},
            "record": {"type": "dict", "default": {}},
            "add_note": {"type": "str", "default": ""},
            "bench_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    previous = read_json(p["path"])
    observed = observe(module, {**p["config"], "state_file": p["path"]})
    state = merge_state(previous, observed, p["record"], p["host"], p["add_note"], newest_bench(p["bench_dir"]))
    text = json.dumps(state, indent=2, sort_keys=True) + "\n"
    changed = text != (json.dumps(previous, indent=2, sort_keys=True) + "\n" if previous else None)
    if changed and not module.check_mode:
        write_atomic(p["path"], text)
    module.exit_json(changed=changed, state=state)


if __name__ == "__main__":
    main()
