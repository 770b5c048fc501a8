#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: GPU and DGX Spark facts from nvidia-smi, /proc/meminfo and /etc/dgx-release.

The parsing lives in pure functions (parse_cuda_version, parse_driver_version, parse_dgx_release, summarize;
the `--query-gpu` CSV and /proc/meminfo in the collection's module_utils) so unit tests import them without
running Ansible.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather NVIDIA GPU and DGX Spark facts
description:
  - Reads C(nvidia-smi) (if installed), C(/proc/meminfo) and C(/etc/dgx-release) and returns them as
    the fact C(sparkfleet_gpu). Changes nothing on the host.
  - On a DGX Spark (GB10) C(nvidia-smi) reports the GPU memory fields as N/A or Not Supported, because
    memory is unified; those fields are then null and C(memory_total_mib) (from C(/proc/meminfo)) is the figure to use.
  - A missing C(nvidia-smi) or one that cannot talk to the driver gives C(present=false) (with C(error)
    in the second case); the module itself does not fail.
version_added: "0.1.0"
author: sparkfleet contributors
options:
  disk_path:
    description:
      - Also report the free disk where this path is (or its nearest existing parent), as C(disk).
    type: path
  timeout:
    description:
      - Seconds each C(nvidia-smi) call may take (a GPU in a bad state can make it hang).
      - Enforced with coreutils C(timeout) when that is installed.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Memory numbers are MiB (1024 x 1024 bytes); GPU memory fields come from nvidia-smi, host memory from /proc/meminfo.
"""

EXAMPLES = r"""
- name: Gather GPU facts
  sparkfleet.spark.gpu_facts:

- name: Show the GPU name, or why there is none
  ansible.builtin.debug:
    msg: "{{ sparkfleet_gpu.gpus[0].name if sparkfleet_gpu.present else sparkfleet_gpu.error | default('no GPU') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    sparkfleet_gpu:
      description: GPU, memory and DGX OS facts.
      returned: always
      type: dict
      contains:
        present:
          description: True when nvidia-smi runs and talks to the driver.
          type: bool
          sample: true
        nvidia_smi:
          description: Path of nvidia-smi, or null when it is not installed.
          type: str
          sample: /usr/bin/nvidia-smi
        driver_version:
          description: NVIDIA driver version, or null.
          type: str
          sample: "580.95.05"
        cuda_version:
          description: Highest CUDA version the driver supports ("CUDA Version" in nvidia-smi), or null.
          type: str
          sample: "13.0"
        gpu_count:
          description: Number of GPUs listed.
          type: int
          sample: 1
        gpus:
          description:
            - One entry per GPU with index, name, uuid, driver_version, memory_total_mib, memory_used_mib,
              memory_free_mib, clocks_sm_mhz, clocks_max_sm_mhz, power_draw_w, power_limit_w, temperature_c,
              utilization_pct, compute_capability (string) and pstate.
            - A value nvidia-smi reports as N/A, [N/A], Not Supported, [Not Supported] (or any other bracketed
              status) is null.
          type: list
          elements: dict
          sample:
            - index: 0
              name: NVIDIA GB10
              memory_total_mib: null
              compute_capability: "12.1"
        is_gb10:
          description: True when a GPU's name contains GB10 (DGX Spark and other GB10 machines).
          type: bool
        unified_memory:
          description: True when there is a GPU and every GPU reports its memory total as N/A (GB10).
          type: bool
        memory_total_mib:
          description:
            - Host memory (MemTotal in /proc/meminfo) in MiB; on a Spark this is the GPU's memory too.
          type: int
          sample: 124590
        memory_available_mib:
          description: Host memory available now (MemAvailable in /proc/meminfo) in MiB.
          type: int
          sample: 119836
        dgx_os:
          description:
            - /etc/dgx-release as a dict (later lines win, as when sourced by a shell), or null without that file.
          type: dict
          sample: {DGX_NAME: DGX Spark, DGX_SWBUILD_VERSION: "7.2.3"}
        error:
          description: Why GPU facts are missing or incomplete (nvidia-smi's own message), or null.
          type: str
          sample: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
"""

# Ansible wants the documentation before the imports.
import os  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import (  # noqa: E402
    meminfo,
    read_text,
    with_timeout,
)
from ansible_collections.sparkfleet.spark.plugins.module_utils.nvidia_smi import (  # noqa: E402
    QUERY_FIELDS,
    parse_query_csv,
    query_argv,
)

_CUDA_VERSION = re.compile(r"CUDA Version:\s*([0-9]+(?:\.[0-9]+)*)")
_DRIVER_VERSION = re.compile(r"Driver Version:\s*([0-9]+(?:\.[0-9]+)*)")


def parse_cuda_version(text: str) -> str | None:
    """'... CUDA Version: 13.0 ...' from plain `nvidia-smi` output -> '13.0' (None when absent)."""
    match = _CUDA_VERSION.search(text or "")
    return match.group(1) if match else None


def parse_driver_version(text: str) -> str | None:
    """'... Driver Version: 580.159.04 ...' from plain `nvidia-smi` output -> '580.159.04' (None when absent)."""
    match = _DRIVER_VERSION.search(text or "")
    return match.group(1) if match else None


def parse_dgx_release(text: str) -> dict[str, str]:
    """/etc/dgx-release (shell KEY="value" lines; OTA updates append lines) -> dict; later lines win."""
    release: dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or "SERIAL" in key.upper():  # no serial numbers in reports
            continue
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            words = [value.strip().strip("\"'")]
        release[key] = " ".join(words)
    return release


def summarize(gpus: list[dict[str, Any]]) -> dict[str, bool]:
    """is_gb10 and unified_memory from the parsed GPU list."""
    return {
        "is_gb10": any("GB10" in (gpu.get("name") or "").upper() for gpu in gpus),
        "unified_memory": bool(gpus) and all(gpu.get("memory_total_mib") is None for gpu in gpus),
    }


def _message(rc: int, out: str, err: str, timeout: int) -> str:
    """nvidia-smi prints its failures on stdout ("NVIDIA-SMI has failed because ..."), some on stderr."""
    if rc == 124:
        return f"nvidia-smi did not answer within {timeout} s (the GPU or driver may be hung)"
    text = " ".join(line.strip() for line in f"{out or ''}\n{err or ''}".splitlines() if line.strip())
    return text or f"nvidia-smi exited with status {rc}"


def gather(module: AnsibleModule) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "present": False,
        "nvidia_smi": None,
        "driver_version": None,
        "cuda_version": None,
        "gpu_count": 0,
        "gpus": [],
        "is_gb10": False,
        "unified_memory": False,
        **meminfo(),
        "dgx_os": None,
        "error": None,
    }
    release = read_text("/etc/dgx-release") if os.path.exists("/etc/dgx-release") else None
    if release is not None:
        facts["dgx_os"] = parse_dgx_release(release)

    smi = module.get_bin_path("nvidia-smi")
    if not smi:
        return facts
    facts["nvidia_smi"] = smi
    seconds = module.params["timeout"]
    env = {"LC_ALL": "C"}

    rc, out, err = module.run_command(with_timeout(module, [smi], seconds), environ_update=env)
    if rc != 0:
        facts["error"] = _message(rc, out, err, module.params["timeout"])
        return facts
    facts["present"] = True
    facts["driver_version"] = parse_driver_version(out)
    facts["cuda_version"] = parse_cuda_version(out)

    rc, out, err = module.run_command(with_timeout(module, query_argv(smi, QUERY_FIELDS), seconds), environ_update=env)
    if rc != 0:
        facts["error"] = _message(rc, out, err, module.params["timeout"])
        return facts
    try:
        gpus = parse_query_csv(out)
    except ValueError as exc:
        facts["error"] = str(exc)
        return facts
    facts["gpus"] = gpus
    facts["gpu_count"] = len(gpus)
    facts.update(summarize(gpus))
    if facts["driver_version"] is None and gpus:
        facts["driver_version"] = gpus[0]["driver_version"]
    return facts


def disk_free(path: str) -> dict[str, Any]:
    """Free bytes where path is, or its nearest existing parent (the folder may not exist yet)."""
    measured = os.path.abspath(path)
    while not os.path.exists(measured):
        measured = os.path.dirname(measured)
    stat = os.statvfs(measured)
    return {"path": path, "measured_at": measured, "free_bytes": stat.f_bavail * stat.f_frsize}


def main() -> None:
    module = AnsibleModule(argument_spec={"timeout": {"type": "int", "default": 30},
                                          "disk_path": {"type": "path"}}, supports_check_mode=True)
    facts = gather(module)
    if module.params["disk_path"]:
        facts["disk"] = disk_free(module.params["disk_path"])
    module.exit_json(changed=False, ansible_facts={"sparkfleet_gpu": facts})


if __name__ == "__main__":
    main()
