"""vLLM is reachable from the host only, unless exposed on purpose with an API key (issue 11, finding 1).

The unit is rendered and the role's refusal run by real ansible-playbook on localhost, from the role's own
defaults and vars; verify's check is a pure function over what `ss` and an unauthenticated request report. On a
served lab host: tests/integration/test_serving.py and test_verify.py.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import vllm_api_key, vllm_auth_headers
from ansible_collections.sparkfleet.spark.plugins.modules.serving_verify import parse_ss, vllm_exposure_check
from helpers import REPO, collections_path

KEY = "s3cret-vllm-key-for-the-test"
# what playbooks/serve.yml passes from the model role
SERVED = {"vllm_install_method": "pip", "vllm_model": "qwen3-vl-tiny", "vllm_served_model_name": "qwen3-vl-tiny",
          "vllm_model_path": "/opt/sparkfleet/models/qwen3-vl-tiny", "vllm_max_model_len": 2048}


def play(tmp_path: Path, variables: dict, tasks: list[dict]) -> subprocess.CompletedProcess:
    """The role's defaults and vars as vars files; the test's variables as extra vars (they win over both)."""
    playbook, extra = tmp_path / "play.yml", tmp_path / "extra.json"
    playbook.write_text(yaml.safe_dump([{
        "name": "vLLM's exposure", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(REPO / "roles/vllm/defaults/main.yml"), str(REPO / "roles/vllm/vars/main.yml")],
        "tasks": tasks}]))
    extra.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **SERVED, **variables}))
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-e", f"@{extra}", str(playbook)], capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_path())})


def render_unit(tmp_path: Path, **variables) -> tuple[str, list[str]]:
    out = tmp_path / "vllm.service"
    proc = play(tmp_path, variables, [{"name": "Render the unit", "ansible.builtin.template": {
        "src": str(REPO / "roles/vllm/templates/vllm.service.j2"), "dest": str(out), "mode": "0644"}}])
    assert proc.returncode == 0, proc.stdout[-2000:]
    unit = out.read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return unit, shlex.split(exec_start.removeprefix("ExecStart="))


def refusal(tmp_path: Path, **variables) -> subprocess.CompletedProcess:
    return play(tmp_path, variables, [{"name": "The role's check", "ansible.builtin.include_tasks":
                                       str(REPO / "roles/vllm/tasks/exposure.yml")}])


def test_by_default_vllm_listens_on_loopback_without_a_key(tmp_path):
    unit, argv = render_unit(tmp_path)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "EnvironmentFile" not in unit and "--allowed-media-domains" not in argv and "--api-key" not in argv


def test_exposed_on_purpose_it_reads_its_key_from_a_file_and_fetches_no_media(tmp_path):
    unit, argv = render_unit(tmp_path, vllm_host="0.0.0.0", vault_vllm_api_key=KEY)
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert "EnvironmentFile=/etc/sparkfleet/vllm.env" in unit and KEY not in unit  # never on the command line
    assert argv[argv.index("--allowed-media-domains") + 1:] == ["invalid"]  # a reserved name: no domain at all
    _, argv = render_unit(tmp_path, vllm_host="0.0.0.0", vault_vllm_api_key=KEY,
                          vllm_allowed_media_domains=["media.example.org", "cdn.example.org"])
    assert argv[argv.index("--allowed-media-domains") + 1:] == ["media.example.org", "cdn.example.org"]


def test_the_container_passes_the_key_by_name_only(tmp_path):
    unit, argv = render_unit(tmp_path, vllm_install_method="container", vllm_host="0.0.0.0", vllm_api_key=KEY,
                             _vllm_image_ref="nvcr.io/nvidia/vllm@sha256:" + "a" * 64)
    assert argv[argv.index("VLLM_API_KEY") - 1] == "--env" and KEY not in unit


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.40", "::"])
def test_the_role_refuses_vllm_beyond_loopback_without_a_key(tmp_path, host):
    proc = refusal(tmp_path, vllm_host=host)
    assert proc.returncode != 0
    assert f"vllm_host is {host}" in proc.stdout and "vault_vllm_api_key" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("variables", [{}, {"vllm_host": "127.0.0.1"}, {"vllm_host": "::1"},
                                       {"vllm_host": "0.0.0.0", "vault_vllm_api_key": KEY}])
def test_the_role_accepts_loopback_or_a_key(tmp_path, variables):
    proc = refusal(tmp_path, **variables)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert KEY not in proc.stdout


def test_verify_accepts_loopback_or_a_key_and_fails_an_open_vllm():
    local = parse_ss('LISTEN 0 4096 127.0.0.1:8000 0.0.0.0:* users:(("vllm",pid=310,fd=25))\n')
    check = vllm_exposure_check(local, 8000, None)
    assert check["ok"] and "loopback only" in check["message"]
    everywhere = parse_ss('LISTEN 0 4096 0.0.0.0:8000 0.0.0.0:* users:(("vllm",pid=310,fd=25))\n'
                          'LISTEN 0 2048 0.0.0.0:8080 0.0.0.0:* users:(("python",pid=500,fd=7))\n')
    keyed = vllm_exposure_check(everywhere, 8000, 401)
    assert keyed["ok"] and "0.0.0.0:8000 and refuses requests without its API key" in keyed["message"]
    open_ = vllm_exposure_check(everywhere, 8000, 200)
    assert not open_["ok"] and "0.0.0.0:8000 without an API key" in open_["message"]
    assert "vllm_host: 127.0.0.1" in open_["hint"] and "vault_vllm_api_key" in open_["hint"]
    assert not vllm_exposure_check(everywhere, 8000, 0)["ok"]  # no answer proves no key either


def test_the_modules_read_the_key_from_the_env_file_only(tmp_path):
    env = tmp_path / "vllm.env"
    assert vllm_api_key(str(env)) == "" and vllm_auth_headers(None) == {}
    env.write_text(f"OTHER=1\nVLLM_API_KEY={KEY}\n")
    assert vllm_auth_headers(str(env)) == {"Authorization": f"Bearer {KEY}"}


def test_the_pip_unit_is_sandboxed_and_sees_only_the_gpu_s_device_nodes(tmp_path):
    """Issue 11, finding 8 (scored on a served lab host by tests/integration/test_hardening.py)."""
    lines = render_unit(tmp_path)[0].splitlines()
    for setting in ("User=vllm", "UMask=0077", "ProtectSystem=strict", "ReadWritePaths=/var/lib/vllm",
                    "PrivateDevices=true", "CapabilityBoundingSet=", "RestrictNamespaces=true",
                    "SystemCallFilter=@system-service", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
                    "MemoryMax=90%", "TasksMax=4096"):
        assert setting in lines, setting
    assert "BindPaths=-/dev/nvidia0" in lines and "DeviceAllow=/dev/nvidia0 rw" in lines
    assert "DeviceAllow=/dev/nvidia-uvm rw" in lines and "ExecStartPre=-+/usr/bin/nvidia-modprobe -u -c=0" in lines
    lab = render_unit(tmp_path, vllm_gpu_devices=[])[0]
    assert "PrivateDevices=true" in lab.splitlines() and "DeviceAllow" not in lab and "nvidia" not in lab


def test_the_container_unit_runs_the_docker_client_as_root_and_no_user_joins_the_docker_group(tmp_path):
    unit, argv = render_unit(tmp_path, vllm_install_method="container",
                             _vllm_image_ref="nvcr.io/nvidia/vllm@sha256:" + "a" * 64)
    lines = unit.splitlines()
    assert "User=root" in lines and "SupplementaryGroups=docker" not in unit
    assert argv[0] == "/usr/bin/docker" and "--gpus" in argv
