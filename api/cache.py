"""The short-lived answer cache of the analytics and dashboard routes: Redis when
MEDIVOY_REDIS_URL is set (shared by every API process), else this process's memory. Answers are
JSON; each expires MEDIVOY_ANALYTICS_CACHE_SECONDS after it was stored.

Live answers (anything that counts today: a dashboard, a range that reaches today) are also keyed
by the cache's write version, which WritesInvalidate bumps on every successful write request
through the API (before its answer goes out): after a write of theirs, the caller's next
answer is computed anew, not read back stale for five minutes. The version lives where the
answers live (Redis: shared by every API process; memory: this process's). Changes that reach the
database without an API request (a workflow's timer: a quotation expiring, a renewal) and the
roll-up of past days still show within MEDIVOY_ANALYTICS_CACHE_SECONDS. Past-only ranges are
keyed without the version: writes do not change them."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.logging import log

PREFIX = "medivoy:answers:"
VERSION_KEY = "version"


class AnswerCache(Protocol):
    kind: str

    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, value: Any, seconds: int) -> None: ...

    async def version(self) -> int | None:
        """The write version live answers are keyed by; None: unknown (do not cache)."""
        ...

    async def bump(self) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """Answers in this process, with their expiry (a monotonic clock, injectable for tests)."""

    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000):
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, str]] = {}
        self._version = 0

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

    async def version(self) -> int | None:
        return self._version

    async def bump(self) -> None:
        self._version += 1

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

    async def version(self) -> int | None:
        try:
            value = await self.redis.get(PREFIX + VERSION_KEY)
        except Exception as exc:
            log.warning("answer_cache_unavailable", error=type(exc).__name__)
            return None
        return 0 if value is None else int(value)

    async def bump(self) -> None:
        try:
            await self.redis.incr(PREFIX + VERSION_KEY)
        except Exception as exc:
            log.warning("answer_cache_unavailable", error=type(exc).__name__)

    async def close(self) -> None:
        await self.redis.aclose()


def build_cache(redis_url: str) -> AnswerCache:
    return RedisCache(redis_url) if redis_url else MemoryCache()


async def cached(
    cache: AnswerCache,
    key: str,
    seconds: int,
    compute: Callable[[], Awaitable[Any]],
    *,
    live: bool = False,
) -> Any:
    """The stored answer for key, else compute, store (for `seconds`; 0: not at all), return.
    `live`: the answer counts today, so it is keyed by the write version too."""
    if seconds > 0 and live:
        version = await cache.version()
        if version is None:
            seconds = 0
        else:
            key = f"{key}:v{version}"
    if seconds > 0:
        hit = await cache.get(key)
        if hit is not None:
            return hit
    value = await compute()
    if seconds > 0:
        await cache.put(key, value, seconds)
    return value


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WritesInvalidate:
    """ASGI middleware: a write request that succeeds bumps the answer cache's write version
    before its answer starts, so no live answer cached before the write is served after it.
    Paths under `ignore` (signing in, refreshing a token, the codec) change no figures."""

    def __init__(self, app: ASGIApp, ignore: tuple[str, ...] = ()) -> None:
        self.app = app
        self.ignore = ignore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITES
            or scope["path"].startswith(self.ignore)
        ):
            await self.app(scope, receive, send)
            return

        async def bump_then_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                cache: AnswerCache | None = getattr(scope["app"].state, "answer_cache", None)
                if cache is not None:
                    await cache.bump()
            await send(message)

        await self.app(scope, receive, bump_then_send)
