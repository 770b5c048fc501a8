"""Figures for the serving stack on a fresh Debian 12 lab host: install time, service start to healthy, memory.

Prints the figures; it is a measurement, not a test. Run: .venv/bin/python bench/serving.py
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time

from labhost import SPARKFLEET, lab_host

UNIT = "sparkfleet-vllm-qwen3-vl-tiny"
# Runs on the host after the restart: seconds until vLLM's /health answers (it listens on loopback only).
WAIT_HEALTHY = """
import time, urllib.request
t0 = time.perf_counter()
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
print(time.perf_counter() - t0)
"""


def task_seconds(events: list[dict], prefix: str) -> float:
    """Wall time of the tasks whose name starts with prefix (from task_start to the next task_start)."""
    starts = [(e["ts"], e.get("task", "")) for e in events if e["type"] in ("task_start", "run_end")]
    total = 0.0
    for (ts, name), (next_ts, _) in itertools.pairwise(starts):
        if name and name.startswith(prefix):
            total += next_ts - ts
    return total


def on_host(container: str, command: str) -> str:
    return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    with lab_host() as (project, host):
        started = time.perf_counter()
        first = subprocess.run([*SPARKFLEET, "--json", "up"], cwd=project, capture_output=True, text=True)
        total = time.perf_counter() - started
        events = [json.loads(line) for line in first.stdout.splitlines()]
        print(f"up on a bare Debian 12 lab host: {total:.1f} s (exit {first.returncode})")
        print(f"  wheelhouse build on the controller: {task_seconds(events, 'Build the wheelhouse'):.1f} s")
        print(f"  wheelhouse copy to the host: {task_seconds(events, 'Copy a controller folder'):.1f} s "
              "(model copy included)")
        print(f"  pip installs from the wheelhouses (vLLM, endpoint): "
              f"{task_seconds(events, 'Install the packages into the venv'):.1f} s")
        print(f"  service start to healthy: {task_seconds(events, 'Wait until /health'):.1f} s")

        second_started = time.perf_counter()
        subprocess.run([*SPARKFLEET, "up"], cwd=project, check=True, capture_output=True)
        second = time.perf_counter() - second_started
        print(f"second up (no change): {second:.1f} s; first/second = {total / second:.1f}x")

        samples = []
        for _ in range(3):
            # vLLM listens on the host's loopback: the wait for /health runs on the host and times itself
            samples.append(float(on_host(host["container"], f"systemctl restart {UNIT} && python3 -c "
                                                             f"'{WAIT_HEALTHY}'")))
        samples.sort()
        print(f"restart to /health 200: median {samples[1]:.1f} s over 3 (min {samples[0]:.1f}, "
              f"max {samples[2]:.1f})")
        rss_kib = sum(int(x) for x in on_host(host["container"], "ps -u vllm -o rss=").split())
        print(f"memory of the vLLM processes (RSS, user vllm): {rss_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
