"""Every role's README is generated from its argument specs and in step with them (scripts/role-docs)."""

from __future__ import annotations

from sparkfleet.core import role_specs


def test_every_role_has_a_readme_in_step_with_its_argument_specs():
    roles = role_specs.role_names()
    assert {"vllm", "video_endpoint", "model", "preflight", "ssh_access", "notes", "bench", "verify"} <= set(roles)
    stale = [role for role in roles if not role_specs.readme_path(role).exists()
             or role_specs.readme_path(role).read_text() != role_specs.readme(role)]
    assert stale == [], f"run scripts/role-docs to regenerate: {stale}"


def test_a_readme_lists_each_variable_with_its_type_and_default():
    text = role_specs.readme("transfer")
    assert "| `transfer_src` | path | required |" in text
    assert "| `transfer_exclude` | list of str | `[]` |" in text
    assert "## Entry point `push` (tasks_from: push)" in text
