"""One command at a time per project: an advisory lock on .sparkfleet/lock, held for the whole command.

Commands that change the hosts or the project take it; commands that only read (host list, notes, lab status)
take none: every file they read is written atomically, so they see the state before or after a change, and a
person can look at the fleet while a long `up` runs.
The lock is `flock(2)`: the kernel drops it when the holder's file is closed, so a command that dies, even by
SIGKILL, never leaves a stale lock behind. The file only says who holds it, for the message; it is never trusted.
The descriptor is close-on-exec, so ssh and ansible-playbook started by a command do not keep it. That has a price:
ansible-playbook runs in its own session (ansible-runner's pty) and outlives a sparkfleet killed with SIGKILL,
still changing hosts; so an exclusive holder also refuses to start while such a leftover ansible-playbook of the
same project runs (found by its `-i <project>/inventory`), naming its pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import time
from collections.abc import Iterator

from sparkfleet.core.errors import ProjectBusy
from sparkfleet.core.project import Project


def _holder(project: Project) -> str:
    """Who holds the lock, as the file says ('`sparkfleet up` (pid 12, since 10:02:03 UTC)'), or a generic phrase."""
    try:
        info = json.loads(project.lock_file.read_text() or "{}")
        pid, command, since = int(info["pid"]), str(info["command"]), float(info["since"])
        os.kill(pid, 0)  # still alive? (the file may name a holder that has gone; then say nothing about it)
    except (OSError, ValueError, KeyError, TypeError):
        return "another sparkfleet command"
    started = time.strftime("%H:%M:%S UTC", time.gmtime(since))
    return f"`sparkfleet {command}` (pid {pid}, since {started})"


def leftover_playbooks(project: Project) -> list[int]:
    """pids of ansible-playbook processes working on this project's inventory (Linux /proc; [] elsewhere)."""
    inventory = str(project.inventory_dir)
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                argv = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if any(arg.endswith("ansible-playbook") for arg in argv[:2]) and any(
                a == "-i" and b == inventory for a, b in itertools.pairwise(argv)):
            found.append(int(entry.name))
    return sorted(found)


@contextlib.contextmanager
def hold(project: Project, command: str) -> Iterator[None]:
    """Hold the project for `command`, or raise ProjectBusy at once."""
    project.state_dir.mkdir(exist_ok=True)
    fd = os.open(project.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(project)
            raise ProjectBusy(
                f"{holder} is using the project {project.root}; "
                f"`sparkfleet {command}` did not start, so that the two cannot interleave.",
                hint="Wait for it to finish and run this again. The lock is released whenever that command ends, "
                "even if it is killed, so there is nothing to delete.") from None
        leftovers = leftover_playbooks(project)
        if leftovers:
            pids = ", ".join(map(str, leftovers))
            raise ProjectBusy(
                f"ansible-playbook (pid {pids}) of an earlier sparkfleet command that was killed is still working "
                f"on {project.root}; `sparkfleet {command}` did not start, so that the two cannot interleave.",
                hint=f"Wait for it to end, or stop it with `kill {pids}`, then run this again.")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing drops the lock
