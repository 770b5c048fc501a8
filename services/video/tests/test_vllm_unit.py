"""Why vLLM is down, from its unit's `systemctl show` properties (the values systemd prints; the lab drill
tests/integration/test_drills_services.py reads them from a real crash loop)."""

from __future__ import annotations

import asyncio

from sparkfleet_video.vllm_unit import reason_from, unit_reason

UNIT = "sparkfleet-vllm-qwen3-vl-tiny"


def test_a_crash_loop_systemd_gave_up_on_is_named_with_what_to_do():
    reason = reason_from(UNIT, {"ActiveState": "failed", "SubState": "failed", "Result": "start-limit-hit",
                                "NRestarts": "5"})
    assert "systemd gave up restarting" in reason and "after 5 restarts" in reason
    assert f"journalctl -u {UNIT}" in reason and "sparkfleet up" in reason
    # systemd 252 (Debian 12, seen on a lab host) keeps Result=exit-code after "Start request repeated too quickly"
    same = reason_from(UNIT, {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "NRestarts": "6"})
    assert "systemd gave up restarting" in same and "after 6 restarts" in same


def test_a_crash_being_restarted_a_start_and_a_stop_are_told_apart():
    assert "systemd restarts it" in reason_from(UNIT, {"ActiveState": "activating", "SubState": "auto-restart",
                                                       "Result": "signal", "NRestarts": "1"})
    assert reason_from(UNIT, {"ActiveState": "activating", "SubState": "start", "Result": "success"}) == \
        f"{UNIT} is starting"
    assert reason_from(UNIT, {"ActiveState": "inactive", "SubState": "dead", "Result": "success"}).startswith(
        f"{UNIT} is inactive;")
    assert reason_from(UNIT, {"ActiveState": "active", "SubState": "running", "Result": "success"}) is None


def test_no_unit_or_no_systemd_gives_no_reason():
    assert asyncio.run(unit_reason("")) is None
    assert asyncio.run(unit_reason("no-such-unit-anywhere")) in (None, "no-such-unit-anywhere is inactive; "
                                                                 "see journalctl -u no-such-unit-anywhere")
