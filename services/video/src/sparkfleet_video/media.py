"""ffprobe before anything else, segment planning, and cutting segments with ffmpeg (or handing a small clip to
vLLM as it is)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import ApiError

log = logging.getLogger("sparkfleet_video")

PROBE_TIMEOUT_S = 60
CUT_TIMEOUT_S = 600
MIN_TAIL_S = 1.0  # a last segment shorter than this is merged into the one before
MAX_HEIGHT = 360
MAX_WIDTH = 640  # a very wide frame (8000x64) is scaled down too: vLLM would turn every pixel into tokens
PRIVATE_DIR = 0o750  # media folders: the service and vLLM's group
SEGMENT_FILE = 0o640

# ffprobe "formats" that are still images or text, not videos
_IMAGE_FORMATS = ("image2", "tty", "gif")  # plus every *_pipe (png_pipe, jpeg_pipe, webp_pipe, ...)
_IMAGE_CODECS = {"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "ansi", "apng"}
# files that vLLM's video loader was checked to read like a re-encoded segment (h264 in mp4)
_AS_IS_CONTAINER = "mov,mp4,m4a,3gp,3g2,mj2"
_AS_IS_CODECS = ("h264",)
LOADER_MIN_FRAMES = 4  # vLLM's Qwen3-VL video loader keeps at least this many frames
# longer files are re-encoded: vLLM reads the whole file into memory and decodes every frame in its API server
AS_IS_MAX_FRAMES = 1800
# The demuxers of the containers this service takes (ffmpeg's names: "mov" reads mp4/mov/3gp, "matroska" webm too;
# "mpeg" is MPEG-PS, "mpegvideo" an MPEG elementary stream). Playlists, manifests and lists (hls, dash, concat, ...)
# are refused: they name other files or URLs that ffmpeg would open, so an upload could read what is not its own.
DEMUXERS = ("mov", "matroska", "webm", "avi", "mpeg", "mpegvideo", "mpegts", "flv", "ogg", "asf")
# Given before every -i: the job's input is one local file, read with the file protocol only (no pipe, no network).
INPUT_LIMITS = ("-protocol_whitelist", "file", "-format_whitelist", ",".join(DEMUXERS))


@dataclass(frozen=True)
class VideoInfo:
    container: str
    codec: str
    duration_s: float
    width: int
    height: int
    size_bytes: int
    frame_rate: float | None = None
    frames: int | None = None
    rotation: int = 0

    def as_dict(self) -> dict:
        return {"container": self.container, "codec": self.codec, "duration_s": round(self.duration_s, 3),
                "width": self.width, "height": self.height, "size_bytes": self.size_bytes,
                "frame_rate": self.frame_rate, "frames": self.frames, "rotation": self.rotation}


def looks_like_video_container(head: bytes) -> bool:
    """Magic bytes of the usual video containers: tells a broken video (422) from a non-video (415)."""
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # mp4/mov/3gp
            or head.startswith(b"\x1a\x45\xdf\xa3")  # matroska/webm (EBML)
            or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
            or head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3")  # MPEG-PS/ES
            or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47)  # MPEG-TS
            or head.startswith(b"FLV")
            or head.startswith(b"OggS")
            or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"))  # ASF/WMV


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ApiError(503, "ffmpeg_missing", f"{name} is not installed on this host",
                       "Install it: sudo apt-get install ffmpeg", headers={"Retry-After": "60"})
    return path


async def _run(args: list[str], timeout: float) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


# ffprobe's own words are never sent to the client (they hold paths and pointer addresses, and would tell a caller
# which paths exist): the reasons it gives that help the sender are told in ours, the rest in a generic sentence.
_KNOWN_REASONS = (("moov atom not found", "its mp4 index (moov atom not found) is missing: the file looks cut short"),
                  ("invalid data found when processing input", "no readable video data was found in it"),
                  ("end of file", "it ends before its data does"))


def _reason(stderr: str, path: Path, name: str) -> str:
    """Why ffprobe failed, in our words; ffprobe's own text goes to the journal."""
    log.info("ffprobe could not read %s (%s): %s", name, path, " | ".join(stderr.strip().splitlines()[-3:])[:500])
    low = stderr.lower()
    return next((ours for theirs, ours in _KNOWN_REASONS if theirs in low), "ffprobe could not read it")


async def probe(path: Path, name: str, max_duration_s: float) -> VideoInfo:
    """What the file is, or the ApiError that tells the client why it cannot be analysed."""
    size = path.stat().st_size
    if size == 0:
        raise ApiError(400, "empty_file", f"{name} is empty (0 bytes)", "Send the video file's content.")
    with path.open("rb") as fh:
        head = fh.read(512)
    args = [_tool("ffprobe"), "-v", "error", *INPUT_LIMITS, "-print_format", "json", "-show_format",
            "-show_streams", str(path)]
    try:
        rc, out, err = await _run(args, PROBE_TIMEOUT_S)
    except TimeoutError as exc:
        raise ApiError(422, "unreadable_video", f"ffprobe took longer than {PROBE_TIMEOUT_S} s to read {name}",
                       "Re-encode the video (e.g. ffmpeg -i in -c:v libx264 out.mp4) and send it again.") from exc
    if rc != 0:
        if "not on whitelist" in err:
            raise ApiError(415, "not_a_video", f"{name} is not a video this service takes: it is a playlist, a "
                           "manifest or a format other than the usual video containers",
                           "Send the video file itself (mp4, webm, mkv, mov, avi, ...), not a playlist (m3u8), "
                           "a manifest (mpd) or a list of files.")
        if not looks_like_video_container(head):
            raise ApiError(415, "not_a_video", f"{name} is not a video file ({_reason(err, path, name)})",
                           "Send a video (mp4, webm, mkv, mov, avi, ...).")
        raise ApiError(422, "unreadable_video", f"{name} cannot be read: {_reason(err, path, name)}",
                       "The file looks corrupt or truncated (an mp4 cut short loses its index); "
                       "upload the complete file or re-encode it.")
    try:
        data = json.loads(out)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "unreadable_video", f"ffprobe gave no readable answer for {name}",
                       "Re-encode the video and send it again.") from exc
    fmt = data.get("format") or {}
    container = str(fmt.get("format_name") or "")
    videos = [s for s in data.get("streams") or [] if s.get("codec_type") == "video"
              and not (s.get("disposition") or {}).get("attached_pic")]
    is_image_format = container.endswith("_pipe") or container in _IMAGE_FORMATS
    only_images = all(s.get("codec_name") in _IMAGE_CODECS for s in videos) and not looks_like_video_container(head)
    if not videos or is_image_format or only_images:
        kind = "an image" if videos else "not a video"
        raise ApiError(415, "not_a_video", f"{name} is {kind} (ffprobe: format {container or 'unknown'}, "
                       f"{len(videos)} video stream(s))", "Send a video (mp4, webm, mkv, mov, avi, ...).")
    stream = videos[0]
    duration = _float(fmt.get("duration")) or _float(stream.get("duration"))
    if not duration or duration <= 0 or not math.isfinite(duration):
        raise ApiError(422, "unreadable_video", f"{name} has no readable duration",
                       "The file looks corrupt or is a live stream dump; re-encode it "
                       "(ffmpeg -i in -c:v libx264 out.mp4) and send it again.")
    if duration > max_duration_s:
        raise ApiError(422, "too_long", f"{name} lasts {duration:.1f} s; this service takes at most "
                       f"{max_duration_s:g} s", "Cut the video into shorter parts (ffmpeg -ss START -t SECONDS) "
                       "or ask the operator to raise SPARKFLEET_VIDEO_MAX_DURATION_S.")
    return VideoInfo(container=container, codec=str(stream.get("codec_name") or ""), duration_s=duration,
                     width=int(stream.get("width") or 0), height=int(stream.get("height") or 0), size_bytes=size,
                     frame_rate=_rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate")),
                     frames=int(_float(stream.get("nb_frames")) or 0) or None, rotation=_rotation(stream))


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rate(value) -> float | None:
    """ffprobe's "30000/1001" as a number; None for "0/0" (unknown)."""
    num, _, den = str(value or "").partition("/")
    rate = (_float(num) or 0.0) / (_float(den) or 1.0)
    return rate if rate > 0 and math.isfinite(rate) else None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if side.get("rotation") is not None:
            return int(_float(side["rotation"]) or 0) % 360
    return int(_float((stream.get("tags") or {}).get("rotate")) or 0) % 360


def plan_segments(duration_s: float, segment_seconds: float) -> list[tuple[float, float]]:
    """[(start, end), ...] of `segment_seconds` each over the duration; the last one is shorter, and a
    tail shorter than MIN_TAIL_S is merged into the previous segment."""
    if duration_s <= 0:
        return []
    bounds: list[tuple[float, float]] = []
    start = 0.0
    while start < duration_s - 1e-6:
        end = min(start + segment_seconds, duration_s)
        bounds.append((round(start, 3), round(end, 3)))
        start = end
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < MIN_TAIL_S:
        tail = bounds.pop()
        bounds[-1] = (bounds[-1][0], tail[1])
    return bounds


def segment_fps(fps: float, length_s: float) -> float:
    """Frame rate of a segment file: the requested fps, but at least 2 frames in the segment (the model's video
    processor needs two frames for one temporal patch)."""
    return max(fps, 2.0 / max(length_s, 0.1))


def as_is_fps(video: dict, fps: float) -> float | None:
    """The fps to ask vLLM's loader for when a one-segment video can go to vLLM unchanged; None when it must be
    re-encoded. The model must then see what a re-encoded segment gives it, as many frames at the same size:
    so the file must be what the loader reads like a segment (h264 in mp4), within MAX_WIDTH x MAX_HEIGHT and not
    rotated (the re-encode would scale and turn it), and hold the frames the re-encode would keep. ffmpeg's fps
    filter keeps round(length * fps) frames, vLLM's Qwen3-VL loader floor(frames / frame_rate * its fps), at
    least LOADER_MIN_FRAMES: asking it for (kept + 0.5) / length makes it keep exactly as many."""
    rate, frames = video.get("frame_rate"), video.get("frames")
    if not (video.get("container") == _AS_IS_CONTAINER and video.get("codec") in _AS_IS_CODECS and rate
            and 0 < (frames or 0) <= AS_IS_MAX_FRAMES and 0 < int(video.get("height") or 0) <= MAX_HEIGHT
            and 0 < int(video.get("width") or 0) <= MAX_WIDTH
            and not video.get("rotation")):
        return None
    length = frames / rate
    kept = math.floor(length * fps + 0.5)
    # under the loader's minimum it would take more frames; over the file's frames the re-encode repeats some
    if not LOADER_MIN_FRAMES <= kept <= frames:
        return None
    return (kept + 0.5) / length


def job_media_dir(dest: Path) -> None:
    """The job's segment folder, 0750 at most (no chmod: it would drop the setgid bit it inherits, as the
    service is not in vLLM's group; __main__ sets the umask that gives vLLM's group read access)."""
    dest.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def place_as_is(source: Path, dest: Path) -> None:
    """Put a copy of the upload where vLLM may read it, 0640 (vLLM's group, from the folder). A copy, not a hard
    link: a link is the same file, so it would make the upload itself readable to vLLM's group (the clips that go
    as they are are small: at most AS_IS_MAX_FRAMES frames, MAX_HEIGHT high)."""
    job_media_dir(dest)
    tmp = dest.with_suffix(".part.mp4")
    tmp.unlink(missing_ok=True)
    try:
        shutil.copyfile(source, tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"could not copy the video for vLLM: {exc.strerror}") from exc
    os.chmod(tmp, SEGMENT_FILE)
    tmp.replace(dest)


async def cut_segment(source: Path, dest: Path, start_s: float, end_s: float, fps: float) -> None:
    """Re-encode [start, end) of `source` into a small h264 mp4 (within 640x360, `fps`, no audio), 0640."""
    job_media_dir(dest)
    tmp = dest.with_suffix(".part.mp4")
    length = max(end_s - start_s, 0.1)
    # within MAX_WIDTH x MAX_HEIGHT, the aspect kept, never scaled up, even sizes (h264 with yuv420p needs them)
    vf = (f"scale='min({MAX_WIDTH},iw)':'min({MAX_HEIGHT},ih)':force_original_aspect_ratio=decrease:"
          f"force_divisible_by=2,fps={segment_fps(fps, length):g}")
    args = [_tool("ffmpeg"), "-nostdin", "-v", "error", "-y", *INPUT_LIMITS, "-ss", f"{start_s:.3f}",
            "-i", str(source),
            "-t", f"{length:.3f}", "-an", "-sn", "-dn", "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    rc, _, err = await _run(args, CUT_TIMEOUT_S)
    if rc != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        lines = [line for line in err.strip().splitlines() if line.strip()]
        raise RuntimeError("ffmpeg could not cut the segment: " + ("; ".join(lines[-2:])[:300] or f"rc {rc}"))
    os.chmod(tmp, SEGMENT_FILE)
    tmp.replace(dest)
