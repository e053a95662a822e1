"""The error hierarchy of the business. Each error carries a stable SCREAMING_SNAKE code."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class Invalid(DomainError):
    """The request is well-formed but breaks a rule (400)."""

    code = "INVALID_REQUEST"


class Unprocessable(Invalid):
    """The request is well-formed but cannot be done as asked: a time outside the doctor's hours,
    too soon or in the past (422, with the reason)."""

    code = "UNPROCESSABLE"


class Unauthorized(DomainError):
    """Who is asking is not known (401)."""

    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    """Who is asking is known and may not do this (403)."""

    code = "FORBIDDEN"


class NotFound(DomainError):
    """It does not exist, or the caller may not know that it does (404)."""

    code = "NOT_FOUND"


class Conflict(DomainError):
    """It clashes with the current state (409)."""

    code = "CONFLICT"


class RateLimited(DomainError):
    """Too many attempts (429)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Something the request needs is down (503)."""

    code = "SERVICE_UNAVAILABLE"
