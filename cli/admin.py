"""The first admin account: created once, with a generated password unless one is given."""

from __future__ import annotations

import secrets
import string

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.users import User
from domain.passwords import hash_password, password_problems

# Used by `medivoy dev` when MEDIVOY_ADMIN_EMAIL is unset. Not `.local`: e-mail validation
# (and so the login endpoint) rejects special-use domains.
DEFAULT_ADMIN_EMAIL = "admin@example.com"

_ALPHABET = string.ascii_letters + string.digits + "!#%&*+-=?@^_~"


def generate_password(email: str | None = None, length: int = 24) -> str:
    """A random password that satisfies the password policy."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if not password_problems(candidate, email=email):
            return candidate


def _normalized_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"admin e-mail {email!r} is not valid: {exc}") from exc


async def ensure_admin(
    sessionmaker: async_sessionmaker[AsyncSession], email: str, password: str | None
) -> tuple[str | None, bool]:
    """Create the admin unless a user with this e-mail exists.

    Returns (the generated password or None, whether the user was created). A generated
    password is returned so the caller can show it once; it is stored only as a hash.
    """
    address = _normalized_email(email)
    async with sessionmaker() as session:
        existing = await session.scalar(select(User.id).where(User.email == address))
        if existing is not None:
            return None, False

    generated: str | None = None
    if password is None:
        password = generated = generate_password(address)
    else:
        problems = password_problems(password, email=address)
        if problems:
            raise ValueError("admin password " + "; ".join(problems))

    async with sessionmaker() as session:
        session.add(
            User(
                email=address,
                password_hash=hash_password(password),
                user_type=Role.ADMIN.value,
                is_verified=True,
                is_approved=True,
                is_active=True,
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            # Someone else created it between our check and our insert: it exists, fine.
            await session.rollback()
            return None, False
    return generated, True
