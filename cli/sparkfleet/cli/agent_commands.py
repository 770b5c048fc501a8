"""Commands for agents: describe what exists, generate a playbook from a spec, run any playbook past the
project's policy, and serve all of it over MCP (the logic is in sparkfleet.agent)."""

from __future__ import annotations

from pathlib import Path

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output
from sparkfleet.core.errors import ExitCode


def _param(param: click.Parameter) -> dict:
    kind = param.type
    entry = {"name": param.name, "kind": "argument" if isinstance(param, click.Argument) else "option",
             "flags": list(getattr(param, "opts", [])), "required": bool(param.required),
             "multiple": bool(getattr(param, "multiple", False)), "is_flag": bool(getattr(param, "is_flag", False)),
             "type": kind.name, "default": param.default if isinstance(param.default, str | int | float | bool
                                                                        | None) else str(param.default),
             "help": " ".join((getattr(param, "help", None) or "").split()) or None}
    if isinstance(kind, click.Choice):
        entry["choices"] = list(kind.choices)
    return entry


def commands(group: click.Group, prefix: str = "") -> list[dict]:
    """Every command under group, walked from the live click tree (so it cannot drift from --help)."""
    found = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        path = f"{prefix}{name}"
        params = [_param(p) for p in cmd.params if p.name not in ("help",) and not getattr(p, "hidden", False)]
        found.append({"command": path, "summary": cmd.get_short_help_str(200),
                      "help": " ".join((cmd.help or "").split()), "params": params,
                      "group": isinstance(cmd, click.Group)})
        if isinstance(cmd, click.Group):
            found += commands(cmd, f"{path} ")
    return found


def describe_all() -> dict:
    from sparkfleet import __version__
    from sparkfleet.agent import describe, schemas

    return {"describe_version": describe.DESCRIBE_VERSION, "sparkfleet": __version__,
            "global_options": [_param(p) for p in cli.params if p.name not in ("help", "version")],
            "commands": commands(cli), "roles": describe.roles(), "profiles": describe.profiles(),
            "models": describe.catalog_entries(), "exit_codes": describe.exit_codes(),
            "schemas": schemas.index(), "event_schema": schemas.load("event")}


def _describe_text(data: dict) -> str:
    lines = ["Commands:"]
    lines += [f"  sparkfleet {c['command']:<18} {c['summary']}" for c in data["commands"]]
    lines.append("Roles (variables: `sparkfleet describe --json`, or each role's README):")
    for name, role in data["roles"].items():
        main = role["entry_points"].get("main", {})
        lines.append(f"  {name:<32} {main.get('description') or ''} ({len(main.get('variables', {}))} variables)")
    lines.append("Profiles: " + ", ".join(f"{n} ({p['description']})" for n, p in data["profiles"].items()))
    lines.append("Models: " + ", ".join(sorted(data["models"])))
    lines.append("Exit codes: " + ", ".join(f"{c['code']} {c['name']}" for c in data["exit_codes"]))
    lines.append("Schemas (JSON Schema 2020-12): " + ", ".join(s["name"] for s in data["schemas"]))
    return "\n".join(lines)


@command(cli, "describe", lock=None)
def describe_cmd(settings: Settings, out: Output) -> int:
    """What an agent may ask for: every command and option, every role and its variables (type, default,
    choices), the profiles, the models, the exit codes and the output schemas. Needs no project."""
    data = describe_all()
    out.success(data, _describe_text(data))
    return ExitCode.OK


@command(cli, "generate", lock=None)
@click.option("--spec", "spec_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The spec (YAML or JSON): name, hosts, serial, tags, roles with vars, tasks "
              "(docs/agents-playbooks.md).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the playbook here (default: print it).")
def generate_cmd(settings: Settings, out: Output, spec_file: Path, output: Path | None) -> int:
    """Turn a spec into a playbook naming roles and modules by their full names. Every key and role variable is
    checked (against the roles' argument specs) before anything is written; the same spec gives the same bytes."""
    import hashlib

    from sparkfleet.agent.spec import generate
    from sparkfleet.core.atomic import write_atomically

    text = generate(spec_file)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if output is not None:
        write_atomically(output, text)
    result = {"playbook": str(output) if output else None, "sha256": digest,
              "text": None if output else text}
    out.success(result, f"Wrote {output} (sha256 {digest})." if output else text.rstrip("\n"))
    return ExitCode.OK


def _resolve_playbook(name: str) -> tuple[Path, bool]:
    """(the playbook file, whether sparkfleet ships it): a path, or the name of one of sparkfleet's playbooks."""
    from sparkfleet.core import content
    from sparkfleet.core.errors import UsageError

    shipped_dir = content.content_root() / "playbooks"
    path = Path(name).expanduser()
    if not path.is_file():
        if "/" not in name and content.playbook(name.removesuffix(".yml")).is_file():
            return content.playbook(name.removesuffix(".yml")), True
        shipped = ", ".join(sorted(p.stem for p in shipped_dir.glob("*.yml")))
        raise UsageError(f"No playbook file {name}.",
                         hint=f"Give a playbook's path, or one of sparkfleet's: {shipped}.")
    path = path.resolve()
    return path, path.parent == shipped_dir


def _gate_text(result: dict) -> str:
    lines = [f"Playbook {result['playbook']} (sha256 {result['sha256']})",
             "syntax: ok", "lint: " + ("skipped: " + result["lint"].get("reason", "") if not result["lint"]["ran"]
                                       else "ok" if result["lint"]["ok"]
                                       else f"{len(result['lint']['findings'])} finding(s)")]
    for flag in result["policy"]["flags"]:
        lines.append(f"POLICY {flag['rule']}: {flag['where']}: {flag['message']}")
    if not result["policy"]["flags"]:
        lines.append("policy: nothing flagged")
    lines.append(f"check-mode run: {result['check_run']['status']}, {len(result['diff'])} change(s) it would make")
    for item in result["diff"]:
        lines.append(f"  {item['host']}: {item['task']}")
        lines += [f"    {line}" for line in (item["diff"] or "").splitlines()[:40]]
    if result["needs_approval"]:
        lines.append(click.style("Not applied: the policy flagged it (" + ", ".join(result["policy"]["rules"]) + ").",
                                 fg="yellow", bold=True))
        lines.append(result["approval"]["how"])
    return "\n".join(lines)


@command(cli, "run")
@click.argument("playbook")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--check", "check_only", is_flag=True,
              help="Stop after the checks and the check-mode run (with its diff): nothing is applied.")
@click.option("--yes", is_flag=True, help="Approve what the policy flags (after reading the check-mode diff).")
def run_cmd(settings: Settings, out: Output, playbook: str, limit: str | None, check_only: bool, yes: bool) -> int:
    """Run any playbook through sparkfleet's runner, with its events, record, notes and report.

    A playbook sparkfleet did not ship first passes a syntax check, ansible-lint, the project's policy
    (policy.yml) and a check-mode run showing the diff. What the policy flags applies only with --yes or with the
    playbook's sha256 in approvals.yml; otherwise nothing changes on any host and the command exits 6.
    """
    from sparkfleet.agent.gate import check_playbook
    from sparkfleet.cli.plan_commands import _plan_result, _plan_text
    from sparkfleet.core.errors import UsageError
    from sparkfleet.core.inventory import Inventory
    from sparkfleet.report.build import build_report
    from sparkfleet.runs import plans

    project = settings.project()
    hosts = Inventory.load(project.inventory_file).hosts()
    if not hosts:
        raise UsageError("The inventory has no hosts.",
                         hint="Add one with `sparkfleet host add NAME --address IP --user USER`, "
                         "or start local stand-ins with `sparkfleet lab up`.")
    path, shipped = _resolve_playbook(playbook)
    checked = None
    if not shipped:
        checked = check_playbook(project, path, limit, yes, out.event)
        check_code = ExitCode(checked["check_run"]["exit_code"])
        if check_only or check_code != ExitCode.OK or checked["needs_approval"]:
            code = ExitCode.APPROVAL_NEEDED if checked["needs_approval"] and check_code == ExitCode.OK else check_code
            out.success({"applied": False, "checks": checked}, _gate_text(checked), exit_code=code)
            return code
    elif check_only:
        from sparkfleet.cli.output import run_summary_text
        from sparkfleet.core.runner import run_playbook

        result = run_playbook(project, path, emit=out.event, limit=limit, check=True)
        out.success({"applied": False, "checks": {"check_run": result.to_dict()}},
                    run_summary_text(result.to_dict()), exit_code=result.exit_code)
        return result.exit_code
    details = {"playbook": {"path": str(path), "sha256": checked["sha256"] if checked else None, "shipped": shipped,
                            "approved_by": checked["approved_by"] if checked else None,
                            "flags": checked["policy"]["flags"] if checked else []}}
    record = plans.execute(project, out.event, "run", ["playbook"], limit, {}, [h.name for h in hosts], None,
                           build_report=build_report, playbooks={"playbook": path}, details=details)
    result = {"applied": True, "checks": checked, **_plan_result(settings, record)}
    text = (_gate_text(checked) + "\n" if checked else "") + _plan_text(record, result)
    out.success(result, text, exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


@command(cli, "mcp", lock=None)  # each tool runs a real command, which takes the lock itself
def mcp_cmd(settings: Settings, out: Output) -> int:
    """Serve sparkfleet's commands to an agent as an MCP server over stdio (tools: describe, status, notes,
    doctor, generate, check, run, verify, report). Long runs report progress as MCP notifications."""
    from sparkfleet.agent.mcp_server import serve

    serve(settings.project().root)
    return ExitCode.OK
