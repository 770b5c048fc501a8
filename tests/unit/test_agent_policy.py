"""The playbook policy (sparkfleet.agent.policy): each rule flags what it names, and a plain playbook of allowed
roles and modules is flagged by none. The check reads the playbook as data; nothing here runs it."""

from __future__ import annotations

import pytest
import yaml
from sparkfleet.agent import policy

HOSTS = ["lab1", "lab2"]
GROUPS = {"lab": ["lab1", "lab2"], "sparks": ["lab1"]}


def flags(text: str, rules: dict | None = None) -> list[tuple[str, str]]:
    loaded = yaml.safe_load(policy.DEFAULT_POLICY.read_text())
    if rules:
        loaded["needs_approval"].update(rules)
    return [(f.rule, f.where) for f in policy.check(yaml.safe_load(text), loaded, HOSTS, GROUPS)]


def test_a_playbook_of_allowed_roles_and_modules_on_some_hosts_needs_no_approval():
    assert flags("""
- hosts: lab1
  roles: [{role: sparkfleet.spark.vllm, vars: {vllm_max_num_seqs: 8, vllm_host: 127.0.0.1}}]
  tasks:
    - ansible.builtin.command: journalctl -u sparkfleet-vllm
    - name: a file
      ansible.builtin.copy: {content: x, dest: /var/tmp/x, mode: "0600"}
""") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("- hosts: all\n  tasks: [{ansible.builtin.command: touch /x}]", ("shell_on_all_hosts", "plays[0].tasks[0]")),
    ("- hosts: lab\n  tasks: [{command: touch /x}]", ("shell_on_all_hosts", "plays[0].tasks[0]")),
    ("- hosts: lab1,lab2\n  tasks: [{block: [{raw: touch /x}]}]", ("shell_on_all_hosts", "plays[0].tasks[0].block[0]")),
    ("- hosts: lab1\n  tasks: [{ansible.builtin.shell: echo}]", ("module_not_allowed", "plays[0].tasks[0]")),
    ("- hosts: lab1\n  roles: [geerlingguy.docker]", ("role_not_allowed", "plays[0].roles[0]")),
    ("- hosts: lab1\n  roles: [sparkfleet.spark.ssh_access]", ("touches_sshd_or_sudoers", "plays[0].roles[0]")),
    ("- hosts: lab1\n  tasks: [{ansible.builtin.lineinfile: {path: /etc/ssh/sshd_config, line: x}}]",
     ("touches_sshd_or_sudoers", "plays[0].tasks[0].ansible.builtin.lineinfile.path")),
    ("- hosts: lab1\n  tasks: [{ansible.builtin.copy: {dest: /etc/sudoers.d/x, content: y}}]",
     ("touches_sshd_or_sudoers", "plays[0].tasks[0].ansible.builtin.copy.dest")),
    ("- hosts: lab1\n  vars: {ansible_ssh_common_args: -o StrictHostKeyChecking=no}\n  tasks: []",
     ("host_key_checking_off", "plays[0].vars.ansible_ssh_common_args")),
    ("- hosts: lab1\n  vars: {ansible_host_key_checking: false}\n  tasks: []",
     ("host_key_checking_off", "plays[0].vars.ansible_host_key_checking")),
    ("- hosts: lab1\n  roles: [{role: sparkfleet.spark.vllm, vars: {vllm_host: 0.0.0.0}}]",
     ("port_beyond_loopback", "plays[0].roles[0].vars.vllm_host")),
    ("- hosts: lab1\n  tasks: [{community.general.ufw: {rule: allow, port: '8000'}}]",
     ("port_beyond_loopback", "plays[0].tasks[0]")),
    ("- import_playbook: other.yml", ("module_not_allowed", "plays[0]")),
    ("- hosts: lab1\n  tasks: [{action: {module: ansible.builtin.shell, cmd: x}}]",
     ("module_not_allowed", "plays[0].tasks[0]")),
    ("- hosts: lab\n  tasks: [{local_action: shell echo x}]", ("module_not_allowed", "plays[0].tasks[0]")),
])
def test_each_rule_flags_what_it_names_and_where(text, expected):
    assert expected in flags(text)


def test_a_rule_turned_off_in_the_policy_flags_nothing():
    text = "- hosts: all\n  tasks: [{ansible.builtin.command: touch /x}]"
    assert flags(text, {"shell_on_all_hosts": False}) == []


def test_approval_is_by_the_playbooks_digest(tmp_path):
    book = tmp_path / "p.yml"
    book.write_text("- hosts: all\n  tasks: []\n")
    sha = policy.digest(book)
    assert not policy.approved(tmp_path, sha)
    (tmp_path / policy.APPROVALS_FILE).write_text(f"approved:\n  - sha256: {sha}\n    playbook: p.yml\n")
    assert policy.approved(tmp_path, sha)
    book.write_text("- hosts: all\n  tasks: [{command: rm -rf /}]\n")  # edited: needs approving again
    assert not policy.approved(tmp_path, policy.digest(book))
    assert sha in policy.how_to_approve(book, sha)


def test_init_writes_the_default_policy_and_a_broken_one_is_refused_clearly(project):
    assert (project / policy.POLICY_FILE).read_text() == policy.DEFAULT_POLICY.read_text()
    assert policy.load_policy(project)["needs_approval"]["shell_on_all_hosts"] is True
    (project / policy.POLICY_FILE).write_text("allowed_roles: [x]\nallowed_modules: [y]\nallow_everything: true\n")
    with pytest.raises(policy.UsageError, match="allow_everything"):
        policy.load_policy(project)
