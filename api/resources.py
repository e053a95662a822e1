"""The resource kit: what the catalog, content and care routers share. A Resource names a model,
its output schema and its access policy; the helpers below do the querying (visibility, filters,
search, sorting, paging), rendering (with translations) and the writes, so that each route is an
explicit, typed function of a few lines over them, written in its router.

Authorization comes before the body is read: a write route takes its row through
`Depends(changeable(resource))` (404 when the caller may not see it, 403 when they may see but not
change it) or its caller through `Depends(creator(resource))` (403 for a role that may not
create), and FastAPI solves those dependencies before it validates the body. So a caller who may
not write gets 403/404 whatever they send; one who may gets 422 naming the bad field."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.deps import CurrentUser, DbSession, Pagination
from api.envelope import Page, page
from api.i18n import translate
from domain.access import Role
from domain.errors import Conflict, Forbidden, NotFound
from domain.models.base import Base
from domain.models.users import User
from domain.translation import fields_of

M = TypeVar("M", bound=Base)
Out = TypeVar("Out", bound=BaseModel)

SORT_HELP = "A sortable field; '-' first for descending"
RowId = Annotated[uuid.UUID, Path(alias="id", description="The row's id")]
Search = Annotated[str | None, Query(max_length=100)]


class Access(Generic[M]):
    """Who may see and change rows of one resource. The default: anyone logged in may read,
    only admins may write. Subclass per resource; every method is the single place its rule
    lives (the rules themselves: domain/access.py, their SQL: api/policies.py)."""

    public_read: bool = False
    create_roles: frozenset[Role] = frozenset({Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        """Restrict a query to the rows this caller may see (404 for the rest)."""
        return stmt

    def writable_fields(self, user: User) -> set[str] | None:
        """Fields this caller may set; None means every field of the schema."""
        return None if user.user_type == Role.ADMIN else set()

    def check_may_create(self, user: User) -> None:
        """Refuse a caller whose role may not create at all (before the body is read)."""
        if Role(user.user_type) not in self.create_roles:
            raise Forbidden("Your role may not create this", code="ROLE_NOT_ALLOWED")

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        """Check and complete a new row's data (e.g. force the owner to the caller)."""
        self.check_may_create(user)

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        """Refuse an update or delete of a visible row the caller may not change."""
        if user.user_type != Role.ADMIN:
            raise Forbidden("Your role may not change this", code="ROLE_NOT_ALLOWED")

    async def before_update(
        self, db: AsyncSession, user: User, row: Any, data: dict[str, Any]
    ) -> None:
        """Check a change against the row as stored, before it is applied: fields that must
        fit together (raise RequestValidationError to name the field, 422)."""

    async def after_change(self, db: AsyncSession, user: User, row: Any) -> None:
        """Keep what depends on this row current (in the same transaction) after a create,
        update or delete."""


@dataclass
class Resource(Generic[M, Out]):
    model: type[M]
    name: str  # "hospital": used in messages and error codes (HOSPITAL_NOT_FOUND)
    out: type[Out]
    access: Access[M] = field(default_factory=Access)
    # Filter field -> how it narrows the query; by default a filter equals its column.
    filter_rules: dict[str, Callable[[Any], ColumnElement[bool]]] = field(default_factory=dict)
    search: Sequence[InstrumentedAttribute[Any]] = ()
    sortable: Sequence[str] = ("created_at",)
    default_sort: str = "-created_at"
    translated: Sequence[str] = ()
    entity_type: str | None = None  # translations.entity_type; defaults to the table name

    @property
    def code(self) -> str:
        return self.name.upper().replace(" ", "_")

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def sort_pattern(self) -> str:
        """The `?sort=` values this resource accepts (for Query(pattern=...))."""
        return "^-?(" + "|".join(self.sortable) + ")$"

    def not_found(self) -> NotFound:
        return NotFound(f"{self.label} not found", code=f"{self.code}_NOT_FOUND")


def _search_clause(columns: Sequence[InstrumentedAttribute[Any]], term: str) -> Any:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(*(cast(c, String).ilike(pattern, escape="\\") for c in columns))


def _sort(resource: Resource[Any, Any], sort: str | None) -> list[Any]:
    key = sort or resource.default_sort
    descending = key.startswith("-")
    name = key.lstrip("-")
    column = getattr(resource.model, name)
    primary = column.desc().nulls_last() if descending else column.asc().nulls_last()
    return [primary, resource.model.__table__.c.id]


async def get_visible(
    db: AsyncSession, resource: Resource[M, Any], user: User | None, row_id: uuid.UUID
) -> M:
    """The row if it exists and the caller may see it; 404 otherwise (never its data)."""
    by_id = select(resource.model).where(resource.model.__table__.c.id == row_id)
    row: M | None = await db.scalar(resource.access.visible(user, by_id))
    if row is None:
        raise resource.not_found()
    return row


async def list_rows(
    db: AsyncSession,
    resource: Resource[M, Any],
    user: User | None,
    paging: Pagination,
    filters: BaseModel | None,
    search: str | None,
    sort: str | None,
    base: Select[Any] | None = None,
) -> tuple[Sequence[M], int]:
    stmt = resource.access.visible(user, base if base is not None else select(resource.model))
    if filters is not None:
        for name, value in filters.model_dump(exclude_none=True).items():
            rule = resource.filter_rules.get(name)
            stmt = stmt.where(rule(value) if rule else getattr(resource.model, name) == value)
    if search and resource.search:
        stmt = stmt.where(_search_clause(resource.search, search))
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (
        await db.scalars(
            stmt.order_by(*_sort(resource, sort)).offset(paging.offset).limit(paging.limit)
        )
    ).all()
    return rows, int(total or 0)


async def render_dicts(
    db: AsyncSession, resource: Resource[Any, Any], rows: Sequence[Any], locale: str | None
) -> list[dict[str, Any]]:
    """Rows as their output schema's data, with catalog text in the caller's language."""
    items = [resource.out.model_validate(r).model_dump(mode="python") for r in rows]
    entity_type = resource.entity_type or resource.model.__tablename__
    # The fields declared translatable (domain/translation.py) win over the resource's own list.
    fields = list(fields_of(entity_type)) or list(resource.translated)
    if not fields:
        return items
    return await translate(db, entity_type, fields, items, locale)


async def render(
    db: AsyncSession, resource: Resource[Any, Out], rows: Sequence[Any], locale: str | None
) -> list[Out]:
    items = await render_dicts(db, resource, rows, locale)
    return [resource.out.model_validate(item) for item in items]


async def render_one(
    db: AsyncSession, resource: Resource[Any, Out], row: Any, locale: str | None = None
) -> Out:
    return (await render(db, resource, [row], locale))[0]


async def list_page(
    db: AsyncSession,
    resource: Resource[Any, Out],
    user: User | None,
    paging: Pagination,
    locale: str | None,
    filters: BaseModel | None = None,
    search: str | None = None,
    sort: str | None = None,
    base: Select[Any] | None = None,
) -> Page[Out]:
    """One page of the rows the caller may see, filtered, searched, sorted and rendered."""
    rows, total = await list_rows(db, resource, user, paging, filters, search, sort, base)
    return page(
        await render(db, resource, rows, locale),
        page=paging.page,
        limit=paging.limit,
        total=total,
    )


def changeable(resource: Resource[M, Any]) -> Callable[..., Awaitable[M]]:
    """A dependency: the row of the path's {id} if the caller may see it (else 404) and change
    it (else 403), solved before the body is validated."""

    async def row_to_change(row_id: RowId, db: DbSession, user: CurrentUser) -> M:
        row = await get_visible(db, resource, user, row_id)
        await resource.access.before_change(db, user, row)
        return row

    return row_to_change


def creator(resource: Resource[Any, Any]) -> Callable[..., Awaitable[User]]:
    """A dependency: the caller, if their role may create this resource (else 403), solved
    before the body is validated."""

    async def may_create(user: CurrentUser) -> User:
        resource.access.check_may_create(user)
        return user

    return may_create


def check_writable(resource: Resource[Any, Any], user: User, data: dict[str, Any]) -> None:
    allowed = resource.access.writable_fields(user)
    if allowed is None:
        return
    refused = sorted(set(data) - allowed)
    if refused:
        raise Forbidden(
            "Your role may not set " + ", ".join(refused),
            code="FIELD_NOT_ALLOWED",
            details={"fields": refused},
        )


async def create_row(
    db: AsyncSession, resource: Resource[M, Any], user: User, data: dict[str, Any]
) -> M:
    """A new row from the caller's (validated) data, after the access checks; 409 when it
    clashes with an existing row or names one that does not exist."""
    check_writable(resource, user, data)
    await resource.access.before_create(db, user, data)
    row = resource.model(id=uuid.uuid4(), **data)
    db.add(row)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"This {resource.name} clashes with an existing one or refers "
            "to something that does not exist",
            code=f"{resource.code}_CONFLICT",
        ) from exc
    await resource.access.after_change(db, user, row)
    return row


async def update_row(
    db: AsyncSession, resource: Resource[M, Any], user: User, row: M, data: dict[str, Any]
) -> M:
    """Apply the caller's (validated) changes to a row they may change (see `changeable`)."""
    check_writable(resource, user, data)
    await resource.access.before_update(db, user, row, data)
    for key, value in data.items():
        setattr(row, key, value)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"This change clashes with another {resource.name}",
            code=f"{resource.code}_CONFLICT",
        ) from exc
    await resource.access.after_change(db, user, row)
    return row


async def delete_row(db: AsyncSession, resource: Resource[M, Any], user: User, row: M) -> str:
    """Delete (or deactivate) a row the caller may change; the message says which."""
    message = await delete_or_deactivate(db, resource, row)
    await resource.access.after_change(db, user, row)
    return message


async def delete_or_deactivate(db: AsyncSession, resource: Resource[Any, Any], row: Any) -> str:
    """Delete; a row that others still refer to is deactivated instead (nothing is lost), or,
    without an is_active flag, refused with 409."""
    try:
        async with db.begin_nested():
            await db.delete(row)
            await db.flush()
        return f"{resource.label} deleted"
    except IntegrityError as exc:
        if hasattr(row, "is_active"):
            await db.refresh(row)
            row.is_active = False
            await db.flush()
            return f"{resource.label} is still referenced, so it was deactivated instead"
        raise Conflict(
            f"This {resource.name} is still referenced and cannot be deleted",
            code=f"{resource.code}_IN_USE",
        ) from exc
