"""Jobs in SQLite (stdlib sqlite3, WAL), called from asyncio through a worker thread.

A row holds the job's JSON as the API shows it, plus columns to query by (status, created_at) and private ones
(the uploaded file's path, whether it has expired)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

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
"""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- sync API (runs in a thread) ---
    def _put(self, job: dict, data: str, upload_path: str | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs(id, status, created_at, updated_at, upload_path, data) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET status=excluded.status, updated_at=excluded.updated_at, "
                "data=excluded.data, upload_path=COALESCE(excluded.upload_path, jobs.upload_path)",
                (job["id"], job["status"], job["created_at"], job["updated_at"], upload_path, data))

    def _get(self, job_id: str) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()

    def _list(self, status: str | None, limit: int) -> list[dict]:
        with self._lock:
            if status:
                rows = self._db.execute("SELECT data FROM jobs WHERE status=? ORDER BY created_at DESC, rowid DESC "
                                        "LIMIT ?", (status, limit)).fetchall()
            else:
                rows = self._db.execute("SELECT data FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                                        (limit,)).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def _by_status(self, statuses: tuple[str, ...]) -> list[dict]:
        marks = ",".join("?" * len(statuses))
        with self._lock:
            rows = self._db.execute(f"SELECT data FROM jobs WHERE status IN ({marks}) ORDER BY created_at",
                                    statuses).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def _delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))

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
    async def put(self, job: dict, upload_path: str | None = None) -> None:
        data = json.dumps(job)  # here, in the event loop: the job may change while the thread writes
        await asyncio.to_thread(self._put, job, data, upload_path)

    async def get(self, job_id: str) -> dict | None:
        row = await asyncio.to_thread(self._get, job_id)
        return json.loads(row["data"]) if row else None

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
