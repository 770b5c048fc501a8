"""serving_verify module: the pure checks over what a host reports (ss output, cgroups, manifests, modes, sshd -T).

The checks against a real host run in tests/integration/test_verify.py.
"""

from __future__ import annotations

import stat

from ansible_collections.sparkfleet.spark.plugins.modules.serving_verify import (
    manifest_check,
    parse_ss,
    port_checks,
    sshd_password_check,
    sshd_t_argv,
    unit_of_cgroup,
    world_readable,
)

SS = """LISTEN 0 4096 0.0.0.0:8000 0.0.0.0:* users:(("vllm",pid=310,fd=25))
LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=40,fd=3))
LISTEN 0 2048 0.0.0.0:8080 0.0.0.0:* users:(("python",pid=500,fd=7))
LISTEN 0 128 127.0.0.1:41235 0.0.0.0:* users:(("python3",pid=311,fd=9))
LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=40,fd=4))
"""
UNITS = {310: "sparkfleet-vllm-tiny", 311: "sparkfleet-vllm-tiny", 40: "ssh", 500: "sparkfleet-video"}
EXPECTED = [{"port": 8000, "unit": "sparkfleet-vllm-tiny"}, {"port": 8080, "unit": "sparkfleet-video"}]


def test_ss_lines_give_address_port_and_pids():
    sockets = parse_ss(SS)
    assert sockets[0] == {"address": "0.0.0.0", "port": 8000, "pids": [310]}
    assert sockets[4] == {"address": "[::]", "port": 22, "pids": [40]}


def test_the_unit_of_a_process_comes_from_its_cgroup_v1_or_v2():
    assert unit_of_cgroup("0::/system.slice/sparkfleet-video.service\n") == "sparkfleet-video"
    assert unit_of_cgroup("12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n") == "ssh"
    assert unit_of_cgroup("0::/user.slice/user-0.slice/session-1.scope\n") is None


def test_expected_ports_pass_and_a_loopback_helper_port_is_allowed():
    checks = port_checks(parse_ss(SS), UNITS, EXPECTED)
    assert [c["ok"] for c in checks] == [True, True, True]


def test_a_missing_port_and_an_extra_public_port_of_our_unit_fail():
    extra = SS.replace("0.0.0.0:8080", "0.0.0.0:9999") + 'LISTEN 0 5 0.0.0.0:5555 0.0.0.0:* users:(("x",pid=77,fd=3))\n'
    checks = {c["id"]: c for c in port_checks(parse_ss(extra), {**UNITS, 77: "cups"}, EXPECTED)}
    assert not checks["port_8080"]["ok"] and "nothing listens on port 8080" in checks["port_8080"]["message"]
    only = checks["ports_only_expected"]
    assert not only["ok"] and "9999 (sparkfleet-video)" in only["message"] and "5555" not in only["message"]


def test_model_files_are_checked_by_presence_and_size():
    manifest = {"files": {"a.safetensors": {"size": 10}, "config.json": {"size": 3}}}
    assert manifest_check(manifest, {"a.safetensors": 10, "config.json": 3})["ok"]
    bad = manifest_check(manifest, {"a.safetensors": 9, "config.json": None})
    assert not bad["ok"] and "missing: config.json" in bad["message"] and "wrong size: a.safetensors" in bad["message"]
    assert not manifest_check({"files": {}}, {})["ok"]


def test_world_readable_secrets_are_named():
    modes = {"/etc/sparkfleet/video-api-key": stat.S_IFREG | 0o640, "/root/.cache/huggingface/token": 0o644}
    assert world_readable(modes) == ["/root/.cache/huggingface/token"]


def test_password_login_is_checked_against_what_was_configured():
    assert sshd_password_check(True, "port 22\npasswordauthentication no\n")["ok"]
    wrong = sshd_password_check(True, "passwordauthentication yes\n")
    assert not wrong["ok"] and wrong["severity"] == "error"
    on = sshd_password_check(False, "passwordauthentication yes\n")
    assert on["ok"] and on["severity"] == "warning" and "is on" in on["message"]


def test_sshd_settings_are_read_for_the_login_so_match_blocks_count():
    assert sshd_t_argv("/usr/sbin/sshd", "first.last", "192.168.1.9") == [
        "/usr/sbin/sshd", "-T", "-C", "user=first.last,host=192.168.1.9,addr=192.168.1.9"]
    assert sshd_t_argv("/usr/sbin/sshd", None, "127.0.0.1") == ["/usr/sbin/sshd", "-T"]
