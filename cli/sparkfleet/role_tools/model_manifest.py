"""A model folder's manifest: every file with its size and sha256, and where the files came from.

Written on the controller before a model is copied to hosts, so each host's copy can be checked file by file.
Unchanged files (same size and mtime) keep their recorded hash, so a re-run does not re-read a 30 GB model.

    python -m sparkfleet.role_tools.model_manifest DIR --name NAME [--repo REPO] [--commit SHA]

Prints {"path", "changed", "files"}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

MANIFEST = ".sparkfleet-manifest.json"
SKIP = (MANIFEST, ".cache/")  # the hub client's bookkeeping is not part of the model


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write(folder: Path, name: str, repo: str | None, commit: str | None) -> dict:
    path = folder / MANIFEST
    old = json.loads(path.read_text()) if path.exists() else {}
    old_files = old.get("files", {})
    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel.startswith(SKIP):
            continue
        stat = file.stat()
        known = old_files.get(rel, {})
        same = known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns
        files[rel] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                      "sha256": known["sha256"] if same and "sha256" in known else sha256(file)}
    manifest = {"name": name, "repo": repo, "commit": commit or old.get("commit"), "files": files}
    changed = manifest != old
    if changed:
        path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return {"path": str(path), "changed": changed, "files": len(files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--repo")
    parser.add_argument("--commit")
    args = parser.parse_args()
    print(json.dumps(write(args.folder, args.name, args.repo, args.commit)))


if __name__ == "__main__":
    main()
