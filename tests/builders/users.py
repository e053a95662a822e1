"""Accounts for tests: a ready user of any role, and the headers of a real login."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.users import User

PASSWORD = "Correct-Horse-42!"


async def create_user(
    sessionmaker: async_sessionmaker[AsyncSession],
    role: Role = Role.PATIENT,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    **fields: Any,
) -> User:
    """A ready account of any role (verified and approved), with its role record."""
    from api.services import auth as auth_service

    async with sessionmaker() as db, db.begin():
        user = await auth_service.create_user(
            db,
            email=email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
            password=password,
            user_type=role,
            first_name=fields.pop("first_name", role.value.replace("_", " ").title()),
            last_name=fields.pop("last_name", "Tester"),
            is_verified=fields.pop("is_verified", True),
            approved=fields.pop("approved", True),
            **fields,
        )
        return user


async def login_headers(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}
