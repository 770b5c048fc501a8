"""The package around the service: one version, exact pins in step with the lock, the console script, the notes
renderer (markdown-it-py + nh3), and a wheel that carries the dashboard's static files."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (HERE / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.match(line.strip())
            assert match, f"not an exact pin in requirements.lock: {line!r}"
            pins[_name(match[1])] = match[2]
    return pins


def test_every_dependency_is_pinned_exactly_and_the_lock_agrees():
    dependencies = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]["dependencies"]
    lock = _lock()
    for requirement in dependencies:
        match = PIN.match(requirement)
        assert match, f"not an exact pin in pyproject.toml: {requirement!r}"
        assert lock.get(_name(match[1])) == match[2], f"{requirement} is not what requirements.lock pins"


def test_the_root_dev_environment_installs_the_service_itself():
    """scripts/setup installs services/video into the dev venv; the root pyproject repeats none of its pins."""
    root = HERE.parents[1]
    assert "-c services/video/requirements.lock -e services/video" in (root / "scripts" / "setup").read_text()
    dev = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert not {_name(PIN.match(d)[1]) for d in dev if PIN.match(d)} & set(_lock())


def test_the_version_is_written_once_and_the_console_script_reports_it():
    from sparkfleet_video import __version__

    assert "version =" not in (HERE / "pyproject.toml").read_text()  # dynamic, from __init__.py
    out = subprocess.run([sys.executable, "-m", "sparkfleet_video", "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"sparkfleet-video {__version__}"


def test_notes_render_with_tables_and_nothing_unsafe_survives():
    from sparkfleet_video.markdown import to_html

    html = to_html("<!-- Ansible managed -->\n# Host\n\n| what | value |\n|---|---|\n| vLLM | `0.1` |\n\n"
                   "- [docs](https://example.org) [bad](javascript:alert(1))\n- <script>alert(1)</script>"
                   '<img src="x" onerror="alert(1)">\n')
    assert "<h2>Host</h2>" in html  # one level down: the page has its own h1 and h2
    assert "<table>" in html and "<td><code>0.1</code></td>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">docs</a>' in html
    for unsafe in ("Ansible managed", "<script", "onerror", 'href="javascript'):
        assert unsafe not in html


def test_the_wheel_carries_the_dashboard_and_the_console_script(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(HERE)], check=True, capture_output=True)
    from sparkfleet_video import __version__

    wheel = tmp_path / f"sparkfleet_video-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for static in ("index.html", "app.js", "style.css", "vendor/uPlot.iife.min.js", "vendor/LICENSE"):
        assert f"sparkfleet_video/static/{static}" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    entry_points = zipfile.ZipFile(wheel).read(f"sparkfleet_video-{__version__}.dist-info/entry_points.txt").decode()
    assert "sparkfleet-video = sparkfleet_video.__main__:main" in entry_points
