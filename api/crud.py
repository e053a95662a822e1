"""The one way to write a resource: a Resource spec (model, schemas, access policy, filters)
becomes list / get / create / update / delete routes with the envelope, pagination, search,
sorting, translations and the access rules enforced in one place.

No `from __future__ import annotations` here: the route functions are built in closures and
FastAPI must see their real parameter types."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.deps import DbSession, Paging, SettingsDep, bearer, get_current_user
from api.envelope import Envelope, Page, ok, page
from domain.access import Role
from domain.errors import Conflict, Forbidden, NotFound
from domain.models.base import Base
from domain.models.content import Translation
from domain.models.users import User

M = TypeVar("M", bound=Base)

LOCALES = ("en", "ar", "hi", "es", "fr")
SORT_HELP = "A sortable field; '-' first for descending"
RowId = Annotated[uuid.UUID, Path(alias="id", description="The row's id")]


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
    lang: Annotated[
        str | None,
        Query(
            description="Language of catalog text (en, ar, hi, es, fr)",
            pattern=r"^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
        ),
    ] = None,
) -> str | None:
    """`?lang=` wins, then the first supported language of Accept-Language."""
    candidates = [lang] if lang else []
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        tag = part.split(";")[0].strip()
        if tag:
            candidates.append(tag)
    for tag in candidates:
        base = tag.split("-")[0].lower()
        if base in LOCALES:
            return base
    return None


RequestLocale = Annotated[str | None, Depends(requested_locale)]


class Access(Generic[M]):
    """Who may see and change rows of one resource. The default: anyone logged in may read,
    only admins may write. Subclass per resource; every method is the single place its rule
    lives."""

    public_read: bool = False
    create_roles: frozenset[Role] = frozenset({Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        """Restrict a query to the rows this caller may see (404 for the rest)."""
        return stmt

    def writable_fields(self, user: User) -> set[str] | None:
        """Fields this caller may set; None means every field of the schema."""
        return None if user.user_type == Role.ADMIN else set()

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        """Check and complete a new row's data (e.g. force the owner to the caller)."""
        if Role(user.user_type) not in self.create_roles:
            raise Forbidden("Your role may not create this", code="ROLE_NOT_ALLOWED")

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
class Resource(Generic[M]):
    model: type[M]
    name: str  # "hospital": used in messages and error codes (HOSPITAL_NOT_FOUND)
    out: type[BaseModel]
    create: type[BaseModel] | None = None
    update: type[BaseModel] | None = None
    access: Access[M] = field(default_factory=Access)
    filters: type[BaseModel] | None = None
    # Filter field -> how it narrows the query; by default a filter equals its column.
    filter_rules: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
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

    def not_found(self) -> NotFound:
        return NotFound(f"{self.label} not found", code=f"{self.code}_NOT_FOUND")


def _search_clause(columns: Sequence[InstrumentedAttribute[Any]], term: str) -> Any:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(*(cast(c, String).ilike(pattern, escape="\\") for c in columns))


def _sort(resource: Resource[Any], sort: str | None) -> list[Any]:
    key = sort or resource.default_sort
    descending = key.startswith("-")
    name = key.lstrip("-")
    column = getattr(resource.model, name)
    primary = column.desc().nulls_last() if descending else column.asc().nulls_last()
    return [primary, resource.model.id]


async def get_visible(
    db: AsyncSession, resource: Resource[M], user: User | None, row_id: uuid.UUID
) -> M:
    """The row if it exists and the caller may see it; 404 otherwise (never its data)."""
    by_id = select(resource.model).where(resource.model.id == row_id)
    row: M | None = await db.scalar(resource.access.visible(user, by_id))
    if row is None:
        raise resource.not_found()
    return row


async def translate(
    db: AsyncSession, resource: Resource[Any], items: list[dict[str, Any]], locale: str | None
) -> list[dict[str, Any]]:
    """Swap catalog text for its translation where one exists; the original otherwise."""
    if not locale or not resource.translated or not items:
        return items
    entity_type = resource.entity_type or resource.model.__tablename__
    ids = [item["id"] for item in items]
    rows = await db.execute(
        select(Translation.entity_id, Translation.field_name, Translation.translated_text).where(
            Translation.entity_type == entity_type,
            Translation.entity_id.in_(ids),
            Translation.locale == locale,
            Translation.field_name.in_(resource.translated),
        )
    )
    by_id: dict[Any, dict[str, str]] = {}
    for entity_id, field_name, text in rows:
        by_id.setdefault(entity_id, {})[field_name] = text
    for item in items:
        item.update(by_id.get(item["id"], {}))
    return items


async def render(
    db: AsyncSession, resource: Resource[Any], rows: Sequence[Any], locale: str | None
) -> list[dict[str, Any]]:
    items = [resource.out.model_validate(r).model_dump(mode="python") for r in rows]
    return await translate(db, resource, items, locale)


def check_writable(resource: Resource[Any], user: User, data: dict[str, Any]) -> None:
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


async def list_rows(
    db: AsyncSession,
    resource: Resource[M],
    user: User | None,
    paging: Paging,
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


def crud_router(
    resource: Resource[M],
    *,
    prefix: str,
    tag: str,
    ops: Sequence[str] = ("list", "get", "create", "update", "delete"),
) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])
    out = resource.out
    LoggedIn = Annotated[User, Depends(get_current_user)]
    Reader = MaybeUser if resource.access.public_read else LoggedIn
    Filters = resource.filters
    sort_pattern = "^-?(" + "|".join(resource.sortable) + ")$"

    if "list" in ops:
        if Filters is not None:

            async def list_endpoint(
                db: DbSession,
                user: Reader,
                paging: Paging,
                locale: RequestLocale,
                filters: Annotated[Filters, Depends()],  # type: ignore[valid-type]
                search: Annotated[str | None, Query(max_length=100)] = None,
                sort: Annotated[
                    str | None, Query(pattern=sort_pattern, description=SORT_HELP)
                ] = None,
            ) -> dict[str, Any]:
                rows, total = await list_rows(db, resource, user, paging, filters, search, sort)
                return page(
                    await render(db, resource, rows, locale),
                    page=paging.page,
                    limit=paging.limit,
                    total=total,
                )
        else:

            async def list_endpoint(  # type: ignore[misc]
                db: DbSession,
                user: Reader,
                paging: Paging,
                locale: RequestLocale,
                search: Annotated[str | None, Query(max_length=100)] = None,
                sort: Annotated[str | None, Query(pattern=sort_pattern)] = None,
            ) -> dict[str, Any]:
                rows, total = await list_rows(db, resource, user, paging, None, search, sort)
                return page(
                    await render(db, resource, rows, locale),
                    page=paging.page,
                    limit=paging.limit,
                    total=total,
                )

        router.add_api_route(
            "",
            list_endpoint,
            methods=["GET"],
            response_model=Page[out],
            summary=f"List {tag}",
            name=f"list_{resource.name}",
        )

    if "get" in ops:

        async def get_endpoint(
            row_id: RowId, db: DbSession, user: Reader, locale: RequestLocale
        ) -> dict[str, Any]:
            row = await get_visible(db, resource, user, row_id)
            return ok((await render(db, resource, [row], locale))[0])

        router.add_api_route(
            "/{id}",
            get_endpoint,
            methods=["GET"],
            response_model=Envelope[out],
            summary=f"One {resource.name}",
            name=f"get_{resource.name}",
        )

    if "create" in ops and resource.create is not None:
        CreateBody = resource.create

        async def create_endpoint(
            body: CreateBody,  # type: ignore[valid-type]
            db: DbSession,
            user: Annotated[User, Depends(get_current_user)],
        ) -> dict[str, Any]:
            data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
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
            return ok(
                out.model_validate(row).model_dump(mode="python"), f"{resource.label} created"
            )

        router.add_api_route(
            "",
            create_endpoint,
            methods=["POST"],
            status_code=status.HTTP_201_CREATED,
            response_model=Envelope[out],
            summary=f"Create a {resource.name}",
            name=f"create_{resource.name}",
        )

    if "update" in ops and resource.update is not None:
        UpdateBody = resource.update

        async def update_endpoint(
            row_id: RowId,
            body: UpdateBody,  # type: ignore[valid-type]
            db: DbSession,
            user: Annotated[User, Depends(get_current_user)],
        ) -> dict[str, Any]:
            row = await get_visible(db, resource, user, row_id)
            await resource.access.before_change(db, user, row)
            data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
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
            return ok(
                out.model_validate(row).model_dump(mode="python"), f"{resource.label} updated"
            )

        router.add_api_route(
            "/{id}",
            update_endpoint,
            methods=["PATCH"],
            response_model=Envelope[out],
            summary=f"Change a {resource.name}",
            name=f"update_{resource.name}",
        )

    if "delete" in ops:

        async def delete_endpoint(
            row_id: RowId,
            db: DbSession,
            user: Annotated[User, Depends(get_current_user)],
        ) -> dict[str, Any]:
            row = await get_visible(db, resource, user, row_id)
            await resource.access.before_change(db, user, row)
            message = await delete_or_deactivate(db, resource, row)
            await resource.access.after_change(db, user, row)
            return ok(None, message)

        router.add_api_route(
            "/{id}",
            delete_endpoint,
            methods=["DELETE"],
            response_model=Envelope[None],
            summary=f"Delete a {resource.name}",
            name=f"delete_{resource.name}",
        )

    return router


async def delete_or_deactivate(db: AsyncSession, resource: Resource[Any], row: Any) -> str:
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
