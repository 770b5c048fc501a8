# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""`nvidia-smi --query-gpu` for the collection's modules: the command line and a parser of its CSV (a pure function
that unit tests call on recorded output)."""

from __future__ import annotations

import csv
import re
from typing import Any

# The fields asked of `nvidia-smi --query-gpu`, in order, and the key each becomes.
QUERY_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "driver_version",
    "memory.total",
    "memory.used",
    "memory.free",
    "clocks.current.sm",
    "clocks.max.sm",
    "power.draw",
    "power.limit",
    "temperature.gpu",
    "utilization.gpu",
    "compute_cap",
    "pstate",
)

FIELD_KEYS: dict[str, str] = {
    "index": "index",
    "name": "name",
    "uuid": "uuid",
    "driver_version": "driver_version",
    "memory.total": "memory_total_mib",
    "memory.used": "memory_used_mib",
    "memory.free": "memory_free_mib",
    "clocks.current.sm": "clocks_sm_mhz",
    "clocks.sm": "clocks_sm_mhz",
    "clocks.max.sm": "clocks_max_sm_mhz",
    "clocks.max.sm_clock": "clocks_max_sm_mhz",
    "power.draw": "power_draw_w",
    "power.limit": "power_limit_w",
    "temperature.gpu": "temperature_c",
    "utilization.gpu": "utilization_pct",
    "compute_cap": "compute_capability",
    "pstate": "pstate",
}

GPU_KEYS: tuple[str, ...] = tuple(dict.fromkeys(FIELD_KEYS.values()))

INT_KEYS = frozenset(
    {"index", "memory_total_mib", "memory_used_mib", "memory_free_mib", "clocks_sm_mhz", "clocks_max_sm_mhz",
     "temperature_c", "utilization_pct"}
)
FLOAT_KEYS = frozenset({"power_draw_w", "power_limit_w"})

# What nvidia-smi prints when it has no value; any other "[...]" status ("[Unknown Error]",
# "[GPU requires reset]") is treated the same way.
NULL_VALUES = frozenset({"n/a", "[n/a]", "not supported", "[not supported]", "err!", ""})

_UNIT_SUFFIX = re.compile(r"\s*(MiB|MHz|W|%|C)$", re.IGNORECASE)
_HEADER_UNITS = re.compile(r"\s*\[[^\]]*\]$")


def _is_null(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in NULL_VALUES or (lowered.startswith("[") and lowered.endswith("]"))


def _convert(key: str, raw: str) -> Any:
    """One nvidia-smi value -> a JSON-able value for `key` (units stripped, N/A -> None)."""
    value = raw.strip()
    if _is_null(value):
        return None
    if key in INT_KEYS or key in FLOAT_KEYS:
        number = _UNIT_SUFFIX.sub("", value).strip()
        try:
            parsed = float(number)
        except ValueError:
            return None
        if key in INT_KEYS:
            return int(parsed)
        return parsed
    return value


def _field_name(header_cell: str) -> str:
    """'memory.total [MiB]' -> 'memory.total'."""
    return _HEADER_UNITS.sub("", header_cell.strip())


def parse_query_csv(text: str, fields: tuple[str, ...] | list[str] | None = None) -> list[dict[str, Any]]:
    """Parse `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]` output.

    With a header line (the plain `csv` format) the field names come from it; otherwise from `fields`
    (default QUERY_FIELDS). Values may carry units ("143771 MiB") or not. Every GPU dict has every key of
    GPU_KEYS; fields that were not queried, or that nvidia-smi reports as N/A / Not Supported, are None.
    Raises ValueError when a row does not have one value per field (usually an error message on stdout).
    """
    rows = [row for row in csv.reader(text.splitlines(), skipinitialspace=True) if any(cell.strip() for cell in row)]
    names = list(fields or QUERY_FIELDS)
    if rows and all(_field_name(cell) in FIELD_KEYS for cell in rows[0]):
        names, rows = [_field_name(cell) for cell in rows[0]], rows[1:]  # a header line: it names the columns
    gpus = []
    for row in rows:
        if len(row) != len(names):
            raise ValueError(
                f"nvidia-smi returned {len(row)} values where {len(names)} were asked for: {', '.join(row)}"
            )
        gpu: dict[str, Any] = dict.fromkeys(GPU_KEYS)
        for name, raw in zip(names, row):  # noqa: B905 (lengths checked above; zip(strict=) needs Python 3.10)
            key = FIELD_KEYS.get(name)
            if key is not None:
                gpu[key] = _convert(key, raw)
        gpus.append(gpu)
    return gpus


def query_argv(smi: str, fields: tuple[str, ...] | list[str]) -> list[str]:
    """The command that asks nvidia-smi for these fields, one CSV line per GPU, without units or a header."""
    return [smi, "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]
