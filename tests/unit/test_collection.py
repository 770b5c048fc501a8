"""The repository root is the Ansible collection sparkfleet.spark: its metadata agrees with the project, and
Ansible itself (ansible-doc, ansible-playbook --syntax-check) finds every module, filter, role and playbook
through the collections path, by their full names.

ansible-test sanity runs the tests that need no venv of their own on the built collection; the others (pylint,
pep8, validate-modules, import, yamllint...) bootstrap pip from the internet, so ansible-doc validates each plugin's
DOCUMENTATION, EXAMPLES and RETURN against Ansible's schema instead (and ruff, yamllint, ansible-lint lint them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from helpers import REPO, collections_path

BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.yml"))
ROLES = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))
# ansible-test sanity tests that run without a venv of their own (ansible-test sanity --list-tests lists them all)
SANITY = ("action-plugin-docs", "compile", "empty-init", "ignores", "line-endings", "no-assert", "no-get-exception",
          "no-illegal-filenames", "no-smart-quotes", "replace-urlopen", "shebang", "symlinks", "use-argspec-type-path",
          "use-compat-six")


def ansible(tool: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path()), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="False")
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False, cwd=REPO)


def fqcn(names: list[str]) -> list[str]:
    return [f"sparkfleet.spark.{name}" for name in names]


def test_the_built_collection_passes_ansible_test_sanity(tmp_path):
    """What `ansible-galaxy collection build` packs (galaxy.yml's build_ignore) installed, then ansible-test in it."""
    built = ansible("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path / "dist"), str(REPO))
    assert built.returncode == 0, built.stderr
    tarball = next((tmp_path / "dist").glob("sparkfleet-spark-*.tar.gz"))
    # --force: the collections path already holds sparkfleet.spark (the checkout)
    installed = ansible("ansible-galaxy", "collection", "install", "--force", "-p", str(tmp_path / "col"), str(tarball))
    assert installed.returncode == 0, installed.stderr
    root = tmp_path / "col" / "ansible_collections" / "sparkfleet" / "spark"
    assert not {"cli", "tests", "molecule", "inventory", "pyproject.toml"} & {p.name for p in root.iterdir()}
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    sanity = subprocess.run([str(BIN / "ansible-test"), "sanity", "--python", python,
                             *(arg for test in SANITY for arg in ("--test", test))], cwd=root, capture_output=True,
                            text=True, timeout=300, check=False)
    assert sanity.returncode == 0, sanity.stdout + sanity.stderr


def test_galaxy_metadata_agrees_with_the_project():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert (galaxy["namespace"], galaxy["name"]) == ("sparkfleet", "spark")
    assert galaxy["version"] == project["version"]
    assert (REPO / galaxy["readme"]).is_file()
    core = next(d for d in project["dependencies"] if d.startswith("ansible-core"))
    low, high = re.fullmatch(r"ansible-core>=([\d.]+),<([\d.]+)", core).groups()
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={low}.0,<{high}"


def test_every_module_and_filter_is_documented_for_ansible_doc():
    assert MODULES and FILTERS
    for kind, names in (("module", MODULES), ("filter", FILTERS)):
        proc = ansible("ansible-doc", "-t", kind, "--json", *fqcn(names))
        assert proc.returncode == 0 and "[WARNING]" not in proc.stderr, proc.stderr
        docs = json.loads(proc.stdout)
        assert sorted(docs) == fqcn(names)
        for name, doc in docs.items():
            assert doc["doc"]["short_description"] and doc["examples"] and doc["return"], name
            assert f"sparkfleet.spark.{name.rsplit('.', 1)[1]}" in doc["examples"], f"{name}: examples use the FQCN"


def test_every_role_has_an_argument_spec_ansible_doc_reads():
    proc = ansible("ansible-doc", "-t", "role", "--json", *fqcn(ROLES))
    assert proc.returncode == 0 and "[WARNING]" not in proc.stderr, proc.stderr
    assert sorted(json.loads(proc.stdout)) == fqcn(ROLES)


def test_every_playbook_passes_syntax_check_through_the_collections_path():
    proc = ansible("ansible-playbook", "--syntax-check", "-i", "localhost,", *map(str, PLAYBOOKS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_roles_and_playbooks_call_modules_and_roles_by_their_full_names():
    """A bare name would need ANSIBLE_LIBRARY or a roles path holding these roles; Ansible gets only the collection."""
    modules, roles = "|".join(MODULES), "|".join(ROLES)
    bare = re.compile(rf"^\s*(?:- )?(?:(?:{modules}):\s*$|(?:role|name): (?:{roles})\s*$)")
    assert bare.match("  gpu_facts:") and bare.match("    - role: vllm") and bare.match("    name: venv")
    found = [f"{path.relative_to(REPO)}:{number}" for path in [*PLAYBOOKS, *(REPO / "playbooks").rglob("*/*.yml"),
                                                               *(REPO / "roles").glob("*/tasks/*.yml")]
             for number, line in enumerate(path.read_text().splitlines(), 1) if bare.match(line)]
    assert not found


def test_the_runner_gives_ansible_the_collection_and_no_plugin_folders(project):
    from sparkfleet.core.project import Project
    from sparkfleet.core.runner import _runner_env

    env = _runner_env(Project(project))
    found = Path(env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "sparkfleet" / "spark"
    assert (found / "galaxy.yml").is_file() and found.resolve() == REPO
    assert not {"ANSIBLE_LIBRARY", "ANSIBLE_FILTER_PLUGINS"} & set(env)
