"""The built wheel carries the Ansible content and works without this repository."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import zipfile

from helpers import REPO


def test_wheel_carries_the_ansible_content_and_runs_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("sparkfleet-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("sparkfleet/_ansible/playbooks/ping.yml",
                     "sparkfleet/_ansible/roles/connectivity/tasks/main.yml",
                     "sparkfleet/_ansible/roles/connectivity/meta/argument_specs.yml",
                     "sparkfleet/_ansible/inventory/hosts.yml",
                     "sparkfleet/_ansible/inventory/group_vars/all/main.yml",
                     "sparkfleet/_ansible/plugins/README.md",
                     "sparkfleet/templates/ansible.cfg.j2",
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
    where = subprocess.run([python, "-c", "from sparkfleet import content; print(content.content_root())"],
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(venv_site), where
    init = subprocess.run([venv / "bin" / "sparkfleet", "init", str(elsewhere / "proj")], capture_output=True,
                          text=True)
    assert init.returncode == 0, init.stderr
    assert (elsewhere / "proj" / "inventory" / "group_vars" / "all" / "main.yml").is_file()

    # The installed sparkfleet builds the video service's wheel from the source it carries.
    (tmp_path / "wheelhouse").mkdir()
    built = subprocess.run(
        [python, "-c", "import json, sys; from sparkfleet import wheelhouse as w; p = w.local_projects(); "
         "print(json.dumps([str(p['sparkfleet-video']), w._build_local("
         "__import__('pathlib').Path(sys.argv[1]), p, {n: w.source_hash(d) for n, d in p.items()})]))",
         str(tmp_path / "wheelhouse")], cwd=elsewhere, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    source, versions = json.loads(built.stdout)
    assert source.startswith(venv_site), source
    assert list((tmp_path / "wheelhouse").glob(f"sparkfleet_video-{versions['sparkfleet-video']}-py3-none-any.whl"))
