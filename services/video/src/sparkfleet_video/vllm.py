"""The host's vLLM as this service sees it: readiness, the served model, chat calls, and its /metrics."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field

import httpx

from .vllm_unit import unit_reason

log = logging.getLogger("sparkfleet_video")

READY, LOADING, DOWN = "ready", "loading", "down"
CHECK_TIMEOUT_S = 3.0
CHAT_TIMEOUT_S = 600.0
STATE_CACHE_S = 2.0


class VllmUnavailable(Exception):
    """vLLM did not answer (connection refused, timeout, 5xx): worth retrying once it is healthy again."""


class VllmRejected(Exception):
    """vLLM answered 4xx: the request itself is wrong; retrying it will not help."""


@dataclass
class VllmState:
    state: str = DOWN
    model: str | None = None
    checked_at: float = 0.0
    max_model_len: int | None = None
    reason: str | None = None  # why it is not ready, when systemd says (vllm_unit)


@dataclass
class MetricsSample:
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage: float | None = None
    generation_tokens_total: float | None = None


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum of every series per metric name (vLLM labels each by model_name/engine)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        if math.isnan(value):
            continue
        totals[match.group(1)] = totals.get(match.group(1), 0.0) + value
    return totals


def sample_from_metrics(text: str) -> MetricsSample:
    values = parse_prometheus(text)

    def first(*names: str) -> float | None:
        for name in names:
            if name in values:
                return values[name]
        return None

    return MetricsSample(
        requests_running=first("vllm:num_requests_running"),
        requests_waiting=first("vllm:num_requests_waiting"),
        kv_cache_usage=first("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        generation_tokens_total=first("vllm:generation_tokens_total"),
    )


@dataclass
class TokenRate:
    """tokens/s from successive samples of vllm:generation_tokens_total (a counter), ~10 minutes of them."""

    points: deque = field(default_factory=lambda: deque(maxlen=120))
    _last: tuple[float, float] | None = None

    def add(self, ts: float, total: float | None) -> None:
        if total is None:
            self._last = None
            return
        if self._last is not None:
            last_ts, last_total = self._last
            if ts > last_ts:
                delta = total - last_total
                if delta < 0:  # counter reset: vLLM restarted
                    delta = total
                self.points.append([round(ts, 3), round(delta / (ts - last_ts), 3)])
        self._last = (ts, total)


class VllmClient:
    def __init__(self, base_url: str, model: str = "", api_key: str = "", unit: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.configured_model = model
        self.unit = unit  # vLLM's systemd unit: asked why when vLLM does not answer
        # vLLM beyond loopback requires its key as a bearer token on /v1 (`vllm serve` with VLLM_API_KEY)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                         timeout=httpx.Timeout(CHAT_TIMEOUT_S, connect=5.0))
        self._state = VllmState()
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def check(self, max_age_s: float = STATE_CACHE_S) -> VllmState:
        """ready: /health is 200 and /v1/models lists a model (the configured one, if set); loading: it answers
        but is not there yet; down: no answer. Cached for `max_age_s`."""
        async with self._lock:
            if time.monotonic() - self._state.checked_at < max_age_s:
                return self._state
            state = await self._check_now()
            self._state = state
            return state

    async def _check_now(self) -> VllmState:
        now = time.monotonic()
        try:
            health = await self._client.get("/health", timeout=CHECK_TIMEOUT_S)
        except httpx.HTTPError:
            return VllmState(DOWN, None, now, reason=await unit_reason(self.unit))
        if health.status_code != 200:
            return VllmState(LOADING, None, now)
        try:
            models = await self._client.get("/v1/models", timeout=CHECK_TIMEOUT_S)
            entries = [m for m in models.json().get("data", []) if isinstance(m, dict)]
        except (httpx.HTTPError, ValueError, AttributeError):
            return VllmState(LOADING, None, now)
        served = {m["id"]: m.get("max_model_len") for m in entries if isinstance(m.get("id"), str) and m["id"]}
        name = self.configured_model or next(iter(served), None)
        if not name or name not in served:
            return VllmState(LOADING, None, now)
        length = served[name]
        return VllmState(READY, name, now, length if isinstance(length, int) and length > 0 else None)

    async def healthy(self) -> bool:
        try:
            return (await self._client.get("/health", timeout=CHECK_TIMEOUT_S)).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_healthy(self, timeout_s: float, interval_s: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if await self.healthy():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(interval_s, max(deadline - time.monotonic(), 0.05)))

    async def model(self) -> str:
        if self.configured_model:
            return self.configured_model
        state = await self.check()
        if state.model:
            return state.model
        raise VllmUnavailable("vLLM lists no model yet")

    async def chat(self, payload: dict) -> dict:
        """POST /v1/chat/completions -> {"text", "usage"}; VllmUnavailable or VllmRejected on failure."""
        try:
            resp = await self._client.post("/v1/chat/completions", json=payload)
        except httpx.HTTPError as exc:
            raise VllmUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500 or resp.status_code in (404, 408, 429):
            raise VllmUnavailable(f"HTTP {resp.status_code}: {resp.text[:300]}")
        if resp.status_code >= 400:
            raise VllmRejected(f"HTTP {resp.status_code}: {resp.text[:500]}")
        try:
            data = resp.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise VllmUnavailable("vLLM answered without a message") from exc
        usage = data.get("usage") or {}
        return {"text": text, "usage": {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                                        "completion_tokens": int(usage.get("completion_tokens") or 0)}}

    async def metrics(self) -> MetricsSample | None:
        try:
            resp = await self._client.get("/metrics", timeout=CHECK_TIMEOUT_S)
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        return sample_from_metrics(resp.text)
