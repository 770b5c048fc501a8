"""vllm_bench module: the conditions that skew a bench, and the warnings they give.

No GPU exists here: the low-clock GB10 output is a hand-written stand-in (tests/fixtures/gb10-degraded-standin/
README.md), the healthy case uses real H200 output (tests/fixtures/nvidia-h200-driver580). The module runs at
the end use a stand-in nvidia-smi and a stand-in `vllm` that replays a real lab result; they are named so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import parse_meminfo
from ansible_collections.sparkfleet.spark.plugins.modules.vllm_bench import (
    assess,
    parse_gpu_csv,
    parse_metrics,
    parse_psi_some_avg10,
    serving_key,
)
from helpers import module_command, module_env

REPO = Path(__file__).resolve().parents[2]

STANDIN = REPO / "tests" / "fixtures" / "gb10-degraded-standin"
LAB_RESULTS = REPO / "tests" / "fixtures" / "vllm-bench-lab"
H200 = REPO / "tests" / "fixtures" / "nvidia-h200-driver580"
LIMITS = {"memory_available_min_mib": 4096, "memory_psi_max": 10.0, "gpu_clock_min_ratio": 0.7}
CALM = {"memory_total_mib": 124590, "memory_available_mib": 60000, "memory_psi_some_avg10": 0.0,
        "memory_psi_some_avg10_max": 0.2, "vllm_requests_running": 0.0, "vllm_requests_waiting": 0.0, "gpu": None}


def gpu_from(idle_csv: str, load_csv: str) -> dict:
    (idle,), (load,) = parse_gpu_csv(idle_csv), parse_gpu_csv(load_csv)
    return {"name": idle["name"], "count": 1, "clock_sm_max_mhz": idle["clock_sm_max_mhz"],
            "clock_sm_idle_mhz": idle["clock_sm_mhz"], "clock_sm_peak_mhz": load["clock_sm_mhz"]}


def test_standin_degraded_gb10_clock_peak_under_load_warns():
    gpu = gpu_from((STANDIN / "clocks-idle.csv").read_text(), (STANDIN / "clocks-under-load.csv").read_text())
    assert gpu == {"name": "NVIDIA GB10", "count": 1, "clock_sm_max_mhz": 2418, "clock_sm_idle_mhz": 208,
                   "clock_sm_peak_mhz": 845}
    (warning,) = assess({**CALM, "gpu": gpu}, [], **LIMITS)
    assert warning.startswith("GPU clocks peaked at 845 MHz of 2418 under load") and "USB-PD" in warning


def test_real_h200_clocks_at_their_maximum_give_no_warning():
    header, row = (H200 / "query-gpu.csv").read_text().splitlines()
    cells = dict(zip([h.split(" [")[0].strip() for h in header.split(",")], row.split(", "), strict=True))
    line = f"{cells['name']}, {cells['clocks.current.sm']}, {cells['clocks.max.sm']}\n"  # values keep their units
    gpu = gpu_from(line, line)
    assert (gpu["name"], gpu["clock_sm_peak_mhz"], gpu["clock_sm_max_mhz"]) == ("NVIDIA H200", 1980, 1980)
    assert assess({**CALM, "gpu": gpu}, [], **LIMITS) == []


def test_clocks_nvidia_smi_cannot_read_are_null_and_never_warn():
    gpu = gpu_from("NVIDIA GB10, [N/A], [N/A]\n", "NVIDIA GB10, 845, [N/A]\n")
    assert gpu["clock_sm_max_mhz"] is None and gpu["clock_sm_idle_mhz"] is None
    assert assess({**CALM, "gpu": gpu}, [], **LIMITS) == []


def test_an_error_line_from_nvidia_smi_is_not_a_gpu():
    with pytest.raises(ValueError, match="unexpected nvidia-smi output"):
        parse_gpu_csv("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")


def test_low_memory_pressure_and_requests_already_running_warn():
    conditions = {**CALM, "memory_available_mib": 2048, "memory_psi_some_avg10": 1.0,
                  "memory_psi_some_avg10_max": 23.5, "vllm_requests_running": 2.0, "vllm_requests_waiting": 1.0}
    low, psi, busy = assess(conditions, [], **LIMITS)
    assert low.startswith("Only 2048 MiB of memory was available around the bench")
    assert psi.startswith("Memory pressure reached 23.5%")
    assert busy.startswith("vLLM was already serving 2 request(s) (1 waiting)")


def test_memory_that_ran_low_during_the_bench_warns_too():
    (low,) = assess({**CALM, "memory_available_min_mib": 3000}, [], **LIMITS)
    assert low.startswith("Only 3000 MiB of memory was available around the bench (under 4096 MiB)")


def test_calm_conditions_give_no_warning_and_partial_failures_do():
    ok = {"name": "text-c1", "num_prompts": 4, "completed": 4, "failed": 0, "error": None}
    partial = {"name": "video-c2", "num_prompts": 8, "completed": 7, "failed": 1, "error": "Bad Request"}
    assert assess(CALM, [ok], **LIMITS) == []
    assert assess(CALM, [ok, partial], **LIMITS) == ["video-c2: 1 of 8 requests failed (Bad Request)."]


def test_parsers_on_real_proc_and_metrics_text():
    meminfo = "MemTotal:       24683412 kB\nMemFree:  1 kB\nMemAvailable:   18771124 kB\n"
    assert parse_meminfo(meminfo) == {"memory_total_mib": 24104, "memory_available_mib": 18331}
    psi = "some avg10=3.25 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    assert parse_psi_some_avg10(psi) == 3.25
    assert parse_psi_some_avg10(None) is None  # kernels without PSI
    metrics = ('# HELP vllm:num_requests_running Number of requests in model execution batches.\n'
               '# TYPE vllm:num_requests_running gauge\n'
               'vllm:num_requests_running{engine="0",model_name="qwen3-vl-tiny"} 1.0\n'
               'vllm:num_requests_running{engine="1",model_name="qwen3-vl-tiny"} 2.0\n'
               'vllm:num_requests_waiting{engine="0",model_name="qwen3-vl-tiny"} 0.0\n')
    parsed = parse_metrics(metrics)
    assert parsed["vllm:num_requests_running"] == 3.0 and parsed["vllm:num_requests_waiting"] == 0.0


# --- the module file itself, run the way Ansible runs it, with stand-ins (no GPU, no vLLM here) ---------------

STANDIN_VLLM = r'''#!{python}
"""Stand-in for `vllm bench serve`: may hold the GPU 'under load' for a moment, then writes a recorded lab result."""
import os, pathlib, shutil, sys, time
args = sys.argv[1:]
value = lambda flag: args[args.index(flag) + 1]
state = pathlib.Path({state!r})
if (state / "fail").exists():
    print("ValueError: Initial test run failed - Error: Not Found")
    print("nanobind: leaked 4 instances!")
    sys.exit(1)
if (state / "hold").exists():  # long enough for the module's once-a-second clock sample
    (state / "loaded").touch()
    time.sleep(1.5)
    (state / "loaded").unlink()
kind = "video" if value("--dataset-name") == "random-mm" else "text"
(state / "calls.txt").open("a").write(" ".join(args) + "\n")
os.makedirs(value("--result-dir"), exist_ok=True)
shutil.copy({results!r} + f"/{{kind}}-c2.json", os.path.join(value("--result-dir"), value("--result-filename")))
'''

STANDIN_SMI = """#!/bin/sh
if [ -e "{state}/loaded" ]; then cat "{load}"; else cat "{idle}"; fi
"""


class _VLLM(BaseHTTPRequestHandler):
    running = 1.0

    def do_GET(self):
        metrics = f'vllm:num_requests_running{{model_name="m"}} {self.running}\n'.encode()
        body = {"/health": b"", "/metrics": metrics}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def standin_host(tmp_path):
    """A stand-in vLLM HTTP server, `vllm` and nvidia-smi on PATH, a unit file and a manifest."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VLLM)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    state, bin_dir = tmp_path / "state", tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    vllm = bin_dir / "vllm"
    vllm.write_text(STANDIN_VLLM.format(python=sys.executable, state=str(state), results=str(LAB_RESULTS)))
    smi = bin_dir / "nvidia-smi"
    smi.write_text(STANDIN_SMI.format(state=state, load=STANDIN / "clocks-under-load.csv",
                                      idle=STANDIN / "clocks-idle.csv"))
    for exe in (vllm, smi):
        exe.chmod(0o755)
    (tmp_path / "vllm.service").write_text("[Service]\nExecStart=vllm serve /m\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "m", "commit": "abc123", "files": {}}))
    args = {"host": "lab1", "bench_dir": str(tmp_path / "bench"), "command": [str(vllm)],
            "base_url": f"http://127.0.0.1:{server.server_port}", "model": "qwen3-vl-tiny", "tokenizer": "/m",
            "unit_file": str(tmp_path / "vllm.service"), "manifest": str(tmp_path / "manifest.json"),
            "profile": "lab", "concurrencies": [2], "prompts_per_concurrency": 4, "input_len": 64, "output_len": 16,
            "video": {"width": 160, "height": 120, "frames": 8}, "when": "always"}
    yield {"tmp": tmp_path, "state": state, "bin": bin_dir, "args": args, "server": server}
    server.shutdown()


def run_module(host: dict, **overrides) -> dict:
    path = host["tmp"] / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**host["args"], **overrides}}))
    env = module_env({**os.environ, "PATH": f"{host['bin']}:/usr/bin:/bin"})
    proc = subprocess.run(module_command("vllm_bench", path), capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    result = json.loads(proc.stdout)
    assert (proc.returncode != 0) == bool(result.get("failed")), proc.stdout + proc.stderr
    return result


def test_module_with_standins_writes_a_result_with_the_degraded_clock_and_busy_server_warnings(standin_host):
    (standin_host["state"] / "hold").touch()
    out = run_module(standin_host)
    assert out["changed"] is True and not out.get("failed"), out
    result = json.loads(Path(out["path"]).read_text())
    assert result == out["result"]
    assert oct(Path(out["path"]).stat().st_mode & 0o777) == "0o644"
    assert Path(out["path"]).name == f"{result['id']}.json" and result["id"].split("-")[1] == "lab1"
    assert (result["schema"], result["host"], result["profile"], result["model"], result["model_revision"]) == (
        1, "lab1", "lab", "qwen3-vl-tiny", "abc123")
    assert [s["name"] for s in result["scenarios"]] == ["text-c2", "video-c2"]
    assert all(s["completed"] == 8 and s["failed"] == 0 for s in result["scenarios"])
    assert result["scenarios"][1]["seed"] == result["seed"] + 1  # a fresh seed per scenario too
    gpu = result["conditions"]["gpu"]
    assert (gpu["name"], gpu["clock_sm_idle_mhz"], gpu["clock_sm_peak_mhz"], gpu["clock_sm_max_mhz"]) == (
        "NVIDIA GB10", 208, 845, 2418)
    assert result["conditions"]["memory_total_mib"] > 0 and result["conditions"]["vllm_requests_running"] == 1.0
    assert len(result["warnings"]) == 2 and out["warnings_found"] == result["warnings"]
    assert any(w.startswith("GPU clocks peaked at 845 MHz of 2418") for w in result["warnings"])
    assert any(w.startswith("vLLM was already serving 1 request(s)") for w in result["warnings"])
    calls = (standin_host["state"] / "calls.txt").read_text().splitlines()
    assert "--dataset-name random" in calls[0] and "--random-mm-bucket-config {(120, 160, 8): 1.0}" in calls[1]


def test_module_with_standins_skips_when_a_result_for_the_same_serving_key_exists(standin_host):
    first = run_module(standin_host)
    again = run_module(standin_host, when="missing")
    assert again["changed"] is False and again["path"] is None and again["id"] == first["id"]
    assert first["id"] in again["skipped_reason"]
    (standin_host["tmp"] / "vllm.service").write_text("[Service]\nExecStart=vllm serve /m --max-num-seqs 8\n")
    changed = run_module(standin_host, when="missing")  # another flag: another serving key
    assert changed["changed"] is True and changed["id"] != first["id"]
    assert changed["serving_key"] == serving_key((standin_host["tmp"] / "vllm.service").read_bytes(),
                                                 (standin_host["tmp"] / "manifest.json").read_bytes())


def test_module_with_standins_in_check_mode_writes_nothing(standin_host):
    out = run_module(standin_host, _ansible_check_mode=True)
    assert out["changed"] is True and out["path"] is None and out["skipped_reason"].startswith("check mode")
    assert not (standin_host["tmp"] / "bench").exists()


def test_module_with_standins_fails_clearly_when_every_scenario_fails(standin_host):
    (standin_host["state"] / "fail").touch()
    out = run_module(standin_host)
    assert out["failed"] is True
    assert out["msg"].startswith("The bench failed: every scenario had failed requests (first, text-c2: 8 of 8")
    assert "Initial test run failed" in out["msg"] and "nanobind" not in out["msg"]
    assert not (standin_host["tmp"] / "bench").exists() or not list((standin_host["tmp"] / "bench").iterdir())


def test_module_fails_clearly_without_vllm_or_its_command_or_its_unit(standin_host, tmp_path):
    down = run_module(standin_host, base_url="http://127.0.0.1:9")
    assert down["failed"] and down["msg"].startswith("vLLM does not answer at http://127.0.0.1:9/health")
    assert "journalctl -u vllm" in down["msg"]
    missing = run_module(standin_host, command=[str(tmp_path / "venv/bin/vllm")])
    assert missing["failed"] and "was not found on lab1" in missing["msg"] and "sparkfleet up" in missing["msg"]
    no_unit = run_module(standin_host, unit_file=str(tmp_path / "none.service"))
    assert no_unit["failed"] and "vLLM is not deployed on lab1" in no_unit["msg"]


STANDIN_DOCKER = r'''#!{python}
"""Stand-in for `docker exec <container> ...`: the container's files live under {root}."""
import shutil, subprocess, sys
root, args = {root!r}, sys.argv[1:]
assert args[:2] == ["exec", "sparkfleet-vllm-m"], args
command = args[2:]
if command[0] == "vllm":
    at = command.index("--result-dir") + 1
    command[at] = root + command[at]
    sys.exit(subprocess.call([{vllm!r}, *command[1:]]))
elif command[0] == "cat":
    sys.stdout.write(open(root + command[1]).read())
elif command[0] == "python3":
    print("0.32.0")
elif command[:2] == ["rm", "-rf"]:
    shutil.rmtree(root + command[2], ignore_errors=True)
'''


def test_module_with_standins_for_the_container_method_reads_results_inside_the_container(standin_host):
    root = standin_host["tmp"] / "container"
    docker = standin_host["bin"] / "docker"
    docker.write_text(STANDIN_DOCKER.format(python=sys.executable, root=str(root),
                                            vllm=str(standin_host["bin"] / "vllm")))
    docker.chmod(0o755)
    out = run_module(standin_host, command=["docker", "exec", "sparkfleet-vllm-m", "vllm"],
                     container="sparkfleet-vllm-m")
    assert out["changed"] is True and out["result"]["vllm_version"] == "0.32.0"
    assert [s["completed"] for s in out["result"]["scenarios"]] == [8, 8]
    assert not [p for p in root.rglob("*") if p.is_file()]  # the container's result folder was removed
