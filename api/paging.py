"""Pages of the big lists (bookings, appointments, payments): keyset cursors next to `page=`,
and a total that stays cheap at any size.

A list sorted newest first by (key, id) answers `meta.next`, an opaque cursor naming the last row
of the page; `after=<cursor>` then reads the rows after it from the index, however deep, and
a walk by cursors sees every row that existed when it began exactly once (rows created meanwhile
sort before the cursor, so the walk does not see them twice or shift its pages). `page=` keeps
working (OFFSET: it reads the rows it skips, so it slows with depth).

`meta.total` is exact (`total_exact: true`) up to `MEDIVOY_LIST_EXACT_TOTAL_MAX` rows: the count
stops reading once it has passed that many. Above it `total` is PostgreSQL's estimate for the
same query (never below what is known to exist) and `total_exact` is false, unless the page
itself proves the exact figure (a `page=` page with fewer rows than `limit`)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from api.deps import SettingsDep
from api.envelope import KeysetMeta, KeysetPage
from domain.errors import Invalid

MAX_PAGE = 100_000
T = TypeVar("T")


@dataclass(frozen=True)
class Position:
    """Where a page starts: after the row (key, id), and the page number it is."""

    key: datetime
    id: uuid.UUID
    page: int

    def encode(self) -> str:
        raw = json.dumps([self.key.isoformat(), str(self.id), self.page], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            key, row_id, page = json.loads(base64.urlsafe_b64decode(padded.encode()))
            at = datetime.fromisoformat(key)
            if at.tzinfo is None or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
                raise ValueError(cursor)
            return cls(at.astimezone(UTC), uuid.UUID(row_id), page)
        except (ValueError, TypeError, OverflowError, binascii.Error) as error:
            raise _bad_cursor() from error


def _bad_cursor() -> Invalid:
    return Invalid(
        "`after` is not a cursor this API gave (use a list's meta.next as it is)",
        code="INVALID_CURSOR",
    )


@dataclass(frozen=True)
class KeysetPaging:
    page: int
    limit: int
    after: Position | None

    @property
    def offset(self) -> int:
        """The rows `page=` skips (0 with a cursor: the cursor says where to start)."""
        return 0 if self.after is not None else (self.page - 1) * self.limit


def get_keyset_paging(
    page: Annotated[
        int | None,
        Query(ge=1, le=MAX_PAGE, description="Page number, from 1 (not with `after`)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100)")] = 20,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The previous page's `meta.next`: the page after it, read from the "
            "index at any depth (not with `page`)",
        ),
    ] = None,
) -> KeysetPaging:
    if after is not None and page is not None:
        raise Invalid("Ask for `page` or `after`, not both", code="PAGE_AND_AFTER")
    if after is not None:
        position = Position.decode(after)
        return KeysetPaging(page=position.page, limit=limit, after=position)
    return KeysetPaging(page=page or 1, limit=limit, after=None)


KeysetPagingDep = Annotated[KeysetPaging, Depends(get_keyset_paging)]


@dataclass(frozen=True)
class Window(Generic[T]):
    """A page's rows and where the next page starts (None: this is the last page)."""

    rows: list[T]
    next: str | None


def window_ids(where: ColumnElement[bool], key: Any, row_id: Any, paging: KeysetPaging) -> Any:
    """The page's ids and keys, newest first by (key, id), from an index in that order alone;
    one row more than the page, to know whether another page follows. Join it to the details."""
    stmt = select(row_id.label("id"), key.label("key")).where(where)
    if paging.after is not None:
        stmt = stmt.where(tuple_(key, row_id) < tuple_(paging.after.key, paging.after.id))
    return (
        stmt.order_by(key.desc(), row_id.desc())
        .offset(paging.offset)
        .limit(paging.limit + 1)
        .subquery("page_ids")
    )


def window_of(
    rows: list[T], paging: KeysetPaging, position: Callable[[T], tuple[datetime, uuid.UUID]]
) -> Window[T]:
    """The page from the rows of window_ids (in its order), with the cursor of the next page."""
    shown = rows[: paging.limit]
    if len(rows) <= paging.limit:
        return Window(shown, None)
    key, row_id = position(shown[-1])
    return Window(shown, Position(key, row_id, paging.page + 1).encode())


class _Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.stmt, **kw))


async def estimated_rows(db: AsyncSession, stmt: Select[Any]) -> int:
    """PostgreSQL's own estimate of the rows `stmt` returns (its statistics: no rows read)."""
    plan = (await db.execute(_Explain(stmt))).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def capped_count(where: ColumnElement[bool], row_id: Any, exact_max: int) -> Any:
    """The matching rows counted up to exact_max + 1, as a column to add to the page's query
    (one round trip for both; PostgreSQL runs it once, apart from the page's rows)."""
    matching = select(row_id).where(where).limit(exact_max + 1).correlate(None).subquery()
    return select(func.count()).select_from(matching).correlate(None).scalar_subquery()


async def total_of(
    db: AsyncSession,
    where: ColumnElement[bool],
    row_id: Any,
    paging: KeysetPaging,
    window: Window[Any],
    *,
    exact_max: int,
    counted: int | None,
) -> tuple[int, bool]:
    """(total, exact): counted up to exact_max + 1 rows (`counted`, from the page's query; read
    here when the page is empty), estimated above (see the module)."""
    if counted is None:
        counted = int(await db.scalar(select(capped_count(where, row_id, exact_max))) or 0)
    if counted <= exact_max:
        return counted, True
    shown = len(window.rows)
    if paging.after is None and window.next is None and shown > 0:
        return paging.offset + shown, True  # the last page: everything before it plus itself
    at_least = exact_max + 1
    if paging.after is None and window.next is not None:
        at_least = max(at_least, paging.offset + shown + 1)
    estimate = max(at_least, await estimated_rows(db, select(row_id).where(where)))
    if paging.after is None and shown == 0 and paging.offset >= at_least:
        estimate = min(estimate, paging.offset)  # past the end: there are fewer than that
    return estimate, False


def keyset_page(paging: KeysetPaging, window: Window[T], total: tuple[int, bool]) -> KeysetPage[T]:
    meta = KeysetMeta(
        page=paging.page,
        limit=paging.limit,
        total=total[0],
        total_exact=total[1],
        next=window.next,
    )
    return KeysetPage(data=window.rows, meta=meta)


def exact_total_max(settings: SettingsDep) -> int:
    return settings.list_exact_total_max


ExactTotalMax = Annotated[int, Depends(exact_total_max)]
