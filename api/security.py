"""JWT access tokens (short-lived, HS256 by default, secret from settings)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from domain.errors import Unauthorized
from runtime.settings import Settings


def create_access_token(settings: Settings, user_id: uuid.UUID, role: str, version: int = 0) -> str:
    """`version`: the user's token_version; a token of an older version is refused."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "ver": version,
        "type": "access",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=settings.access_token_minutes),
        "jti": uuid.uuid4().hex,
        "iss": "medivoy",
    }
    return jwt.encode(claims, settings.jwt_key, algorithm=settings.jwt_algorithm)


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[settings.jwt_algorithm],
            issuer="medivoy",
            options={"require": ["exp", "sub", "iat", "type"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(
            "Your session has expired; refresh it or log in again", code="TOKEN_EXPIRED"
        ) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The access token is not valid", code="INVALID_TOKEN") from exc
    if claims.get("type") != "access":
        raise Unauthorized("The access token is not valid", code="INVALID_TOKEN")
    return claims
