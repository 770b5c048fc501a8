"""Figures for the container method beside the pip method: first `up` and no-op `up` on two Debian 12 lab hosts.

One project, two fresh hosts: lab1 by the pip method (the lab's default), lab2 by the container method (a Spark's
default: podman in the lab, an image made from the same wheelhouse). lab1 goes first, so lab2's first `up` reuses
the wheelhouse and pays for the image (built, saved, copied, loaded). Also counts vLLM's starts on each first
install (should be 1). Prints the figures; a measurement, not a test.
Run: .venv/bin/python bench/container_method.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from labhost import SPARKFLEET
from up import phases_line

UNIT = "sparkfleet-vllm-qwen3-vl-tiny"


def up(project: Path, host: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([*SPARKFLEET, "--json", "up", "--limit", host], cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    result = json.loads(proc.stdout.splitlines()[-1])["result"]
    if proc.returncode != 0:
        raise SystemExit(f"up --limit {host} failed (exit {proc.returncode}): {result and result.get('error')}")
    return seconds, result


def vllm_starts(container: str) -> int:
    journal = subprocess.run(["docker", "exec", container, "journalctl", "-u", UNIT, "-o", "cat"],
                             capture_output=True, text=True).stdout
    return sum(line.startswith("Started ") for line in journal.splitlines())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "bench"
        subprocess.run([*SPARKFLEET, "init", str(project)], check=True, capture_output=True)
        lab = subprocess.run([*SPARKFLEET, "--json", "lab", "up", "--os", "debian12", "--hosts", "2"], cwd=project,
                             check=True, capture_output=True, text=True)
        containers = {h["name"]: h["container"] for h in json.loads(lab.stdout.splitlines()[-1])["result"]["hosts"]}
        (project / "inventory/host_vars").mkdir(exist_ok=True)
        (project / "inventory/host_vars/lab2.yml").write_text("---\nvllm_install_method: container\n")
        try:
            for host, method in (("lab1", "pip"), ("lab2", "container")):
                first, result = up(project, host)
                print(f"{method:9} first up: {first:6.1f} s ({phases_line(result)})")
                again, result = up(project, host)
                assert result["changed"] is False, f"a second up changed {host}"
                print(f"{method:9} no-op up: {again:6.1f} s ({phases_line(result)})")
                print(f"{method:9} vLLM starts on the first install: {vllm_starts(containers[host])}")
        finally:
            subprocess.run([*SPARKFLEET, "lab", "down"], cwd=project, capture_output=True)


if __name__ == "__main__":
    main()
