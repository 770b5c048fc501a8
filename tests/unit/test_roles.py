"""Every role documents its variables: meta/argument_specs.yml lists exactly the keys of defaults/main.yml (plus the
required options, which have no default), with the same default values and real types. Defaults hold a Spark's
literal values; the lab's live in inventory/group_vars/lab.yml."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if p.is_dir())
# The Python types a literal default may have for each argument spec type.
LITERAL_TYPES = {"str": str, "path": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict}


def specs(role: Path) -> dict:
    return yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def options(role: Path) -> dict[str, dict]:
    return {name: option for entry in specs(role).values() for name, option in (entry.get("options") or {}).items()}


def defaults(role: Path) -> dict:
    path = role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def is_template(value) -> bool:
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_and_argument_specs_list_the_same_keys(role):
    assert "main" in specs(role)
    documented = options(role)
    required = {name for name, option in documented.items() if option.get("required")}
    assert set(documented) - required == set(defaults(role))
    assert not required & set(defaults(role)), "a required option has no default"
    for name, option in documented.items():
        assert option.get("description"), f"{role.name}: {name} has no description"
        assert name.startswith(role.name + "_"), f"{role.name}: {name} lacks the role prefix"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_argument_specs_give_the_defaults_values_and_real_types(role):
    values = defaults(role)
    for name, option in options(role).items():
        assert option.get("type") in LITERAL_TYPES, f"{role.name}: {name} has type {option.get('type')}, not a real one"
        if option.get("type") == "list":
            assert option.get("elements"), f"{role.name}: list {name} does not say its elements"
        if name not in values:
            continue
        assert option.get("default") == values[name], f"{role.name}: {name}'s documented default differs"
        value = values[name]
        if not is_template(value):  # a literal: its type is the documented one
            assert isinstance(value, LITERAL_TYPES[option["type"]]), f"{role.name}: {name} = {value!r}"
            assert not (option["type"] in ("int", "float") and isinstance(value, bool)), f"{role.name}: {name}"
            if option["type"] == "list" and option["elements"] in LITERAL_TYPES:
                assert all(isinstance(item, LITERAL_TYPES[option["elements"]]) or is_template(item) for item in value)


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_do_not_branch_on_the_profile(role):
    """A role's defaults are a Spark's values; profile differences live in the inventory's group_vars."""
    for path in (role / "defaults/main.yml", role / "meta/argument_specs.yml", role / "vars/main.yml"):
        if path.exists():
            assert "sparkfleet_profile" not in path.read_text(), path


def test_the_lab_group_sets_documented_variables_of_the_right_type():
    lab = yaml.safe_load((REPO / "inventory/group_vars/lab.yml").read_text())
    assert lab["sparkfleet_profile"] == "lab"
    documented = {name: option for role in ROLES for name, option in options(role).items()}
    for name, value in lab.items():
        if name == "sparkfleet_profile":
            continue
        assert name in documented, f"lab.yml sets {name}, which no role documents"
        if not is_template(value):
            assert isinstance(value, LITERAL_TYPES[documented[name]["type"]]), f"lab.yml: {name} = {value!r}"
        choices = documented[name].get("choices")
        assert not choices or is_template(value) or value in choices, name


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_internal_names_live_in_vars_with_the_role_prefix(role):
    path = role / "vars" / "main.yml"
    if path.exists():
        for name in yaml.safe_load(path.read_text()) or {}:
            assert name.startswith(f"_{role.name}_") or name == f"{role.name}_catalog", f"{role.name}: {name}"


SHARED = {"venv": "venv_notify", "transfer": "transfer_notify"}


class TasksLoader(yaml.SafeLoader):
    """Reads task files, whose Ansible tags (!unsafe) plain YAML does not know."""


TasksLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def includes_of_shared_roles(role: Path) -> list[dict]:
    tasks = []
    for path in (role / "tasks").glob("*.yml"):
        stack = list(yaml.load(path.read_text(), Loader=TasksLoader) or [])
        while stack:
            task = stack.pop()
            stack += task.get("block", []) + task.get("rescue", []) + task.get("always", [])
            include = task.get("ansible.builtin.include_role") or task.get("ansible.builtin.import_role") or {}
            if include.get("name") in SHARED:
                tasks.append(task | {"_shared": include["name"]})
    return tasks


@pytest.mark.parametrize("role", [r for r in ROLES if r.name not in SHARED], ids=lambda r: r.name)
def test_a_role_that_uses_a_shared_role_listens_to_its_notification_or_turns_it_off(role):
    """venv and transfer notify `<calling role> restart`: the caller needs a handler listening to it."""
    handlers_file = role / "handlers" / "main.yml"
    handlers = yaml.safe_load(handlers_file.read_text()) if handlers_file.exists() else []
    topics = {topic for h in handlers for topic in ([h["listen"]] if isinstance(h.get("listen"), str)
                                                    else h.get("listen") or [])}
    for task in includes_of_shared_roles(role):
        if (task.get("vars") or {}).get(SHARED[task["_shared"]]) == []:
            continue
        assert f"{role.name} restart" in topics, f"{role.name} uses {task['_shared']} without a handler for it"


def test_the_shared_roles_notify_the_caller_by_convention():
    for role, option in SHARED.items():
        topic = defaults(REPO / "roles" / role)[option]
        assert topic == ["{{ ansible_parent_role_names | first | regex_replace('^.*\\.', '') }} restart"]


def restart_handlers(role: Path) -> list[dict]:
    handlers_file = role / "handlers" / "main.yml"
    handlers = yaml.safe_load(handlers_file.read_text()) if handlers_file.exists() else []
    return [h for h in handlers if (h.get("ansible.builtin.systemd_service") or {}).get("state") == "restarted"]


@pytest.mark.parametrize("role", [r for r in ROLES if restart_handlers(r)], ids=lambda r: r.name)
def test_a_restart_handler_restarts_only_a_service_that_ran_before_the_run(role):
    """A first install starts each service once ("Enable and start"), never a start then a restart at once: the
    role reads its unit's status before it changes anything, and its handler needs that answer."""
    tasks = yaml.load((role / "tasks" / "main.yml").read_text(), Loader=TasksLoader)
    probes = [i for i, t in enumerate(tasks) if t.get("register") == f"_{role.name}_active_before"]
    assert len(probes) == 1, f"{role.name}: no probe of the unit before the run"
    probe = tasks[probes[0]]
    # before every task file that can change the host (describe.yml only sets facts, exposure.yml only asserts)
    read_only = {"describe.yml", "exposure.yml"}
    first_change = next(i for i, t in enumerate(tasks) if t.get("ansible.builtin.import_tasks", "describe.yml")
                        not in read_only)
    assert probes[0] < first_change, role.name
    assert probe["ansible.builtin.command"].startswith("systemctl is-active ")  # prints the state, changes nothing
    assert probe["check_mode"] is False and probe["changed_when"] is False and "always" in probe["tags"]
    for handler in restart_handlers(role):
        assert f"_{role.name}_was_running" in str(handler.get("when")), f"{role.name}: {handler['name']}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_role_has_meta(role):
    meta = yaml.safe_load((role / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["role_name"] == role.name
