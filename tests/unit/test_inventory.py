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
        (["all", "--address", "10.0.0.1", "--user", "u"], "Ansible reads it as a pattern"),
        (["ungrouped", "--address", "10.0.0.1", "--user", "u"], "Ansible reads it as a pattern"),
        (["sparks", "--address", "10.0.0.1", "--user", "u"], "would name both a host and a group"),
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


def test_a_second_host_at_the_same_address_and_port_is_refused_unless_allowed(project, cli):
    assert cli("host", "add", "spark1", "--address", "10.0.0.5", "--user", "nvidia", cwd=project).code == 0
    before = (project / "inventory/hosts.yml").read_bytes()
    result = cli("--json", "host", "add", "spark1b", "--address", "10.0.0.5", "--user", "other", cwd=project)
    assert result.code == 2 and result.summary["error"]["code"] == "inventory.duplicate_address"
    assert "spark1" in result.summary["error"]["message"] and "--allow-same-address" in result.summary["error"]["hint"]
    assert (project / "inventory/hosts.yml").read_bytes() == before
    # another port is another machine (a forwarded ssh port), and a person may insist
    assert cli("host", "add", "spark2", "--address", "10.0.0.5", "--port", "2222", "--user", "n", cwd=project).code == 0
    assert cli("host", "add", "spark1b", "--address", "10.0.0.5", "--user", "n", "--allow-same-address",
               cwd=project).code == 0


def test_a_user_name_with_a_dot_is_accepted(project, cli):
    assert cli("host", "add", "s1", "--address", "10.0.0.1", "--user", "first.last", cwd=project).code == 0


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


def test_host_add_pins_a_given_host_key_and_shows_its_fingerprint(project, cli, tmp_path):
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "hostkey")], check=True)
    key = (tmp_path / "hostkey.pub").read_text().strip()
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "hostkey.pub")], capture_output=True,
                                 text=True, check=True).stdout.split()[1]
    result = cli("--json", "host", "add", "s1", "--address", "10.0.0.1", "--port", "2222", "--user", "u",
                 "--host-key", key, cwd=project)
    assert result.code == 0 and result.summary["result"]["pinned"] == fingerprint
    pins = (project / ".sparkfleet/known_hosts").read_text().splitlines()
    assert pins == [f"[10.0.0.1]:2222 {' '.join(key.split()[:2])} sparkfleet-given:s1"]


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--host-key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "must be an ed25519 public key"),
        ("--host-key", "ssh-ed25519 not-base64", "not a valid ssh public key"),
        ("--host-key-fingerprint", "MD5:12:34", "Invalid host key fingerprint"),
        ("--host-key-fingerprint", "SHA256:short", "Invalid host key fingerprint"),
    ],
)
def test_a_bad_host_key_or_fingerprint_is_refused_and_nothing_is_written(project, cli, option, value, expected):
    before = (project / "inventory/hosts.yml").read_bytes()
    result = cli("--json", "host", "add", "s1", "--address", "10.0.0.1", "--user", "u", option, value, cwd=project)
    assert result.code == 2 and expected in result.summary["error"]["message"], result.stdout
    assert result.summary["error"]["hint"]
    assert (project / "inventory/hosts.yml").read_bytes() == before
    assert not (project / ".sparkfleet/known_hosts").exists()


def test_a_given_fingerprint_is_kept_as_a_host_variable(project, cli):
    fingerprint = "SHA256:" + "x" * 43
    assert cli("host", "add", "s1", "--address", "10.0.0.1", "--user", "u", "--host-key-fingerprint", fingerprint,
               cwd=project).code == 0
    data = yaml.safe_load((project / "inventory/hosts.yml").read_text())
    assert data["all"]["children"]["sparks"]["hosts"]["s1"]["sparkfleet_host_key_fingerprint"] == fingerprint
