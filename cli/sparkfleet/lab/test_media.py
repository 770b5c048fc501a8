"""Small real media files for the lab and the tests, made locally with ffmpeg: no downloads.

ffmpeg (and ffprobe, for `probe`) must be installed: `apt-get install ffmpeg` (Debian and Ubuntu).
A missing ffmpeg raises EnvironmentProblem with that hint.

- `make_video(path, seconds)`: a moving test pattern (lavfi testsrc2); the container comes from the
  suffix (.mp4, .webm, .mkv, .avi), the codec from `codec` or the container's usual one.
- `make_image(path)`: one still frame as PNG (or JPEG by suffix), e.g. for "an image sent as a video".
- `make_truncated(src, dst)`: the first half of a file's bytes, e.g. a broken upload. ffmpeg writes an
  mp4's index (moov) at the end unless `faststart=True`, so a truncated default mp4 has no index at all.
- `probe(path)`: what ffprobe says (container, codec, size, duration, frames).

Outputs are bit-exact for the same arguments (no encoder version or date written into them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from sparkfleet.core.errors import EnvironmentProblem, UsageError

# codec name -> ffmpeg encoder and its options (fast settings: these are test files)
CODECS: dict[str, list[str]] = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k",
            "-pix_fmt", "yuv420p"],
    "mpeg4": ["-c:v", "mpeg4", "-q:v", "5", "-pix_fmt", "yuv420p"],
}

# suffix -> (ffmpeg muxer, codecs it takes, default codec)
CONTAINERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    ".mp4": ("mp4", ("h264", "vp9", "mpeg4"), "h264"),
    ".webm": ("webm", ("vp9",), "vp9"),
    ".mkv": ("matroska", ("h264", "vp9", "mpeg4"), "h264"),
    ".avi": ("avi", ("h264", "mpeg4"), "mpeg4"),
}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise EnvironmentProblem(f"{name} is needed to make test media and is not installed.",
                                 hint="Install it: sudo apt-get install ffmpeg")
    return path


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()[-800:]}")


def make_video(path: Path | str, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (160, 120),
               codec: str | None = None, *, faststart: bool = False) -> Path:
    """A `seconds`-long moving test pattern at `fps` frames per second and `size` (width, height).

    The container comes from the suffix of `path`; `codec` is "h264", "vp9" or "mpeg4" (default:
    h264 for .mp4 and .mkv, vp9 for .webm, mpeg4 for .avi). `faststart` moves an mp4's index to the
    front, as web uploads usually have it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise UsageError(f"unknown video container {suffix!r}", hint=f"Use one of {', '.join(CONTAINERS)}.")
    muxer, allowed, default = CONTAINERS[suffix]
    codec = codec or default
    if codec not in allowed:
        raise UsageError(f"codec {codec!r} does not go in a {suffix} file", hint=f"Use one of {', '.join(allowed)}.")
    if seconds <= 0 or fps <= 0:
        raise UsageError("seconds and fps must be positive")
    width, height = size
    ffmpeg = _tool("ffmpeg")
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
            "-an", *CODECS[codec], "-r", str(fps), "-t", str(seconds), *_BITEXACT]
    if faststart and muxer == "mp4":
        args += ["-movflags", "+faststart"]
    _run([*args, "-f", muxer, str(path)])
    return path


def make_image(path: Path | str, size: tuple[int, int] = (160, 120)) -> Path:
    """One frame of the test pattern as a still image (PNG, or JPEG for .jpg/.jpeg)."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"unknown image type {path.suffix!r}", hint=f"Use one of {', '.join(IMAGE_SUFFIXES)}.")
    width, height = size
    ffmpeg = _tool("ffmpeg")
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
          "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=1", "-frames:v", "1",
          *_BITEXACT, "-update", "1", str(path)])
    return path


def make_truncated(src: Path | str, dst: Path | str, fraction: float = 0.5) -> Path:
    """Copy the first `fraction` of `src`'s bytes to `dst`: a file cut off mid-upload."""
    if not 0 < fraction < 1:
        raise UsageError("fraction must be between 0 and 1")
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def probe(path: Path | str) -> dict:
    """ffprobe's view of a file: {"format", "codec", "width", "height", "duration", "frames"}.

    "format" is ffprobe's format_name (e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi",
    "png_pipe"); "frames" is counted by decoding, so it is exact. Raises EnvironmentProblem when
    ffprobe cannot read the file.
    """
    ffprobe = _tool("ffprobe")
    result = subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "format=format_name,duration:stream=codec_name,width,height,nb_read_frames",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EnvironmentProblem(f"ffprobe cannot read {path}: {result.stderr.strip()[-400:]}")
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams") or [{}]
    stream, fmt = streams[0], data.get("format", {})

    def number(value, kind):
        try:
            return kind(value)
        except (TypeError, ValueError):
            return None

    return {
        "format": fmt.get("format_name"),
        "codec": stream.get("codec_name"),
        "width": stream.get("width"),
        "height": stream.get("height"),
        "duration": number(fmt.get("duration"), float),
        "frames": number(stream.get("nb_read_frames"), int),
    }
