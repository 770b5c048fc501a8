"""The model catalog, read from the model role (the one place it is written down)."""

from __future__ import annotations

from sparkfleet.core import content
from sparkfleet.core.errors import UsageError


def load() -> dict[str, dict]:
    import yaml

    return yaml.safe_load((content.roles_dir() / "model" / "vars" / "main.yml").read_text())["model_catalog"]


def check(name: str) -> dict:
    catalog = load()
    if name not in catalog:
        raise UsageError(f"Unknown model {name!r}; nothing was started or downloaded.",
                         hint=f"Choose one of: {', '.join(sorted(catalog))} (see `sparkfleet models`).")
    return catalog[name]
