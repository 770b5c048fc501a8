"""The machine-readable catalog behind `sparkfleet describe`: roles with their variables (from the argument
specs), profiles and what each sets, the model catalog, exit codes and the output schemas.

The commands themselves come from the click tree, which only cli/ may import; the CLI adds them.
"""

from __future__ import annotations

from sparkfleet.core import catalog, content, role_specs
from sparkfleet.core.errors import ExitCode

DESCRIBE_VERSION = 1
_EXIT_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "a bug in sparkfleet: please report it",
    ExitCode.USAGE: "bad arguments, bad input or a broken project folder",
    ExitCode.HOST_FAILED: "at least one host failed a task",
    ExitCode.HOST_UNREACHABLE: "at least one host could not be reached, none failed",
    ExitCode.ENVIRONMENT: "the controller lacks something it needs",
    ExitCode.APPROVAL_NEEDED: "the policy flagged the playbook: nothing was applied; approve it to apply",
    ExitCode.BUSY: "another sparkfleet command is using the project: nothing was done; run again when it ends",
    ExitCode.CANCELLED: "interrupted",
}


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return " ".join(str(value).split())


def role_variables(role: str) -> dict[str, dict]:
    """{entry point: {description, variables: {name: {type, elements, required, default, choices, description}}}}"""
    entries = {}
    for entry, spec in role_specs.load(role).items():
        variables = {}
        for name, option in (spec.get("options") or {}).items():
            variables[name] = {
                "type": option.get("type", "str"),
                "elements": option.get("elements"),
                "required": bool(option.get("required", False)),
                "default": None if option.get("no_log") else option.get("default"),
                "choices": option.get("choices"),
                "description": _text(option.get("description")),
                "secret": bool(option.get("no_log", False)),
            }
        entries[entry] = {"description": _text(spec.get("short_description")), "variables": variables}
    return entries


def roles() -> dict[str, dict]:
    return {f"{content.COLLECTION}.{role}": {"role": role, "entry_points": role_variables(role)}
            for role in role_names()}


def role_names() -> list[str]:
    return role_specs.role_names()


def profiles() -> dict[str, dict]:
    """Each profile and the variables it sets: spark is the roles' defaults (group_vars/all), lab adds
    group_vars/lab.yml; a host gets a profile by its group (`host add --group lab`)."""
    import yaml

    group_vars = content.inventory_template_dir() / "group_vars"
    spark = yaml.safe_load((group_vars / "all" / "main.yml").read_text()) or {}
    lab = yaml.safe_load((group_vars / "lab.yml").read_text()) or {}
    return {
        "spark": {"group": None, "description": "A DGX Spark (GPU required): the roles' defaults.",
                  "sets": {k: v for k, v in spark.items() if not k.startswith("ansible_")}},
        "lab": {"group": "lab", "description": "A stand-in host: vLLM's CPU build and a tiny Qwen3-VL "
                "(`sparkfleet lab up` puts its hosts in the lab group; `host add NAME ... --group lab` does the same).",
                "sets": lab},
    }


def exit_codes() -> list[dict]:
    return [{"code": int(code), "name": code.name.lower(), "meaning": _EXIT_MEANINGS[code]} for code in ExitCode]


def catalog_entries() -> dict[str, dict]:
    return catalog.load()
