"""The project's playbook policy (policy.yml, created by `sparkfleet init`; docs/agents-playbooks.md): which roles
and modules a playbook sparkfleet did not ship may use, and what needs a person's approval before it applies.

The check reads the playbook as data (never runs it) and is deliberately coarse: it flags, a person decides.
Approval is `--yes`, or the playbook's sha256 listed in approvals.yml (so an edited playbook needs approving
again).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from sparkfleet.core.errors import UsageError

POLICY_FILE = "policy.yml"
APPROVALS_FILE = "approvals.yml"
# `sparkfleet init` writes it into each project (core/project.py); a project made before it gets it read from here.
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "core" / "templates" / f"{POLICY_FILE}.j2"
_SHELL_MODULES = {"ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw", "ansible.builtin.script",
                  "ansible.builtin.expect"}
_FIREWALL_MODULES = {"ansible.builtin.iptables", "ansible.posix.firewalld", "community.general.ufw"}
# Task keywords: whatever else is on a task is its module (or an action plugin).
_TASK_KEYWORDS = {
    "name", "action", "args", "async", "become", "become_exe", "become_flags", "become_method", "become_user",
    "changed_when", "check_mode", "collections", "connection", "debugger", "delay", "delegate_facts", "delegate_to",
    "diff", "environment", "failed_when", "ignore_errors", "ignore_unreachable", "local_action", "loop",
    "loop_control", "module_defaults", "no_log", "notify", "poll", "port", "register", "remote_user", "retries",
    "run_once", "tags", "throttle", "timeout", "until", "vars", "when", "listen", "any_errors_fatal",
    "with_items", "with_dict", "with_fileglob", "with_first_found", "with_together", "with_subelements",
    "with_sequence", "with_nested", "with_random_choice", "with_lines", "with_indexed_items",
}
_BLOCK_KEYS = ("block", "rescue", "always")
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")
_LISTEN_KEY = re.compile(r"(^|_)(host|listen|listen_address|bind|bind_address|address)$")
_SENSITIVE_PATH = re.compile(r"(/etc/ssh/|sshd|sudoers|/etc/sudo)")
_HOST_KEY_OFF = re.compile(r"(StrictHostKeyChecking\s*=\s*(no|off|accept-new)|UserKnownHostsFile\s*=\s*/dev/null)",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Flag:
    rule: str  # the policy rule: module_not_allowed, role_not_allowed, shell_on_all_hosts, ...
    where: str  # plays[0].tasks[2]
    message: str


def load_policy(project_root: Path) -> dict:
    """The project's policy.yml, or the shipped default when the project has none (made before policies)."""
    import yaml

    path = project_root / POLICY_FILE
    source = path if path.is_file() else DEFAULT_POLICY
    try:
        policy = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as error:
        raise UsageError(f"{source} is not valid YAML: {' '.join(str(error).split())[:300]}",
                         hint="Fix it, or delete it and run `sparkfleet init` to get the default back.") from None
    keys = {"schema", "allowed_roles", "allowed_modules", "needs_approval", "lint_profile"}
    unknown = set(policy) - keys
    lists = all(isinstance(policy.get(key), list) for key in ("allowed_modules", "allowed_roles"))
    if unknown or not lists:
        raise UsageError(f"{source}: unknown keys {sorted(unknown)} or allowed_roles/allowed_modules not lists.",
                         hint=f"Allowed keys: {', '.join(sorted(keys))} (docs/agents-playbooks.md).")
    policy.setdefault("needs_approval", {})
    return policy


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def approved(project_root: Path, sha256: str) -> bool:
    """Whether approvals.yml lists this digest under `approved:`."""
    import yaml

    path = project_root / APPROVALS_FILE
    if not path.is_file():
        return False
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("approved") or [] if isinstance(data, dict) else []
    return any((e.get("sha256") if isinstance(e, dict) else e) == sha256 for e in entries)


def how_to_approve(playbook: Path, sha256: str) -> str:
    return (f"Read the flags and the check-mode diff; then run again with --yes, or add this to {APPROVALS_FILE} in "
            f"the project:\napproved:\n  - sha256: {sha256}\n    playbook: {playbook.name}")


def _module_name(task: dict) -> str | None:
    for key in task:
        if key not in _TASK_KEYWORDS and key not in _BLOCK_KEYS:
            if key in ("include_tasks", "import_tasks", "include_role", "import_role", "import_playbook",
                       "include_vars"):
                return f"ansible.builtin.{key}"
            return key if "." in key else f"ansible.builtin.{key}"
    action = task.get("action") or task.get("local_action")
    if action:
        name = action.get("module") if isinstance(action, dict) else str(action).split(maxsplit=1)[0]
        return name if "." in str(name) else f"ansible.builtin.{name}"
    return None


def _allowed(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _strings(value: object, path: str, key: str = ""):
    """Every (key path, nearest key, text) of the strings, numbers and bools inside a value."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{path}.{name}", str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", key)
    elif isinstance(value, str | int | float | bool):
        yield path, key, str(value)


def _all_hosts(pattern: object, inventory_hosts: list[str], groups: dict[str, list[str]]) -> bool:
    """Whether a play's host pattern reaches every host of the inventory (or could: a templated pattern, an
    exclusion or an intersection counts as every host)."""
    if not isinstance(pattern, str):
        return True
    names: set[str] = set()
    for part in (p.strip() for p in re.split(r"[,:]", pattern)):
        if not part:
            continue
        if part in ("all", "*") or part.startswith(("!", "&")) or "{{" in part:
            return True
        if any(ch in part for ch in "*?["):
            names |= {h for h in inventory_hosts if fnmatch.fnmatchcase(h, part)}
        names |= set(groups.get(part, [part]))
    return bool(inventory_hosts) and set(inventory_hosts) <= names


def check(plays: object, policy: dict, inventory_hosts: list[str], groups: dict[str, list[str]]) -> list[Flag]:
    """Every place the playbook needs approval under the policy (empty: it may apply without one)."""
    rules = {"shell_on_all_hosts": True, "host_key_checking_off": True, "touches_sshd_or_sudoers": True,
             "port_beyond_loopback": True, "module_not_allowed": True, "role_not_allowed": True,
             **(policy.get("needs_approval") or {})}
    flags: list[Flag] = []

    def flag(rule: str, where: str, message: str) -> None:
        if rules.get(rule, True):
            flags.append(Flag(rule, where, message))

    if not isinstance(plays, list):
        flag("module_not_allowed", "(playbook)", "the playbook is not a list of plays")
        return flags
    for p, play in enumerate(plays):
        where_play = f"plays[{p}]"
        if not isinstance(play, dict):
            continue
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            flag("module_not_allowed", where_play, "import_playbook: the imported playbook is not checked")
            continue
        on_all = _all_hosts(play.get("hosts"), inventory_hosts, groups)
        for path, key, text in _strings(play, where_play):
            if _HOST_KEY_OFF.search(text) or (key in ("ansible_host_key_checking", "host_key_checking")
                                              and text.lower() in ("false", "no", "0", "off")):
                flag("host_key_checking_off", path, f"turns host key checking off ({text[:80]})")
            if _SENSITIVE_PATH.search(text):
                flag("touches_sshd_or_sudoers", path, f"names sshd or sudoers ({text[:80]})")
            if (_LISTEN_KEY.search(key) and not key.startswith("ansible_") and "{{" not in text
                    and not _LOOPBACK.match(text.strip()) and re.match(r"^[0-9a-fA-F:.]+$|^\*$", text.strip())):
                flag("port_beyond_loopback", path, f"listens beyond loopback ({key}: {text})")
        for r, entry in enumerate(play.get("roles") or []):
            name = entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry
            if not isinstance(name, str) or not _allowed(name, policy["allowed_roles"]):
                flag("role_not_allowed", f"{where_play}.roles[{r}]", f"role {name!r} is not in allowed_roles")
            elif "ssh_access" in name:
                flag("touches_sshd_or_sudoers", f"{where_play}.roles[{r}]",
                     "the ssh_access role edits sshd and sudoers")
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            _tasks(play.get(section) or [], f"{where_play}.{section}", on_all, policy, flag)
    return flags


def _tasks(tasks: object, where: str, on_all: bool, policy: dict, flag) -> None:
    if not isinstance(tasks, list):
        return
    for t, task in enumerate(tasks):
        path = f"{where}[{t}]"
        if not isinstance(task, dict):
            continue
        if any(key in task for key in _BLOCK_KEYS):
            for key in _BLOCK_KEYS:
                _tasks(task.get(key) or [], f"{path}.{key}", on_all and "delegate_to" not in task, policy, flag)
            continue
        module = _module_name(task)
        if module is None:
            continue
        if module in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
            args = task.get(module.rsplit(".", 1)[1]) or task.get(module) or {}
            role = args.get("name") if isinstance(args, dict) else None
            if not isinstance(role, str) or not _allowed(role, policy["allowed_roles"]):
                flag("role_not_allowed", path, f"role {role!r} is not in allowed_roles")
            continue
        if not _allowed(module, policy["allowed_modules"]):
            flag("module_not_allowed", path, f"module {module} is not in allowed_modules")
        on_controller = "delegate_to" in task or "local_action" in task
        if module in _SHELL_MODULES and on_all and not on_controller and not task.get("run_once"):
            flag("shell_on_all_hosts", path, f"{module} runs on every host of the inventory")
        if module in _FIREWALL_MODULES:
            flag("port_beyond_loopback", path, f"{module} changes the firewall")


def as_dicts(flags: list[Flag]) -> list[dict]:
    return [asdict(f) for f in flags]
