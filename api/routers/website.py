"""/website: published pages by slug for everyone (about, privacy, terms); admins write them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy import Select, select

from api.deps import CurrentUser, DbSession, MaybeUser, Paging, RequestLocale
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    Search,
    changeable,
    create_row,
    creator,
    delete_row,
    list_page,
    render_one,
    update_row,
)
from api.schemas.content import PageCreate, PageOut, PageUpdate
from domain.access import Role
from domain.models.content import WebsiteContent
from domain.models.users import User


class PageAccess(Access[WebsiteContent]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(WebsiteContent.is_published.is_(True))


pages = Resource(
    model=WebsiteContent,
    name="page",
    out=PageOut,
    access=PageAccess(),
    search=(WebsiteContent.title, WebsiteContent.content),
    sortable=("created_at", "page_slug"),
    translated=("title", "content", "meta_description"),
)

TAG = {"name": "website", "description": "Website pages (about, privacy, terms)"}
router = APIRouter(prefix="/website", tags=["website"])
Sort = Annotated[str | None, Query(pattern=pages.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List website", name="list_page")
async def list_pages(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    search: Search = None,
    sort: Sort = None,
) -> Page[PageOut]:
    return await list_page(db, pages, user, paging, locale, None, search, sort)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a page", name="create_page")
async def create_page(
    user: Annotated[User, Depends(creator(pages))], body: PageCreate, db: DbSession
) -> Envelope[PageOut]:
    row = await create_row(db, pages, user, body.model_dump(exclude_unset=True))
    return ok(PageOut.model_validate(row), "Page created")


@router.patch("/{id}", summary="Change a page", name="update_page")
async def update_page(
    row: Annotated[WebsiteContent, Depends(changeable(pages))],
    body: PageUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[PageOut]:
    await update_row(db, pages, user, row, body.model_dump(exclude_unset=True))
    return ok(PageOut.model_validate(row), "Page updated")


@router.delete("/{id}", summary="Delete a page", name="delete_page")
async def delete_page(
    row: Annotated[WebsiteContent, Depends(changeable(pages))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, pages, user, row))


@router.get("/{slug}", response_model=Envelope[PageOut], summary="A published page by its slug")
async def page_by_slug(
    slug: Annotated[str, Path(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)],
    db: DbSession,
    user: MaybeUser,
    locale: RequestLocale,
) -> Envelope[PageOut]:
    stmt = pages.access.visible(
        user, select(WebsiteContent).where(WebsiteContent.page_slug == slug)
    )
    row = await db.scalar(stmt)
    if row is None:
        raise pages.not_found()
    return ok(await render_one(db, pages, row, locale))
