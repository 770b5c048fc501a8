"""The one place that calls ansible-runner.

A run gets a private data dir under .sparkfleet/runs/<run id>/, streams typed events to a callback,
can be cancelled with Ctrl-C / SIGTERM, and ends in a RunResult built from the play stats.
Secrets never reach the artifacts: no env/ files are written, and ansible-playbook gets only the
environment variables Ansible, ssh and the controller-side tasks need (an allowlist), because ansible-runner
records that environment in runs/<id>/.../command.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparkfleet.core import content
from sparkfleet.core.errors import ExitCode
from sparkfleet.core.events import Event, HostResult, PlayStarted, RunFinished, RunStarted, TaskStarted
from sparkfleet.core.project import Project

KEEP_RUNS = 50  # older run folders are pruned so .sparkfleet/runs does not grow without bound
# What ansible-playbook may inherit from the controller's environment. Everything else (DATABASE_URL, SSHPASS,
# GITHUB_PAT, ...) stays out, named or not. ANSIBLE_* covers ANSIBLE_VAULT_PASSWORD_FILE and Ansible's settings.
_ALLOWED_ENV = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
    "PYTHONPATH", "VIRTUAL_ENV", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR",
    "SSH_AUTH_SOCK",  # a key in the person's ssh agent, for hosts not yet given the project's key
    "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",  # the model download on the controller
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CERT", "PIP_FIND_LINKS",  # the wheelhouse
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
})
_ALLOWED_PREFIXES = ("LC_", "ANSIBLE_")
# Second line of defence: an allowed name that still looks like it holds a secret value is dropped.
_SECRET_ENV = re.compile(r"(PASSWORD|PASSWD|PASS$|TOKEN|SECRET|API_KEY|PRIVATE_KEY|_PAT$)", re.IGNORECASE)
# Allowed, needed, and possibly carrying credentials in a URL: passed, but recorded without their values.
_UNRECORDED_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "HF_ENDPOINT", "http_proxy", "https_proxy",
                   "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_MESSAGE_LIMIT = 600


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def status(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"


@dataclass
class RunResult:
    run_id: str
    playbook: str
    status: str  # ansible-runner's: successful, failed, canceled, timeout
    rc: int | None
    duration_s: float
    artifacts_dir: str
    hosts: dict[str, HostStats] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)  # {host, task, status, message}
    changes: list[dict] = field(default_factory=list)  # {host, task}: what changed, in order
    error: str | None = None  # a run-level error with no host to blame (bad playbook, no hosts matched)
    data: dict = field(default_factory=dict)  # what the playbook published with set_stats (per_host: false)

    @property
    def changed(self) -> bool:
        return any(stats.changed for stats in self.hosts.values())

    @property
    def exit_code(self) -> ExitCode:
        if self.status == "canceled":
            return ExitCode.CANCELLED
        if any(stats.failed for stats in self.hosts.values()):
            return ExitCode.HOST_FAILED
        if any(stats.unreachable for stats in self.hosts.values()):
            return ExitCode.HOST_UNREACHABLE
        if self.status != "successful":
            return ExitCode.USAGE if self.error else ExitCode.INTERNAL
        return ExitCode.OK

    def to_dict(self) -> dict:
        data = asdict(self)
        data["changed"] = self.changed
        data["exit_code"] = int(self.exit_code)
        for name, stats in self.hosts.items():
            data["hosts"][name]["status"] = stats.status
        return data


def new_run_id(playbook: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{playbook}-{secrets.token_hex(2)}"


class _Translator:
    """Turns ansible-runner's raw event dicts into our typed events, and collects the stats."""

    def __init__(self, emit: Callable[[Event], None]):
        self.emit = emit
        self.stats: dict | None = None
        self.failures: list[dict] = []
        self.changes: list[dict] = []

    def __call__(self, raw: dict) -> bool:
        name = raw.get("event", "")
        data = raw.get("event_data") or {}
        if name == "playbook_on_play_start":
            self.emit(PlayStarted(play=data.get("play", "")))
        elif name == "playbook_on_task_start":
            self.emit(TaskStarted(task=data.get("task", ""), role=data.get("role")))
        elif name in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            self._host_result(name, data)
        elif name == "playbook_on_stats":
            self.stats = data
        return True  # keep every event in the artifacts

    def _host_result(self, name: str, data: dict) -> None:
        res = data.get("res") or {}
        status = {"runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
                  "runner_on_skipped": "skipped"}.get(name, "ok")
        if status == "ok" and res.get("changed"):
            status = "changed"
        if status == "failed" and data.get("ignore_errors"):
            status = "ignored"
        message = None
        if status in ("failed", "unreachable", "ignored"):
            message = str(res.get("msg", ""))
            detail = res.get("module_stderr") or res.get("stderr")  # what the command itself said
            if detail:
                message += f" ({str(detail).strip()[-400:]})"
            message = message[:_MESSAGE_LIMIT]
        event = HostResult(host=data.get("host", ""), task=data.get("task", ""), status=status, message=message)
        if status == "changed":
            self.changes.append({"host": event.host, "task": event.task})
        if status in ("failed", "unreachable"):
            # A host's last failure is the one that stopped it (an earlier one may have been rescued).
            self.failures = [f for f in self.failures if f["host"] != event.host]
            self.failures.append({"host": event.host, "task": event.task, "status": status, "message": message})
        self.emit(event)

    def host_stats(self) -> dict[str, HostStats]:
        if not self.stats:
            return {}
        keys = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
                "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
        hosts: dict[str, HostStats] = {}
        for source, attr in keys.items():
            for host, count in (self.stats.get(source) or {}).items():
                setattr(hosts.setdefault(host, HostStats()), attr, count)
        return hosts


def _mitogen_strategies() -> str | None:
    """Where mitogen's strategy plugins are, when it is installed (`pip install 'sparkfleet[mitogen]'`): a project
    then opts in with `strategy = mitogen_linear` in its ansible.cfg (docs/performance.md says why it is not the
    default). None when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.origin:
        return None
    return str(Path(spec.origin).parent / "plugins" / "strategy")


def _runner_env(project: Project) -> dict[str, str]:
    mitogen = _mitogen_strategies()
    return {
        **({"ANSIBLE_STRATEGY_PLUGINS": mitogen} if mitogen else {}),
        # ansible-playbook lives beside this Python, even when its environment is not activated
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "ANSIBLE_CONFIG": str(project.ansible_cfg),
        # sparkfleet.spark (roles, modules, filters, by their full names); the project's own roles/ for bare role names
        "ANSIBLE_COLLECTIONS_PATH": str(content.collections_path()),
        "ANSIBLE_ROLES_PATH": str(project.root / "roles"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",  # ansible-runner turns it off unless told
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }


def _env_allowed(name: str, value: str, ours: dict[str, str], secret_values: set[str]) -> bool:
    """Whether ansible-playbook gets this variable: ours and ansible-runner's own, and the allowlist."""
    if value in secret_values:
        return False
    if name in ours or os.environ.get(name) != value:  # set by sparkfleet or by ansible-runner, not inherited
        return True
    if name not in _ALLOWED_ENV and not name.startswith(_ALLOWED_PREFIXES):
        return False
    return name.endswith("_FILE") or not _SECRET_ENV.search(name)  # a password *file* is a path, not a secret


def _unrecord_values(command_file: Path) -> None:
    """Keep the names of credential-carrying variables in ansible-runner's record of the run, not their values."""
    import json

    try:
        record = json.loads(command_file.read_text())
    except (OSError, ValueError):
        return
    env = record.get("env") or {}
    if not any(name in env for name in _UNRECORDED_ENV):
        return
    for name in _UNRECORDED_ENV:
        if name in env:
            env[name] = "(not recorded)"
    from sparkfleet.core.atomic import write_atomically

    write_atomically(command_file, json.dumps(record), mode=0o600)


def _run_level_error(artifacts_dir: Path) -> str | None:
    """The error line ansible-playbook prints for problems that concern no host ("ERROR!" before 2.19)."""
    stdout = artifacts_dir / "stdout"
    if not stdout.exists():
        return None
    prefixes = ("[ERROR]:", "ERROR!")
    lines = [line for line in stdout.read_text(errors="replace").splitlines() if line.startswith(prefixes)]
    if not lines:
        return None
    line = lines[-1]
    return next(line.removeprefix(p) for p in prefixes if line.startswith(p)).strip()


def _descendants(pid: int) -> list[int]:
    """All processes below pid (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _kill_tree() -> None:
    # ansible-core >= 2.19 puts each worker in a session of its own, so ansible-runner's kill of the
    # ansible-playbook process group would leave the workers (and the commands they run) behind.
    for _ in range(3):  # again, for processes forked while the first ones were being killed
        pids = _descendants(os.getpid())
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if not pids:
            break
        time.sleep(0.1)


def _prune_runs(project: Project) -> None:
    runs = sorted((p for p in project.runs_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in runs[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)


def run_playbook(
    project: Project,
    playbook: str | Path,
    *,
    emit: Callable[[Event], None],
    limit: str | None = None,
    extravars: dict | None = None,
    tags: str | None = None,
    check: bool = False,
    passwords: dict[str, str] | None = None,
) -> RunResult:
    """Run one of sparkfleet's playbooks (a name) or a playbook file over the project's inventory.

    extravars must hold no secrets: they end up on ansible-playbook's recorded command line. Secrets go in
    passwords ({"ssh": ..., "become": ...}): ansible-playbook prompts for them and ansible-runner answers
    the prompts, so they are in no file, argument or environment variable.
    """
    import ansible_runner

    playbook_path = playbook if isinstance(playbook, Path) else content.playbook(playbook)
    playbook = playbook_path.stem
    run_id = new_run_id(playbook)
    private_dir = project.runs_dir / run_id
    private_dir.mkdir(parents=True, mode=0o700)
    cancelled = False

    def on_signal(signum, frame):
        nonlocal cancelled
        cancelled = True

    def should_cancel() -> bool:
        if cancelled:
            _kill_tree()
        return cancelled

    translator = _Translator(emit)
    options = ["--check", "--diff"] if check else []
    expect: dict[str, str] = {}
    if passwords and passwords.get("ssh"):
        options.append("--ask-pass")
        expect[r"SSH password:\s*?$"] = passwords["ssh"]
    if passwords and passwords.get("become"):
        options.append("--ask-become-pass")
        expect[r"BECOME password.*:\s*?$"] = passwords["become"]
    runner = ansible_runner.interface.init_runner(
        private_data_dir=str(private_dir),
        ident="run",
        playbook=str(playbook_path),
        project_dir=str(content.content_root() / "playbooks"),
        inventory=str(project.inventory_dir),
        envvars=_runner_env(project),
        extravars={"sparkfleet_project_dir": str(project.root), **(extravars or {})},
        limit=limit,
        tags=tags,
        cmdline=" ".join(options) or None,
        passwords=expect,
        quiet=True,
        suppress_env_files=True,
        event_handler=translator,
        cancel_callback=should_cancel,
    )
    env = runner.config.env
    ours = _runner_env(project)
    for key in [k for k, v in env.items() if not _env_allowed(k, v, ours, set(expect.values()))]:
        del env[key]
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(project.state_dir / "facts")

    emit(RunStarted(run_id=run_id, playbook=playbook, limit=limit, check=check))
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    duration = round(time.monotonic() - started, 3)
    status = "canceled" if cancelled else runner.status
    artifacts = Path(runner.config.artifact_dir)
    result = RunResult(
        run_id=run_id,
        playbook=playbook,
        status=status,
        rc=runner.rc,
        duration_s=duration,
        artifacts_dir=str(artifacts),
        hosts=translator.host_stats(),
        failures=translator.failures,
        changes=translator.changes,
        data=(translator.stats or {}).get("artifact_data") or {},
    )
    if status == "failed" and not result.hosts:
        result.error = _run_level_error(artifacts) or "ansible-playbook failed before any host ran a task."
    _unrecord_values(artifacts / "command")
    emit(RunFinished(run_id=run_id, status=status, duration_s=duration))
    _prune_runs(project)
    return result
