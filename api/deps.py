"""Dependencies declared once as Annotated aliases: settings, the request's DB transaction, the
Temporal client, the adapters built at start (gateways, storage), the caller, role checks,
pagination and rate limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from activities.providers.gateways import PaymentGateway
from activities.providers.storage import Storage
from activities.providers.wiring import Adapters
from api import context
from api.deadline import bounded
from api.i18n import platform_locales
from api.security import decode_access_token
from api.translation_hook import CHANGES_KEY, start_translations
from domain.access import Role
from domain.errors import Forbidden, NotFound, RateLimited, Unauthorized, Unavailable
from domain.models.users import User
from domain.payment import PaymentGateway as GatewayName
from runtime.logging import log
from runtime.settings import Settings
from runtime.telemetry import client_interceptors
from runtime.temporal import connect


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: committed when the route returns, rolled back when it
    raises, so a failed request leaves nothing behind. Runs before the response is sent. A route
    that must make a write durable before a side effect (starting a workflow) commits first."""
    ctx = context.get()
    route = request.scope.get("route")
    if ctx is not None and route is not None:
        ctx.action = getattr(route, "name", None)
    async with request.app.state.sessionmaker() as session:
        session.sync_session.info[CHANGES_KEY] = set()
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        changes = session.sync_session.info.pop(CHANGES_KEY, None)
        if changes:
            await _start_translations(request, changes)


async def _start_translations(request: Request, changes: set[tuple[str, uuid.UUID]]) -> None:
    """The committed content changes start their translations (api/translation_hook.py)."""
    settings: Settings = request.app.state.settings
    try:
        client = await get_temporal(request)
    except Unavailable:
        log.warning("translation_start_failed", error="TEMPORAL_UNAVAILABLE")
        return
    await start_translations(client, settings.task_queue, settings.translation_locales, changes)


DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


def get_adapters(request: Request) -> Adapters:
    """The adapters the API lifespan built once (activities/providers/wiring.py)."""
    adapters: Adapters = request.app.state.adapters
    return adapters


AdaptersDep = Annotated[Adapters, Depends(get_adapters)]


def get_gateways(adapters: AdaptersDep) -> Mapping[GatewayName, PaymentGateway]:
    return adapters.gateways


# The configured payment gateways by name (none in a bare dev setup).
Gateways = Annotated[Mapping[GatewayName, PaymentGateway], Depends(get_gateways)]


def get_storage(adapters: AdaptersDep) -> Storage:
    return adapters.storage


StorageDep = Annotated[Storage, Depends(get_storage)]


async def get_temporal(request: Request) -> Client:
    state = request.app.state
    if state.temporal is None:
        async with state.temporal_lock:
            if state.temporal is None:
                try:
                    deadline = state.settings.workflow_deadline_seconds
                    traced = client_interceptors(state.tracer_provider)
                    connected = await asyncio.wait_for(
                        connect(state.settings, interceptors=traced), timeout=deadline
                    )
                    state.temporal = bounded(connected, deadline)
                except Exception as exc:
                    raise Unavailable(
                        "The workflow engine is not reachable; try again shortly",
                        code="TEMPORAL_UNAVAILABLE",
                    ) from exc
    client: Client = state.temporal
    return client


Temporal = Annotated[Client, Depends(get_temporal)]

# A retry with the same key gets the first answer and does nothing twice (per caller).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request with the same key (after a 503 or a lost answer) to get "
        "the first answer: the command is not carried out twice",
    ),
]

bearer = HTTPBearer(auto_error=False, description="The access token from /auth/login")


async def get_current_user(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "Log in first: send 'Authorization: Bearer <access token>'", code="AUTH_REQUIRED"
        )
    claims = decode_access_token(settings, credentials.credentials)
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("The access token is not valid", code="INVALID_TOKEN") from exc
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active", code="ACCOUNT_INACTIVE")
    if claims.get("ver", 0) != user.token_version:
        # Logged out, or its refresh family was revoked, after this token was issued.
        raise Unauthorized("This session has ended; log in again", code="TOKEN_REVOKED")
    ctx = context.get()
    if ctx is not None:
        ctx.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def optional_user(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User | None:
    """The caller when a token is sent (a bad token is still refused), None for the public."""
    if credentials is None:
        return None
    return await get_current_user(request, db, settings, credentials)


MaybeUser = Annotated[User | None, Depends(optional_user)]


def requested_locale(
    request: Request,
    settings: SettingsDep,
    lang: Annotated[
        str | None,
        Query(
            description="Language of catalog text: one of the platform's locales "
            "(MEDIVOY_DEFAULT_LOCALE and MEDIVOY_TRANSLATION_LOCALES; by default en, ar, hi, "
            "es, fr)",
            pattern=r"^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
        ),
    ] = None,
) -> str | None:
    """`?lang=` wins, then the first of the platform's languages in Accept-Language."""
    locales = platform_locales(settings)
    candidates = [lang] if lang else []
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        tag = part.split(";")[0].strip()
        if tag:
            candidates.append(tag)
    for tag in candidates:
        base = tag.split("-")[0].lower()
        if base in locales:
            return base
    return None


RequestLocale = Annotated[str | None, Depends(requested_locale)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    """A dependency that lets only these roles through (403 otherwise). Doctors and hospital
    admins also need an admin's approval before they act in their role."""
    allowed = {r.value for r in roles}

    async def check(user: CurrentUser) -> User:
        if user.user_type not in allowed:
            raise Forbidden(
                "Your role may not do this",
                code="ROLE_NOT_ALLOWED",
                details={"allowed_roles": sorted(allowed)},
            )
        if not user.is_approved:
            raise Forbidden(
                "An administrator has not approved this account yet", code="ACCOUNT_NOT_APPROVED"
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]


def ensure_self_or_admin(user: User, owner_id: uuid.UUID | None) -> None:
    """Object-level check: a caller reaches only their own records unless they are an admin."""
    if user.user_type == Role.ADMIN.value:
        return
    if owner_id is None or owner_id != user.id:
        raise NotFound("Not found", code="NOT_FOUND")


@dataclass
class Pagination:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def get_pagination(
    page: Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100)")] = 20,
) -> Pagination:
    return Pagination(page=page, limit=limit)


Paging = Annotated[Pagination, Depends(get_pagination)]


async def _refuse(state: Any, item: Any, scope: str, key: str) -> None:
    stats = await state.limiter.get_window_stats(item, scope, key)
    retry = max(1, int(stats.reset_time - time.time()))
    raise RateLimited("Too many attempts; wait before trying again", retry_after=retry)


ACCOUNT_SCOPE = "login-account"


async def refuse_if_account_limited(request: Request, email: str) -> None:
    """429 once an account has had too many failed logins, from whatever addresses."""
    state = request.app.state
    item = parse(state.settings.login_account_rate_limit)
    key = email.strip().lower()
    if not await state.limiter.test(item, ACCOUNT_SCOPE, key):
        await _refuse(state, item, ACCOUNT_SCOPE, key)


async def count_failed_login(request: Request, email: str) -> None:
    state = request.app.state
    item = parse(state.settings.login_account_rate_limit)
    await state.limiter.hit(item, ACCOUNT_SCOPE, email.strip().lower())


def rate_limited() -> Callable[..., Coroutine[Any, Any, None]]:
    """Limit attempts per client address on a sensitive endpoint (429 with Retry-After)."""

    async def check(request: Request) -> None:
        state = request.app.state
        item = parse(state.settings.auth_rate_limit)
        ctx = context.get()
        key = ctx.ip if ctx and ctx.ip else "unknown"
        route = request.scope.get("route")
        scope = getattr(route, "path", request.url.path)
        if not await state.limiter.hit(item, scope, key):
            await _refuse(state, item, scope, key)

    return check
