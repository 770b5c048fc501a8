"""`sparkfleet status`: per host, what one read-only probe (playbooks/status.yml, module host_probe) found, shaped
for a table and for agents: reachable, services, versions, model and revision, last run, last bench, open
problems, and the drift (what differs from the last run's record or from the declared pins)."""

from __future__ import annotations

from collections.abc import Callable

from sparkfleet.core.project import Project


def host_summary(probe: dict) -> dict:
    """One host's row from its probe (recorded state, live look, drift)."""
    recorded, live = probe.get("recorded") or {}, probe.get("live") or {}
    model = recorded.get("model") or {}
    last_run = recorded.get("last_run") or {}
    bench = recorded.get("last_bench") or {}
    throughputs = [s.get("output_throughput") for s in (bench.get("scenarios") or {}).values()
                   if isinstance(s.get("output_throughput"), int | float)]
    return {
        "reachable": True,
        "set_up": bool(recorded),
        "services": {unit: s.get("active") for unit, s in (live.get("services") or {}).items()},
        "versions": {"vllm": live.get("vllm_version") or (recorded.get("vllm") or {}).get("version"),
                     "video_endpoint": live.get("endpoint_version")
                     or (recorded.get("video_endpoint") or {}).get("version")},
        "model": model.get("name"),
        "revision": model.get("revision"),
        "last_run": {k: last_run.get(k) for k in ("id", "command", "at", "ok")} if last_run else None,
        "last_bench": {"id": bench.get("id"), "at": bench.get("at"),
                       "best_output_tokens_per_s": max(throughputs) if throughputs else None} if bench else None,
        "problems": [p.get("message") or p.get("phase") for p in recorded.get("problems") or []
                     if not p.get("resolved_at")],
        "drift": probe.get("drift") or [],
        "inputs": recorded.get("inputs"),  # what the last serve was made from (runs.noop compares it)
    }


def fleet_status(project: Project, emit: Callable, limit: str | None) -> tuple[dict, int]:
    """Probe every host once; (the status by host, the run's exit code)."""
    from sparkfleet.core.runner import run_playbook

    result = run_playbook(project, "status", emit=emit, limit=limit)
    probes = result.data.get("sparkfleet_status") or {}
    hosts = {}
    for name, stats in sorted(result.hosts.items()):
        if name in probes:
            hosts[name] = host_summary(probes[name])
        else:
            failure = next((f for f in result.failures if f.get("host") == name), {})
            hosts[name] = {"reachable": not stats.unreachable, "set_up": None, "drift": [],
                           "error": failure.get("message") or ("unreachable" if stats.unreachable else "failed")}
    status = {"hosts": hosts, "drift": any(h["drift"] for h in hosts.values()), "duration_s": result.duration_s,
              "run_id": result.run_id}
    return status, int(result.exit_code)
