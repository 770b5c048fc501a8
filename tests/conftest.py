"""Shared fixtures: run the real `sparkfleet` entry point in-process, and a fresh project folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import Result, use_collections_path

use_collections_path()  # unit tests import the collection's modules and module_utils by their full names


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `sparkfleet ARGS` in this process (fast) through the real entry point."""
    from sparkfleet.cli import main

    def invoke(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["sparkfleet", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        return Result(int(exit_info.value.code or 0), captured.out, captured.err)

    return invoke


@pytest.fixture
def project(tmp_path, cli) -> Path:
    root = tmp_path / "proj"
    assert cli("init", str(root)).code == 0
    return root
