"""`sparkfleet mcp`'s own refusals, called in-process (the tools that run commands are tested with the MCP SDK's
stdio client against lab hosts: tests/integration/test_agent.py)."""

from __future__ import annotations

import asyncio

from sparkfleet.agent import schemas
from sparkfleet.agent.mcp_server import build_server


def test_the_mcp_tools_refuse_a_path_outside_the_project_and_a_note_without_a_host(project):
    """The tools' own refusals (no command runs) are summaries like the commands', and conform."""
    server = build_server(project)

    async def call(name: str, args: dict) -> dict:
        return (await server.call_tool(name, args))[1]

    outside = asyncio.run(call("generate", {"spec": {"name": "x"}, "output": "../elsewhere.yml"}))
    assert outside["exit_code"] == 2 and "outside the project" in outside["error"]["message"]
    assert not (project.parent / "elsewhere.yml").exists()
    note = asyncio.run(call("notes", {"add": "a note"}))
    assert note["exit_code"] == 2 and schemas.errors("summary", note) == []
