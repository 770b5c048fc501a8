"""What an agent uses beyond the fixed commands: describe what exists, generate a playbook from a spec, check a
playbook against the project's policy before it runs, the JSON Schemas of every output, and the MCP server."""
