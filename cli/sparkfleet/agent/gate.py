"""The gate before a playbook sparkfleet did not ship may apply (`sparkfleet run`): syntax, lint, the project's
policy, then a check-mode run with its diff, and whether it is approved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sparkfleet.agent import checks, policy
from sparkfleet.core.errors import UsageError
from sparkfleet.core.inventory import Inventory
from sparkfleet.core.project import Project


def check_playbook(project: Project, path: Path, limit: str | None, yes: bool, emit: Callable) -> dict:
    """The checks before a playbook sparkfleet did not ship may apply: syntax, lint, policy, then a check-mode run
    with its diff. Returns {sha256, syntax, lint, policy: {flags}, check_run, diff, approved_by, needs_approval}."""
    from sparkfleet.core.runner import run_playbook

    plays = checks.read_playbook(path)
    sha256 = policy.digest(path)
    syntax = checks.syntax_check(project.root, path)
    if not syntax["ok"]:
        raise UsageError(f"{path.name} fails ansible-playbook's syntax check: {syntax['output']}",
                         hint="Fix the playbook (`sparkfleet generate` writes valid ones); nothing was run.",
                         code="playbook.syntax")
    rules = policy.load_policy(project.root)
    linted = checks.lint(project.root, path, str(rules.get("lint_profile") or "basic"))
    hosts = Inventory.load(project.inventory_file).hosts()
    groups: dict[str, list[str]] = {}
    for host in hosts:
        for group in host.groups:
            groups.setdefault(group, []).append(host.name)
    flags = policy.check(plays, rules, [h.name for h in hosts], groups)
    if linted["ran"] and not linted["ok"] and (rules.get("needs_approval") or {}).get("lint", True):
        flags.append(policy.Flag("lint", path.name, f"ansible-lint ({linted['profile']}) found "
                                 f"{len(linted['findings'])} problem(s): " + "; ".join(
                                     f"{f['rule']} (line {f['line']})" for f in linted["findings"][:5])))
    check_run = run_playbook(project, path, emit=emit, limit=limit, check=True)
    approved_by = "--yes" if yes else ("approvals.yml" if policy.approved(project.root, sha256) else None)
    needs = bool(flags) and approved_by is None
    return {"playbook": str(path), "sha256": sha256, "syntax": syntax, "lint": linted,
            "policy": {"flags": policy.as_dicts(flags), "rules": sorted({f.rule for f in flags})},
            "check_run": check_run.to_dict(), "diff": checks.diffs(check_run.artifacts_dir),
            "approved_by": approved_by if flags else None, "needs_approval": needs,
            "approval": {"how": policy.how_to_approve(path, sha256)} if needs else None}
