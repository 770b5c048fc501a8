from pathlib import Path

import pytest
import yaml


def test_add_list_remove_round_trip(project, cli):
    assert cli("host", "add", "spark1", "--address", "192.168.1.42", "--user", "nvidia", cwd=project).code == 0
    assert cli("host", "add", "spark2", "--address", "spark2.lan", "--user", "nvidia", "--port", "2222",
               "--group", "rack_a", cwd=project).code == 0
    listed = cli("--json", "host", "list", cwd=project).summary["result"]["hosts"]
    assert listed == [
        {"name": "spark1", "address": "192.168.1.42", "user": "nvidia", "port": 22, "groups": ["sparks"]},
        {"name": "spark2", "address": "spark2.lan", "user": "nvidia", "port": 2222, "groups": ["rack_a"]},
    ]
    data = yaml.safe_load((project / "inventory/hosts.yml").read_text())
    assert data["all"]["children"]["rack_a"]["hosts"]["spark2"] == {
        "ansible_host": "spark2.lan", "ansible_user": "nvidia", "ansible_port": 2222}

    assert cli("host", "remove", "spark2", cwd=project).code == 0
    data = yaml.safe_load((project / "inventory/hosts.yml").read_text())
    assert "rack_a" not in data["all"]["children"]  # an emptied group is dropped
    assert [h["name"] for h in cli("--json", "host", "list", cwd=project).summary["result"]["hosts"]] == ["spark1"]


def test_hand_edited_host_variables_survive_changes(project, cli):
    cli("host", "add", "spark1", "--address", "10.0.0.5", "--user", "nvidia", cwd=project)
    path = project / "inventory/hosts.yml"
    data = yaml.safe_load(path.read_text())
    data["all"]["children"]["sparks"]["hosts"]["spark1"]["vllm_port"] = 8001
    path.write_text(yaml.safe_dump(data))
    cli("host", "add", "spark2", "--address", "10.0.0.6", "--user", "nvidia", cwd=project)
    data = yaml.safe_load(path.read_text())
    assert data["all"]["children"]["sparks"]["hosts"]["spark1"]["vllm_port"] == 8001


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bad name", "--address", "10.0.0.1", "--user", "u"], "Invalid host name"),
        (["s1", "--address", "10.0.0", "--user", "u"], "Invalid address"),
        (["s1", "--address", "999.1.1.1", "--user", "u"], "Invalid address"),
        (["s1", "--address", "bad_host!", "--user", "u"], "Invalid address"),
        (["s1", "--address", "10.0.0.1", "--user", "Root User"], "Invalid user name"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--port", "70000"], "Invalid port"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--group", "rack-a"], "Invalid group name"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--group", "all"], "Invalid group name"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--profile", "dgx"], "Unknown profile 'dgx'"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--port-map", "8080"], "Invalid port map"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--port-map", "8080:0"], "Invalid port map"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--port-map", "80:1", "--port-map", "80:2"], "mapped twice"),
        (["s1", "--address", "10.0.0.1", "--user", "u", "--url-address", "no such!"], "Invalid address"),
    ],
)
def test_bad_input_is_refused_and_the_file_is_untouched(project, cli, args, expected):
    path = project / "inventory/hosts.yml"
    before = path.read_bytes()
    result = cli("--json", "host", "add", *args, cwd=project)
    assert result.code == 2
    assert expected in result.summary["error"]["message"]
    assert result.summary["error"]["hint"]
    assert path.read_bytes() == before


def test_a_profile_is_a_documented_option_and_the_host_gets_its_values(project, cli):
    """`--profile lab` puts the host in the lab group, whose group_vars make it a stand-in; with --group as well
    the host joins both. Ansible's own inventory reading agrees."""
    import json
    import subprocess
    import sys

    assert cli("host", "add", "box", "--address", "192.0.2.7", "--user", "me", "--profile", "lab",
               cwd=project).code == 0
    assert cli("host", "add", "box2", "--address", "192.0.2.8", "--user", "me", "--profile", "lab",
               "--group", "rack_a", cwd=project).code == 0
    assert cli("host", "add", "spark1", "--address", "192.0.2.9", "--user", "me", cwd=project).code == 0
    hosts = {h["name"]: sorted(h["groups"])
             for h in cli("--json", "host", "list", cwd=project).summary["result"]["hosts"]}
    assert hosts == {"box": ["lab"], "box2": ["lab", "rack_a"], "spark1": ["sparks"]}
    inventory = [str(project / "inventory" / "hosts.yml")]
    for name, profile in (("box", "lab"), ("box2", "lab"), ("spark1", "spark")):
        seen = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "-i", *inventory,
                               "--host", name], capture_output=True, text=True, check=True)
        variables = json.loads(seen.stdout)
        assert variables["sparkfleet_profile"] == profile, name
        assert variables["ansible_host"].startswith("192.0.2."), name  # the address survives the second group


def test_a_host_reached_through_a_tunnel_declares_its_address_and_ports(project, cli):
    added = cli("--json", "host", "add", "spark1", "--address", "10.0.0.5", "--user", "nvidia", "--url-address",
                "spark1.example.org", "--port-map", "8080:18080", "--port-map", "8000:18000", cwd=project)
    assert added.code == 0
    data = yaml.safe_load((project / "inventory/hosts.yml").read_text())
    assert data["all"]["children"]["sparks"]["hosts"]["spark1"] == {
        "ansible_host": "10.0.0.5", "ansible_user": "nvidia", "sparkfleet_url_address": "spark1.example.org",
        "sparkfleet_published_ports": {"8080": 18080, "8000": 18000}}


def test_ipv6_addresses_are_accepted(project, cli):
    assert cli("host", "add", "s6", "--address", "fd00::42", "--user", "nvidia", cwd=project).code == 0


def test_duplicate_names_are_refused(project, cli):
    cli("host", "add", "spark1", "--address", "10.0.0.5", "--user", "nvidia", cwd=project)
    result = cli("--json", "host", "add", "spark1", "--address", "10.0.0.6", "--user", "nvidia", cwd=project)
    assert result.code == 2
    assert result.summary["error"]["code"] == "inventory.duplicate_host"


def test_removing_an_unknown_host_says_so(project, cli):
    result = cli("host", "remove", "ghost", cwd=project)
    assert result.code == 2 and "No host named 'ghost'" in result.stderr and "host list" in result.stderr


def test_broken_yaml_gets_a_clear_error(project, cli):
    (project / "inventory/hosts.yml").write_text("all: [unclosed\n")
    result = cli("host", "list", cwd=project)
    assert result.code == 2 and "not valid YAML" in result.stderr


def test_no_temporary_files_are_left_behind(project, cli):
    cli("host", "add", "spark1", "--address", "10.0.0.5", "--user", "nvidia", cwd=project)
    assert not [p for p in (project / "inventory").iterdir() if p.name.endswith(".tmp")]


def test_lab_down_removes_the_hosts_lab_up_made_and_keeps_one_added_by_hand_on_the_lab_profile(project, cli):
    # lab1 as `lab up` writes it (its container is long gone, so only the inventory entry is left to remove)
    assert cli("host", "add", "lab1", "--address", "127.0.0.1", "--user", "sparkfleet", "--port", "40022",
               "--group", "lab", cwd=project).code == 0
    assert cli("host", "add", "box", "--address", "192.0.2.7", "--user", "me", "--profile", "lab",
               cwd=project).code == 0
    down = cli("--json", "lab", "down", cwd=project)
    assert down.code == 0, down.stdout
    names = [h["name"] for h in cli("--json", "host", "list", cwd=project).summary["result"]["hosts"]]
    assert names == ["box"]
