"""`sparkfleet generate`: a small spec (YAML or JSON) -> a playbook that names roles and modules by their full
names, rendered through a jinja2 template.

The spec is checked whole before anything is written: every key is known, every role variable is one the role's
argument specs name, of the type and among the choices they give, and every task's module is on the allowed list.
An error names the offending key as a path (`roles[1].vars.vllm_max_num_seqs`) and what is allowed there. The
same spec always renders the same bytes (keys in a fixed order, values dumped sorted).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sparkfleet.core import content
from sparkfleet.core.errors import UsageError

SPEC_KEYS = {"name": "str: what the play does (required)",
             "hosts": "a host pattern: names or groups, a string or a list (required)",
             "serial": "int or a percentage like '25%': hosts per batch",
             "tags": "list of str: tags on the whole play",
             "gather_facts": "bool (default false)",
             "become": "bool: run the play's tasks as root (roles become on their own)",
             "vars": "mapping: play variables (checked like role variables when a role names them)",
             "roles": "list of {role, vars, tags}",
             "tasks": "list of {name, module, args, become, tags, when}"}
ROLE_KEYS = {"role": "a role of sparkfleet.spark (short or full name)", "vars": "mapping of the role's variables",
             "tags": "list of str"}
TASK_KEYS = {"name": "str (required)", "module": "an allowed module (required)",
             "args": "mapping of the module's arguments",
             "become": "bool", "tags": "list of str", "when": "str: a condition", "register": "str: a variable name",
             "changed_when": "bool or str", "failed_when": "bool or str", "ignore_errors": "bool"}
# What a generated task may call. A hand-written playbook is judged by the project's policy instead (policy.py).
ALLOWED_MODULES = (
    "ansible.builtin.assert", "ansible.builtin.command", "ansible.builtin.copy", "ansible.builtin.debug",
    "ansible.builtin.fetch", "ansible.builtin.file", "ansible.builtin.find", "ansible.builtin.lineinfile",
    "ansible.builtin.service_facts", "ansible.builtin.slurp", "ansible.builtin.stat", "ansible.builtin.systemd_service",
    "ansible.builtin.uri", "ansible.builtin.wait_for",
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATTERN = re.compile(r"^[A-Za-z0-9_.:&!*,\-\[\]]+$")
_SERIAL = re.compile(r"^[1-9][0-9]?%$|^100%$")


class SpecError(UsageError):
    code = "spec"


def _fail(path: str, problem: str, allowed: str) -> SpecError:
    return SpecError(f"{path}: {problem}", hint=f"Allowed at {path}: {allowed}. Nothing was written.")


def load_spec(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError(f"Cannot read the spec {path}: {error.strerror}.", hint="Give a readable YAML or JSON file.") \
            from None
    try:
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise SpecError(f"The spec {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                        f"{' '.join(str(error).split())[:300]}", hint="Fix the syntax; nothing was written.") from None
    if not isinstance(spec, dict):
        raise _fail("(spec)", "the spec must be a mapping", ", ".join(SPEC_KEYS))
    return spec


def _unknown_keys(mapping: dict, allowed: dict, path: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise _fail(f"{path}{'.' if path else ''}{key}", "unknown key",
                        "; ".join(f"{k} ({v})" for k, v in allowed.items()))


def _tags(value: object, path: str) -> list[str]:
    if not (isinstance(value, list) and all(isinstance(t, str) and _NAME.match(t) for t in value)):
        raise _fail(path, f"not a list of tag names: {value!r}", "a list of names like [vllm, logs]")
    return value


def _is_template(value: object) -> bool:
    return isinstance(value, str) and "{{" in value


_TYPES = {"str": (str,), "path": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list": (list,),
          "dict": (dict,), "raw": (object,)}


def check_value(value: object, option: dict, path: str) -> None:
    """One variable against its argument spec option (a Jinja expression stands for any value)."""
    if _is_template(value):
        return
    kind = option.get("type", "str")
    expected = _TYPES.get(kind, (object,))
    wrong_bool = isinstance(value, bool) and kind in ("int", "float")
    if not isinstance(value, expected) or wrong_bool:
        raise _fail(path, f"{value!r} is not of type {kind}", f"a value of type {kind}"
                    + (f" of {option['elements']}" if option.get("elements") else ""))
    if option.get("choices") and value not in option["choices"]:
        raise _fail(path, f"{value!r} is not one of the choices", ", ".join(map(str, option["choices"])))
    if kind == "list" and option.get("elements"):
        for i, item in enumerate(value):
            check_value(item, {"type": option["elements"], "choices": option.get("choices")}, f"{path}[{i}]")


def _role_name(value: object, path: str, roles: list[str]) -> str:
    allowed = ", ".join(f"{content.COLLECTION}.{r}" for r in roles)
    if not isinstance(value, str):
        raise _fail(path, "missing or not a string", allowed)
    short = value.removeprefix(f"{content.COLLECTION}.")
    if short not in roles:
        raise _fail(path, f"unknown role {value!r}", allowed)
    return short


def serve_wiring() -> dict[str, dict]:
    """What the shipped serve playbook passes each role from the role before it (vllm gets the model the model
    role placed): a generated play that names those roles gets the same, unless the spec sets it."""
    import yaml

    plays = yaml.safe_load(content.playbook("serve").read_text())
    wiring = {}
    for play in plays:
        for entry in play.get("roles") or []:
            if isinstance(entry, dict) and entry.get("vars"):
                wiring[entry["role"].removeprefix(f"{content.COLLECTION}.")] = dict(entry["vars"])
    return wiring


def _check_role(entry: object, path: str, roles: list[str], wiring: dict) -> dict:
    from sparkfleet.core import role_specs

    if isinstance(entry, str):
        entry = {"role": entry}
    if not isinstance(entry, dict):
        raise _fail(path, "a role entry must be a mapping or a role name", "{role, vars, tags}")
    _unknown_keys(entry, ROLE_KEYS, path)
    role = _role_name(entry.get("role"), f"{path}.role", roles)
    options = role_specs.load(role)["main"].get("options") or {}
    given = entry.get("vars") or {}
    if not isinstance(given, dict):
        raise _fail(f"{path}.vars", "not a mapping", f"variables of {role}: {', '.join(options)}")
    for name, value in given.items():
        if name not in options:
            raise _fail(f"{path}.vars.{name}", f"{role} has no variable {name!r}",
                        f"variables of {role}: {', '.join(options)} (see `sparkfleet describe`)")
        check_value(value, options[name], f"{path}.vars.{name}")
    variables = {**wiring.get(role, {}), **given}
    missing = [n for n, o in options.items() if o.get("required") and n not in variables]
    if missing:
        raise _fail(f"{path}.vars", f"{role} needs {', '.join(missing)}", "the role's required variables")
    tags = _tags(entry["tags"], f"{path}.tags") if "tags" in entry else []
    return {"role": f"{content.COLLECTION}.{role}", "vars": variables, "tags": tags}


def _module(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "missing or not a string", ", ".join(ALLOWED_MODULES))
    full = value if "." in value else f"ansible.builtin.{value}"
    if full not in ALLOWED_MODULES and not (full.startswith(f"{content.COLLECTION}.") and full.count(".") == 2):
        raise _fail(path, f"module {value!r} is not allowed in a generated playbook",
                    ", ".join(ALLOWED_MODULES) + f", or a module of {content.COLLECTION}")
    return full


def _check_task(entry: object, path: str) -> dict:
    if not isinstance(entry, dict):
        raise _fail(path, "a task must be a mapping", "; ".join(f"{k} ({v})" for k, v in TASK_KEYS.items()))
    _unknown_keys(entry, TASK_KEYS, path)
    if not isinstance(entry.get("name"), str) or not entry["name"].strip():
        raise _fail(f"{path}.name", "missing or empty", "a sentence saying what the task does")
    task = {"name": entry["name"].strip(), "module": _module(entry.get("module"), f"{path}.module")}
    args = entry.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(k, str) and _NAME.match(k) for k in args):
        raise _fail(f"{path}.args", "not a mapping of argument names", "the module's arguments as a mapping")
    task["args"] = args
    for key in ("become", "ignore_errors"):
        if key in entry:
            if not isinstance(entry[key], bool):
                raise _fail(f"{path}.{key}", f"{entry[key]!r} is not a bool", "true or false")
            task[key] = entry[key]
    for key in ("when", "changed_when", "failed_when"):
        if key in entry:
            if not isinstance(entry[key], str | bool):
                raise _fail(f"{path}.{key}", "not a condition", "a string (a Jinja condition) or a bool")
            task[key] = entry[key]
    if "register" in entry:
        if not (isinstance(entry["register"], str) and _NAME.match(entry["register"])):
            raise _fail(f"{path}.register", "not a variable name", "letters, digits and _")
        task["register"] = entry["register"]
    if "tags" in entry:
        task["tags"] = _tags(entry["tags"], f"{path}.tags")
    return task


def validate(spec: dict) -> dict:
    """The spec, checked and normalised (full names, wiring filled in); raises SpecError at the first problem."""
    from sparkfleet.core import role_specs

    _unknown_keys(spec, SPEC_KEYS, "")
    play: dict = {}
    if not isinstance(spec.get("name"), str) or not spec["name"].strip():
        raise _fail("name", "missing or empty", "a sentence saying what the play does")
    play["name"] = " ".join(spec["name"].split())
    hosts = spec.get("hosts")
    if isinstance(hosts, list) and hosts and all(isinstance(h, str) for h in hosts):
        hosts = ",".join(hosts)
    if not (isinstance(hosts, str) and _PATTERN.match(hosts)):
        raise _fail("hosts", f"not a host pattern: {hosts!r}", "host or group names, e.g. lab or spark1,spark2")
    play["hosts"] = hosts
    if "serial" in spec:
        serial = spec["serial"]
        if not ((isinstance(serial, int) and not isinstance(serial, bool) and serial > 0)
                or (isinstance(serial, str) and _SERIAL.match(serial))):
            raise _fail("serial", f"{serial!r} is not a batch size", "a positive int, or a percentage like '25%'")
        play["serial"] = serial
    for key in ("gather_facts", "become"):
        if key in spec and not isinstance(spec[key], bool):
            raise _fail(key, f"{spec[key]!r} is not a bool", "true or false")
    play["gather_facts"] = spec.get("gather_facts", False)
    if "become" in spec:
        play["become"] = spec["become"]
    play["tags"] = _tags(spec["tags"], "tags") if "tags" in spec else []
    names = role_specs.role_names()
    play_vars = spec.get("vars") or {}
    if not isinstance(play_vars, dict) or not all(isinstance(k, str) and _NAME.match(k) for k in play_vars):
        raise _fail("vars", "not a mapping of variable names", "a mapping of variables")
    known = {n: o for r in names for n, o in (role_specs.load(r)["main"].get("options") or {}).items()}
    for name, value in play_vars.items():
        if name in known:
            check_value(value, known[name], f"vars.{name}")
    play["vars"] = play_vars
    roles = spec.get("roles") or []
    tasks = spec.get("tasks") or []
    if not isinstance(roles, list):
        raise _fail("roles", "not a list", "a list of {role, vars, tags}")
    if not isinstance(tasks, list):
        raise _fail("tasks", "not a list", "a list of {name, module, args, ...}")
    if not roles and not tasks:
        raise _fail("roles", "the spec has neither roles nor tasks", "at least one role or task")
    wiring = serve_wiring()
    play["roles"] = [_check_role(r, f"roles[{i}]", names, wiring) for i, r in enumerate(roles)]
    play["tasks"] = [_check_task(t, f"tasks[{i}]") for i, t in enumerate(tasks)]
    return play


def _dumper():
    import yaml

    class IndentedDumper(yaml.SafeDumper):
        """Lists indented under their key, as yamllint's default wants."""

        def increase_indent(self, flow=False, indentless=False):
            return super().increase_indent(flow, False)

    def text(dumper, value: str):  # several lines as a literal block, not a quoted string with escapes
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    IndentedDumper.add_representer(str, text)
    return IndentedDumper


def _yaml_value(value: object, indent: int) -> str:
    """A value as YAML after `key:`: scalars inline, collections as an indented block (keys sorted)."""
    import yaml

    if isinstance(value, dict | list) and value:
        block = yaml.dump(value, Dumper=_dumper(), default_flow_style=False, sort_keys=True, width=1000,
                          allow_unicode=True, indent=2)
        pad = " " * indent
        return "\n" + "\n".join(f"{pad}{line}".rstrip() for line in block.splitlines())
    text = yaml.safe_dump(value, default_flow_style=True, width=1000, allow_unicode=True)
    return " " + text.removesuffix("\n...\n").rstrip("\n")


def render(play: dict, source: str) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("sparkfleet.agent", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["yaml_value"] = _yaml_value
    return env.get_template("playbook.yml.j2").render(play=play, source=source)


def generate(spec_path: Path) -> str:
    """The playbook text for a spec file (raises SpecError naming the first problem)."""
    return render(validate(load_spec(spec_path)), spec_path.name)
