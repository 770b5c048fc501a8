"""Turns the raw messages of failed or unreachable hosts into a hint that says how to fix them."""

from __future__ import annotations

import re

# (pattern in the message, hint) for hosts that could not be reached over ssh. The first match wins; {host} is
# the inventory name. Failed tasks get only the _TASK_HINTS: a "Connection refused" there is not about ssh.
_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed", re.I),
     "The host's ssh key is not the pinned one (or none is pinned yet). On first contact run "
     "`sparkfleet bootstrap`; if the host was reinstalled, accept its new key with `sparkfleet host trust {host}`."),
    (re.compile(r"Permission denied \(", re.I),
     "The host does not accept the controller key (yet): run `sparkfleet bootstrap` with the user's password "
     "(in SPARKFLEET_SSH_PASSWORD, or typed at the prompt)."),
    (re.compile(r"Connection refused", re.I),
     "Nothing answers on the ssh port: check that sshd runs on the host and the port in the inventory."),
    (re.compile(r"timed out|No route to host|Network is unreachable", re.I),
     "The host cannot be reached from here: check its address, that it is on, the network and any firewall."),
    (re.compile(r"Could not resolve hostname|Name or service not known", re.I),
     "The host name does not resolve: use its IP address or fix DNS (`sparkfleet host remove`, then `host add`)."),
    (re.compile(r"Missing sudo password|incorrect sudo password|a password is required", re.I),
     "sudo wants a password: run `sparkfleet bootstrap --passwordless-sudo` once with the password."),
]
_TASK_HINTS = _HINTS[-1:]


_DENIED = re.compile(r"Permission denied|incorrect password", re.I)
_WRONG_PASSWORD = ("The password was refused: check it (SPARKFLEET_SSH_PASSWORD or the prompt) and the user name "
                   "(`sparkfleet host list`). Nothing was changed on the host.")


def hint_for(message: str | None, host: str, password_given: bool = False, status: str = "unreachable") -> str | None:
    if not message:
        return None
    if status != "unreachable":
        return next((hint.format(host=host) for pattern, hint in _TASK_HINTS if pattern.search(message)), None)
    if password_given and _DENIED.search(message) and "Host key" not in message:
        return _WRONG_PASSWORD
    for pattern, hint in _HINTS:
        if pattern.search(message):
            return hint.format(host=host)
    return None


def annotate(failures: list[dict], password_given: bool = False) -> None:
    """Add a `hint` to each failure dict (host, task, status, message) in place."""
    for failure in failures:
        failure["hint"] = hint_for(failure.get("message"), failure.get("host", ""), password_given,
                                   failure.get("status", "unreachable"))
