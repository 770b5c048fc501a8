"""Figures for one model download per fleet: the bytes the Hub sends, and the copy to 1, 2 and 4 lab hosts.

The Hub is the loopback Hub-compatible test server (tests/support/hf_server.py) serving a random-weight model of
--size-mb in 8 weight files; the model role downloads it once on the controller, then the hosts pass it on to each
other in a pipeline of 8 batches (model_fanout, roles/model/tasks/fanout.yml). For each fleet size the hosts'
copies are removed and the copy timed (the Ansible run: plan, steps, sha256 of every file on every host); a run
with nothing to copy gives the fixed cost.
Prints the figures; it is a measurement, not a test.

    .venv/bin/python bench/model_fanout.py [--size-mb 256] [--repeat 2] [--project DIR_WITH_4_LAB_HOSTS]

Lab hosts share one machine's disk and CPUs (and ssh encrypts every copy), so parallel copies compete here in a
way Sparks on a LAN do not, and each step costs Ansible's own time: the figures show the pipeline's shape, not a
LAN's speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labhost import SPARKFLEET

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sparkfleet.core.project import Project
from sparkfleet.core.runner import run_playbook
from support.hf_server import HubServer

MODEL = "fanout-bench"
REPO = "bench/fanout-model"


@contextlib.contextmanager
def lab_hosts(project: str | None, count: int):
    """Yields (project, [container names]): the given project's lab hosts, or `count` new ones removed at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(project) if project else Path(tmp) / "bench"
        if not project:
            subprocess.run([*SPARKFLEET, "init", str(folder)], check=True, capture_output=True)
            subprocess.run([*SPARKFLEET, "lab", "up", "--hosts", str(count)], cwd=folder, check=True,
                           capture_output=True)
        try:
            status = subprocess.run([*SPARKFLEET, "--json", "lab", "status"], cwd=folder, check=True,
                                    capture_output=True, text=True)
            hosts = json.loads(status.stdout.splitlines()[-1])["result"]["hosts"]
            yield folder, [(host["name"], host["container"]) for host in hosts]
        finally:
            if not project:
                subprocess.run([*SPARKFLEET, "lab", "down"], cwd=folder, capture_output=True)


def copy(project: Path, hub: HubServer, names: list[str], fanout: bool = True) -> float:
    extravars = {
        "sparkfleet_model": MODEL, "model_fetch": "controller", "model_hf_endpoint": hub.url, "model_fanout": fanout,
        "model_catalog_extra": {MODEL: {"repo": REPO, "revision": None, "precision": "bf16", "weights_gib": 1,
                                        "memory_gib": 1, "max_model_len": 1024, "source": "huggingface"}},
    }
    started = time.perf_counter()
    result = run_playbook(Project(project), "serve", emit=lambda event: None, extravars=extravars,
                          tags="model_install", limit=",".join(names))
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"the copy failed: {result.failures or result.error}")
    return seconds


def clear(containers: list[str]) -> None:
    for container in containers:
        subprocess.run(["docker", "exec", container, "rm", "-rf", f"/opt/sparkfleet/models/{MODEL}"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=256, help="model size (8 weight files)")
    parser.add_argument("--repeat", type=int, default=2, help="timed copies per fleet size (median shown)")
    parser.add_argument("--project", help="a project with at least 4 lab hosts (default: make one)")
    args = parser.parse_args()
    shard = (args.size_mb << 20) // 8
    files = {"config.json": b'{"model_type": "bench"}',
             **{f"model-{i:05d}-of-00008.safetensors": os.urandom(shard) for i in range(1, 9)}}
    size = sum(len(data) for data in files.values())
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hf-home-")  # no shared cache to copy from
    with HubServer() as hub, lab_hosts(args.project, 4) as (project, hosts):
        hub.add_commit(REPO, files)
        names, containers = [name for name, _ in hosts][:4], [container for _, container in hosts][:4]
        clear(containers)
        first = copy(project, hub, names)  # the download, rsync on every host, and a first copy
        print(f"model {size / 1e6:.0f} MB in 8 files; first run (download, rsync installed, copy to 4): {first:.1f} s",
              flush=True)
        fixed = statistics.median(copy(project, hub, names) for _ in range(args.repeat))
        print(f"nothing to copy (4 hosts hold it): {fixed:.1f} s", flush=True)
        times = {}
        for count in (1, 2, 4):  # the pipeline: 8 + count - 1 steps of one batch
            runs = []
            for _ in range(args.repeat):
                clear(containers)
                runs.append(copy(project, hub, names[:count]))
            times[count] = statistics.median(runs)
            print(f"copy to {count} host(s), pipelined: {times[count]:.1f} s "
                  f"(runs {', '.join(f'{r:.1f}' for r in runs)}; minus fixed cost {times[count] - fixed:.1f} s)",
                  flush=True)
        clear(containers)
        alone = copy(project, hub, names, fanout=False)
        print(f"copy to 4 hosts, controller to each (model_fanout: false): {alone:.1f} s")
        served = sum(r.body_bytes for r in hub.requests if r.file)
        print(f"bytes the Hub sent for model files: {served} ({served / size:.2f} copies of the model)")
        print(f"4 hosts / 1 host: {times[4] / times[1]:.2f}x wall, "
              f"{(times[4] - fixed) / max(times[1] - fixed, 0.1):.2f}x after the fixed cost")
        clear(containers)


if __name__ == "__main__":
    main()
