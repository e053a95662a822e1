"""One place that turns every failure into the plan's error envelope with the right status."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api import context
from api.envelope import error_body
from api.middleware import BodyTooLarge
from domain import errors
from runtime.db import DatabaseUnreachable
from runtime.logging import log
from workflows._kit import domain_error as refused_as_domain_error

STATUS: dict[type[errors.DomainError], int] = {
    errors.Invalid: 400,
    errors.Unprocessable: 422,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


JSON_TOO_DEEP = "The request body is not valid JSON: it is nested too deeply"


def _status_of(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(_status_of(exc), exc.code, exc.message, exc.details, headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(400, "MALFORMED_JSON", "The request body is not valid JSON")
    details = [
        {"field": _field(tuple(p.get("loc", ()))), "message": p.get("msg", "invalid")}
        for p in problems
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return error_response(422, "VALIDATION_ERROR", message, details)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI turns any failure to parse the body into a bare 400: name what happened.
    if isinstance(exc.__cause__, BodyTooLarge):
        return error_response(413, "PAYLOAD_TOO_LARGE", str(exc.__cause__))
    if isinstance(exc.__cause__, RecursionError):
        return error_response(400, "MALFORMED_JSON", JSON_TOO_DEEP)
    code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = str(exc.detail) if exc.detail else code.replace("_", " ").capitalize()
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def update_failed(request: Request, exc: Exception) -> JSONResponse:
    """A workflow update validator or handler refused: its ApplicationError names the error."""
    assert isinstance(exc, WorkflowUpdateFailedError)
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        # The refusal bridge's spelling: type = the DomainError class name, code in details.
        return await domain_error(request, refused_as_domain_error(cause))
    return await unexpected(request, exc)


async def data_error(_: Request, exc: Exception) -> JSONResponse:
    """A value the schema let through but the column cannot hold (a defence; schemas should
    stop it first): the caller's fault, never a 500."""
    log.warning("data_error", error=type(getattr(exc, "orig", exc)).__name__)
    return error_response(
        422, "INVALID_VALUE", "A value does not fit its field (too long or out of range)"
    )


async def integrity_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity_error", error=type(getattr(exc, "orig", exc)).__name__)
    return error_response(
        409,
        "CONFLICT",
        "This clashes with existing data or refers to something that does not exist",
    )


# A PostgreSQL restart takes seconds: ask again after this many.
DATABASE_RETRY_AFTER = 2

# What asyncpg raises when the server went away under an open connection (a restart, a
# failover), wrapped by SQLAlchemy as a DBAPIError.
_DISCONNECTS = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)


def database_down(exc: BaseException) -> bool:
    """Is this failure PostgreSQL being unreachable (not a query of ours going wrong)?"""
    if isinstance(exc, DatabaseUnreachable | PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    cause: BaseException | None = exc.orig
    while cause is not None:
        if isinstance(cause, _DISCONNECTS):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL down or restarting: a prompt 503 the client may retry. The request's
    transaction was rolled back (or never began), so nothing of it is written; the pool
    replaces the closed connections by itself once the server is back (pool_pre_ping)."""
    if not database_down(exc):
        return await unexpected(request, exc)
    # The driver's own class names what happened (the adapter's wrapper is just "Error").
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    log.warning("database_unavailable", error=type(cause).__name__)
    return error_response(
        503,
        "DATABASE_UNAVAILABLE",
        "The database is not reachable; nothing was changed. Try again shortly",
        {"retry_after": DATABASE_RETRY_AFTER},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


async def unexpected(_: Request, exc: Exception) -> JSONResponse:
    ctx = context.get()
    request_id = ctx.request_id if ctx else None
    log.exception("unhandled_error", error=type(exc).__name__)
    return error_response(
        500,
        "INTERNAL_ERROR",
        "Something went wrong on our side. Quote the request id when you contact support.",
        {"request_id": request_id},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(WorkflowUpdateFailedError, update_failed)
    app.add_exception_handler(DataError, data_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(DatabaseUnreachable, database_error)
    app.add_exception_handler(PoolTimeout, database_error)
    app.add_exception_handler(Exception, unexpected)
