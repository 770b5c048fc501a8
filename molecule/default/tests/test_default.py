"""What every lab host must be after converge: a real systemd host reachable over ssh by its login user.

Molecule runs these with testinfra over its own inventory (see molecule.yml): plain ssh with the project's
key and pinned host keys, as the login user, without sudo unless a test asks for it.
"""

import pytest

# Statuses of a booted system; "degraded" means some unit failed, which containers often show
# (e.g. units for hardware they lack) and which does not stop the roles from working.
BOOTED = ("running", "degraded")


@pytest.fixture(scope="module")
def login_user(host):
    return host.ansible.get_variables()["ansible_user"]


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_has_finished_booting(host):
    # --wait blocks while the system is still starting, so a host that just came up is not a false failure.
    result = host.run("timeout 60 systemctl is-system-running --wait")
    assert result.stdout.strip() in BOOTED, f"systemctl is-system-running: {result.stdout.strip()!r}"


def test_sshd_listens_on_port_22(host):
    assert host.socket("tcp://22").is_listening
    # Ubuntu 24.04 starts sshd through socket activation (ssh.socket); Debian runs ssh.service.
    units = [host.service("ssh.socket"), host.service("ssh")]
    assert any(unit.is_running for unit in units), "neither ssh.socket nor ssh.service is active"


def test_sshd_config_is_valid(host):
    with host.sudo():
        assert host.run("sshd -t").rc == 0


def test_login_user_exists(host, login_user):
    user = host.user(login_user)
    assert user.exists
    assert user.home == f"/home/{login_user}"
    assert host.file(user.home).is_directory
    assert host.user().name == login_user  # testinfra logged in as that user


def test_login_user_has_passwordless_sudo(host):
    # -n: fail instead of asking for a password.
    result = host.run("sudo -n id -u")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_python3_exists(host):
    assert host.exists("python3")
    version = host.run("python3 -c 'import sys; print(sys.version_info[0])'")
    assert version.rc == 0 and version.stdout.strip() == "3"
