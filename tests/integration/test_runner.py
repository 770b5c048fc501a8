"""The runner core against real Ansible, with hosts that need no lab (loopback)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers import run_sparkfleet


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_host_gives_exit_4_and_says_why(project):
    port = str(closed_port())
    assert run_sparkfleet("host", "add", "ghost", "--address", "127.0.0.1", "--user", "nobody", "--port", port,
                          cwd=project).code == 0
    result = run_sparkfleet("--json", "ping", cwd=project, timeout=120)
    assert result.code == 4, result.stdout
    summary = result.summary
    assert summary["ok"] is False and summary["exit_code"] == 4
    assert summary["result"]["hosts"]["ghost"]["status"] == "unreachable"
    failure = summary["result"]["failures"][0]
    assert failure["host"] == "ghost" and "refused" in failure["message"].lower()
    events = [line["type"] for line in result.json_lines()]
    assert events[0] == "run_start" and "host_result" in events and events[-2:] == ["run_end", "summary"]


def test_a_limit_that_matches_no_host_is_a_usage_error(project):
    run_sparkfleet("host", "add", "spark1", "--address", "127.0.0.1", "--user", "nobody", cwd=project)
    result = run_sparkfleet("--json", "ping", "--limit", "nosuchhost", cwd=project, timeout=120)
    assert result.code == 2, result.stdout
    assert "no hosts to target" in result.summary["result"]["error"]


def test_secrets_in_the_environment_never_reach_the_artifacts(project):
    secret = "hunter2-never-log-me"
    run_sparkfleet("host", "add", "ghost", "--address", "127.0.0.1", "--user", "nobody", "--port",
                   str(closed_port()), cwd=project)
    run_sparkfleet("ping", cwd=project, timeout=120,
                   env={"SPARKFLEET_PASSWORD": secret, "HF_TOKEN": secret, "MY_API_KEY": secret})
    runs = list((project / ".sparkfleet" / "runs").iterdir())
    assert runs, "the run left no artifacts"
    files = [p for p in runs[0].rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files)  # the file that records the environment exists...
    for path in files:
        assert secret not in path.read_text(errors="replace"), path  # ...and holds no secret
    assert not (runs[0] / "env").exists()


def test_only_allowed_environment_variables_reach_ansible_and_its_artifacts(project, tmp_path):
    """SSHPASS, DATABASE_URL and GITHUB_PAT match no secret-looking name pattern: an allowlist keeps them out,
    while ANSIBLE_VAULT_PASSWORD_FILE still opens the project's vault."""
    secret = "s3cr3t-from-the-controller-env"
    password_file = tmp_path / "vault-pass"
    password_file.write_text("vault-password-for-the-test\n")
    vault = project / "inventory" / "group_vars" / "all" / "vault.yml"
    encrypted = subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string",
                                "--vault-password-file", str(password_file), "opened", "--name", "vault_probe"],
                               capture_output=True, text=True, check=True).stdout
    vault.write_text(vault.read_text() + encrypted)
    playbook = tmp_path / "env.yml"
    playbook.write_text(textwrap.dedent("""\
        - name: What ansible-playbook got
          hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - name: The vault opened, and none of the controller's unrelated variables came through
              ansible.builtin.assert:
                that:
                  - vault_probe == 'opened'
                  - lookup('env', 'SSHPASS') == ''
                  - lookup('env', 'DATABASE_URL') == ''
                  - lookup('env', 'GITHUB_PAT') == ''
                  - lookup('env', 'HOME') != ''
        """))
    driver = textwrap.dedent(f"""\
        import sys
        from pathlib import Path
        from sparkfleet.core.project import Project
        from sparkfleet.core.runner import run_playbook
        result = run_playbook(Project(Path({str(project)!r})), Path({str(playbook)!r}), emit=lambda e: None)
        print(result.status, result.failures)
        sys.exit(int(result.exit_code))
        """)
    env = {**os.environ, "SSHPASS": secret, "DATABASE_URL": f"postgres://app:{secret}@db/app",
           "GITHUB_PAT": f"ghp_{secret}", "ANSIBLE_VAULT_PASSWORD_FILE": str(password_file),
           "HTTPS_PROXY": f"http://user:{secret}@proxy:3128"}
    proc = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = list((project / ".sparkfleet" / "runs").iterdir())
    files = [p for p in runs[0].rglob("*") if p.is_file()]
    command = next(p for p in files if p.name == "command")
    recorded = json.loads(command.read_text())["env"]
    assert recorded["ANSIBLE_VAULT_PASSWORD_FILE"] == str(password_file)
    assert recorded["HTTPS_PROXY"] == "(not recorded)"  # passed (the controller may need it), value not kept
    for path in files:
        assert secret not in path.read_text(errors="replace"), path


def test_ctrl_c_cancels_a_run_cleanly(project, tmp_path):
    playbook = tmp_path / "slow.yml"
    playbook.write_text(textwrap.dedent("""\
        - name: Something slow
          hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - name: Sleep
              ansible.builtin.command: sleep 120
              changed_when: false
        """))
    driver = textwrap.dedent(f"""\
        import json, sys
        from pathlib import Path
        from sparkfleet.core.project import Project
        from sparkfleet.core.runner import run_playbook
        result = run_playbook(Project(Path({str(project)!r})), Path({str(playbook)!r}),
                              emit=lambda e: print(json.dumps(e.to_dict()), flush=True))
        print(json.dumps({{"status": result.status, "exit_code": int(result.exit_code)}}), flush=True)
        """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line).get("type") == "task_start":
            break
    time.sleep(1)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    assert time.monotonic() - started < 30
    final = json.loads(rest.splitlines()[-1])
    assert final == {"status": "canceled", "exit_code": 130}
    deadline = time.monotonic() + 10  # killed processes may take a moment to be reaped
    while subprocess.run(["pgrep", "-f", "sleep 120"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the task's command survived the cancel"
        time.sleep(0.2)
