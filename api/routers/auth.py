"""/auth: register, login, refresh, logout, passwords, e-mail verification, own profile."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.deps import (
    CurrentUser,
    DbSession,
    SettingsDep,
    Temporal,
    count_failed_login,
    rate_limited,
    refuse_if_account_limited,
)
from api.envelope import Envelope, ok
from api.schemas.auth import (
    AuthResult,
    EmailRequest,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    TokenPair,
    TokenRequest,
)
from api.schemas.users import ProfileOut, ProfileUpdate
from api.services import auth as service
from api.services import notifications as notices
from api.services import users as users_service
from domain.access import Role
from domain.errors import Unauthorized
from domain.models.users import User
from runtime.logging import log
from runtime.settings import Settings

TAG = {"name": "auth", "description": "Register, log in, tokens, e-mail verification, passwords"}

router = APIRouter(prefix="/auth", tags=["auth"])

Limited = [Depends(rate_limited())]
SENT_IF_EXISTS = "If an account exists for this e-mail, a message is on its way"


async def profile_of(db: DbSession, user: User) -> ProfileOut:
    ids = await service.role_record_ids(db, user)
    return ProfileOut.model_validate({**ProfileOut.model_validate(user).model_dump(), **ids})


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=Limited,
    response_model=Envelope[AuthResult],
)
async def register(
    body: RegisterRequest, db: DbSession, settings: SettingsDep, temporal: Temporal
) -> Envelope[AuthResult]:
    user = await service.create_user(
        db,
        email=body.email,
        password=body.password,
        user_type=Role(body.user_type),
        phone=body.phone,
        first_name=body.first_name,
        last_name=body.last_name,
        locale=body.locale,
    )
    verification_id, token = await service.new_email_verification(db, settings, user)
    tokens = await service.issue_tokens(db, settings, user)
    profile = await profile_of(db, user)
    await db.commit()  # the account is durable before any e-mail goes out
    await notices.send_verification(temporal, settings, user, verification_id, token)
    message = "User registered successfully. Check your e-mail to verify your address."
    if user.user_type in (Role.DOCTOR, Role.HOSPITAL_ADMIN):
        message += " An administrator will review your account before you can act in your role."
    return ok(
        AuthResult(
            user=profile,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
        ),
        message,
    )


@router.post("/login", dependencies=Limited, response_model=Envelope[AuthResult])
async def login(
    body: LoginRequest, request: Request, db: DbSession, settings: SettingsDep
) -> Envelope[AuthResult]:
    # Limited per address (the dependency) and per account, so rotating addresses does not
    # buy an attacker more guesses at one password.
    await refuse_if_account_limited(request, body.email)
    try:
        user, tokens = await service.login(db, settings, body.email, body.password)
    except Unauthorized:
        await count_failed_login(request, body.email)
        raise
    profile = await profile_of(db, user)
    return ok(
        AuthResult(
            user=profile,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
        ),
        "Login successful",
    )


@router.post("/refresh", dependencies=Limited, response_model=Envelope[TokenPair])
async def refresh(
    body: RefreshRequest, db: DbSession, settings: SettingsDep
) -> Envelope[TokenPair]:
    tokens = await service.refresh(db, settings, body.refresh_token)
    return ok(
        TokenPair(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
        ),
        "Token refreshed",
    )


@router.post("/logout", response_model=Envelope[None])
async def logout(body: RefreshRequest, db: DbSession) -> Envelope[None]:
    await service.logout(db, body.refresh_token)
    return ok(None, "Logged out")


async def _send_reset(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, temporal: Client, email: str
) -> None:
    try:
        async with sessionmaker() as db:
            user = await service.find_active_by_email(db, email)
            if user is None:
                return
            reset_id, token = await service.new_password_reset(db, settings, user)
            await db.commit()
        await notices.send_password_reset(temporal, settings, user, reset_id, token)
    except Exception as exc:  # after the answer: logged, and the person can ask again
        log.error("password_reset_not_sent", error=type(exc).__name__)


async def _resend_verification(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, temporal: Client, email: str
) -> None:
    try:
        async with sessionmaker() as db:
            user = await service.find_active_by_email(db, email)
            if user is None or (user.is_verified and user.pending_email is None):
                return  # (a waiting change's link goes to the new address again)
            verification_id, token = await service.new_email_verification(db, settings, user)
            await db.commit()
        await notices.send_verification(temporal, settings, user, verification_id, token)
    except Exception as exc:  # after the answer: logged, and the person can ask again
        log.error("verification_not_sent", error=type(exc).__name__)


# Whether the address has an account must not show in the answer nor in its time: the route
# does the same (nothing) for both, and the work for a known address runs after the answer.
@router.post("/forgot-password", dependencies=Limited, response_model=Envelope[None])
async def forgot_password(
    body: EmailRequest,
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    temporal: Temporal,
) -> Envelope[None]:
    background.add_task(_send_reset, request.app.state.sessionmaker, settings, temporal, body.email)
    return ok(None, SENT_IF_EXISTS)


@router.post("/reset-password", dependencies=Limited, response_model=Envelope[None])
async def reset_password(
    body: ResetPasswordRequest, db: DbSession, settings: SettingsDep, temporal: Temporal
) -> Envelope[None]:
    user = await service.reset_password(db, body.token, body.password)
    await db.commit()
    await notices.send_password_changed(temporal, settings, user)
    return ok(None, "Password changed. Log in with your new password.")


@router.post("/verify-email", dependencies=Limited, response_model=Envelope[ProfileOut])
async def verify_email(
    body: TokenRequest, db: DbSession, settings: SettingsDep, temporal: Temporal
) -> Envelope[ProfileOut]:
    verified = await service.verify_email(db, body.token)
    profile = await profile_of(db, verified.user)
    await db.commit()  # the change is durable before its notice goes out
    await notices.email_confirmed(temporal, settings, verified)
    return ok(profile, "E-mail verified")


@router.post("/resend-verification", dependencies=Limited, response_model=Envelope[None])
async def resend_verification(
    body: EmailRequest,
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    temporal: Temporal,
) -> Envelope[None]:
    background.add_task(
        _resend_verification, request.app.state.sessionmaker, settings, temporal, body.email
    )
    return ok(None, SENT_IF_EXISTS)


@router.get("/profile", response_model=Envelope[ProfileOut])
async def get_profile(user: CurrentUser, db: DbSession) -> Envelope[ProfileOut]:
    return ok(await profile_of(db, user))


@router.patch("/profile", response_model=Envelope[ProfileOut])
async def update_profile(
    body: ProfileUpdate, user: CurrentUser, db: DbSession, settings: SettingsDep, temporal: Temporal
) -> Envelope[ProfileOut]:
    changes = body.model_dump(exclude_unset=True)
    email = changes.pop("email", None)
    await service.ensure_unique(db, None, changes.get("phone"), exclude=user.id)
    for key, value in changes.items():
        if value is None and key in ("locale",):
            continue
        setattr(user, key, value)
    await db.flush()
    message = "Profile updated"
    if email and await users_service.change_email(db, temporal, settings, user, email):
        message += users_service.EMAIL_CHANGE_SENT
    await db.refresh(user)
    return ok(await profile_of(db, user), message)
