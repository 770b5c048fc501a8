"""The hints attached to failed hosts: each common ssh failure gets its own, actionable one."""

import pytest
from sparkfleet.core.failure_hints import annotate, hint_for


@pytest.mark.parametrize(
    ("message", "password_given", "expected"),
    [
        ("Failed to connect to the host via ssh: spark@10.0.0.5: Permission denied (publickey,password).", False,
         "run `sparkfleet bootstrap`"),
        ("Failed to connect to the host via ssh: spark@10.0.0.5: Permission denied (publickey,password).", True,
         "password was refused"),
        ("Host key verification failed.", True, "sparkfleet host trust spark1"),
        ("ssh: connect to host 10.0.0.5 port 22: Connection refused", False, "Nothing answers on the ssh port"),
        ("ssh: connect to host 10.0.0.5 port 22: Connection timed out", False, "cannot be reached"),
        ("ssh: Could not resolve hostname spark9.lan: Name or service not known", False, "does not resolve"),
    ],
)
def test_each_ssh_failure_gets_its_own_hint(message, password_given, expected):
    assert expected in hint_for(message, "spark1", password_given)


def test_a_failed_task_gets_no_ssh_hint():
    assert hint_for("Request failed: <urlopen error [Errno 111] Connection refused>", "h", status="failed") is None
    assert "passwordless-sudo" in hint_for("Missing sudo password", "h", status="failed")


def test_unknown_messages_get_no_made_up_hint():
    assert hint_for("The task includes an option with an undefined variable.", "spark1") is None
    assert hint_for(None, "spark1") is None


def test_annotate_adds_a_hint_to_every_failure():
    failures = [{"host": "a", "message": "Connection refused"}, {"host": "b", "message": "something else"}]
    annotate(failures)
    assert failures[0]["hint"].startswith("Nothing answers") and failures[1]["hint"] is None
