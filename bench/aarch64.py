"""Figures for a Spark's machine (aarch64) under emulation: the time of each phase of the Spark path on an aarch64
lab host started on this x86_64 machine (qemu-user-static), as far as emulation allows (no vLLM: too slow).

Phases: the image (debootstrap, second stage emulated; once per machine), a fresh host, bootstrap, doctor, the video
endpoint (its wheelhouse built here for aarch64, its venv installed there), its /health, notes, verify.
Prints the figures and each phase's outcome; a measurement, not a test (tests/integration/test_aarch64_host.py).
Run: .venv/bin/python bench/aarch64.py [--os debian12]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from labhost import SPARKFLEET

# The video endpoint alone (the vllm role's describe and exposure tasks are tagged always: it learns vLLM's URL).
ENDPOINT_TAGS = "video_endpoint_install,video_endpoint_configure,video_endpoint_run"


def timed(label: str, command: list[str], project: Path | None, env: dict | None = None) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([*SPARKFLEET, "--json", *command], cwd=project, capture_output=True, text=True,
                          env=env)
    seconds = time.perf_counter() - started
    summary = json.loads(proc.stdout.splitlines()[-1]) if proc.stdout.strip() else {}
    print(f"{label:28} {seconds:7.1f} s  exit {proc.returncode}")
    return {"seconds": seconds, "code": proc.returncode, "summary": summary, "stderr": proc.stderr}


def playbook(label: str, project: Path, name: str, tags: str | None = None):
    """One of sparkfleet's playbooks, as `up` runs its phases, optionally limited to tags."""
    from sparkfleet.core.project import Project
    from sparkfleet.core.runner import run_playbook

    started = time.perf_counter()
    result = run_playbook(Project(project), name, emit=lambda event: None, tags=tags)
    print(f"{label:28} {time.perf_counter() - started:7.1f} s  exit {result.exit_code}")
    return result


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def main() -> None:
    import os

    parser = argparse.ArgumentParser()
    parser.add_argument("--os", default="debian12", choices=["debian12", "ubuntu2404"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "arm"
        subprocess.run([*SPARKFLEET, "init", str(project)], check=True, capture_output=True)
        try:
            lab = timed("lab up (image + host)", ["lab", "up", "--fresh", "--arch", "aarch64", "--os", args.os],
                        project)
            if lab["code"]:
                raise SystemExit(lab["summary"] or lab["stderr"][-2000:])
            host = lab["summary"]["result"]["hosts"][0]
            password = Path(lab["summary"]["result"]["password_file"]).read_text().strip()
            env = {**os.environ, "SPARKFLEET_SSH_PASSWORD": password}
            timed("bootstrap", ["bootstrap", "--passwordless-sudo", "--disable-password-login"], project, env)
            timed("doctor", ["doctor"], project)
            endpoint = playbook("video endpoint (serve, tags)", project, "serve", ENDPOINT_TAGS)
            url = f"http://127.0.0.1:{host['ports']['8080']}"
            print(f"  endpoint /health: {http_status(url + '/health')}; uname -m on the host: "
                  + subprocess.run(["docker", "exec", host["container"], "uname", "-m"], capture_output=True,
                                   text=True).stdout.strip())
            if endpoint.exit_code:
                print(f"  failures: {endpoint.failures}")
            playbook("notes", project, "notes")
            verify = timed("verify", ["verify"], project)
            for phase in (verify["summary"].get("result") or {}).get("phases") or []:
                for failure in phase.get("failures") or []:  # expected: the checks that need vLLM
                    print(f"  {phase['phase']} failed: {failure.get('task')}: {str(failure.get('message'))[:300]}")
        finally:
            subprocess.run([*SPARKFLEET, "lab", "down"], cwd=project, capture_output=True)


if __name__ == "__main__":
    main()
