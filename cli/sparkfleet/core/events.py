"""Typed events that flow from a run (or a lab action) to the output renderers.

The JSON form of each event is part of the agent interface (docs/json-output.md): fields may be added,
never renamed or removed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import ClassVar

SCHEMA_VERSION = 1


@dataclass
class Event:
    type: ClassVar[str] = "event"
    ts: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict:
        return {"v": SCHEMA_VERSION, "type": self.type, **asdict(self)}


@dataclass
class Progress(Event):
    """A step of a controller-side action (lab, init, ...)."""

    type: ClassVar[str] = "progress"
    message: str


@dataclass
class RunStarted(Event):
    type: ClassVar[str] = "run_start"
    run_id: str
    playbook: str
    limit: str | None
    check: bool


@dataclass
class PlayStarted(Event):
    type: ClassVar[str] = "play_start"
    play: str


@dataclass
class TaskStarted(Event):
    type: ClassVar[str] = "task_start"
    task: str
    role: str | None


@dataclass
class HostResult(Event):
    """One task's outcome on one host. status: ok, changed, failed, ignored, unreachable, skipped."""

    type: ClassVar[str] = "host_result"
    host: str
    task: str
    status: str
    message: str | None = None


@dataclass
class RunFinished(Event):
    type: ClassVar[str] = "run_end"
    run_id: str
    status: str
    duration_s: float
