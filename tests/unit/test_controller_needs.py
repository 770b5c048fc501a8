"""The lab profile's controller packages: checked before anything runs, with the exact install command.

The controller without the `lab` extra is real: a second virtual environment that sees every package of this one
except the extra's (its site-packages holds links to the others), so those imports truly fail there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import REPO, run_sparkfleet
from sparkfleet.core.inventory import Host
from sparkfleet.lab.controller_needs import LAB_EXTRA_MODULES, install_command, lab_hosts

EXTRA_ENTRIES = ("torch", "transformers", "tokenizers", "safetensors", "PIL", "pillow")


@pytest.fixture(scope="module")
def python_without_lab_extra(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("nolab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = next((venv / "lib").glob("python3*/site-packages"))
    for entry in ours.iterdir():
        name = entry.name.lower()
        if not any(name == e.lower() or name.startswith(e.lower() + "-") or name.startswith(e.lower() + ".")
                   for e in EXTRA_ENTRIES):
            (theirs / entry.name).symlink_to(entry)
    return venv / "bin" / "python"


def sparkfleet_with(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "cli")}
    return subprocess.run([str(python), "-m", "sparkfleet", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_second_environment_really_lacks_the_extra(python_without_lab_extra):
    probe = f"import importlib.util as u; print([m for m in {list(LAB_EXTRA_MODULES)!r} if u.find_spec(m)])"
    seen = subprocess.run([str(python_without_lab_extra), "-c", probe], capture_output=True, text=True, check=True)
    assert seen.stdout.strip() == "[]"


def test_lab_up_doctor_and_up_stop_before_anything_runs_and_name_the_install_command(
        python_without_lab_extra, tmp_path):
    project = tmp_path / "p"
    assert run_sparkfleet("init", str(project)).code == 0
    inventory = (project / "inventory" / "hosts.yml").read_text()
    refused = sparkfleet_with(python_without_lab_extra, "--json", "lab", "up", cwd=project)
    summary = json.loads(refused.stdout.splitlines()[-1])
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert summary["error"]["code"] == "environment.lab_extra"
    assert "torch" in summary["error"]["message"] and "lab1" in summary["error"]["message"]
    hint = summary["error"]["hint"]
    prefix = f"Install it: {python_without_lab_extra} -m pip install '"
    assert hint.startswith(prefix) and hint.endswith("[lab]'"), hint
    source = Path(hint.removeprefix(prefix).removesuffix("[lab]'"))  # the folder sparkfleet was installed from
    assert 'name = "sparkfleet"' in (source / "pyproject.toml").read_text()
    assert (project / "inventory" / "hosts.yml").read_text() == inventory  # no host was added
    assert not (project / ".sparkfleet" / "lab").exists()

    # a host on the lab profile added by hand: doctor and up refuse before any playbook runs
    added = run_sparkfleet("host", "add", "box", "--address", "192.0.2.7", "--user", "me", "--group", "lab",
                           cwd=project)
    assert added.code == 0, added.stderr
    for command in ("doctor", "up"):
        result = sparkfleet_with(python_without_lab_extra, "--json", command, cwd=project)
        assert result.returncode == 5, (command, result.stdout[-2000:])
        assert "lab` extra" in json.loads(result.stdout.splitlines()[-1])["error"]["message"]
    assert not list((project / ".sparkfleet" / "runs").iterdir())  # nothing ran
    assert not list((project / ".sparkfleet" / "history").glob("*.json"))
    # a run limited to hosts on the spark profile does not need the extra: it goes on (and fails to reach box's
    # stand-in address later, which is not this check's business)
    assert lab_hosts([Host("box", "192.0.2.7", "me", 22, groups=["lab"]),
                      Host("spark1", "192.0.2.8", "me", 22, groups=["sparks"])], "spark1") == []


def test_the_limit_decides_which_lab_hosts_count():
    hosts = [Host("lab1", "127.0.0.1", "u", 2201, groups=["lab"]), Host("lab2", "127.0.0.1", "u", 2202, groups=["lab"]),
             Host("spark1", "192.0.2.8", "u", 22, groups=["sparks"])]
    assert lab_hosts(hosts, None) == ["lab1", "lab2"]
    assert lab_hosts(hosts, "lab2") == ["lab2"]
    assert lab_hosts(hosts, "sparks") == []
    assert lab_hosts(hosts, "lab") == ["lab1", "lab2"]
    assert lab_hosts(hosts, "all") == ["lab1", "lab2"]
    assert lab_hosts(hosts, "spark*") == ["lab1", "lab2"]  # a pattern: every lab host counts, to be safe


def test_the_install_command_names_this_python_and_where_sparkfleet_came_from():
    command = install_command()
    assert command.startswith(f"{sys.executable} -m pip install ")
    assert command.endswith("[lab]'")
