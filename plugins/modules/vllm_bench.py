#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: bench the host's vLLM with `vllm bench serve` and write one comparable JSON result.

Pure functions (parsers, scenarios, the command line, the conversion of vLLM's result, the warnings) hold the
logic so unit tests import them; the module is exercised by running this file as Ansible does.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vllm_bench
short_description: Bench the host's vLLM (text and video traffic) and write the result as JSON
description:
  - Runs C(vllm bench serve) against the vLLM server on this host once per scenario (each traffic kind at each
    concurrency) and writes one result file C(<bench_dir>/<id>.json) in sparkfleet's schema (docs/run-data.md),
    with TTFT, TPOT, ITL and end-to-end latency (mean, median, p99), request and token throughput per scenario.
  - Before the bench it reads the conditions that skew results (memory available, memory pressure from
    C(/proc/pressure/memory), requests already running on vLLM, GPU name and clocks from C(nvidia-smi));
    during the bench it samples the GPU clock to find its peak under load. Warnings in the result say which
    numbers not to trust (for example a DGX Spark on degraded USB-PD power caps its GPU near 500-850 MHz).
  - Every run draws a new seed (from the clock unless given), so repeated runs do not hit vLLM's prefix cache.
  - The result carries a serving key, the sha256 of the vLLM unit file and the model manifest. With
    O(when=missing) an existing result with the same key skips the bench (C(changed=false), C(skipped) says why).
  - Fails with what to do when vLLM does not answer, the C(vllm) command is missing, or every scenario failed.
version_added: "0.1.0"
author: sparkfleet contributors
options:
  host:
    description: The host's name as recorded in the result and its id (the inventory name).
    type: str
    required: true
  bench_dir:
    description: Folder of the result files (created if missing).
    type: path
    required: true
  when:
    description: C(missing) skips when a result for the current serving key exists; C(always) benches.
    type: str
    choices: [missing, always]
    default: missing
  command:
    description:
      - The C(vllm) command that serves, as a list (the venv's C(vllm), or C(docker exec <container> vllm)).
    type: list
    elements: str
    required: true
  container:
    description:
      - Name of the container the command runs in (the container install method); the result files and
        the vLLM version are then read inside it.
    type: str
  base_url:
    description: vLLM's base URL (C(/health), C(/metrics) and the chat endpoint are under it).
    type: str
    required: true
  env_file:
    description: The vllm role's environment file; when it holds VLLM_API_KEY, C(vllm bench serve) sends it
      (as OPENAI_API_KEY, which it reads).
    type: path
  model:
    description: The served model name (what clients put in C(model)).
    type: str
    required: true
  tokenizer:
    description: The model's folder on the host (its tokenizer sizes the random prompts).
    type: path
    required: true
  unit_file:
    description: vLLM's systemd unit file (part of the serving key).
    type: path
    required: true
  manifest:
    description: The model's manifest file (part of the serving key; its C(commit) is the model revision).
    type: path
    required: true
  profile:
    description: The host's sparkfleet profile, recorded in the result.
    type: str
    default: spark
  traffic:
    description: Kinds of traffic, C(text) (random prompts) and C(video) (random videos with a short prompt).
    type: list
    elements: str
    default: [text, video]
  concurrencies:
    description: Concurrency levels (C(--max-concurrency)); every traffic kind runs at each.
    type: list
    elements: int
    default: [1, 4, 8]
  prompts_per_concurrency:
    description: Requests per scenario are this times its concurrency (every level runs as many rounds).
    type: int
    default: 8
  input_len:
    description: Prompt length in tokens (for video, the text besides the video).
    type: int
    default: 1024
  output_len:
    description: Tokens generated per request (end of sequence ignored, so every request generates this many).
    type: int
    default: 256
  video:
    description: The video of the video traffic, C(width), C(height) and C(frames).
    type: dict
    default: {width: 1280, height: 720, frames: 16}
  seed:
    description: Seed of the first scenario (the others add their index). Default derived from the clock.
    type: int
  timeout:
    description: Seconds one scenario may take before it is stopped and counted as failed.
    type: int
    default: 1800
  memory_available_min_mib:
    description: Warn when less memory than this is available before the bench.
    type: int
    default: 4096
  memory_psi_max:
    description: Warn when memory pressure (some avg10, percent) exceeds this before or during the bench.
    type: float
    default: 10.0
  gpu_clock_min_ratio:
    description: Warn when the GPU's SM clock peak under load is below this share of its maximum.
    type: float
    default: 0.7
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - On a DGX Spark (GB10) nvidia-smi reports no GPU memory (it is unified); memory figures come from
    /proc/meminfo.
"""

EXAMPLES = r"""
- name: Bench vLLM unless a result for what is served exists
  sparkfleet.spark.vllm_bench:
    host: "{{ inventory_hostname }}"
    bench_dir: /var/lib/sparkfleet/bench
    command: [/opt/sparkfleet/vllm/venv/bin/vllm]
    base_url: http://127.0.0.1:8000
    model: qwen3-vl-tiny
    tokenizer: /opt/sparkfleet/models/qwen3-vl-tiny
    unit_file: /etc/systemd/system/sparkfleet-vllm-qwen3-vl-tiny.service
    manifest: /opt/sparkfleet/models/qwen3-vl-tiny/.sparkfleet-manifest.json
    concurrencies: [1, 2]
    video: {width: 160, height: 120, frames: 8}
  register: bench
"""

RETURN = r"""
id:
  description: The result's id (C(<UTC time>-<host>-<4 hex>)); the existing result's id when skipped.
  returned: success
  type: str
  sample: 20261126T061500-lab1-4f2a
path:
  description: The result file on the host; null when skipped or in check mode.
  returned: success
  type: str
  sample: /var/lib/sparkfleet/bench/20261126T061500-lab1-4f2a.json
skipped_reason:
  description: Why no bench ran (a result for this serving key exists), or null.
  returned: success
  type: str
serving_key:
  description: sha256 of the vLLM unit file and the model manifest.
  returned: success
  type: str
warnings_found:
  description: What would skew the numbers (also in the result's C(warnings)).
  returned: success
  type: list
  elements: str
result:
  description: The result written (schema 1, see docs/run-data.md); null when skipped or in check mode.
  returned: success
  type: dict
"""

# Ansible wants the documentation before the imports.
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import (  # noqa: E402
    meminfo,
    package_version,
    read_text,
    vllm_api_key,
    with_timeout,
    write_atomic,
)
from ansible_collections.sparkfleet.spark.plugins.module_utils.nvidia_smi import (  # noqa: E402
    parse_query_csv,
    query_argv,
)

SCHEMA = 1
GPU_FIELDS = ("name", "clocks.sm", "clocks.max.sm")
LATENCIES = ("ttft", "tpot", "itl", "e2el")
SAMPLE_INTERVAL_S = 1.0


# --- conditions ------------------------------------------------------------------------------------------------

def parse_psi_some_avg10(text: str | None) -> float | None:
    """`some avg10=1.23 avg60=... total=...` from /proc/pressure/memory -> 1.23 (None without PSI)."""
    for line in (text or "").splitlines():
        words = line.split()
        if words and words[0] == "some":
            for word in words[1:]:
                key, _, value = word.partition("=")
                if key == "avg10":
                    try:
                        return float(value)
                    except ValueError:
                        return None
    return None


def parse_gpu_csv(text: str) -> list[dict[str, Any]]:
    """`nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader[,nounits]` -> one dict per GPU.

    Raises ValueError when a line is not three values (nvidia-smi prints its errors on stdout).
    """
    try:
        gpus = parse_query_csv(text, GPU_FIELDS)
    except ValueError as error:
        raise ValueError(f"unexpected nvidia-smi output: {error}") from error
    return [{"name": gpu["name"], "clock_sm_mhz": gpu["clocks_sm_mhz"], "clock_sm_max_mhz": gpu["clocks_max_sm_mhz"]}
            for gpu in gpus]


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text from vLLM's /metrics -> {'vllm:num_requests_running': n, ...} summed over labels."""
    values: dict[str, float] = {}
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, rest = line.rpartition(" ")
        name = name_labels.split("{", 1)[0].strip()
        try:
            values[name] = values.get(name, 0.0) + float(rest)
        except ValueError:
            continue
    return values


# --- what runs -------------------------------------------------------------------------------------------------

def scenarios(traffic: list[str], concurrencies: list[int], prompts_per_concurrency: int, input_len: int,
              output_len: int, video: dict[str, int]) -> list[dict[str, Any]]:
    """Every traffic kind at every concurrency, in that order: [{'name': 'text-c1', ...}, ...]."""
    out = []
    for kind in traffic:
        for concurrency in concurrencies:
            out.append({
                "name": f"{kind}-c{concurrency}", "traffic": kind, "concurrency": concurrency,
                "num_prompts": concurrency * prompts_per_concurrency, "input_len": input_len,
                "output_len": output_len,
                "video": ({"width": int(video["width"]), "height": int(video["height"]),
                           "frames": int(video["frames"])} if kind == "video" else None),
            })
    return out


def bench_args(scenario: dict[str, Any], base_url: str, model: str, tokenizer: str, seed: int,
               result_dir: str, result_file: str) -> list[str]:
    """The arguments after `vllm` for one scenario."""
    args = [
        "bench", "serve", "--backend", "openai-chat", "--endpoint", "/v1/chat/completions",
        "--base-url", base_url, "--model", model, "--tokenizer", tokenizer,
        "--max-concurrency", str(scenario["concurrency"]), "--num-prompts", str(scenario["num_prompts"]),
        # one round at the scenario's concurrency first: first-request costs stay out of the numbers
        "--num-warmups", str(scenario["concurrency"]),
        "--random-input-len", str(scenario["input_len"]), "--random-output-len", str(scenario["output_len"]),
        "--ignore-eos",  # every request generates output_len tokens, so runs compare
        "--seed", str(seed),
        "--percentile-metrics", ",".join(LATENCIES), "--metric-percentiles", "50,99",
        "--disable-tqdm", "--save-result", "--save-detailed", "--result-dir", result_dir,
        "--result-filename", result_file,
    ]
    if scenario["traffic"] == "video":
        video = scenario["video"]
        args += [
            "--dataset-name", "random-mm",
            # one video per request; the bucket key is (height, width, frames), frames > 1 makes it a video
            "--random-mm-base-items-per-request", "1", "--random-mm-num-mm-items-range-ratio", "0",
            "--random-mm-limit-mm-per-prompt", json.dumps({"image": 0, "video": 1}),
            "--random-mm-bucket-config", f"{{({video['height']}, {video['width']}, {video['frames']}): 1.0}}",
        ]
    else:
        args += ["--dataset-name", "random"]
    return args


def log_tail(text: str, lines: int = 8) -> str:
    """The last lines of a bench's output, without the noise some builds print at exit (nanobind leak reports)."""
    kept = [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith(("nanobind:", " - ", "See https://nanobind"))]
    return " | ".join(kept[-lines:])


def _stats(raw: dict[str, Any], metric: str) -> dict[str, float | None]:
    def get(key: str) -> float | None:
        value = raw.get(key)
        return round(float(value), 3) if isinstance(value, int | float) else None

    return {"mean": get(f"mean_{metric}_ms"), "median": get(f"median_{metric}_ms"), "p99": get(f"p99_{metric}_ms")}


def convert(raw: dict[str, Any], scenario: dict[str, Any], seed: int) -> dict[str, Any]:
    """vLLM's saved result (`vllm bench serve --save-result`) -> one scenario of sparkfleet's schema."""
    completed = int(raw.get("completed") or 0)
    failed = raw.get("failed")
    failed = int(failed) if isinstance(failed, int | float) else max(scenario["num_prompts"] - completed, 0)
    errors = [e for e in raw.get("errors") or [] if e]

    def rate(key: str) -> float | None:
        value = raw.get(key)
        return round(float(value), 3) if isinstance(value, int | float) else None

    out = {
        **scenario, "seed": seed, "completed": completed, "failed": failed,
        "duration_s": rate("duration"),
        "request_throughput": rate("request_throughput"), "output_throughput": rate("output_throughput"),
        "total_token_throughput": rate("total_token_throughput"),
        "total_input_tokens": raw.get("total_input_tokens"), "total_output_tokens": raw.get("total_output_tokens"),
        "error": str(errors[0]).strip()[:500] if errors else None,
    }
    for metric in LATENCIES:
        out[f"{metric}_ms"] = _stats(raw, metric)
    return out


def failed_scenario(scenario: dict[str, Any], seed: int, error: str) -> dict[str, Any]:
    """A scenario whose command did not produce a result."""
    out = convert({}, scenario, seed)
    out.update({"failed": scenario["num_prompts"], "error": error[:500]})
    return out


def assess(conditions: dict[str, Any], results: list[dict[str, Any]], *, memory_available_min_mib: int,
           memory_psi_max: float, gpu_clock_min_ratio: float) -> list[str]:
    """What would skew the numbers, as sentences a person can act on."""
    warnings = []
    available = min((v for v in (conditions.get("memory_available_mib"), conditions.get("memory_available_min_mib"))
                     if v is not None), default=None)
    if available is not None and available < memory_available_min_mib:
        warnings.append(
            f"Only {available} MiB of memory was available around the bench (under {memory_available_min_mib} "
            "MiB): the host may swap or reclaim cache during it. Stop other work or lower vLLM's memory share.")
    psi = max((v for v in (conditions.get("memory_psi_some_avg10"), conditions.get("memory_psi_some_avg10_max"))
               if v is not None), default=None)
    if psi is not None and psi > memory_psi_max:
        warnings.append(
            f"Memory pressure reached {psi:.1f}% (PSI some avg10, over {memory_psi_max:g}%): tasks stalled waiting "
            "for memory during the bench, so latencies are inflated.")
    running = conditions.get("vllm_requests_running") or 0
    waiting = conditions.get("vllm_requests_waiting") or 0
    if running or waiting:
        warnings.append(
            f"vLLM was already serving {int(running)} request(s) ({int(waiting)} waiting) when the bench began: "
            "other traffic (the video endpoint's jobs?) shares the server, so throughput and latencies are skewed.")
    gpu = conditions.get("gpu")
    if gpu and gpu.get("clock_sm_max_mhz"):
        peak, top = gpu.get("clock_sm_peak_mhz"), gpu["clock_sm_max_mhz"]
        if peak is not None and peak < gpu_clock_min_ratio * top:
            warnings.append(
                f"GPU clocks peaked at {peak} MHz of {top} under load (below {gpu_clock_min_ratio:.0%}): the GPU is "
                "capped (on a DGX Spark: degraded USB-PD power, 500-850 MHz; use the original power supply and "
                "cable, then reboot), so the numbers understate the machine.")
    for result in results:
        if result["failed"] > 0 and result["completed"] > 0:
            warnings.append(f"{result['name']}: {result['failed']} of {result['num_prompts']} requests failed"
                            + (f" ({result['error']})" if result.get("error") else "") + ".")
    return warnings


def serving_key(unit: bytes, manifest: bytes) -> str:
    """sha256 of what is served: the unit file (command line, flags, image) and the model manifest (files)."""
    digest = hashlib.sha256()
    for part in (b"unit", unit, b"manifest", manifest):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def existing_result(bench_dir: str, key: str) -> dict[str, Any] | None:
    """The newest result in bench_dir with this serving key, or None."""
    found = []
    try:
        names = os.listdir(bench_dir)
    except OSError:
        return None
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(bench_dir, name), encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("serving_key") == key and data.get("id"):
            found.append(data)
    found.sort(key=lambda d: str(d.get("started_at") or ""), reverse=True)
    return found[0] if found else None


def bench_id(now: datetime, host: str, suffix: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in host)
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{safe}-{suffix}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- on the host -----------------------------------------------------------------------------------------------

def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _http(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with open_url(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, ValueError, UrlsConnectionError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def query_gpu(module: AnsibleModule, smi: str | None) -> list[dict[str, Any]]:
    if not smi:
        return []
    argv = with_timeout(module, query_argv(smi, GPU_FIELDS), 15)
    try:
        rc, out, _ = module.run_command(argv, environ_update={"LC_ALL": "C"}, handle_exceptions=False)
        return parse_gpu_csv(out) if rc == 0 else []
    except (OSError, ValueError):
        return []


class Sampler(threading.Thread):
    """Samples the GPU clock, memory available and memory pressure while the bench runs."""

    def __init__(self, module: AnsibleModule, smi: str | None):
        super().__init__(daemon=True)
        self.module = module
        self.smi = smi
        self.stop = threading.Event()
        self.clock_peak: int | None = None
        self.available_min: int | None = None
        self.psi_max: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(SAMPLE_INTERVAL_S)

    def sample(self) -> None:
        for gpu in query_gpu(self.module, self.smi)[:1]:
            if gpu["clock_sm_mhz"] is not None:
                self.clock_peak = max(self.clock_peak or 0, gpu["clock_sm_mhz"])
        available = meminfo()["memory_available_mib"]
        if available is not None:
            self.available_min = available if self.available_min is None else min(self.available_min, available)
        psi = parse_psi_some_avg10(read_text("/proc/pressure/memory"))
        if psi is not None:
            self.psi_max = psi if self.psi_max is None else max(self.psi_max, psi)


def conditions_before(module: AnsibleModule, smi: str | None, base_url: str) -> dict[str, Any]:
    conditions: dict[str, Any] = meminfo()
    conditions["memory_psi_some_avg10"] = parse_psi_some_avg10(read_text("/proc/pressure/memory"))
    status, text = _http(base_url.rstrip("/") + "/metrics")
    metrics = parse_metrics(text) if status == 200 else {}
    conditions["vllm_requests_running"] = metrics.get("vllm:num_requests_running")
    conditions["vllm_requests_waiting"] = metrics.get("vllm:num_requests_waiting")
    gpus = query_gpu(module, smi)
    conditions["gpu"] = ({"name": gpus[0]["name"], "count": len(gpus), "clock_sm_max_mhz": gpus[0]["clock_sm_max_mhz"],
                          "clock_sm_idle_mhz": gpus[0]["clock_sm_mhz"], "clock_sm_peak_mhz": None} if gpus else None)
    return conditions


def vllm_python(command: list[str], container: str | None) -> list[str]:
    """The Python beside the vllm command: the venv's, or the container's."""
    return [*command[:-1], "python3"] if container else [os.path.join(os.path.dirname(command[0]), "python")]


def run_scenario(module: AnsibleModule, command: list[str], container: str | None, scenario: dict[str, Any],
                 seed: int, workdir: str, timeout: int) -> dict[str, Any]:
    p = module.params
    result_file = f"{scenario['name']}.json"
    args = bench_args(scenario, p["base_url"], p["model"], p["tokenizer"], seed, workdir, result_file)
    key = vllm_api_key(p["env_file"])
    if key and container:  # `docker exec` passes the variable by name: its value stays off the command line
        command = [*command[:2], "--env", "OPENAI_API_KEY", *command[2:]]
    try:
        # data: stdin gets one newline and is closed, so nothing can wait on a prompt
        rc, out, err = module.run_command(with_timeout(module, [*command, *args], timeout), data="\n",
                                          binary_data=True, handle_exceptions=False,
                                          environ_update={"OPENAI_API_KEY": key} if key else None)
    except OSError as error:
        return failed_scenario(scenario, seed, f"vllm bench serve could not start: {error}")
    if rc == 124:
        return failed_scenario(scenario, seed, f"stopped after {timeout} s (bench timeout)")
    tail = log_tail(out + err)
    path = os.path.join(workdir, result_file)
    if container:
        rc_read, text, _ = module.run_command([command[0], "exec", container, "cat", path], check_rc=False)
        text = text if rc_read == 0 else None
    else:
        text = read_text(path)
    if rc != 0 or not text:
        return failed_scenario(scenario, seed, f"vllm bench serve exited with {rc}: {tail}")
    try:
        raw = json.loads(text)
    except ValueError:
        return failed_scenario(scenario, seed, f"unreadable result from vllm bench serve: {text[:200]}")
    return convert(raw, scenario, seed)


def write_result(bench_dir: str, result: dict[str, Any]) -> str:
    path = os.path.join(bench_dir, f"{result['id']}.json")
    # read by the dashboard's user and fetched to the controller; holds no secret
    write_atomic(path, json.dumps(result, indent=1) + "\n", mode=0o644)
    return path


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "host": {"type": "str", "required": True},
    "bench_dir": {"type": "path", "required": True},
    "when": {"type": "str", "choices": ["missing", "always"], "default": "missing"},
    "command": {"type": "list", "elements": "str", "required": True},
    "container": {"type": "str"},
    "base_url": {"type": "str", "required": True},
    "env_file": {"type": "path"},
    "model": {"type": "str", "required": True},
    "tokenizer": {"type": "path", "required": True},
    "unit_file": {"type": "path", "required": True},
    "manifest": {"type": "path", "required": True},
    "profile": {"type": "str", "default": "spark"},
    "traffic": {"type": "list", "elements": "str", "default": ["text", "video"]},
    "concurrencies": {"type": "list", "elements": "int", "default": [1, 4, 8]},
    "prompts_per_concurrency": {"type": "int", "default": 8},
    "input_len": {"type": "int", "default": 1024},
    "output_len": {"type": "int", "default": 256},
    "video": {"type": "dict", "default": {"width": 1280, "height": 720, "frames": 16}},
    "seed": {"type": "int"},
    "timeout": {"type": "int", "default": 1800},
    "memory_available_min_mib": {"type": "int", "default": 4096},
    "memory_psi_max": {"type": "float", "default": 10.0},
    "gpu_clock_min_ratio": {"type": "float", "default": 0.7},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    p = module.params
    unknown = sorted(set(p["traffic"]) - {"text", "video"})
    if unknown or not p["traffic"] or not p["concurrencies"] or min(p["concurrencies"]) < 1:
        module.fail_json(msg=f"traffic must be text and/or video (got {p['traffic']}), and concurrencies positive "
                             f"integers (got {p['concurrencies']}).")

    unit = _read_bytes(p["unit_file"])
    if unit is None:
        module.fail_json(msg=f"vLLM is not deployed on {p['host']}: {p['unit_file']} does not exist. "
                             "Run `sparkfleet up` first, then bench.")
    manifest_bytes = _read_bytes(p["manifest"]) or b""
    key = serving_key(unit, manifest_bytes)
    common = {"serving_key": key, "changed": False}

    if p["when"] == "missing":
        found = existing_result(p["bench_dir"], key)
        if found:
            reason = (f"a result for what is served already exists ({found['id']}, {found.get('started_at')}); "
                      "bench_when: always (plain `sparkfleet bench`) runs it again")
            module.exit_json(**common, id=found["id"], path=None, skipped_reason=reason, result=None,
                             warnings_found=[], msg=reason)

    command = list(p["command"])
    runnable = os.access(command[0], os.X_OK) if os.path.isabs(command[0]) else shutil.which(command[0])
    if not runnable:
        module.fail_json(msg=f"The vllm command {command[0]} was not found on {p['host']}: vLLM's install is "
                             "missing or broken. Run `sparkfleet up` to reinstall it.")
    status, detail = _http(p["base_url"].rstrip("/") + "/health")
    if status != 200:
        unit_name = os.path.basename(p["unit_file"]).removesuffix(".service")
        module.fail_json(msg=f"vLLM does not answer at {p['base_url']}/health ({status or detail}), so there is "
                             f"nothing to bench. Look at `systemctl status {unit_name}` and `journalctl -u "
                             f"{unit_name}`; `sparkfleet up` starts it again.")

    smi = module.get_bin_path("nvidia-smi")
    conditions = conditions_before(module, smi, p["base_url"])
    plan = scenarios(p["traffic"], p["concurrencies"], p["prompts_per_concurrency"], p["input_len"],
                     p["output_len"], p["video"])
    seed = p["seed"] if p["seed"] is not None else int(time.time())
    if module.check_mode:
        reason = f"check mode: would run {len(plan)} scenarios with seed {seed}"
        module.exit_json(**{**common, "changed": True}, id=None, path=None, skipped_reason=reason, result=None,
                         warnings_found=[], msg=reason)

    started = datetime.now(UTC)
    clock = time.monotonic()
    manifest = {}
    with contextlib.suppress(ValueError):
        manifest = json.loads(manifest_bytes or b"{}")
    version = package_version(module, vllm_python(command, p["container"]), "vllm")

    sampler = Sampler(module, smi)
    sampler.start()
    workdir = tempfile.mkdtemp(prefix="sparkfleet-bench-")  # on the host, or the same path inside the container
    results = []
    try:
        for index, scenario in enumerate(plan):
            results.append(run_scenario(module, command, p["container"], scenario, seed + index, workdir,
                                        p["timeout"]))
    finally:
        sampler.stop.set()
        sampler.join(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)
        if p["container"]:
            module.run_command([command[0], "exec", p["container"], "rm", "-rf", workdir], check_rc=False)
    finished = datetime.now(UTC)

    conditions["memory_available_min_mib"] = sampler.available_min
    conditions["memory_psi_some_avg10_max"] = sampler.psi_max
    if conditions["gpu"] is not None:
        conditions["gpu"]["clock_sm_peak_mhz"] = sampler.clock_peak
    warnings = assess(conditions, results, memory_available_min_mib=p["memory_available_min_mib"],
                      memory_psi_max=p["memory_psi_max"], gpu_clock_min_ratio=p["gpu_clock_min_ratio"])

    if all(r["completed"] == 0 or r["failed"] > 0 for r in results):
        first = results[0]
        module.fail_json(
            msg=f"The bench failed: every scenario had failed requests (first, {first['name']}: {first['failed']} of "
                f"{first['num_prompts']} failed: {first['error'] or 'no detail'}). Check that vLLM answers chat "
                f"requests for {p['model']} (`sparkfleet verify`) and its journal; no result was written.",
            scenarios=results, conditions=conditions)

    result = {
        "schema": SCHEMA, "id": bench_id(started, p["host"], secrets.token_hex(2)), "host": p["host"],
        "profile": p["profile"], "started_at": _iso(started), "finished_at": _iso(finished),
        "duration_s": round(time.monotonic() - clock, 1), "model": p["model"],
        "model_revision": manifest.get("commit") if isinstance(manifest, dict) else None,
        "vllm_version": version, "serving_key": key, "seed": seed, "conditions": conditions,
        "warnings": warnings, "scenarios": results,
    }
    path = write_result(p["bench_dir"], result)
    module.exit_json(**{**common, "changed": True}, id=result["id"], path=path, skipped_reason=None, result=result,
                     warnings_found=warnings, msg=f"{len(results)} scenarios in {result['duration_s']} s")


if __name__ == "__main__":
    main()
