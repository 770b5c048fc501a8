"""What the lab profile needs on the controller, checked before anything runs.

A lab host serves a tiny Qwen3-VL that the controller builds (lab/tiny_model.py) with the packages of
sparkfleet's `lab` extra. Without them the serve phase would stop halfway with an import error; instead `lab up`,
`doctor` and `up` say so first, with the exact command that installs them into this Python.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from importlib import metadata

from sparkfleet.core.errors import EnvironmentProblem
from sparkfleet.core.inventory import Host

LAB_PROFILE_GROUP = "lab"
# import name -> the distribution the `lab` extra installs it from (pyproject.toml)
LAB_EXTRA_MODULES = {"torch": "torch", "transformers": "transformers", "tokenizers": "tokenizers",
                     "safetensors": "safetensors", "PIL": "pillow"}
_PATTERN_CHARS = re.compile(r"[*?~!&\[\]]")


def missing_lab_packages() -> list[str]:
    """The distributions of the `lab` extra that this Python cannot import."""
    return [dist for module, dist in LAB_EXTRA_MODULES.items() if importlib.util.find_spec(module) is None]


def install_command() -> str:
    """The pip command that adds the `lab` extra to the Python running sparkfleet, from where it came from."""
    source = "sparkfleet"
    try:
        origin = json.loads(metadata.distribution("sparkfleet").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        origin = {}
    url = origin.get("url", "")
    if url.startswith("file://"):
        source = url.removeprefix("file://")  # installed from a folder (a checkout or an unpacked sdist)
    return f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(source + '[lab]')}"


def lab_hosts(hosts: list[Host], limit: str | None) -> list[str]:
    """The hosts on the lab profile that a run with this --limit reaches.

    A limit of plain names and groups is followed; one with Ansible pattern characters counts every lab host.
    """
    lab = [h for h in hosts if LAB_PROFILE_GROUP in h.groups]
    if not limit or _PATTERN_CHARS.search(limit):
        return [h.name for h in lab]
    wanted = {part for part in re.split(r"[,:]", limit) if part}
    return [h.name for h in lab if h.name in wanted or wanted & set(h.groups) or "all" in wanted]


def require_lab_extra(hosts: list[str]) -> None:
    """Raise EnvironmentProblem when lab hosts are about to run and the controller lacks the `lab` extra."""
    missing = missing_lab_packages() if hosts else []
    if missing:
        raise EnvironmentProblem(
            f"The lab profile ({', '.join(sorted(hosts))}) builds its tiny model on this controller, which lacks "
            f"{', '.join(missing)} (sparkfleet's `lab` extra).",
            hint=f"Install it: {install_command()}", code="environment.lab_extra")
