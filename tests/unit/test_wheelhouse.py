"""The wheelhouse builds the services sparkfleet ships (services/video) from source, by the version they declare."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import REPO
from sparkfleet.role_tools import wheelhouse

VIDEO = REPO / "services" / "video"


def _copy_of_the_video_service(tmp_path):
    copy = tmp_path / "video"
    shutil.copytree(VIDEO, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.pyc"))
    return copy


def test_the_video_service_is_found_beside_the_ansible_content():
    assert wheelhouse.local_projects()["sparkfleet-video"] == VIDEO
    assert wheelhouse._requested_name("sparkfleet_video==1.0") == "sparkfleet-video"


def test_the_source_hash_follows_the_code_not_tests_or_caches(tmp_path):
    copy = _copy_of_the_video_service(tmp_path)
    before = wheelhouse.source_hash(copy)
    (copy / "src" / "sparkfleet_video" / "__pycache__").mkdir()
    (copy / "src" / "sparkfleet_video" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (copy / "tests").mkdir()
    (copy / "tests" / "test_more.py").write_text("")
    assert wheelhouse.source_hash(copy) == before
    (copy / "src" / "sparkfleet_video" / "static" / "style.css").write_text("body {}\n", encoding="utf-8")
    assert wheelhouse.source_hash(copy) != before


def test_a_changed_source_with_the_same_version_is_refused_and_the_built_wheelhouse_stays(tmp_path):
    from sparkfleet_video import __version__

    copy, dest = _copy_of_the_video_service(tmp_path), tmp_path / "wheelhouse"
    dest.mkdir()
    sources = {"sparkfleet-video": wheelhouse.source_hash(copy)}
    assert wheelhouse._build_local(dest, {"sparkfleet-video": copy}, sources) == {"sparkfleet-video": __version__}
    wheel = dest / f"sparkfleet_video-{__version__}-py3-none-any.whl"
    assert wheel.is_file()
    (dest / wheelhouse.REQUEST).write_text(json.dumps({"local": {"sparkfleet-video": {
        "version": __version__, "source": sources["sparkfleet-video"]}}}))

    (copy / "src" / "sparkfleet_video" / "system.py").write_text("# changed\n", encoding="utf-8")
    changed = {"sparkfleet-video": wheelhouse.source_hash(copy)}
    with pytest.raises(SystemExit, match="bump __version__"):
        wheelhouse._build_local(dest, {"sparkfleet-video": copy}, changed)
    assert wheel.is_file() and (dest / wheelhouse.REQUEST).is_file()
