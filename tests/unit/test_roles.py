"""Every role documents its variables: meta/argument_specs.yml lists exactly the keys of defaults/main.yml."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_and_argument_specs_list_the_same_keys(role):
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert "main" in specs
    documented = {key for entry in specs.values() for key in (entry.get("options") or {})}
    defaults_file = role / "defaults" / "main.yml"
    defaults = set(yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else set()
    assert documented == defaults
    for entry in specs.values():
        for name, option in (entry.get("options") or {}).items():
            assert option.get("description"), f"{role.name}: {name} has no description"
            assert name.startswith(role.name + "_"), f"{role.name}: {name} lacks the role prefix"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_role_has_meta(role):
    meta = yaml.safe_load((role / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["role_name"] == role.name
