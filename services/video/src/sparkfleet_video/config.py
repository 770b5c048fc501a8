"""Settings of the video service, all from environment variables (read once, by `Settings.from_env`).

| variable | default | meaning |
|---|---|---|
| SPARKFLEET_VIDEO_VLLM_URL | http://127.0.0.1:8000 | base URL of the host's vLLM (OpenAI-compatible server) |
| SPARKFLEET_VIDEO_VLLM_UNIT | (empty) | vLLM's systemd unit: when vLLM does not answer, its state (restarting,
  systemd gave up) says why in /health and in the 503 |
| SPARKFLEET_VIDEO_MODEL | (empty) | served model name; empty: the first model that vLLM's /v1/models lists |
| SPARKFLEET_VIDEO_DATA_DIR | /var/lib/sparkfleet/video | SQLite database (jobs.db) and uploads (uploads/<job>/) |
| SPARKFLEET_VIDEO_MEDIA_DIR | /var/lib/sparkfleet/media | segment files (<job>/seg-<n>.mp4) that vLLM reads as
  file:// URLs; must be vLLM's --allowed-local-media-path (or inside it) |
| SPARKFLEET_VIDEO_API_KEY_FILE | (empty) | a file holding the API key; when it exists and is non-empty,
  /v1/*, /api/* and /metrics need the header X-API-Key (re-read at most every 5 s: a new key applies without a
  restart); a file that exists but cannot be read or is not UTF-8 refuses them all (503 api_key_unreadable) |
| SPARKFLEET_VIDEO_VLLM_API_KEY_FILE | (empty) | a file holding vLLM's API key, sent to vLLM as a bearer token
  (read at start; needed when vLLM listens beyond loopback) |
| SPARKFLEET_VIDEO_MAX_UPLOAD_MB | 2048 | largest upload or URL download, in MiB (enforced while reading) |
| SPARKFLEET_VIDEO_MAX_DURATION_S | 3600 | longest video accepted, in seconds |
| SPARKFLEET_VIDEO_MAX_CONCURRENCY | 2 | segment requests in flight to vLLM, all jobs together |
| SPARKFLEET_VIDEO_PER_JOB_CONCURRENCY | 2 | segment requests in flight for one job (capped at the global limit) |
| SPARKFLEET_VIDEO_RETENTION_HOURS | 24 | uploads and segment files of finished jobs are deleted after this many hours
  (results stay); 0 keeps them forever |
| SPARKFLEET_VIDEO_BENCH_DIR | /var/lib/sparkfleet/bench | benchmark result JSON files served at /api/bench |
| SPARKFLEET_VIDEO_NOTES_FILE | /var/lib/sparkfleet/NOTES.md | the host's notes served at /api/notes |
| SPARKFLEET_VIDEO_MAX_TOKENS | 256 | max_tokens of each segment's answer (the summary gets twice this) |
| SPARKFLEET_VIDEO_URL_HOSTS | (empty) | hosts videos may be fetched from by URL (comma-separated, `*`: any); |
|   |   | empty turns URL sources off; `*` never reaches a non-global address (loopback, LAN, link-local): |
|   |   | a host named here may |
| SPARKFLEET_VIDEO_URL_DEADLINE_S | 60 | a URL download ends after this many seconds, however the server trickles |
| SPARKFLEET_VIDEO_MAX_URL_FETCHES | 2 | URL downloads at once (more: 429) |
| SPARKFLEET_VIDEO_ALLOWED_HOSTS | localhost,127.0.0.1,::1 | names and addresses the Host header may carry |
|   |   | (comma-separated; loopback always; `*`: any): a DNS-rebinding page is refused |
| SPARKFLEET_VIDEO_ALLOWED_ORIGINS | (empty) | origins (https://name:port) besides the service's own that may send |
|   |   | POST/DELETE from a browser |
| SPARKFLEET_VIDEO_TLS_CERT_FILE | (empty) | PEM certificate (chain): with TLS_KEY_FILE the service serves HTTPS |
| SPARKFLEET_VIDEO_TLS_KEY_FILE | (empty) | its PEM private key |
| SPARKFLEET_VIDEO_MAX_SEGMENTS | 400 | segments one job may have (more: 413 too_many_segments) |
| SPARKFLEET_VIDEO_MAX_QUEUED_SEGMENTS | 2000 | segments waiting in all jobs together (more: 429 queue_full) |
| SPARKFLEET_VIDEO_MAX_UPLOADS | 4 | uploads received at once (more: 429 too_many_uploads) |
| SPARKFLEET_VIDEO_DISK_RESERVE_MB | 1024 | free space kept on the data folder's disk: an upload that would go |
|   |   | below it is refused (507 insufficient_storage) and removed |

Fractional values are accepted for the MB, seconds and hours settings (the tests use tiny limits).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PREFIX = "SPARKFLEET_VIDEO_"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


def _get(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(PREFIX + name, "")
    return value.strip() if value.strip() else default


def _names(raw: str) -> tuple[str, ...]:
    """A comma-separated list, lower case, without blanks or repeats, in order; IPv6 brackets removed."""
    names = (n.strip().lower().removeprefix("[").removesuffix("]") for n in raw.split(","))
    return tuple(dict.fromkeys(n for n in names if n))


def _number(env: dict[str, str], name: str, default: float, minimum: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{name}={raw!r} is not a number") from exc
    if value < minimum:
        raise ConfigError(f"{PREFIX}{name}={raw!r} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    vllm_url: str = "http://127.0.0.1:8000"
    model: str = ""
    vllm_unit: str = ""
    data_dir: Path = Path("/var/lib/sparkfleet/video")
    media_dir: Path = Path("/var/lib/sparkfleet/media")
    api_key_file: Path | None = None
    vllm_api_key_file: Path | None = None
    max_upload_bytes: int = 2048 * 1024 * 1024
    max_duration_s: float = 3600.0
    max_concurrency: int = 2
    per_job_concurrency: int = 2
    retention_hours: float = 24.0
    bench_dir: Path = Path("/var/lib/sparkfleet/bench")
    notes_file: Path = Path("/var/lib/sparkfleet/NOTES.md")
    max_tokens: int = 256
    # Hosts videos may be fetched from by URL ("*": any). Empty: URL sources are off, so the service never
    # makes requests to addresses a client chose (no server-side request forgery by default).
    url_hosts: tuple[str, ...] = ()
    url_deadline_s: float = 60.0
    max_url_fetches: int = 2
    # Host header values accepted (names or addresses, no port); loopback is always added. ("*",): any.
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    allowed_origins: tuple[str, ...] = ()
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    max_segments: int = 400
    max_queued_segments: int = 2000
    max_uploads: int = 4
    disk_reserve_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        key_file = _get(env, "API_KEY_FILE", "")
        vllm_key_file = _get(env, "VLLM_API_KEY_FILE", "")
        max_concurrency = int(_number(env, "MAX_CONCURRENCY", 2, 1))
        return cls(
            vllm_url=_get(env, "VLLM_URL", "http://127.0.0.1:8000").rstrip("/"),
            model=_get(env, "MODEL", ""),
            vllm_unit=_get(env, "VLLM_UNIT", ""),
            data_dir=Path(_get(env, "DATA_DIR", "/var/lib/sparkfleet/video")),
            media_dir=Path(_get(env, "MEDIA_DIR", "/var/lib/sparkfleet/media")),
            api_key_file=Path(key_file) if key_file else None,
            vllm_api_key_file=Path(vllm_key_file) if vllm_key_file else None,
            max_upload_bytes=int(_number(env, "MAX_UPLOAD_MB", 2048, 0) * 1024 * 1024),
            max_duration_s=_number(env, "MAX_DURATION_S", 3600, 0),
            max_concurrency=max_concurrency,
            per_job_concurrency=min(int(_number(env, "PER_JOB_CONCURRENCY", 2, 1)), max_concurrency),
            retention_hours=_number(env, "RETENTION_HOURS", 24, 0),
            bench_dir=Path(_get(env, "BENCH_DIR", "/var/lib/sparkfleet/bench")),
            notes_file=Path(_get(env, "NOTES_FILE", "/var/lib/sparkfleet/NOTES.md")),
            max_tokens=int(_number(env, "MAX_TOKENS", 256, 1)),
            url_hosts=_names(_get(env, "URL_HOSTS", "")),
            url_deadline_s=_number(env, "URL_DEADLINE_S", 60, 0.1),
            max_url_fetches=int(_number(env, "MAX_URL_FETCHES", 2, 1)),
            allowed_hosts=_names(_get(env, "ALLOWED_HOSTS", "") + "," + ",".join(LOOPBACK_NAMES)),
            allowed_origins=_names(_get(env, "ALLOWED_ORIGINS", "")),
            tls_cert_file=Path(cert) if (cert := _get(env, "TLS_CERT_FILE", "")) else None,
            tls_key_file=Path(tls_key) if (tls_key := _get(env, "TLS_KEY_FILE", "")) else None,
            max_segments=int(_number(env, "MAX_SEGMENTS", 400, 1)),
            max_queued_segments=int(_number(env, "MAX_QUEUED_SEGMENTS", 2000, 1)),
            max_uploads=int(_number(env, "MAX_UPLOADS", 4, 1)),
            disk_reserve_bytes=int(_number(env, "DISK_RESERVE_MB", 1024, 0) * 1024 * 1024),
        ).checked()

    def checked(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError(f"{PREFIX}TLS_CERT_FILE and {PREFIX}TLS_KEY_FILE go together: set both or neither")
        return self

    def vllm_api_key(self) -> str:
        """vLLM's key from its file; a file set but unreadable stops the start (the service could not work)."""
        if self.vllm_api_key_file is None:
            return ""
        try:
            return self.vllm_api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{PREFIX}VLLM_API_KEY_FILE={self.vllm_api_key_file}: cannot read it ({exc})") from exc

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.db"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def drain_file(self) -> Path:
        """While it exists (written by `sparkfleet upgrade` before a restart), new jobs are refused with 503."""
        return self.data_dir / "draining"
