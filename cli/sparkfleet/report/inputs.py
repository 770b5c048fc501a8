"""The inputs of a report: one history record (and the previous one of the same command), the hosts' state files
and their bench results, read tolerantly (docs/run-data.md). What cannot be read is left out and noted.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sparkfleet.core.errors import ProjectError, UsageError
from sparkfleet.core.project import STATE_DIRNAME, Project

NO_RUN_ID = "no-run"  # the report's folder when no run is recorded yet
LAB_MODEL = "qwen3-vl-tiny"  # the lab profile's random-weight stand-in (roles/model/vars/main.yml)
TRAFFIC_ORDER = {"text": 0, "image": 1, "video": 2}
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # ids and host names that may become a path


@dataclass
class Bench:
    path: Path
    data: dict

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.data.get("started_at") or ""), str(self.data.get("id") or self.path.stem))

    @property
    def id(self) -> str:
        return str(self.data.get("id") or self.path.stem)

    def scenarios(self) -> list[dict]:
        found = [s for s in as_list(self.data.get("scenarios")) if isinstance(s, dict)]
        return sorted(found, key=lambda s: (TRAFFIC_ORDER.get(str(s.get("traffic")), 9), str(s.get("traffic")),
                                            number(s.get("concurrency")) or 0, str(s.get("name"))))


@dataclass
class HostBench:
    current: Bench | None = None
    previous: Bench | None = None
    from_this_run: bool = False
    skipped: str | None = None  # why the record's bench phase skipped this host


@dataclass
class Inputs:
    root: Path
    record: dict | None
    record_path: Path | None
    previous: dict | None
    hosts: list[str]
    states: dict[str, dict]
    benches: dict[str, HostBench]
    verify: dict[str, dict]
    doctor: dict[str, dict]
    notices: list[str] = field(default_factory=list)  # inputs that could not be read

    @property
    def report_id(self) -> str:
        return record_id_of(self.record, self.record_path) if self.record else NO_RUN_ID

    @property
    def ended(self) -> datetime | None:
        """When the run ended: what the files say about later times is not this run's."""
        record = self.record or {}
        return parse_time(record.get("finished_at")) or parse_time(record.get("started_at"))

    def after_run(self, iso) -> bool:
        moment, ended = parse_time(iso), self.ended
        return bool(moment and ended and moment > ended)

    @property
    def command(self) -> str:
        return str((self.record or {}).get("command") or "run")

    def phases(self) -> list[dict]:
        return [p for p in as_list((self.record or {}).get("phases")) if isinstance(p, dict)]

    def phase(self, name: str) -> dict | None:
        return next((p for p in self.phases() if p.get("phase") == name), None)

    def model(self, host: str) -> str | None:
        state = self.states.get(host) or {}
        bench = self.benches[host].current
        return (dig(state, "model", "name") or (bench.data.get("model") if bench else None)
                or (self.record or {}).get("model"))

    def profile(self, host: str) -> str | None:
        bench = self.benches[host].current
        return ((self.states.get(host) or {}).get("profile") or (bench.data.get("profile") if bench else None)
                or dig(self.doctor.get(host) or {}, "facts", "profile"))

    def is_spark(self, host: str) -> bool:
        """A real Spark's numbers: the spark profile, or any model but the lab's tiny one."""
        profile = self.profile(host)
        model = self.model(host)
        if profile == "spark":
            return True
        return profile != "lab" and model is not None and model != LAB_MODEL


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def dig(data, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def record_id_of(record: dict | None, path: Path | None) -> str:
    rid = str((record or {}).get("id") or (path.stem if path else ""))
    return rid if SAFE_NAME.match(rid) else (path.stem if path else NO_RUN_ID)


def _record_key(record: dict, path: Path) -> tuple[str, str]:
    return (str(record.get("started_at") or ""), record_id_of(record, path))


def read_json(path: Path, root: Path, notices: list[str]) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        notices.append(f"`{relative(path, root)}` could not be read ({type(error).__name__}); it was left out.")
        return None
    if not isinstance(data, dict):
        notices.append(f"`{relative(path, root)}` does not hold a JSON object; it was left out.")
        return None
    return data


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _check_project(root: Path) -> None:
    state = root / STATE_DIRNAME
    if not state.is_dir():
        raise ProjectError(f"{root} is not a sparkfleet project (no {STATE_DIRNAME}/ folder in it).",
                           hint=f"Create it with: sparkfleet init {root}")
    try:
        os.listdir(state)
    except OSError as error:
        raise ProjectError(f"Cannot read {state}: {error.strerror or error}.",
                           hint="Check the folder's owner and permissions.") from error


def _unwrap(data, key: str) -> dict:
    """A phase's data, whether it holds the published dict itself or the stats key around it."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        data = data[key]
    return {h: v for h, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def load(root: Path, record_id: str | None = None) -> Inputs:
    """Everything the report shows, read tolerantly from the project folder."""
    root = Path(root).expanduser().resolve()
    _check_project(root)
    project = Project(root)
    notices: list[str] = []

    records: list[tuple[dict, Path]] = []
    history = project.history_dir
    for path in sorted(history.glob("*.json")) if history.is_dir() else []:
        data = read_json(path, root, notices)
        if data is not None:
            records.append((data, path))
    records.sort(key=lambda item: _record_key(*item))

    chosen: tuple[dict, Path] | None = None
    if record_id is not None:
        chosen = next((item for item in records if record_id_of(*item) == record_id or item[1].stem == record_id),
                      None)
        if chosen is None:
            known = ", ".join(record_id_of(*item) for item in records[-5:]) or "none yet"
            raise UsageError(f"No run {record_id!r} in {relative(history, root)}/.",
                             hint=f"The newest runs: {known}. Without an id the report is of the newest `up`.")
    elif records:
        ups = [item for item in records if item[0].get("command") == "up"]
        chosen = (ups or records)[-1]
    record, record_path = chosen if chosen else (None, None)
    previous = None
    if chosen:
        earlier = [item for item in records if item[0].get("command") == record.get("command")
                   and _record_key(*item) < _record_key(*chosen)]
        previous = earlier[-1][0] if earlier else None

    hosts: list[str] = []

    def add_host(name) -> None:
        if isinstance(name, str) and SAFE_NAME.match(name) and name not in hosts:
            hosts.append(name)

    if record:
        for name in as_list(record.get("hosts")):
            add_host(name)
        for phase in as_list(record.get("phases")):
            for failure in as_list(dig(phase, "failures")):
                add_host(dig(failure, "host"))
    if not hosts:
        for folder in (project.hosts_dir, project.bench_dir):
            for name in sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
                add_host(name)

    inputs = Inputs(root=root, record=record, record_path=record_path, previous=previous, hosts=hosts,
                    states={}, benches={}, verify={}, doctor={}, notices=notices)
    phase_data = {str(p.get("phase")): p.get("data") for p in inputs.phases()}
    inputs.verify = _unwrap(phase_data.get("verify"), "sparkfleet_verify")
    inputs.doctor = _unwrap(phase_data.get("doctor"), "sparkfleet_preflight")
    bench_data = _unwrap(phase_data.get("bench"), "sparkfleet_bench")
    for host in hosts:
        inputs.states[host] = read_json(project.hosts_dir / host / "state.json", root, notices) or {}
        inputs.benches[host] = _host_bench(root, host, bench_data.get(host), notices, inputs.ended)
    return inputs


def _host_bench(root: Path, host: str, published_entry: dict | None, notices: list[str],
                until: datetime | None = None) -> HostBench:
    """The bench to show for a host: the one the run's bench phase wrote, else the newest one that existed when
    the run ended (until), and the one before it for comparison."""
    folder = Project(root).bench_dir / host
    benches = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = read_json(path, root, notices)
        if data is not None:
            benches.append(Bench(path, data))
    benches.sort(key=lambda b: b.key)
    result = HostBench()
    named = dig(published_entry, "file")
    if isinstance(named, str) and named:
        target = (root / named).resolve()
        result.current = next((b for b in benches if b.path.resolve() == target), None)
        if result.current is None:
            data = read_json(target, root, notices) if target.is_relative_to(root) else None
            if data is None:
                notices.append(f"{host}: the bench file this run wrote, `{named}`, is missing.")
            else:
                result.current = Bench(target, data)
        result.from_this_run = result.current is not None
    skipped = dig(published_entry, "skipped")
    result.skipped = str(skipped) if skipped else None
    if result.current is None:
        known = [b for b in benches if until is None or (parse_time(b.data.get("started_at")) or until) <= until]
        result.current = known[-1] if known else None
    if result.current is not None:
        before = [b for b in benches if b.key < result.current.key]
        result.previous = before[-1] if before else None
    return result


def parse_time(iso) -> datetime | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
