"""ee/execution-environment.yml (ansible-builder 3) installs this checkout's sparkfleet wheel and collection with
the same ansible-core and ansible-runner ranges as the package, and ansible-builder accepts it: `create` writes the
build context (no image is built here: no container registry can be reached)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from helpers import REPO

EE = REPO / "ee/execution-environment.yml"


def pyproject_dependency(name: str) -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if re.match(rf"{re.escape(name)}\b", d))


def test_the_definition_pins_this_version_and_the_package_ranges():
    ee = yaml.safe_load(EE.read_text())
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == pyproject_dependency("ansible-core")
    assert deps["ansible_runner"]["package_pip"] == pyproject_dependency("ansible-runner")
    assert [Path(p).name for p in deps["python"]] == [f"sparkfleet-{version}-py3-none-any.whl"]
    collection = deps["galaxy"]["collections"][0]
    assert Path(collection["name"]).name == f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    assert collection["type"] == "file"
    assert {line.split()[0] for line in deps["system"]} == {"rsync", "openssh-clients"}  # the model copies
    # python 3.11 at least: sparkfleet's requires-python
    assert re.search(r"3\.1[1-9]", deps["python_interpreter"]["python_path"])


def test_ansible_builder_creates_the_build_context(tmp_path):
    builder = Path(sys.executable).parent / "ansible-builder"
    folder = tmp_path / "ee"
    shutil.copytree(REPO / "ee", folder, ignore=shutil.ignore_patterns("files"))
    ee = yaml.safe_load(EE.read_text())
    (folder / "files").mkdir()
    for path in [*ee["dependencies"]["python"], ee["dependencies"]["galaxy"]["collections"][0]["name"]]:
        (folder / "files" / Path(path).name).write_bytes(b"")  # stand-ins: scripts/ee-context builds the real ones
    proc = subprocess.run([str(builder), "create", "-f", "execution-environment.yml", "-c", "context"], cwd=folder,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    context = folder / "context"
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    assert 'ANSIBLE_INSTALL_REFS="ansible-core>=2.17,<2.20 ansible-runner>=2.4,<2.5"' in containerfile
    assert (context / "_build/sparkfleet-ee/sparkfleet-spark-0.1.0.tar.gz").exists()
    assert "sparkfleet-0.1.0-py3-none-any.whl" in (context / "_build/requirements.txt").read_text()
