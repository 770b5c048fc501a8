"""Filters that turn vLLM settings into command-line arguments, and arguments into a systemd ExecStart line."""

from __future__ import annotations

import json
import shlex


def vllm_args(settings: dict) -> list[str]:
    """{"max_model_len": 2048, "enforce_eager": True, "limit_mm_per_prompt": {"video": 1}} ->
    ["--max-model-len", "2048", "--enforce-eager", "--limit-mm-per-prompt", '{"video": 1}'].

    True gives a bare flag; False, None and "" leave the option out (vLLM's default applies); a dict or a
    list becomes JSON. Keys keep their order, so the same settings always give the same line.
    """
    args: list[str] = []
    for key, value in (settings or {}).items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None or value == "":
            continue
        elif isinstance(value, dict | list):
            args += [flag, json.dumps(value, separators=(",", ":"), sort_keys=True)]
        else:
            args += [flag, str(value)]
    return args


def systemd_command(argv: list[str]) -> str:
    """Quote argv for ExecStart: shell-style quoting (which systemd understands), with % and $ escaped."""
    return " ".join(shlex.quote(str(arg)).replace("%", "%%").replace("$", "$$") for arg in argv)


class FilterModule:
    def filters(self):
        return {"vllm_args": vllm_args, "systemd_command": systemd_command}
