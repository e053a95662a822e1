"""create_app(): the FastAPI application with its middleware, routers and error handlers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio.lowlevel
from fastapi import FastAPI
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import NoMatchFound
from temporalio.client import Client

from activities.providers.wiring import Adapters, build_adapters
from api import errors, metrics, pages
from api.audit import AuditedSession
from api.cache import WritesInvalidate, build_cache
from api.deadline import bounded
from api.envelope import ERROR_RESPONSES
from api.i18n import platform_locales
from api.metrics import TelemetryMiddleware
from api.middleware import PathCORS, RequestMiddleware
from api.routers import ROUTERS, codec
from domain.passwords import configure_password_hashing
from runtime import telemetry
from runtime.db import make_engine
from runtime.logging import configure_logging, log
from runtime.settings import Settings, get_settings

API_PREFIX = "/api/v1"


async def warm_start(app: FastAPI, engine: AsyncEngine) -> None:
    """What the first requests would otherwise wait for, done once at start
    (MEDIVOY_API_WARM_START). FastAPI builds each route's request handling (its dependencies,
    parameter and response models) lazily, the first time a request reaches its router: about
    0.6 s of CPU for this API on 2 cores. Looking up a route name that no route has walks, and
    so builds, every route. Then the pool's first connection (with SQLAlchemy's first-connect
    checks) and anyio's event-loop backend, which starlette imports on its first use. A
    database that is down at start is no reason not to start: the pool connects later. Last,
    what start made is frozen out of the garbage collector's full collections."""
    with suppress(NoMatchFound):
        app.url_path_for("medivoy-warm-start")
    await anyio.lowlevel.checkpoint()
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the API starts all the same; requests answer 503 until it is up
        log.warning("warm_start_without_database", error=type(exc).__name__)
    # What start made lives as long as the process (modules, routes, models: about 370,000
    # objects): out of the collector's way, a full collection no longer walks them all, which
    # took 0.2-0.6 s on 2 busy cores, every few hundred requests, in whichever request ran.
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    engine_url: str | None = None,
    temporal: Client | None = None,
    adapters: Adapters | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`adapters`: built once from settings at start unless given (api/deps.py hands them out).
    `tracer_provider`: where spans go (default: OTLP when MEDIVOY_OTLP_ENDPOINT is set, else
    none); a `temporal` client given carries its own tracing interceptor."""
    settings = settings or get_settings()
    own_traces = tracer_provider is None
    traces = tracer_provider or telemetry.tracer_provider(settings, "medivoy-api")
    configure_logging(settings.log_level, settings.log_json)
    configure_password_hashing(settings.password_hash_cost)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = engine_url or settings.database_url
        if not url:
            raise RuntimeError("MEDIVOY_DATABASE_URL is not set")
        engine = make_engine(url, connect_timeout=settings.database_connect_timeout_seconds)
        app.state.engine = engine
        app.state.sessionmaker = async_sessionmaker(
            engine, class_=AsyncSession, expire_on_commit=False, sync_session_class=AuditedSession
        )
        app.state.adapters = adapters or build_adapters(settings, app.state.sessionmaker)
        redis = settings.redis_url
        storage_url = "async+memory://" if not redis else "async+" + redis
        app.state.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        app.state.answer_cache = build_cache(redis)
        if settings.api_warm_start:
            await warm_start(app, engine)
        try:
            yield
        finally:
            await app.state.answer_cache.close()
            await engine.dispose()
            if own_traces and traces is not None:
                traces.shutdown()

    app = FastAPI(
        title="Medivoy API",
        version="1.0.0",
        description="The Medivoy medical-tourism platform. Every answer is wrapped in "
        '`{"success", "message", "data"}`; errors carry `error.code`.',
        openapi_tags=[m.TAG for m in ROUTERS],
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.temporal = (
        bounded(temporal, settings.workflow_deadline_seconds) if temporal is not None else None
    )
    app.state.temporal_lock = asyncio.Lock()
    app.state.tracer_provider = traces

    errors.install(app)
    # CORS by path: the codec endpoint lets in only the Temporal UI's origins, the rest of the
    # API only the front-ends'.
    app.add_middleware(
        PathCORS,
        prefix=f"{API_PREFIX}{codec.PREFIX}",
        inside=dict(
            allow_origins=settings.codec_cors_origins,
            allow_credentials=True,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        )
        if settings.codec_cors_origins
        else None,
        outside=dict(
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "Idempotency-Key",
                "Accept-Language",
            ],
            expose_headers=["X-Request-ID"],
        )
        if settings.cors_origins
        else None,
    )
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        trusted_proxies=settings.trusted_proxies,
        locales=platform_locales(settings),
        # Uploads may be larger than JSON bodies: the file limit plus room for the multipart
        # framing and form fields.
        large_body_paths={
            f"{API_PREFIX}{prefix}": settings.max_upload_bytes + 131_072
            for prefix in ("/upload", "/medical-records", "/lab-tests")
        }
        # A page of history payloads for the Temporal UI (Temporal's payload limit is 2 MB).
        | {f"{API_PREFIX}{codec.PREFIX}": 8 * 1_048_576},
    )
    app.add_middleware(
        WritesInvalidate,
        ignore=tuple(
            f"{API_PREFIX}{path}"
            for path in ("/auth/login", "/auth/refresh", "/auth/logout", codec.PREFIX)
        ),
    )
    # Outermost: counts and traces every answer, the middleware's own 400/413 included.
    app.add_middleware(TelemetryMiddleware, tracer=telemetry.tracer(traces))
    for module in ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.include_router(pages.router)
    return app
