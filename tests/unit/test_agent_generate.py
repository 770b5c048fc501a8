"""`sparkfleet generate`: a spec -> a playbook; checked against the argument specs before anything is written,
the same spec -> the same bytes, and a bad spec names its offending key and what is allowed there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, collections_path

EXAMPLES = REPO / "docs" / "examples"


@pytest.mark.parametrize("name", ["vllm-max-num-seqs", "second-model", "collect-journals"])
def test_the_documented_examples_generate_to_the_committed_playbooks_which_pass_the_syntax_check(cli, tmp_path,
                                                                                                 name):
    out = tmp_path / f"{name}.yml"
    result = cli("--json", "generate", "--spec", str(EXAMPLES / f"{name}.spec.yml"), "-o", str(out))
    assert result.code == 0, result.stdout
    assert out.read_bytes() == (EXAMPLES / f"{name}.yml").read_bytes()  # regenerate the docs when this fails
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections_path()), "PATH": str(Path(sys.executable).parent),
           "ANSIBLE_NOCOLOR": "1", "HOME": str(tmp_path)}
    proc = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_same_spec_gives_the_same_bytes_and_json_specs_work(cli, tmp_path):
    spec = {"name": "Raise max-num-seqs", "hosts": ["lab1", "lab2"], "serial": "50%", "tags": ["vllm"],
            "roles": [{"role": "sparkfleet.spark.model"}, {"role": "vllm", "vars": {"vllm_max_num_seqs": 8}}]}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    first = cli("--json", "generate", "--spec", str(tmp_path / "s.json")).summary["result"]
    second = cli("--json", "generate", "--spec", str(tmp_path / "s.json")).summary["result"]
    assert first == second and first["text"].count("sparkfleet.spark.vllm") == 1
    assert "hosts: lab1,lab2" in first["text"] and "serial: 50%" in first["text"]
    assert "vllm_model: '{{ model_selected.name }}'" in first["text"]  # serve's wiring, read from serve.yml


BAD = [
    ({"roles": [{"role": "model"}]}, "name", "a sentence"),
    ({"name": "x", "hosts": "lab", "roles": [{"role": "model"}, {"role": "vllm", "vars": {"vllm_max_num_seqs": "8"}}]},
     "roles[1].vars.vllm_max_num_seqs", "of type int"),
    ({"name": "x", "hosts": "lab", "roles": [{"role": "vllm", "vars": {"vllm_max_num_seq": 8}}]},
     "roles[0].vars.vllm_max_num_seq", "vllm_max_num_seqs"),
    ({"name": "x", "hosts": "lab", "roles": [{"role": "vllm", "vars": {"vllm_install_method": "apt"}}]},
     "roles[0].vars.vllm_install_method", "container, pip"),
    ({"name": "x", "hosts": "lab", "roles": [{"role": "nginx"}]}, "roles[0].role", "sparkfleet.spark.vllm"),
    ({"name": "x", "hosts": "lab", "tasks": [{"name": "t", "module": "ansible.builtin.shell", "args": {}}]},
     "tasks[0].module", "ansible.builtin.command"),
    ({"name": "x", "hosts": "lab", "serial": 0, "roles": ["model"]}, "serial", "a positive int"),
    ({"name": "x", "hosts": "lab; rm -rf /", "roles": ["model"]}, "hosts", "group names"),
    ({"name": "x", "hosts": "lab", "roles": ["model"], "become_user": "root"}, "become_user", "roles (list of"),
    ({"name": "x", "hosts": "lab"}, "roles", "at least one role or task"),
]


@pytest.mark.parametrize(("spec", "path", "allowed"), BAD, ids=[b[1] for b in BAD])
def test_a_bad_spec_names_the_offending_key_and_what_is_allowed_and_writes_nothing(cli, tmp_path, spec, path,
                                                                                  allowed):
    (tmp_path / "bad.yml").write_text(json.dumps(spec))
    out = tmp_path / "out.yml"
    result = cli("--json", "generate", "--spec", str(tmp_path / "bad.yml"), "-o", str(out))
    assert result.code == 2
    error = result.summary["error"]
    assert error["code"] == "spec"
    assert error["message"].startswith(f"{path}:"), error
    assert allowed in error["hint"] and "Nothing was written" in error["hint"]
    assert not out.exists()


def test_a_spec_that_is_not_yaml_is_refused_clearly(cli, tmp_path):
    (tmp_path / "bad.yml").write_text("name: [unclosed\n")
    result = cli("--json", "generate", "--spec", str(tmp_path / "bad.yml"))
    assert result.code == 2 and "not valid YAML" in result.summary["error"]["message"]
