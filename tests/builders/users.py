"""Accounts for tests: a ready user of any role, and its Authorization headers: minted
(`headers_for`, what most tests need) or from a real HTTP login (`login_headers`, for the auth
tests)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.security import create_access_token
from domain.access import Role
from domain.models.users import User
from runtime.settings import Settings

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


def headers_for(user: User, settings: Settings | None = None) -> dict[str, str]:
    """The headers of an access token for `user`, minted as a login issues it (signed with the
    test secret, MEDIVOY_JWT_SECRET) without the HTTP round trip or the password check."""
    settings = settings or Settings(_env_file=None)
    token = create_access_token(settings, user.id, user.user_type)
    return {"Authorization": f"Bearer {token}"}


async def login_headers(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    """The headers of a real login over HTTP (the auth tests; others take headers_for)."""
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}
