"""`sparkfleet describe --json`: what an agent may ask for, checked against the live click tree and every role's
argument specs (so it cannot drift from either)."""

from __future__ import annotations

import click
import yaml
from helpers import REPO
from sparkfleet.cli.base import cli as root


def _walk(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, cmd in group.commands.items():
        found[f"{prefix}{name}"] = cmd
        if isinstance(cmd, click.Group):
            found.update(_walk(cmd, f"{prefix}{name} "))
    return found


def test_describe_lists_every_command_and_option_of_the_click_tree(cli):
    result = cli("describe", "--json")
    assert result.code == 0
    described = {c["command"]: c for c in result.summary["result"]["commands"]}
    live = _walk(root)
    assert set(described) == set(live)
    for path, cmd in live.items():
        flags = {f for p in described[path]["params"] for f in p["flags"]}
        expected = {f for p in cmd.params if p.name != "help" for f in getattr(p, "opts", [])}
        assert flags == expected, path
    assert {"describe", "generate", "run", "mcp"} <= set(described)
    run = {p["name"]: p for p in described["run"]["params"]}
    assert run["yes"]["is_flag"] and run["playbook"]["kind"] == "argument"


def test_describe_gives_every_role_variable_with_type_default_and_choices(cli):
    roles = cli("describe", "--json").summary["result"]["roles"]
    on_disk = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
    assert sorted(r["role"] for r in roles.values()) == on_disk
    for role in on_disk:
        specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        described = roles[f"sparkfleet.spark.{role}"]["entry_points"]
        assert set(described) == set(specs)
        for entry, spec in specs.items():
            for name, option in (spec.get("options") or {}).items():
                got = described[entry]["variables"][name]
                assert got["type"] == option.get("type", "str"), (role, name)
                assert got["choices"] == option.get("choices"), (role, name)
                assert got["required"] == bool(option.get("required")), (role, name)
                # a secret's default (a vault lookup) is not repeated
                assert got["default"] == (None if option.get("no_log") else option.get("default")), (role, name)
    seqs = roles["sparkfleet.spark.vllm"]["entry_points"]["main"]["variables"]["vllm_max_num_seqs"]
    assert seqs["type"] == "int" and seqs["default"] == 4


def test_describe_gives_profiles_models_exit_codes_and_schemas(cli):
    data = cli("describe", "--json").summary["result"]
    assert data["profiles"]["lab"]["group"] == "lab"
    assert data["profiles"]["lab"]["sets"]["vllm_install_method"] == "pip"
    assert "qwen3-vl-tiny" in data["models"]
    assert {c["code"]: c["name"] for c in data["exit_codes"]}[6] == "approval_needed"
    assert [s["name"] for s in data["schemas"]] == ["event", "summary", "record", "bench-result"]
    assert {e["properties"]["type"]["const"] for e in data["event_schema"]["oneOf"]} == {
        "progress", "run_start", "play_start", "task_start", "host_result", "run_end"}
    # without --json: a readable overview
    text = cli("describe").stdout
    assert "sparkfleet.spark.vllm" in text and "approval_needed" in text
