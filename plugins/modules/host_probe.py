#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: one cheap, read-only look at what sparkfleet deployed on a host, and what drifted.

It reads the state file the last run wrote (/var/lib/sparkfleet/state.json), looks again at what that file lists
(the unit files' and the model manifest's sha256, the installed versions read from the venvs' metadata, the
services' states) and compares: find_drift() is a pure function, so unit tests call it without a host.
`sparkfleet status` calls it once per host.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_probe
short_description: Read what sparkfleet deployed on a host and what changed since (drift)
description:
  - Reads the state file of the last run and compares it with the host now, without changing anything and without
    starting any program but C(systemctl show); asks each service's C(/health) on the host's loopback.
  - Drift is what differs from the last run's record (a unit file edited by hand, the model manifest replaced, a
    package upgraded, a service stopped) or from the declared pins given in O(declared).
version_added: "0.2.0"
author: sparkfleet contributors
options:
  path:
    description: The state file the notes role writes.
    type: path
    default: /var/lib/sparkfleet/state.json
  declared:
    description: What the inventory declares, compared too. Keys C(model) (name), C(vllm_version),
      C(endpoint_version); a missing or empty key is not compared.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Probe the host
  sparkfleet.spark.host_probe:
    declared:
      model: qwen3-vl-tiny
      vllm_version: 0.32.0
  become: true
  register: probe
"""

RETURN = r"""
recorded:
  description: The last run's state (docs/run-data.md), or an empty dict when sparkfleet has not set up the host.
  returned: always
  type: dict
live:
  description: What the probe read now (units, manifest, versions, services).
  returned: always
  type: dict
drift:
  description: One entry per difference, each with C(what), C(expected) and C(found).
  returned: always
  type: list
  elements: dict
"""

import json  # noqa: E402
import urllib.error  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import (  # noqa: E402
    dist_version,
    file_sha256,
    read_text,
    unit_properties,
)


def read_state(path: str) -> dict:
    try:
        state = json.loads(read_text(path) or "{}")
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def answers(port: object, timeout: float = 5.0) -> bool | None:
    """Whether a service answers GET /health on the host's loopback (any answer below 500 counts: a key it asks
    for is not a fault); None when no port is known."""
    if not isinstance(port, int | str) or not str(port).isdigit():
        return None
    try:
        response = open_url(f"http://127.0.0.1:{port}/health", timeout=timeout, use_proxy=False)
        return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (OSError, ValueError):
        return False


def look(module: AnsibleModule | None, state: dict) -> dict:
    """What is on the host now, for each thing the state lists."""
    paths = state.get("paths") or {}
    services = {}
    for key in ("vllm", "video_endpoint"):
        section = state.get(key) or {}
        unit = section.get("unit")
        if unit and module is not None:
            props = unit_properties(module, unit, ["ActiveState", "UnitFileState"])
            services[unit] = {"active": props.get("ActiveState"), "enabled": props.get("UnitFileState"),
                              "answers": answers(section.get("port"))}
    return {
        "units": {path: file_sha256(path) for path in paths.get("units") or []},
        "manifest": file_sha256(paths.get("manifest")) if paths.get("manifest") else None,
        "vllm_version": dist_version(paths.get("vllm_venv"), "vllm"),
        "endpoint_version": dist_version(paths.get("endpoint_venv"), "sparkfleet-video"),
        "services": services,
    }


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "missing"


def _public(version: str, pin: str) -> str:
    """The version as a pin without a local label compares it: ==0.32.0 matches 0.32.0+cpu (PEP 440)."""
    return version if "+" in pin else version.split("+", 1)[0]


def find_drift(state: dict, live: dict, declared: dict) -> list[dict]:
    """What differs between the last run's record (and the declared pins) and the host now."""
    if not state:
        return []
    drift = []
    recorded = state.get("digests") or {}
    for path, digest in (recorded.get("units") or {}).items():
        now = (live.get("units") or {}).get(path)
        if now != digest:
            drift.append({"what": f"unit file {path}", "expected": _short(digest), "found": _short(now)})
    if recorded.get("manifest") and live.get("manifest") != recorded["manifest"]:
        drift.append({"what": "model manifest", "expected": _short(recorded["manifest"]),
                      "found": _short(live.get("manifest"))})
    for key, section in (("vllm_version", "vllm"), ("endpoint_version", "video_endpoint")):
        was, now = (state.get(section) or {}).get("version"), live.get(key)
        if was and now != was:  # only a version read from a venv (a container's is not read here)
            drift.append({"what": f"{section} version", "expected": was, "found": now or "missing"})
        pinned = declared.get(key)
        if pinned and now and _public(now, pinned) != pinned:
            drift.append({"what": f"{section} version (declared)", "expected": pinned, "found": now})
    for unit, now in (live.get("services") or {}).items():
        if now.get("active") != "active":
            drift.append({"what": f"service {unit}", "expected": "active", "found": now.get("active") or "unknown"})
        elif now.get("answers") is False:
            drift.append({"what": f"service {unit} /health", "expected": "answers", "found": "no answer"})
    model = (state.get("model") or {}).get("name")
    if declared.get("model") and model != declared["model"]:
        drift.append({"what": "model (declared)", "expected": declared["model"], "found": model or "none"})
    return drift


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "default": "/var/lib/sparkfleet/state.json"},
                       "declared": {"type": "dict", "default": {}}},
        supports_check_mode=True,
    )
    state = read_state(module.params["path"])
    live = look(module, state)
    module.exit_json(changed=False, recorded=state, live=live,
                     drift=find_drift(state, live, module.params["declared"] or {}))


if __name__ == "__main__":
    main()
