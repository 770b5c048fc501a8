"""What every command shares: the root group, --json and --project, and the wrapper that turns outcomes into
exit codes. Commands stay thin: parse, call runs/report/lab/core, render."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import click

from sparkfleet import __version__
from sparkfleet.cli.output import Output
from sparkfleet.core.errors import Cancelled, ExitCode, SparkfleetError


class Settings:
    """The options every command shares (a plain class: dataclasses costs `--help` its import time)."""

    def __init__(self, json: bool = False, project_dir: Path | None = None):
        self.json = json
        self.project_dir = project_dir

    def project(self):
        from sparkfleet.core.project import Project

        return Project.find(self.project_dir)


def _set_json(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.ensure_object(Settings).json = True


def _set_project(ctx: click.Context, _param, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).project_dir = value


def common_options(fn):
    """--json and --project work before or after the command name."""
    fn = click.option("--json", "as_json", is_flag=True, expose_value=False, is_eager=True, callback=_set_json,
                      help="Write only newline-delimited JSON to stdout (events, then one summary).")(fn)
    return click.option("--project", type=click.Path(file_okay=False, path_type=Path), expose_value=False,
                        callback=_set_project, envvar="SPARKFLEET_PROJECT",
                        help="The project folder (default: the nearest one above the current folder).")(fn)


def _project_lock(settings: Settings, name: str, lock: str | None) -> contextlib.AbstractContextManager:
    """The project lock the command holds from start to end (core.project_lock); none outside a project, where
    the command says itself whether it needs one."""
    from sparkfleet.core.errors import ProjectError

    if lock is None:
        return contextlib.nullcontext()
    try:
        project = settings.project()
    except ProjectError:
        return contextlib.nullcontext()
    from sparkfleet.core import project_lock

    return project_lock.hold(project, name)


def command(group: click.Group, name: str, lock: str | None = "exclusive", **kwargs):
    """Register fn as a command that gets (settings, out, **params) and returns an exit code.

    lock: "exclusive" (the default: the command changes hosts or project files) or None (it only reads files that
    are written atomically, needs no project, or makes one). A second command that changes things while one runs
    is refused at once with exit code 7 (docs/reliability.md).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(**params):
            ctx = click.get_current_context()
            settings = ctx.ensure_object(Settings)
            out = Output(settings.json, ctx.command_path.partition(" ")[2])
            try:
                with _project_lock(settings, ctx.command_path.partition(" ")[2], lock):
                    return int(fn(settings, out, **params) or 0)
            except SparkfleetError as error:
                out.failure(error)
                return int(error.exit_code)
            except KeyboardInterrupt:
                out.failure(Cancelled("Interrupted; whatever was half-done was cleaned up.", hint=None))
                return int(ExitCode.CANCELLED)

        return group.command(name, **kwargs)(common_options(wrapper))

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(__version__, prog_name="sparkfleet")
def cli() -> None:
    """Provision NVIDIA DGX Spark machines for local AI serving, one Spark or a fleet.

    Every command takes --json for agents: stdout then carries only JSON lines,
    ending with one summary object. Exit codes: 0 ok, 2 usage or config error,
    3 a host failed, 4 a host was unreachable, 5 controller environment problem,
    6 a playbook needs approval (run), 7 another command is using the project,
    130 cancelled (see docs/exit-codes.md).
    """

