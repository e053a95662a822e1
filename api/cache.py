"""The short-lived answer cache of the analytics and dashboard routes: Redis when
MEDIVOY_REDIS_URL is set (shared by every API process), else this process's memory. Answers are
JSON; each expires MEDIVOY_ANALYTICS_CACHE_SECONDS after it was stored."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from runtime.logging import log

PREFIX = "medivoy:answers:"


class AnswerCache(Protocol):
    kind: str

    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, value: Any, seconds: int) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """Answers in this process, with their expiry (a monotonic clock, injectable for tests)."""

    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000):
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, str]] = {}

    async def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        return json.loads(value)

    async def put(self, key: str, value: Any, seconds: int) -> None:
        if len(self._entries) >= self._max:
            now = self._clock()
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (self._clock() + seconds, json.dumps(value))

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Answers in Redis under PREFIX, with Redis's own expiry (SET … EX). Redis being down
    costs the cache only: the answer is computed and served."""

    kind = "redis"

    def __init__(self, url: str) -> None:
        self.redis: Redis = Redis.from_url(url)

    async def get(self, key: str) -> Any | None:
        try:
            value = await self.redis.get(PREFIX + key)
        except Exception as exc:
            log.warning("answer_cache_unavailable", error=type(exc).__name__)
            return None
        return None if value is None else json.loads(value)

    async def put(self, key: str, value: Any, seconds: int) -> None:
        try:
            await self.redis.set(PREFIX + key, json.dumps(value), ex=seconds)
        except Exception as exc:
            log.warning("answer_cache_unavailable", error=type(exc).__name__)

    async def close(self) -> None:
        await self.redis.aclose()


def build_cache(redis_url: str) -> AnswerCache:
    return RedisCache(redis_url) if redis_url else MemoryCache()


async def cached(
    cache: AnswerCache, key: str, seconds: int, compute: Callable[[], Awaitable[Any]]
) -> Any:
    """The stored answer for key, else compute, store (for `seconds`; 0: not at all), return."""
    if seconds > 0:
        hit = await cache.get(key)
        if hit is not None:
            return hit
    value = await compute()
    if seconds > 0:
        await cache.put(key, value, seconds)
    return value
