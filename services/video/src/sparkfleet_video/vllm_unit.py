"""Why vLLM is down, as systemd tells it: read when /health does not answer, so that /health, the dashboard and
the 503 can say "crashed, restarting" or "systemd gave up (a crash loop)" instead of only "down"."""

from __future__ import annotations

import asyncio
import contextlib


def reason_from(unit: str, props: dict[str, str]) -> str | None:
    """A sentence from the unit's `systemctl show` properties; None when systemd has nothing to add."""
    active, sub, result = props.get("ActiveState"), props.get("SubState"), props.get("Result", "")
    restarts = props.get("NRestarts", "?")
    look = f"see journalctl -u {unit}"
    # systemd 252 (Debian 12) keeps the last exit's result after "Start request repeated too quickly"; a failed
    # unit that had been restarted has been given up on all the same
    if result == "start-limit-hit" or (active == "failed" and restarts not in ("0", "?")):
        return (f"systemd gave up restarting {unit} after {restarts} restarts (it failed at every start: a crash "
                f"loop); {look}, fix the cause, then run `sparkfleet up`")
    if sub == "auto-restart":
        return f"{unit} stopped ({result}) and systemd restarts it (restarts so far: {restarts}); {look}"
    if active == "activating":
        return f"{unit} is starting"
    if active in ("inactive", "failed"):
        return f"{unit} is {active}" + (f" ({result})" if result and result != "success" else "") + f"; {look}"
    return None


async def unit_reason(unit: str, timeout_s: float = 5.0) -> str | None:
    """reason_from() for the unit now; None without a unit name or without systemctl."""
    if not unit:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            "systemctl", "show", unit, "-p", "ActiveState,SubState,Result,NRestarts",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return None
    except OSError:
        return None
    props = dict(line.split("=", 1) for line in out.decode(errors="replace").splitlines() if "=" in line)
    return reason_from(unit, props)
