"""Plans: commands made of phases (playbooks run one after another), each recorded in the run history.

`up` is doctor, serve, verify, bench; whatever happened, the notes phase then records the run on the hosts
and the report is built from the record. The first phase that fails stops the ones after it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from sparkfleet.core.errors import ExitCode
from sparkfleet.core.project import Project
from sparkfleet.core.records import BOOKKEEPING
from sparkfleet.runs import history

_RUN_OPTIONS = {"doctor": {"check": True}}
# What each phase publishes in its stats, kept as the phase's data in the record.
_DATA_KEYS = {"doctor": "sparkfleet_preflight", "verify": "sparkfleet_verify", "bench": "sparkfleet_bench"}
_NEXT_STEP = {
    "doctor": "fix what the doctor lists (`sparkfleet doctor` shows it again), then run the command again",
    "serve": "read the failure above; running the command again resumes where it stopped",
    "verify": "each failed check says what is wrong and how to look further (the report has the journal lines)",
    "bench": "see the failure above; `sparkfleet bench` runs the benchmark alone",
    "notes": "see the failure above; `sparkfleet notes add HOST TEXT` or the next run records the notes",
}


def run_phase(project: Project, emit: Callable, name: str, limit: str | None, extravars: dict,
              playbook: Path | None = None) -> tuple[dict, int]:
    """Run one phase's playbook (sparkfleet's playbook of that name, or the file given); return its record entry
    and exit code."""
    from sparkfleet.core.failure_hints import annotate
    from sparkfleet.core.runner import run_playbook

    started_at = history.utc_now()
    result = run_playbook(project, playbook or name, emit=emit, limit=limit, extravars=extravars,
                          **_RUN_OPTIONS.get(name, {}))
    annotate(result.failures)
    code = result.exit_code
    failures = list(result.failures)
    data = result.data.get(_DATA_KEYS.get(name, ""), {}) or {}
    if name == "doctor" and code == ExitCode.OK:
        for host, report in data.items():
            errors = [c for c in report.get("checks", []) if c["severity"] == "error"]
            if errors:
                failures.append({"host": host, "task": "doctor", "status": "failed",
                                 "message": "; ".join(f"{c['id']}: {c['message']}" for c in errors),
                                 "hint": "; ".join(c["hint"] for c in errors if c.get("hint")) or None})
        if failures:
            code = ExitCode.HOST_FAILED
    if name == "bench":  # fetched files are named relative to the project, like every path in a record
        for published in data.values():
            if published.get("file"):
                published["file"] = os.path.relpath(published["file"], project.root)
    run = result.to_dict()
    entry = {"phase": name, "ok": code == ExitCode.OK, "skipped": False, "started_at": started_at,
             "duration_s": result.duration_s, "changed": result.changed, "changes": result.changes,
             "failures": failures, "error": result.error, "run_id": result.run_id,
             "artifacts_dir": result.artifacts_dir, "exit_code": int(code), "data": data,
             "warnings": [f"{host}: {message}" for host, messages in
                          (result.data.get("sparkfleet_warnings") or {}).items() for message in messages],
             "run": run}
    return entry, int(code)


def skipped_phase(name: str, why: str) -> dict:
    """The record entry of a phase not run."""
    return {"phase": name, "ok": True, "skipped": True, "skip_reason": why, "started_at": history.utc_now(),
            "duration_s": 0.0, "changed": False, "changes": [], "failures": [], "error": None, "run_id": None,
            "artifacts_dir": None, "exit_code": 0, "data": {}, "warnings": [],
            "run": {"hosts": {}, "changed": False}}


def phase_error(entry: dict) -> str:
    first = entry["failures"][0] if entry["failures"] else None
    if first:
        where = f"{first['host']}: " + (f"'{first['task']}': " if first.get("task") else "")
        reason = where + (first.get("message") or first.get("status", "failed"))
    else:
        reason = entry.get("error") or "failed"
    return f"The {entry['phase']} phase failed ({reason}). Next: {_NEXT_STEP.get(entry['phase'], 'see above')}."


def execute(project: Project, emit: Callable, command: str, phases: list[str], limit: str | None,
            extravars: dict, hosts: list[str], model: str | None,
            build_report: Callable[[Path, str], Path] | None = None, skip: dict[str, str] | None = None,
            playbooks: dict[str, Path] | None = None, details: dict | None = None) -> dict:
    """Run the phases in order (stopping at the first failure), then the notes phase, then build_report (given by
    the caller, so that runs need not know the report) with the project folder and the record's id.

    skip names phases not to run, with why (runs.noop: a no-op `up`); each is recorded as skipped. playbooks names a
    file for a phase that is not one of sparkfleet's playbooks (`sparkfleet run`); details are kept in the record as
    they are. Returns the record (docs/run-data.md), saved under .sparkfleet/history/.
    """
    record = {**history.new_record(command, hosts, model), **(details or {})}
    code = ExitCode.OK
    for name in phases:
        if name in (skip or {}):
            record["phases"].append(skipped_phase(name, skip[name]))
            continue
        entry, code = run_phase(project, emit, name, limit, {**extravars, "sparkfleet_record_id": record["id"]},
                                (playbooks or {}).get(name))
        record["phases"].append(entry)
        record["warnings"] += entry["warnings"]
        history.save(project, record)
        if code != ExitCode.OK:
            record["error"] = phase_error(entry)
            break
    return conclude(project, emit, record, code, limit, extravars, build_report)


def conclude(project: Project, emit: Callable, record: dict, code: int, limit: str | None, extravars: dict,
             build_report: Callable[[Path, str], Path] | None, notes: bool = True) -> dict:
    """After the phases: the notes phase (on the hosts in limit; not after `down`, which removed them), the
    record finished and saved, the report."""
    # The notes phase runs even after a failure: the host then remembers what went wrong, and the next run
    # records how it was fixed.
    if notes:
        notes_vars = {**extravars, "notes_record": history.slim(record)}
        if not served(record):  # a model asked for but not served: the notes describe what the hosts still serve
            notes_vars.pop("sparkfleet_model", None)
        entry, notes_code = run_phase(project, emit, "notes", limit, notes_vars)
        record["phases"].append(entry)
        if code == ExitCode.OK and notes_code != ExitCode.OK:
            code = notes_code
            record["error"] = phase_error(entry)
    record["hosts"] = sorted({host for p in record["phases"] for host in p["run"]["hosts"]}) or record["hosts"]
    if record["model"] is None:  # the profile's default: what the hosts' notes say they serve
        from sparkfleet.runs.host_notes import served_models
        record["model"] = ", ".join(served_models(project, record["hosts"])) or None
    history.finish(record, code)
    history.save(project, record)
    if build_report is not None:
        started = time.monotonic()
        path = build_report(project.root, record["id"])
        record["report"] = str(path.relative_to(project.root))
        record["report_s"] = round(time.monotonic() - started, 2)
        history.save(project, record)
    return record


def served(record: dict) -> bool:
    """Whether the record's serve phase ran and passed."""
    return any(p["phase"] == "serve" and p["ok"] for p in record["phases"])


def changed(record: dict) -> bool:
    """Whether the run changed how a host is set up (recording notes or a bench result does not count)."""
    return any(p["changed"] for p in record["phases"] if p["phase"] not in BOOKKEEPING)
