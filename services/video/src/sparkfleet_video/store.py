"""Jobs in SQLite (stdlib sqlite3, WAL), called from asyncio through a worker thread.

A job row holds the job's JSON as the API shows it, without its segments, plus columns to query by (status,
created_at) and private ones (the uploaded file's path, whether it has expired). Each segment is its own row: a
job of hundreds of segments writes one small row per segment change, not the whole job again (schema version 2;
a version-1 file, with the segments inside the job's JSON, is migrated when opened).

A file that is not a database or fails SQLite's quick_check is moved aside (jobs.db.corrupt-<time>) and a new one
made with the jobs that could still be read from it: the service starts instead of crash-looping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("sparkfleet_video")

VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    upload_path TEXT,
    expired INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
"""
SEGMENT_FIELDS = ("index", "start_s", "end_s", "status", "text", "usage", "seconds", "attempts", "error")


def _segment_row(seg: dict) -> tuple[int, str]:
    return int(seg["index"]), json.dumps({k: seg.get(k) for k in SEGMENT_FIELDS})


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _healthy(path: Path) -> bool:
    if not path.exists():
        return True
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False


def _readable_rows(path: Path) -> list[sqlite3.Row]:
    """The job rows (with their segments, when the file has them) that can still be read from a damaged file."""
    rows: list = []
    with contextlib.suppress(sqlite3.DatabaseError):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            cursor = db.execute("SELECT * FROM jobs")
            while True:
                try:
                    row = cursor.fetchone()
                except sqlite3.DatabaseError:
                    break
                if row is None:
                    break
                job = dict(row)
                with contextlib.suppress(sqlite3.DatabaseError):
                    job["segment_rows"] = [r[0] for r in db.execute(
                        "SELECT data FROM segments WHERE job_id=? ORDER BY idx", (job["id"],))]
                rows.append(job)
        finally:
            db.close()
    return rows


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        salvaged = None
        if not _healthy(path):
            aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(path) + suffix).rename(str(aside) + suffix)
            salvaged = _readable_rows(aside)
            log.error("%s is damaged: moved aside to %s; %d job(s) could be read from it and are kept",
                      path, aside, len(salvaged))
        self._db = _connect(path)
        with self._lock:
            self._migrate()
            if salvaged:
                self._restore(salvaged)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        had_jobs = self._db.execute("SELECT 1 FROM sqlite_master WHERE name='jobs'").fetchone() is not None
        self._db.executescript(SCHEMA)
        if version >= VERSION:
            return
        self._db.execute("BEGIN")
        if had_jobs:  # version 1: the segments are inside each job's JSON
            for row in self._db.execute("SELECT id, data FROM jobs").fetchall():
                job = json.loads(row["data"])
                self._write_segments(row["id"], job.pop("segments", None) or [])
                self._db.execute("UPDATE jobs SET data=? WHERE id=?", (json.dumps(job), row["id"]))
        self._db.execute(f"PRAGMA user_version={VERSION}")
        self._db.execute("COMMIT")

    def _restore(self, rows: list[dict]) -> None:
        self._db.execute("BEGIN")
        for row in rows:
            try:
                job = json.loads(row["data"])
            except (TypeError, ValueError):
                continue
            segments = job.pop("segments", None) or [json.loads(s) for s in row.get("segment_rows") or []]
            self._db.execute("INSERT OR IGNORE INTO jobs(id, status, created_at, updated_at, upload_path, expired, "
                             "data) VALUES (?,?,?,?,?,?,?)", (row["id"], row["status"], row["created_at"],
                                                              row["updated_at"], row["upload_path"],
                                                              row["expired"], json.dumps(job)))
            self._write_segments(row["id"], segments)
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- sync API (runs in a thread) ---
    def _write_segments(self, job_id: str, segments: list[dict] | list[tuple[int, str]]) -> None:
        rows = [s if isinstance(s, tuple) else _segment_row(s) for s in segments]
        self._db.executemany(
            "INSERT INTO segments(job_id, idx, data) VALUES (?,?,?) ON CONFLICT(job_id, idx) DO UPDATE SET "
            "data=excluded.data", [(job_id, idx, data) for idx, data in rows])

    def _put(self, job: dict, data: str, upload_path: str | None, segments: list[tuple[int, str]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT INTO jobs(id, status, created_at, updated_at, upload_path, data) VALUES (?,?,?,?,?,?) "
                    "ON CONFLICT(id) DO UPDATE SET status=excluded.status, updated_at=excluded.updated_at, "
                    "data=excluded.data, upload_path=COALESCE(excluded.upload_path, jobs.upload_path)",
                    (job["id"], job["status"], job["created_at"], job["updated_at"], upload_path, data))
                self._write_segments(job["id"], segments)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _get(self, job_id: str) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()

    def _assemble(self, rows: list[sqlite3.Row]) -> list[dict]:
        """Jobs with their segments (one query for all of them); call with the lock held."""
        jobs = [json.loads(r["data"]) for r in rows]
        if not jobs:
            return jobs
        marks = ",".join("?" * len(jobs))
        by_job: dict[str, list[dict]] = {j["id"]: [] for j in jobs}
        for seg in self._db.execute(f"SELECT job_id, data FROM segments WHERE job_id IN ({marks}) "
                                    "ORDER BY job_id, idx", [j["id"] for j in jobs]):
            by_job[seg["job_id"]].append(json.loads(seg["data"]))
        for job in jobs:
            job["segments"] = by_job[job["id"]]
        return jobs

    def _get_job(self, job_id: str) -> dict | None:
        with self._lock:
            rows = self._db.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchall()
            jobs = self._assemble(rows)
        return jobs[0] if jobs else None

    def _list(self, status: str | None, limit: int) -> list[dict]:
        with self._lock:
            if status:
                rows = self._db.execute("SELECT data FROM jobs WHERE status=? ORDER BY created_at DESC, rowid DESC "
                                        "LIMIT ?", (status, limit)).fetchall()
            else:
                rows = self._db.execute("SELECT data FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                                        (limit,)).fetchall()
            return self._assemble(rows)

    def _by_status(self, statuses: tuple[str, ...]) -> list[dict]:
        marks = ",".join("?" * len(statuses))
        with self._lock:
            rows = self._db.execute(f"SELECT data FROM jobs WHERE status IN ({marks}) ORDER BY created_at",
                                    statuses).fetchall()
            return self._assemble(rows)

    def _delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))  # its segments go with it (cascade)

    def _expirable(self, before_iso: str) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(
                "SELECT id, upload_path FROM jobs WHERE expired=0 AND status IN ('done','failed','cancelled') "
                "AND updated_at < ?", (before_iso,)).fetchall()

    def _mark_expired(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET expired=1 WHERE id=?", (job_id,))

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        return {r["status"]: r["n"] for r in rows}

    # --- async API ---
    async def put(self, job: dict, upload_path: str | None = None, segments: list[dict] | None = None) -> None:
        """Writes the job and `segments` (default: all of the job's; [] writes the job's own row only)."""
        # serialised here, in the event loop: the job may change while the thread writes
        data = json.dumps({k: v for k, v in job.items() if k != "segments"})
        rows = [_segment_row(s) for s in (job.get("segments") or [] if segments is None else segments)]
        await asyncio.to_thread(self._put, job, data, upload_path, rows)

    async def get(self, job_id: str) -> dict | None:
        return await asyncio.to_thread(self._get_job, job_id)

    async def get_row(self, job_id: str) -> sqlite3.Row | None:
        return await asyncio.to_thread(self._get, job_id)

    async def list(self, status: str | None = None, limit: int = 50) -> list[dict]:
        return await asyncio.to_thread(self._list, status, limit)

    async def unfinished(self) -> list[dict]:
        return await asyncio.to_thread(self._by_status, ("queued", "probing", "running"))

    async def delete(self, job_id: str) -> None:
        await asyncio.to_thread(self._delete, job_id)

    async def expirable(self, before_iso: str) -> list[sqlite3.Row]:
        return await asyncio.to_thread(self._expirable, before_iso)

    async def mark_expired(self, job_id: str) -> None:
        await asyncio.to_thread(self._mark_expired, job_id)
