"""The hosts' memory notes as the controller keeps them: copies of each host's state.json and NOTES.md.

The hosts hold the originals (role `notes`); every run fetches them to .sparkfleet/hosts/<host>/.
"""

from __future__ import annotations

import re

from sparkfleet.core.errors import UsageError
from sparkfleet.core.host_state import read_host_state
from sparkfleet.core.project import Project

MAX_NOTE = 2000
# A note lands in a file every local user of the host may read: refuse what looks like a secret.
_SECRET_LIKE = re.compile(r"(hf_[A-Za-z0-9]{20,}|(password|passwd|token|api[_-]?key|secret)\s*[:=]\s*\S+)", re.I)


def gathered(project: Project, host: str | None = None) -> dict[str, dict]:
    """{host: {"state": dict | None, "markdown": str | None}} for every host with gathered notes (or the one)."""
    from sparkfleet.core.inventory import Inventory

    names = [h.name for h in Inventory.load(project.inventory_file).hosts()]
    if host is not None and host not in names:
        raise UsageError(f"No host named {host!r} in the inventory.", hint="See the hosts with: sparkfleet host list")
    found = {}
    for name in [host] if host else names:
        notes = project.hosts_dir / name / "NOTES.md"
        state = read_host_state(project, name)
        if state is None and not notes.exists():
            continue
        found[name] = {"state": state, "markdown": notes.read_text() if notes.exists() else None}
    if not found:
        raise UsageError(f"No notes gathered yet{' for ' + host if host else ''}.",
                         hint="`sparkfleet up` (or `sparkfleet verify`) writes them on each host and brings them here.")
    return found


def urls(project: Project) -> dict[str, dict]:
    """{host: {api, endpoint, dashboard}} from the gathered state files."""
    folder = project.hosts_dir
    found = {}
    for path in sorted(folder.glob("*/state.json")) if folder.is_dir() else []:
        state = read_host_state(project, path.parent.name)
        if state and state.get("urls"):
            found[path.parent.name] = state["urls"]
    return found


def served_models(project: Project, hosts: list[str]) -> list[str]:
    """The models the hosts' gathered state files say they serve."""
    names = set()
    for host in hosts:
        state = read_host_state(project, host) or {}
        if (state.get("model") or {}).get("name"):
            names.add(state["model"]["name"])
    return sorted(names)


def check_note(project: Project, host: str, text: str) -> str:
    """The note, cleaned, or a UsageError saying what is wrong with it."""
    from sparkfleet.core.inventory import Inventory

    if Inventory.load(project.inventory_file).get(host) is None:
        raise UsageError(f"No host named {host!r} in the inventory.", hint="See the hosts with: sparkfleet host list")
    text = text.strip()
    if not text:
        raise UsageError("The note is empty.",
                         hint='Write it as one argument: sparkfleet notes add HOST "what happened"')
    if len(text) > MAX_NOTE:
        raise UsageError(f"The note has {len(text)} characters; at most {MAX_NOTE} fit.",
                         hint="Shorten it, or point to a longer document.")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise UsageError("The note has control characters.", hint="Use plain text.")
    if _SECRET_LIKE.search(text):
        raise UsageError("The note looks like it holds a secret (a token or a password), and every user of the "
                         "host can read the notes.", hint="Leave the secret out; keep secrets in the vault.")
    return text


def record_down(project: Project, host: str, record_id: str, when: str, kept: list[str]) -> None:
    """`sparkfleet down` took sparkfleet off host: say so in the controller's copy of its notes, and set its state
    file aside (state-before-down.json), so that nothing reads URLs or a served model from it any more."""
    folder = project.hosts_dir / host
    folder.mkdir(parents=True, exist_ok=True)
    line = (f"\n- {when}: `sparkfleet down` removed sparkfleet's services, venvs, users and folders "
            f"(kept: {', '.join(kept) or 'nothing'}; record {record_id}).\n")
    with (folder / "NOTES.md").open("a") as notes:
        notes.write(line)
    state = folder / "state.json"
    if state.exists():
        state.replace(folder / "state-before-down.json")
