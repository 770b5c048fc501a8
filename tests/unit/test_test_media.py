"""Test media made locally with ffmpeg: each file is what ffprobe says it is.

Skipped where ffmpeg/ffprobe are not installed (apt-get install ffmpeg).
"""

from __future__ import annotations

import shutil

import pytest
from sparkfleet.core.errors import EnvironmentProblem, UsageError
from sparkfleet.lab import test_media
from sparkfleet.lab.test_media import make_image, make_truncated, make_video, probe

needs_ffmpeg = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
MATROSKA = "matroska,webm"  # ffprobe names .mkv and .webm alike; the EBML doctype tells them apart


@needs_ffmpeg
@pytest.mark.parametrize(("name", "codec", "fmt", "expected_codec"), [
    ("clip.mp4", None, MP4, "h264"),
    ("clip.webm", None, MATROSKA, "vp9"),
    ("clip.mkv", None, MATROSKA, "h264"),
    ("clip.avi", None, "avi", "mpeg4"),
    ("vp9.mp4", "vp9", MP4, "vp9"),
    ("mpeg4.mp4", "mpeg4", MP4, "mpeg4"),
    ("vp9.mkv", "vp9", MATROSKA, "vp9"),
    ("h264.avi", "h264", "avi", "h264"),
])
def test_make_video_gives_the_container_codec_and_duration_asked_for(tmp_path, name, codec, fmt, expected_codec):
    path = make_video(tmp_path / name, 2, fps=10, codec=codec)
    assert path == tmp_path / name
    info = probe(path)
    assert info["format"] == fmt
    assert info["codec"] == expected_codec
    assert (info["width"], info["height"]) == (160, 120)
    assert info["duration"] == pytest.approx(2.0, abs=0.15)
    assert info["frames"] == 20
    head = path.read_bytes()[:64]
    if name.endswith(".webm"):
        assert b"webm" in head
    elif name.endswith(".mkv"):
        assert b"matroska" in head


@needs_ffmpeg
def test_size_fps_and_a_long_clip(tmp_path):
    info = probe(make_video(tmp_path / "long.mp4", 12, fps=4, size=(320, 240)))
    assert (info["width"], info["height"], info["frames"]) == (320, 240, 48)
    assert info["duration"] == pytest.approx(12.0, abs=0.3)


@needs_ffmpeg
def test_the_same_arguments_give_the_same_bytes(tmp_path):
    a = make_video(tmp_path / "a.mp4", 1).read_bytes()
    b = make_video(tmp_path / "b.mp4", 1).read_bytes()
    assert a == b
    assert make_video(tmp_path / "c.mp4", 1, faststart=True).read_bytes() != a  # index moved to the front


@needs_ffmpeg
def test_make_image_is_a_single_png_frame(tmp_path):
    path = make_image(tmp_path / "still.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = probe(path)
    assert (info["codec"], info["width"], info["height"], info["frames"]) == ("png", 160, 120, 1)


@needs_ffmpeg
def test_a_truncated_mp4_is_half_the_bytes_and_unreadable(tmp_path):
    src = make_video(tmp_path / "whole.mp4", 3)
    dst = make_truncated(src, tmp_path / "half.mp4")
    assert dst.stat().st_size == src.stat().st_size // 2
    assert src.read_bytes().startswith(dst.read_bytes())
    with pytest.raises(EnvironmentProblem, match="moov atom not found"):
        probe(dst)  # ffmpeg writes the index at the end, so the first half has none


@needs_ffmpeg
def test_a_truncated_faststart_mp4_still_opens_but_lacks_frames(tmp_path):
    src = make_video(tmp_path / "web.mp4", 3, faststart=True)
    info = probe(make_truncated(src, tmp_path / "half.mp4"))
    assert info["codec"] == "h264"
    assert 0 < info["frames"] < 30


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        make_video(tmp_path / "x.mov", 1)
    with pytest.raises(UsageError):
        make_video(tmp_path / "x.webm", 1, codec="h264")
    with pytest.raises(UsageError):
        make_video(tmp_path / "x.mp4", 0)
    with pytest.raises(UsageError):
        make_image(tmp_path / "x.gif")
    with pytest.raises(UsageError):
        make_truncated(tmp_path / "x.mp4", tmp_path / "y.mp4", fraction=1)


def test_a_missing_ffmpeg_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(test_media.shutil, "which", lambda name: None)
    with pytest.raises(EnvironmentProblem) as err:
        make_video(tmp_path / "x.mp4", 1)
    assert "ffmpeg" in err.value.message and "apt-get install ffmpeg" in err.value.hint
