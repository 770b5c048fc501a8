"""How ansible-runner's event stream becomes events, host stats and an exit code.

The event dicts below have the shape ansible-runner emits (checked against real runs in the
integration tests); here they let every outcome be covered without a failing host.
"""

from sparkfleet.core.errors import ExitCode
from sparkfleet.core.events import HostResult, PlayStarted, TaskStarted
from sparkfleet.core.runner import HostStats, RunResult, _Translator


def feed(*raw_events):
    seen = []
    translator = _Translator(seen.append)
    for raw in raw_events:
        assert translator(raw) is True  # every event is kept in the artifacts
    return translator, seen


def test_events_are_translated_and_stats_collected():
    translator, seen = feed(
        {"event": "playbook_on_play_start", "event_data": {"play": "Check"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Ping", "role": "connectivity"}},
        {"event": "runner_on_ok", "event_data": {"host": "a", "task": "Ping", "res": {"changed": True}}},
        {"event": "runner_on_failed", "event_data": {"host": "b", "task": "Ping", "res": {"msg": "boom"}}},
        {"event": "runner_on_failed", "event_data": {"host": "c", "task": "Ping", "ignore_errors": True,
                                                     "res": {"msg": "meh"}}},
        {"event": "runner_on_unreachable", "event_data": {"host": "d", "task": "Ping", "res": {"msg": "no route"}}},
        {"event": "playbook_on_stats", "event_data": {"ok": {"a": 1, "c": 1}, "changed": {"a": 1},
                                                      "failures": {"b": 1}, "dark": {"d": 1}, "ignored": {"c": 1}}},
    )
    assert isinstance(seen[0], PlayStarted) and isinstance(seen[1], TaskStarted)
    results = [e for e in seen if isinstance(e, HostResult)]
    assert [(e.host, e.status, e.message) for e in results] == [
        ("a", "changed", None), ("b", "failed", "boom"), ("c", "ignored", "meh"), ("d", "unreachable", "no route")]
    stats = translator.host_stats()
    assert stats["a"].status == "changed" and stats["b"].status == "failed"
    assert stats["c"].status == "ok" and stats["d"].status == "unreachable"
    assert [f["host"] for f in translator.failures] == ["b", "d"]


def result(status="successful", error=None, **hosts):
    return RunResult("id", "ping", status, 0, 1.0, "/tmp", hosts=hosts, error=error)


def test_exit_code_comes_from_the_stats_not_the_return_code():
    assert result(a=HostStats(ok=1)).exit_code == ExitCode.OK
    assert result("failed", a=HostStats(ok=1), b=HostStats(failed=1)).exit_code == ExitCode.HOST_FAILED
    assert result("failed", a=HostStats(unreachable=1)).exit_code == ExitCode.HOST_UNREACHABLE
    # a host failing wins over another host being unreachable: both are reported per host
    assert result("failed", a=HostStats(unreachable=1), b=HostStats(failed=1)).exit_code == ExitCode.HOST_FAILED
    assert result("canceled", a=HostStats(ok=1)).exit_code == ExitCode.CANCELLED
    assert result("failed", error="--limit matched no host").exit_code == ExitCode.USAGE


def test_result_dict_carries_per_host_status_and_changed():
    data = result(a=HostStats(ok=2, changed=1)).to_dict()
    assert data["changed"] is True and data["exit_code"] == 0
    assert data["hosts"]["a"]["status"] == "changed"
