"""Run records: one JSON file per `up`, `verify` or `bench` under .sparkfleet/history/ (docs/run-data.md).

A record is derived from the runs' results (phases, timings, changes, failures, what the playbooks published);
the report and the hosts' notes are built from it.
"""

from __future__ import annotations

import datetime
import json
import secrets
import time
from pathlib import Path

from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.project import Project

SCHEMA = 1
KEEP_RECORDS = 200


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_record(command: str, hosts: list[str], model: str | None) -> dict:
    return {"schema": SCHEMA, "id": f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{command}-{secrets.token_hex(2)}",
            "command": command, "started_at": utc_now(), "finished_at": None, "duration_s": None, "ok": None,
            "exit_code": None, "hosts": hosts, "model": model, "warnings": [], "error": None, "report": None,
            "phases": [], "_started": time.monotonic()}


def finish(record: dict, exit_code: int) -> dict:
    record["finished_at"] = utc_now()
    record["duration_s"] = round(time.monotonic() - record["_started"], 1)
    record["exit_code"] = int(exit_code)
    record["ok"] = exit_code == 0
    return record


def save(project: Project, record: dict) -> Path:
    folder = project.history_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['id']}.json"
    public = {key: value for key, value in record.items() if not key.startswith("_")}
    # each phase's whole playbook result ("run", for the command's JSON summary) repeats what the phase entry
    # already holds; its artifacts stay under .sparkfleet/runs/<run_id>/
    public["phases"] = [{k: v for k, v in phase.items() if k != "run"} for phase in record["phases"]]
    write_atomically(path, json.dumps(public, indent=2, sort_keys=True) + "\n")
    for old in sorted(folder.glob("*.json"))[:-KEEP_RECORDS]:
        old.unlink(missing_ok=True)
    return path


def slim(record: dict) -> dict:
    """The record as the notes role needs it: no per-phase data except each host's verify verdict.

    It travels on ansible-playbook's command line, so it must stay small.
    """
    phases = []
    for phase in record["phases"]:
        entry = {key: phase.get(key) for key in ("phase", "ok", "skipped", "duration_s", "error")}
        entry["changes"] = phase.get("changes", [])[:200]
        entry["failures"] = [{k: f.get(k) for k in ("host", "task", "message", "hint")}
                             for f in phase.get("failures", [])]
        if phase["phase"] == "verify":
            entry["data"] = {host: {"ok": result.get("ok"),
                                    "checks": [{"id": c["id"], "ok": c["ok"]} for c in result.get("checks", [])]}
                             for host, result in (phase.get("data") or {}).items()}
        phases.append(entry)
    return {"id": record["id"], "command": record["command"], "started_at": record["started_at"], "phases": phases}
