"""The plan's response envelope: {"success", "message", "data"} (+ "meta" on lists)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    message: str = "OK"
    data: T


class PageMeta(BaseModel):
    page: int
    limit: int
    total: int


class Page(BaseModel, Generic[T]):
    success: bool = True
    message: str = "OK"
    data: list[T]
    meta: PageMeta


class KeysetMeta(PageMeta):
    page: int = Field(
        description="This page's number, counted from the first page (with `after=`: from the "
        "first page of the walk, whatever was created meanwhile)"
    )
    total: int = Field(
        description="Rows matching the filters: exact when `total_exact`, else PostgreSQL's "
        "estimate (above MEDIVOY_LIST_EXACT_TOTAL_MAX rows, 10,000 by default)"
    )
    total_exact: bool = Field(
        True, description="false when `total` is an estimate (a large list, see `total`)"
    )
    next: str | None = Field(
        None,
        description="Pass as `after=` for the page after this one (null: this is the last "
        "page). Reads from the index at any depth, and a walk by `after=` sees every row that "
        "existed when it began exactly once",
    )


class KeysetPage(BaseModel, Generic[T]):
    """A page of a big list (api/paging.py): the plan's meta plus total_exact and next."""

    success: bool = True
    message: str = "OK"
    data: list[T]
    meta: KeysetMeta


class ErrorBody(BaseModel):
    code: str = Field(examples=["INVALID_TRANSITION"])
    message: str = Field(examples=["A confirmed booking cannot move back to under review"])
    details: Any = None


class ErrorEnvelope(BaseModel):
    success: bool = False
    message: str
    error: ErrorBody


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """Every error's body, whoever answers (a route, the error handlers, the middleware):
    {"success": false, "message", "error": {"code", "message", "details"}}."""
    return {
        "success": False,
        "message": message,
        "error": {"code": code, "message": message, "details": details},
    }


def ok(data: T, message: str = "OK") -> Envelope[T]:
    return Envelope(data=data, message=message)


def page(items: list[T], *, page: int, limit: int, total: int, message: str = "OK") -> Page[T]:
    meta = PageMeta(page=page, limit=limit, total=total)
    return Page(data=items, message=message, meta=meta)


# Documented on every route: what each error status looks like.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in {
        400: "Bad request",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Body too large",
        422: "Validation error (names the field)",
        429: "Too many requests",
        500: "Unexpected error (carries the request id)",
        503: "A service the request needs is down",
    }.items()
}
