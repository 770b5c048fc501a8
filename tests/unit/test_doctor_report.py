"""The doctor's report as it came from a real NVIDIA H200 with driver 580 and CUDA 13.0.

tests/fixtures/device-h200-driver580/ was recorded by scripts/device-doctor on the accelerator machine
(Ubuntu 24.04, no Docker there): the real gpu_facts module and preflight role through the real CLI.
"""

import json

from helpers import FIXTURES
from sparkfleet.cli.output import doctor_text

FIXTURE = FIXTURES / "device-h200-driver580" / "doctor-summary.json"


def load():
    return json.loads(FIXTURE.read_text())


def test_real_h200_facts_were_read_from_the_driver():
    summary = load()
    assert summary["type"] == "summary" and summary["command"] == "doctor"
    facts = summary["result"]["hosts"]["gpu1"]["facts"]
    gpu = facts["gpu"]
    assert gpu["present"] is True and gpu["driver_version"].startswith("580.")
    assert gpu["cuda_version"] == "13.0"
    assert gpu["gpus"][0]["name"] == "NVIDIA H200" and gpu["gpus"][0]["compute_capability"] == "9.0"
    assert gpu["gpus"][0]["memory_total_mib"] == 143771 and gpu["unified_memory"] is False
    assert facts["memory"]["total_mib"] > 100_000  # from /proc/meminfo, not from nvidia-smi
    assert facts["os"]["distribution"] == "Ubuntu" and facts["os"]["version"] == "24.04"


def test_real_h200_checks_pass_the_gpu_and_flag_the_missing_container_engine():
    summary = load()
    checks = {c["id"]: c for c in summary["result"]["hosts"]["gpu1"]["checks"]}
    for ok in ("gpu_present", "nvidia_driver", "cuda", "model_disk", "os_supported"):
        assert checks[ok]["severity"] == "ok", checks[ok]
    # that machine has no Docker, and the spark profile installs vLLM as a container by default
    assert checks["container_engine"]["severity"] == "error" and checks["container_engine"]["hint"]
    assert summary["exit_code"] == 3 and summary["result"]["errors"] == 2


def test_the_report_reads_well_for_people():
    text = doctor_text(load()["result"])
    assert "NVIDIA H200 (driver 580.159.04, CUDA 13.0)" in text
    assert "ERROR" in text and "Fix: Install Docker Engine" in text
    assert text.rstrip().endswith("2 error(s), 0 warning(s)")
