#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: wait until the host's vLLM answers and serves the model; fail fast when its unit crash-loops."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vllm_wait_healthy
short_description: Wait until vLLM answers /health and lists the model
description:
  - Polls C(http://127.0.0.1:<port>/health) and C(/v1/models) every two seconds until the model is listed.
  - Fails early when the unit fails or restarts O(max_restarts) times while starting (a crash loop), and when
    O(timeout) passes; the failure carries the unit's last journal lines, so the reason is in the run's output
    rather than only on the host.
  - Changes nothing; runs in check mode too.
version_added: "0.1.0"
author: sparkfleet contributors
options:
  unit:
    description: vLLM's systemd unit.
    type: str
    required: true
  port:
    description: vLLM's port on the host's loopback.
    type: int
    required: true
  model:
    description: The served model name C(/v1/models) must list.
    type: str
    required: true
  env_file:
    description: The vllm role's environment file; when it holds VLLM_API_KEY, C(/v1/models) is asked with it.
    type: path
  timeout:
    description: Seconds to wait (a first load on a DGX Spark takes 10-15 minutes).
    type: int
    default: 900
  max_restarts:
    description: Restarts of the unit while waiting that count as a crash loop.
    type: int
    default: 3
  journal_lines:
    description: Journal lines returned with a failure.
    type: int
    default: 25
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Wait until vLLM serves the model
  sparkfleet.spark.vllm_wait_healthy:
    unit: sparkfleet-vllm-qwen3-vl-tiny
    port: 8000
    model: qwen3-vl-tiny
    timeout: 900
"""

RETURN = r"""
seconds:
  description: Seconds waited.
  returned: always
  type: float
  sample: 41.5
models:
  description: What C(/v1/models) lists.
  returned: success
  type: list
  elements: str
  sample: [qwen3-vl-tiny]
reason:
  description: Why vLLM is not healthy.
  returned: failure
  type: str
journal:
  description: The unit's last journal lines.
  returned: failure
  type: list
  elements: str
"""

import json  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import (  # noqa: E402
    journal_tail,
    unit_properties,
    vllm_auth_headers,
)

POLL_S = 2


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with open_url(url, headers=headers or {}, timeout=5) as response:
            return response.status, response.read()
    except (OSError, UrlsConnectionError):  # an HTTP error status too: not healthy yet
        return 0, b""


def served_models(port: int, headers: dict | None = None) -> list[str]:
    """The models vLLM lists, or [] while it does not answer /health."""
    status, _ = get(f"http://127.0.0.1:{port}/health")
    if status != 200:
        return []
    status, body = get(f"http://127.0.0.1:{port}/v1/models", headers)
    try:
        return [m["id"] for m in json.loads(body or b"{}").get("data", [])] if status == 200 else []
    except (ValueError, AttributeError, KeyError, TypeError):
        return []


def restarts(props: dict) -> int:
    value = props.get("NRestarts", "")
    return int(value) if value.isdigit() else 0


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "port": {"type": "int", "required": True},
            "model": {"type": "str", "required": True},
            "env_file": {"type": "path"},
            "timeout": {"type": "int", "default": 900},
            "max_restarts": {"type": "int", "default": 3},
            "journal_lines": {"type": "int", "default": 25},
        },
        supports_check_mode=True,
    )
    p = module.params
    unit, started = p["unit"], time.monotonic()
    names = ["ActiveState", "NRestarts"]
    restarts_before = restarts(unit_properties(module, unit, names))

    def fail(reason: str) -> None:
        journal = journal_tail(module, unit, p["journal_lines"], output="cat")
        module.fail_json(msg=f"{reason}. Last journal lines (journalctl -u {unit}): " + " | ".join(journal[-12:]),
                         reason=reason, journal=journal, seconds=round(time.monotonic() - started, 1))

    while time.monotonic() - started < p["timeout"]:
        models = served_models(p["port"], vllm_auth_headers(p["env_file"]))
        if p["model"] in models:
            module.exit_json(changed=False, seconds=round(time.monotonic() - started, 1), models=models)
        props = unit_properties(module, unit, names)
        if restarts(props) - restarts_before >= p["max_restarts"]:
            fail(f"{unit} failed and restarted {p['max_restarts']} times while starting")
        if props.get("ActiveState") == "failed":
            fail(f"{unit} failed while starting")
        time.sleep(POLL_S)
    fail(f"{unit} did not become healthy within {p['timeout']} s")


if __name__ == "__main__":
    main()
