"""The 20 idempotent operations of the engine comparison for pyinfra, the same as deploy20.yml for Ansible.

Run only by bench/engines.py from its own venv (pyinfra is not a sparkfleet dependency).
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import apt, files, server, systemd

ROOT = "/opt/sfbench"
HERE = Path(__file__).parent
SUDO = {"_sudo": True}

apt.packages(name="Packages present", packages=["sudo", "openssh-server", "ca-certificates"], **SUDO)
server.group(name="Group", group="sfbench", system=True, **SUDO)
server.user(name="User", user="sfbench", group="sfbench", system=True, create_home=False,
            shell="/usr/sbin/nologin", **SUDO)
files.directory(name="Top directory", path=ROOT, mode="755", **SUDO)
for sub in ("etc", "data", "cache", "log"):
    files.directory(name=f"Sub directory {sub}", path=f"{ROOT}/{sub}", user="sfbench", group="sfbench",
                    mode="750", **SUDO)
for conf in ("a", "b", "c", "d"):
    files.put(name=f"File {conf}", src=StringIO(f"# {conf}\nname={conf}\n"), dest=f"{ROOT}/etc/{conf}.conf",
              mode="644", **SUDO)
files.template(name="Environment file", src=str(HERE / "app.env.j2"), dest=f"{ROOT}/etc/app.env", mode="640",
               inventory_hostname=host.name, root=ROOT, **SUDO)
files.template(name="Unit", src=str(HERE / "sfbench.service.j2"), dest="/etc/systemd/system/sfbench.service",
               mode="644", root=ROOT, **SUDO)
for line in ("key1=1", "key2=2", "key3=3", "key4=4"):
    files.line(name=f"Line {line}", path=f"{ROOT}/etc/main.conf", line=line, **SUDO)
files.link(name="Link", path=f"{ROOT}/current", target=f"{ROOT}/data", **SUDO)
systemd.service(name="Unit enabled", service="sfbench.service", enabled=True, **SUDO)
