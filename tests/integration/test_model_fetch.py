"""A model from a Hugging Face-compatible hub, through the real client and the model role: downloaded once on the
controller, copied to every lab host with rsync, checked file by file. The hub is a test server on loopback
(tests/support/hf_server.py), since the real one cannot be reached from here.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from helpers import run_sparkfleet
from sparkfleet.core.project import Project
from sparkfleet.core.runner import run_playbook
from support.hf_server import HubServer

pytestmark = pytest.mark.lab


def test_one_download_serves_the_whole_fleet_and_every_copy_is_verified(lab_project, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no shared cache to copy from
    weights = os.urandom(400_000)
    with HubServer() as hub:
        commit = hub.add_commit("acme/vl-mini", {"config.json": b'{"model_type": "test"}',
                                                 "model.safetensors": weights}, branch="main")
        extravars = {
            "sparkfleet_model": "vl-mini", "model_fetch": "controller", "model_hf_endpoint": hub.url,
            "model_catalog_extra": {"vl-mini": {"repo": "acme/vl-mini", "revision": None, "precision": "bf16",
                                                "weights_gib": 0.01, "memory_gib": 1, "max_model_len": 1024,
                                                "source": "huggingface"}},
        }
        result = run_playbook(Project(lab_project), "serve", emit=lambda event: None, extravars=extravars,
                              tags="model_install")
        assert result.exit_code == 0, result.failures
        assert len(hub.requests_for("model.safetensors", method="GET")) == 1  # once for two hosts

        manifest = json.loads((lab_project / ".sparkfleet/models/vl-mini/.sparkfleet-manifest.json").read_text())
        assert manifest["commit"] == commit and manifest["repo"] == "acme/vl-mini"
        hosts = run_sparkfleet("--json", "lab", "status", cwd=lab_project).summary["result"]["hosts"]
        for host in hosts:
            digest = subprocess.run(["docker", "exec", host["container"], "sha256sum",
                                     "/opt/sparkfleet/models/vl-mini/model.safetensors"],
                                    capture_output=True, text=True).stdout.split()[0]
            assert digest == manifest["files"]["model.safetensors"]["sha256"], host["name"]

        again = run_playbook(Project(lab_project), "serve", emit=lambda event: None, extravars=extravars,
                             tags="model_install")
        assert again.exit_code == 0 and again.changed is False
        assert len(hub.requests_for("model.safetensors", method="GET")) == 1  # nothing fetched again
