"""Identity: registration, login, token rotation, e-mail verification and password resets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.i18n import source_locale
from api.security import create_access_token
from domain.access import NEEDS_APPROVAL, Role
from domain.errors import Conflict, Invalid, Unauthorized
from domain.models.catalog import Doctor, Hospital
from domain.models.users import EmailVerification, PasswordReset, Patient, RefreshToken, User
from domain.passwords import hash_password, password_problems, verify_password
from domain.tokens import hash_token, new_token
from runtime.settings import Settings


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


def check_password_policy(password: str, email: str | None) -> None:
    problems = password_problems(password, email=email)
    if problems:
        raise Invalid(
            "Password " + "; ".join(problems),
            code="WEAK_PASSWORD",
            details=[{"field": "password", "message": p} for p in problems],
        )


async def ensure_unique(
    db: AsyncSession, email: str | None, phone: str | None, exclude: uuid.UUID | None = None
) -> None:
    if email:
        found = await db.scalar(select(User.id).where(User.email == email))
        if found is not None and found != exclude:
            raise Conflict(
                "An account with this e-mail already exists",
                code="EMAIL_TAKEN",
                details={"field": "email"},
            )
    if phone:
        found = await db.scalar(select(User.id).where(User.phone == phone))
        if found is not None and found != exclude:
            raise Conflict(
                "An account with this phone number already exists",
                code="PHONE_TAKEN",
                details={"field": "phone"},
            )


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    user_type: Role,
    phone: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    locale: str | None = None,
    is_verified: bool = False,
    approved: bool | None = None,
) -> User:
    """A user and the record of their role (a patients or doctors row)."""
    check_password_policy(password, email)
    await ensure_unique(db, email, phone)
    user = User(
        id=uuid.uuid4(),
        email=email,
        phone=phone,
        password_hash=hash_password(password),
        user_type=user_type.value,
        first_name=first_name,
        last_name=last_name,
        locale=locale or source_locale(),
        is_verified=is_verified,
        is_approved=approved if approved is not None else user_type not in NEEDS_APPROVAL,
        is_active=True,
    )
    db.add(user)
    await db.flush()
    await ensure_role_record(db, user)
    return user


async def ensure_role_record(db: AsyncSession, user: User) -> None:
    """The record of the user's role (a patients or doctors row), made when missing."""
    if user.user_type == Role.PATIENT:
        model: type[Patient] | type[Doctor] = Patient
    elif user.user_type == Role.DOCTOR:
        model = Doctor
    else:
        return
    if await db.scalar(select(model.id).where(model.user_id == user.id)) is None:
        db.add(model(id=uuid.uuid4(), user_id=user.id))
        await db.flush()


async def role_record_ids(db: AsyncSession, user: User) -> dict[str, uuid.UUID | None]:
    """The ids a client needs to find its own records."""
    ids: dict[str, uuid.UUID | None] = {"patient_id": None, "doctor_id": None, "hospital_id": None}
    if user.user_type == Role.PATIENT:
        ids["patient_id"] = await db.scalar(select(Patient.id).where(Patient.user_id == user.id))
    elif user.user_type == Role.DOCTOR:
        ids["doctor_id"] = await db.scalar(select(Doctor.id).where(Doctor.user_id == user.id))
    elif user.user_type == Role.HOSPITAL_ADMIN:
        ids["hospital_id"] = await db.scalar(
            select(Hospital.id).where(Hospital.admin_user_id == user.id).limit(1)
        )
    return ids


async def issue_tokens(
    db: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID | None = None
) -> Tokens:
    plain, digest = new_token()
    db.add(
        RefreshToken(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=digest,
            family_id=family_id or uuid.uuid4(),
            expires_at=now() + timedelta(days=settings.refresh_token_days),
        )
    )
    await db.flush()
    return Tokens(
        access_token=create_access_token(settings, user.id, user.user_type, user.token_version),
        refresh_token=plain,
        expires_in=settings.access_token_minutes * 60,
    )


async def login(
    db: AsyncSession, settings: Settings, email: str, password: str
) -> tuple[User, Tokens]:
    user = await db.scalar(select(User).where(User.email == email))
    # Same work and the same answer whether the e-mail is unknown or the password wrong.
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid:
        raise Unauthorized("E-mail or password is incorrect", code="INVALID_CREDENTIALS")
    if not user.is_active:
        raise Unauthorized("This account has been deactivated", code="ACCOUNT_INACTIVE")
    user.last_login = now()
    tokens = await issue_tokens(db, settings, user)
    return user, tokens


async def end_access_tokens(db: AsyncSession, user_id: uuid.UUID) -> None:
    """Every access token issued so far stops working (their version is older)."""
    await db.execute(
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
    )


async def revoke_family(db: AsyncSession, family_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await end_access_tokens(db, user_id)
    await db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.is_revoked.is_(False))
        .values(is_revoked=True, revoked_at=now())
    )


async def revoke_all(db: AsyncSession, user_id: uuid.UUID) -> None:
    await end_access_tokens(db, user_id)
    await db.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.is_revoked.is_(False))
        .values(is_revoked=True, revoked_at=now())
    )


async def refresh(db: AsyncSession, settings: Settings, plain: str) -> Tokens:
    stored = await db.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(plain)).with_for_update()
    )
    invalid = Unauthorized(
        "The refresh token is not valid; log in again", code="INVALID_REFRESH_TOKEN"
    )
    if stored is None:
        raise invalid
    if stored.rotated_at is not None or stored.is_revoked:
        if stored.rotated_at is not None:
            # A rotated token came back: someone holds a stolen copy. End the whole family,
            # durably, before refusing.
            await revoke_family(db, stored.family_id, stored.user_id)
            await db.commit()
            raise Unauthorized(
                "This refresh token was already used; every session it started has been signed out",
                code="REFRESH_TOKEN_REUSED",
            )
        raise invalid
    if stored.expires_at <= now():
        raise Unauthorized(
            "The refresh token has expired; log in again", code="REFRESH_TOKEN_EXPIRED"
        )
    user = await db.get(User, stored.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active", code="ACCOUNT_INACTIVE")
    stored.rotated_at = now()
    return await issue_tokens(db, settings, user, family_id=stored.family_id)


async def logout(db: AsyncSession, plain: str) -> None:
    stored = await db.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(plain))
    )
    if stored is None:
        raise Unauthorized("The refresh token is not valid", code="INVALID_REFRESH_TOKEN")
    await revoke_family(db, stored.family_id, stored.user_id)


# Both kinds of single-use token have the same columns.
T = TypeVar("T", EmailVerification, PasswordReset)


async def _issue(
    db: AsyncSession, model: type[T], user: User, lifetime: timedelta
) -> tuple[uuid.UUID, str]:
    """A fresh single-use token of this kind; the user's earlier unused ones stop working."""
    await db.execute(
        update(model)
        .where(model.user_id == user.id, model.is_used.is_(False))
        .values(is_used=True, used_at=now())
    )
    plain, digest = new_token()
    row = model(id=uuid.uuid4(), user_id=user.id, token_hash=digest, expires_at=now() + lifetime)
    db.add(row)
    await db.flush()
    return row.id, plain


async def _redeem(
    db: AsyncSession, model: type[T], plain: str, what: str, code: str
) -> tuple[T, User]:
    """The token's row and its (active) user, or a clear refusal. Marking it used is the
    caller's last step, so a refused request changes nothing."""
    row = await db.scalar(
        select(model).where(model.token_hash == hash_token(plain)).with_for_update()
    )
    if row is None or row.is_used:
        raise Invalid(f"This {what} link is not valid or was already used", code=f"INVALID_{code}")
    if row.expires_at <= now():
        raise Invalid(f"This {what} link has expired; ask for a new one", code=f"{code}_EXPIRED")
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Invalid(f"This {what} link is not valid", code=f"INVALID_{code}")
    return row, user


def _use(row: EmailVerification | PasswordReset) -> None:
    row.is_used = True
    row.used_at = now()


async def new_email_verification(
    db: AsyncSession, settings: Settings, user: User
) -> tuple[uuid.UUID, str]:
    return await _issue(
        db, EmailVerification, user, timedelta(hours=settings.verification_token_hours)
    )


@dataclass
class Verified:
    user: User
    # The address a confirmed change replaced (it gets the notice of the change), else None.
    replaced_email: str | None
    verification_id: uuid.UUID


async def verify_email(db: AsyncSession, plain: str) -> Verified:
    """The link's address is the user's, verified. While a change waits, the only live link was
    sent to the new address (issuing one ends the earlier ones): it makes that address theirs."""
    row, user = await _redeem(db, EmailVerification, plain, "verification", "VERIFICATION_TOKEN")
    replaced = None
    if user.pending_email is not None:
        await ensure_unique(db, user.pending_email, None, exclude=user.id)
        replaced = user.email
        user.email, user.pending_email = user.pending_email, None
    _use(row)
    user.is_verified = True
    return Verified(user=user, replaced_email=replaced, verification_id=row.id)


async def request_email_change(
    db: AsyncSession, settings: Settings, user: User, email: str
) -> tuple[uuid.UUID, str] | None:
    """An e-mail change waits in users.pending_email until the link sent to the new address is
    confirmed; until then the current address stays the login. Asking for the current address
    again withdraws a waiting change (its link stops working). The verification's id and token
    to send, or None when there is nothing to send."""
    await db.execute(
        update(EmailVerification)
        .where(EmailVerification.user_id == user.id, EmailVerification.is_used.is_(False))
        .values(is_used=True, used_at=now())
    )
    if email == user.email:
        user.pending_email = None
        await db.flush()
        return None
    await ensure_unique(db, email, None, exclude=user.id)
    user.pending_email = email
    await db.flush()
    return await new_email_verification(db, settings, user)


async def new_password_reset(
    db: AsyncSession, settings: Settings, user: User
) -> tuple[uuid.UUID, str]:
    return await _issue(db, PasswordReset, user, timedelta(minutes=settings.reset_token_minutes))


async def reset_password(db: AsyncSession, plain: str, password: str) -> User:
    row, user = await _redeem(db, PasswordReset, plain, "reset", "RESET_TOKEN")
    check_password_policy(password, user.email)
    _use(row)
    user.password_hash = hash_password(password)
    await revoke_all(db, user.id)  # every session ends with the old password
    return user


async def find_active_by_email(db: AsyncSession, email: str) -> User | None:
    return await db.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
