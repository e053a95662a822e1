"""Who the caller is: X-Forwarded-For is believed only from configured proxies (rate limits and
the audit log), and failed logins are limited per account as well as per address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from api.app import create_app
from domain.models.audit import AuditLog
from tests.builders.users import PASSWORD, create_user

# httpx's ASGI transport presents every request as coming from this socket peer.
PEER = "127.0.0.1"


@asynccontextmanager
async def api(settings, temporal_client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=temporal_client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t/api/v1"
        ) as client,
    ):
        yield client


async def login_ips(sessionmaker, user_id) -> list[str | None]:
    async with sessionmaker() as db:
        rows = await db.scalars(
            select(AuditLog.ip_address).where(
                AuditLog.entity_id == user_id, AuditLog.action.like("login:%")
            )
        )
        return [str(ip) if ip is not None else None for ip in rows]


async def test_a_forged_forwarded_for_neither_escapes_the_limit_nor_reaches_the_audit_log(
    make_settings, temporal_client, sessionmaker
):
    user = await create_user(sessionmaker)
    settings = make_settings(auth_rate_limit="3/minute")
    async with api(settings, temporal_client) as client:
        ok = await client.post(
            "/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.77"},
        )
        codes = [
            (
                await client.post(
                    "/auth/login",
                    json={"email": "nobody@example.com", "password": "Wrong-Passw0rd!"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
            ).status_code
            for n in range(3)
        ]
    assert ok.status_code == 200
    # The real address had its three attempts; rotating the header bought nothing.
    assert codes == [401, 401, 429]
    assert await login_ips(sessionmaker, user.id) == [PEER]


async def test_a_trusted_proxy_names_the_client_but_not_what_the_client_wrote(
    make_settings, temporal_client, sessionmaker
):
    user = await create_user(sessionmaker)
    settings = make_settings(trusted_proxies=["127.0.0.0/8"])
    async with api(settings, temporal_client) as client:
        response = await client.post(
            "/auth/login",
            json={"email": user.email, "password": PASSWORD},
            # The client wrote the first entry; our proxy appended the address it saw.
            headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.5"},
        )
    assert response.status_code == 200
    assert await login_ips(sessionmaker, user.id) == ["203.0.113.5"]


async def wrong_guesses_from_many_addresses(client, email: str, count: int) -> list[int]:
    return [
        (
            await client.post(
                "/auth/login",
                json={"email": email, "password": f"Guess-{n}-Passw0rd!"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
        ).status_code
        for n in range(count)
    ]


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_failed_logins_are_limited_per_account_whatever_the_address(
    store, make_settings, temporal_client, sessionmaker, request
):
    user = await create_user(sessionmaker)
    overrides = {"trusted_proxies": [PEER], "login_account_rate_limit": "3/minute"}
    if store == "redis":
        redis_url = request.getfixturevalue("redis_url")
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()
        overrides["redis_url"] = redis_url
    async with api(make_settings(**overrides), temporal_client) as client:
        codes = await wrong_guesses_from_many_addresses(client, user.email, 4)
        # Even the right password waits now: the account is the one under attack.
        right = await client.post(
            "/auth/login",
            json={"email": user.email.upper(), "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.1"},
        )
        other = await create_user(sessionmaker)
        unaffected = await client.post(
            "/auth/login",
            json={"email": other.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.1"},
        )
    assert codes == [401, 401, 401, 429]
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "RATE_LIMITED"
    assert int(right.headers["Retry-After"]) >= 1
    assert unaffected.status_code == 200
