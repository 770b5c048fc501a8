"""Drive the video service's dashboard in a real headless Chromium (Playwright), as a person would.

Not a test module: a test on a lab host calls `run_dashboard_scenario(...)` against the running service.
Needs the `playwright` Python package and Debian's `chromium` (never `playwright install`: no internet).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

DEFAULT_PROMPT = "Describe what happens in this video."
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
TERMINAL = ("done", "failed", "cancelled")


def chromium_path() -> str | None:
    """The Chromium to drive: Debian's package, or one on PATH; None when there is none."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def run_dashboard_scenario(
    base_url: str,
    video_path: Path,
    screenshot_dir: Path,
    api_key: str | None = None,
    *,
    prompt: str = DEFAULT_PROMPT,
    segment_seconds: float | None = None,
    fps: float | None = None,
    timeout_s: float = 300.0,
    executable_path: str | None = None,
) -> dict[str, Any]:
    """Upload `video_path` through the dashboard at `base_url`, follow the job to `done`, check the timeline.

    Raises AssertionError (with what the page showed, and a `failure.png` in `screenshot_dir`) on any failure.
    Returns what it saw: job id, status, segments (count, texts, starts), the seek check, vLLM state,
    screenshot paths, console errors and HTTP errors.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    video_path = Path(video_path)
    screenshot_dir = Path(screenshot_dir)
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    if not video_path.is_file():
        raise AssertionError(f"no video to upload at {video_path}")
    exe = executable_path or chromium_path()
    if not exe:
        raise AssertionError(f"no Chromium found (expected {CHROMIUM}; apt-get install -y chromium)")
    url = base_url.rstrip("/") + "/"
    seen: dict[str, Any] = {"base_url": url, "screenshots": {}}
    seen.update(console_errors=[], page_errors=[], http_errors=[])

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.on("pageerror", lambda e: seen["page_errors"].append(str(e)))
            page.on(
                "console",
                lambda m: seen["console_errors"].append(m.text) if m.type == "error" else None,
            )
            page.on(
                "response",
                lambda r: r.status >= 400 and seen["http_errors"].append(f"{r.status} {r.request.method} {r.url}"),
            )

            def shot(name: str, full_page: bool = False) -> str:
                path = screenshot_dir / f"{name}.png"
                page.screenshot(path=str(path), full_page=full_page)
                seen["screenshots"][name] = str(path)
                return str(path)

            def fail(message: str) -> None:
                try:
                    shot("failure", full_page=True)
                    shown = page.locator(_tid("error")).all_inner_texts()
                    status = page.locator(_tid("status")).inner_text(timeout=1000)
                except PlaywrightError:
                    shown, status = [], "?"
                detail = f" | page status: {status!r}"
                if any(s.strip() for s in shown):
                    detail += f" | page error box: {' / '.join(s.strip() for s in shown if s.strip())!r}"
                if seen["http_errors"]:
                    detail += f" | HTTP errors: {seen['http_errors'][-5:]}"
                if seen["page_errors"]:
                    detail += f" | JS errors: {seen['page_errors'][-5:]}"
                raise AssertionError(message + detail + f" | screenshots in {screenshot_dir}")

            try:
                _scenario(page, url, video_path, api_key, prompt, segment_seconds, fps, timeout_s, seen, shot, fail)
            except PlaywrightError as exc:  # a Playwright timeout or a dead page: report it as a test failure
                fail(f"browser step failed: {str(exc).splitlines()[0]}")
        finally:
            browser.close()

    if seen["page_errors"]:
        raise AssertionError(f"the dashboard threw JavaScript errors: {seen['page_errors']}")
    return seen


def _scenario(page, url, video_path, api_key, prompt, segment_seconds, fps, timeout_s, seen, shot, fail) -> None:
    from playwright.sync_api import TimeoutError as PWTimeout

    # 1. open the page; it probes GET v1/jobs?limit=1 to learn whether a key is needed
    with page.expect_response(lambda r: "/v1/jobs?limit=1" in r.url, timeout=30_000) as probe:
        page.goto(url, wait_until="domcontentloaded", timeout=30_000)
    probe_status = probe.value.status
    page.locator(_tid("submit")).wait_for(state="visible", timeout=10_000)
    if probe_status == 401 and not api_key:
        fail("the service answered 401 (it has an API key) but no api_key was given")
    if api_key:
        form = page.locator(_tid("api-key-form"))
        if not form.is_visible():
            page.locator(_tid("api-key-button")).click()
        page.locator(_tid("api-key-input")).fill(api_key)
        with page.expect_response(lambda r: "/v1/jobs?limit=1" in r.url, timeout=15_000) as check:
            page.locator(_tid("api-key-save")).click()
        if check.value.status != 200:
            fail(f"the API key was not accepted: GET /v1/jobs answered {check.value.status}")
    elif probe_status != 200:
        fail(f"GET /v1/jobs answered {probe_status}")

    # 2. upload with a prompt
    page.locator(_tid("file-input")).set_input_files(str(video_path))
    page.locator(_tid("prompt")).fill(prompt)
    if segment_seconds is not None:
        page.locator(_tid("segment-seconds")).fill(str(segment_seconds))
    if fps is not None:
        page.locator(_tid("fps")).fill(str(fps))
    started = time.monotonic()
    while True:
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith("/v1/jobs"),
            timeout=max(60_000, int(timeout_s * 1000)),
        ) as posted:
            page.locator(_tid("submit")).click()
        resp = posted.value
        # 503 while vLLM loads: wait as told (Retry-After) and submit again, within the timeout
        retry_after = resp.headers.get("retry-after", "")
        if resp.status != 503 or time.monotonic() - started > timeout_s:
            break
        seen.setdefault("retries_503", 0)
        seen["retries_503"] += 1
        page.wait_for_timeout(1000 * min(10.0, float(retry_after) if retry_after.isdigit() else 5.0))
    if resp.status not in (200, 201, 202):
        page.locator(_tid("error")).wait_for(state="visible", timeout=5_000)
        fail(f"POST /v1/jobs answered {resp.status}: {resp.text()[:500]}")
    job_id = resp.json().get("id")
    seen["job_id"] = job_id

    # 3. progress shows, then the job reaches a terminal status
    page.locator(_tid("progress")).wait_for(state="visible", timeout=30_000)
    remaining_ms = max(1_000, int((timeout_s - (time.monotonic() - started)) * 1000))
    try:
        page.wait_for_function(
            "(t) => t.includes(document.querySelector('[data-testid=status]').getAttribute('data-status'))",
            arg=list(TERMINAL),
            timeout=remaining_ms,
            polling=250,
        )
    except PWTimeout:
        progress = page.locator(_tid("progress-text")).inner_text()
        fail(f"job {job_id} not finished after {timeout_s:.0f} s (progress: {progress!r})")
    status = page.locator(_tid("status")).get_attribute("data-status")
    seen["status"] = status
    seen["seconds_to_finish"] = round(time.monotonic() - started, 1)
    if status != "done":
        fail(f"job {job_id} ended {status!r}, not 'done'")

    # 4. the timeline: at least one segment, with text
    segments = page.locator(_tid("segment"))
    count = segments.count()
    seen["segments_count"] = count
    if count < 1:
        fail(f"job {job_id} is done but the page lists no segments")
    texts = page.locator(f"{_tid('segment')} {_tid('segment-text')}").all_inner_texts()
    seen["segment_texts"] = [t.strip() for t in texts]
    seen["segment_starts"] = [float(segments.nth(i).get_attribute("data-start")) for i in range(count)]
    if not any(seen["segment_texts"]):
        fail(f"all {count} segments have empty text")
    seen["summary"] = page.locator(_tid("summary")).inner_text().strip()

    # 5. the video loads (metadata), then clicking the last segment seeks it to that segment's start
    try:
        page.wait_for_function(
            "() => { const v = document.querySelector('[data-testid=video]'); return v && v.readyState >= 1; }",
            timeout=30_000,
        )
    except PWTimeout:
        info = page.evaluate(
            "() => { const v = document.querySelector('[data-testid=video]');"
            " return {src: v.currentSrc, error: v.error && v.error.code,"
            " note: document.querySelector('[data-testid=video-note]').textContent}; }"
        )
        fail(f"the <video> did not load within 30 s: {info}")
    seen["video_src"] = page.evaluate("() => document.querySelector('[data-testid=video]').currentSrc")
    seen["video_duration"] = page.evaluate("() => document.querySelector('[data-testid=video]').duration")
    last = segments.nth(count - 1)
    start = float(last.get_attribute("data-start"))
    seen["clicked_start"] = start
    last.scroll_into_view_if_needed()
    last.click()
    try:
        handle = page.wait_for_function(
            "(s) => { const v = document.querySelector('[data-testid=video]');"
            " return Math.abs(v.currentTime - s) <= 1 ? {t: v.currentTime} : false; }",
            arg=start,
            timeout=10_000,
        )
        seen["current_time"] = handle.json_value()["t"]
    except PWTimeout:
        now = page.evaluate("() => document.querySelector('[data-testid=video]').currentTime")
        fail(f"clicking the last segment (start {start} s) left the video at {now} s, not within 1 s of the start")
    seen["current_time_state"] = page.evaluate(
        "() => { const v = document.querySelector('[data-testid=video]');"
        " return {paused: v.paused, t: v.currentTime}; }"
    )
    try:
        page.wait_for_function(
            "(i) => document.querySelectorAll('[data-testid=segment]')[i].getAttribute('data-current') === 'true'",
            arg=count - 1,
            timeout=5_000,
        )
        seen["last_segment_highlighted"] = True
    except PWTimeout:
        fail("the clicked (last) segment is not highlighted as the current one")
    page.evaluate("() => document.querySelector('[data-testid=video]').pause()")
    page.wait_for_timeout(300)  # let the paused frame paint
    shot("analysis")
    shot("analysis-full", full_page=True)

    # 6. the other tabs
    page.locator(_tid("tab-jobs")).click()
    page.locator(f'{_tid("job-row")}[data-job-id="{job_id}"]').wait_for(state="visible", timeout=15_000)
    seen["jobs_rows"] = page.locator(_tid("job-row")).count()
    shot("jobs")

    page.locator(_tid("tab-system")).click()
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=vllm-state]').getAttribute('data-state') || '') !== ''",
        timeout=15_000,
    )
    seen["vllm_state"] = page.locator(_tid("vllm-state")).inner_text().strip()
    page.wait_for_timeout(300)
    shot("system")

    page.locator(_tid("tab-bench")).click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=bench]').children.length > 0"
        " || !document.querySelector('#bench-error').hidden",
        timeout=15_000,
    )
    page.wait_for_function("() => document.querySelector('[data-testid=notes]').children.length > 0",
                           timeout=15_000)
    seen["bench_results"] = page.locator(f"{_tid('bench')} table").count()
    seen["notes_tables"] = page.locator(f"{_tid('notes')} table").count()
    seen["notes_text"] = page.locator(_tid("notes")).inner_text()
    shot("bench", full_page=True)
