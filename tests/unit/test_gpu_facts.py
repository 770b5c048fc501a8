"""gpu_facts module: the pure parsers on real nvidia-smi output (an H200, driver 580) and on GB10-style output.

No GPU is needed: the H200 fixtures were recorded on a real machine (tests/fixtures/nvidia-h200-driver580); the
GB10 ones are written from documented DGX Spark behaviour (tests/fixtures/gb10-documented/README.md says where
each value comes from). The module tests at the end run the real module file with a stand-in nvidia-smi, since a GPU
cannot exist here; they are named so.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import parse_meminfo
from ansible_collections.sparkfleet.spark.plugins.module_utils.nvidia_smi import GPU_KEYS, parse_query_csv
from ansible_collections.sparkfleet.spark.plugins.modules.gpu_facts import (
    parse_cuda_version,
    parse_dgx_release,
    parse_driver_version,
    summarize,
)
from helpers import module_command, module_env

REPO = Path(__file__).resolve().parents[2]

H200 = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-h200-driver580"
GB10 = REPO / "tests" / "fixtures" / "gb10-documented"



def test_h200_query_csv_with_header_and_units():
    (gpu,) = parse_query_csv((H200 / "query-gpu.csv").read_text())
    assert gpu == {
        "index": 0,
        "name": "NVIDIA H200",
        "uuid": "GPU-5acc62e9-6888-8871-4f09-687d7c276738",
        "driver_version": "580.159.04",
        "memory_total_mib": 143771,
        "memory_used_mib": 0,
        "memory_free_mib": 143156,
        "clocks_sm_mhz": 1980,
        "clocks_max_sm_mhz": 1980,
        "power_draw_w": 123.87,
        "power_limit_w": 700.0,
        "temperature_c": 37,
        "utilization_pct": 0,
        "compute_capability": "9.0",
        "pstate": "P0",
    }
    assert summarize([gpu]) == {"is_gb10": False, "unified_memory": False}


def test_h200_query_csv_without_header_takes_the_field_list():
    (gpu,) = parse_query_csv(
        (H200 / "query-gpu-noheader.csv").read_text(), fields=("name", "driver_version", "memory.total", "compute_cap")
    )
    assert (gpu["name"], gpu["driver_version"], gpu["memory_total_mib"], gpu["compute_capability"]) == (
        "NVIDIA H200", "580.159.04", 143771, "9.0")
    assert gpu["uuid"] is None and set(gpu) == set(GPU_KEYS)  # fields not queried are null, keys stay stable


def test_h200_nounits_form_of_the_same_row_parses_to_the_same_values():
    header, row = (H200 / "query-gpu.csv").read_text().splitlines()
    nounits = row.replace(" MiB", "").replace(" MHz", "").replace(" W", "").replace(" %", "")
    assert parse_query_csv(nounits) == parse_query_csv(f"{header}\n{row}\n")


def test_h200_cuda_and_driver_version_from_plain_nvidia_smi():
    text = (H200 / "nvidia-smi.txt").read_text()
    assert parse_cuda_version(text) == "13.0"
    assert parse_driver_version(text) == "580.159.04"


def test_h200_meminfo_lines_from_the_recorded_host():
    lines = [line for line in (H200 / "misc.txt").read_text().splitlines() if line.startswith("Mem")]
    assert parse_meminfo("\n".join(lines)) == {"memory_total_mib": 131981020 // 1024,
                                              "memory_available_mib": 131481504 // 1024}
    assert parse_meminfo("\n".join(lines))["memory_total_mib"] == 128887


def test_gb10_style_output_from_documented_behaviour_has_null_memory():
    """DGX Spark (GB10): nvidia-smi reports memory as N/A / Not Supported (SPARK_FACTS.md, NVIDIA DGX Spark
    known issues); the fixture is written from that documented behaviour, not recorded on a GB10."""
    (gpu,) = parse_query_csv((GB10 / "query-gpu-nounits.csv").read_text())
    assert gpu["name"] == "NVIDIA GB10"
    assert gpu["memory_total_mib"] is None and gpu["memory_used_mib"] is None and gpu["memory_free_mib"] is None
    assert gpu["power_limit_w"] is None
    assert gpu["compute_capability"] == "12.1"
    assert gpu["driver_version"] == "580.95.05"
    assert summarize([gpu]) == {"is_gb10": True, "unified_memory": True}

    # NVIDIA's own documented example: the csv format with header and units.
    (documented,) = parse_query_csv((GB10 / "query-gpu.csv").read_text())
    assert (documented["index"], documented["name"], documented["memory_total_mib"], documented["memory_free_mib"]) == (
        0, "NVIDIA GB10", None, None)

    plain = (GB10 / "nvidia-smi.txt").read_text()
    assert (parse_driver_version(plain), parse_cuda_version(plain)) == ("580.95.05", "13.0")


@pytest.mark.parametrize("missing", ["[N/A]", "N/A", "[Not Supported]", "Not Supported", "[Unknown Error]"])
def test_every_documented_missing_value_spelling_is_null(missing):
    (gpu,) = parse_query_csv(f"NVIDIA GB10, {missing}, {missing}", fields=("name", "memory.total", "power.draw"))
    assert gpu["memory_total_mib"] is None and gpu["power_draw_w"] is None


def test_an_error_line_instead_of_values_is_a_value_error():
    with pytest.raises(ValueError, match="values where 15 were asked"):
        parse_query_csv('Field "compute_cap" is not a valid field to query.\n')


def test_no_devices_and_missing_versions():
    assert parse_query_csv("") == []
    assert parse_cuda_version("No devices were found") is None
    assert summarize([]) == {"is_gb10": False, "unified_memory": False}
    assert parse_meminfo("MemTotal:       1024 kB\n") == {"memory_total_mib": 1, "memory_available_mib": None}


def test_dgx_release_shell_format_later_lines_win():
    text = (
        'DGX_NAME="DGX Spark"\n'
        'DGX_PRETTY_NAME="NVIDIA DGX Spark"\n'
        'DGX_SWBUILD_VERSION="7.2.3"\n'
        "\n"
        'DGX_OTA_VERSION="7.2.4"\n'
        'DGX_OTA_VERSION="7.3.1"\n'
        "# comment\n"
        "DGX_PLATFORM=DGX_Spark\n"
    )
    assert parse_dgx_release(text) == {
        "DGX_NAME": "DGX Spark",
        "DGX_PRETTY_NAME": "NVIDIA DGX Spark",
        "DGX_SWBUILD_VERSION": "7.2.3",
        "DGX_OTA_VERSION": "7.3.1",
        "DGX_PLATFORM": "DGX_Spark",
    }


# --- the module file itself, run the way Ansible runs it, with a stand-in nvidia-smi (no GPU here) ----------

def _run_module(tmp_path: Path, nvidia_smi_script: str | None) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if nvidia_smi_script is not None:
        smi = bin_dir / "nvidia-smi"
        smi.write_text(nvidia_smi_script)
        smi.chmod(0o755)
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"timeout": 10}}))
    # PATH holds only the stand-in: a real nvidia-smi on this machine must not be found
    env = module_env({**os.environ, "PATH": str(bin_dir)})
    proc = subprocess.run(module_command("gpu_facts", args), capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["changed"] is False
    facts = result["ansible_facts"]["sparkfleet_gpu"]
    assert json.loads(json.dumps(facts)) == facts
    return facts


def test_module_without_nvidia_smi_reports_no_gpu_and_real_meminfo(tmp_path):
    facts = _run_module(tmp_path, None)
    assert facts["present"] is False and facts["nvidia_smi"] is None and facts["gpus"] == []
    assert facts["error"] is None
    assert facts["memory_total_mib"] > 0 and facts["memory_available_mib"] > 0


def test_module_with_stand_in_nvidia_smi_failing_to_reach_the_driver(tmp_path):
    message = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
               "Make sure that the latest NVIDIA driver is installed and running.")
    facts = _run_module(tmp_path, f"#!/bin/sh\necho \"{message}\"\nexit 9\n")
    assert facts["present"] is False
    assert facts["error"] == message
    assert facts["gpus"] == []


def test_module_with_stand_in_nvidia_smi_printing_documented_gb10_output(tmp_path):
    query, plain = GB10 / "query-gpu-nounits.csv", GB10 / "nvidia-smi.txt"
    script = f'#!/bin/sh\ncase "$1" in --query-gpu=*) /bin/cat "{query}" ;; *) /bin/cat "{plain}" ;; esac\n'
    facts = _run_module(tmp_path, script)
    assert facts["present"] is True and facts["error"] is None
    assert (facts["driver_version"], facts["cuda_version"], facts["gpu_count"]) == ("580.95.05", "13.0", 1)
    assert facts["is_gb10"] is True and facts["unified_memory"] is True
    assert facts["gpus"][0]["memory_total_mib"] is None
