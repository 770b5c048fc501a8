"""The checks before a playbook sparkfleet did not ship may apply: its YAML read narrowly, ansible-playbook's
syntax check, ansible-lint (when installed), and the diff of a check-mode run read from its artifacts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sparkfleet.core import content
from sparkfleet.core.errors import UsageError

_DIFF_LIMIT = 4000  # characters of diff kept per task and host


def read_playbook(path: Path) -> list:
    import yaml

    try:
        plays = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UsageError(f"Cannot read {path}: {error.strerror}.", hint="Give the path of a playbook file.") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path} is not valid YAML: {' '.join(str(error).split())[:300]}",
                         hint="Fix the YAML; nothing was run.", code="playbook.yaml") from None
    if not isinstance(plays, list) or not plays:
        raise UsageError(f"{path} is not a playbook (a YAML list of plays).",
                         hint="See docs/examples/ or `sparkfleet generate`.", code="playbook.shape")
    return plays


def _env(project_root: Path) -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "ANSIBLE_CONFIG": str(project_root / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(content.collections_path()), "ANSIBLE_NOCOLOR": "1"}


def syntax_check(project_root: Path, playbook: Path) -> dict:
    """ansible-playbook --syntax-check against the project's inventory: {ok, output}."""
    proc = subprocess.run(["ansible-playbook", "--syntax-check", "-i", str(project_root / "inventory"), str(playbook)],
                          capture_output=True, text=True, env=_env(project_root), cwd=project_root, timeout=120)
    output = (proc.stdout + proc.stderr).strip()
    return {"ok": proc.returncode == 0, "output": output[-2000:] if proc.returncode else None}


def lint(project_root: Path, playbook: Path, profile: str) -> dict:
    """ansible-lint on the playbook alone: {ran, ok, profile, findings}. Not installed: ran is false, and why."""
    exe = shutil.which("ansible-lint", path=str(Path(sys.executable).parent)) or shutil.which("ansible-lint")
    if exe is None:
        return {"ran": False, "ok": True, "profile": profile, "findings": [],
                "reason": "ansible-lint is not installed (pip install ansible-lint); the lint step was skipped"}
    proc = subprocess.run([exe, "--offline", "--nocolor", "-q", "--profile", profile, "-f", "json", playbook.name],
                          capture_output=True, text=True, env=_env(project_root), cwd=playbook.parent, timeout=300)
    try:
        found = json.loads(proc.stdout or "[]")
    except ValueError:
        found = [{"check_name": "ansible-lint", "description": (proc.stdout + proc.stderr).strip()[-1000:]}]
    findings = [{"rule": f.get("check_name"), "message": f.get("description"),
                 "line": ((f.get("location") or {}).get("lines") or {}).get("begin")} for f in found]
    return {"ran": True, "ok": proc.returncode == 0, "profile": profile, "findings": findings}


def diffs(artifacts_dir: str) -> list[dict]:
    """What a check-mode run would change, per host and task, with the diff Ansible computed (when the module
    gives one). no_log tasks give none: Ansible censors their results."""
    events_dir = Path(artifacts_dir) / "job_events"
    found = []
    for path in sorted(events_dir.glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0])):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data = event.get("event_data") or {}
        res = data.get("res") or {}
        if event.get("event") != "runner_on_ok" or not res.get("changed"):
            continue
        text = []
        for item in res.get("diff") if isinstance(res.get("diff"), list) else [res.get("diff") or {}]:
            if not isinstance(item, dict):
                continue
            if item.get("prepared"):
                text.append(str(item["prepared"]))
            elif "before" in item or "after" in item:
                header = f"--- {item.get('before_header', 'before')}\n+++ {item.get('after_header', 'after')}\n"
                text.append(header + _unified(item.get("before"), item.get("after")))
        found.append({"host": data.get("host"), "task": data.get("task"),
                      "diff": "\n".join(text)[:_DIFF_LIMIT] or None})
    return found


def _unified(before: object, after: object) -> str:
    import difflib

    def lines(value: object) -> list[str]:
        if isinstance(value, dict):
            return [f"{k}: {v}" for k, v in sorted(value.items())]
        return str(value or "").splitlines()

    return "\n".join(difflib.unified_diff(lines(before), lines(after), lineterm="", n=2))
