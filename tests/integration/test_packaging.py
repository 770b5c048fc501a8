"""The built wheel carries the Ansible collection sparkfleet.spark and works without this repository."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import REPO


def test_wheel_carries_the_ansible_collection_and_runs_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("sparkfleet-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    collection = "sparkfleet/_collections/ansible_collections/sparkfleet/spark"
    for expected in (f"{collection}/galaxy.yml",
                     f"{collection}/meta/runtime.yml",
                     f"{collection}/playbooks/ping.yml",
                     f"{collection}/roles/connectivity/tasks/main.yml",
                     f"{collection}/roles/connectivity/meta/argument_specs.yml",
                     f"{collection}/plugins/README.md",
                     f"{collection}/plugins/module_utils/host.py",
                     f"{collection}/plugins/modules/gpu_facts.py",
                     "sparkfleet/_ansible/inventory/hosts.yml",
                     "sparkfleet/_ansible/inventory/group_vars/all/main.yml",
                     "sparkfleet/core/templates/ansible.cfg.j2",
                     "sparkfleet/_ansible/services/video/pyproject.toml",
                     "sparkfleet/_ansible/services/video/requirements.lock",
                     "sparkfleet/_ansible/services/video/src/sparkfleet_video/static/app.js"):
        assert expected in names, expected
    assert not [n for n in names if "/services/video/tests/" in n or "__pycache__" in n]

    # A fresh venv with only the wheel; its dependencies are borrowed from this environment via a .pth file.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    venv_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if "site-packages" in p]
    with open(f"{venv_site}/zz_borrowed_deps.pth", "w") as pth:
        pth.write("\n".join(deps) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    alone = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel's sparkfleet, not a checkout's
    where = subprocess.run([python, "-c", "from sparkfleet.core import content; print(content.content_root())"],
                           cwd=elsewhere, capture_output=True, text=True, check=True, env=alone).stdout.strip()
    assert where.startswith(venv_site), where
    init = subprocess.run([venv / "bin" / "sparkfleet", "init", str(elsewhere / "proj")], capture_output=True,
                          text=True, env=alone)
    assert init.returncode == 0, init.stderr
    assert (elsewhere / "proj" / "inventory" / "group_vars" / "all" / "main.yml").is_file()

    # Ansible finds the collection through the path the runner sets, and reads a module's documentation.
    path = subprocess.run([python, "-c", "from sparkfleet.core import content; print(content.collections_path())"],
                          cwd=elsewhere, capture_output=True, text=True, check=True, env=alone).stdout.strip()
    assert path.startswith(venv_site), path
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    doc = subprocess.run([ansible_doc, "-t", "module", "--json", "sparkfleet.spark.gpu_facts"], cwd=elsewhere,
                         capture_output=True, text=True, env={**alone, "ANSIBLE_COLLECTIONS_PATH": path})
    assert doc.returncode == 0, doc.stderr
    found = json.loads(doc.stdout)["sparkfleet.spark.gpu_facts"]["doc"]
    assert found["short_description"] == "Gather NVIDIA GPU and DGX Spark facts"
    assert found["filename"].startswith(venv_site), found["filename"]

    # The installed sparkfleet builds the video service's wheel from the source it carries.
    (tmp_path / "wheelhouse").mkdir()
    built = subprocess.run(
        [python, "-c", "import json, sys; from sparkfleet.role_tools import wheelhouse as w; p = w.local_projects(); "
         "print(json.dumps([str(p['sparkfleet-video']), w._build_local("
         "__import__('pathlib').Path(sys.argv[1]), p, {n: w.source_hash(d) for n, d in p.items()})]))",
         str(tmp_path / "wheelhouse")], cwd=elsewhere, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    source, versions = json.loads(built.stdout)
    assert source.startswith(venv_site), source
    assert list((tmp_path / "wheelhouse").glob(f"sparkfleet_video-{versions['sparkfleet-video']}-py3-none-any.whl"))
