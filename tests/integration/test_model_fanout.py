"""One download for the fleet, then host to host: three bare lab hosts, a loopback Hub-compatible server (the real
Hub cannot be reached from here) that must send the model exactly once, every host's files checked against the
manifest, and a copy cut off midway resuming from what had arrived.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import run_sparkfleet
from sparkfleet.core.project import Project
from sparkfleet.core.runner import run_playbook
from support.hf_server import HubServer

pytestmark = pytest.mark.lab

MODEL_DIR = "/opt/sparkfleet/models/vl-fan"
WEIGHTS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
FILES = {"config.json": b'{"model_type": "test"}', WEIGHTS[0]: os.urandom(3 << 19), WEIGHTS[1]: os.urandom(3 << 19),
         "extra/vocab.bin": os.urandom(200_000)}
PULL = "Copy the batch from a host that holds it (pulled over ssh with this run's key; resumes a partial file)"


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory):
    """A project with three bare lab hosts of its own (the shared fixtures have two)."""
    root = tmp_path_factory.mktemp("fanout") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--hosts", "3", cwd=root, timeout=900)
    assert up.code == 0, up.stdout + up.stderr
    yield root, {host["name"]: host["container"] for host in up.summary["result"]["hosts"]}
    assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0


def on_host(container: str, *command: str, stdin: bytes | None = None) -> str:
    return subprocess.run(["docker", "exec", "-i", container, *command], input=stdin, capture_output=True,
                          check=True).stdout.decode()


def copy_model(project: Path, hub: HubServer):
    extravars = {
        "sparkfleet_model": "vl-fan", "model_fetch": "controller", "model_hf_endpoint": hub.url,
        "model_catalog_extra": {"vl-fan": {"repo": "acme/vl-fan", "revision": None, "precision": "bf16",
                                           "weights_gib": 0.01, "memory_gib": 1, "max_model_len": 1024,
                                           "source": "huggingface"}},
    }
    return run_playbook(Project(project), "serve", emit=lambda event: None, extravars=extravars, tags="model_install")


def rsync_lines(result, host: str) -> list[str]:
    """What rsync itemized on `host` in the host-to-host copy (from ansible-runner's job events)."""
    lines = []
    for path in sorted((Path(result.artifacts_dir) / "job_events").glob("*.json")):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if (event.get("event") == "runner_on_ok" and data.get("host") == host
                and data.get("task") == PULL):
            lines += data["res"]["stdout_lines"]
    return lines


def test_the_hub_sends_one_copy_hosts_feed_each_other_and_every_copy_is_verified(three_hosts, tmp_path, monkeypatch):
    project, containers = three_hosts
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no shared cache to copy from
    # One chain (plugins/filter/fanout.py): the controller -> lab1 -> lab2 -> lab3, in batches of files. Give lab3
    # what an interrupted `rsync --partial` leaves: the first part of a weights file under its name, no manifest.
    on_host(containers["lab3"], "mkdir", "-p", MODEL_DIR)
    on_host(containers["lab3"], "sh", "-c", f"cat > {MODEL_DIR}/{WEIGHTS[1]}", stdin=FILES[WEIGHTS[1]][: 1 << 19])
    with HubServer() as hub:
        hub.add_commit("acme/vl-fan", FILES, branch="main")
        result = copy_model(project, hub)
        assert result.exit_code == 0, result.failures or result.error

        content = [r for r in hub.requests if r.file and r.method == "GET"]
        assert sum(r.body_bytes for r in content) == sum(len(data) for data in FILES.values())  # one copy
        assert sorted(r.file for r in content) == sorted(FILES)

        copied = {(change["host"], change["task"].split(":")[0]) for change in result.changes}
        assert ("lab1", "Copy a controller folder to the host") in copied, result.changes
        assert ("lab2", PULL) in copied and ("lab3", PULL) in copied, result.changes
        assert not [c for c in result.changes if c["host"] != "lab1" and c["task"].startswith("Copy a controller")]
        # The partial file was a basis for rsync (updated, `>f.s`), not sent again from scratch (`>f+++`).
        weights = [line for line in rsync_lines(result, "lab3") if line.endswith(" " + WEIGHTS[1])]
        assert weights and weights[0].startswith(">f.s"), weights

        manifest = json.loads((project / ".sparkfleet/models/vl-fan/.sparkfleet-manifest.json").read_text())
        for name, container in containers.items():
            on_host_manifest = json.loads(on_host(container, "cat", f"{MODEL_DIR}/.sparkfleet-manifest.json"))
            assert on_host_manifest == manifest, name
            sums = dict(reversed(line.split()) for line in on_host(
                container, "sh", "-c", f"cd {MODEL_DIR} && sha256sum {' '.join(FILES)}"
            ).splitlines())
            assert sums == {path: entry["sha256"] for path, entry in manifest["files"].items()}, name
            # the run's key is gone from every host: no authorized key, no private key left behind
            assert "sparkfleet-model-fanout" not in on_host(container, "sh", "-c", "cat /home/*/.ssh/authorized_keys")
            assert on_host(container, "sh", "-c", "ls /tmp | grep -c model-fanout || true").strip() == "0", name

        requests_before = len(hub.requests)
        again = copy_model(project, hub)
        assert again.exit_code == 0 and again.changed is False, again.changes
        assert [r for r in hub.requests[requests_before:] if r.file and r.method == "GET"] == []
