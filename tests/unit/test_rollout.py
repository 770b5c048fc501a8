"""Rollout batches (runs.rollout): how hosts are split, what a bad spec says, how batch entries merge, and the
rollout options on the command line. The rollouts themselves run on lab hosts (tests/integration/test_rollout.py)."""

import pytest
from sparkfleet.core.errors import UsageError
from sparkfleet.runs import rollout

HOSTS = [f"s{i}" for i in range(1, 11)]


@pytest.mark.parametrize(("spec", "sizes"), [
    ("1,50%,100%", [1, 5, 4]),
    ("1,100%", [1, 9]),
    ("100%", [10]),
    ("2", [2, 2, 2, 2, 2]),  # the last size repeats until every host has a batch
    ("1, 30%", [1, 3, 3, 3]),
    ("1%", [1] * 10),  # a percentage never rounds down to an empty batch
])
def test_batches_cover_every_host_once_in_inventory_order(spec, sizes):
    batches = rollout.split(HOSTS, spec)
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS


def test_default_is_a_canary_then_the_rest_beyond_two_hosts():
    assert rollout.split(HOSTS[:3], rollout.default_batches(3)) == [["s1"], ["s2", "s3"]]
    assert rollout.split(HOSTS[:2], rollout.default_batches(2)) == [["s1", "s2"]]


@pytest.mark.parametrize("spec", ["", "0", "1,,2", "150%", "0%", "-1", "1;2", "half", "1.5"])
def test_bad_batch_specs_are_refused_with_how_to_write_them(spec):
    with pytest.raises(UsageError) as error:
        rollout.split(HOSTS, spec)
    assert "Bad batch sizes" in error.value.message and "1,50%,100%" in error.value.hint


@pytest.mark.parametrize("value", [-1, 101, "10", True, 2.5])
def test_bad_max_fail_percent_is_refused(value):
    with pytest.raises(UsageError):
        rollout.check_max_fail(value)


def _entry(phase, batch_hosts, ok=True, failed=(), changes=0):
    hosts = {h: {"status": "failed" if h in failed else "ok"} for h in batch_hosts}
    return {"phase": phase, "ok": ok, "duration_s": 1.5, "changed": changes > 0,
            "changes": [{"host": batch_hosts[0], "task": "t"}] * changes,
            "failures": [{"host": h, "task": "t", "status": "failed", "message": "m"} for h in failed],
            "warnings": [], "data": {h: {"ok": h not in failed} for h in batch_hosts}, "error": None,
            "run_id": f"{phase}-{batch_hosts[0]}", "exit_code": 0 if ok else 3, "run": {"hosts": hosts}}


def test_batch_entries_merge_into_one_entry_per_phase():
    merged = rollout.merge_phases([_entry("serve", ["a"], changes=2), _entry("verify", ["a"]),
                                   _entry("serve", ["b", "c"]), _entry("verify", ["b", "c"], ok=False, failed=["c"])])
    assert [p["phase"] for p in merged] == ["serve", "verify"]
    serve, verify = merged
    assert serve["ok"] and serve["changed"] and len(serve["changes"]) == 2 and serve["duration_s"] == 3.0
    assert serve["run_ids"] == ["serve-a", "serve-b"] and set(serve["run"]["hosts"]) == {"a", "b", "c"}
    assert not verify["ok"] and verify["exit_code"] == 3 and [f["host"] for f in verify["failures"]] == ["c"]
    assert verify["data"] == {"a": {"ok": True}, "b": {"ok": True}, "c": {"ok": False}}


def test_a_failure_with_no_host_to_blame_fails_the_whole_batch():
    entry = {**_entry("serve", ["a", "b"], ok=False), "error": "playbook error"}
    assert rollout._failed_hosts(entry, ["a", "b"]) == {"a", "b"}
    assert rollout._failed_hosts(_entry("serve", ["a", "b"], ok=False, failed=["b"]), ["a", "b"]) == {"b"}


def test_the_project_sets_batches_in_its_inventory(project):
    (project / "inventory" / "group_vars" / "all" / "rollout.yml").write_text(
        "---\nsparkfleet_rollout_batches: 1,50%\nsparkfleet_rollout_max_fail_percent: 25\n")
    from sparkfleet.core.project import Project
    assert rollout.project_settings(Project(project)) == {"sparkfleet_rollout_batches": "1,50%",
                                                          "sparkfleet_rollout_max_fail_percent": 25}


def test_bad_batches_on_the_command_line_stop_before_anything_runs(project, cli):
    cli("host", "add", "spark1", "--address", "192.0.2.10", "--user", "me", "--project", str(project))
    for command in ("up", "upgrade"):
        result = cli("--json", command, "--batches", "1,0", "--project", str(project))
        assert result.code == 2 and "Bad batch sizes" in result.summary["error"]["message"], command
    result = cli("--json", "down", "--yes", "--max-fail-percent", "200", "--project", str(project))
    assert result.code == 2 and "maximum failure percentage" in result.summary["error"]["message"]


def test_down_without_yes_outside_a_terminal_asks_for_it(project, cli):
    result = cli("--json", "down", "--project", str(project))
    assert result.code == 2 and "--yes" in result.summary["error"]["hint"]


def test_a_limit_matching_no_host_is_refused(project, cli):
    cli("host", "add", "spark1", "--address", "192.0.2.10", "--user", "me", "--project", str(project))
    result = cli("--json", "up", "--limit", "nosuchhost", "--project", str(project))
    assert result.code == 2 and "matches no host" in result.summary["error"]["message"]
