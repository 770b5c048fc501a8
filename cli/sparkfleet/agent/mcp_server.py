"""`sparkfleet mcp`: sparkfleet's commands as MCP tools over stdio, on the official MCP Python SDK.

Each tool runs the real command (`python -m sparkfleet --json ...`) on the project, so a tool does exactly what the
command does, with the same runner, records, notes and report; its result is the command's summary object
(docs/json-output.md: ok, exit_code, result, error). The command's events become MCP progress notifications while
it runs, so a long `run` or `verify` shows each task as it happens.
"""

# No `from __future__ import annotations`: FastMCP reads the tools' annotations, and Context is imported locally.

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

INSTRUCTIONS = (
    "sparkfleet provisions NVIDIA DGX Spark hosts (vLLM + a video endpoint) with Ansible. Start with `describe` "
    "(commands, roles and their variables, profiles, models, exit codes), read `notes` before changing a host, "
    "`doctor` to check hosts, `generate` a playbook from a spec for a task no command covers, `check` it (syntax, "
    "lint, policy, check-mode diff), `run` it (flagged playbooks need yes=true, given only after a person agrees), "
    "then `verify` and `report`. Every tool returns the command's JSON summary: ok, exit_code, result, error."
)


def _describe_event(event: dict) -> str | None:
    kind = event.get("type")
    if kind == "progress":
        return event.get("message")
    if kind == "run_start":
        return f"running {event.get('playbook')}{' (check mode)' if event.get('check') else ''}"
    if kind == "task_start":
        return f"task: {event.get('task')}"
    if kind == "host_result" and event.get("status") in ("changed", "failed", "unreachable"):
        return f"{event.get('host')}: {event.get('status')}: {event.get('task')}"
    if kind == "run_end":
        return f"{event.get('run_id')} {event.get('status')} in {event.get('duration_s')} s"
    return None


async def run_command(project: Path, args: list[str], progress=None) -> dict:
    """Run `sparkfleet --json ARGS` on the project; each event goes to progress(count, message); returns the summary."""
    import anyio

    env = {**os.environ, "SPARKFLEET_PROJECT": str(project), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "sparkfleet", "--json", *args]
    summary: dict | None = None
    count = 0
    # stderr is inherited: under --json a command writes nothing there but a crash's traceback, which then lands
    # in the MCP client's server log
    async with await anyio.open_process(command, stdin=None, stderr=None, env=env, cwd=str(project)) as process:
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("type") == "summary":
                    summary = obj
                    continue
                count += 1
                message = _describe_event(obj)
                if progress is not None and message:
                    await progress(count, message)
        await process.wait()
    if summary is None:
        return {"v": 1, "type": "summary", "command": args[0], "ok": False, "exit_code": process.returncode or 1,
                "result": None, "error": {"code": "internal", "message": "The command ended without a summary.",
                                          "hint": "See the MCP server's log (stderr)."}}
    return summary


def _usage(command: str, message: str, hint: str) -> dict:
    """A summary like a command's own for input the tool refuses before running anything."""
    return {"v": 1, "type": "summary", "command": command, "ok": False, "exit_code": 2, "result": None,
            "error": {"code": "usage", "message": message, "hint": hint}}


def build_server(project: Path):
    from mcp.server.fastmcp import Context, FastMCP

    server = FastMCP("sparkfleet", instructions=INSTRUCTIONS)

    async def call(ctx: Context | None, *args: str) -> dict[str, Any]:
        async def progress(count: int, message: str) -> None:
            if ctx is not None:
                await ctx.report_progress(progress=count, total=None, message=message)

        return await run_command(project, list(args), progress)

    def limited(args: list[str], limit: str | None) -> list[str]:
        return [*args, "--limit", limit] if limit else args

    @server.tool()
    async def describe(ctx: Context) -> dict[str, Any]:
        """Every command with its options, every role with its variables (type, default, choices), the profiles,
        the model catalog, the exit codes and the JSON Schemas of all output."""
        return await call(ctx, "describe")

    @server.tool()
    async def status(ctx: Context, limit: str | None = None) -> dict[str, Any]:
        """Each host at a glance from one read-only probe: reachable, services, versions, model, last run and bench,
        open problems, and drift from what the last up wrote; changes nothing."""
        return await call(ctx, *limited(["status"], limit))

    @server.tool()
    async def notes(ctx: Context, host: str | None = None, add: str | None = None) -> dict[str, Any]:
        """Read a host's notes (all hosts without `host`), or with `add` record a note on that host."""
        if add is not None:
            if not host:
                return _usage("notes add", "notes add needs a host.", "Give host= and add=.")
            return await call(ctx, "notes", "add", host, add)
        return await call(ctx, "notes", "show", *([host] if host else []))

    @server.tool()
    async def doctor(ctx: Context, limit: str | None = None) -> dict[str, Any]:
        """Facts and checks of every host (GPU, driver, memory, disk, engine); changes nothing."""
        return await call(ctx, *limited(["doctor"], limit))

    @server.tool()
    async def generate(ctx: Context, spec: dict[str, Any], output: str | None = None) -> dict[str, Any]:
        """Turn a spec {name, hosts, serial, tags, roles: [{role, vars}], tasks: [{name, module, args}]} into a
        playbook (written to `output`, a path in the project, or returned as text). Errors name the bad key."""
        with tempfile.TemporaryDirectory(prefix="sparkfleet-spec-") as folder:
            spec_file = Path(folder) / "spec.json"
            spec_file.write_text(json.dumps(spec))
            args = ["generate", "--spec", str(spec_file)]
            if output:
                target = (project / output).resolve()
                if not target.is_relative_to(project.resolve()):  # a tool writes inside its project only
                    return _usage("generate", f"output {output!r} is outside the project.",
                                  "Give a path relative to the project, e.g. playbooks/task.yml.")
                args += ["-o", str(target)]
            return await call(ctx, *args)

    @server.tool()
    async def check(ctx: Context, playbook: str, limit: str | None = None) -> dict[str, Any]:
        """Check a playbook without applying it: syntax, ansible-lint, the project's policy and a check-mode run
        with its diff. result.checks.policy.flags lists what would need approval."""
        return await call(ctx, *limited(["run", playbook, "--check"], limit))

    @server.tool()
    async def run(ctx: Context, playbook: str, limit: str | None = None, yes: bool = False) -> dict[str, Any]:
        """Run a playbook (a path in the project, or a name of sparkfleet's) with a record, notes and a report.
        yes=true approves what the policy flags: pass it only after a person has agreed to that diff.
        exit_code 6 means approval is needed and nothing was applied."""
        return await call(ctx, *limited(["run", playbook, *(["--yes"] if yes else [])], limit))

    @server.tool()
    async def verify(ctx: Context, limit: str | None = None) -> dict[str, Any]:
        """Check every host end to end (services, ports, health, a real request); changes nothing."""
        return await call(ctx, *limited(["verify"], limit))

    @server.tool()
    async def report(ctx: Context, record_id: str | None = None) -> dict[str, Any]:
        """Build the markdown report of a run (the newest `up` by default, or a record id); returns its path."""
        return await call(ctx, "report", *([record_id] if record_id else []))

    return server


def serve(project: Path) -> None:
    build_server(project).run(transport="stdio")
