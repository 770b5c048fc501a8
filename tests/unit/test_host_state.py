"""host_state module: how the state file carries notes over and tracks problems until a later run fixes them."""

from __future__ import annotations

from ansible_collections.sparkfleet.spark.plugins.modules.host_state import merge_state

OBSERVED = {"profile": "lab", "model": {"name": "qwen3-vl-tiny"}, "urls": {"api": "http://127.0.0.1:1/v1"}}


def record(run_id: str, serve_ok: bool, changes=(), host="lab1") -> dict:
    failures = [] if serve_ok else [{"host": host, "task": "vllm : Wait until /health answers", "message": "crash loop",
                                     "hint": "see the journal"}]
    return {"id": run_id, "command": "up", "started_at": "t0", "phases": [
        {"phase": "doctor", "ok": True, "skipped": False, "duration_s": 2.0, "changes": [], "failures": []},
        {"phase": "serve", "ok": serve_ok, "skipped": False, "duration_s": 9.0,
         "changes": [{"host": host, "task": t} for t in changes], "failures": failures},
        {"phase": "verify", "ok": True, "skipped": False, "duration_s": 3.0, "changes": [], "failures": [],
         "data": {host: {"ok": True, "checks": [{"id": "vllm_health", "ok": True}]}}},
    ]}


def test_a_failure_is_recorded_then_marked_fixed_by_the_run_that_passes():
    first = merge_state({}, OBSERVED, record("r1", serve_ok=False), "lab1", at="T1")
    assert first["last_run"]["ok"] is False
    [problem] = first["problems"]
    assert problem["phase"] == "serve" and "crash loop" in problem["message"] and problem["resolved_at"] is None
    second = merge_state(first, OBSERVED, record("r2", serve_ok=True, changes=["vllm : Write the systemd unit"]),
                         "lab1", at="T2")
    [fixed] = second["problems"]
    assert fixed["resolved_by"] == "r2" and fixed["resolved_at"] == "T2"
    assert "vllm : Write the systemd unit" in fixed["fix"]
    assert second["last_run"] == {"id": "r2", "command": "up", "started_at": "t0", "at": "T2", "ok": True,
                                  "phases": [{"phase": "doctor", "ok": True, "skipped": False, "duration_s": 2.0,
                                              "changes": 0},
                                             {"phase": "serve", "ok": True, "skipped": False, "duration_s": 9.0,
                                              "changes": 1},
                                             {"phase": "verify", "ok": True, "skipped": False, "duration_s": 3.0,
                                              "changes": 0}]}
    assert second["last_verify"]["ok"] is True


def test_another_hosts_failure_is_not_this_hosts_problem():
    state = merge_state({}, OBSERVED, record("r1", serve_ok=False, host="lab2"), "lab1", at="T1")
    assert state["problems"] == [] and state["last_run"]["ok"] is True


def test_notes_are_kept_and_added_and_observations_replaced():
    before = {"notes": [{"at": "T0", "text": "PSU swapped"}], "model": {"name": "old"}, "created_at": "T0"}
    state = merge_state(before, OBSERVED, {}, "lab1", add_note="  fan noisy  ", at="T1")
    assert [n["text"] for n in state["notes"]] == ["PSU swapped", "fan noisy"]
    assert state["model"] == {"name": "qwen3-vl-tiny"} and state["created_at"] == "T0"
    assert "last_run" not in state  # `notes add` records no run


def test_digests_and_inputs_are_taken_only_when_serve_ran_so_a_hand_edit_stays_drift():
    served = merge_state({}, {**OBSERVED, "digests": {"units": {"/u": "aaa"}}, "inputs": "i1"},
                         record("r1", serve_ok=True), "lab1", at="T1")
    assert served["digests"] == {"units": {"/u": "aaa"}} and served["inputs"] == "i1"
    # a verify after a hand edit observes the edited unit, but must not make it the new baseline
    verify_only = {"id": "r2", "command": "verify", "phases": [
        {"phase": "verify", "ok": True, "skipped": False, "duration_s": 1.0, "changes": [], "failures": []}]}
    later = merge_state(served, {**OBSERVED, "digests": {"units": {"/u": "bbb"}}, "inputs": None}, verify_only,
                        "lab1", at="T2")
    assert later["digests"] == {"units": {"/u": "aaa"}} and later["inputs"] == "i1"
    # a serve that fails does not either; the next one that passes does
    failed = merge_state(later, {**OBSERVED, "digests": {"units": {"/u": "ccc"}}}, record("r3", serve_ok=False),
                         "lab1", at="T3")
    assert failed["digests"] == {"units": {"/u": "aaa"}}
    fixed = merge_state(failed, {**OBSERVED, "digests": {"units": {"/u": "ddd"}}, "inputs": "i2"},
                        record("r4", serve_ok=True), "lab1", at="T4")
    assert fixed["digests"] == {"units": {"/u": "ddd"}} and fixed["inputs"] == "i2"
