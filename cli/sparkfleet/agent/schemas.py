"""The JSON Schemas (draft 2020-12) of what sparkfleet writes for agents: every --json event and summary, the
history record and the bench result. They ship in the package (sparkfleet/agent/schemas/v<N>/), one folder per
schema version; a version only grows (fields added, none renamed or removed)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

VERSION = 1
NAMES = ("event", "summary", "record", "bench-result")
_DIR = Path(__file__).resolve().parent / "schemas" / f"v{VERSION}"


def path(name: str) -> Path:
    return _DIR / f"{name}.json"


@cache
def load(name: str) -> dict:
    return json.loads(path(name).read_text())


def index() -> list[dict]:
    return [{"name": name, "version": VERSION, "id": load(name)["$id"], "title": load(name)["title"],
             "file": f"sparkfleet/agent/schemas/v{VERSION}/{name}.json"} for name in NAMES]


def errors(name: str, document: object) -> list[str]:
    """Every way document breaks the schema, as 'path: message' lines (empty when it conforms)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load(name))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]
