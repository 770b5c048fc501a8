"""Running jobs: cut segments (or pass a small clip as it is), ask vLLM about each (bounded by a global AND a
per-job semaphore), summarise, keep the store and the watchers (SSE, wait) up to date; resume unfinished jobs at
start; retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .config import Settings
from .media import as_is_fps, cut_segment, place_as_is, plan_segments
from .metrics import Metrics
from .store import Store
from .vllm import VllmClient, VllmRejected, VllmUnavailable

log = logging.getLogger("sparkfleet_video")

FINISHED = ("done", "failed", "cancelled")
ATTEMPTS = 3
ORPHAN_AGE_S = 3600
SUMMARY_MAX_CHARS = 48000  # segment text put into the summary prompt, at most


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def new_job_id() -> str:
    return "j_" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(4)


def new_job(job_id: str, prompt: str, source: dict, options: dict, video: dict, probe_s: float) -> dict:
    ts = now_iso()
    return {"id": job_id, "status": "queued", "created_at": ts, "updated_at": ts, "prompt": prompt,
            "source": source, "options": options, "video": video,
            "progress": {"segments_total": 0, "segments_done": 0}, "segments": [], "summary": None,
            "model": None, "usage": {"prompt_tokens": 0, "completion_tokens": 0},
            "timings": {"probe_s": round(probe_s, 3), "analysis_s": None, "total_s": None}, "error": None}


class JobFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fmt_t(seconds: float) -> str:
    return f"{seconds:.1f}s"


def segment_prompt(prompt: str, index: int, total: int, start_s: float, end_s: float) -> str:
    if total <= 1:
        return prompt
    return (f"{prompt}\n\n(This clip is part {index + 1} of {total} of a longer video: "
            f"{_fmt_t(start_s)} to {_fmt_t(end_s)}.)")


def summary_budgets(max_model_len: int | None, max_tokens: int) -> list[int]:
    """Characters of segment text to try in the summary prompt: what the context leaves after the answer and
    the instructions (~1.5 characters a token, cautious for odd text), then a third, then a tenth of that."""
    first = SUMMARY_MAX_CHARS
    if max_model_len:
        first = min(first, max(int((max_model_len - 2 * max_tokens - 300) * 1.5), 400))
    return [first, max(first // 3, 200), max(first // 10, 100)]


def summary_prompt(prompt: str, segments: list[dict], budget_chars: int = SUMMARY_MAX_CHARS) -> str:
    """The text-only request that turns the segments' answers (with their times) into one summary. Each
    segment's text is cut to an equal share of `budget_chars` so the prompt fits the model's context."""
    done = [s for s in segments if s.get("status") == "done" and (s.get("text") or "").strip()]
    share = max(budget_chars // max(len(done), 1), 40)
    lines = []
    for seg in done:
        text = " ".join(seg["text"].split())
        if len(text) > share:
            text = text[: share - 1].rstrip() + "…"
        lines.append(f"[{_fmt_t(seg['start_s'])} - {_fmt_t(seg['end_s'])}] {text}")
    return ("A video was analysed in consecutive segments. The request for each segment was:\n"
            f"{prompt}\n\nThe answers, one per segment, with its time range:\n" + "\n".join(lines) +
            "\n\nWrite one answer to the request for the whole video, drawing on all the segments in order "
            "and citing times where they help.")


class JobManager:
    def __init__(self, settings: Settings, store: Store, vllm: VllmClient, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.vllm = vllm
        self.metrics = metrics
        self.global_slots = asyncio.Semaphore(settings.max_concurrency)
        self.cut_slots = asyncio.Semaphore(max(2, settings.max_concurrency))
        self.retry_wait_s = 120.0  # how long to wait for vLLM's /health between attempts
        self.retention_interval_s = 300.0
        self.tasks: dict[str, asyncio.Task] = {}
        self._jobs: dict[str, dict] = {}  # live copies of active jobs
        self._save_locks: dict[str, asyncio.Lock] = {}
        self._versions: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._deleting: set[str] = set()
        self.queue_depth = 0
        self._background: list[asyncio.Task] = []

    # --- life cycle ---
    async def start(self) -> None:
        for job in await self.store.unfinished():
            log.info("resuming job %s (%s)", job["id"], job["status"])
            self._spawn(job)
        self._background.append(asyncio.create_task(self._retention_loop()))

    async def stop(self) -> None:
        tasks = list(self.tasks.values()) + self._background
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()
        self._background.clear()

    # --- paths ---
    def upload_dir(self, job_id: str) -> Path:
        return self.settings.uploads_dir / job_id

    def media_dir(self, job_id: str) -> Path:
        return self.settings.media_dir / job_id

    # --- submit, watch, cancel ---
    async def submit(self, job: dict, upload_path: Path) -> None:
        self._jobs[job["id"]] = job  # counted by pending_segments() from now on
        await self.store.put(job, str(upload_path))
        self._spawn(job)

    def pending_segments(self) -> int:
        """Segments not yet analysed in the active jobs (planned from the duration where not cut yet)."""
        total = 0
        for job in self._jobs.values():
            if job["segments"]:
                total += sum(1 for s in job["segments"] if s["status"] in ("queued", "running"))
            else:
                total += len(plan_segments(float(job["video"]["duration_s"]),
                                           float(job["options"]["segment_seconds"])))
        return total

    def _spawn(self, job: dict) -> None:
        self._jobs[job["id"]] = job
        self._versions.setdefault(job["id"], 0)
        task = asyncio.create_task(self._run(job), name=f"job-{job['id']}")
        self.tasks[job["id"]] = task
        task.add_done_callback(lambda _t, job_id=job["id"]: self.tasks.pop(job_id, None))

    def live(self, job_id: str) -> dict | None:
        """The in-memory copy of an active job (fresher than the store by at most one write), else None."""
        job = self._jobs.get(job_id)
        return _copy(job) if job is not None else None

    async def get(self, job_id: str) -> dict | None:
        live = self._jobs.get(job_id)
        return _copy(live) if live is not None else await self.store.get(job_id)

    async def _save(self, job: dict, segments: list[dict] | None = None) -> None:
        """Writes the job's own row, and the rows of `segments` (those that changed; None: none)."""
        job["updated_at"] = now_iso()
        lock = self._save_locks.setdefault(job["id"], asyncio.Lock())
        async with lock:
            await self.store.put(_copy(job), segments=[_copy_segment(s) for s in segments or []])
        self._versions[job["id"]] = self._versions.get(job["id"], 0) + 1
        async with self._changed:
            self._changed.notify_all()

    async def watch(self, job_id: str, keepalive_s: float = 15.0) -> AsyncIterator[dict | None]:
        """Yields the job now and after every change until it is finished (or gone); None as a keep-alive."""
        seen = -1
        while True:
            version = self._versions.get(job_id, 0)
            job = await self.get(job_id)
            if job is None:
                return
            if version != seen or seen == -1:
                seen = version
                yield job
            if job["status"] in FINISHED:
                return
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda seen=seen: self._versions.get(job_id, 0) != seen),
                        keepalive_s)
                except TimeoutError:
                    yield None

    async def wait_finished(self, job_id: str, timeout_s: float) -> dict | None:
        deadline = time.monotonic() + timeout_s
        job = await self.get(job_id)
        while job is not None and job["status"] not in FINISHED:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, 5.0))
            job = await self.get(job_id)
        return job

    async def delete(self, job_id: str) -> bool:
        job = await self.get(job_id)
        if job is None:
            return False
        task = self.tasks.get(job_id)
        if task is not None:
            self._deleting.add(job_id)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self._deleting.discard(job_id)
            job = self._jobs.get(job_id, job)
            job["status"] = "cancelled"
            await self._save(job)
        self._forget(job_id)
        await self.store.delete(job_id)
        await asyncio.to_thread(self._remove_files, job_id)
        self._versions[job_id] = self._versions.get(job_id, 0) + 1
        async with self._changed:
            self._changed.notify_all()
        return True

    def _forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._save_locks.pop(job_id, None)

    def _remove_files(self, job_id: str) -> None:
        shutil.rmtree(self.upload_dir(job_id), ignore_errors=True)
        shutil.rmtree(self.media_dir(job_id), ignore_errors=True)

    # --- the work ---
    async def _run(self, job: dict) -> None:
        job_id = job["id"]
        started = time.monotonic()
        try:
            row = await self.store.get_row(job_id)
            upload = Path(row["upload_path"]) if row and row["upload_path"] else None
            if upload is None or not upload.exists():
                raise JobFailed("upload_missing", "the uploaded video is no longer on disk; submit it again")
            job["status"] = "running"
            job["error"] = None
            job["model"] = await self._model()
            if not job["segments"]:
                bounds = plan_segments(float(job["video"]["duration_s"]), float(job["options"]["segment_seconds"]))
                job["segments"] = [{"index": i, "start_s": s, "end_s": e, "status": "queued", "text": None,
                                    "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "seconds": None,
                                    "attempts": 0, "error": None} for i, (s, e) in enumerate(bounds)]
            for seg in job["segments"]:
                if seg["status"] == "running":  # interrupted by a restart
                    seg["status"] = "queued"
            self._progress(job)
            await self._save(job, job["segments"])
            per_job = asyncio.Semaphore(min(self.settings.per_job_concurrency, self.settings.max_concurrency))
            todo = [s for s in job["segments"] if s["status"] != "done"]
            for seg in todo:
                seg["_queued"] = True
            self.queue_depth += len(todo)
            try:
                async with asyncio.TaskGroup() as group:
                    for seg in todo:
                        group.create_task(self._segment(job, upload, seg, per_job))
            except BaseExceptionGroup as group_error:
                failed = [e for e in group_error.exceptions if isinstance(e, JobFailed)]
                if failed:
                    raise failed[0] from None
                raise
            finally:
                for seg in todo:
                    self._dequeue(seg)
            done = [s for s in job["segments"] if s["status"] == "done"]
            if not done:
                first = next((s["error"] for s in job["segments"] if s.get("error")), "no segment could be analysed")
                raise JobFailed("analysis_failed", first)
            job["summary"] = await self._summary(job, done)
            job["status"] = "done"
        except asyncio.CancelledError:
            if job_id in self._deleting:
                raise
            # service shutting down: leave the job as it is in the store, it resumes at the next start
            self._jobs.pop(job_id, None)
            raise
        except JobFailed as failure:
            job["status"] = "failed"
            job["error"] = {"code": failure.code, "message": failure.message}
            self.metrics.errors.labels(failure.code).inc()
        except Exception as exc:  # a bug or the disk: fail the job clearly, keep the service up
            log.exception("job %s failed", job_id)
            job["status"] = "failed"
            job["error"] = {"code": "internal", "message": f"the job hit an unexpected error ({type(exc).__name__})"}
            self.metrics.errors.labels("internal").inc()
        self._progress(job)
        timings = job["timings"]
        timings["analysis_s"] = round((timings.get("analysis_s") or 0.0) + time.monotonic() - started, 3)
        timings["total_s"] = round((datetime.now(UTC) - parse_iso(job["created_at"])).total_seconds(), 3)
        await self._save(job, job["segments"])
        self._forget(job_id)

    async def _model(self) -> str:
        try:
            return await self.vllm.model()
        except VllmUnavailable:
            if await self.vllm.wait_healthy(self.retry_wait_s):
                with contextlib.suppress(VllmUnavailable):
                    return await self.vllm.model()
            raise JobFailed("vllm_unavailable", "vLLM is not serving a model; the job was not started") from None

    def _progress(self, job: dict) -> None:
        segs = job["segments"]
        job["progress"] = {"segments_total": len(segs), "segments_done": sum(1 for s in segs if s["status"] == "done")}
        job["usage"] = {k: sum(int(s["usage"].get(k) or 0) for s in segs) + int(job.get("_summary_usage", {}).get(k, 0))
                        for k in ("prompt_tokens", "completion_tokens")}

    def _dequeue(self, seg: dict) -> None:
        if seg.pop("_queued", False):
            self.queue_depth -= 1

    async def _segment(self, job: dict, upload: Path, seg: dict, per_job: asyncio.Semaphore) -> None:
        fps = float(job["options"]["fps"])
        loader_fps = as_is_fps(job["video"], fps) if len(job["segments"]) == 1 else None
        async with per_job:
            seg["status"] = "running"
            await self._save(job, [seg])
            path = self.media_dir(job["id"]) / f"seg-{seg['index']}.mp4"
            if not path.exists():
                try:
                    if loader_fps:
                        await asyncio.to_thread(place_as_is, upload, path)
                    else:
                        async with self.cut_slots:
                            await cut_segment(upload, path, seg["start_s"], seg["end_s"], fps)
                except RuntimeError as exc:
                    log.warning("cutting segment %s of %s failed: %s", seg["index"], job["id"], exc)
                    self._dequeue(seg)
                    seg.update(status="failed", error=str(exc))
                    self.metrics.errors.labels("segment_cut_failed").inc()
                    await self._save(job, [seg])
                    return
            payload = {
                "model": job["model"],
                "messages": [{"role": "user", "content": [
                    {"type": "video_url", "video_url": {"url": path.resolve().as_uri()}},
                    {"type": "text", "text": segment_prompt(job["prompt"], seg["index"], len(job["segments"]),
                                                            seg["start_s"], seg["end_s"])}]}],
                "max_tokens": self.settings.max_tokens,
                # vLLM's loader samples at this fps (a segment is already at fps: it keeps every frame); the
                # model's processor samples again only when the loader kept every frame (its metadata says so):
                # forcing do_sample_frames would index frames the loader dropped (HTTP 400)
                "media_io_kwargs": {"video": {"fps": loader_fps or fps}},
                "mm_processor_kwargs": {"fps": loader_fps or fps},
            }
            async with self.global_slots:
                self._dequeue(seg)
                try:
                    result, seconds = await self._call(payload, "segment", seg)
                except VllmRejected as exc:
                    log.warning("vLLM rejected segment %s of %s: %s", seg["index"], job["id"], exc)
                    seg.update(status="failed", error=_rejection_message(str(exc)))
                    self.metrics.errors.labels("vllm_rejected").inc()
                    await self._save(job, [seg])
                    return
            seg.update(status="done", text=result["text"], usage=result["usage"], seconds=round(seconds, 3),
                       error=None)
            self._progress(job)
            await self._save(job, [seg])

    async def _call(self, payload: dict, kind: str, seg: dict | None = None) -> tuple[dict, float]:
        """One chat call with up to ATTEMPTS tries; between tries, wait for vLLM's /health (it may be restarting)."""
        last = ""
        for attempt in range(1, ATTEMPTS + 1):
            if seg is not None:
                seg["attempts"] = int(seg.get("attempts") or 0) + 1
            t0 = time.monotonic()
            try:
                result = await self.vllm.chat(payload)
            except VllmRejected:
                self.metrics.vllm_seconds.labels(kind, "rejected").observe(time.monotonic() - t0)
                raise
            except VllmUnavailable as exc:
                self.metrics.vllm_seconds.labels(kind, "unavailable").observe(time.monotonic() - t0)
                last = str(exc)
                log.warning("vLLM call failed (attempt %d/%d): %s", attempt, ATTEMPTS, exc)
                if attempt < ATTEMPTS:
                    await self.vllm.wait_healthy(self.retry_wait_s)
                continue
            seconds = time.monotonic() - t0
            self.metrics.vllm_seconds.labels(kind, "ok").observe(seconds)
            return result, seconds
        log.warning("giving up on vLLM after %d attempts: %s", ATTEMPTS, last)
        raise JobFailed("vllm_unavailable", f"vLLM did not answer after {ATTEMPTS} attempts (it is down or "
                        "restarting); submit the job again once /health shows vllm ready")

    async def _summary(self, job: dict, done: list[dict]) -> str:
        if len(job["segments"]) == 1:
            return done[0]["text"]
        state = await self.vllm.check()
        for budget in summary_budgets(state.max_model_len, self.settings.max_tokens):
            payload = {"model": job["model"], "max_tokens": self.settings.max_tokens * 2,
                       "messages": [{"role": "user", "content": summary_prompt(job["prompt"], job["segments"],
                                                                               budget)}]}
            try:
                result, _ = await self._call(payload, "summary")
            except VllmRejected as exc:
                log.warning("vLLM rejected the summary request (budget %d): %s", budget, exc)
                continue
            job["_summary_usage"] = result["usage"]
            self._progress(job)
            return result["text"]
        return "\n".join(f"[{_fmt_t(s['start_s'])} - {_fmt_t(s['end_s'])}] {s['text']}" for s in done)

    # --- retention ---
    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.cleanup_once()
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(self.retention_interval_s)

    async def cleanup_once(self, now: datetime | None = None) -> list[str]:
        """Delete uploads and segment files of finished jobs older than the retention period; results stay."""
        if self.settings.retention_hours <= 0:
            return []
        now = now or datetime.now(UTC)
        before = (now - timedelta(hours=self.settings.retention_hours)).isoformat(timespec="milliseconds")
        before = before.replace("+00:00", "Z")
        removed = []
        for row in await self.store.expirable(before):
            await asyncio.to_thread(self._remove_files, row["id"])
            await self.store.mark_expired(row["id"])
            removed.append(row["id"])
        await self._remove_orphans(now)
        return removed

    async def _remove_orphans(self, now: datetime) -> None:
        """Folders left by uploads that never became jobs (the service died mid-upload), after an hour."""
        cutoff = now.timestamp() - ORPHAN_AGE_S
        for base in (self.settings.uploads_dir, self.settings.media_dir):
            try:
                folders = [p for p in base.iterdir() if p.is_dir() and p.name.startswith("j_")]
            except OSError:
                continue
            for folder in folders:
                try:
                    old = folder.stat().st_mtime < cutoff
                except OSError:
                    continue
                if old and folder.name not in self.tasks and await self.store.get_row(folder.name) is None:
                    await asyncio.to_thread(shutil.rmtree, folder, True)


def _copy(job: dict) -> dict:
    out = {k: v for k, v in job.items() if not k.startswith("_")}
    out["segments"] = [_copy_segment(s) for s in job.get("segments", [])]
    return out


def _copy_segment(seg: dict) -> dict:
    return {k: v for k, v in seg.items() if not k.startswith("_")}


def _rejection_message(raw: str) -> str:
    low = raw.lower()
    if "context length" in low or "too long" in low or "max_model_len" in low or "maximum model length" in low:
        return ("the segment needs more tokens than the model's context allows; submit again with a smaller "
                "segment_seconds or fps")
    if "allowed-local-media-path" in low or "allowed_local_media_path" in low:
        return ("vLLM may not read the segment files: SPARKFLEET_VIDEO_MEDIA_DIR must be inside vLLM's "
                "--allowed-local-media-path (a setup problem; tell the operator)")
    return "vLLM could not process this segment's video (it rejected the request)"
