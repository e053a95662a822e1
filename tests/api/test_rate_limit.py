"""The rate limit kept in a real Redis (MEDIVOY_REDIS_URL): the API starts with it, and two API
processes count against the same limit."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from api.app import create_app


async def test_two_api_instances_share_one_limit_counted_in_redis(
    settings, temporal_client, redis_url
):
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        limited = settings.model_copy(
            update={"redis_url": redis_url, "auth_rate_limit": "3/minute"}
        )
        first, second = (
            create_app(limited, temporal=temporal_client),
            create_app(limited, temporal=temporal_client),
        )
        body = {"email": "nobody@example.com", "password": "Whatever-123!"}
        async with (
            first.router.lifespan_context(first),
            second.router.lifespan_context(second),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=first), base_url="http://t/api/v1"
            ) as one,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=second), base_url="http://t/api/v1"
            ) as two,
        ):
            codes = [(await one.post("/auth/login", json=body)).status_code for _ in range(2)]
            codes.append((await two.post("/auth/login", json=body)).status_code)
            # The fourth attempt is refused by the instance that saw only one of the three.
            refused = await two.post("/auth/login", json=body)
            again = await one.post("/auth/login", json=body)
        assert codes == [401, 401, 401]
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert int(refused.headers["Retry-After"]) >= 1
        assert again.status_code == 429
        keys = [key.decode() async for key in redis.scan_iter("LIMITS*")]
        assert any("/auth/login" in key for key in keys), keys
    finally:
        await redis.aclose()
