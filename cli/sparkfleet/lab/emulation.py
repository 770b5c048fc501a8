"""Another machine's programs on this one: aarch64 lab hosts on an x86_64 controller, through qemu-user-static.

The kernel's binfmt_misc hands every aarch64 binary to qemu-aarch64. Registered with the F (fix-binary) flag, the
kernel opens the interpreter once at registration, so it also works inside lab hosts, which do not contain it.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sparkfleet.core.errors import EnvironmentProblem
from sparkfleet.lab.engine import apt_install

DPKG_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")


# F: the interpreter is opened at registration, so it works inside lab hosts that lack it. C: a setuid program's
# credentials come from the program, not from qemu (without it sudo says "effective uid is not 0"). Debian's
# qemu-user-static registers PF, so sparkfleet registers its entry again with C (which implies O).
FLAGS = "FC"


def _entry(machine: str) -> dict[str, str]:
    try:
        lines = (BINFMT / f"qemu-{machine}").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(" ", 1) for line in lines if " " in line and ":" not in line)
    fields["flags"] = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    fields["enabled"] = "yes" if "enabled" in lines else ""
    return fields


def registered(machine: str) -> bool:
    """Whether the kernel runs `machine`'s binaries through qemu, inside containers too, setuid ones included."""
    entry = _entry(machine)
    return bool(entry.get("enabled")) and all(flag in entry["flags"] for flag in FLAGS)


def _register_with_credentials(machine: str) -> None:
    """Replace the entry by the same one with the C flag (the kernel cannot change an entry's flags in place)."""
    entry = _entry(machine)
    if not entry.get("interpreter"):
        return

    def escaped(hex_text: str) -> str:
        return "".join(f"\\x{hex_text[i:i + 2]}" for i in range(0, len(hex_text), 2))

    line = (f":qemu-{machine}:M:{entry.get('offset', '0')}:{escaped(entry['magic'])}:{escaped(entry['mask'])}:"
            f"{entry['interpreter']}:{''.join(sorted(set(entry['flags'] + 'POC' + FLAGS)))}")
    (BINFMT / f"qemu-{machine}").write_text("-1")
    (BINFMT / "register").write_text(line)


def ensure_emulation(machine: str, say: Callable[[str], None]) -> None:
    """Make `machine`'s binaries run here: install and register qemu-user-static (root), or say why not."""
    if machine == platform.machine() or registered(machine):
        return
    if "binfmt_misc" not in Path("/proc/filesystems").read_text():
        raise EnvironmentProblem(f"This machine's kernel has no binfmt_misc, so it cannot run {machine} programs.",
                                 hint=f"Use a kernel with CONFIG_BINFMT_MISC, or run {machine} lab hosts on a "
                                      f"{machine} machine.")
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"{machine} lab hosts need qemu-user-static registered with binfmt_misc; that "
                                 "needs root.", hint="sudo apt-get install qemu-user-static binfmt-support")
    if shutil.which(f"qemu-{machine}-static") is None or shutil.which("update-binfmts") is None:
        say(f"Installing qemu-user-static to run {machine} lab hosts (once per machine)")
        apt_install("qemu-user-static", "binfmt-support")
    if not (BINFMT / "register").exists():
        mounted = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True,
                                 text=True)
        if mounted.returncode != 0:
            raise EnvironmentProblem(f"binfmt_misc cannot be mounted here: {mounted.stderr.strip()}",
                                     hint="A container needs it mounted by its host; or use a machine "
                                          "where /proc/sys/fs/binfmt_misc can be mounted.")
    subprocess.run(["update-binfmts", "--enable", f"qemu-{machine}"], capture_output=True)
    if not registered(machine):
        _register_with_credentials(machine)
    if not registered(machine):
        raise EnvironmentProblem(f"qemu-{machine} is installed but the kernel did not register it with the flags "
                                 f"{FLAGS} (fix-binary, credentials).",
                                 hint=f"See: cat {BINFMT}/qemu-{machine}; update-binfmts --display qemu-{machine}")
