"""Exit codes and the errors that carry them (documented in docs/exit-codes.md; keep them stable)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug in sparkfleet: please report it
    USAGE = 2  # bad arguments, bad input or a broken project folder
    HOST_FAILED = 3  # at least one host failed a task
    HOST_UNREACHABLE = 4  # at least one host could not be reached, none failed
    ENVIRONMENT = 5  # the controller lacks something it needs (container engine, debootstrap, ...)
    APPROVAL_NEEDED = 6  # `run`: the policy flagged the playbook and nothing approved it; nothing was applied
    BUSY = 7  # another sparkfleet command is using the project; nothing was done
    CANCELLED = 130  # interrupted (Ctrl-C / SIGTERM)


class SparkfleetError(Exception):
    """An error a person or an agent can act on: what is wrong (message) and how to fix it (hint)."""

    exit_code = ExitCode.INTERNAL
    code = "error"

    def __init__(self, message: str, hint: str | None = None, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code:
            self.code = code

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(SparkfleetError):
    exit_code = ExitCode.USAGE
    code = "usage"


class ProjectError(UsageError):
    code = "project"


class InventoryError(UsageError):
    code = "inventory"


class EnvironmentProblem(SparkfleetError):
    exit_code = ExitCode.ENVIRONMENT
    code = "environment"


class Cancelled(SparkfleetError):
    exit_code = ExitCode.CANCELLED
    code = "cancelled"


class HostUnreachable(SparkfleetError):
    exit_code = ExitCode.HOST_UNREACHABLE
    code = "unreachable"


class HostKeyMismatch(SparkfleetError):
    """A host offers another ssh host key than the one the person gave: like a failed host, nothing is changed."""

    exit_code = ExitCode.HOST_FAILED
    code = "host_key_mismatch"
class ProjectBusy(SparkfleetError):
    exit_code = ExitCode.BUSY
    code = "busy"
