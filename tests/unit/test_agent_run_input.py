"""`sparkfleet run` refuses what is not a runnable playbook before any host is contacted: a missing file, YAML
that does not parse, YAML that is not a list of plays, a playbook that fails ansible-playbook's syntax check.
(The host address is never reached: every refusal comes before the check-mode run.)"""

from __future__ import annotations

import pytest


@pytest.fixture
def with_host(project, cli):
    assert cli("host", "add", "h1", "--address", "192.0.2.10", "--user", "spark", "--project", str(project)).code == 0
    return project


@pytest.mark.parametrize(("text", "code", "words"), [
    (None, "usage", "No playbook file"),
    ("- hosts: [unclosed\n", "playbook.yaml", "not valid YAML"),
    ("hosts: all\n", "playbook.shape", "not a playbook"),
    ("- hosts: all\n  tasks:\n    - no_such_module_anywhere: {}\n", "playbook.syntax", "syntax check"),
])
def test_run_refuses_what_is_not_a_playbook_with_exit_2_and_a_hint(with_host, cli, text, code, words):
    book = with_host / "book.yml"
    if text is not None:
        book.write_text(text)
    result = cli("--json", "run", str(book), "--project", str(with_host))
    assert result.code == 2
    error = result.summary["error"]
    assert error["code"] == code and words in error["message"] and error["hint"], error
    assert not list((with_host / ".sparkfleet" / "runs").iterdir())  # no playbook run was started
