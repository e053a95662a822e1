"""POST /users/me/devices: a signed-in user registers a push device once per token."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models.notifications import UserDevice
from tests.builders.users import create_user, headers_for

TOKEN = "fcm-token_" + "a" * 140


async def _devices(sessionmaker: async_sessionmaker[AsyncSession]) -> list[UserDevice]:
    async with sessionmaker() as db:
        return list(await db.scalars(select(UserDevice)))


async def test_a_device_is_registered_once_and_moves_to_whoever_registers_it_last(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ana = await create_user(sessionmaker)
    ben = await create_user(sessionmaker)
    body = {"token": TOKEN, "platform": "android"}

    first = await client.post("/users/me/devices", json=body, headers=headers_for(ana))
    again = await client.post("/users/me/devices", json=body, headers=headers_for(ana))
    moved = await client.post(
        "/users/me/devices", json={**body, "platform": "ios"}, headers=headers_for(ben)
    )

    assert first.status_code == 201
    assert first.json()["data"]["platform"] == "android"
    assert "token" not in first.json()["data"]
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert moved.status_code == 201
    [device] = await _devices(sessionmaker)
    assert (device.user_id, device.platform) == (ben.id, "ios")


async def test_a_device_needs_a_signed_in_user_and_a_known_platform(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ana = await create_user(sessionmaker)

    anonymous = await client.post("/users/me/devices", json={"token": TOKEN, "platform": "web"})
    unknown = await client.post(
        "/users/me/devices", json={"token": TOKEN, "platform": "pager"}, headers=headers_for(ana)
    )

    assert anonymous.status_code == 401
    assert unknown.status_code == 422
    assert await _devices(sessionmaker) == []
