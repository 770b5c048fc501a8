"""Tolerant readers of JSON fields: the value when it has the type the schema gives (docs/run-data.md), else
None (or an empty list), so one field of the wrong type never costs a whole record."""

from __future__ import annotations

Number = int | float


def number(value) -> Number | None:
    """A JSON number as it was written (an int stays an int); None for anything else, booleans included."""
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def string(value) -> str | None:
    return value if isinstance(value, str) and value else None


def flag(value) -> bool | None:
    return value if isinstance(value, bool) else None


def as_object(value) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def objects(value) -> list[dict]:
    """The JSON objects of a list (anything else in it is left out)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def texts(value) -> list[str]:
    """A list of free-text lines (warnings, journal lines), each as text."""
    return [str(item) for item in value] if isinstance(value, list) else []


def dig(data, *keys):
    """data[k1][k2]...; None as soon as a level is not a JSON object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
